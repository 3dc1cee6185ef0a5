import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  type CratesIo,
  defaultConfig,
  makeCrate,
  NEW_CRATE_REFUSED,
  startCratesIo,
  workflowMismatch,
} from '../fakes/crates.ts';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import { actionAgainst, FIXTURES, findLeaks, randomToken, runAction, wasMasked } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

const CRATE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');
const CRATE_SHA256 = createHash('sha256').update(fs.readFileSync(CRATE)).digest('hex');

let issuer: Issuer;
let cio: CratesIo;

before(async () => {
  issuer = await startIssuer();
});
beforeEach(async () => {
  await cio?.close();
  cio = await startCratesIo({ issuer });
  issuer.claims = defaultClaims();
});
after(async () => {
  await cio?.close();
  await issuer.close();
});

const { run, assertNoLeaks } = actionAgainst(
  () => issuer,
  () => cio,
  () => ({ files: [CRATE], inputs: { 'repository-url': cio.url } }),
);

/** The emulator's events as `type status`, in the order they happened. */
const timeline = () => cio.events.map((e) => `${e.type} ${e.status}`);

const tmp = () => tempDir('tp-crates-e2e-');

/** tp-app 1.0.0, which depends on tp-core 1.0.0, and tp-core; both with a publisher for this workflow. */
async function appAndCore(): Promise<string[]> {
  const dir = tmp();
  const manifest = (name: string, extra = '') =>
    `[package]\nname = "${name}"\nversion = "1.0.0"\ndescription = "d"\nlicense = "MIT"\n${extra}`;
  const app = await makeCrate(dir, {
    name: 'tp-app',
    version: '1.0.0',
    manifest: manifest('tp-app', '[dependencies]\ntp-core = "1"\n'),
  });
  const core = await makeCrate(dir, { name: 'tp-core', version: '1.0.0', manifest: manifest('tp-core') });
  cio.configs = ['tp-app', 'tp-core'].map((crate) => ({ ...defaultConfig(), crate }));
  for (const name of ['tp-app', 'tp-core']) cio.addCrate(name);
  return [app, core];
}

