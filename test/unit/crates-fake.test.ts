/**
 * The crates.io emulator's own tests: it must refuse what crates.io refuses, with crates.io's words, or the
 * end-to-end tests would prove nothing. The real `cargo publish` checks the accepting side (cargo-oracle).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import {
  type CratesIo,
  DECODE_FAILED,
  defaultConfig,
  environmentMismatch,
  INVALID_TOKEN,
  indexPath,
  JWT_REUSED,
  makeCrate,
  NEW_CRATE_REFUSED,
  noConfig,
  notValidForCrate,
  ownerIdMismatch,
  startCratesIo,
  unsupportedEvent,
  workflowFilename,
  workflowMismatch,
} from '../fakes/crates.ts';
import { type Claims, defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import { FIXTURES } from '../helpers/action.ts';

const FIXTURE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');
const TOKENS_PATH = '/api/v1/trusted_publishing/tokens';
const REPO = 'octo-org/tp-sample';

let issuer: Issuer;
let cio: CratesIo;
let tmp: string;

before(async () => {
  issuer = await startIssuer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-crates-fake-'));
});
beforeEach(async () => {
  await cio?.close();
  cio = await startCratesIo({ issuer });
});
after(async () => {
  await cio?.close();
  await issuer.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A JWT from the fake GitHub issuer for the default claims with `overrides` (undefined removes a claim). */
