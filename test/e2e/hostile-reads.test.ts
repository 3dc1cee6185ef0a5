// Every read has a total deadline and a byte ceiling: a registry that sends a byte every half second, or
// bytes without end, cannot hold the bundled action or the command past `wait-timeout` (the wait) or past the
// lookup's own deadline (the lookup, which then warns once and decides nothing).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Fault } from '../fakes/http.ts';
import { type GitLabIssuer, type Issuer, startGitLabIssuer, startIssuer } from '../fakes/issuer.ts';
import { startPyPI } from '../fakes/pypi.ts';
import { FIXTURES, findLeaks, runAction } from '../helpers/action.ts';
import { assertNothingSecret, runJob } from '../helpers/gitlab-job.ts';

const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');
/** Well past a 2 s wait, short of the harness's one-minute kill: a run that ends here was not held. */
const HELD_MS = 45_000;
/** Enough of one misbehaviour for every read a run makes. */
const many = (fault: Fault): Fault[] => Array.from({ length: 200 }, () => fault);

let issuer: Issuer;
let gitlab: GitLabIssuer;

before(async () => {
  issuer = await startIssuer();
  gitlab = await startGitLabIssuer();
});
after(async () => {
  await Promise.all([issuer.close(), gitlab.close()]);
});

describe('hostile reads (bundled action and command on Node 24)', () => {
  for (const mode of ['drip', 'endless'] as const) {
    it(`wait: a simple page that answers '${mode}' ends the wait at wait-timeout, saying so`, async () => {
      const pypi = await startPyPI({ issuer });
      try {
        pypi.faults.simple.push(...many(mode));
        const result = await runAction({
          oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
          files: [WHEEL],
          inputs: {
            'repository-url': pypi.uploadUrl,
            attestations: 'false',
            wait: 'true',
            'wait-timeout': '2',
          },
        });
        assert.equal(result.code, 1, result.stdout);
        assert.deepEqual(
          result.published.map((p) => p.status),
          ['uploaded'],
        );
        assert.match(result.stdout, /a version is not installable yet after 2 s\./);
        assert.ok(result.ms < HELD_MS, `the run was held ${Math.round(result.ms / 1000)} s`);
        assert.deepEqual(findLeaks(result, [...pypi.minted, ...issuer.issued]), []);
      } finally {
        await pypi.close();
      }
    });
  }

  it('command on GitLab: a dripping simple page ends the wait at --wait-timeout', async () => {
    const pypi = await startPyPI({ issuer, gitlab });
    try {
      pypi.faults.simple.push(...many('drip'));
      const run = await runJob({
        files: [WHEEL],
        idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') },
        args: ['--repository-url', pypi.uploadUrl, '--wait', '--wait-timeout', '2'],
      });
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stdout + run.stderr, /a version is not installable yet after 2 s\./);
      assert.ok(run.ms < HELD_MS, `the job was held ${Math.round(run.ms / 1000)} s`);
      assertNothingSecret(run, [...pypi.minted, ...gitlab.issued]);
    } finally {
      await pypi.close();
    }
  });

  const lookups = [
    ['drip', 'past its deadline', /no complete answer within 20 s/],
    ['endless', 'refused at its ceiling', /answered with more than 16 MiB/],
  ] as const;
  for (const [mode, how, said] of lookups) {
    it(`lookup: a '${mode}' answer is ${how}, warned once, and every file is still sent`, async () => {
      const pypi = await startPyPI({ issuer });
      try {
        pypi.faults.lookup.push(...many(mode));
        const result = await runAction({
          oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
          files: [WHEEL],
          inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false' },
        });
        assert.equal(result.code, 0, result.stdout);
        const warnings = result.stdout
          .split('\n')
          .filter((l) => l.startsWith('::warning::Could not look up'));
        assert.equal(warnings.length, 1, result.stdout);
        assert.match(warnings[0] ?? '', said);
        assert.deepEqual(
          result.published.map((p) => p.status),
          ['uploaded'],
        );
        assert.ok(result.ms < HELD_MS, `the run was held ${Math.round(result.ms / 1000)} s`);
      } finally {
        await pypi.close();
      }
    });
  }
});
