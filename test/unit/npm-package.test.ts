import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create as createTar } from 'tar';
import {
  checkPackageName,
  chooseDistTag,
  cleanVersion,
  compareSemver,
  distTagProblem,
  escapeName,
  type NpmPackage,
  packFileName,
  parseSemver,
  prereleaseProblem,
  readNpmPackage,
} from '../../src/artifacts/npm-package.ts';
import { type NpmArtifact, npm } from '../../src/registries/npm.ts';
import type { PublishOptions } from '../../src/registries/registry.ts';
import { packNpm } from '../fakes/npm.ts';
import { FIXTURES } from '../helpers/action.ts';

const FIXTURE = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');

// npm's own modules, bundled with the machine's npm 11, are the oracle for names and versions. Asked of npm
// itself: tests may run on the Node 24 binary, which ships without npm beside it.
const npmRoot = path.join(execFileSync('npm', ['root', '--global'], { encoding: 'utf8' }).trim(), 'npm');
const fromNpm = createRequire(path.join(npmRoot, 'package.json'));
const semver = fromNpm('semver') as {
  clean(v: string): string | null;
  compare(a: string, b: string): number;
  validRange(r: string): string | null;
};
const npmPackageJson = fromNpm('@npmcli/package-json') as {
  prepareSteps: string[];
  prepare(dir: string, opts: { steps: string[] }): Promise<{ content: Record<string, { url?: string }> }>;
};
const validateName = fromNpm('validate-npm-package-name') as (name: string) => {
  errors?: string[];
  warnings?: string[];
};

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-npm-package-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A gzipped tarball with this package.json under package/, made without npm (which would fix or refuse it). */
async function tarball(file: string, manifest: unknown, extra: Record<string, string> = {}): Promise<string> {
  const work = fs.mkdtempSync(path.join(tmp, 'src-'));
  fs.mkdirSync(path.join(work, 'package'));
  const json = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  fs.writeFileSync(path.join(work, 'package/package.json'), json);
  for (const [name, content] of Object.entries(extra)) {
    fs.mkdirSync(path.dirname(path.join(work, 'package', name)), { recursive: true });
    fs.writeFileSync(path.join(work, 'package', name), content);
  }
  const out = path.join(fs.mkdtempSync(path.join(tmp, 'out-')), file);
  await createTar({ gzip: true, file: out, cwd: work }, ['package']);
  return out;
}

function copy(bytes: Buffer, name: string): string {
  const file = path.join(fs.mkdtempSync(path.join(tmp, 'copy-')), name);
  fs.writeFileSync(file, bytes);
  return file;
}