async function jwt(overrides: Claims = {}, audience = 'crates.io'): Promise<string> {
  issuer.claims = { ...defaultClaims(), ...overrides };
  const res = await fetch(`${issuer.requestUrl}&audience=${encodeURIComponent(audience)}`, {
    headers: { authorization: `bearer ${issuer.requestToken}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { value: string }).value;
}

async function exchange(token: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${cio.url}${TOKENS_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ jwt: token }),
  });
  return { status: res.status, body: await res.json() };
}

async function refused(token: string, detail: string): Promise<void> {
  const res = await exchange(token);
  assert.equal(res.status, 400);
  assert.deepEqual(res.body, { errors: [{ detail }] });
}

async function mint(): Promise<string> {
  const res = await exchange(await jwt());
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { token: string }).token;
}

/** A publish body as cargo frames it: u32 LE length + metadata JSON + u32 LE length + crate bytes. */
function frame(metadata: unknown, crate: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(metadata));
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32LE(json.length, 0);
  lengths.writeUInt32LE(crate.length, 4);
  return Buffer.concat([lengths.subarray(0, 4), json, lengths.subarray(4), crate]);
}

async function publish(authorization: string | undefined, body: Buffer) {
  const res = await fetch(`${cio.url}/api/v1/crates/new`, {
    method: 'PUT',
    headers: authorization === undefined ? {} : { authorization },
    body,
  });
  return { status: res.status, body: (await res.json()) as { errors?: { detail: string }[] } };
}

const fixture = () => fs.readFileSync(FIXTURE);
const fixtureMeta = { name: 'tp-sample', vers: '0.1.0', deps: [], features: {} };
const ref = (file: string, owner = 'octo-org') =>
  `${owner}/tp-sample/.github/workflows/${file}@refs/tags/v0.1.0`;

describe('token exchange', () => {
  test('a good JWT gets a cio_tp_ token with a valid checksum', async () => {
    const token = await mint();
    assert.match(token, /^cio_tp_[A-Za-z0-9]{32}$/);
    assert.deepEqual(cio.minted, [token]);
  });

  test('a JWT signed by another key under the issuer key id fails to decode', async () => {
    const kid = decodeProtectedHeader(await jwt()).kid ?? '';
    const { privateKey } = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({
      ...defaultClaims(),
      aud: 'crates.io',
      jti: 'x',
      iat: now,
      exp: now + 300,
    })
      .setProtectedHeader({ alg: 'RS256', kid })
      .sign(privateKey);
    await refused(forged, DECODE_FAILED);
    const otherKid = await new SignJWT({
      ...defaultClaims(),
      aud: 'crates.io',
      jti: 'y',
      iat: now,
      exp: now + 300,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'not-a-github-key' })
      .sign(privateKey);
    await refused(otherKid, 'Invalid JWT key ID');
  });

  test('a wrong audience and an expired token are both just "Failed to decode JWT"', async () => {
    await refused(await jwt({}, 'pypi'), DECODE_FAILED);
    const now = Math.floor(Date.now() / 1000);
    await refused(await jwt({ iat: now - 900, nbf: now - 900, exp: now - 120 }), DECODE_FAILED);
  });

  test('a missing required claim fails to decode, another issuer is named', async () => {
    await refused(await jwt({ workflow_ref: undefined }), DECODE_FAILED);
    await refused(
      await jwt({ iss: 'https://gitlab.example' }),
      'Unsupported JWT issuer: https://gitlab.example',
    );
    await refused('not-a-jwt', DECODE_FAILED);
  });

  test('the repository owner id is compared exactly', async () => {
    await refused(await jwt({ repository_owner_id: '7654321' }), ownerIdMismatch(REPO, 7654321, [1234567]));
    await refused(await jwt({ repository_owner_id: 'abc' }), 'Unexpected `repository_owner_id` value');
  });

  test('the workflow file comes from workflow_ref, compared exactly; job_workflow_ref does not matter', async () => {
    await refused(
      await jwt({ workflow_ref: ref('other.yml') }),
      workflowMismatch(REPO, 'other.yml', ['release.yml']),
    );
    await refused(
      await jwt({ workflow_ref: ref('Release.yml') }),
      workflowMismatch(REPO, 'Release.yml', ['release.yml']),
    );
    const reusable = await exchange(
      await jwt({ job_workflow_ref: 'octo-org/shared/.github/workflows/x.yml@refs/heads/main' }),
    );
    assert.equal(reusable.status, 200);
    await refused(
      await jwt({ workflow_ref: 'octo-org/tp-sample/.github/workflows/noext@refs/heads/main' }),
      'Unexpected `workflow_ref` value',
    );
  });

  test('owner, repository and environment are compared ignoring case', async () => {
    const res = await exchange(
      await jwt({
        repository: 'Octo-Org/TP-Sample',
        repository_owner: 'Octo-Org',
        workflow_ref: ref('release.yml', 'Octo-Org'),
        environment: 'Release',
      }),
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('environments: another one or none is refused; a publisher without one accepts any', async () => {
    await refused(await jwt({ environment: 'staging' }), environmentMismatch(REPO, 'staging', ['release']));
    await refused(await jwt({ environment: undefined }), environmentMismatch(REPO, undefined, ['release']));
    cio.configs = [{ ...defaultConfig(), environment: undefined }];
    assert.equal((await exchange(await jwt({ environment: 'anything' }))).status, 200);
  });

  test('a repository without any publisher is named', async () => {
    await refused(
      await jwt({
        repository: 'someone/else',
        repository_owner: 'someone',
        workflow_ref: 'someone/else/.github/workflows/release.yml@refs/tags/v1',
      }),
      noConfig('someone/else'),
    );
  });

  test('pull_request_target and workflow_run are refused', async () => {
    await refused(await jwt({ event_name: 'pull_request_target' }), unsupportedEvent('pull_request_target'));
    await refused(await jwt({ event_name: 'workflow_run' }), unsupportedEvent('workflow_run'));
  });

  test('a failed exchange does not burn the jti; a successful one does', async () => {
    const token = await jwt();
    cio.configs = [{ ...defaultConfig(), workflow: 'other.yml' }];
    await refused(token, workflowMismatch(REPO, 'release.yml', ['other.yml']));
    cio.configs = [defaultConfig()];
    assert.equal((await exchange(token)).status, 200);
    await refused(token, JWT_REUSED);
  });

  test('a body that is not JSON is refused before the handler, as axum does', async () => {
    const res = await fetch(`${cio.url}${TOKENS_PATH}`, { method: 'POST', body: 'jwt=x' });
    assert.equal(res.status, 415);
    const missing = await fetch(`${cio.url}${TOKENS_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(missing.status, 422);
  });

  test('the workflow regex finds the file as crates.io does', () => {
    assert.equal(
      workflowFilename('foo/bar/.github/workflows/nested.yml@evil.yml@refs/heads/main'),
      'nested.yml@evil.yml',
    );
    assert.equal(
      workflowFilename('foo/bar/.github/workflows/basic.yml@refs/heads/misleading@branch.yml'),
      'basic.yml',
    );
    assert.equal(workflowFilename('foo/bar/.github/workflows/main.yml'), undefined);
  });
});

describe('revoke', () => {
  test('a Bearer token is revoked with 204 and can no longer publish', async () => {
    const token = await mint();
    const res = await fetch(`${cio.url}${TOKENS_PATH}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 204);
    assert.deepEqual(cio.revocations, [{ authorization: `Bearer ${token}`, status: 204, known: true }]);
    const after = await publish(token, frame(fixtureMeta, fixture()));
    assert.equal(after.status, 403);
    assert.deepEqual(after.body, { errors: [{ detail: INVALID_TOKEN }] });
  });

  test('an unknown (well-formed) token is 204 too; a missing or malformed one is 401', async () => {
    const unknown = `cio_tp_${'0'.repeat(31)}w`;
    assert.equal(
      (
        await fetch(`${cio.url}${TOKENS_PATH}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${unknown}` },
        })
      ).status,
      204,
    );
    assert.equal(cio.revocations[0]?.known, false);
    const missing = await fetch(`${cio.url}${TOKENS_PATH}`, { method: 'DELETE' });
    assert.equal(missing.status, 401);
    assert.deepEqual(await missing.json(), { errors: [{ detail: 'Missing `Authorization` header' }] });
    const malformed = await fetch(`${cio.url}${TOKENS_PATH}`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer cio_tp_nope' },
    });
    assert.equal(malformed.status, 401);
    const scheme = await fetch(`${cio.url}${TOKENS_PATH}`, {
      method: 'DELETE',
      headers: { authorization: `Basic ${unknown}` },
    });
    assert.deepEqual(await scheme.json(), {
      errors: [{ detail: 'Invalid `Authorization` header: Found unexpected authentication scheme `Basic`' }],
    });
  });
});

describe('publish', () => {
  test('the fixture is published, stored, indexed and looked up', async () => {
    const res = await publish(await mint(), frame(fixtureMeta, fixture()));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual((res.body as { warnings?: unknown }).warnings, {
      invalid_categories: [],
      invalid_badges: [],
      other: [],
    });
    const sha = createHash('sha256').update(fixture()).digest('hex');
    assert.equal(cio.publishes[0]?.sha256, sha);
    assert.equal(cio.publishes[0]?.metadataText, JSON.stringify(fixtureMeta));

    const lookup = await fetch(`${cio.url}/api/v1/crates/tp_sample/0.1.0`);
    assert.equal(lookup.status, 200);
    assert.equal(((await lookup.json()) as { version: { checksum: string } }).version.checksum, sha);
    const none = await fetch(`${cio.url}/api/v1/crates/tp-sample/9.9.9`);
    assert.deepEqual(await none.json(), {
      errors: [{ detail: 'crate `tp-sample` does not have a version `9.9.9`' }],
    });
    const nothing = await fetch(`${cio.url}/api/v1/crates/nope/1.0.0`);
    assert.equal(nothing.status, 404);
    assert.deepEqual(await nothing.json(), { errors: [{ detail: 'crate `nope` does not exist' }] });

    const config = (await (await fetch(`${cio.url}/index/config.json`)).json()) as {
      api: string;
      dl: string;
    };
    assert.equal(config.api, cio.url);
    assert.equal(indexPath('tp-sample'), 'tp/-s/tp-sample');
    const line = JSON.parse(await (await fetch(`${cio.url}/index/tp/-s/tp-sample`)).text()) as {
      cksum: string;
    };
    assert.equal(line.cksum, sha);
    const download = await fetch(`${config.dl}/tp-sample/0.1.0/download`);
    assert.equal(
      createHash('sha256')
        .update(Buffer.from(await download.arrayBuffer()))
        .digest('hex'),
      sha,
    );
  });

  test('a duplicate version is 400 with crates.io words, or 200 with errors on a legacy server', async () => {
    const token = await mint();
    assert.equal((await publish(token, frame(fixtureMeta, fixture()))).status, 200);
    const again = await publish(token, frame(fixtureMeta, fixture()));
    assert.equal(again.status, 400);
    assert.deepEqual(again.body, { errors: [{ detail: 'crate version `0.1.0` is already uploaded' }] });
    cio.legacyErrors = true;
    const legacy = await publish(token, frame(fixtureMeta, fixture()));
    assert.equal(legacy.status, 200);
    assert.deepEqual(legacy.body, { errors: [{ detail: 'crate version `0.1.0` is already uploaded' }] });
  });

  test('trusted publishing needs an existing crate whose publisher minted the token', async () => {
    const token = await mint();
    const fresh = fs.readFileSync(
      await makeCrate(tmp, {
        name: 'brand-new',
        version: '1.0.0',
        manifest: '[package]\nname = "brand-new"\nversion = "1.0.0"\ndescription = "d"\nlicense = "MIT"\n',
      }),
    );
    const created = await publish(token, frame({ name: 'brand-new', vers: '1.0.0' }, fresh));
    assert.equal(created.status, 403);
    assert.deepEqual(created.body, { errors: [{ detail: NEW_CRATE_REFUSED }] });
    cio.addCrate('brand-new');
    const other = await publish(token, frame({ name: 'brand-new', vers: '1.0.0' }, fresh));
    assert.deepEqual(other.body, { errors: [{ detail: notValidForCrate('brand-new') }] });
    // A long-lived API token may create crates; one of another format is refused with the 2020 advisory text.
    cio.apiTokens.add(`cio${'a'.repeat(32)}`);
    assert.equal(
      (await publish(`cio${'a'.repeat(32)}`, frame({ name: 'brand-new', vers: '1.0.0' }, fresh))).status,
      200,
    );
    assert.equal((await publish('abc', frame({ name: 'brand-new', vers: '1.0.1' }, fresh))).status, 401);
    assert.equal((await publish(undefined, frame({ name: 'brand-new', vers: '1.0.1' }, fresh))).status, 403);
  });

  test('framing, tarball and manifest problems are refused with their texts', async () => {
    const token = await mint();
    const body = frame(fixtureMeta, fixture());
    const cut = await publish(token, body.subarray(0, body.length - 10));
    assert.deepEqual(cut.body, {
      errors: [{ detail: `invalid tarball length for remaining payload: ${fixture().length}` }],
    });
    assert.deepEqual((await publish(token, Buffer.from([1]))).body, {
      errors: [{ detail: 'invalid metadata length' }],
    });
    const wrongVersion = await publish(token, frame({ ...fixtureMeta, vers: '0.2.0' }, fixture()));
    assert.equal(wrongVersion.status, 400);
    assert.deepEqual(wrongVersion.body, {
      errors: [{ detail: 'invalid path found: tp-sample-0.1.0/Cargo.lock' }],
    });
    const notGzip = await publish(token, frame(fixtureMeta, Buffer.from('plain text, not a crate')));
    assert.deepEqual(notGzip.body, {
      errors: [{ detail: 'uploaded tarball is malformed or too large when decompressed' }],
    });
    const badSemver = await publish(token, frame({ ...fixtureMeta, vers: '1.0' }, fixture()));
    assert.deepEqual(badSemver.body, { errors: [{ detail: '"1.0" is an invalid semver version' }] });
  });

  test('a crate without description and license is refused', async () => {
    cio.addCrate('bare');
    cio.configs.push({ ...defaultConfig(), crate: 'bare' });
    const bare = fs.readFileSync(
      await makeCrate(tmp, {
        name: 'bare',
        version: '0.1.0',
        manifest: '[package]\nname = "bare"\nversion = "0.1.0"\n',
      }),
    );
    const res = await publish(await mint(), frame({ name: 'bare', vers: '0.1.0' }, bare));
    assert.equal(res.status, 400);
    assert.match(
      res.body.errors?.[0]?.detail ?? '',
      /^missing or empty metadata fields: description, license\. Please see/,
    );
  });
});
