import { ActionError } from '../errors.ts';
import { log } from '../output.ts';
import type { Artifact } from '../registries/registry.ts';
import { Slots } from '../slots.ts';
import type { PublishedFile } from '../types.ts';
import { waitUntilInstallable } from '../wait.ts';
import type { Credentials } from './credentials.ts';
import { heldMessage } from './held.ts';
import { entry, type Part } from './part.ts';

/** Every file of the release failed for one reason (no attestations or no token): one entry each. */
export function failedAll(part: Part, err: unknown): PublishedFile[] {
  const reason = err instanceof Error ? err.message : String(err);
  return part.release.artifacts.map((a) => ({ ...entry(part, a), status: 'failed', error: reason }));
}

/**
 * Uploads at most `max-parallel` files at once; a file starts once those it must follow are through (the
 * first file of a release, a crate's dependencies in the index). A failure stops the files of its release
 * that have not started, lets those under way finish, and every file ends with exactly one entry, in the
 * release's order.
 */
export async function uploadAll(part: Part, credentials: Credentials): Promise<PublishedFile[]> {
  const { registry, artifacts } = part.release;
  const slots = new Slots(part.inputs.maxParallel);
  const broken = new Set<string>();
  const entries = new Map<Artifact, PublishedFile>();
  /** Per file: undefined once dependents may start, else why they may not. */
  const passed = new Map<Artifact, Promise<string | undefined>>();
  for (const artifact of artifacts) {
    const release = `${artifact.name} ${artifact.version}`;
    const publishing = (async (): Promise<PublishedFile> => {
      const held = part.held.get(artifact);
      if (held) {
        const message = heldMessage(part, artifact, held);
        log.info(`Skipped ${artifact.file}: ${message}`);
        return { ...entry(part, artifact), status: 'skipped', ...(held.same === false && { note: message }) };
      }
      const blocked = await Promise.all(
        (registry.mustFollow?.(artifact, artifacts) ?? []).map((before) => passed.get(before)),
      );
      const reason = blocked.find((r) => r !== undefined);
      if (reason) return { ...entry(part, artifact), status: 'failed', error: `not attempted: ${reason}` };
      return slots.run(async () =>
        broken.has(release)
          ? {
              ...entry(part, artifact),
              status: 'failed',
              error: 'not attempted: another file of this release failed',
            }
          : uploadOne(part, credentials, artifact, broken),
      );
    })();
    passed.set(
      artifact,
      publishing.then((done) => {
        entries.set(artifact, done);
        return passedFor(part, artifact, done);
      }),
    );
  }
  await Promise.all(passed.values());
  return artifacts.map((a) => entries.get(a) as PublishedFile);
}

async function uploadOne(
  part: Part,
  credentials: Credentials,
  artifact: Artifact,
  broken: Set<string>,
): Promise<PublishedFile> {
  const { registry, target, artifacts, options } = part.release;
  const base = entry(part, artifact);
  try {
    const credential = await credentials.for(artifact);
    const outcome = await registry.upload(target, credential, artifact, options);
    log.info(
      `${outcome.status === 'uploaded' ? 'Uploaded' : 'Skipped'} ${artifact.file}: ${outcome.message}`,
    );
    return { ...base, status: outcome.status };
  } catch (err) {
    broken.add(`${artifact.name} ${artifact.version}`);
    const explained = await credentials.explain(
      err,
      artifacts.filter((a) => a.name === artifact.name),
    );
    const message = explained instanceof Error ? explained.message : String(explained);
    log.error(explained instanceof ActionError ? explained.explain() : message);
    return { ...base, status: 'failed', error: message };
  }
}

/** Whether the files that must follow this one may start: it went through and, where needed, is indexed. */
async function passedFor(part: Part, artifact: Artifact, done: PublishedFile): Promise<string | undefined> {
  const { release, inputs } = part;
  const { registry, target, artifacts, options } = release;
  if (done.status === 'failed') return `${artifact.file}, which must go first, failed`;
  const followers = artifacts.some((a) => registry.mustFollow?.(a, artifacts).includes(artifact));
  if (!registry.followsIndex || done.status !== 'uploaded' || !followers) return undefined;
  const checks = await registry.installChecks(target, [artifact], options, new Set([artifact]));
  const seen = await waitUntilInstallable(target.title, checks, inputs.waitTimeoutMs);
  return [...seen.values()].every((s) => s !== undefined)
    ? undefined
    : `${artifact.name} ${artifact.version}, which it depends on, is not in ${target.title}'s index after ${inputs.waitTimeoutMs / 1000} s`;
}

/** Which files of the run failed, as the run's failure; undefined when none did. */
export function partialFailure(results: PublishedFile[]): ActionError | undefined {
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length === 0) return undefined;
  const done = results.filter((r) => r.status !== 'failed').map((r) => `${r.file} (${r.status})`);
  return new ActionError(
    `${failed.length} of ${results.length} files were not published: ${failed.map((r) => r.file).join(', ')}.`,
    {
      details: [
        done.length ? `Went through: ${done.join(', ')}.` : 'Nothing went through.',
        ...failed.map((r) => `${r.file}: ${r.error}`),
      ],
    },
  );
}
