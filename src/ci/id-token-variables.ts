import { decodeClaims } from '../oidc.ts';

/**
 * The variables a job hands an ID token to a publishing tool in (GitLab's `id_tokens:`, a CircleCI step that
 * exports one): the registry's own documented name, then the `id` library's name for the audience.
 */
const DOCUMENTED_VARIABLES: Record<string, string> = {
  pypi: 'PYPI_ID_TOKEN',
  testpypi: 'TESTPYPI_ID_TOKEN',
  npm: 'NPM_ID_TOKEN',
  'crates-io': 'CRATES_IO_ID_TOKEN',
  nuget: 'NUGET_ID_TOKEN',
  sigstore: 'SIGSTORE_ID_TOKEN',
};

/** The `id` library's name for an audience's token: upper case, every other character an underscore. */
export function audienceVariable(audience: string): string {
  return `${audience.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_ID_TOKEN`;
}

/** The variables a token for this audience and registry is looked for in, the registry's own name first. */
export function tokenVariables(audience: string, purpose: string): string[] {
  const documented = DOCUMENTED_VARIABLES[purpose];
  return [...new Set([...(documented ? [documented] : []), audienceVariable(audience)])];
}

/** The audiences a JWT names (its `aud`, a string or a list). */
export function tokenAudiences(jwt: string): string[] {
  const aud = decodeClaims(jwt)?.aud;
  return Array.isArray(aud) ? aud.map(String) : [String(aud)];
}
