import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { planReleases } from '../../src/flow/plan.ts';
import { readInputs } from '../../src/inputs.ts';
import { FIXTURES } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

const FILES = [
  'pypi/tp-sample-0.1.0.tar.gz',
  'pypi/tp_sample-0.1.0-py3-none-any.whl',
  'rubygems/tp_sample-0.1.0.gem',
  'crates/tp-sample-0.1.0.crate',
  'npm/tp-sample-0.1.0.tgz',
].map((f) => path.join(FIXTURES, f));

function workspaceWith(files: string[]): string {
  const workspace = tempDir('tp-plan-');
  fs.mkdirSync(path.join(workspace, 'dist'));
  for (const file of files) fs.copyFileSync(file, path.join(workspace, 'dist', path.basename(file)));
  return workspace;
}

describe('planReleases with registry: auto', () => {
  it('sends each ecosystem in one folder to its own registry, at its public instance', async () => {
    const inputs = readInputs({ GITHUB_WORKSPACE: workspaceWith(FILES) });
    const releases = await planReleases(inputs);
    const byId = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
    assert.deepEqual(
      releases.map((r) => [r.target.id, r.target.url.href, r.artifacts.map((a) => a.file)]).sort(byId),
      [
        [
          'pypi',
          'https://upload.pypi.org/legacy/',
          ['tp-sample-0.1.0.tar.gz', 'tp_sample-0.1.0-py3-none-any.whl'],
        ],
        ['crates-io', 'https://crates.io/', ['tp-sample-0.1.0.crate']],
        ['npm', 'https://registry.npmjs.org/', ['tp-sample-0.1.0.tgz']],
        ['rubygems', 'https://rubygems.org/', ['tp_sample-0.1.0.gem']],
      ].sort(byId),
    );
  });

  it('picks TestPyPI from repository-url', async () => {
    const inputs = readInputs({
      GITHUB_WORKSPACE: workspaceWith(FILES.slice(0, 2)),
      'INPUT_REPOSITORY-URL': 'https://test.pypi.org/legacy/',
    });
    const [release] = await planReleases(inputs);
    assert.equal(release?.target.id, 'testpypi');
    assert.equal(release?.target.mintUrl.href, 'https://test.pypi.org/_/oidc/mint-token');
  });

  it('refuses inputs that can only name one registry when several are planned', async () => {
    for (const [input, value] of [
      ['INPUT_REPOSITORY-URL', 'https://example.org/'],
      ['INPUT_AUDIENCE', 'pypi'],
      ['INPUT_PASSWORD', 'secret-token-value'],
    ] as const) {
      const inputs = readInputs({ GITHUB_WORKSPACE: workspaceWith(FILES), [input]: value });
      await assert.rejects(planReleases(inputs), /can only apply to one registry/);
    }
  });

  it('refuses a file of another kind when the registry is named', async () => {
    const inputs = readInputs({ GITHUB_WORKSPACE: workspaceWith(FILES.slice(1, 3)), INPUT_REGISTRY: 'pypi' });
    await assert.rejects(planReleases(inputs), /tp_sample-0.1.0.gem is not a file pypi accepts/);
  });
});

describe('planReleases and links in packages-dir', () => {
  it("takes a link to a file in a subfolder whose name begins with '..', refuses one leading out", async () => {
    const [wheel = ''] = FILES.filter((f) => f.endsWith('.whl'));
    const workspace = workspaceWith([]);
    const dist = path.join(workspace, 'dist');
    fs.mkdirSync(path.join(dist, '..cache'));
    fs.copyFileSync(wheel, path.join(dist, '..cache', path.basename(wheel)));
    fs.symlinkSync(path.join(dist, '..cache', path.basename(wheel)), path.join(dist, path.basename(wheel)));
    const [release] = await planReleases(readInputs({ GITHUB_WORKSPACE: workspace }));
    assert.deepEqual(
      release?.artifacts.map((a) => a.file),
      [path.basename(wheel)],
    );

    const outside = tempDir('tp-plan-outside-');
    fs.copyFileSync(FILES[0] ?? '', path.join(outside, 'tp-sample-0.1.0.tar.gz'));
    fs.symlinkSync(path.join(outside, 'tp-sample-0.1.0.tar.gz'), path.join(dist, 'tp-sample-0.1.0.tar.gz'));
    await assert.rejects(
      planReleases(readInputs({ GITHUB_WORKSPACE: workspace })),
      /tp-sample-0\.1\.0\.tar\.gz in packages-dir is a link to .*, outside packages-dir/,
    );
  });
});
