import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { actionAgainst, FIXTURES, findLeaks, randomToken, runAction, wasMasked } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

const SDIST = path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz');
const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');

let issuer: Issuer;
let pypi: PyPI;

before(async () => {
  issuer = await startIssuer();
});
after(async () => {
  await issuer.close();
});
beforeEach(async () => {
  await pypi?.close();
  pypi = await startPyPI({ issuer });
});
after(async () => {
  await pypi?.close();
});

// The upload and exchange protocol alone: attestations have their own suite (attestations.test.ts).
const { run, assertNoLeaks } = actionAgainst(
  () => issuer,
  () => pypi,
  () => ({ files: [SDIST, WHEEL], inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false' } }),
);

const tmp = () => tempDir('tp-e2e-');
const SDIST_SHA256 = '259d96330e3fe697c6bc42f6cc18f5538efbb543a45111d6fd5b1cc9b9abb4a1';
/** Publishes a wheel of tp-sample 0.2.0 and returns another build of the same version (other bytes). */
async function publishAnotherBuild(): Promise<string> {
  const first = await makeWheel(tmp(), { name: 'tp-sample', version: '0.2.0', description: 'first' });
  assert.equal((await run({ files: [first] })).code, 0);
  return makeWheel(tmp(), { name: 'tp-sample', version: '0.2.0', description: 'second build' });
}

const sha256Of = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The requests the index saw, as `METHOD path`. */
const requestLine = () => pypi.requests.map((r) => `${r.method} ${r.path}`);

/**
 * The requests but the audience read, which the first exchange's JWT is asked for with while the lookup runs
 * (unused when nothing is to be sent). Every one is a read without credentials.
 */
function requestsButAudience(): string[] {
  for (const request of pypi.requests) {
    if (request.method === 'GET')
      assert.equal(request.authorization, undefined, 'reads carry no credentials');
  }
  return requestLine().filter((line) => line !== 'GET /_/oidc/audience');
}

describe('PyPI end to end (bundled action on Node 24)', () => {
  it('publishes both fixtures with trusted publishing, sdist first, under the PEP 625 sdist name', async () => {
    const result = await run({ inputs: { 'print-hash': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual([...pypi.files.keys()], ['tp_sample-0.1.0.tar.gz', 'tp_sample-0.1.0-py3-none-any.whl']);
    assert.deepEqual(
      pypi.uploads.map((u) => u.status),
      [200, 200],
    );
    assert.equal(pypi.minted.length, 1, 'one exchange for the whole release');
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status, p.registry, p.name, p.version]),
      [
        ['tp-sample-0.1.0.tar.gz', 'uploaded', 'pypi', 'tp-sample', '0.1.0'],
        ['tp_sample-0.1.0-py3-none-any.whl', 'uploaded', 'pypi', 'tp-sample', '0.1.0'],
      ],
    );
    assert.match(result.stdout, /sha256 259d96330e3fe697c6bc42f6cc18f5538efbb543a45111d6fd5b1cc9b9abb4a1/);
    assert.match(
      result.stdout,
      /blake2b-256 a9f6d7ebbbe0da5af9076f6dc84428ad3fd531414a57597cc0c17b4ab9a3491c/,
    );
    assert.match(result.summary, /<table>/);
    assert.match(result.summary, /tp_sample-0.1.0-py3-none-any.whl/);
    const upload = pypi.uploads[0];
    assert.ok(upload?.headers['content-length'], 'the upload carries a Content-Length, not chunked encoding');
    const basic = upload?.headers.authorization?.slice('Basic '.length) ?? '';
    assert.ok(wasMasked(result, basic), 'the Basic credentials were masked too');
    assertNoLeaks(result);
  });

  it('a file there with other content stops the run before anything is sent without skip-existing', async () => {
    const second = await publishAnotherBuild();
    pypi.requests.length = 0;
    const refused = await run({ files: [second], inputs: { 'skip-existing': 'false' } });
    assert.equal(refused.code, 1);
    assert.deepEqual(requestsButAudience(), ['GET /pypi/tp-sample/0.2.0/json'], 'nothing but the lookup');
    assert.match(
      refused.stdout,
      /tp_sample-0\.2\.0-py3-none-any\.whl: PyPI already holds tp_sample-0\.2\.0-py3-none-any\.whl for tp-sample 0\.2\.0, with other content \(http:\/\/127\.0\.0\.1:\d+\/packages\/tp_sample-0\.2\.0-py3-none-any\.whl\)/,
    );
    assert.match(refused.stdout, /nothing was sent/);
    assert.match(refused.stdout, /Bump the version/);
    assertNoLeaks(refused);
  });

  it('with skip-existing, a file there with other content is skipped as twine skips it: a warning with both digests, nothing sent (action and command)', async () => {
    const second = await publishAnotherBuild();
    const stored = pypi.files.get('tp_sample-0.2.0-py3-none-any.whl')?.sha256;
    const ours = sha256Of(second);
    assert.ok(stored && stored !== ours);
    for (const command of [false, true]) {
      pypi.requests.length = 0;
      const skipped = await run(
        command
          ? { files: [second], commandArgs: ['--repository-url', pypi.uploadUrl, '--skip-existing'] }
          : { files: [second], inputs: { 'skip-existing': 'true', wait: 'true', 'wait-timeout': '5' } },
      );
      assert.equal(skipped.code, 0, skipped.stdout);
      assert.deepEqual(
        requestsButAudience(),
        ['GET /pypi/tp-sample/0.2.0/json'],
        'the lookup alone: no exchange, no upload, and (with wait) no wait for bytes that are not ours',
      );
      assert.deepEqual(
        skipped.published.map((p) => [p.file, p.status]),
        [['tp_sample-0.2.0-py3-none-any.whl', 'skipped']],
      );
      const note = skipped.published[0]?.note ?? '';
      assert.match(note, /with other content/);
      assert.ok(note.includes(`sha256 ours ${ours}`) && note.includes(`PyPI's ${stored}`), note);
      assert.match(
        skipped.stdout,
        new RegExp(
          `::warning::tp_sample-0\\.2\\.0-py3-none-any\\.whl: PyPI already holds .* with other content \\(sha256 ours ${ours}, PyPI's ${stored}\\); skipped under skip-existing`,
        ),
      );
      assertNoLeaks(skipped);
    }
  });

  it("reads the index's answer when the lookup could not tell: 'File already exists' is skipped only under skip-existing", async () => {
    const second = await publishAnotherBuild();

    pypi.faults.lookup.push(503, 503);
    const refused = await run({ files: [second] });
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /File already exists/);
    assert.match(refused.stdout, /Bump the version/);
    assert.equal(refused.published[0]?.status, 'failed');

    pypi.faults.lookup.push(503, 503);
    const skipped = await run({ files: [second], inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.equal(skipped.published[0]?.status, 'skipped');
    assertNoLeaks(skipped);
  });

  it('an identical re-run is reported as skipped and sends nothing: no exchange, no upload', async () => {
    assert.equal((await run()).code, 0);
    pypi.requests.length = 0;
    const minted = pypi.mintRequests;
    const again = await run();
    assert.equal(again.code, 0, again.stdout);
    assert.deepEqual(
      again.published.map((p) => [p.file, p.status]),
      [
        ['tp-sample-0.1.0.tar.gz', 'skipped'],
        ['tp_sample-0.1.0-py3-none-any.whl', 'skipped'],
      ],
    );
    assert.deepEqual(requestsButAudience(), ['GET /pypi/tp-sample/0.1.0/json'], 'one lookup for the release');
    assert.equal(pypi.mintRequests, minted, 'the ID token asked for beside the lookup was never exchanged');
    assert.match(
      again.stdout,
      /Skipped tp-sample-0\.1\.0\.tar\.gz: already on PyPI with the same sha256 \(as tp_sample-0\.1\.0\.tar\.gz\)/,
    );
  });

  it("asks for the exchange's ID token while the lookup is under way, and exchanges that one", async () => {
    const wheel = await makeWheel(tmp(), { name: 'tp-sample', version: '0.5.0' });
    const requestsBefore = issuer.requests.length;
    pypi.requests.length = 0;
    pypi.lookupLatencyMs = 500;
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run({ files: [wheel] });
    } finally {
      pypi.lookupLatencyMs = 0;
    }
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      pypi.uploads.map((u) => u.file?.filename).filter((f) => f?.includes('0.5.0')),
      ['tp_sample-0.5.0-py3-none-any.whl'],
    );
    const lookup = pypi.requests.find((r) => r.path === '/pypi/tp-sample/0.5.0/json');
    const tokens = issuer.requests.slice(requestsBefore).filter((r) => r.audience === 'pypi');
    assert.equal(tokens.length, 1, 'one JWT, the one the exchange sent');
    assert.ok(
      lookup && tokens[0] && tokens[0].at < lookup.at + 500,
      'asked for before the lookup was answered',
    );
    assert.equal(lookup.authorization, undefined, 'the lookup carries no credentials');
    assertNoLeaks(result);
  });

  it('a re-run after a job died half-way sends only the missing files and reports the rest as skipped', async () => {
    const dir = tmp();
    const wheels = [];
    for (const pyTag of ['cp310', 'cp311', 'cp312', 'cp313', 'cp314', 'cp315']) {
      wheels.push(await makeWheel(dir, { name: 'tp-sample', version: '0.3.0', pyTag }));
    }
    assert.equal((await run({ files: wheels.slice(0, 4) })).code, 0);
    pypi.requests.length = 0;
    pypi.uploads.length = 0;
    const rerun = await run({ files: wheels, inputs: { 'skip-existing': 'true' } });
    assert.equal(rerun.code, 0, rerun.stdout);
    assert.deepEqual(
      rerun.published.map((p) => p.status),
      ['skipped', 'skipped', 'skipped', 'skipped', 'uploaded', 'uploaded'],
    );
    assert.deepEqual(
      pypi.uploads.map((u) => u.file?.filename).sort(),
      wheels.slice(4).map((w) => path.basename(w)),
      'only the two missing wheels were sent',
    );
    // The lookup and the audience read beside it, both before the exchange.
    assert.deepEqual(requestLine().slice(0, 2).sort(), [
      'GET /_/oidc/audience',
      'GET /pypi/tp-sample/0.3.0/json',
    ]);
    assert.equal(requestLine()[2], 'POST /_/oidc/mint-token');
    assertNoLeaks(rerun);
  });

  it('a lookup that cannot be made decides nothing: the files are sent and the index answers', async () => {
    // Every attempt at the JSON API loses its connection.
    pypi.faults.lookup.push('reset', 'reset');
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /::warning::Could not look up what PyPI already holds/);
    assert.deepEqual(
      result.published.map((p) => p.status),
      ['uploaded', 'uploaded'],
    );
    assertNoLeaks(result);
  });

  describe('a release whose sdist was uploaded under its pre-PEP 625 name', () => {
    /** The fixture sdist as stored before the rule: its own legacy name, with the given bytes' digest. */
    function legacySdist(sha256: string): void {
      pypi.files.set('tp-sample-0.1.0.tar.gz', {
        project: 'tp-sample',
        version: '0.1.0',
        sha256,
        blake2_256: '0'.repeat(64),
        filetype: 'sdist',
      });
    }

    it('skip-existing skips the same sdist under its legacy name and uploads the wheel', async () => {
      legacySdist(SDIST_SHA256);
      const rerun = await run({ inputs: { 'skip-existing': 'true' } });
      assert.equal(rerun.code, 0, rerun.stdout);
      assert.deepEqual(
        rerun.published.map((p) => [p.file, p.status]),
        [
          ['tp-sample-0.1.0.tar.gz', 'skipped'],
          ['tp_sample-0.1.0-py3-none-any.whl', 'uploaded'],
        ],
      );
      assert.deepEqual(
        pypi.uploads.map((u) => u.file?.filename),
        ['tp_sample-0.1.0-py3-none-any.whl'],
        'the renamed sdist is not sent (PyPI would answer "Only one sdist may be uploaded per release")',
      );
      assertNoLeaks(rerun);
    });

    it('another sdist there is named, and nothing is sent; with skip-existing it is skipped, with a warning', async () => {
      legacySdist('e'.repeat(64));
      pypi.requests.length = 0;
      const refused = await run();
      assert.equal(refused.code, 1);
      assert.match(
        refused.stdout,
        /tp-sample-0\.1\.0\.tar\.gz: PyPI already holds tp-sample-0\.1\.0\.tar\.gz for tp-sample 0\.1\.0, with other content/,
      );
      assert.deepEqual(requestsButAudience(), ['GET /pypi/tp-sample/0.1.0/json']);
      assert.equal(pypi.uploads.length, 0);

      const skipped = await run({ inputs: { 'skip-existing': 'true' } });
      assert.equal(skipped.code, 0, skipped.stdout);
      assert.deepEqual(
        skipped.published.map((p) => [p.file, p.status]),
        [
          ['tp-sample-0.1.0.tar.gz', 'skipped'],
          ['tp_sample-0.1.0-py3-none-any.whl', 'uploaded'],
        ],
      );
      assert.match(
        skipped.published[0]?.note ?? '',
        /already holds tp-sample-0\.1\.0\.tar\.gz with other content/,
      );
      assert.deepEqual(
        pypi.uploads.map((u) => u.file?.filename),
        ['tp_sample-0.1.0-py3-none-any.whl'],
        'the twin sdist is not sent',
      );
    });

    it('without the lookup the index refuses the renamed sdist as a second one, as PyPI does', async () => {
      legacySdist(SDIST_SHA256);
      pypi.faults.lookup.push(503, 503);
      const refused = await run({ files: [SDIST] });
      assert.equal(refused.code, 1);
      assert.match(refused.stdout, /400 Only one sdist may be uploaded per release/);
    });
  });

  it('retries a failing mint with a fresh JWT each time', async () => {
    pypi.faults.mint.push(503, 502);
    const before = issuer.issued.length;
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.equal(pypi.mintRequests, 3);
    const jwts = issuer.issued.slice(before);
    assert.equal(new Set(jwts).size, 3, 'each attempt used its own JWT');
    assertNoLeaks(result);
  });

  it('survives a connection reset mid-upload without uploading twice', async () => {
    pypi.faults.upload.push('reset');
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.equal(pypi.files.size, 2);
    assertNoLeaks(result);
  });

  it('an upload that fails on every attempt prints its connection error once in the log, with the count', async () => {
    pypi.faults.upload.push('reset', 'reset', 'reset', 'reset');
    const result = await run({ files: [WHEEL] });
    assert.equal(result.code, 1);
    // Said on one line, once; Node words the reset as "socket hang up" or "read ECONNRESET" by timing, or
    // as "write EPIPE" when it comes while the body is still being sent.
    const lines = (text: string) => text.split('\n').filter((line) => /ECONNRESET|EPIPE/.test(line));
    assert.equal(lines(result.stdout).length, 1, result.stdout);
    assert.match(
      result.stdout,
      /failed: (ECONNRESET \((socket hang up|read ECONNRESET)\)|EPIPE \(write EPIPE\)) \(tried 4 times\)/,
    );
    assert.match(
      result.stdout,
      /Likely cause: 127\.0\.0\.1:\d+ did not answer in time or dropped the connection/,
    );
    assert.equal(lines(result.summary).length, 1, result.summary);
    assert.equal(pypi.files.size, 0);
    assertNoLeaks(result);
  });

  it('mints a new token before the old one expires during a long release', async () => {
    // Half of a 3 s token's lifetime (2-3 s as the whole-second expiry shows it) is gone after the sdist's 2 s.
    pypi.tokenLifetimeSeconds = 3;
    pypi.uploadLatencyMs = 2_000;
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.ok(pypi.minted.length >= 2, `minted ${pypi.minted.length}`);
    assert.match(result.stdout, /expires soon; exchanging a new one/);
    assertNoLeaks(result);
  });

  it('names the failed claim, the claims and the publisher form values when the owner case differs', async () => {
    pypi.publisher.owner = 'Octo-Org';
    const result = await run();
    assert.equal(result.code, 1);
    assert.equal(pypi.files.size, 0);
    assert.match(result.stdout, /\[invalid-publisher\]/);
    assert.match(result.stdout, /repository_owner: octo-org/);
    assert.match(result.stdout, /Owner: octo-org/);
    assert.match(result.stdout, /Workflow name: release\.yml/);
    assert.match(result.summary, /invalid-publisher/);
    assert.deepEqual(
      result.published.map((p) => p.status),
      ['failed', 'failed'],
    );
    assertNoLeaks(result);
  });

  it('says which project the publisher is not registered for', async () => {
    pypi.publisher.projects = ['another-project'];
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, /not registered for project 'tp-sample'/);
    assert.equal(
      result.published[1]?.error,
      'not attempted: tp-sample-0.1.0.tar.gz, which must go first, failed',
    );
    assertNoLeaks(result);
  });

  it('validates every file before any network call: one bad file sends nothing', async () => {
    const dir = tmp();
    const truncated = path.join(dir, 'tp_sample-0.1.0-py3-none-any.whl');
    fs.writeFileSync(truncated, fs.readFileSync(WHEEL).subarray(0, 600));
    const requestsBefore = issuer.requests.length;
    const result = await run({ files: [SDIST, truncated] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /tp_sample-0.1.0-py3-none-any.whl: cannot be read as an archive/);
    assert.match(result.summary, /Nothing was uploaded/);
    assert.equal(issuer.requests.length, requestsBefore, 'no OIDC token was even requested');
    assert.equal(pypi.mintRequests, 0);
    assert.equal(pypi.uploads.length, 0);
  });

  it('refuses a wheel whose metadata disagrees with its file name', async () => {
    const dir = tmp();
    const built = await makeWheel(dir, { name: 'tp-sample', version: '0.3.0' });
    const renamed = path.join(dir, 'tp_sample-0.4.0-py3-none-any.whl');
    fs.renameSync(built, renamed);
    const result = await run({ files: [renamed] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /metadata says version 0.3.0, but the file name says 0.4.0/);
    assert.equal(pypi.mintRequests, 0);
  });

  it("takes gh-action-pypi-publish's old input spellings, warning once for each (action.yml adds no warning)", async () => {
    const result = await run({
      inputs: {
        'repository-url': '',
        repository_url: pypi.uploadUrl,
        packages_dir: 'dist',
        skip_existing: 'true',
      },
    });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(pypi.files.size, 2);
    for (const [old, name] of [
      ['packages_dir', 'packages-dir'],
      ['repository_url', 'repository-url'],
      ['skip_existing', 'skip-existing'],
    ]) {
      const warnings = result.stdout
        .split('\n')
        .filter((line) => line.startsWith('::warning::') && line.includes(`'${old}'`));
      assert.deepEqual(warnings, [`::warning::Input '${old}' is deprecated: rename it to '${name}'.`], old);
    }
  });

  it('dry-run prints the claims, the form values and the plan; never mints, never uploads', async () => {
    const result = await run({ inputs: { 'dry-run': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /tp-sample-0.1.0.tar.gz {2}tp-sample 0.1.0/);
    assert.match(
      result.stdout,
      /job_workflow_ref: octo-org\/tp-sample\/.github\/workflows\/release.yml@refs\/tags\/v0.1.0/,
    );
    assert.match(result.stdout, /PyPI Project Name: tp-sample/);
    assert.match(result.stdout, /Environment name: release/);
    assert.equal(pypi.mintRequests, 0);
    assert.equal(pypi.uploads.length, 0);
    assertNoLeaks(result);
  });

  it('uses a password input instead of trusted publishing, masked, with a notice', async () => {
    // The emulator only knows tokens it minted: mint one the way the registry would hand out an API token.
    const jwtRes = await fetch(`${issuer.requestUrl}&audience=pypi`, {
      headers: { authorization: `bearer ${issuer.requestToken}` },
    });
    const { value } = (await jwtRes.json()) as { value: string };
    const minted = await fetch(`${pypi.origin}/_/oidc/mint-token`, {
      method: 'POST',
      body: JSON.stringify({ token: value }),
    });
    const { token } = (await minted.json()) as { token: string };
    const requestsBefore = issuer.requests.length;
    const result = await runAction({
      files: [SDIST, WHEEL],
      inputs: { 'repository-url': pypi.uploadUrl, password: token },
    });
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /::notice::Publishing to PyPI with a long-lived token/);
    assert.equal(issuer.requests.length, requestsBefore, 'no OIDC token requested');
    const reads = pypi.requests.filter((r) => r.method === 'GET');
    assert.deepEqual(
      reads.map((r) => [r.path, r.authorization]),
      [['/pypi/tp-sample/0.1.0/json', undefined]],
      'the lookup before the upload is a public read: the password is not sent with it',
    );
    assert.ok(
      pypi.uploads.length === 2 && pypi.uploads.every((u) => u.headers.authorization?.startsWith('Basic ')),
      'the uploads carry it',
    );
    assert.ok(wasMasked(result, token));
    assert.deepEqual(findLeaks(result, [token, value]), []);
  });

  it('explains a job without id-token: write', async () => {
    const result = await runAction({ files: [SDIST, WHEEL], inputs: { 'repository-url': pypi.uploadUrl } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /id-token: write/);
    assert.equal(pypi.mintRequests, 0);
  });

  it('refuses pull_request_target before asking for any token', async () => {
    const result = await run({ eventName: 'pull_request_target' });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /refused for pull_request_target/);
    assert.equal(pypi.mintRequests, 0);
  });

  it('explains a pull request from a fork instead of blaming the permission', async () => {
    const result = await runAction({
      files: [SDIST, WHEEL],
      inputs: { 'repository-url': pypi.uploadUrl },
      eventName: 'pull_request',
      eventPayload: {
        pull_request: {
          head: { repo: { full_name: 'someone/tp-sample', fork: true } },
          base: { repo: { full_name: 'octo-org/tp-sample' } },
        },
      },
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /pull request from a fork/);
  });

  it('refuses package files left in subfolders (download-artifact without merge-multiple) before any request, action and command', async () => {
    const issued = issuer.issued.length;
    const nest = (workspace: string) => {
      const wheels = path.join(workspace, 'dist', 'wheels-linux');
      fs.mkdirSync(wheels);
      fs.copyFileSync(WHEEL, path.join(wheels, path.basename(WHEEL)));
      fs.writeFileSync(path.join(wheels, 'SHA256SUMS'), 'not a package\n');
    };
    for (const command of [false, true]) {
      const refused = await run({
        files: [SDIST],
        prepare: nest,
        ...(command && { commandArgs: ['--repository-url', pypi.uploadUrl] }),
      });
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stdout, /packages-dir 'dist' has package files in subfolders \(wheels-linux\/\)/);
      assert.match(refused.stdout, /wheels-linux\/tp_sample-0\.1\.0-py3-none-any\.whl/);
      assert.match(refused.stdout, /merge-multiple: true/);
      assert.doesNotMatch(refused.stdout, /SHA256SUMS/, 'a file that is no package is not named');
      assert.deepEqual(refused.published, []);
    }
    assert.deepEqual(pypi.requests, [], 'nothing reached the index');
    assert.equal(issuer.issued.length, issued, 'no ID token was asked for');

    const onlyFolders = await run({
      files: [],
      prepare: (w) => fs.mkdirSync(path.join(w, 'dist', 'provenance')),
    });
    assert.equal(onlyFolders.code, 1);
    assert.match(onlyFolders.stdout, /holds no files to publish, only subfolders \(provenance\/\)/);
    assert.match(onlyFolders.stdout, /merge-multiple: true/);
  });

  it('publishes beside a subfolder that holds no package (signatures, checksums)', async () => {
    const result = await run({
      prepare: (workspace) => {
        const side = path.join(workspace, 'dist', 'signatures');
        fs.mkdirSync(side);
        fs.writeFileSync(path.join(side, 'tp_sample-0.1.0-py3-none-any.whl.sigstore'), '{}');
        fs.writeFileSync(path.join(side, 'SHA256SUMS'), 'x\n');
      },
    });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual([...pypi.files.keys()], ['tp_sample-0.1.0.tar.gz', 'tp_sample-0.1.0-py3-none-any.whl']);
  });

  it('refuses plain http off loopback and bad inputs with one clear line each', async () => {
    const http = await run({ inputs: { 'repository-url': 'http://pypi.example.org/legacy/' } });
    assert.match(http.stdout, /must use https:\/\//);
    const registry = await run({ inputs: { registry: 'cheeseshop' } });
    assert.match(registry.stdout, /unknown value 'cheeseshop'/);
    const empty = await run({ files: [] });
    assert.match(empty.stdout, /holds no files to publish/);
    for (const result of [http, registry, empty]) {
      assert.equal(result.code, 1);
      assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.equal(pypi.mintRequests, 0);
  });

  it('publishes to TestPyPI when registry: testpypi points at it', async () => {
    const result = await run({ inputs: { registry: 'testpypi' } });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.published[0]?.registry, 'testpypi');
    assert.match(result.stdout, /TestPyPI/);
  });

  it('leaks nothing with step debug logging and verbose on', async () => {
    const password = randomToken('pypi-');
    const result = await run({ inputs: { verbose: 'true' }, env: { RUNNER_DEBUG: '1' } });
    assert.equal(result.code, 0, result.stdout);
    assertNoLeaks(result, [password]);
  });
});

describe("PyPI's age rule: no new files for a release older than 14 days (bundled action and command)", () => {
  /** tp-sample 0.1.0 with its wheel only, created 15 days ago. */
  async function oldRelease(): Promise<void> {
    assert.equal((await run({ files: [WHEEL] })).code, 0);
    pypi.ageRelease('tp-sample', '0.1.0', 15);
  }

  it('a new file for an old release is diagnosed by name, with a new version as the fix', async () => {
    await oldRelease();
    const result = await run({ files: [SDIST] });
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /refused tp-sample-0\.1\.0\.tar\.gz: 400 Uploading new files to releases older than 14 days is not allowed\./,
    );
    assert.match(result.stdout, /tp-sample 0\.1\.0 was created on .* more than 14 days ago/);
    assert.match(result.stdout, /Fix: Bump the version and rebuild/);
    assert.equal(pypi.files.has('tp_sample-0.1.0.tar.gz'), false);
    assertNoLeaks(result);
  });

  it('the command says the same; a re-run with skip-existing skips the files already there', async () => {
    await oldRelease();
    const oidc = { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken };
    const refused = await runAction({
      files: [SDIST, WHEEL],
      oidc,
      commandArgs: ['--repository-url', pypi.uploadUrl, '--attestations', 'false'],
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /releases older than 14 days is not allowed/);
    assert.match(refused.stdout, /set --skip-existing true: files it holds are skipped, not sent/);
    const rerun = await runAction({
      files: [WHEEL],
      oidc,
      commandArgs: ['--repository-url', pypi.uploadUrl, '--attestations', 'false', '--skip-existing'],
    });
    assert.equal(rerun.code, 0, rerun.stdout);
    assert.deepEqual(
      rerun.published.map((p) => p.status),
      ['skipped'],
    );
  });
});
