import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { type Claims, defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import {
  CANNOT_PUBLISH_OVER,
  defaultPublisher,
  MUST_LOG_IN,
  NO_PERMISSION,
  NOT_FOUND,
  type NpmRegistry,
  OIDC_PERMISSION_DENIED,
  packNpm,
  publisherMatches,
  startNpm,
  TOKEN_EXPIRED_NOTICE,
} from '../fakes/npm.ts';
import { FIXTURES } from '../helpers/action.ts';

const FIXTURE = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');

let issuer: Issuer;
let registry: NpmRegistry;
let tmp: string;

before(async () => {
  issuer = await startIssuer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-npm-fake-'));
});
beforeEach(async () => {
  await registry?.close();
  issuer.claims = defaultClaims();
  registry = await startNpm({ issuer, publishers: { 'tp-sample': [defaultPublisher()] } });
  registry.addPackage('tp-sample', ['0.0.1']);
});
after(async () => {
  await registry.close();
  await issuer.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function jwt(overrides: Claims = {}, audience = 'npm:127.0.0.1'): Promise<string> {
  issuer.claims = { ...defaultClaims(), ...overrides };
  const res = await fetch(`${issuer.requestUrl}&audience=${encodeURIComponent(audience)}`, {
    headers: { authorization: `bearer ${issuer.requestToken}` },
  });
  return ((await res.json()) as { value: string }).value;
}

async function exchange(token: string | undefined, name = 'tp-sample') {
  const res = await fetch(
    `${registry.url}/-/npm/v1/oidc/token/exchange/package/${name.replace('/', '%2f')}`,
    {
      method: 'POST',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    },
  );
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

async function mint(name = 'tp-sample'): Promise<string> {
  const res = await exchange(await jwt(), name);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.token ?? '';
}

const notFound = { message: 'OIDC token exchange error - package not found' };

/** The document `npm publish` would send for this tarball (libnpmpublish's buildMetadata). */
function documentFor(file: string, name: string, version: string) {
  const data = fs.readFileSync(file);
  const attachment = `${name}-${version}.tgz`;
  return {
    _id: name,
    name,
    description: 'x',
    'dist-tags': { latest: version },
    versions: {
      [version]: {
        name,
        version,
        _id: `${name}@${version}`,
        dist: {
          integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`,
          shasum: createHash('sha1').update(data).digest('hex'),
          tarball: `${registry.url}/${name}/-/${attachment}`,
        },
      },
    },
    access: null,
    _attachments: {
      [attachment]: {
        content_type: 'application/octet-stream',
        data: data.toString('base64'),
        length: data.length,
      },
    } as Record<string, Record<string, unknown>>,
  };
}

type Doc = ReturnType<typeof documentFor>;

async function put(doc: unknown, token: string | undefined, name = 'tp-sample') {
  const res = await fetch(`${registry.url}/${name.replace('/', '%2f')}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(doc),
  });
  return {
    status: res.status,
    notice: res.headers.get('npm-notice'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

const fixtureDoc = () => documentFor(FIXTURE, 'tp-sample', '0.1.0');

describe('OIDC token exchange', () => {
  test('a matching publisher gets an hour-long token for its package', async () => {
    const res = await exchange(await jwt());
    assert.equal(res.status, 201);
    assert.equal(res.body.token_type, 'oidc');
    assert.match(res.body.token ?? '', /^npm_[A-Za-z0-9_-]{36}$/);
    assert.ok(Math.abs(Date.parse(res.body.expires ?? '') - Date.now() - 3_600_000) < 10_000);
    assert.deepEqual(registry.exchanges.at(-1), {
      path: '/-/npm/v1/oidc/token/exchange/package/tp-sample',
      name: 'tp-sample',
      status: 201,
    });
  });

  test('a missing or malformed Authorization is a bad request', async () => {
    for (const token of [undefined, 'not-a-jwt']) {
      const res = await exchange(token);
      assert.equal(res.status, 400);
      assert.deepEqual(res.body, { message: 'OIDC token exchange error - bad request' });
    }
  });

  test('a forged, expired, reused or wrongly addressed JWT is unauthorized', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ ...defaultClaims(), aud: 'npm:127.0.0.1', jti: 'forged' })
      .setProtectedHeader({ alg: 'RS256', kid: 'other' })
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    const used = await jwt();
    assert.equal((await exchange(used)).status, 201);
    const tokens = [
      forged,
      await jwt({ iat: now - 900, nbf: now - 900, exp: now - 60 }),
      used,
      await jwt({}, 'npm:registry.npmjs.org'),
      await jwt({}, 'npm:127.0.0.1:4873'),
    ];
    for (const token of tokens) {
      const res = await exchange(token);
      assert.equal(res.status, 401);
      assert.deepEqual(res.body, { message: 'OIDC token exchange error - unauthorized' });
    }
  });

  test('every publisher mismatch, and an unknown package, is the same 404 package not found', async () => {
    const ref = (file: string, repo = 'octo-org/tp-sample') =>
      `${repo}/.github/workflows/${file}@refs/tags/v0.1.0`;
    const mismatches: Claims[] = [
      { workflow_ref: ref('publish.yml') },
      { repository: 'octo-org/other', workflow_ref: ref('release.yml', 'octo-org/other') },
      { repository: 'Octo-Org/tp-sample', workflow_ref: ref('release.yml', 'Octo-Org/tp-sample') },
      { environment: 'staging' },
      { environment: undefined },
      { runner_environment: 'self-hosted' },
    ];
    for (const claims of mismatches)
      assert.deepEqual((await exchange(await jwt(claims))).body, notFound, JSON.stringify(claims));
    const unknown = await exchange(await jwt(), 'never-published');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, notFound);
  });

  test('the workflow file comes from workflow_ref (the caller), not job_workflow_ref', async () => {
    const called = 'octo-org/shared/.github/workflows/publish.yml@refs/heads/main';
    assert.equal((await exchange(await jwt({ job_workflow_ref: called }))).status, 201);
  });

  test('a publisher without an environment matches any job', () => {
    const p = { ...defaultPublisher(), environment: undefined };
    assert.ok(publisherMatches(p, { ...defaultClaims(), environment: 'anything' }));
    assert.ok(publisherMatches(p, { ...defaultClaims(), environment: undefined }));
  });

  test('scoped names arrive escaped with %2f', async () => {
    registry.addPackage('@octo-org/tp-scoped', ['1.0.0']);
    registry.publishers.set('@octo-org/tp-scoped', [defaultPublisher()]);
    assert.equal((await exchange(await jwt(), '@octo-org/tp-scoped')).status, 201);
    assert.equal(
      registry.exchanges.at(-1)?.path,
      '/-/npm/v1/oidc/token/exchange/package/@octo-org%2ftp-scoped',
    );
  });

  test('faults are consumed before normal handling', async () => {
    registry.faults.exchange.push(503);
    const token = await jwt();
    const faulted = await fetch(`${registry.url}/-/npm/v1/oidc/token/exchange/package/tp-sample`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(faulted.status, 503);
    assert.equal(registry.exchanges.length, 0);
    assert.equal((await exchange(token)).status, 201, 'a faulted request did not burn the JWT');
  });
});

describe('packument', () => {
  test('is the registry’s record of a package, 404 Not found when it has none', async () => {
    const res = await fetch(`${registry.url}/tp-sample`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as {
      versions: Record<string, unknown>;
      'dist-tags': Record<string, string>;
    };
    assert.deepEqual(Object.keys(doc.versions), ['0.0.1']);
    assert.deepEqual(doc['dist-tags'], { latest: '0.0.1' });
    const missing = await fetch(`${registry.url}/@octo-org%2fnothing`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: NOT_FOUND });
  });
});

describe('publish', () => {
  test('a document as npm builds it is stored, with its tarball and tag', async () => {
    const token = await mint();
    const res = await put(fixtureDoc(), token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(registry.packuments.get('tp-sample')?.['dist-tags'], { latest: '0.1.0' });
    assert.deepEqual(registry.tarballs.get('tp-sample/-/tp-sample-0.1.0.tgz'), fs.readFileSync(FIXTURE));
    assert.equal(registry.documents.at(-1)?.status, 200);
    assert.equal(registry.documents.at(-1)?.headers.authorization, `Bearer ${token}`);
  });

  test('a version is published once, whatever the bytes', async () => {
    const token = await mint();
    assert.equal((await put(fixtureDoc(), token)).status, 200);
    const again = await put(fixtureDoc(), token);
    assert.equal(again.status, 403);
    assert.deepEqual(again.body, { error: CANNOT_PUBLISH_OVER('0.1.0') });
    assert.equal(
      CANNOT_PUBLISH_OVER('0.1.0'),
      'You cannot publish over the previously published versions: 0.1.0.',
    );
  });

  test('without a token, with an unknown or expired one, or one for another package, it is refused', async () => {
    assert.deepEqual((await put(fixtureDoc(), undefined)).body, { error: MUST_LOG_IN });
    const unknown = await put(fixtureDoc(), 'npm_unknown');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { error: NOT_FOUND });
    assert.equal(unknown.notice, TOKEN_EXPIRED_NOTICE);

    registry.tokenLifetimeSeconds = 0;
    const expired = await put(fixtureDoc(), await mint());
    registry.tokenLifetimeSeconds = 3600;
    assert.equal(expired.status, 404);
    assert.equal(expired.notice, TOKEN_EXPIRED_NOTICE);

    registry.addPackage('other', ['1.0.0']);
    const other = await put({ ...fixtureDoc(), _id: 'other', name: 'other' }, await mint(), 'other');
    assert.equal(other.status, 403);
    assert.deepEqual(other.body, { error: NO_PERMISSION('other') });
    const absent = await put(documentFor(FIXTURE, 'absent', '0.1.0'), await mint(), 'absent');
    assert.equal(absent.status, 404, 'a package a token cannot see looks absent');
  });

  test('a publisher not allowed to publish mints a token the publish refuses', async () => {
    registry.publishers.set('tp-sample', [{ ...defaultPublisher(), allowPublish: false }]);
    const res = await put(fixtureDoc(), await mint());
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { error: OIDC_PERMISSION_DENIED });
  });

  test('a document whose parts disagree is refused with a reason', async () => {
    const token = await mint();
    const attachment = (doc: Doc) => doc._attachments['tp-sample-0.1.0.tgz'] as Record<string, unknown>;
    const dist = (doc: Doc) => doc.versions['0.1.0']?.dist as Record<string, unknown>;
    const broken: [string, (doc: Doc) => unknown, RegExp][] = [
      ['_id', (d) => ({ ...d, _id: 'other' }), /^name must match _id$/],
      ['name', (d) => ({ ...d, name: 'other' }), /^Invalid name: "other"$/],
      ['dist-tags', (d) => ({ ...d, 'dist-tags': 'latest' }), /^dist-tags must be object$/],
      ['empty dist-tags', (d) => ({ ...d, 'dist-tags': {} }), /no dist-tag/],
      [
        'tag to another version',
        (d) => ({ ...d, 'dist-tags': { latest: '9.9.9' } }),
        /^latest version missing: 9\.9\.9$/,
      ],
      [
        'versions key',
        (d) => ({ ...d, versions: { '0.2.0': d.versions['0.1.0'] } }),
        /^Version mismatch: "0\.2\.0" !== "0\.1\.0"$/,
      ],
      [
        'version _id',
        (d) => {
          (d.versions['0.1.0'] as Record<string, unknown>)._id = 'tp-sample';
          return d;
        },
        /has _id "tp-sample", expected "tp-sample@0\.1\.0"/,
      ],
      [
        'shasum',
        (d) => {
          dist(d).shasum = '0'.repeat(40);
          return d;
        },
        /^shasum 0{40} does not match the attachment/,
      ],
      [
        'no shasum',
        (d) => {
          dist(d).shasum = undefined;
          return d;
        },
        /^no shasum in 0\.1\.0 version$/,
      ],
      [
        'integrity',
        (d) => {
          dist(d).integrity = 'sha512-AAAA';
          return d;
        },
        /^integrity sha512-AAAA does not match/,
      ],
      [
        'tarball URL',
        (d) => {
          dist(d).tarball = `${registry.url}/tp-sample/-/other.tgz`;
          return d;
        },
        /dist\.tarball .* does not end with \/tp-sample\/-\/tp-sample-0\.1\.0\.tgz/,
      ],
      [
        'length',
        (d) => {
          attachment(d).length = 1;
          return d;
        },
        /^attachment length 1 does not match its 317 bytes/,
      ],
      [
        'attachment key',
        (d) => ({ ...d, _attachments: { 'tp-sample.tgz': attachment(d) } }),
        /^attachments \["tp-sample\.tgz"\] do not match the version: expected \["tp-sample-0\.1\.0\.tgz"\]/,
      ],
      [
        'content type',
        (d) => {
          attachment(d).content_type = 'application/gzip';
          return d;
        },
        /content_type "application\/gzip"/,
      ],
      [
        'base64',
        (d) => {
          attachment(d).data = '!!!';
          return d;
        },
        /not valid base64/,
      ],
      [
        'restricted unscoped',
        (d) => ({ ...d, access: 'restricted' }),
        /Can't restrict access to unscoped packages/,
      ],
    ];
    for (const [what, change, reason] of broken) {
      const res = await put(change(fixtureDoc()), token);
      assert.equal(res.status, 400, what);
      assert.match(String(res.body.error), reason, what);
    }
    assert.equal(registry.packuments.get('tp-sample')?.versions['0.1.0'], undefined, 'nothing was stored');
  });

  test('the tarball must hold the package the document names', async () => {
    const other = await packNpm(tmp, { name: 'tp-sample', version: '0.3.0' });
    const res = await put(
      {
        ...fixtureDoc(),
        _attachments: documentFor(other, 'tp-sample', '0.1.0')._attachments,
        versions: documentFor(other, 'tp-sample', '0.1.0').versions,
      },
      await mint(),
    );
    assert.equal(res.status, 400);
    assert.match(
      String(res.body.error),
      /the tarball's package\.json is tp-sample@0\.3\.0, not tp-sample@0\.1\.0/,
    );
  });

  test('a user’s token may create a package; the body must be JSON', async () => {
    registry.addToken('npm_user_token', '*');
    const scoped = await packNpm(tmp, { name: '@octo-org/brand-new', version: '1.0.0' });
    const res = await put(
      documentFor(scoped, '@octo-org/brand-new', '1.0.0'),
      'npm_user_token',
      '@octo-org/brand-new',
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(registry.documents.at(-1)?.path, '/@octo-org%2fbrand-new');
    const notJson = await fetch(`${registry.url}/tp-sample`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: 'Bearer npm_user_token' },
      body: '{"name":',
    });
    assert.equal(notJson.status, 400);
  });
});
