/**
 * Types every layer speaks: the entry points, the flow, the registries and the CI systems. Nothing here
 * imports anything, so any module may import it without a cycle.
 */

/** A JWT's payload, as the CI system issued it; unverified here (the registry verifies it). */
export type Claims = Record<string, unknown>;

/** One file's line of the `published` output. */
export interface PublishedFile {
  file: string;
  registry: string;
  name: string;
  version: string;
  sha256: string;
  /** 'staged': sent to npm's staging area, installable once a maintainer approves it (the `stage` input). */
  status: 'uploaded' | 'staged' | 'skipped' | 'failed';
  url: string;
  error?: string;
  /** A staged file: the registry's id of the stage, and how a maintainer approves it. */
  stage_id?: string;
  approve?: string;
  /** Why a file was skipped although its bytes differ from the registry's (skip-existing): both digests. */
  note?: string;
  /** With the `wait` input: whether the version could be installed before the timeout, and when. */
  available?: boolean;
  available_after_s?: number;
}

/** The kinds of publisher mismatch, so a registry whose answer rules some out can say which remain. */
export type CauseKind =
  | 'missing-project'
  | 'reusable-workflow'
  | 'environment'
  | 'workflow-file'
  | 'case'
  | 'instance'
  | 'circleci-ids'
  | 'circleci-restrictions';