describe('readNpmPackage', () => {
  it('reads the fixture made by npm pack', async () => {
    const pkg = await readNpmPackage(FIXTURE);
    assert.equal(pkg.name, 'tp-sample');
    assert.equal(pkg.version, '0.1.0');
    assert.equal(pkg.scoped, false);
    assert.equal(pkg.prerelease, false);
    assert.deepEqual(pkg.warnings, []);
    // As npm 11's own @npmcli/package-json reads the same source (npm publish attaches this when no README).
    const source = path.join(FIXTURES, 'npm/src');
    const steps = npmPackageJson.prepareSteps.filter((s) => s !== 'gitHead');
    const expected = (await npmPackageJson.prepare(source, { steps })).content;
    assert.equal(expected.readme, 'ERROR: No README data found!');
    assert.equal(expected.bugs?.url, 'https://github.com/example-org/tp-sample/issues');
    assert.deepEqual(pkg.manifest, expected);
  });

  it('reads a scoped package packed by the real npm pack, README included', async () => {
    const file = await packNpm(tmp, {
      name: '@octo-org/tp-scoped',
      version: '1.2.0',
      readme: '# tp-scoped\n',
      publishConfig: { access: 'public' },
    });
    assert.equal(path.basename(file), 'octo-org-tp-scoped-1.2.0.tgz');
    const pkg = await readNpmPackage(file);
    assert.equal(pkg.name, '@octo-org/tp-scoped');
    assert.equal(pkg.scoped, true);
    assert.equal(pkg.configAccess, 'public');
    assert.deepEqual([pkg.manifest.readme, pkg.manifest.readmeFilename], ['# tp-scoped\n', 'README.md']);
    assert.equal(packFileName(pkg.name, pkg.version), 'octo-org-tp-scoped-1.2.0.tgz');
    assert.equal(escapeName(pkg.name), '@octo-org%2ftp-scoped');
  });

  it('refuses truncated, corrupt, empty and non-gzip files', async () => {
    const bytes = fs.readFileSync(FIXTURE);
    const flipped = Buffer.from(bytes);
    flipped[150] = (flipped[150] ?? 0) ^ 0xff;
    const cases: [Buffer, RegExp][] = [
      [bytes.subarray(0, bytes.length - 10), /unexpected end of file/],
      [bytes.subarray(0, 100), /unexpected end of file/],
      [flipped, /incorrect data check|invalid/],
      [Buffer.alloc(0), /not gzip-compressed/],
      [Buffer.from('{"name":"tp-sample"}'), /not gzip-compressed/],
    ];
    for (const [content, problem] of cases) {
      await assert.rejects(readNpmPackage(copy(content, 'tp-sample-0.1.0.tgz')), (err: Error) => {
        assert.match(err.message, /^tp-sample-0\.1\.0\.tgz: cannot be read as a package tarball/);
        assert.match(err.message, problem);
        return true;
      });
    }
  });

  it('reads any top folder, as npm strips the first path segment whatever its name', async () => {
    const work = fs.mkdtempSync(path.join(tmp, 'src-'));
    fs.mkdirSync(path.join(work, 'node'));
    fs.writeFileSync(path.join(work, 'node/package.json'), '{"name":"@types/node","version":"1.0.0"}');
    const file = path.join(work, 'node-1.0.0.tgz');
    await createTar({ gzip: true, file, cwd: work }, ['node']);
    assert.equal((await readNpmPackage(file)).name, '@types/node');
    fs.rmSync(path.join(work, 'node/package.json'));
    fs.writeFileSync(path.join(work, 'package.json'), '{"name":"x","version":"1.0.0"}');
    await createTar({ gzip: true, file, cwd: work }, ['node', 'package.json']);
    await assert.rejects(readNpmPackage(file), /has no package\.json in its top folder/);
  });

  it('never refuses a file name: npm takes name and version from package.json; a stale-looking name is a warning', async () => {
    const bytes = fs.readFileSync(FIXTURE);
    const stale = await readNpmPackage(copy(bytes, 'tp-sample-0.2.0.tgz'));
    assert.equal(stale.version, '0.1.0');
    assert.match(
      stale.warnings.join('\n'),
      /says tp-sample@0\.1\.0 \(`npm pack` would name it tp-sample-0\.1\.0\.tgz\)/,
    );
    assert.deepEqual((await readNpmPackage(copy(bytes, 'release.tgz'))).warnings, []);
    assert.deepEqual((await readNpmPackage(copy(bytes, 'tp-sample-v0.1.0.tgz'))).warnings, []);
    const babel = await tarball('core-7.26.0.tgz', { name: '@babel/core', version: '7.26.0' });
    assert.deepEqual((await readNpmPackage(babel)).warnings, []);
    const yarn = await tarball('left-pad-v1.3.0.tgz', { name: 'left-pad', version: '1.3.0' });
    assert.deepEqual((await readNpmPackage(yarn)).warnings, []);
  });

  it('refuses what npm publish refuses: no name or version, bad SemVer, bad names, private packages', async () => {
    const refused: [unknown, RegExp][] = [
      [{ version: '1.0.0' }, /has no "name"/],
      [{ name: 'x' }, /has no "version"/],
      [{ name: 'x', version: '1.0' }, /version "1\.0" is not valid SemVer/],
      [{ name: 'x', version: '01.0.0' }, /not valid SemVer/],
      [{ name: 'node_modules', version: '1.0.0' }, /node_modules is not a valid package name/],
      [{ name: '.hidden', version: '1.0.0' }, /cannot start with a period/],
      [{ name: 'a b', version: '1.0.0' }, /URL-friendly/],
      [{ name: 'x', version: '1.0.0', private: true }, /marks it private/],
      [
        { name: 'x', version: '1.0.0', publishConfig: { access: 'secret' } },
        /publishConfig\.access is "secret"/,
      ],
      [
        { name: 'x', version: '1.0.0', publishConfig: { tag: '2.x' } },
        /publishConfig\.tag: '2\.x' is a valid SemVer range/,
      ],
      ['{"name": "x",', /not valid JSON/],
      ['[1]', /not a JSON object/],
    ];
    for (const [manifest, problem] of refused) {
      await assert.rejects(readNpmPackage(await tarball('pkg.tgz', manifest)), problem);
    }
  });

  it('publishes the version npm would (semver.clean) and warns about names only new packages may not have', async () => {
    const pkg = await readNpmPackage(
      await tarball('pkg.tgz', {
        name: 'Old-Name',
        version: 'v1.2.3+build.5',
        publishConfig: { registry: 'https://npm.example.org/' },
      }),
    );
    assert.equal(pkg.version, '1.2.3');
    assert.equal(pkg.manifest.version, '1.2.3');
    assert.match(pkg.warnings[0] ?? '', /name can no longer contain capital letters/);
    assert.match(
      pkg.warnings[1] ?? '',
      /publishConfig\.registry \(https:\/\/npm\.example\.org\/\) is not used/,
    );
  });

  it('picks the README npm would: markdown first', async () => {
    const pkg = await readNpmPackage(
      await tarball(
        'pkg.tgz',
        { name: 'x', version: '1.0.0' },
        { README: 'plain', 'readme.markdown': 'md', 'README.txt': 'txt' },
      ),
    );
    assert.deepEqual([pkg.manifest.readme, pkg.manifest.readmeFilename], ['md', 'readme.markdown']);
    const plain = await readNpmPackage(
      await tarball('pkg.tgz', { name: 'x', version: '1.0.0' }, { README: 'plain' }),
    );
    assert.deepEqual([plain.manifest.readme, plain.manifest.readmeFilename], ['plain', 'README']);
  });

  it('normalises package.json as npm 11 does: directories.bin, people, repository, keywords, bin paths', async () => {
    const pkg = await readNpmPackage(
      await tarball(
        'pkg.tgz',
        {
          name: 'x',
          version: '1.0.0',
          author: 'Jane Doe <jane@example.com> (https://jane.example)',
          contributors: ['Bob <bob@example.com>'],
          repository: 'github:octo-org/x',
          keywords: 'one, two',
          directories: { bin: './bin' },
        },
        { 'bin/x-tool': '#!/usr/bin/env node\n' },
      ),
    );
    const m = pkg.manifest;
    assert.deepEqual(m.bin, { 'x-tool': 'bin/x-tool' });
    assert.deepEqual(m.author, { name: 'Jane Doe', email: 'jane@example.com', url: 'https://jane.example' });
    assert.deepEqual(m.contributors, [{ name: 'Bob', email: 'bob@example.com' }]);
    assert.deepEqual(m.repository, { type: 'git', url: 'git+https://github.com/octo-org/x.git' });
    assert.deepEqual(m.bugs, { url: 'https://github.com/octo-org/x/issues' });
    assert.equal(m.homepage, 'https://github.com/octo-org/x#readme');
    assert.deepEqual(m.keywords, ['one', 'two']);
    const dotted = await readNpmPackage(
      await tarball('pkg.tgz', { name: 'y', version: '1.0.0', bin: { y: './cli.js' } }, { 'cli.js': '' }),
    );
    assert.deepEqual(dotted.manifest.bin, { y: 'cli.js' });
  });
});

