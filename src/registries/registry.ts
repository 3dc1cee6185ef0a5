import type { SerializedBundle } from '@sigstore/bundle';
import type { HttpResponse } from '../http.ts';
import type { Claims } from '../types.ts';

/** What every file has whatever its registry, filled in by planning. */
export interface FileFacts {
  path: string;
  /** Base name, as uploaded. */
  file: string;
  size: number;
  sha256: string;
  /** BLAKE2b-256, computed in planning for print-hash only. */
  blake2_256?: string;
  /** Problems worth a warning that do not stop the upload. */
  warnings: string[];
}

/** A validated file, ready to publish. Registries extend it with what their upload needs. */
export interface Artifact extends FileFacts {
  name: string;
  version: string;
  /**
   * The Sigstore bundles of this file's attestations, signed before the exchange (attestation/sign.ts) and sent with
   * its upload in the registry's form (PyPI: PEP 740 objects; npm: the `.sigstore` attachment; RubyGems: the
   * `attestations` part of the push).
   */
  attestations?: SerializedBundle[];
}

/** What a registry reads from a file: its artifact but the FileFacts, which planning adds. */
export type Inspected<A extends Artifact> = Omit<A, keyof FileFacts> & { warnings?: string[] };

/** The registry instance a release goes to. */
export interface Target {
  /** The protocol's name in the `registry` input, e.g. 'testpypi'. */
  id: string;
  /** The registry's name (e.g. 'RubyGems'), for lines that show the instance's URL beside it. */
  name: string;
  /** How messages name the instance: the name, with the host when it is not the public instance. */
  title: string;
  /** The base every endpoint is derived from (PyPI: the upload URL). */
  url: URL;
  /** Where an exchange happens; shown in the plan. */
  mintUrl: URL;
  /** The `audience` input, when given. */
  audience: string | undefined;
}

export interface Credential {
  token: string;
  /** The Authorization header value derived from the token; masked as soon as it is made. */
  authorization: string;
  /** Unix milliseconds; undefined when the registry did not say (or for a long-lived token). */
  expiresAt: number | undefined;
  trusted: boolean;
}

export interface UploadResult {
  status: 'uploaded' | 'staged' | 'skipped';
  /** The registry's words, or why it was skipped: registry text, shown only through untrusted(). */
  message: string;
  /** A staged upload: the registry's id of the stage, and how a maintainer approves it. */
  stage?: { id: string; approve: string };
}

/** A file the registry already holds for a release, seen by a read before anything is sent. */
export interface HeldFile {
  /**
   * The stored file's name, which may differ from ours (an sdist uploaded under its pre-PEP 625 name): registry
   * text, shown only through untrusted().
   */
  file: string;
  /** Whether its bytes are ours; undefined where the registry gives no digest to compare. */
  same: boolean | undefined;
  /** The digests compared, where the registry gave one: its algorithm, ours and the stored file's. */
  digests?: { algorithm: string; ours: string; stored: string };
  /** Where the stored file can be seen, for an error naming it. */
  url: string;
}

/** A public read, as the registry's installer makes it, whose answer shows whether a version can be installed. */
export interface InstallCheck {
  /** What is waited for, as the log says it: 'tp-sample 0.1.0'. */
  what: string;
  url: URL;
  headers?: Record<string, string>;
  /** Whether the answer lists the version (and, where the registry lists files, each file of the run). */
  shows(res: HttpResponse): boolean;
  /** The files of the run this check stands for. */
  files: string[];
}

/** One value of a registry's trusted publisher form, as the user must type it. */
export interface FormValue {
  label: string;
  value: string;
}

/**
 * The values of a registry's trusted publisher form, as the user must type them, from the claims of an ID
 * token, per CI system the registry takes publishers from.
 */
export interface PublisherForms<A extends Artifact> {
  github(claims: Claims, artifacts: A[], target: Target): FormValue[];
  gitlab?(claims: Claims, artifacts: A[], target: Target): FormValue[];
  circleci?(claims: Claims, artifacts: A[], target: Target): FormValue[];
}

/** Inputs that shape an exchange or an upload, the same for every registry. */
export interface PublishOptions {
  skipExisting: boolean;
  /** npm dist-tag; empty when the input was not given. */
  tag: string;
  /** npm access ('public' | 'restricted'); empty when the input was not given. */
  access: string;
  /** prefix.dev's channel (the `channel` input); empty when not given. */
  channel: string;
  /** The `user` input (PyPI token user, NuGet account); empty when not given. */
  user: string;
  /** The `stage` input: upload for a maintainer's approval instead of publishing (registries that stage). */
  stage: boolean;
}

/** What a statement is built from: the run, and the claims of the GitHub token whose certificate signs it. */
export interface AttestationContext {
  target: Target;
  options: PublishOptions;
  claims: Claims;
  env: Record<string, string | undefined>;
}

