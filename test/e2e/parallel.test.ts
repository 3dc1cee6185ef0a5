// Parallel uploads of the bundled action, as the emulators see them: overlapping requests, a release's first
// file alone, crates after their dependencies are indexed, an exact report when one file fails, one exchange
// for all uploads that find the token expiring, and a 429 that holds back the whole pool.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { defaultConfig, makeCrate, startCratesIo } from '../fakes/crates.ts';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { actionAgainst, FIXTURES, runAction } from '../helpers/action.ts';

const SDIST = path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz');

let issuer: Issuer;
let pypi: PyPI;
let work: string;
let wheels: string[];

before(async () => {
  issuer = await startIssuer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-e2e-parallel-'));
  wheels = [];
  for (const pyTag of ['cp39', 'cp310', 'cp311', 'cp312', 'cp313', 'cp314', 'cp315', 'cp316']) {
    wheels.push(await makeWheel(work, { name: 'tp-sample', version: '0.1.0', pyTag }));
  }
});
beforeEach(async () => {
  await pypi?.close();
  pypi = await startPyPI({ issuer });
  // Long enough that uploads which may overlap do.
  pypi.uploadLatencyMs = 300;
});
after(async () => {
  await pypi?.close();
  await issuer.close();
  fs.rmSync(work, { recursive: true, force: true });
});

