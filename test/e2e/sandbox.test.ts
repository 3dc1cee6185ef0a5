import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { findLeaks, ROOT } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

interface SandboxReport {
  held: Record<string, string[]>;
  minted: Record<string, string[]>;
  jwts: string[];
  revocations: { status: number; known: boolean }[];
}

it('npm run sandbox publishes to every emulator and shows the logs as GitHub does', async () => {
  const reportFile = path.join(tempDir('tp-sandbox-test-'), 'report.json');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'scripts/sandbox.ts')],
    {
      cwd: ROOT,
      env: { ...process.env, RUNNER_DEBUG: '', TP_SANDBOX_REPORT: reportFile },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 120_000,
    },
  );
  // A workflow command left raw would be a runner instruction, or a token (::add-mask::), on screen.
  assert.deepEqual(
    stdout.split('\n').filter((line) => line.startsWith('::')),
    [],
  );
  assert.match(stdout, /^Warning: tp-sample-0\.1\.0\.tar\.gz does not follow PEP 625/m);

  // What the emulators saw, checked here rather than taken from the sandbox's own lines.
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as SandboxReport;
  const { held, minted } = report;
  assert.deepEqual(held.pypi, ['tp_sample-0.1.0.tar.gz', 'tp_sample-0.1.0-py3-none-any.whl']);
  assert.deepEqual(held.attested?.sort(), [...(held.pypi ?? [])].sort(), 'a verified attestation for each');
  assert.equal(held.rubygems?.length, 1);
  assert.deepEqual(held.crates, ['tp-sample@0.1.0']);
  assert.deepEqual(held.npm, ['tp-sample@0.0.1', 'tp-sample@0.1.0']);
  assert.deepEqual(held.nuget, ['TpSample@0.1.0']);
  assert.deepEqual(
    held.prefix?.sort(),
    ['tp-sample-0.1.0-0.conda', 'tp-sample-0.1.0-0.tar.bz2'],
    'uploaded in parallel, in either order',
  );
  const [self] = held.selfProvenance ?? [];
  assert.ok(self && held.self?.includes(self), `the project's own release, with provenance: ${self}`);
  for (const [registry, tokens] of Object.entries(minted))
    assert.ok(tokens.length >= 1, `${registry}: a token was exchanged`);
  assert.ok(
    report.revocations.some((r) => r.known && r.status < 300),
    'the crates.io token was revoked',
  );
  // Every secret of every run, in every printable form, is absent from what the sandbox printed.
  const secrets = [...Object.values(minted).flat(), ...report.jwts];
  assert.ok(secrets.length >= 7);
  assert.deepEqual(findLeaks({ stdout, stderr: '', files: {} }, secrets), []);

  // Six registries, then the project's own release.
  assert.equal(stdout.match(/No token or JWT appears in any output\./g)?.length, 7);
  assert.match(
    stdout,
    /^===== trusted-publish publishes itself \(release\.yml, npm emulator\): exit code 0 =====$/m,
  );
  assert.match(
    stdout,
    /^Uploaded trusted-publish-\d+\.\d+\.\d+\.tgz: trusted-publish@\S+ published with tag latest$/m,
  );
  assert.match(stdout, /^trusted-publish \S+ is on the npm emulator with verified provenance: true$/m);
  const host = String.raw`http://127\.0\.0\.1:\d+`;
  for (const name of ['PyPI', 'RubyGems', 'crates\\.io', 'npm', 'NuGet', 'prefix\\.dev']) {
    assert.match(stdout, new RegExp(`^${name} at ${host}/\\S*, token exchange at ${host}/\\S+:$`, 'm'));
  }
  assert.doesNotMatch(stdout, /\(127\.0\.0\.1:\d+\) \(http/);
});