/** A registry's attestations; attestation/sign.ts signs them, the same way for every registry. */
export interface Attestations<A extends Artifact = Artifact> {
  /** What one is called in the log and summary, e.g. 'PEP 740 attestation'. */
  kind: string;
  /** The name the file is attested under (its statement's subject), for the log and errors. */
  subject(artifact: A): string;
  /** Whether this instance verifies them; by default only such an instance gets them. */
  verifiedBy(target: Target): boolean;
  /** The instances that do, for the log line that says why another gets none. */
  verifiers: string;
  /**
   * What is signed, as bytes: the in-toto statement of a DSSE envelope, or with `envelope: 'message-signature'`
   * the file itself; or why this file gets none (logged, not an error).
   */
  statement(artifact: A, context: AttestationContext): Promise<Buffer | string>;
  /**
   * How it is signed: a DSSE envelope of an in-toto statement (PyPI, npm, prefix.dev: the default), or a plain
   * signature over the file's own bytes (RubyGems: `sigstore-cli sign <gem>`, as rubygems/release-gem runs it).
   */
  envelope?: 'dsse' | 'message-signature';
}

export interface Registry<A extends Artifact = Artifact> {
  /** Which OIDC claim the registry reads the workflow file from. */
  workflowClaim: 'job_workflow_ref' | 'workflow_ref';
  /** The registry matches owner and repository names with their letter case. */
  caseSensitiveNames?: boolean;
  /** How to register a publisher for a project that does not exist yet (pending publisher). */
  newProjectHint?: string;
  /** Whether the project exists, for the diagnosis of a failed exchange; undefined when unknown. */
  projectExists?(target: Target, name: string): Promise<boolean | undefined>;
  target(id: string, repositoryUrl: URL | undefined, audience: string | undefined): Target;
  /** Input checks of this registry, before any file is read or anything is sent. */
  validate?(target: Target, options: PublishOptions, trusted: boolean): void;
  /**
   * Reads and validates one file: what the registry needs of it beyond its FileFacts (and any warnings);
   * throws an ActionError naming the file when it is not publishable.
   */
  inspect(path: string, opts: { verifyMetadata: boolean }): Promise<Inspected<A>>;
  /** Every upload form carries the file's BLAKE2b-256 (PyPI's): its hasher is loaded while requests are in flight. */
  sendsBlake2?: boolean;
  /** The integrity pass comes before the reader: what it reads is not proven by a checksum of its own. */
  intactBeforeInspect?: boolean;
  /** Checks rules across all files of the release and returns them in upload order. */
  order(artifacts: A[], options: PublishOptions): A[];
  /**
   * The files (earlier in upload order) that must be through before this one starts; the others go up in
   * parallel. Without it every file may go at once.
   */
  mustFollow?(artifact: A, ordered: A[]): A[];
  /** A dependent waits until what it follows is in the index installers read (crates.io checks dependencies). */
  followsIndex?: boolean;
  /**
   * The attestation each file gets with a trusted upload: PyPI a PEP 740 publish attestation, npm SLSA
   * provenance as `npm publish --provenance` makes it. Registries without it are sent none.
   */
  attestations?: Attestations<A>;
  /** Files that share one exchange (npm mints per package); without it, one exchange serves the release. */
  exchangeScope?(artifact: A): string;
  audience(target: Target): Promise<string>;
  /** Exchanges an OIDC token for a registry token; `idToken` fetches a fresh JWT for every attempt. */
  mint(
    target: Target,
    idToken: () => Promise<string>,
    artifacts: A[],
    options: PublishOptions,
  ): Promise<Credential>;
  /** Ends a minted token's life as soon as the release is done, whatever happened (crates.io). */
  revoke?(target: Target, credential: Credential): Promise<void>;
  /** Wraps a long-lived token given through the password input. */
  staticCredential(token: string, options: PublishOptions): Credential;
  /**
   * What the registry already holds of each file (undefined: nothing, or the read failed and the upload's
   * own answer decides), read from its public endpoints without any token. Asked for the whole release before
   * the exchange, so a re-run sends nothing twice and a conflicting file stops the run before anything is sent.
   */
  held?(target: Target, artifacts: A[]): Promise<(HeldFile | undefined)[]>;
  upload(target: Target, credential: Credential, artifact: A, options: PublishOptions): Promise<UploadResult>;
  /**
   * The registry can stage a release, installable only once a maintainer approves it (npm's `npm stage
   * publish`); the `stage` input is refused, before anything is sent, for a registry without it.
   */
  stages?: boolean;
  /** The request an upload makes (method and URL), for the dry run, where it depends on the inputs. */
  uploadRoute?(target: Target, artifact: A, options: PublishOptions): string;
  /**
   * The reads that show the run's versions installable, for the `wait` input; one per version. `uploaded` are
   * those this run sent (the rest were there already), for checks that only a new upload must pass (npm's tag).
   */
  installChecks(
    target: Target,
    artifacts: A[],
    options: PublishOptions,
    uploaded: ReadonlySet<A>,
  ): Promise<InstallCheck[]>;
  /** Where the published file can be seen. */
  fileUrl(target: Target, artifact: A): string;
  /**
   * A CI system without a form here is one whose jobs the registry refuses as trusted publishers (the run
   * says so before anything is sent).
   */
  publisherForms: PublisherForms<A>;
}

/**
 * For `mustFollow`: a file waits for the first of the files sharing its key, whose upload creates the project
 * or release (two first uploads at once could race on the registry).
 */
export function afterFirstOf<A>(key: (artifact: A) => string): (artifact: A, ordered: A[]) => A[] {
  return (artifact, ordered) => {
    const first = ordered.find((a) => key(a) === key(artifact));
    return first && first !== artifact ? [first] : [];
  };
}
