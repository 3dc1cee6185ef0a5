import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
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

const sha256Of = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

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
        // What the index saw: one exchange, both files stored with the bytes sent, each upload with that token.
        assert.equal(pypi.minted.length, 1);
        const [token] = pypi.minted;
        assert.deepEqual(
          pypi.uploads.map((u) => [u.file?.filename, u.status, u.headers.authorization]),
          pypi.uploads.map((u) => [
            u.file?.filename,
            200,
            `Basic ${Buffer.from(`__token__:${token}`).toString('base64')}`,
          ]),
        );
        assert.deepEqual([...pypi.files.keys()].sort(), [
          'tp_sample-0.1.0-py3-none-any.whl',
          'tp_sample-0.1.0.tar.gz',
        ]);
        for (const file of WHEELS) {
          const stored = [...pypi.files.values()].find((f) => f.sha256 === sha256Of(file));
          assert.ok(stored, `${path.basename(file)} stored with its bytes`);
        }
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
          wire: pypi.requests.map((r) => `${r.method} ${r.path}`),
        });
      } finally {
        await pypi.close();
      }
    }
    assert.deepEqual(runs[1], runs[0]);
    assert.equal(runs[0]?.published.length, 2);
  });
});
