import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import { defaultPublisher, type NpmRegistry, packNpm, startNpm } from '../fakes/npm.ts';
import { actionAgainst, FIXTURES, findLeaks, randomToken, runAction, wasMasked } from '../helpers/action.ts';

const FIXTURE = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');
const SCOPED = '@octo-org/tp-scoped';

let issuer: Issuer;
let registry: NpmRegistry;
let tmp: string;
let scoped: string;
let prerelease: string;

before(async () => {
  issuer = await startIssuer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-npm-e2e-'));
  scoped = await packNpm(tmp, {
    name: SCOPED,
    version: '1.2.0',
    readme: '# tp-scoped\n',
    publishConfig: { access: 'public' },
  });
  prerelease = await packNpm(tmp, { name: 'tp-sample', version: '0.2.0-beta.1' });
});
after(async () => {
  await registry?.close();
  await issuer.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});
beforeEach(async () => {
  await registry?.close();
  issuer.claims = defaultClaims();
  registry = await startNpm({
    issuer,
    publishers: { 'tp-sample': [defaultPublisher()], [SCOPED]: [defaultPublisher()] },
  });
  // Trusted publishing serves packages that exist: each has an older release.
  registry.addPackage('tp-sample', ['0.0.1']);
  registry.addPackage(SCOPED, ['1.0.0']);
});

// The exchange and the publish document alone: provenance has its own suite (npm-provenance.test.ts).
const { run, assertNoLeaks } = actionAgainst(
  () => issuer,
  () => registry,
  () => ({ files: [FIXTURE, scoped], inputs: { 'repository-url': registry.url, attestations: 'false' } }),
);

/** The parts of a publish document the tests read. */
interface PublishDocument {
  _id: string;
  access?: string;
  'dist-tags': Record<string, string>;
  versions: Record<string, { _id: string; readme?: string; dist: Record<string, string> }>;
  _attachments: Record<string, unknown>;
}
const asDocument = (doc: unknown): PublishDocument => doc as PublishDocument;

const sha = (algorithm: string, file: string, encoding: 'hex' | 'base64') =>
  createHash(algorithm).update(fs.readFileSync(file)).digest(encoding);

