import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import { defaultPublisher, type PrefixDev, startPrefixDev } from '../fakes/prefix.ts';
import { actionAgainst, FIXTURES, randomToken } from '../helpers/action.ts';

const CONDA = path.join(FIXTURES, 'conda/tp-sample-0.1.0-0.conda');
const TAR_BZ2 = path.join(FIXTURES, 'conda/tp-sample-0.1.0-0.tar.bz2');
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

let issuer: Issuer;
let pfx: PrefixDev;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-prefix-e2e-'));

before(async () => {
  issuer = await startIssuer();
});
beforeEach(async () => {
  await pfx?.close();
  pfx = await startPrefixDev({ issuer });
  issuer.claims = defaultClaims();
  issuer.requests.length = 0;
});
after(async () => {
  await pfx?.close();
  await issuer.close();
  fs.rmSync(work, { recursive: true, force: true });
});

const { run, assertNoLeaks } = actionAgainst(
  () => issuer,
  () => pfx,
  () => ({ files: [CONDA, TAR_BZ2], inputs: { 'repository-url': pfx.url, channel: 'tp-channel' } }),
);

const timeline = () => pfx.events.map((e) => `${e.type} ${e.status}`);

describe('prefix.dev end to end (bundled action on Node 24)', () => {
  it('publishes a .conda and a .tar.bz2 with trusted publishing, as rattler-build uploads them', async () => {
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(result.published.map((p) => [p.file, p.status, p.registry, p.name, p.version]).sort(), [
      ['tp-sample-0.1.0-0.conda', 'uploaded', 'prefix', 'tp-sample', '0.1.0'],
      ['tp-sample-0.1.0-0.tar.bz2', 'uploaded', 'prefix', 'tp-sample', '0.1.0'],
    ]);
    // One public read of noarch/repodata.json before the exchange, one exchange, two uploads.
    assert.deepEqual(timeline(), ['lookup 404', 'exchange 200', 'upload 200', 'upload 200']);
    assert.deepEqual(
      pfx.reads.map((r) => [r.path, r.authorization]),
      [['/tp-channel/noarch/repodata.json', undefined]],
    );
    const [token] = pfx.minted;
    for (const upload of pfx.uploads) {
      assert.equal(upload.authorization, `Bearer ${token}`);
      assert.match(upload.contentType ?? '', /^multipart\/form-data; boundary=/);
      assert.deepEqual(upload.parts, ['file'], 'no attestation part for a server that is not prefix.dev');
      assert.equal(upload.partHeaders['x-file-name'], upload.filename);
      assert.equal(upload.partHeaders['x-file-sha256'], upload.sha256);
      assert.equal(upload.partHeaders['content-type'], 'application/octet-stream');
      assert.equal(upload.partHeaders['content-length'], String(upload.size));
    }
    const stored = pfx.channels.get('tp-channel')?.get('noarch');
    assert.equal(stored?.get('tp-sample-0.1.0-0.conda')?.sha256, sha256(CONDA));
    assert.equal(stored?.get('tp-sample-0.1.0-0.tar.bz2')?.sha256, sha256(TAR_BZ2));
    assertNoLeaks(result);
  });

  it('a re-run finds both files in repodata.json with the same sha256: skipped, nothing sent', async () => {
    assert.equal((await run()).code, 0);
    pfx.events.length = 0;
    const again = await run();
    assert.equal(again.code, 0, again.stdout);
    assert.deepEqual(
      again.published.map((p) => p.status),
      ['skipped', 'skipped'],
    );
    assert.deepEqual(timeline(), ['lookup 200'], 'no exchange, no upload');
    assertNoLeaks(again);
  });

  it('a file there with other bytes stops the run before anything is sent; skip-existing skips it with a warning', async () => {
    pfx.store('tp-channel', 'tp-sample-0.1.0-0.conda', Buffer.from('other bytes'));
    const refused = await run();
    assert.equal(refused.code, 1);
    assert.deepEqual(timeline(), ['lookup 200']);
    assert.match(refused.stdout, /tp-sample-0\.1\.0-0\.conda.*with other content/);
    assertNoLeaks(refused);

    pfx.events.length = 0;
    const skipped = await run({ inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    const conda = skipped.published.find((p) => p.file === 'tp-sample-0.1.0-0.conda');
    assert.equal(conda?.status, 'skipped');
    assert.match(conda?.note ?? '', /with other content \(sha256 ours [0-9a-f]{64}, .*'s [0-9a-f]{64}\)/);
    assert.ok(
      skipped.published.filter((p) => p.file !== conda?.file).every((p) => p.status === 'uploaded'),
      'the other file goes up',
    );
    assert.deepEqual(timeline(), ['lookup 200', 'exchange 200', 'upload 200'], 'one upload: the other file');
    assertNoLeaks(skipped);
  });

  it('a damaged package is refused before any request, the OIDC token included', async () => {
    const damaged = path.join(work, 'damaged');
    fs.mkdirSync(damaged, { recursive: true });
    for (const source of [CONDA, TAR_BZ2]) {
      const bytes = fs.readFileSync(source);
      // A flipped byte inside the compressed data: zip's CRC-32 for the .conda, a bzip2 block CRC for the other.
      const middle = Math.floor(bytes.length / 2);
      bytes[middle] = (bytes[middle] ?? 0) ^ 0x55;
      fs.writeFileSync(path.join(damaged, path.basename(source)), bytes);
    }
    const refused = await run({ files: fs.readdirSync(damaged).map((f) => path.join(damaged, f)) });
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /tp-sample-0\.1\.0-0\.conda: is damaged: .*CRC mismatch/);
    assert.match(
      refused.stdout,
      /tp-sample-0\.1\.0-0\.tar\.bz2: is damaged: damaged bzip2 stream \(a CRC does not match the data\)/,
    );
    assert.deepEqual(pfx.events, []);
    assert.equal(issuer.requests.length, 0, 'no ID token was asked for');
  });

  it('waits until repodata.json lists every file with its sha256', async () => {
    pfx.repodataDelayMs = 2500;
    const result = await run({ inputs: { wait: 'true', 'wait-timeout': '30' } });
    assert.equal(result.code, 0, result.stdout);
    const lookups = timeline().filter((e) => e.startsWith('lookup'));
    assert.ok(lookups.length >= 3, `polled until listed: ${lookups.join(', ')}`);
    assert.equal(lookups.at(-1), 'lookup 200');
    assert.ok(
      pfx.reads.every((r) => r.authorization === undefined),
      'reads carry no token',
    );
    assertNoLeaks(result);
  });

  it('a workflow no publisher names: the diagnosis shows the values of prefix.dev’s form', async () => {
    pfx.publishers = [{ ...defaultPublisher(), workflow: 'publish.yml' }];
    const result = await run();
    assert.equal(result.code, 1);
    assert.deepEqual(timeline(), ['lookup 404', 'exchange 401']);
    assert.match(
      result.stdout,
      /refused the token exchange \(HTTP 401\): No matching trusted publisher found/,
    );
    assert.match(result.stdout, /open channel 'tp-channel' → Settings → Trusted Publishers/);
    assert.match(result.stdout, /GitHub Username or Organization Name: octo-org/);
    assert.match(result.stdout, /Repository Name: tp-sample/);
    assert.match(result.stdout, /Name of the Workflow File: release\.yml/);
    assert.doesNotMatch(result.stdout, /environment must be/, 'prefix.dev’s form has no environment');
    assert.equal(pfx.uploads.length, 0);
    assertNoLeaks(result);
  });

  it('an API key in password: no exchange, the key as Bearer, never shown', async () => {
    const key = randomToken('pfx_key_');
    pfx.apiKeys.set(key, 'another-channel');
    const result = await run({ inputs: { password: key } });
    assert.equal(result.code, 1);
    assert.deepEqual(timeline().slice(0, 2), ['lookup 404', 'upload 403']);
    assert.ok(!timeline().some((e) => e.startsWith('exchange')));
    assert.equal(pfx.uploads[0]?.authorization, `Bearer ${key}`);
    assert.match(result.stdout, /No write access to channel 'tp-channel'/);
    assertNoLeaks(result, [key]);
    pfx.apiKeys.set(key, 'tp-channel');
    pfx.events.length = 0;
    const ok = await run({ inputs: { password: key } });
    assert.equal(ok.code, 0, ok.stdout);
    assert.deepEqual(timeline(), ['lookup 404', 'upload 200', 'upload 200']);
    assertNoLeaks(ok, [key]);
  });

  it('without a channel, the run stops before anything is sent', async () => {
    const result = await run({ inputs: { channel: '' } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /Publishing conda packages needs the channel they go to/);
    assert.deepEqual(pfx.events, []);
    assert.equal(issuer.requests.length, 0);
  });

  it('an exchange answered with a page instead of a token fails without sending a file', async () => {
    pfx.mintAnswer = '<html>Sign in</html>';
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, /answered the exchange with something that is not a token/);
    assert.equal(pfx.uploads.length, 0);
    assertNoLeaks(result);
  });
});
