import type { Claims, PublishedFile } from '../types.ts';

/** The CI systems a run can be on; `local` is a terminal with no OIDC identity at all. */
export type CiId = 'github' | 'gitlab' | 'circleci' | 'local';

export const CI_TITLES: Record<CiId, string> = {
  github: 'GitHub Actions',
  gitlab: 'GitLab CI/CD',
  circleci: 'CircleCI',
  local: 'this machine',
};

export interface CiLog {
  info(message: string): void;
  notice(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  /**
   * Masks a value where the log itself masks (GitHub's runner); output.ts calls it with every form of each
   * secret, which it also scrubs from everything it prints, on every CI system.
   */
  secret(value: string): void;
  /** Prints what `body` logs as one foldable block where the log has them. */
  group<T>(title: string, body: () => Promise<T>): Promise<T>;
}

/** The summary's column for the `wait` input; undefined when the run did not wait. */
export function installableColumn(results: PublishedFile[]): ((r: PublishedFile) => string) | undefined {
  if (!results.some((r) => r.available !== undefined)) return undefined;
  return (r) => (r.available === undefined ? '' : r.available ? `after ${r.available_after_s} s` : 'not yet');
}

/** Words a failure may already hold that say nothing went up; the run's end then does not say it again. */
const NOTHING_WENT = /Nothing (was sent|was uploaded|went through)\./;

/** The failure as the run's end shows it: saying, once, that nothing was uploaded when nothing was. */
export function failureText({ results, failure }: RunEnd & { failure: string }): string {
  const uploaded = results.some((r) => r.status === 'uploaded' || r.status === 'staged');
  return uploaded || NOTHING_WENT.test(failure) ? failure : `${failure}\n\nNothing was uploaded.`;
}

/** What a run ends with, for the summary, the outputs and the exit status. */
export interface RunEnd {
  results: PublishedFile[];
  /** Blocks of the plan, the dry run and the attestations, in the order they were made. */
  blocks: string[];
  /** The failure explained (message, cause, fix), when the run failed. */
  failure: string | undefined;
}

/**
 * One CI system: how the job gets an ID token, which claims tell a publisher apart, how its log marks
 * lines and secrets, and where the run's summary and outputs go. Registries never see which one it is,
 * except to pick the publisher form of the CI system by `id`.
 */
export interface Ci {
  id: CiId;
  /** In messages: one of CI_TITLES. */
  title: string;
  /** The folder published files must come from. */
  workspace: string;
  /** Whether the job can have an ID token at all. */
  issuesIdTokens: boolean;
  /**
   * Whether every request gets a new JWT (GitHub). GitLab hands a job one JWT per audience, fixed when the
   * job starts: an exchange the registry refused, or one that failed half-way, cannot be tried again.
   */
  freshIdTokens: boolean;
  /**
   * Whether the registries that verify attestations take them signed with this CI's identity. None does for
   * CircleCI yet: Warehouse's CircleCI publisher has no attestation identity, npm makes no provenance there.
   */
  signsAttestations: boolean;
  /**
   * Throws, before anything is sent, when this job must not publish with its OIDC identity at all (a CircleCI
   * re-run with SSH, where a person can act with the job's identity).
   */
  refuseUnsafeJob?(): void;
  /** Throws, before any token exists, when this job cannot get an ID token (with how to give it one). */
  checkIdTokens(): void;
  /**
   * A JWT for this audience, registered as a secret. `purpose` is the registry's id (or 'sigstore'), for CI
   * systems where the job names its tokens.
   */
  idToken(audience: string, purpose: string): Promise<string>;
  /** Why the job has no token for this audience, with how to add one; undefined when it has one. */
  missingIdToken(audience: string, purpose: string): string | undefined;
  /** The claims a publisher is matched on, in the order the diagnosis shows them. */
  shownClaims: readonly string[];
  /** The project or repository the claims name, e.g. 'octo-org/tp-sample'. */
  project(claims: Claims): string | undefined;
  /** The CI file a registry matches on; `githubClaim` says which claim a GitHub registry reads it from. */
  ciFile(claims: Claims, githubClaim: 'job_workflow_ref' | 'workflow_ref'): string | undefined;
  log: CiLog;
  /** Writes the summary and the `published` output, and sets the exit status. */
  end(run: RunEnd): Promise<void>;
}