describe('crates.io end to end (bundled action on Node 24)', () => {
  it('publishes the fixture with trusted publishing and revokes the token after the upload', async () => {
    const result = await run({ inputs: { 'print-hash': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    // BLAKE2b is computed for crates.io only because print-hash asks for it.
    assert.match(result.stdout, /\n\s+sha256 [0-9a-f]{64}\n\s+blake2b-256 [0-9a-f]{64}\n/);
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status, p.registry, p.name, p.version]),
      [['tp-sample-0.1.0.crate', 'uploaded', 'crates-io', 'tp-sample', '0.1.0']],
    );
    // The lookup before the exchange is a public read: it carries no token.
    assert.deepEqual(timeline(), ['lookup 404', 'exchange 200', 'publish 200', 'revoke 204']);
    const [token] = cio.minted;
    const upload = cio.publishes[0];
    assert.ok(token && upload);
    // The publish carries the bare token (as cargo sends it), the revocation the same token as Bearer.
    assert.equal(upload.headers.authorization, token);
    assert.deepEqual(cio.revocations, [{ authorization: `Bearer ${token}`, status: 204, known: true }]);
    assert.equal(upload.sha256, CRATE_SHA256);
    assert.equal(upload.headers['content-length'], String(upload.length), 'a Content-Length, not chunked');
    assert.equal(upload.headers['content-type'], undefined, 'no Content-Type, as cargo');
    assert.equal(upload.metadata?.name, 'tp-sample');
    assert.equal(cio.crates.get('tp_sample')?.versions.get('0.1.0')?.cksum, CRATE_SHA256);
    assert.match(result.stdout, new RegExp(`sha256 ${CRATE_SHA256}`));
    assert.match(result.stdout, /Revoked the short-lived crates\.io \(127\.0\.0\.1:\d+\) token/);
    assert.match(result.summary, /tp-sample-0\.1\.0\.crate/);
    assertNoLeaks(result);
  });

  it('revokes the token also when the publish failed', async () => {
    cio.configs = [{ ...defaultConfig(), crate: 'another-crate' }];
    cio.addCrate('another-crate');
    const result = await run();
    assert.equal(result.code, 1);
    assert.deepEqual(timeline(), ['lookup 404', 'exchange 200', 'publish 403', 'revoke 204']);
    assert.equal(cio.revocations.length, 1);
    assert.match(result.stdout, /The provided access token is not valid for crate `tp-sample`/);
    assert.match(result.stdout, /open crate 'tp-sample' → Settings → Trusted Publishing/);
    assert.match(result.stdout, /Workflow filename: release\.yml/);
    assert.equal(result.published[0]?.status, 'failed');
    assertNoLeaks(result);
  });

  it('a re-run finds the version there with the same bytes: skipped, with or without skip-existing, nothing sent', async () => {
    assert.equal((await run()).code, 0);
    for (const inputs of [{ 'skip-existing': 'true' }, { 'skip-existing': 'false' }]) {
      cio.events.length = 0;
      const again = await run({ inputs });
      assert.equal(again.code, 0, again.stdout);
      assert.equal(again.published[0]?.status, 'skipped');
      assert.deepEqual(timeline(), ['lookup 200'], 'no exchange, no publish');
      assert.match(
        again.stdout,
        /Skipped tp-sample-0\.1\.0\.crate: already on crates\.io .* with the same sha256/,
      );
      assertNoLeaks(again);
    }
  });

  it('a version there with other bytes stops the run before anything is sent; skip-existing skips it with a warning', async () => {
    assert.equal((await run()).code, 0);
    const stored = cio.crates.get('tp_sample')?.versions.get('0.1.0');
    assert.ok(stored);
    stored.cksum = 'f'.repeat(64);
    cio.events.length = 0;
    const refused = await run({ inputs: { 'skip-existing': 'false' } });
    assert.equal(refused.code, 1);
    assert.deepEqual(timeline(), ['lookup 200']);
    assert.match(
      refused.stdout,
      /tp-sample-0\.1\.0\.crate: crates\.io .* already holds tp-sample-0\.1\.0\.crate for tp-sample 0\.1\.0, with other content/,
    );
    assert.match(refused.stdout, /nothing was sent/);
    assertNoLeaks(refused);

    cio.events.length = 0;
    const skipped = await run({ inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.deepEqual(timeline(), ['lookup 200'], 'no exchange, no publish');
    assert.equal(skipped.published[0]?.status, 'skipped');
    assert.match(
      skipped.published[0]?.note ?? '',
      /with other content \(sha256 ours [0-9a-f]{64}, crates\.io.*'s f{64}\); skipped under skip-existing/,
    );
    assert.match(skipped.stdout, /::warning::tp-sample-0\.1\.0\.crate: .*with other content/);
    assertNoLeaks(skipped);
  });

  it('reads the duplicate answer when the lookup could not tell: skipped under skip-existing, explained without', async () => {
    assert.equal((await run()).code, 0);
    cio.events.length = 0;
    cio.faults.lookup.push(404);
    const skipped = await run({ inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.equal(skipped.published[0]?.status, 'skipped');
    assertNoLeaks(skipped);

    cio.events.length = 0;
    cio.faults.lookup.push(404);
    const refused = await run();
    assert.equal(refused.code, 1);
    assert.deepEqual(timeline(), ['exchange 200', 'publish 400', 'revoke 204']);
    assert.match(
      refused.stdout,
      /refused tp-sample-0\.1\.0\.crate \(HTTP 400\): crate version `0\.1\.0` is already uploaded/,
    );
    assert.match(refused.stdout, /Bump the version in Cargo\.toml/);
    assert.equal(refused.published[0]?.status, 'failed');
    assertNoLeaks(refused);
  });

  it('treats an error answered with HTTP 200 (older servers) as a failure, and as skipped under skip-existing', async () => {
    assert.equal((await run()).code, 0);
    cio.legacyErrors = true;
    cio.faults.lookup.push(404);
    const refused = await run();
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /\(HTTP 200 with errors\): crate version `0\.1\.0` is already uploaded/);
    // A registry that cannot look a version up still answers the duplicate: skip-existing reads that too.
    cio.faults.lookup.push(404);
    const skipped = await run({ inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.equal(skipped.published[0]?.status, 'skipped');
  });

  it('counts a retried publish that meets its own earlier upload as uploaded', async () => {
    assert.equal((await run()).code, 0);
    // The first attempt "went through but its answer was lost": the retry meets the same bytes there. (The
    // lookup before the exchange is made to miss them, as a stale index would.)
    cio.faults.lookup.push(404);
    cio.faults.publish.push(503);
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.published[0]?.status, 'uploaded');
    assert.match(result.stdout, /confirmed after a retry/);
  });

  it('prints crates.io’s reason for a refused exchange, with the claims and the form values', async () => {
    issuer.claims.workflow_ref = 'octo-org/tp-sample/.github/workflows/publish.yml@refs/tags/v0.1.0';
    const result = await run();
    assert.equal(result.code, 1);
    assert.ok(
      result.stdout.includes(workflowMismatch('octo-org/tp-sample', 'publish.yml', ['release.yml'])),
      result.stdout,
    );
    assert.match(result.stdout, /takes it from workflow_ref/);
    assert.match(result.stdout, /workflow_ref: octo-org\/tp-sample\/\.github\/workflows\/publish\.yml/);
    assert.match(result.stdout, /Workflow filename: publish\.yml/);
    assert.match(result.stdout, /Repository owner: octo-org/);
    // crates.io named the mismatch: no list of possible causes.
    assert.doesNotMatch(result.stdout, /Possible causes/);
    assert.deepEqual(timeline(), ['lookup 404', 'exchange 400']);
    assert.equal(cio.revocations.length, 0, 'nothing to revoke');
    assertNoLeaks(result);
  });

  it('lists possible causes when no publisher exists for the repository, a missing crate first', async () => {
    cio.configs = [];
    const fresh = await makeCrate(tmp(), {
      name: 'tp-unknown',
      version: '1.0.0',
      manifest: '[package]\nname = "tp-unknown"\nversion = "1.0.0"\ndescription = "d"\nlicense = "MIT"\n',
    });
    const result = await run({ files: [fresh] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /No Trusted Publishing config found for repository `octo-org\/tp-sample`\./);
    assert.match(
      result.stdout,
      /Possible causes, most likely first:%0A {2}1\. tp-unknown does not exist on crates\.io/,
    );
    assert.match(result.stdout, /crates\.io has no pending publishers/);
    // No config for the repository: crates.io never compared the workflow or the environment.
    assert.doesNotMatch(result.stdout, /The job runs in environment|must name the workflow file/);
  });

  it('explains "Failed to decode JWT" (here: a wrong audience)', async () => {
    const result = await run({ inputs: { audience: 'pypi' } });
    assert.equal(result.code, 1);
    // Annotations carry newlines as %0A.
    assert.match(result.stdout, /refused the token exchange \(HTTP 400\):%0A {2}Failed to decode JWT%0A/);
    assert.match(result.stdout, /Leave the 'audience' input empty/);
  });

  it('says a crate must exist before trusted publishing can publish it', async () => {
    const dir = tmp();
    const fresh = await makeCrate(dir, {
      name: 'tp-fresh',
      version: '1.0.0',
      manifest: '[package]\nname = "tp-fresh"\nversion = "1.0.0"\ndescription = "d"\nlicense = "MIT"\n',
    });
    const result = await run({ files: [fresh] });
    assert.equal(result.code, 1);
    assert.ok(result.stdout.includes(NEW_CRATE_REFUSED));
    assert.match(result.stdout, /Publish the first version by hand/);
    assert.match(result.stdout, /Crate: tp-fresh/);
    assert.deepEqual(timeline(), ['lookup 404', 'exchange 200', 'publish 403', 'revoke 204']);
  });

  it('publishes crates of one release dependencies first, with one exchange and one revocation', async () => {
    const result = await run({ files: await appAndCore() });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      cio.publishes.map((p) => p.metadata?.name),
      ['tp-core', 'tp-app'],
    );
    assert.deepEqual(timeline(), [
      'lookup 404',
      'lookup 404',
      'exchange 200',
      'publish 200',
      'publish 200',
      'revoke 204',
    ]);
    // To a registry other than crates.io, a crates.io dependency names crates.io's index, as cargo does.
    const appMeta = cio.publishes[1]?.metadata as { deps: { registry?: string }[] };
    assert.equal(appMeta.deps[0]?.registry, 'https://github.com/rust-lang/crates.io-index');
  });

  it('a token that expires mid-release is exchanged anew, and both tokens are revoked', async () => {
    // crates.io does not say when a token expires: this one dies after a second, while tp-app waits for its
    // dependency in the index; its publish is refused, a new token exchanged and the publish sent again.
    cio.tokenLifetimeSeconds = 1;
    cio.indexDelayMs = 2_000;
    const result = await run({ files: await appAndCore() });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      timeline().filter((e) => !e.startsWith('lookup')),
      [
        'exchange 200',
        'publish 200',
        'publish 403',
        'exchange 200',
        'publish 200',
        'revoke 204',
        'revoke 204',
      ],
    );
    assert.equal(cio.minted.length, 2);
    assert.deepEqual(
      cio.revocations.map((r) => [r.authorization, r.known]).sort(),
      cio.minted.map((token) => [`Bearer ${token}`, true]).sort(),
      'the replaced token is revoked as well as the last one',
    );
    assert.match(result.stdout, /refused its token as expired; exchanging a new one/);
    assertNoLeaks(result);
  });

  it('warns when the revocation fails, without failing the release', async () => {
    cio.faults.revoke.push(401);
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.match(
      result.stdout,
      /::warning::Could not revoke the crates\.io .* token \(it expires by itself\)/,
    );
    assertNoLeaks(result);
  });

  it('reports the registry’s warnings', async () => {
    cio.warnings.other = ['something to look at'];
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.match(
      result.stdout,
      /::warning::.*accepted tp-sample-0\.1\.0\.crate with a warning: other: something to look at/,
    );
  });

  it('refuses a truncated crate before any network call', async () => {
    const dir = tmp();
    const cut = path.join(dir, 'tp-sample-0.1.0.crate');
    fs.writeFileSync(cut, fs.readFileSync(CRATE).subarray(0, 400));
    const requestsBefore = issuer.requests.length;
    const result = await run({ files: [cut] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /tp-sample-0\.1\.0\.crate: cannot be read as a \.crate archive/);
    assert.equal(issuer.requests.length, requestsBefore, 'no OIDC token was even requested');
    assert.deepEqual(cio.events, []);
  });

  it('dry-run shows crates.io’s form values from workflow_ref; nothing is exchanged', async () => {
    issuer.claims.job_workflow_ref = 'octo-org/shared/.github/workflows/reusable.yml@refs/heads/main';
    const result = await run({ inputs: { 'dry-run': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /Crate: tp-sample/);
    assert.match(result.stdout, /Workflow filename: release\.yml/);
    assert.match(result.stdout, /Environment name \(optional\): release/);
    assert.deepEqual(cio.events, []);
    assertNoLeaks(result);
  });

  it('publishes with a long-lived token given as password, masked, and revokes nothing', async () => {
    // crates.io API tokens are `cio` and 32 alphanumerics.
    const token = randomToken('cio');
    cio.apiTokens.add(token);
    const requestsBefore = issuer.requests.length;
    const result = await runAction({
      files: [CRATE],
      inputs: { 'repository-url': cio.url, password: token },
    });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(cio.publishes[0]?.headers.authorization, token);
    assert.equal(issuer.requests.length, requestsBefore);
    assert.deepEqual(timeline(), ['lookup 404', 'publish 200']);
    assert.ok(wasMasked(result, token));
    assert.deepEqual(findLeaks(result, [token]), []);
  });

  it('leaks nothing with step debug logging and verbose on', async () => {
    const result = await run({ inputs: { verbose: 'true' }, env: { RUNNER_DEBUG: '1' } });
    assert.equal(result.code, 0, result.stdout);
    assertNoLeaks(result);
  });
});
