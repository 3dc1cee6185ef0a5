// The command as users get it: `npm pack` of the project, installed from the tarball alone into an empty prefix
// with an empty cache and no network (everything it runs is bundled), then the installed `trusted-publish` run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { runNpm } from '../fakes/npm.ts';
import { FIXTURES, NODE24, type ProcessRun, ROOT, runProcess } from '../helpers/action.ts';
import { type PackedProject, packProject } from '../helpers/package.ts';
import { tempDir } from '../helpers/temp.ts';

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** Every file under dist/, as paths relative to the repository. */
function distFiles(dir = path.join(ROOT, 'dist')): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? distFiles(path.join(dir, entry.name))
        : [path.relative(ROOT, path.join(dir, entry.name)).replaceAll('\\', '/')],
    );
}

let work: string;
let packed: PackedProject;
let prefix: string;

/** Runs the installed command (npm's bin link) on Node 24, in `cwd`, with none of a CI system's variables. */
function runInstalled(args: string[], cwd: string): Promise<ProcessRun> {
  const windows = process.platform === 'win32';
  const bin = windows
    ? path.join(prefix, 'trusted-publish.cmd')
    : path.join(prefix, 'bin', 'trusted-publish');
  // The bin's `#!/usr/bin/env node` (or the .cmd shim) finds Node 24 first on PATH.
  const PATH = [path.dirname(NODE24), process.env.PATH ?? ''].join(path.delimiter);
  const argv = windows ? ['cmd.exe', '/d', '/s', '/c', bin, ...args] : [bin, ...args];
  return runProcess(argv, {
    cwd,
    env: { PATH, HOME: path.join(work, 'home'), TMPDIR: path.join(work, 'tmp') },
  });
}

before(async () => {
  work = tempDir('tp-package-');
  for (const dir of ['pack', 'prefix', 'home', 'tmp']) fs.mkdirSync(path.join(work, dir));
  prefix = path.join(work, 'prefix');
  packed = await packProject(path.join(work, 'pack'));
});

describe('the npm package (npm pack, installed from the tarball alone)', () => {
  it('packs only what runs: the bundle, README, LICENSE and package.json', () => {
    assert.equal(packed.name, 'trusted-publish');
    assert.equal(packed.version, manifest.version);
    assert.deepEqual(packed.files, [...distFiles(), 'LICENSE', 'README.md', 'package.json'].sort());
    for (const file of packed.files)
      assert.doesNotMatch(file, /^(src|test|scripts|tools|bench)\/|\.ts$/, file);
  });

  it('declares no runtime dependency, is public and names its repository and license', () => {
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies', 'bundleDependencies'])
      assert.equal(manifest[field], undefined, field);
    assert.equal(manifest.private, undefined);
    assert.equal(manifest.license, 'MIT');
    assert.match(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
    assert.equal(manifest.repository.url, 'git+https://github.com/trusted-publish/trusted-publish.git');
    assert.equal(manifest.bin['trusted-publish'], 'dist/cli.js');
    assert.ok(manifest.keywords.includes('trusted-publishing'));
  });

  it('installs offline into an empty prefix, and the installed trusted-publish answers --version and -h', async () => {
    const install = await runNpm(
      ['install', '--global', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', packed.tarball],
      { cwd: work },
    );
    assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
    // Nothing came with it: the package folder alone.
    const modules = path.join(prefix, process.platform === 'win32' ? '' : 'lib', 'node_modules');
    assert.deepEqual(fs.readdirSync(modules), ['trusted-publish']);
    assert.deepEqual(fs.readdirSync(path.join(modules, 'trusted-publish')).sort(), [
      'LICENSE',
      'README.md',
      'dist',
      'package.json',
    ]);

    const version = await runInstalled(['--version'], work);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `${manifest.version}\n`);
    const help = await runInstalled(['-h'], work);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: trusted-publish \[options\]/);
  });

  it('the installed command checks the fixtures with --dry-run', async () => {
    const project = path.join(work, 'project');
    fs.mkdirSync(path.join(project, 'dist'), { recursive: true });
    for (const ecosystem of ['pypi', 'rubygems', 'crates', 'npm']) {
      for (const file of fs.readdirSync(path.join(FIXTURES, ecosystem)).filter((f) => f.includes('.')))
        fs.copyFileSync(path.join(FIXTURES, ecosystem, file), path.join(project, 'dist', file));
    }
    const run = await runInstalled(['--dry-run'], project);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    for (const registry of ['PyPI', 'RubyGems.org', 'crates.io', 'npm'])
      assert.match(run.stdout, new RegExp(`^Dry run for ${registry}: the files and the plan are valid`, 'm'));
    for (const file of ['tp_sample-0.1.0-py3-none-any.whl', 'tp_sample-0.1.0.gem', 'tp-sample-0.1.0.crate'])
      assert.ok(run.stdout.includes(file), file);
    assert.match(run.stdout, /^No file was published\.$/m);
  });
});
