import { randomBytes, randomUUID } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { type Fault, fault, listen, sendJson } from './http.ts';

export type { Fault } from './http.ts';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

/** A GitHub Actions OIDC claim set. */
export interface Claims {
  [k: string]: unknown;
}

export const defaultClaims = (): Claims => ({
  iss: GITHUB_ISSUER,
  sub: 'repo:octo-org/tp-sample:environment:release',
  repository: 'octo-org/tp-sample',
  repository_owner: 'octo-org',
  repository_owner_id: '1234567',
  repository_id: '7654321',
  repository_visibility: 'public',
  workflow: 'Release',
  workflow_ref: 'octo-org/tp-sample/.github/workflows/release.yml@refs/tags/v0.1.0',
  job_workflow_ref: 'octo-org/tp-sample/.github/workflows/release.yml@refs/tags/v0.1.0',
  job_workflow_sha: '0123456789abcdef0123456789abcdef01234567',
  sha: '0123456789abcdef0123456789abcdef01234567',
  ref: 'refs/tags/v0.1.0',
  ref_type: 'tag',
  environment: 'release',
  event_name: 'push',
  actor: 'octocat',
  actor_id: '583231',
  run_id: '1',
  run_number: '1',
  run_attempt: '1',
  runner_environment: 'github-hosted',
});

export interface Issuer {
  /** ACTIONS_ID_TOKEN_REQUEST_URL; already holds a '?'. */
  requestUrl: string;
  /** ACTIONS_ID_TOKEN_REQUEST_TOKEN. */
  requestToken: string;
  /** Every JWT handed out, in order. */
  issued: string[];
  /** Every token request, faulted ones included. */
  requests: { audience: string | null; authorized: boolean }[];
  /** Mutable. Set a time claim (iat, nbf, exp), aud or jti here to override the computed one, or to undefined to leave it out. */
  claims: Claims;
  /** Consumed one per token request, before normal handling. */
  faults: Fault[];
  verify(jwt: string, audience: string): Promise<Claims>;
  close(): Promise<void>;
}

export async function startIssuer(
  opts: { claims?: Partial<Claims>; lifetimeSeconds?: number } = {},
): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  const keySet = createLocalJWKSet(jwks);
  const lifetime = opts.lifetimeSeconds ?? 300;

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    if (req.method === 'GET' && url.pathname === '/.well-known/jwks') return sendJson(res, 200, jwks);
    if (req.method !== 'GET' || url.pathname !== '/token')
      return sendJson(res, 404, { message: 'Not Found' });

    const authorized = /^bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] === issuer.requestToken;
    const audience = url.searchParams.get('audience');
    issuer.requests.push({ audience, authorized });
    if (fault(issuer.faults, req, res)) return;
    if (!authorized) return sendJson(res, 401, { message: 'Unauthorized' });

    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({
      // Without an audience GitHub falls back to the repository owner's URL.
      aud: audience ?? `https://github.com/${String(issuer.claims.repository_owner)}`,
      iat: now,
      nbf: now,
      exp: now + lifetime,
      jti: randomUUID(),
      ...issuer.claims,
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
      .sign(privateKey);
    issuer.issued.push(jwt);
    sendJson(res, 200, { value: jwt });
  });

  const issuer: Issuer = {
    requestUrl: `${server.origin}/token?api-version=2.0`,
    requestToken: randomBytes(24).toString('hex'),
    issued: [],
    requests: [],
    claims: { ...defaultClaims(), ...opts.claims },
    faults: [],
    verify: async (jwt, audience) =>
      (await jwtVerify(jwt, keySet, { issuer: GITHUB_ISSUER, audience, algorithms: ['RS256'] })).payload,
    close: server.close,
  };
  return issuer;
}
