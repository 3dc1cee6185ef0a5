import type { Claims } from './types.ts';

/** The audience Fulcio requires of an OIDC token. */
export const SIGSTORE_AUDIENCE = 'sigstore';

/** The public-good Sigstore instances, which PyPI's verification trusts. */
export const PUBLIC_GOOD_FULCIO = 'https://fulcio.sigstore.dev';
export const PUBLIC_GOOD_REKOR = 'https://rekor.sigstore.dev';

export function claimText(claims: Claims | undefined, name: string): string | undefined {
  const value = claims?.[name];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** Reads a JWT's payload. Nothing here trusts it: the registry verifies the signature. */
export function decodeClaims(jwt: string): Claims | undefined {
  const payload = jwt.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as Claims) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why a value given as an ID token cannot be used, or undefined when it is a JWT not yet expired. Nothing
 * here checks the signature: the registry does; this only names what would otherwise fail there, obscurely.
 */
export function idTokenProblem(jwt: string, now = Date.now()): string | undefined {
  const claims = jwt.split('.').length === 3 ? decodeClaims(jwt) : undefined;
  if (!claims)
    return 'is not an ID token: a JWT is three base64url parts joined by dots, the second its claims';
  const exp = claims.exp;
  if (typeof exp === 'number' && exp * 1000 <= now) {
    return `is an ID token that expired at ${new Date(exp * 1000).toISOString()}`;
  }
  return undefined;
}

/** The workflow file name in a GitHub `owner/repo/.github/workflows/<file>@ref` claim. */
export function workflowFile(ref: string | undefined): string | undefined {
  return ref?.match(/\.github\/workflows\/([^@]+)@/)?.[1];
}

/** The CI file in `gitlab.com/<namespace>/<project>//<file>@<ref>`: between `//` and the last `@`. */
export function gitlabCiFile(claims: Claims): string | undefined {
  const uri = claimText(claims, 'ci_config_ref_uri');
  const start = uri?.indexOf('//') ?? -1;
  const end = uri?.lastIndexOf('@') ?? -1;
  return uri && start >= 0 && end > start ? uri.slice(start + 2, end) : undefined;
}

/** `project_path` as namespace (groups and subgroups) and project. */
export function gitlabProject(claims: Claims): { namespace: string; project: string } {
  const path = claimText(claims, 'project_path') ?? '';
  const slash = path.lastIndexOf('/');
  return { namespace: path.slice(0, Math.max(slash, 0)), project: path.slice(slash + 1) };
}

/** A claim of a CircleCI job's ID token, namespaced under CircleCI's issuer host. */
export const circleciClaim = (name: string): string => `oidc.circleci.com/${name}`;

/** The IDs a CircleCI trusted publisher names, as the job's claims give them. */
export function circleciIds(claims: Claims) {
  const contexts = claims[circleciClaim('context-ids')];
  return {
    org: claimText(claims, circleciClaim('org-id')) ?? '',
    project: claimText(claims, circleciClaim('project-id')) ?? '',
    pipelineDefinition: claimText(claims, circleciClaim('pipeline-definition-id')) ?? '',
    contexts: Array.isArray(contexts) ? contexts.map(String) : [],
    vcsOrigin: claimText(claims, circleciClaim('vcs-origin')) ?? '',
    vcsRef: claimText(claims, circleciClaim('vcs-ref')) ?? '',
  };
}