describe('npm end to end (bundled action on Node 24)', () => {
  it('publishes the fixture and a scoped package, one exchange per package', async () => {
    const jwtsBefore = issuer.issued.length;
    const result = await run({ inputs: { 'print-hash': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status, p.registry, p.name, p.version]),
      [
        ['octo-org-tp-scoped-1.2.0.tgz', 'uploaded', 'npm', SCOPED, '1.2.0'],
        ['tp-sample-0.1.0.tgz', 'uploaded', 'npm', 'tp-sample', '0.1.0'],
      ],
    );
    // The scope's slash is escaped as npm-package-arg does, lowercase.
    // The packages go up in parallel: their exchanges and publishes come in either order.
    assert.deepEqual(registry.exchanges.map((e) => [e.path, e.status]).sort(), [
      ['/-/npm/v1/oidc/token/exchange/package/@octo-org%2ftp-scoped', 201],
      ['/-/npm/v1/oidc/token/exchange/package/tp-sample', 201],
    ]);
    const jwts = issuer.issued.slice(jwtsBefore);
    assert.equal(jwts.length, 2, 'one GitHub token per exchange');
    for (const jwt of jwts) assert.equal(decodeJwt(jwt).aud, 'npm:127.0.0.1');
    assert.equal(registry.minted.length, 2);

    const [scopedDoc, fixtureDoc] = [SCOPED, 'tp-sample'].map((name) =>
      registry.documents.find((d) => d.name === name),
    );
    assert.equal(scopedDoc?.path, '/@octo-org%2ftp-scoped');
    assert.equal(scopedDoc?.headers['content-type'], 'application/json');
    // Each package publishes with a token of its own exchange.
    const bearers = registry.minted.map((token) => `Bearer ${token}`);
    assert.deepEqual(
      [scopedDoc?.headers.authorization, fixtureDoc?.headers.authorization].sort(),
      bearers.sort(),
      'each package its own token',
    );
    const doc = asDocument(scopedDoc?.document);
    assert.equal(doc._id, SCOPED);
    assert.deepEqual(doc['dist-tags'], { latest: '1.2.0' });
    assert.equal(doc.access, 'public', 'from publishConfig.access');
    const version = doc.versions['1.2.0'];
    assert.ok(version);
    assert.equal(version._id, `${SCOPED}@1.2.0`);
    assert.equal(version.readme, '# tp-scoped\n');
    assert.equal(version.dist.integrity, `sha512-${sha('sha512', scoped, 'base64')}`);
    assert.equal(version.dist.shasum, sha('sha1', scoped, 'hex'));
    assert.equal(version.dist.tarball, `${registry.url}/${SCOPED}/-/${SCOPED}-1.2.0.tgz`);
    assert.deepEqual(Object.keys(doc._attachments), [`${SCOPED}-1.2.0.tgz`]);
    assert.deepEqual(registry.tarballs.get(`tp-sample/-/tp-sample-0.1.0.tgz`), fs.readFileSync(FIXTURE));
    const fixture = asDocument(fixtureDoc?.document);
    assert.equal('access' in fixture, false, 'no access asked for: the registry default');
    // npm publish sends this text for a package without a README (@npmcli/package-json's readme step).
    assert.equal(fixture.versions['0.1.0']?.readme, 'ERROR: No README data found!');
    assert.deepEqual(registry.packuments.get('tp-sample')?.['dist-tags'], { latest: '0.1.0' });

    assert.match(result.stdout, new RegExp(`sha256 ${sha('sha256', FIXTURE, 'hex')}`));
    assert.match(result.summary, /tp-sample-0\.1\.0\.tgz/);
    assert.match(result.summary, new RegExp(`href="${registry.url}/tp-sample"`));
    assertNoLeaks(result);
  });

  it('a version published from other bytes stops the run before anything is sent; skip-existing skips it with a warning', async () => {
    registry.addPackage('tp-sample', ['0.0.1', '0.1.0']);
    const refused = await run({ files: [FIXTURE], inputs: { 'skip-existing': 'false' } });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout,
      /tp-sample-0\.1\.0\.tgz: npm .* already holds tp-sample-0\.1\.0\.tgz for tp-sample 0\.1\.0, with other content/,
    );
    assert.match(refused.stdout, /nothing was sent/);
    assertNoLeaks(refused);

    const skipped = await run({ files: [FIXTURE], inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.equal(skipped.published[0]?.status, 'skipped');
    assert.match(
      skipped.published[0]?.note ?? '',
      new RegExp(`with other content \\(sha1 ours ${sha('sha1', FIXTURE, 'hex')}, npm.*'s [0-9a-f]{40}\\)`),
    );
    assert.match(skipped.stdout, /::warning::tp-sample-0\.1\.0\.tgz: .*with other content/);
    assertNoLeaks(skipped);
    assert.equal(registry.documents.length, 0, 'nothing was sent');
  });

  it('an identical re-run is skipped with or without skip-existing, after a public read alone', async () => {
    assert.equal((await run({ files: [FIXTURE] })).code, 0);
    const exchanges = registry.minted.length;
    for (const inputs of [{ 'skip-existing': 'false' }, { 'skip-existing': 'true' }]) {
      const again = await run({ files: [FIXTURE], inputs });
      assert.equal(again.code, 0, again.stdout);
      assert.equal(again.published[0]?.status, 'skipped');
      assert.match(again.stdout, /Skipped tp-sample-0\.1\.0\.tgz: already on npm .* with the same sha256/);
    }
    assert.equal(registry.minted.length, exchanges, 'no exchange');
    assert.equal(registry.documents.length, 1);
  });

  it('reads the registry’s refusal when the packument did not show the version yet', async () => {
    assert.equal((await run({ files: [FIXTURE] })).code, 0);
    // A CDN-cached packument from before the first publish, for the public read and the one with the token.
    registry.faults.packument.push(404, 404);
    const refused = await run({ files: [FIXTURE] });
    assert.equal(refused.code, 1);
    assert.equal(registry.documents.at(-1)?.status, 403);
    assert.match(
      refused.stdout,
      /refused tp-sample-0\.1\.0\.tgz: tp-sample@0\.1\.0 is already published \(You cannot publish over/,
    );

    registry.faults.packument.push(404, 404);
    const skipped = await run({ files: [FIXTURE], inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.equal(skipped.published[0]?.status, 'skipped');
  });

  it('refuses a prerelease without a tag before any network call, and publishes it under an explicit one', async () => {
    const requests = issuer.requests.length;
    const refused = await run({ files: [prerelease] });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout,
      /tp-sample@0\.2\.0-beta\.1 is a prerelease, and without a tag it would become 'latest'/,
    );
    assert.match(refused.stdout, /'tag: next'/);
    assert.match(refused.summary, /Nothing was uploaded/);
    assert.equal(issuer.requests.length, requests, 'no OIDC token was even requested');
    assert.equal(registry.exchanges.length, 0);

    const tagged = await run({ files: [prerelease], inputs: { tag: 'next' } });
    assert.equal(tagged.code, 0, tagged.stdout);
    assert.deepEqual(registry.documents[0]?.document?.['dist-tags'], { next: '0.2.0-beta.1' });
    assert.deepEqual(registry.packuments.get('tp-sample')?.['dist-tags'], {
      latest: '0.0.1',
      next: '0.2.0-beta.1',
    });
  });

  it('will not move latest back to a lower version unless a tag is given', async () => {
    registry.addPackage('tp-sample', ['0.0.1', '0.5.0']);
    const refused = await run({ files: [FIXTURE] });
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /tp-sample@0\.1\.0 would move 'latest' back from 0\.5\.0/);
    assert.equal(registry.documents.length, 0);
    const tagged = await run({ files: [FIXTURE], inputs: { tag: 'v0-1' } });
    assert.equal(tagged.code, 0, tagged.stdout);
  });

  it('names the package and the form values when no trusted publisher matches, and still publishes the others', async () => {
    registry.publishers.set('tp-sample', [{ ...defaultPublisher(), file: 'publish.yml' }]);
    const result = await run();
    assert.equal(result.code, 1);
    assert.deepEqual(
      result.published.map((p) => [p.name, p.status]),
      [
        [SCOPED, 'uploaded'],
        ['tp-sample', 'failed'],
      ],
    );
    assert.match(
      result.stdout,
      /refused the token exchange for 'tp-sample' \(HTTP 404\): OIDC token exchange error - package not found/,
    );
    assert.match(result.stdout, /does not exist yet \(trusted publishing cannot create a package\)/);
    assert.match(
      result.stdout,
      /workflow_ref: octo-org\/tp-sample\/\.github\/workflows\/release\.yml@refs\/tags\/v0\.1\.0/,
    );
    for (const line of [
      // Only the package whose exchange failed.
      'Package: tp-sample',
      'Organization or user: octo-org',
      'Repository: tp-sample',
      'Workflow filename: release.yml',
      'Environment name: release',
    ]) {
      assert.ok(result.stdout.includes(line), line);
    }
    assertNoLeaks(result);
  });

  it('says when a self-hosted runner is the reason npm found no publisher', async () => {
    issuer.claims.runner_environment = 'self-hosted';
    const result = await run({ files: [FIXTURE] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /self-hosted runner, which npm trusted publishing does not accept/);
  });

  it('explains a publisher that may not publish', async () => {
    registry.publishers.set('tp-sample', [{ ...defaultPublisher(), allowPublish: false }]);
    const result = await run({ files: [FIXTURE] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /HTTP 403\): OIDC permission denied for this action/);
    // Its allowed actions leave out `npm publish`: it may only stage (`npm stage publish`).
    assert.match(result.stdout, /allowed actions do not include `npm publish`/);
    assert.match(result.stdout, /Fix: Set 'stage: true'/);
    assertNoLeaks(result);
  });

  it('retries a failing exchange with a fresh JWT in the header each time', async () => {
    registry.faults.exchange.push(503, 502);
    const before = issuer.issued.length;
    const result = await run({ files: [FIXTURE] });
    assert.equal(result.code, 0, result.stdout);
    const jwts = issuer.issued.slice(before);
    assert.equal(jwts.length, 3);
    assert.equal(new Set(jwts).size, 3, 'each attempt used its own JWT');
    assertNoLeaks(result);
  });

  it('survives a dropped connection during the publish without publishing twice', async () => {
    registry.faults.publish.push('reset');
    const result = await run({ files: [FIXTURE] });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(registry.documents.length, 1);
    assertNoLeaks(result);
  });

  it('counts a publish whose answer was lost as published when the registry holds our bytes', async () => {
    registry.lostAnswers = 1;
    const result = await run({ files: [FIXTURE] });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      registry.documents.map((d) => d.status),
      [200, 403],
    );
    assert.match(result.stdout, /published \(confirmed after a retry\)/);
    assert.equal(result.published[0]?.status, 'uploaded');
  });

  it('uses a token given in password instead of trusted publishing', async () => {
    const token = randomToken('npm_');
    registry.addToken(token, '*');
    const requests = issuer.requests.length;
    const result = await runAction({
      files: [FIXTURE, scoped],
      inputs: { 'repository-url': registry.url, password: token, access: 'restricted', tag: 'next' },
    });
    // access: restricted does not apply to unscoped packages: the plan refuses before anything is sent.
    assert.equal(result.code, 1);
    assert.match(result.stdout, /npm cannot restrict access to unscoped packages/);

    registry.reads.length = 0;
    const ok = await runAction({
      files: [FIXTURE, scoped],
      inputs: { 'repository-url': registry.url, token, tag: 'next' },
    });
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /::notice::Publishing to npm \(127\.0\.0\.1:\d+\) with a long-lived token/);
    // The lookup of what the registry holds comes before any upload: both packuments, read with no token.
    assert.deepEqual(
      registry.reads
        .slice(0, 2)
        .map((r) => r.authorization)
        .sort(),
      [undefined, undefined],
      'the lookup before the upload is a public read: the password is not sent with it',
    );
    assert.equal(issuer.requests.length, requests, 'no OIDC token requested');
    assert.equal(registry.exchanges.length, 0);
    assert.deepEqual(
      // The two packages go up in parallel, in either order.
      registry.documents
        .map((d) => [d.headers.authorization, d.document?.['dist-tags']])
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        [`Bearer ${token}`, { next: '0.1.0' }],
        [`Bearer ${token}`, { next: '1.2.0' }],
      ],
    );
    assert.ok(wasMasked(ok, token));
    assert.deepEqual(findLeaks(ok, [token]), []);
  });

  it('explains a token the registry does not know', async () => {
    const result = await runAction({
      files: [FIXTURE],
      inputs: { 'repository-url': registry.url, password: randomToken('npm_') },
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /HTTP 404\): Not found \(npm notice: Access token expired or revoked/);
    assert.match(result.stdout, /granular access token/);
  });

  it('validates every tarball before any network call', async () => {
    const truncated = path.join(tmp, 'tp-sample-0.1.0.tgz');
    fs.writeFileSync(truncated, fs.readFileSync(FIXTURE).subarray(0, 200));
    const requests = issuer.requests.length;
    const result = await run({ files: [scoped, truncated] });
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /tp-sample-0\.1\.0\.tgz: cannot be read as a package tarball \(zlib: unexpected end of file\)/,
    );
    assert.equal(issuer.requests.length, requests);
    assert.equal(registry.exchanges.length + registry.documents.length, 0);
  });

  it('dry-run prints the claims, the npm form values and the plan; never exchanges, never publishes', async () => {
    const result = await run({ inputs: { 'dry-run': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.match(
      result.stdout,
      /^npm at http:\/\/127\.0\.0\.1:\d+\/, token exchange at http:\/\/127\.0\.0\.1:\d+\/-\/npm\/v1\/oidc\/token\/exchange\/package\/:$/m,
    );
    assert.match(result.stdout, /audience 'npm:127\.0\.0\.1'/);
    assert.match(result.stdout, /Workflow filename: release\.yml/);
    assert.equal(registry.exchanges.length + registry.documents.length, 0);
    assertNoLeaks(result);
  });

  it('leaks nothing with step debug logging and verbose on', async () => {
    const result = await run({ inputs: { verbose: 'true' }, env: { RUNNER_DEBUG: '1' } });
    assert.equal(result.code, 0, result.stdout);
    assertNoLeaks(result);
  });
});
