// The command's edges, each found before anything is sent and named as what it is: an ID token that is not
// a JWT or has expired, a repository URL of another scheme, a Node older than `engines`, an --output or
// --dotenv that cannot be written; and a dotenv report that stays within GitLab's limits for any release.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type GitLabIssuer, type Issuer, startGitLabIssuer, startIssuer } from '../fakes/issuer.ts';
import { startPyPI } from '../fakes/pypi.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { CLI, FIXTURES, NODE24, runProcess } from '../helpers/action.ts';
import { assertNothingSecret, runJob } from '../helpers/gitlab-job.ts';

const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');
/** GitLab's dotenv report limits (the lowest plan's): 5 KiB, 20 variables. */
const DOTENV_MAX_BYTES = 5 * 1024;
const DOTENV_MAX_VARIABLES = 20;

let github: Issuer;
let gitlab: GitLabIssuer;
let work: string;

before(async () => {
  github = await startIssuer();
  gitlab = await startGitLabIssuer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-edges-'));
});
after(async () => {
  await Promise.all([github.close(), gitlab.close()]);
  fs.rmSync(work, { recursive: true, force: true });
});

describe('command edges (bundled command)', () => {
  it('an ID token that is not a JWT is named as such, in a dry run and before any request', async () => {
    const pypi = await startPyPI({ issuer: github, gitlab });
    try {
      const run = await runJob({
        files: [WHEEL],
        idTokens: { PYPI_ID_TOKEN: 'not-a-jwt-but-a-secret' },
        args: ['--repository-url', pypi.uploadUrl, '--dry-run'],
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /ERROR: PYPI_ID_TOKEN is not an ID token: a JWT is three base64url parts/);
      assert.doesNotMatch(run.stderr, /undefined/);
      assertNothingSecret(run, ['not-a-jwt-but-a-secret']);
      assert.deepEqual(pypi.minted, []);
    } finally {
      await pypi.close();
    }
  });

  it('an expired ID token is noticed in a dry run', async () => {
    const pypi = await startPyPI({ issuer: github, gitlab });
    try {
      const now = Math.floor(Date.now() / 1000);
      const expired = await gitlab.token('pypi', { iat: now - 600, nbf: now - 600, exp: now - 300 });
      const run = await runJob({
        files: [WHEEL],
        idTokens: { PYPI_ID_TOKEN: expired },
        args: ['--repository-url', pypi.uploadUrl, '--dry-run'],
      });
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, /ERROR: PYPI_ID_TOKEN is an ID token that expired at \d{4}-\d\d-\d\dT/);
      assertNothingSecret(run, [...gitlab.issued]);
    } finally {
      await pypi.close();
    }
  });

  for (const url of ['javascript:alert(1)', 'file:///etc/passwd', 'data:text/plain,x']) {
    const scheme = url.slice(0, url.indexOf(':') + 1);
    it(`a ${scheme} repository URL is refused naming its scheme`, async () => {
      const run = await runJob({ on: 'local', files: [WHEEL], args: ['--repository-url', url, '--dry-run'] });
      assert.equal(run.code, 1, run.stderr);
      assert.ok(run.stderr.includes(`--repository-url must use https:// (got a ${scheme} URL)`), run.stderr);
      assert.doesNotMatch(run.stderr, /got null/);
    });
  }

  it('on a Node older than engines, the command says which Node it needs before anything else', async () => {
    // This Node when it is older than engines allows (a machine on Node 20), else Node 24 told it is 20.
    const old = Number(process.versions.node.split('.')[0]) < 22;
    const preload = path.join(work, 'node-20.mjs');
    fs.writeFileSync(
      preload,
      "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '20.19.0' } });\n",
    );
    const argv = old ? [process.execPath, CLI] : [NODE24, `--import=${preload}`, CLI];
    const run = await runProcess([...argv, '--wait', '--dry-run'], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GITLAB_CI: 'true', CI: 'true' },
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /^ERROR: trusted-publish needs Node 22\.22\.2 or a later 22\.x, 24\.15\.0 or a later 24\.x, or 26 and later; this is Node 20\.\d+\.\d+\./,
    );
    assert.doesNotMatch(run.stderr + run.stdout, /Unexpected error|is not a function/);
  });

  for (const flag of ['--output', '--dotenv'] as const) {
    it(`an ${flag} that cannot be written is found before any request`, async () => {
      const pypi = await startPyPI({ issuer: github, gitlab });
      try {
        const target = flag === '--output' ? path.join(work, 'no-such-folder', 'published.json') : work;
        const run = await runJob({
          files: [WHEEL],
          idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') },
          args: ['--repository-url', pypi.uploadUrl],
          ...(flag === '--output' ? { output: target } : { dotenv: target }),
        });
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, new RegExp(`ERROR: ${flag} \\S+ cannot be written: `));
        assert.deepEqual(pypi.requests, [], 'nothing was sent');
        assert.equal(pypi.files.size, 0);
      } finally {
        await pypi.close();
      }
    });
  }

  it("a release of 30 files keeps the dotenv report within GitLab's limits; --output has every file", async () => {
    const pypi = await startPyPI({ issuer: github, gitlab });
    const dir = fs.mkdtempSync(path.join(work, 'wheels-'));
    try {
      const wheels: string[] = [];
      for (let i = 0; i < 30; i++) {
        wheels.push(await makeWheel(dir, { name: 'tp-sample', version: `0.1.${i}` }));
      }
      const run = await runJob({
        files: wheels,
        idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') },
        args: ['--repository-url', pypi.uploadUrl, '--attestations', 'false'],
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.published.length, 30);
      const lines = run.dotenv.split('\n').filter(Boolean);
      assert.ok(Buffer.byteLength(run.dotenv) <= DOTENV_MAX_BYTES, `${Buffer.byteLength(run.dotenv)} bytes`);
      assert.ok(lines.length <= DOTENV_MAX_VARIABLES, `${lines.length} variables`);
      for (const line of lines) assert.match(line, /^[A-Z_]+=[A-Za-z0-9@/._+~,-]*$/);
      const variables = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      assert.equal(variables.TRUSTED_PUBLISH_UPLOADED, '30');
      assert.equal(variables.TRUSTED_PUBLISH_FAILED, '0');
      assert.equal(variables.TRUSTED_PUBLISH_RELEASE_COUNT, '30');
      assert.equal(variables.TRUSTED_PUBLISH_RELEASES?.split(',').length, 30);
      assertNothingSecret(run, [...pypi.minted, ...gitlab.issued]);
    } finally {
      await pypi.close();
    }
  });
});
