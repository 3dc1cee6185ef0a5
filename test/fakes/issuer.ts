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

/** An RS256 key with its JWKS, as an issuer publishes it. */
async function signingKey() {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  return { privateKey, kid, jwks, keySet: createLocalJWKSet(jwks) };
}

export async function startIssuer(
  opts: { claims?: Partial<Claims>; lifetimeSeconds?: number } = {},
): Promise<Issuer> {
  const { privateKey, kid, jwks, keySet } = await signingKey();
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

export const GITLAB_ISSUER = 'https://gitlab.com';

/** A gitlab.com job's ID token claims, for a tag pipeline of octo-group/tp-sample in environment 'release'. */
export const defaultGitLabClaims = (): Claims => ({
  iss: GITLAB_ISSUER,
  sub: 'project_path:octo-group/tp-sample:ref_type:tag:ref:v0.1.0',
  namespace_id: '4242',
  namespace_path: 'octo-group',
  project_id: '777',
  project_path: 'octo-group/tp-sample',
  project_visibility: 'public',
  user_id: '31',
  user_login: 'octocat',
  pipeline_id: '1001',
  pipeline_source: 'push',
  job_id: '2002',
  ref: 'v0.1.0',
  ref_type: 'tag',
  ref_path: 'refs/tags/v0.1.0',
  ref_protected: 'true',
  sha: '0123456789abcdef0123456789abcdef01234567',
  ci_config_ref_uri: 'gitlab.com/octo-group/tp-sample//.gitlab-ci.yml@refs/tags/v0.1.0',
  ci_config_sha: '0123456789abcdef0123456789abcdef01234567',
  environment: 'release',
  environment_protected: 'true',
  deployment_tier: 'production',
  runner_id: '12270807',
  runner_environment: 'gitlab-hosted',
});

/**
 * GitLab's issuer: a job gets its ID tokens as variables when it starts (`id_tokens:`), so there is no token
 * endpoint; tests mint the JWTs a job would hold with `token`. The JWKS is served as gitlab.com serves it.
 */
export interface GitLabIssuer {
  jwksUrl: string;
  /** Mutable: the claims every token gets (aud, jti and the times are added per token). */
  claims: Claims;
  /** Every JWT minted, in order. */
  issued: string[];
  /** A job's ID token for this audience; `overrides` replace claims (undefined leaves one out). */
  token(audience: string, overrides?: Claims): Promise<string>;
  verify(jwt: string, audience: string): Promise<Claims>;
  close(): Promise<void>;
}

export async function startGitLabIssuer(opts: { claims?: Partial<Claims> } = {}): Promise<GitLabIssuer> {
  const { privateKey, kid, jwks, keySet } = await signingKey();
  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    if (req.method === 'GET' && url.pathname === '/oauth/discovery/keys') return sendJson(res, 200, jwks);
    sendJson(res, 404, { message: '404 Not Found' });
  });
  const issuer: GitLabIssuer = {
    jwksUrl: `${server.origin}/oauth/discovery/keys`,
    claims: { ...defaultGitLabClaims(), ...opts.claims },
    issued: [],
    async token(audience, overrides = {}) {
      const now = Math.floor(Date.now() / 1000);
      const claims: Claims = {
        aud: audience,
        iat: now,
        nbf: now,
        exp: now + 300,
        jti: randomUUID(),
        ...issuer.claims,
      };
      for (const [name, value] of Object.entries(overrides)) {
        if (value === undefined) delete claims[name];
        else claims[name] = value;
      }
      const jwt = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
        .sign(privateKey);
      issuer.issued.push(jwt);
      return jwt;
    },
    verify: async (jwt, audience) =>
      (await jwtVerify(jwt, keySet, { issuer: GITLAB_ISSUER, audience, algorithms: ['RS256'] })).payload,
    close: server.close,
  };
  return issuer;
}

/** `gitlab.com/<namespace>/<project>//<file>@<ref>` → the file, as the registries extract it. */
export function ciConfigPath(uri: string): string | undefined {
  const start = uri.indexOf('//');
  const end = uri.lastIndexOf('@');
  return start >= 0 && end > start + 2 ? uri.slice(start + 2, end) : undefined;
}

/** `project_path` split at its last slash: the namespace (groups and subgroups) and the project. */
export function projectParts(projectPath: string): { namespace: string; project: string } {
  const slash = projectPath.lastIndexOf('/');
  return { namespace: projectPath.slice(0, Math.max(slash, 0)), project: projectPath.slice(slash + 1) };
}

/** A GitLab trusted publisher as the registries' forms take it. */
export interface GitLabPublisher {
  namespace: string;
  project: string;
  /** The top-level CI file, e.g. .gitlab-ci.yml. */
  ciFile: string;
  environment?: string;
}

export const defaultGitLabPublisher = (): GitLabPublisher => ({
  namespace: 'octo-group',
  project: 'tp-sample',
  ciFile: '.gitlab-ci.yml',
  environment: 'release',
});
