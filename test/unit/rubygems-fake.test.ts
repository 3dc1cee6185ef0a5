import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { makeGem } from '../fakes/gem.ts';
import { type Claims, defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import {
  ACCESS_DENIED,
  defaultPublisher,
  NOT_ALLOWED,
  REPUSH_NOT_ALLOWED,
  type RubyGems,
  startRubyGems,
} from '../fakes/rubygems.ts';
import { skipWithout } from '../helpers/clients.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/rubygems/tp_sample-0.1.0.gem');
const PROCESSING_ERROR =
  "RubyGems.org cannot process this gem.\nPlease try rebuilding it and installing it locally to make sure it's valid.\n";

/** Tests that build a gem of their own need `gem build`. */
const gemMissing = skipWithout('gem');

let issuer: Issuer;
let rg: RubyGems;
let tmp: string;

before(async () => {
  issuer = await startIssuer();
  rg = await startRubyGems({ issuer });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-rubygems-fake-'));
});

after(async () => {
  await rg.close();
  await issuer.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A JWT from the fake GitHub issuer, for the default claims with `overrides` (undefined removes a claim). */
async function jwt(overrides: Claims = {}, audience = 'rubygems.org'): Promise<string> {
  issuer.claims = { ...defaultClaims(), ...overrides };
  const res = await fetch(`${issuer.requestUrl}&audience=${encodeURIComponent(audience)}`, {
    headers: { authorization: `bearer ${issuer.requestToken}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { value: string }).value;
}

async function exchange(
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' },
): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${rg.url}/api/v1/oidc/trusted_publisher/exchange_token`, {
    method: 'POST',
    headers,
    body,
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

const exchangeJwt = (token: string) => exchange(JSON.stringify({ jwt: token }));

async function mint(): Promise<string> {
  const res = await exchangeJwt(await jwt());
  assert.equal(res.status, 201, res.text);
  return (JSON.parse(res.text) as { rubygems_api_key: string }).rubygems_api_key;
}

async function push(
  key: string,
  body: Buffer,
): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${rg.url}/api/v1/gems`, {
    method: 'POST',
    headers: { authorization: key, 'content-type': 'application/octet-stream' },
    body,
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

const assertNotFound = (res: { status: number; text: string }) => {
  assert.equal(res.status, 404);
  assert.deepEqual(JSON.parse(res.text), { error: 'Not Found' });
};

const ref = (file: string, owner = 'octo-org') =>
  `${owner}/tp-sample/.github/workflows/${file}@refs/tags/v0.1.0`;

describe('exchange_token', () => {
  test('a good JWT gets a push key that expires in 15 minutes', async () => {
    const token = await jwt();
    const res = await exchangeJwt(token);
    assert.equal(res.status, 201, res.text);
    assert.match(res.type ?? '', /^application\/json/);
    const body = JSON.parse(res.text) as Record<string, unknown>;
    assert.match(String(body.rubygems_api_key), /^rubygems_[0-9a-f]{48}$/);
    assert.deepEqual(body.scopes, ['push_rubygem']);
    assert.match(
      String(body.name),
      /^GitHub Actions octo-org\/tp-sample @ \.github\/workflows\/release\.yml \(release\) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );
    const expires = Date.parse(String(body.expires_at));
    assert.ok(Math.abs(expires - (Date.now() + 900_000)) < 10_000, String(body.expires_at));
    assert.ok(rg.minted.includes(String(body.rubygems_api_key)));
  });

  test('a JWT signed by another key is Not Found', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ ...defaultClaims(), aud: 'rubygems.org', jti: 'x' })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'other' })
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    assertNotFound(await exchangeJwt(forged));
  });

  test('a wrong audience is Not Found', async () => {
    assertNotFound(await exchangeJwt(await jwt({}, 'pypi')));
  });

  test('an expired JWT is Not Found', async () => {
    const now = Math.floor(Date.now() / 1000);
    assertNotFound(await exchangeJwt(await jwt({ iat: now - 600, nbf: now - 600, exp: now - 10 })));
  });

  test('the repository owner is compared case-sensitively', async () => {
    const token = await jwt({
      repository: 'Octo-Org/tp-sample',
      repository_owner: 'Octo-Org',
      workflow_ref: ref('release.yml', 'Octo-Org'),
      job_workflow_ref: ref('release.yml', 'Octo-Org'),
    });
    assertNotFound(await exchangeJwt(token));
  });

  test('an environment other than the publisher one is Not Found, as is a job without one', async () => {
    assertNotFound(await exchangeJwt(await jwt({ environment: 'staging' })));
    assertNotFound(await exchangeJwt(await jwt({ environment: undefined })));
  });

  test('a publisher without an environment accepts a job that has one', async () => {
    rg.publisher = { ...defaultPublisher(), environment: undefined };
    try {
      const res = await exchangeJwt(await jwt({ environment: 'anything' }));
      assert.equal(res.status, 201, res.text);
    } finally {
      rg.publisher = defaultPublisher();
    }
  });

  test('the workflow file comes from job_workflow_ref', async () => {
    assertNotFound(await exchangeJwt(await jwt({ job_workflow_ref: ref('other.yml') })));
    // The caller's workflow_ref does not matter (reusable workflows: the called file is checked).
    const res = await exchangeJwt(await jwt({ workflow_ref: ref('caller.yml') }));
    assert.equal(res.status, 201, res.text);
  });

  test('a reusable workflow from another repository needs the publisher to name that repository', async () => {
    const called = 'octo-org/shared/.github/workflows/release.yml@refs/heads/main';
    assertNotFound(await exchangeJwt(await jwt({ job_workflow_ref: called })));
    rg.publisher = { ...defaultPublisher(), workflowRepository: 'octo-org/shared' };
    try {
      const res = await exchangeJwt(await jwt({ job_workflow_ref: called }));
      assert.equal(res.status, 201, res.text);
    } finally {
      rg.publisher = defaultPublisher();
    }
  });

  test('a malformed request is 400 with a reason', async () => {
    const unparsable = await exchange('{"jwt": ');
    assert.equal(unparsable.status, 400);
    assert.equal((JSON.parse(unparsable.text) as { error: string }).error, 'Bad Request');

    const missing = await exchange('{}');
    assert.equal(missing.status, 400);
    assert.deepEqual(JSON.parse(missing.text), { error: "Request is missing param 'jwt'" });

    const notJwt = await exchange(JSON.stringify({ jwt: 'abc' }));
    assert.equal(notJwt.status, 400);
    assert.deepEqual(JSON.parse(notJwt.text), {
      error: 'Invalid JWT Format. JWT should include 3 or 5 segments.',
    });
  });

  test('without a JSON Accept header the Not Found is an HTML page', async () => {
    const res = await exchange(JSON.stringify({ jwt: await jwt({ environment: 'staging' }) }), {
      'content-type': 'application/json',
    });
    assert.equal(res.status, 404);
    assert.match(res.type ?? '', /^text\/html/);
  });

  test('faults are consumed before normal handling', async () => {
    rg.faults.exchange.push(503);
    const before = rg.exchanges;
    assert.equal((await exchangeJwt(await jwt())).status, 503);
    assert.equal((await exchangeJwt(await jwt())).status, 201);
    assert.equal(rg.exchanges, before + 2);
  });
});

describe('push', () => {
  const fixture = fs.readFileSync(FIXTURE);
  const fixtureSha = createHash('sha256').update(fixture).digest('hex');
  let key: string;

  before(async () => {
    key = await mint();
  });

  test('the fixture gem is registered', async () => {
    const res = await push(key, fixture);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'Successfully registered gem: tp_sample (0.1.0)');
    assert.match(res.type ?? '', /^text\/plain/);
    const stored = rg.versions.get('tp_sample-0.1.0-ruby');
    assert.equal(stored?.sha256, fixtureSha);
    assert.equal(stored?.yanked, false);
    const recorded = rg.pushes.at(-1);
    assert.equal(recorded?.path, '/api/v1/gems');
    assert.equal(recorded?.sha256, fixtureSha);
    assert.deepEqual(recorded?.body, fixture);
  });

  test('the same bytes with the same key are an idempotent success', async () => {
    const res = await push(key, fixture);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'Gem was already pushed: tp_sample (0.1.0)');
  });

  test('the same version with another key is refused with 409', async () => {
    const res = await push(await mint(), fixture);
    assert.equal(res.status, 409);
    assert.equal(res.text, REPUSH_NOT_ALLOWED);
    assert.match(res.text, /^Repushing of gem versions is not allowed\.\n/);
  });

  test('an unknown or expired key is 401 Access Denied', async () => {
    const unknown = await push(`rubygems_${'0'.repeat(48)}`, fixture);
    assert.equal(unknown.status, 401);
    assert.equal(unknown.text, ACCESS_DENIED);

    rg.keyLifetimeSeconds = 0;
    try {
      const expired = await push(await mint(), fixture);
      assert.equal(expired.status, 401);
      assert.equal(expired.text, ACCESS_DENIED);
    } finally {
      rg.keyLifetimeSeconds = 900;
    }
  });

  test('a gem the publisher is not registered for is 403', { skip: gemMissing }, async () => {
    const other = fs.readFileSync(await makeGem(tmp, { name: 'not_mine', version: '1.0.0' }));
    const res = await push(key, other);
    assert.equal(res.status, 403);
    assert.equal(res.text, NOT_ALLOWED);
    assert.match(res.type ?? '', /^text\/plain/);
  });

  test('a body that is not a gem is 422', async () => {
    const res = await push(key, Buffer.from('this is not a gem at all'.repeat(50)));
    assert.equal(res.status, 422);
    assert.ok(res.text.startsWith(PROCESSING_ERROR), res.text);
    assert.match(res.text, /\nError:\n.+/);
    assert.equal(rg.pushes.at(-1)?.status, 422);
  });

  test('a gem whose data does not match checksums.yaml.gz is 422', async () => {
    // The fixture's second entry (data.tar.gz) starts after two 512-byte blocks: its header and metadata.gz.
    const header = 512 + Math.ceil(430 / 512) * 512;
    assert.equal(fixture.subarray(header, header + 11).toString(), 'data.tar.gz');
    const tampered = Buffer.from(fixture);
    tampered[header + 512 + 20] = (tampered[header + 512 + 20] ?? 0) ^ 0xff;
    const res = await push(key, tampered);
    assert.equal(res.status, 422);
    assert.ok(res.text.startsWith(PROCESSING_ERROR), res.text);
    assert.match(res.text, /expected "data\.tar\.gz" to have [0-9a-f]{64} but was [0-9a-f]{64}/);
  });

  test('a push without Content-Length is refused', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = http.request(`${rg.url}/api/v1/gems`, { method: 'POST', headers: { authorization: key } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.write(fixture.subarray(0, 100));
      req.end(fixture.subarray(100));
    });
    assert.equal(status, 411);
  });

  test('the versions endpoint knows the stored version and its sha256', async () => {
    const res = await fetch(`${rg.url}/api/v2/rubygems/tp_sample/versions/0.1.0.json?platform=ruby`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.name, 'tp_sample');
    assert.equal(body.version, '0.1.0');
    assert.equal(body.platform, 'ruby');
    assert.equal(body.sha, fixtureSha);

    // Without an extension Rails goes by Accept: fetch's `*/*` gets the first declared format, JSON.
    const bare = await fetch(`${rg.url}/api/v2/rubygems/tp_sample/versions/0.1.0?platform=ruby`);
    assert.equal(bare.status, 200);
    assert.equal(((await bare.json()) as { sha: string }).sha, fixtureSha);

    const unknown = await fetch(`${rg.url}/api/v2/rubygems/tp_sample/versions/9.9.9.json?platform=ruby`);
    assert.equal(unknown.status, 404);
    assert.equal(await unknown.text(), 'This version could not be found.');
    const otherPlatform = await fetch(
      `${rg.url}/api/v2/rubygems/tp_sample/versions/0.1.0.json?platform=java`,
    );
    assert.equal(otherPlatform.status, 404);
  });

  test('a yanked version is 404 on the versions endpoint and still refuses a push', {
    skip: gemMissing,
  }, async () => {
    const gem = fs.readFileSync(await makeGem(tmp, { name: 'tp_sample', version: '0.0.9' }));
    assert.equal((await push(key, gem)).status, 200);
    rg.yank('tp_sample', '0.0.9', 'ruby');
    const res = await fetch(`${rg.url}/api/v2/rubygems/tp_sample/versions/0.0.9.json?platform=ruby`);
    assert.equal(res.status, 404);
    const again = await push(key, gem);
    assert.equal(again.status, 409);
    assert.equal(
      again.text,
      'A yanked version already exists (tp_sample-0.0.9).\n' +
        'Repushing of gem versions is not allowed. Please use a new version and retry',
    );
  });

  test('a platform gem is named with its platform', { skip: gemMissing }, async () => {
    const file = await makeGem(tmp, { name: 'tp_sample', version: '0.2.0', platform: 'x86_64-linux' });
    assert.equal(path.basename(file), 'tp_sample-0.2.0-x86_64-linux.gem');
    const gem = fs.readFileSync(file);
    const res = await push(key, gem);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, 'Successfully registered gem: tp_sample (0.2.0-x86_64-linux)');
    const version = await fetch(
      `${rg.url}/api/v2/rubygems/tp_sample/versions/0.2.0.json?platform=x86_64-linux`,
    );
    assert.equal(version.status, 200);
    const body = (await version.json()) as Record<string, unknown>;
    assert.equal(body.platform, 'x86_64-linux');
    assert.equal(body.sha, createHash('sha256').update(gem).digest('hex'));
    const ruby = await fetch(`${rg.url}/api/v2/rubygems/tp_sample/versions/0.2.0.json?platform=ruby`);
    assert.equal(ruby.status, 404);
  });
});
