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
  /** Every token request, faulted ones included, with when it came (performance.now()). */
  requests: { audience: string | null; authorized: boolean; at: number }[];
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
    issuer.requests.push({ audience, authorized, at: performance.now() });
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

/** A job's token: the claims with `overrides` replacing some (undefined leaves one out), signed. */
async function signJobToken(
  { privateKey, kid }: Awaited<ReturnType<typeof signingKey>>,
  claims: Claims,
  overrides: Claims,
): Promise<string> {
  const signed = { ...claims };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete signed[name];
    else signed[name] = value;
  }
  return new SignJWT(signed).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(privateKey);
}

/**
 * A job's ID token for `audience`, as its CI system issues it: a fresh jti, `times` from now (each CI
 * system sets its own lifetime and whether `nbf` is there), the issuer's claims, then `overrides`; recorded
 * in `issued` for the leak scans.
 */
async function issueJobToken(
  key: Awaited<ReturnType<typeof signingKey>>,
  issuer: { claims: Claims; issued: string[] },
  audience: string,
  times: (now: number) => Claims,
  overrides: Claims,
): Promise<string> {
  const claims: Claims = {
    aud: audience,
    ...times(Math.floor(Date.now() / 1000)),
    jti: randomUUID(),
    ...issuer.claims,
  };
  const jwt = await signJobToken(key, claims, overrides);
  issuer.issued.push(jwt);
  return jwt;
}

export async function startGitLabIssuer(opts: { claims?: Partial<Claims> } = {}): Promise<GitLabIssuer> {
  const key = await signingKey();
  const { jwks, keySet } = key;
  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    if (req.method === 'GET' && url.pathname === '/oauth/discovery/keys') return sendJson(res, 200, jwks);
    sendJson(res, 404, { message: '404 Not Found' });
  });
  const issuer: GitLabIssuer = {
    jwksUrl: `${server.origin}/oauth/discovery/keys`,
    claims: { ...defaultGitLabClaims(), ...opts.claims },
    issued: [],
    token: (audience, overrides = {}) =>
      issueJobToken(key, issuer, audience, (now) => ({ iat: now, nbf: now, exp: now + 300 }), overrides),
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

/** A CircleCI organization's ID: its issuer is `https://oidc.circleci.com/org/<org-id>`. */
export const CIRCLECI_ORG_ID = '3f2e6b1a-8c4d-4e5f-9a0b-1c2d3e4f5a6b';
export const CIRCLECI_ISSUER = `https://oidc.circleci.com/org/${CIRCLECI_ORG_ID}`;

/** A CircleCI job's ID token claims: a tag pipeline of github.com/octo-org/tp-sample, one context. */
export const defaultCircleCiClaims = (): Claims => ({
  iss: CIRCLECI_ISSUER,
  sub: `org/${CIRCLECI_ORG_ID}/project/6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d/user/1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e`,
  'oidc.circleci.com/org-id': CIRCLECI_ORG_ID,
  'oidc.circleci.com/project-id': '6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d',
  'oidc.circleci.com/pipeline-definition-id': '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a',
  'oidc.circleci.com/pipeline-id': '11111111-2222-4333-8444-555555555555',
  'oidc.circleci.com/workflow-id': '22222222-3333-4444-8555-666666666666',
  'oidc.circleci.com/job-id': '33333333-4444-4555-8666-777777777777',
  'oidc.circleci.com/context-ids': ['7c6b5a49-3827-4160-9f8e-7d6c5b4a3928'],
  'oidc.circleci.com/vcs-origin': 'github.com/octo-org/tp-sample',
  'oidc.circleci.com/vcs-ref': 'refs/tags/v0.1.0',
  'oidc.circleci.com/ssh-rerun': false,
});

/**
 * CircleCI's issuer: a job holds CIRCLE_OIDC_TOKEN (audience: the organization ID) and asks for others with
 * `circleci run oidc get --claims '{"aud": …}'`; tests mint what either would give with `token`. The JWKS is
 * served where the issuer's discovery document points.
 */
export interface CircleCiIssuer {
  jwksUrl: string;
  /** Where the fake `circleci` command asks for a token: `?claims=<the --claims JSON>`. */
  commandUrl: string;
  /** The audiences asked for through the command, in order. */
  requested: string[];
  /** Mutable: the claims every token gets (aud, jti and the times are added per token). */
  claims: Claims;
  issued: string[];
  /** A token for this audience (the organization ID, as CIRCLE_OIDC_TOKEN has, when omitted). */
  token(audience?: string, overrides?: Claims): Promise<string>;
  verify(jwt: string, audience: string): Promise<Claims>;
  close(): Promise<void>;
}

export async function startCircleCiIssuer(opts: { claims?: Partial<Claims> } = {}): Promise<CircleCiIssuer> {
  const key = await signingKey();
  const { jwks, keySet } = key;
  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    if (req.method === 'GET' && url.pathname === `/org/${CIRCLECI_ORG_ID}/.well-known/jwks-pub.json`)
      return sendJson(res, 200, jwks);
    // What `circleci run oidc get --claims <json>` asks of CircleCI from inside a job (the fake command's way).
    if (req.method === 'GET' && url.pathname === '/oidc/get') {
      const claims = JSON.parse(url.searchParams.get('claims') ?? '{}') as { aud?: unknown };
      issuer.requested.push(String(claims.aud));
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(`${await issuer.token(typeof claims.aud === 'string' ? claims.aud : undefined)}\n`);
    }
    sendJson(res, 404, { message: 'Not Found' });
  });
  const issuer: CircleCiIssuer = {
    jwksUrl: `${server.origin}/org/${CIRCLECI_ORG_ID}/.well-known/jwks-pub.json`,
    commandUrl: `${server.origin}/oidc/get`,
    requested: [],
    claims: { ...defaultCircleCiClaims(), ...opts.claims },
    issued: [],
    token: (audience = CIRCLECI_ORG_ID, overrides = {}) =>
      issueJobToken(key, issuer, audience, (now) => ({ iat: now, exp: now + 3600 }), overrides),
    verify: async (jwt, audience) =>
      (await jwtVerify(jwt, keySet, { issuer: CIRCLECI_ISSUER, audience, algorithms: ['RS256'] })).payload,
    close: server.close,
  };
  return issuer;
}

/** A CircleCI trusted publisher as Warehouse's form takes it; npm's takes the first three and the origin. */
export interface CircleCiPublisher {
  orgId: string;
  projectId: string;
  pipelineDefinitionId: string;
  /** Optional restrictions: '' takes any job. */
  contextId: string;
  vcsRef: string;
  vcsOrigin: string;
}

export const defaultCircleCiPublisher = (): CircleCiPublisher => {
  const claims = defaultCircleCiClaims();
  return {
    orgId: CIRCLECI_ORG_ID,
    projectId: String(claims['oidc.circleci.com/project-id']),
    pipelineDefinitionId: String(claims['oidc.circleci.com/pipeline-definition-id']),
    contextId: '',
    vcsRef: '',
    vcsOrigin: '',
  };
};
