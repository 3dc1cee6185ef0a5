import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type CratesIo, startCratesIo } from '../fakes/crates.ts';
import {
  defaultClaims,
  type GitLabIssuer,
  type Issuer,
  startGitLabIssuer,
  startIssuer,
} from '../fakes/issuer.ts';
import { defaultPublisher, type NpmRegistry, startNpm } from '../fakes/npm.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { FIXTURES, findLeaks, runAction, wasMasked } from '../helpers/action.ts';
import { assertNothingSecret, runJob } from '../helpers/gitlab-job.ts';

const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');
const TARBALL = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');
const CRATE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');

let issuer: Issuer;
let gitlab: GitLabIssuer;
let pypi: PyPI;
let npm: NpmRegistry;
let cio: CratesIo;

before(async () => {
  issuer = await startIssuer();
  gitlab = await startGitLabIssuer();
});
after(async () => {
  await Promise.all([pypi?.close(), npm?.close(), cio?.close()]);
  await Promise.all([issuer.close(), gitlab.close()]);
});
beforeEach(async () => {
  await Promise.all([pypi?.close(), npm?.close(), cio?.close()]);
  issuer.claims = defaultClaims();
  pypi = await startPyPI({ issuer, gitlab });
  npm = await startNpm({ issuer, publishers: { 'tp-sample': [defaultPublisher()] } });
  npm.addPackage('tp-sample', ['0.0.1']);
  cio = await startCratesIo({ issuer });
});

/** One registry per step (their URLs differ), each run a check with the job's id-token permission. */
const check = (file: string, url: string, inputs: Record<string, string> = {}) =>
  runAction({
    oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
    files: [file],
    inputs: { 'repository-url': url, check: 'true', ...inputs },
  });

const minted = () => [...pypi.minted, ...npm.minted, ...cio.minted];

describe('publisher check (bundled action on Node 24)', () => {
  it('PyPI: exchanges the ID token, shows the claims and form values, uploads nothing, exits 0', async () => {
    const result = await check(WHEEL, pypi.uploadUrl);
    assert.equal(result.code, 0, result.stdout);
    assert.equal(pypi.minted.length, 1, 'exchanged');
    assert.equal(pypi.uploads.length, 0, 'nothing uploaded');
    assert.deepEqual(result.published, [], 'a check lists no file');
    assert.match(result.stdout, /Publisher check for TestPyPI|Publisher check for PyPI/);
    assert.match(
      result.stdout,
      /the token exchange succeeded, so the trusted publisher matches this job; nothing was uploaded/,
    );
    assert.match(result.stdout, /repository: octo-org\/tp-sample/);
    assert.match(result.stdout, /Workflow name: release\.yml|Workflow: release\.yml/);
    assert.match(result.summary, /Publisher check for/);
    assert.deepEqual(findLeaks(result, [...minted(), ...issuer.issued]), []);
    assert.ok(wasMasked(result, pypi.minted[0] ?? ''), 'the exchanged token is masked');
  });

  it('crates.io: the exchanged token is revoked, and nothing is published', async () => {
    const result = await check(CRATE, cio.url);
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      cio.events.map((e) => `${e.type} ${e.status}`),
      ['exchange 200', 'revoke 204'],
    );
    assert.match(result.stdout, /The short-lived token was revoked\./);
    assert.ok(wasMasked(result, cio.minted[0] ?? ''));
  });

  it('npm: a publisher that does not match fails with the usual diagnosis and form values', async () => {
    npm.publishers.set('tp-sample', [{ ...defaultPublisher(), file: 'publish.yml' }]);
    const result = await check(TARBALL, npm.url);
    assert.equal(result.code, 1);
    assert.equal(npm.documents.length, 0);
    assert.match(result.stdout, /refused the token exchange for 'tp-sample' \(HTTP 404\)/);
    assert.match(result.stdout, /Workflow filename: release\.yml/);
    assert.deepEqual(result.published, []);
    assert.deepEqual(findLeaks(result, [...minted(), ...issuer.issued]), []);
  });

  it('refuses check with dry-run, and with a password, before anything is sent', async () => {
    const both = await check(WHEEL, pypi.uploadUrl, { 'dry-run': 'true' });
    assert.equal(both.code, 1);
    assert.match(both.stdout, /Input 'check' and Input 'dry-run' cannot both be true/);
    const password = await check(WHEEL, pypi.uploadUrl, { password: 'pypi-long-lived-token' });
    assert.equal(password.code, 1);
    assert.match(password.stdout, /Input 'check' proves a trusted publisher, and a password was given/);
    assert.equal(pypi.mintRequests, 0);
  });
});

describe('publisher check (bundled command on GitLab)', () => {
  it('--check exchanges PYPI_ID_TOKEN, prints no secret, uploads nothing', async () => {
    const job = await runJob({
      files: [WHEEL],
      args: ['--repository-url', pypi.uploadUrl, '--check'],
      idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') },
    });
    assertNothingSecret(job, [...minted(), ...gitlab.issued]);
    assert.equal(job.code, 0, job.stdout + job.stderr);
    assert.equal(pypi.minted.length, 1);
    assert.equal(pypi.uploads.length, 0);
    assert.deepEqual(job.published, []);
    assert.match(job.stdout, /the token exchange succeeded/);
  });
});
