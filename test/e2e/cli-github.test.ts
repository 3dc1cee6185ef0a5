import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { startPyPI } from '../fakes/pypi.ts';
import { FIXTURES, findLeaks, runAction, wasMasked } from '../helpers/action.ts';

const WHEELS = fs
  .readdirSync(path.join(FIXTURES, 'pypi'))
  .filter((f) => /\.(whl|tar\.gz)$/.test(f))
  .map((f) => path.join(FIXTURES, 'pypi', f));

let issuer: Issuer;
before(async () => {
  issuer = await startIssuer();
});
after(() => issuer.close());

describe('the command in a GitHub Actions job', () => {
  it('behaves as the action: the same published output, summary and masking', async () => {
    const runs = [];
    for (const command of [false, true]) {
      const pypi = await startPyPI({ issuer });
      try {
        const oidc = { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken };
        const run = await runAction(
          command
            ? { files: WHEELS, oidc, commandArgs: ['--repository-url', pypi.uploadUrl, '--print-hash'] }
            : { files: WHEELS, oidc, inputs: { 'repository-url': pypi.uploadUrl, 'print-hash': 'true' } },
        );
        assert.equal(run.code, 0, run.stdout);
        assert.deepEqual(findLeaks(run, [...pypi.minted, ...issuer.issued]), []);
        for (const token of pypi.minted) assert.ok(wasMasked(run, token));
        // Each emulator has its own port: compare what does not name it.
        runs.push({
          published: run.published.map(({ file, status, registry, name, version }) => ({
            file,
            status,
            registry,
            name,
            version,
          })),
          summary: run.summary.replace(/127\.0\.0\.1:\d+/g, 'HOST').replace(/expires [^)]+/g, ''),
        });
      } finally {
        await pypi.close();
      }
    }
    assert.deepEqual(runs[1], runs[0]);
    assert.equal(runs[0]?.published.length, 2);
  });
});