describe('names and versions, against npm 11’s own modules', () => {
  it('validates names as validate-npm-package-name does', () => {
    const names = [
      'tp-sample',
      '@octo-org/tp-sample',
      'UPPER',
      '.x',
      '_x',
      '-x',
      ' x',
      'node_modules',
      'favicon.ico',
      'http',
      'a~b',
      'a b',
      '@scope/.x',
      '@sc ope/x',
      '@scope/a/b',
      'a'.repeat(215),
      'ünï',
    ];
    for (const name of names) {
      const ours = checkPackageName(name);
      const theirs = validateName(name);
      assert.deepEqual(ours.errors, theirs.errors ?? [], name);
      assert.deepEqual(ours.warnings, theirs.warnings ?? [], name);
    }
  });

  it('cleans and orders versions as node-semver does', () => {
    const versions = [
      '1.2.3',
      'v1.2.3',
      '=1.2.3',
      ' 1.2.3 ',
      '1.2.3+build',
      '1.2.3-beta.1+b',
      '1.2',
      '01.2.3',
      '1.2.3-01',
      '1.2.3-beta..1',
      `1.2.${'9'.repeat(20)}`,
      'latest',
    ];
    for (const v of versions) assert.equal(cleanVersion(v), semver.clean(v) ?? undefined, v);
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.10.0',
      '2.0.0',
    ];
    for (const a of ordered) {
      for (const b of ordered) {
        const [x, y] = [parseSemver(a), parseSemver(b)];
        assert.ok(x && y);
        assert.equal(compareSemver(x, y), semver.compare(a, b), `${a} vs ${b}`);
      }
    }
  });

  it('refuses the dist-tags npm refuses', () => {
    // Only 'x.1'-like tags (an x-range major with a number after it) are refused here but allowed by npm.
    const tags = [
      '1',
      'v1',
      '1.x',
      '^2',
      '~1.2',
      '~>1',
      '>=1',
      '<=1.2',
      '*',
      'x',
      '1.2.3',
      '=v1',
      '1.0.0-rc.1',
      '1||2',
      'latest',
      'next',
      'beta',
      'v-next',
      'vnext',
      'x64',
      'xx',
      'release-1',
      '1a',
      '1-beta',
      '1.2.3.4',
      '*a',
      '<',
      '^',
    ];
    for (const tag of tags) {
      const refused = semver.validRange(tag) !== null;
      assert.equal(/valid SemVer range/.test(distTagProblem(tag) ?? ''), refused, tag);
    }
    assert.match(distTagProblem('has space') ?? '', /not allowed in a dist-tag/);
    assert.match(distTagProblem('a/b') ?? '', /not allowed in a dist-tag/);
    assert.equal(distTagProblem('next'), undefined);
  });
});

