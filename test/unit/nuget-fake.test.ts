import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import {
  API_KEY_NOT_AUTHORIZED,
  defaultPolicy,
  issueJwt,
  type NuGet,
  noMatchingPolicy,
  packageExists,
  SYMBOLS_VALIDATING,
  startNuGet,
} from '../fakes/nuget.ts';
import { makeNupkg } from '../fakes/nupkg.ts';

const AUDIENCE = 'https://www.nuget.org';

let issuer: Issuer;
let ng: NuGet;
let tmp: string;

before(async () => {
  issuer = await startIssuer();
  ng = await startNuGet({ issuer });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-nuget-fake-'));
});
after(async () => {
  await ng.close();
  await issuer.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Answer {
  status: number;
  reason: string;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** A raw request, so tests control every header (fetch would add a User-Agent). */
function request(
  method: string,
  urlPath: string,
  headers: Record<string, string | string[]>,
  body?: Buffer | string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${ng.url}${urlPath}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          reason: res.statusMessage ?? '',
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const EXCHANGE_HEADERS = { 'content-type': 'application/json', 'user-agent': 'nuget/login-action' };

/** The exchange NuGet/login sends. */
const exchange = (jwt: string, username = 'octocat', headers: Record<string, string> = {}) =>
  request(
    'POST',
    '/api/v2/token',
    { ...EXCHANGE_HEADERS, authorization: `Bearer ${jwt}`, ...headers },
    JSON.stringify({ username, tokenType: 'ApiKey' }),
  );

const jwt = (overrides = {}, audience = AUDIENCE) => issueJwt(issuer, audience, overrides);

/** The error the gallery put in both the status line and the JSON body. */
function assertError(res: Answer, status: number, error: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.reason, error);
  assert.deepEqual(JSON.parse(res.text), { error });
}

async function mint(): Promise<string> {
  const res = await exchange(await jwt());
  assert.equal(res.status, 200, res.text);
  return (JSON.parse(res.text) as { apiKey: string }).apiKey;
}

/** A push the way NuGet.Client's PackageUpdateResource sends it. */
function push(key: string | undefined, file: string, endpoint = '/api/v2/package'): Promise<Answer> {
  const boundary = 'tp-boundary';
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=package; filename=package.nupkg; filename*=utf-8''package.nupkg\r\n\r\n`,
    ),
    fs.readFileSync(file),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary="${boundary}"` };
  if (key) headers['x-nuget-apikey'] = key;
  return request('PUT', endpoint, headers, body);
}

const ref = (file: string, repo = 'octo-org/tp-sample') =>
  `${repo}/.github/workflows/${file}@refs/tags/v0.1.0`;

afterEach(() => {
  ng.policies = [defaultPolicy()];
  ng.audience = AUDIENCE;
  ng.bannedEvents = [];
  ng.tokenApiEnabled = true;
  ng.keyLifetimeSeconds = 3600;
  ng.symbolValidation = 'instant';
});

describe('POST /api/v2/token', () => {
  test('the policy creator gets an hour-long API key in .NET round-trip date format', async () => {
    const res = await exchange(await jwt());
    assert.equal(res.status, 200, res.text);
    const body = JSON.parse(res.text) as Record<string, string>;
    assert.deepEqual(Object.keys(body), ['tokenType', 'expires', 'apiKey']);
    assert.equal(body.tokenType, 'ApiKey');
    assert.match(body.apiKey ?? '', /^oy2[a-z2-7]{43}$/);
    assert.match(body.expires ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
    assert.ok(Math.abs(Date.parse(body.expires ?? '') - (Date.now() + 3_600_000)) < 10_000);
    assert.ok(ng.minted.includes(body.apiKey ?? ''));
  });

  test('the organisation that owns the package is not the username to send', async () => {
    assertError(await exchange(await jwt(), 'octo-org'), 401, noMatchingPolicy('octo-org'));
    assertError(await exchange(await jwt(), 'nobody'), 401, noMatchingPolicy('nobody'));
  });

  test('an unknown user is told so before the token is even looked at', async () => {
    assertError(await exchange('not.a.jwt', 'nobody'), 401, noMatchingPolicy('nobody'));
  });

  test('request checks come in TokenApiController order, with its texts', async () => {
    const token = await jwt();
    const body = JSON.stringify({ username: 'octocat', tokenType: 'ApiKey' });
    assertError(
      await request('POST', '/api/v2/token', EXCHANGE_HEADERS, body),
      401,
      'The Authorization header is missing.',
    );
    const basic = await request(
      'POST',
      '/api/v2/token',
      { ...EXCHANGE_HEADERS, authorization: `Basic ${token}` },
      body,
    );
    assertError(basic, 401, "The Authorization header value must start with 'Bearer '.");
    assert.equal(basic.headers['www-authenticate'], 'Bearer');
    const form = await request(
      'POST',
      '/api/v2/token',
      {
        'user-agent': 'x',
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Bearer ${token}`,
      },
      body,
    );
    assertError(form, 415, "The request must have a Content-Type of 'application/json'.");
    const noAgent = await request(
      'POST',
      '/api/v2/token',
      { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    );
    assertError(noAgent, 400, 'A User-Agent header is required.');
    const noUser = await request(
      'POST',
      '/api/v2/token',
      { ...EXCHANGE_HEADERS, authorization: `Bearer ${token}` },
      JSON.stringify({ tokenType: 'ApiKey' }),
    );
    assertError(noUser, 400, 'The username property in the request body is required.');
    const badType = await request(
      'POST',
      '/api/v2/token',
      { ...EXCHANGE_HEADERS, authorization: `Bearer ${token}` },
      JSON.stringify({ Username: 'octocat', tokenType: 'apikey' }),
    );
    assertError(
      badType,
      400,
      "The tokenType property in the request body is required and must set to 'ApiKey'.",
    );
    // None of these burned the JWT.
    assert.equal((await exchange(token)).status, 200);
  });

  test('JWT problems get the evaluator’s texts', async () => {
    assertError(await exchange('abc'), 401, 'The bearer token could not be parsed as a JSON web token.');
    assertError(
      await exchange(await jwt({}, 'nuget.org')),
      401,
      'The JSON web token has an incorrect audience.',
    );
    const now = Math.floor(Date.now() / 1000);
    assertError(
      await exchange(await jwt({ iat: now - 600, nbf: now - 600, exp: now - 60 })),
      401,
      'The JSON web token has expired.',
    );
    assertError(
      await exchange(await jwt({ iss: 'https://gitlab.com' })),
      401,
      'The JSON web token iss claim is not supported.',
    );
    assertError(await exchange(await jwt({ jti: '' })), 401, 'The JSON web token must have a jti claim.');
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ ...defaultClaims(), aud: AUDIENCE, jti: 'forged' })
      .setProtectedHeader({ alg: 'RS256', kid: 'other' })
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    assertError(await exchange(forged), 401, 'The JSON web token has an invalid signature.');
  });

  test('a JWT is exchanged once; a refused exchange does not burn it', async () => {
    const token = await jwt({ environment: 'staging' });
    assert.equal((await exchange(token)).status, 401);
    ng.policies = [{ ...defaultPolicy(), environment: undefined }];
    assert.equal((await exchange(token)).status, 200);
    assertError(
      await exchange(token),
      401,
      'This bearer token has already been used. A new bearer token must be used for each request.',
    );
  });

  test('repository owner, repository, workflow file and environment compare without case', async () => {
    const upper = {
      repository: 'Octo-Org/TP-Sample',
      repository_owner: 'Octo-Org',
      job_workflow_ref: ref('Release.YML', 'Octo-Org/TP-Sample'),
      environment: 'RELEASE',
    };
    assert.equal((await exchange(await jwt(upper))).status, 200);
  });

  test('a repository mismatch is never disclosed; workflow and environment mismatches are', async () => {
    assertError(
      await exchange(
        await jwt({ repository: 'octo-org/other', job_workflow_ref: ref('release.yml', 'octo-org/other') }),
      ),
      401,
      noMatchingPolicy('octocat'),
    );
    assertError(await exchange(await jwt({ repository_owner_id: '999' })), 401, noMatchingPolicy('octocat'));
    assertError(
      await exchange(await jwt({ job_workflow_ref: ref('ci.yml') })),
      401,
      "Workflow mismatch for policy 'release': expected 'release.yml', actual 'ci.yml'",
    );
    assertError(
      await exchange(await jwt({ environment: undefined })),
      401,
      "Environment mismatch for policy 'release': expected 'release', actual ''",
    );
  });

  test('the workflow comes from job_workflow_ref and must live in the repository itself', async () => {
    assert.equal((await exchange(await jwt({ workflow_ref: ref('caller.yml') }))).status, 200);
    const shared = 'octo-org/shared/.github/workflows/release.yml@refs/heads/main';
    assertError(
      await exchange(await jwt({ job_workflow_ref: shared })),
      401,
      `Claim 'job_workflow_ref' has value '${shared}' which does not start with octo-org/tp-sample/.github/workflows/.`,
    );
  });

  test('a policy without an environment accepts any job; disclosable errors of several policies are joined', async () => {
    ng.policies = [{ ...defaultPolicy(), environment: undefined }];
    assert.equal((await exchange(await jwt({ environment: 'anything' }))).status, 200);
    ng.policies = [
      { ...defaultPolicy(), name: 'ci', workflow: 'ci.yml' },
      { ...defaultPolicy(), name: 'staging', environment: 'staging', created: new Date('2025-02-01') },
    ];
    assertError(
      await exchange(await jwt()),
      401,
      "Workflow mismatch for policy 'ci': expected 'ci.yml', actual 'release.yml'. Environment mismatch for policy 'staging': expected 'staging', actual 'release'",
    );
  });

  test('a temporary policy records the repository IDs at first use and expires unused', async () => {
    const temporary = { ...defaultPolicy(), ownerId: undefined, repositoryId: undefined };
    ng.policies = [{ ...temporary, validateBy: new Date(Date.now() + 86_400_000) }];
    assert.equal((await exchange(await jwt())).status, 200);
    assert.equal(ng.policies[0]?.ownerId, '1234567');
    assert.equal(ng.policies[0]?.repositoryId, '7654321');
    ng.policies = [{ ...temporary, validateBy: new Date(Date.now() - 1000) }];
    assertError(
      await exchange(await jwt()),
      401,
      "The policy 'release' has expired. Sign in and renew the trust policy on the Trusted Publishing page.",
    );
  });

  test('missing claims, banned events, unusable accounts and a disabled API', async () => {
    assertError(
      await exchange(await jwt({ repository_id: undefined })),
      401,
      "The JSON Web Token is missing the required claim 'repository_id'.",
    );
    ng.bannedEvents = ['pull_request_target'];
    assertError(
      await exchange(await jwt({ event_name: 'pull_request_target' })),
      401,
      "The GitHub Actions event 'pull_request_target' is not allowed.",
    );
    ng.addAccount({ username: 'locked-user', locked: true });
    ng.policies = [{ ...defaultPolicy(), createdBy: 'locked-user' }];
    assertError(await exchange(await jwt(), 'locked-user'), 400, "The user 'locked-user' is locked.");
    ng.policies = [{ ...defaultPolicy(), createdBy: 'someone-else' }];
    assertError(
      await exchange(await jwt(), 'someone-else'),
      400,
      "The scopes on the generated API key are not valid. Confirm that you still have permissions to operate on behalf of package owner 'octo-org'.",
    );
    ng.tokenApiEnabled = false;
    assert.equal((await exchange(await jwt())).status, 404);
  });

  test('faults are consumed before normal handling', async () => {
    ng.faults.exchange.push(503);
    assert.equal((await exchange(await jwt())).status, 503);
    assert.equal((await exchange(await jwt())).status, 200);
  });
});

describe('PUT /api/v2/package and /api/v2/symbolpackage', () => {
  let key: string;
  before(async () => {
    key = await mint();
    ng.registerPackage('Theirs.Package', 'someone-else');
  });

  test('a package goes in as the NuGet client sends it; the same version again is a 409', async () => {
    const file = await makeNupkg(tmp, { id: 'TpSample', version: '1.0.0' });
    const res = await push(key, file);
    assert.equal(res.status, 201, res.text);
    const recorded = ng.pushes.at(-1);
    assert.deepEqual(recorded?.part, {
      field: 'package',
      filename: 'package.nupkg',
      contentType: 'application/octet-stream',
    });
    assert.deepEqual(recorded?.body, fs.readFileSync(file));
    assert.equal(ng.packages.get('tpsample')?.owner, 'octo-org');
    const again = await push(key, file);
    assert.equal(again.status, 409);
    assert.equal(again.reason, packageExists('TpSample', '1.0.0'));
    assert.equal(again.text, packageExists('TpSample', '1.0.0'));
    // 1.0 is 1.0.0 once normalised, and IDs compare without case.
    const short = await makeNupkg(tmp, { id: 'tpsample', version: '1.0' });
    assert.equal((await push(key, short)).status, 409);
  });

  test('keys: none is 401, an unknown or expired one 403 with the gallery text', async () => {
    const file = await makeNupkg(tmp, { id: 'TpSample', version: '1.1.0' });
    const none = await push(undefined, file);
    assert.equal(none.status, 401);
    assert.match(none.headers['www-authenticate'] ?? '', /^ApiKey realm=/);
    const unknown = await push(`oy2${'a'.repeat(43)}`, file);
    assert.equal(unknown.status, 403);
    assert.equal(unknown.reason, API_KEY_NOT_AUTHORIZED);
    ng.keyLifetimeSeconds = 0;
    assert.equal((await push(await mint(), file)).status, 403);
  });

  test('a package of another owner, or outside the policy scope, is 403', async () => {
    const theirs = await makeNupkg(tmp, { id: 'Theirs.Package', version: '1.0.0' });
    const res = await push(key, theirs);
    assert.equal(res.status, 403);
    assert.equal(res.text, API_KEY_NOT_AUTHORIZED);
    ng.policies = [{ ...defaultPolicy(), packages: ['TpSample.*'] }];
    const scoped = await mint();
    const outside = await makeNupkg(tmp, { id: 'TpOther', version: '1.0.0' });
    assert.equal((await push(scoped, outside)).status, 403);
    const inside = await makeNupkg(tmp, { id: 'TpSample.Extras', version: '1.0.0' });
    assert.equal((await push(scoped, inside)).status, 201);
  });

  test('bodies that are no package, a symbol package pushed as a package, and an oversized body are 400/413', async () => {
    const junk = path.join(tmp, 'junk.nupkg');
    fs.writeFileSync(junk, 'not a zip');
    const res = await push(key, junk);
    assert.equal(res.status, 400);
    assert.match(res.reason, /^Failed to read the package file/);
    const symbols = await makeNupkg(tmp, { id: 'TpSample', version: '1.2.0', symbols: true });
    const wrong = await push(key, symbols);
    assert.equal(wrong.status, 400);
    assert.match(wrong.reason, /^Snupkg upload failed/);
    ng.maxPackageBytes = 100;
    try {
      assert.equal((await push(key, await makeNupkg(tmp, { id: 'TpSample', version: '1.3.0' }))).status, 413);
    } finally {
      ng.maxPackageBytes = 250 * 1024 * 1024;
    }
  });

  test('a raw body (the old client protocol) is read too', async () => {
    const file = await makeNupkg(tmp, { id: 'TpSample', version: '1.4.0' });
    const res = await request('PUT', '/api/v2/package', { 'x-nuget-apikey': key }, fs.readFileSync(file));
    assert.equal(res.status, 201, res.text);
    assert.equal(ng.pushes.at(-1)?.part, undefined);
  });

  test('symbols: only after their package, only SymbolsPackage, replaced unless still validating', async () => {
    const symbols = await makeNupkg(tmp, { id: 'TpSample', version: '2.0.0', symbols: true });
    const early = await push(key, symbols, '/api/v2/symbolpackage');
    assert.equal(early.status, 404);
    assert.equal(
      early.reason,
      "A package with ID 'TpSample' and version '2.0.0' does not exist. Please upload the package before uploading its symbols.",
    );
    const pkg = await makeNupkg(tmp, { id: 'TpSample', version: '2.0.0' });
    assert.equal((await push(key, pkg)).status, 201);
    const notSymbols = await push(key, pkg, '/api/v2/symbolpackage');
    assert.equal(notSymbols.status, 400);
    assert.match(notSymbols.reason, /required 'SymbolsPackage' package type is missing/);
    assert.equal((await push(key, symbols, '/api/v2/symbolpackage')).status, 201);
    assert.equal(
      (await push(key, symbols, '/api/v2/symbolpackage')).status,
      201,
      'a settled symbol package is replaced',
    );
    ng.symbolValidation = 'pending';
    assert.equal((await push(key, symbols, '/api/v2/symbolpackage')).status, 201);
    const pending = await push(key, symbols, '/api/v2/symbolpackage');
    assert.equal(pending.status, 409);
    assert.equal(pending.reason, SYMBOLS_VALIDATING);
  });

  test('symbol packages with authors or non-symbol files are refused', async () => {
    const pkg = await makeNupkg(tmp, { id: 'TpSample', version: '3.0.0' });
    assert.equal((await push(key, pkg)).status, 201);
    const nuspec = (authors: string) =>
      `<package><metadata><id>TpSample</id><version>3.0.0</version><authors>${authors}</authors><packageTypes><packageType name="SymbolsPackage"/></packageTypes></metadata></package>`;
    const authored = await makeNupkg(tmp, {
      id: 'TpSample',
      version: '3.0.0',
      symbols: true,
      nuspec: nuspec('Someone'),
    });
    assert.match((await push(key, authored, '/api/v2/symbolpackage')).reason, /Please remove 'Authors'/);
    const withDll = await makeNupkg(tmp, {
      id: 'TpSample',
      version: '3.0.0',
      symbols: true,
      extraFiles: [['lib/net8.0/TpSample.dll', 'MZ']],
    });
    assert.match(
      (await push(key, withDll, '/api/v2/symbolpackage')).reason,
      /should only contain '\.pdb' files/,
    );
  });
});
