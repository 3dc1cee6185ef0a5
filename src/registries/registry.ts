import type { Claims } from '../oidc.ts';

/** A validated file, ready to publish. Registries extend it with what their upload needs. */
export interface Artifact {
  path: string;
  /** Base name, as uploaded. */
  file: string;
  name: string;
  version: string;
  size: number;
  sha256: string;
  blake2_256: string;
  /** Problems worth a warning that do not stop the upload. */
  warnings: string[];
}

/** The registry instance a release goes to. */
export interface Target {
  /** The protocol's name in the `registry` input, e.g. 'testpypi'. */
  id: string;
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
  status: 'uploaded' | 'skipped';
  /** The registry's words, or why it was skipped. */
  message: string;
}

/** One value of a registry's trusted publisher form, as the user must type it. */
export interface FormValue {
  label: string;
  value: string;
}

export interface Registry<A extends Artifact = Artifact> {
  /** Which OIDC claim the registry reads the workflow file from. */
  workflowClaim: 'job_workflow_ref' | 'workflow_ref';
  target(id: string, repositoryUrl: URL | undefined, audience: string | undefined): Target;
  /** Reads and validates one file; throws an ActionError naming the file when it is not publishable. */
  inspect(path: string, opts: { verifyMetadata: boolean }): Promise<A>;
  /** Checks rules across all files of the release and returns them in upload order. */
  order(artifacts: A[]): A[];
  audience(target: Target): Promise<string>;
  /** Exchanges an OIDC token for a registry token; `idToken` fetches a fresh JWT for every attempt. */
  mint(target: Target, idToken: () => Promise<string>): Promise<Credential>;
  /** Wraps a long-lived token given through the password input. */
  staticCredential(token: string, user: string | undefined): Credential;
  upload(target: Target, credential: Credential, artifact: A, skipExisting: boolean): Promise<UploadResult>;
  /** Where the published file can be seen. */
  fileUrl(target: Target, artifact: A): string;
  publisherForm(claims: Claims, artifacts: A[], target: Target): FormValue[];
}
