export type Claims = Record<string, unknown>;

/** The audience Fulcio requires of an OIDC token. */
export const SIGSTORE_AUDIENCE = 'sigstore';

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

/** The workflow file name in a GitHub `owner/repo/.github/workflows/<file>@ref` claim. */
export function workflowFile(ref: string | undefined): string | undefined {
  return ref?.match(/\.github\/workflows\/([^@]+)@/)?.[1];
}