describe('dist-tags and prereleases', () => {
  const pkg = (version: string, configTag = ''): NpmPackage => ({
    name: 'tp-sample',
    version,
    manifest: {},
    scoped: false,
    prerelease: (parseSemver(version)?.prerelease.length ?? 0) > 0,
    configTag,
    configAccess: '',
    warnings: [],
  });

  it('chooses the tag input, else publishConfig.tag, else latest', () => {
    assert.deepEqual(chooseDistTag(pkg('1.0.0'), ''), { tag: 'latest', explicit: false });
    assert.deepEqual(chooseDistTag(pkg('1.0.0', 'beta'), ''), { tag: 'beta', explicit: true });
    assert.deepEqual(chooseDistTag(pkg('1.0.0', 'beta'), 'next'), { tag: 'next', explicit: true });
  });

  it('never lets a prerelease take latest without an explicit tag', () => {
    assert.match(
      prereleaseProblem(pkg('2.0.0-rc.1'), '') ?? '',
      /prerelease, and without a tag it would become 'latest'/,
    );
    assert.equal(prereleaseProblem(pkg('2.0.0-rc.1'), 'next'), undefined);
    assert.equal(prereleaseProblem(pkg('2.0.0-rc.1', 'next'), ''), undefined);
    // Asked for explicitly, even latest is allowed, as `npm publish --tag latest` is.
    assert.equal(prereleaseProblem(pkg('2.0.0-rc.1'), 'latest'), undefined);
    assert.equal(prereleaseProblem(pkg('2.0.0'), ''), undefined);
  });

  describe('the registry’s plan checks', () => {
    const target = npm.target('npm', undefined, undefined);
    const options = (o: Partial<PublishOptions> = {}): PublishOptions => ({
      skipExisting: false,
      tag: '',
      access: '',
      channel: '',
      user: '',
      stage: false,
      ...o,
    });
    const artifact = (version: string, extra: Partial<NpmArtifact> = {}): NpmArtifact => ({
      ...pkg(version),
      path: `/x/tp-sample-${version}.tgz`,
      file: `tp-sample-${version}.tgz`,
      size: 1,
      sha256: '',
      blake2_256: '',
      ...extra,
    });

    it('refuses bad tag and access inputs', () => {
      assert.throws(
        () => npm.validate?.(target, options({ access: 'private' }), true),
        /Input 'access' must be public or restricted/,
      );
      assert.throws(
        () => npm.validate?.(target, options({ tag: '1.x' }), true),
        /Input 'tag': '1\.x' is a valid SemVer range/,
      );
    });

    it('refuses a prerelease without a tag, restricted unscoped packages and duplicates, all at once', () => {
      assert.throws(
        () =>
          npm.order(
            [artifact('1.0.0'), artifact('2.0.0-beta.1'), artifact('1.0.0', { file: 'copy.tgz' })],
            options({ access: 'restricted' }),
          ),
        (err: Error) => {
          assert.match(err.message, /nothing was sent/);
          assert.match(
            err.message,
            /tp-sample-2\.0\.0-beta\.1\.tgz: tp-sample@2\.0\.0-beta\.1 is a prerelease/,
          );
          assert.match(err.message, /cannot restrict access to unscoped packages/);
          assert.match(err.message, /tp-sample-1\.0\.0\.tgz and copy\.tgz are both tp-sample@1\.0\.0/);
          return true;
        },
      );
    });

    it('orders each package’s versions lowest first, so the highest ends up holding the tag', () => {
      const ordered = npm.order(
        [artifact('1.10.0'), artifact('1.2.0-rc.1'), artifact('1.2.0'), artifact('1.9.0')],
        options({ tag: 'next' }),
      );
      assert.deepEqual(
        ordered.map((a) => a.version),
        ['1.2.0-rc.1', '1.2.0', '1.9.0', '1.10.0'],
      );
    });

    it('derives the audience, exchange URL and file URL from the registry URL', async () => {
      assert.equal(await npm.audience(target), 'npm:registry.npmjs.org');
      assert.equal(target.mintUrl.href, 'https://registry.npmjs.org/-/npm/v1/oidc/token/exchange/package/');
      assert.equal(
        npm.fileUrl(target, artifact('1.0.0', { name: '@o/p' })),
        'https://www.npmjs.com/package/@o/p/v/1.0.0',
      );
      const local = npm.target('npm', new URL('http://127.0.0.1:4873/npm/'), undefined);
      // npm's client: the hostname without the port, the exchange at the origin's root.
      assert.equal(await npm.audience(local), 'npm:127.0.0.1');
      assert.equal(local.mintUrl.href, 'http://127.0.0.1:4873/-/npm/v1/oidc/token/exchange/package/');
      assert.equal(npm.fileUrl(local, artifact('1.0.0')), 'http://127.0.0.1:4873/npm/tp-sample');
      assert.equal(await npm.audience(npm.target('npm', undefined, 'custom')), 'custom');
    });
  });
});
