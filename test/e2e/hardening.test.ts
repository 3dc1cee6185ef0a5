// Faults and bad inputs end to end: either everything is published, or a clear list of what was and was
// not; nothing is sent when a file or input is bad; credentials never follow a redirect to another host.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ZipFile } from 'yazl';
import { type Listening, listen, send } from '../fakes/http.ts';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { type ActionRun, FIXTURES, findLeaks, type RunOptions, runAction } from '../helpers/action.ts';
import { runJob } from '../helpers/gitlab-job.ts';
import { tempDir } from '../helpers/temp.ts';

const SDIST = path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz');
const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');

let issuer: Issuer;
let pypi: PyPI;

before(async () => {
  issuer = await startIssuer();
});
beforeEach(async () => {
  await pypi?.close();
  pypi = await startPyPI({ issuer, publisher: { projects: ['tp-sample', 'tp-other'] } });
});
after(async () => {
  await pypi.close();
  await issuer.close();
});

const tmp = () => tempDir('tp-hardening-');

async function run(opts: RunOptions = {}): Promise<ActionRun> {
  const result = await runAction({
    files: [SDIST, WHEEL],
    oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
    ...opts,
    inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false', ...opts.inputs },
  });
  assert.deepEqual(findLeaks(result, [...pypi.minted, ...issuer.issued]), []);
  assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
  return result;
}

/** A wheel whose METADATA is exactly these bytes: for contents no build tool would write. */
async function wheelWithMetadata(name: string, version: string, metadata: Buffer): Promise<string> {
  const file = path.join(tmp(), `${name}-${version}-py3-none-any.whl`);
  const zip = new ZipFile();
  zip.addBuffer(metadata, `${name}-${version}.dist-info/METADATA`);
  zip.addBuffer(Buffer.from('Wheel-Version: 1.0\n'), `${name}-${version}.dist-info/WHEEL`);
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(fs.createWriteStream(file)).on('close', resolve).on('error', reject);
  });
  return file;
}

/** Nothing at all left the machine: no OIDC token, no exchange, no upload. */
function assertNothingSent(result: ActionRun, requestsBefore: number): void {
  assert.equal(result.code, 1);
  assert.equal(issuer.requests.length, requestsBefore, 'no OIDC token requested');
  assert.equal(pypi.mintRequests, 0);
  assert.equal(pypi.uploads.length, 0);
  // Said once in the summary, whether by the failure itself or after it.
  assert.equal(result.summary.match(NOTHING_WENT)?.length, 1, result.summary);
}

const NOTHING_WENT = /No file was published|Nothing was uploaded|Nothing was sent|Nothing went through/g;

describe('bad files are refused before anything is sent', () => {
  it('two sdists for one release', async () => {
    const copy = path.join(tmp(), 'tp_sample-0.1.0.tar.gz');
    fs.copyFileSync(SDIST, copy);
    const before = issuer.requests.length;
    const result = await run({ files: [SDIST, copy, WHEEL] });
    assertNothingSent(result, before);
    assert.match(result.stdout, /Two sdists for tp-sample 0.1.0/);
  });

  it('metadata that is not UTF-8', async () => {
    const wheel = await wheelWithMetadata(
      'tp_sample',
      '0.5.0',
      Buffer.from('Metadata-Version: 2.1\nName: tp-sample\nVersion: 0.5.0\nSummary: caf\xe9\n', 'latin1'),
    );
    const before = issuer.requests.length;
    const result = await run({ files: [wheel] });
    assertNothingSent(result, before);
    assert.match(result.stdout, /METADATA is not valid UTF-8/);
  });

  it('a decompression bomb in place of METADATA is never inflated', async () => {
    const bomb = Buffer.alloc(64 * 1024 * 1024, 0x20);
    const wheel = await wheelWithMetadata('tp_sample', '0.6.0', bomb);
    assert.ok(fs.statSync(wheel).size < 1024 * 1024, 'the bomb is small on disk');
    const before = issuer.requests.length;
    const result = await run({ files: [wheel] });
    assertNothingSent(result, before);
    assert.match(result.stdout, /larger than \d+ bytes once unpacked/);
  });

  it('a truncated sdist beside an intact wheel: refused before any request, none at all', async () => {
    const bytes = fs.readFileSync(SDIST);
    // The first half: the gzip header and PKG-INFO read fine, the gzip trailer is gone.
    const cut = path.join(tmp(), path.basename(SDIST));
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length / 2));
    const before = issuer.requests.length;
    const result = await run({ files: [cut, WHEEL] });
    assertNothingSent(result, before);
    assert.deepEqual(pypi.requests, []);
    assert.match(
      result.stdout,
      /tp-sample-0\.1\.0\.tar\.gz: is damaged: truncated gzip stream\. Nothing was sent\.%0ALikely cause: The file was cut short/,
    );
  });

  it('the command says once that nothing was sent, on a CI system without workflow commands', async () => {
    const bytes = fs.readFileSync(SDIST);
    const cut = path.join(tmp(), path.basename(SDIST));
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length / 2));
    const job = await runJob({
      on: 'local',
      files: [cut, WHEEL],
      args: ['--repository-url', pypi.uploadUrl],
    });
    assert.equal(job.code, 1);
    assert.match(job.stderr, /is damaged: truncated gzip stream\. Nothing was sent\./);
    assert.equal(`${job.stdout}${job.stderr}`.match(NOTHING_WENT)?.length, 1, job.stdout + job.stderr);
    assert.deepEqual(pypi.requests, []);
  });

  it('a wheel with a damaged entry beside an intact sdist: refused before any request, none at all', async () => {
    const bytes = Buffer.from(fs.readFileSync(WHEEL));
    // One byte of RECORD's compressed data: METADATA still reads, only the entry's CRC-32 tells.
    const record = bytes.indexOf('tp_sample-0.1.0.dist-info/RECORD');
    const data = record + bytes.readUInt16LE(record - 4) + bytes.readUInt16LE(record - 2);
    bytes[data + 2] = (bytes[data + 2] ?? 0) ^ 0x55;
    const damaged = path.join(tmp(), path.basename(WHEEL));
    fs.writeFileSync(damaged, bytes);
    const before = issuer.requests.length;
    const result = await run({ files: [SDIST, damaged] });
    assertNothingSent(result, before);
    assert.deepEqual(pypi.requests, []);
    assert.match(result.stdout, /tp_sample-0\.1\.0-py3-none-any\.whl: is damaged: .*Nothing was sent\./);
  });

  it('a file in packages-dir that links outside it', async () => {
    const outside = path.join(tmp(), 'tp_sample-0.1.0-py3-none-any.whl');
    fs.copyFileSync(WHEEL, outside);
    const before = issuer.requests.length;
    const result = await run({
      files: [SDIST],
      prepare: (workspace) => fs.symlinkSync(outside, path.join(workspace, 'dist', path.basename(outside))),
    });
    assertNothingSent(result, before);
    assert.match(result.stdout, /is a link to .*, outside packages-dir/);
  });

  it('a stray file of no known kind, named with the kinds that are', async () => {
    const stray = path.join(tmp(), 'notes.txt');
    fs.writeFileSync(stray, 'release notes');
    const before = issuer.requests.length;
    const result = await run({ files: [SDIST, WHEEL, stray] });
    assertNothingSent(result, before);
    assert.match(result.stdout, /notes.txt is not a package file this action can publish/);
    assert.match(result.stdout, /crates \(.crate\), npm tarballs \(.tgz\)/);
  });
});

