import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/action.ts';

it('npm run sandbox publishes to every emulator and shows the logs as GitHub does', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'scripts/sandbox.ts')],
    { cwd: ROOT, env: { ...process.env, RUNNER_DEBUG: '' }, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
  );
  // A workflow command left raw would be a runner instruction, or a token (::add-mask::), on screen.
  assert.deepEqual(
    stdout.split('\n').filter((line) => line.startsWith('::')),
    [],
  );
  assert.match(stdout, /^Warning: tp-sample-0\.1\.0\.tar\.gz does not follow PEP 625/m);
  // Five registries, then the project's own release.
  assert.equal(stdout.match(/No token or JWT appears in any output\./g)?.length, 6);
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
  for (const name of ['PyPI', 'RubyGems', 'crates\\.io', 'npm', 'NuGet']) {
    assert.match(stdout, new RegExp(`^${name} at ${host}/\\S*, token exchange at ${host}/\\S+:$`, 'm'));
  }
  assert.doesNotMatch(stdout, /\(127\.0\.0\.1:\d+\) \(http/);
});