const { run, assertNoLeaks } = actionAgainst(
  () => issuer,
  () => pypi,
  () => ({ files: [SDIST, ...wheels], inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false' } }),
);

const byFile = (name: string) => pypi.uploads.find((u) => u.file?.filename === name);

describe('parallel uploads (bundled action on Node 24)', () => {
  it('uploads up to max-parallel files at once, the first file of a new release alone, with one exchange', async () => {
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.equal(pypi.inFlight.max, 4, 'the default of 4 uploads overlapped');
    assert.equal(pypi.minted.length, 1);
    const sdist = byFile('tp_sample-0.1.0.tar.gz');
    assert.ok(sdist);
    for (const upload of pypi.uploads.filter((u) => u !== sdist)) {
      assert.ok(
        upload.startedAt >= sdist.answeredAt,
        `${upload.file?.filename} started after the sdist created the release`,
      );
    }
    // The output keeps the plan's order (sdist first, then by name), whatever order the uploads finished in.
    assert.deepEqual(
      result.published.map((p) => p.file),
      [path.basename(SDIST), ...wheels.map((w) => path.basename(w)).sort()],
    );
    assert.ok(result.published.every((p) => p.status === 'uploaded'));
    assertNoLeaks(result);
  });

  it('max-parallel: 1 sends one file at a time, each after the one before was answered', async () => {
    // A new release of four wheels: after the first, three could go together under the default of 4.
    const release = await Promise.all(
      ['cp39', 'cp310', 'cp311', 'cp312'].map((pyTag) =>
        makeWheel(fs.mkdtempSync(path.join(work, 'one-')), { name: 'tp-sample', version: '0.2.0', pyTag }),
      ),
    );
    const one = await run({ inputs: { 'max-parallel': '1' }, files: release });
    assert.equal(one.code, 0, one.stdout);
    assert.equal(pypi.uploads.length, 4);
    assert.equal(pypi.inFlight.max, 1, 'never two uploads at once');
    pypi.uploads.forEach((upload, i) => {
      const before = pypi.uploads[i - 1];
      if (before) assert.ok(upload.startedAt >= before.answeredAt, `${upload.file?.filename} waited`);
    });
    assert.equal(pypi.minted.length, 1);
    assertNoLeaks(one);
  });

  it("a refused file stops the release's files that have not started; those under way finish; each file is reported once", async () => {
    const refused = path.basename(wheels[2] as string);
    pypi.refusals.set(refused, 'Invalid distribution file.');
    const result = await run({ inputs: { 'max-parallel': '2' } });
    assert.equal(result.code, 1);
    const status = Object.fromEntries(result.published.map((p) => [p.file, p.status]));
    assert.equal(Object.keys(status).length, 1 + wheels.length, 'every file has exactly one entry');
    assert.equal(status[refused], 'failed');
    const uploaded = result.published.filter((p) => p.status === 'uploaded').map((p) => p.file);
    const notAttempted = result.published.filter((p) => p.error?.startsWith('not attempted:'));
    assert.ok(notAttempted.length >= 1, 'later files were not started');
    assert.ok(notAttempted.every((p) => p.error === 'not attempted: another file of this release failed'));
    // What the report calls uploaded is what the index stored, each once.
    const sent = pypi.uploads.map((u) => u.file?.filename);
    assert.equal(new Set(sent).size, sent.length, 'no file sent twice');
    assert.deepEqual(
      uploaded.map((f) => (f.endsWith('.tar.gz') ? 'tp_sample-0.1.0.tar.gz' : f)).sort(),
      [...pypi.files.keys()].sort(),
    );
    assert.match(
      result.stdout,
      /refused tp_sample-0\.1\.0-cp311-none-any\.whl: 400 Invalid distribution file\./,
    );
    assertNoLeaks(result);
  });

  it('exchanges once for all uploads that find the token expiring', async () => {
    // A 3 s token (PyPI gives its expiry in whole seconds: 2-3 s as the action sees it) is due for renewal
    // once half its lifetime is gone, which the 2 s upload of the sdist, going alone, outlasts.
    pypi.tokenLifetimeSeconds = 3;
    pypi.uploadLatencyMs = 2_000;
    const result = await run({ files: [SDIST, ...wheels.slice(0, 4)] });
    assert.equal(result.code, 0, result.stdout);
    // The sdist goes alone on the first token; the four wheels start together and share one fresh token.
    assert.equal(pypi.minted.length, 2, result.stdout);
    const tokens = new Set(pypi.uploads.slice(1).map((u) => u.headers.authorization));
    assert.equal(tokens.size, 1, 'the parallel uploads used the same new token');
    assertNoLeaks(result);
  });

  it('a short-lived token is renewed relative to its lifetime: a 100 s token serves 16 files at max-parallel 4', async () => {
    pypi.tokenLifetimeSeconds = 100;
    pypi.uploadLatencyMs = 100;
    const more = fs.mkdtempSync(path.join(work, 'more-'));
    const extra: string[] = [];
    for (const pyTag of ['cp37', 'cp38', 'cp317', 'cp318', 'cp319', 'cp320', 'cp321'])
      extra.push(await makeWheel(more, { name: 'tp-sample', version: '0.1.0', pyTag }));
    const result = await run({ files: [SDIST, ...wheels, ...extra], inputs: { 'max-parallel': '4' } });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(pypi.uploads.length, 16);
    assert.equal(pypi.inFlight.max, 4);
    assert.equal(pypi.minted.length, 1, 'one exchange: the token has most of its lifetime left');
    assert.doesNotMatch(result.stdout, /expires soon/);
    assertNoLeaks(result);
  });

  it('crates.io: independent crates go together; a dependent waits until its dependency is in the index', async () => {
    const crates = await startCratesIo({ issuer });
    try {
      crates.indexDelayMs = 1_500;
      const manifest = (name: string, extra = '') =>
        `[package]\nname = "${name}"\nversion = "1.0.0"\ndescription = "d"\nlicense = "MIT"\n${extra}`;
      const dir = fs.mkdtempSync(path.join(work, 'crates-'));
      const make = (name: string, extra?: string) =>
        makeCrate(dir, { name, version: '1.0.0', manifest: manifest(name, extra) });
      const files = [
        await make('tp-app', '[dependencies]\ntp-core = "1"\n'),
        await make('tp-core'),
        await make('tp-cli'),
      ];
      crates.configs = ['tp-app', 'tp-core', 'tp-cli'].map((crate) => ({ ...defaultConfig(), crate }));
      for (const name of ['tp-app', 'tp-core', 'tp-cli']) crates.addCrate(name);
      const result = await runAction({
        files,
        oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
        inputs: { 'repository-url': crates.url },
      });
      assert.equal(result.code, 0, result.stdout);
      const published = (name: string) =>
        crates.events.find((e) => e.type === 'publish' && e.detail.startsWith(`${name} `))?.at ?? Number.NaN;
      assert.ok(
        published('tp-app') >= published('tp-core') + 1_400,
        'tp-app waited for tp-core in the index',
      );
      assert.ok(published('tp-cli') < published('tp-app'), 'tp-cli did not wait');
      const polls = crates.reads.filter((r) => r.path === '/index/tp/-c/tp-core');
      assert.ok(polls.length >= 2 && polls.every((r) => r.authorization === undefined));
      assert.equal(crates.minted.length, 1);
    } finally {
      await crates.close();
    }
  });

  it('a 429 with Retry-After holds back every upload, not only the one that met it', async () => {
    // The 429 meets a wheel once the sdist created the release, while another wheel is under way.
    pypi.faultsAfterUploads = 1;
    pypi.faults.upload.push(429);
    pypi.retryAfterSeconds = 2;
    const result = await run({ files: [SDIST, ...wheels.slice(0, 4)], inputs: { 'max-parallel': '2' } });
    assert.equal(result.code, 0, result.stdout);
    const [limited] = pypi.faultedAt;
    assert.ok(limited);
    const later = pypi.uploads.filter((u) => u.startedAt > limited + 50);
    assert.ok(later.length >= 3, 'the retried wheel and the two not yet started');
    for (const upload of later) {
      assert.ok(upload.startedAt >= limited + 1_900, `${upload.file?.filename} waited out the Retry-After`);
    }
    assert.equal(pypi.files.size, 5);
  });
});