describe('faults during the release', () => {
  it('a file the index keeps failing with 5xx: the other project still goes through, and the report says so', async () => {
    const other = await makeWheel(tmp(), { name: 'tp-other', version: '1.0.0' });
    // Every attempt at the first upload (the sdist) fails; the retries are bounded. One upload at a time, so
    // the faults queued for the sdist reach the sdist.
    pypi.faults.upload.push(503, 503, 503, 503);
    const result = await run({ files: [SDIST, WHEEL, other], inputs: { 'max-parallel': '1' } });
    assert.equal(result.code, 1);
    assert.deepEqual(Object.fromEntries(result.published.map((p) => [p.file, p.status])), {
      'tp-sample-0.1.0.tar.gz': 'failed',
      'tp_sample-0.1.0-py3-none-any.whl': 'failed',
      'tp_other-1.0.0-py3-none-any.whl': 'uploaded',
    });
    assert.match(
      result.stdout,
      /PyPI refused tp-sample-0.1.0.tar.gz: 503 Service Unavailable%0ALikely cause: The index had a fault/,
    );
    assert.match(result.stdout, /not attempted: tp-sample-0\.1\.0\.tar\.gz, which must go first, failed/);
    assert.match(result.stdout, /Went through: tp_other-1.0.0-py3-none-any.whl \(uploaded\)/);
    assert.deepEqual([...pypi.files.keys()], ['tp_other-1.0.0-py3-none-any.whl']);
  });

  it('a token request that never answers is cut off by the timeout and retried, with a fresh request', async () => {
    // GitHub's token endpoint hangs once: the request is abandoned after its 20 s limit, not minutes later.
    issuer.faults.push('hang');
    const requests = issuer.requests.length;
    const started = Date.now();
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.ok(issuer.requests.length - requests >= 2, 'the hung request was sent again');
    assert.ok(Date.now() - started < 45_000, 'bounded by the per-request timeout');
    assert.equal(pypi.files.size, 2);
  });

  it("the index's size limit is explained with the fix", async () => {
    await pypi.close();
    pypi = await startPyPI({ issuer, maxFileSize: 1000 });
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, /File too large/);
    assert.match(result.stdout, /over the index's limit/);
    assert.match(result.stdout, /raise the project’s file size limit/);
  });

  it('never sends credentials along a redirect to another host', async () => {
    const seenElsewhere: string[] = [];
    const elsewhere: Listening = await listen((req, res) => {
      seenElsewhere.push(req.headers.authorization ?? '');
      send(res, 200, 'OK');
    });
    const redirecting: Listening = await listen((req, res) => {
      req.resume();
      send(res, 307, '', { location: `${elsewhere.origin}/legacy/` });
    });
    try {
      const result = await runAction({
        files: [SDIST],
        inputs: { 'repository-url': `${redirecting.origin}/legacy/`, password: 'pypi-long-lived-token-1234' },
      });
      assert.equal(result.code, 1);
      assert.match(result.stdout, /redirected to another host/);
      assert.deepEqual(seenElsewhere, []);
      assert.deepEqual(findLeaks(result, ['pypi-long-lived-token-1234']), []);
    } finally {
      await elsewhere.close();
      await redirecting.close();
    }
  });
});
