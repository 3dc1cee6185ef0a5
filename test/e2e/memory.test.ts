// The bundled action's peak memory must not grow with the size of what it publishes: files are hashed and
// uploaded from a few reused buffers, never held whole. (npm run bench measures the same up to 1 GiB.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { runAction } from '../helpers/action.ts';

const MiB = 1024 * 1024;

let issuer: Issuer;
let pypi: PyPI;
let dir: string;
let preload: string;

before(async () => {
  issuer = await startIssuer();
  pypi = await startPyPI({ issuer, maxFileSize: 512 * MiB });
  // Uploads are drained unchecked, so the emulator's own speed is not what the test waits on.
  pypi.sink = true;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-memory-'));
  // Loaded into the action's process: its own peak RSS (KiB), written as it exits. No GNU time needed.
  preload = path.join(dir, 'peak-rss.mjs');
  fs.writeFileSync(
    preload,
    [
      "import fs from 'node:fs';",
      "process.on('exit', () =>",
      '  fs.writeFileSync(process.env.TP_PEAK_RSS_FILE, String(process.resourceUsage().maxRSS)));',
    ].join('\n'),
  );
});

after(async () => {
  await pypi.close();
  await issuer.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Publishes one generated wheel of about `bytes` and returns the action's peak RSS in MiB. */
async function peakRssMiB(bytes: number): Promise<number> {
  const wheelDir = fs.mkdtempSync(path.join(dir, 'wheel-'));
  const wheel = await makeWheel(wheelDir, { name: 'tp-sample', version: '0.1.0', padBytes: bytes });
  const report = path.join(wheelDir, 'peak-rss');
  try {
    const run = await runAction({
      // A hard link: a second copy of the file would only cost the test time.
      prepare: (workspace) => fs.linkSync(wheel, path.join(workspace, 'dist', path.basename(wheel))),
      // Without attestations, as twine uploads, and with nothing to sign nothing leaves this machine.
      inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false' },
      oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
      env: { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}`, TP_PEAK_RSS_FILE: report },
    });
    assert.equal(run.code, 0, run.stdout);
    assert.deepEqual(
      run.published.map((p) => p.status),
      ['uploaded'],
    );
    return Number(fs.readFileSync(report, 'utf8')) / 1024;
  } finally {
    fs.rmSync(wheelDir, { recursive: true, force: true });
  }
}

test('peak RSS stays flat from a 10 MiB to a 200 MiB wheel', async (t) => {
  const small = await peakRssMiB(10 * MiB);
  // The lower of two runs: on a busy machine the garbage collector may once leave freed buffers mapped a
  // moment longer (seen once in a full CI run); memory that grows with the file grows in both.
  const large = Math.min(await peakRssMiB(200 * MiB), await peakRssMiB(200 * MiB));
  t.diagnostic(`peak RSS: ${small.toFixed(1)} MiB (10 MiB wheel), ${large.toFixed(1)} MiB (200 MiB wheel)`);
  assert.ok(
    large - small < 25,
    `peak RSS grew by ${(large - small).toFixed(1)} MiB (${small.toFixed(1)} → ${large.toFixed(1)})`,
  );
  assert.ok(large < 150, `peak RSS ${large.toFixed(1)} MiB for a 200 MiB wheel`);
});
