import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { actionAgainst, FIXTURES, findLeaks, randomToken, runAction, wasMasked } from '../helpers/action.ts';

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

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tp-e2e-'));

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

  it('skips a file that already exists with other content only under skip-existing', async () => {
    const dir = tmp();
    const first = await makeWheel(dir, { name: 'tp-sample', version: '0.2.0', description: 'first' });
    assert.equal((await run({ files: [first] })).code, 0);
    const secondDir = tmp();
    const second = await makeWheel(secondDir, {
      name: 'tp-sample',
      version: '0.2.0',
      description: 'second build',
    });

    const refused = await run({ files: [second] });
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /File already exists/);
    assert.match(refused.stdout, /Bump the version/);
    assert.equal(refused.published[0]?.status, 'failed');

    const skipped = await run({ files: [second], inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.equal(skipped.published[0]?.status, 'skipped');
    assertNoLeaks(skipped);
  });

  it('treats an identical re-upload as uploaded, as PyPI answers 200', async () => {
    assert.equal((await run()).code, 0);
    const again = await run();
    assert.equal(again.code, 0, again.stdout);
    assert.deepEqual(
      again.published.map((p) => p.status),
      ['uploaded', 'uploaded'],
    );
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

  it('mints a new token before the old one expires during a long release', async () => {
    pypi.tokenLifetimeSeconds = 60;
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
    assert.equal(result.published[1]?.error, 'not attempted: an earlier file of this release failed');
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
