import type { Cancellation } from '../cancel.ts';
import type { Ci } from '../ci/ci.ts';
import type { Inputs } from '../inputs.ts';
import type { Artifact, HeldFile } from '../registries/registry.ts';
import type { PublishedFile } from '../types.ts';
import type { Release } from './plan.ts';

export type Env = Record<string, string | undefined>;

/** One registry's part of the run, as every step sees it. */
export interface Part {
  readonly release: Release;
  readonly inputs: Inputs;
  readonly ci: Ci;
  readonly env: Env;
  /** The run's cancellation (SIGINT/SIGTERM): once stopped, nothing new starts. */
  readonly cancel: Cancellation;
  /** Files the registry holds already, which are therefore not sent (filled by the lookup step). */
  readonly held: Map<Artifact, HeldFile>;
}

/** The files of the release that go up: all but those the registry holds. */
export function toSend(part: Part): Artifact[] {
  return part.release.artifacts.filter((a) => !part.held.has(a));
}

/** A file's entry in the results, before its status is known. */
export function entry(part: Part, artifact: Artifact): Omit<PublishedFile, 'status'> {
  const { registry, target } = part.release;
  return {
    file: artifact.file,
    registry: target.id,
    name: artifact.name,
    version: artifact.version,
    sha256: artifact.sha256,
    url: registry.fileUrl(target, artifact),
  };
}
