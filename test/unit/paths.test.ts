import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readInputs, resolvePackagesDir } from '../../src/inputs.ts';
import { type FileSystemView, isInside } from '../../src/paths.ts';
import { tempDir } from '../helpers/temp.ts';

const WORKSPACE = 'D:\\a\\tp-sample\\tp-sample';

/**
 * A Windows machine as the runner's `path.win32` and realpath would see it: folders and files by path (case
 * ignored, as NTFS does), and links (junctions, directory symlinks) from a folder to another.
 */
function windowsFileSystem(entries: { dirs: string[]; files?: string[]; links?: Record<string, string> }) {
  const win = path.win32;
  const key = (p: string) => win.normalize(p).toLowerCase();
  const dirs = new Set(entries.dirs.map(key));
  const files = new Set((entries.files ?? []).map(key));
  const links = Object.entries(entries.links ?? {});
  const view: FileSystemView = {
    path: win,
    realpath(p) {
      let real = win.resolve(p);
      for (const [link, to] of links) {
        const prefix = key(link);
        if (key(real) === prefix || key(real).startsWith(`${prefix}\\`)) {
          real = win.join(to, real.slice(prefix.length));
        }
      }
      if (!dirs.has(key(real)) && !files.has(key(real))) throw new Error(`ENOENT: ${real}`);
      return real;
    },
    isDirectory: (p) => dirs.has(key(p)),
  };
  return view;
}

const runner = windowsFileSystem({
  dirs: [
    WORKSPACE,
    `${WORKSPACE}\\dist`,
    `${WORKSPACE}\\dist\\sub`,
    `${WORKSPACE}\\..cache`,
    'D:\\a\\tp-sample\\outside',
    'C:\\Users\\runneradmin\\dist',
    'C:\\build\\out',
  ],
  files: [`${WORKSPACE}\\dist\\tp_sample-0.1.0-py3-none-any.whl`],
  links: { [`${WORKSPACE}\\out`]: 'C:\\build\\out', [`${WORKSPACE}\\latest`]: `${WORKSPACE}\\dist\\sub` },
});

/** packages-dir as the runner hands it to the action on a Windows runner: env in, resolved folder out. */
const packagesDirOn = (fileSystem: FileSystemView, value: string, workspace = WORKSPACE) =>
  readInputs({ GITHUB_WORKSPACE: workspace, 'INPUT_PACKAGES-DIR': value }, fileSystem).packagesDir;

describe('packages-dir on a Windows runner (path.win32)', () => {
  it('resolves backslashes, forward slashes and a mix of both against the workspace', () => {
    for (const value of ['dist\\sub', 'dist/sub', 'dist/sub\\', '.\\dist\\..\\dist/sub']) {
      assert.equal(packagesDirOn(runner, value), `${WORKSPACE}\\dist\\sub`, value);
    }
    assert.equal(packagesDirOn(runner, ''), `${WORKSPACE}\\dist`);
  });

  it('takes an absolute path inside the workspace, whatever the case of its letters', () => {
    assert.equal(packagesDirOn(runner, `${WORKSPACE}\\dist`), `${WORKSPACE}\\dist`);
    assert.equal(
      packagesDirOn(runner, 'd:\\A\\TP-SAMPLE\\tp-sample\\dist'),
      'd:\\A\\TP-SAMPLE\\tp-sample\\dist',
    );
  });

  it("takes a folder whose name begins with '..'", () => {
    assert.equal(packagesDirOn(runner, '..cache'), `${WORKSPACE}\\..cache`);
  });

  it('refuses ..\\outside and a folder on another drive', () => {
    assert.throws(
      () => packagesDirOn(runner, '..\\outside'),
      /leads outside the workspace \(to D:\\a\\tp-sample\\outside\)/,
    );
    assert.throws(() => packagesDirOn(runner, 'C:\\Users\\runneradmin\\dist'), /leads outside the workspace/);
  });

  it('follows a junction: out of the workspace is refused, within it is taken', () => {
    assert.throws(() => packagesDirOn(runner, 'out'), /leads outside the workspace \(to C:\\build\\out\)/);
    assert.equal(packagesDirOn(runner, 'latest'), `${WORKSPACE}\\dist\\sub`);
  });

  it('says which folder is missing, and refuses a file', () => {
    assert.throws(
      () => packagesDirOn(runner, 'wheels'),
      /packages-dir 'wheels' does not exist \(looked for D:\\a\\tp-sample\\tp-sample\\wheels\)/,
    );
    assert.throws(
      () => packagesDirOn(runner, 'dist\\tp_sample-0.1.0-py3-none-any.whl'),
      /is a file, not a folder/,
    );
  });

  it('judges a workspace that is itself reached through a junction by where it leads', () => {
    const linked = windowsFileSystem({
      dirs: ['E:\\work\\repo', 'E:\\work\\repo\\dist'],
      links: { 'D:\\a\\repo\\repo': 'E:\\work\\repo' },
    });
    assert.equal(packagesDirOn(linked, 'dist', 'D:\\a\\repo\\repo'), 'E:\\work\\repo\\dist');
  });
});

describe('isInside', () => {
  it('is true for the folder itself and below it, false above it or on another Windows drive', () => {
    const cases: [path.PlatformPath, string, string, boolean][] = [
      [path.posix, '/w', '/w', true],
      [path.posix, '/w', '/w/dist/sub', true],
      [path.posix, '/w', '/w/..foo', true],
      [path.posix, '/w', '/w/..', false],
      [path.posix, '/w', '/', false],
      [path.posix, '/w', '/w2', false],
      [path.posix, '/w/dist', '/w/other/x.whl', false],
      [path.win32, 'D:\\a', 'D:\\a\\..foo\\x.whl', true],
      [path.win32, 'D:\\a', 'd:\\A\\dist', true],
      [path.win32, 'D:\\a', 'C:\\a\\dist', false],
      [path.win32, '\\\\server\\share\\w', '\\\\server\\share\\w\\dist', true],
      [path.win32, '\\\\server\\share\\w', '\\\\other\\share\\w\\dist', false],
    ];
    for (const [flavour, base, target, inside] of cases) {
      assert.equal(isInside(flavour, base, target), inside, `${base} ⊇ ${target}`);
    }
    // On another drive relative() answers with an absolute path, not one beginning with '..'.
    assert.equal(path.win32.relative('D:\\a', 'C:\\a\\dist'), 'C:\\a\\dist');
  });
});

describe('packages-dir on this machine (native path)', () => {
  it("takes a folder whose name begins with '..', which a startsWith('..') test took for the parent", () => {
    const ws = tempDir('tp-paths-');
    fs.mkdirSync(path.join(ws, '..dist'));
    assert.equal(resolvePackagesDir('..dist', ws), path.join(fs.realpathSync(ws), '..dist'));
    assert.throws(() => resolvePackagesDir('..', ws), /leads outside the workspace/);
  });
});
