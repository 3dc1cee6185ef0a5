import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { create as createTar } from 'tar';
import { normalizePlatform, normalizeVersionReq } from '../../src/artifacts/cargo-syntax.ts';
import { CRATES_IO_INDEX, metadataFor, readCrate } from '../../src/artifacts/crate.ts';
import { ActionError } from '../../src/errors.ts';
import { makeCrate } from '../fakes/crates.ts';
import { FIXTURES } from '../helpers/action.ts';

const FIXTURE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');
/** What cargo 1.95 sent for the fixture's source (recorded by the emulator in the cargo oracle). */
const FIXTURE_METADATA =
  '{"name":"tp-sample","vers":"0.1.0","deps":[],"features":{},"authors":[],"description":"A tiny sample crate used to test trusted publishing","documentation":null,"homepage":null,"readme":null,"readme_file":null,"keywords":[],"categories":[],"license":"MIT","license_file":null,"repository":"https://example.org/tp-sample","badges":{},"links":null,"rust_version":null}';
const OTHER_INDEX = 'sparse+https://other.example/index/';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-crate-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const manifest = (name: string, version: string, rest = '') =>
  `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\ndescription = "d"\nlicense = "MIT"\n${rest}`;

/** The ActionError `readCrate` throws for this file, with its explanation. */
async function refusal(file: string, verifyMetadata = true): Promise<string> {
  const err = await readCrate(file, verifyMetadata).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ActionError, `expected an ActionError, got ${String(err)}`);
  return err.explain();
}

describe('metadata as cargo publish builds it', () => {
  test('the fixture gives exactly the JSON cargo sent for its source', async () => {
    const crate = await readCrate(FIXTURE, true);
    assert.equal(crate.name, 'tp-sample');
    assert.equal(crate.version, '0.1.0');
    assert.equal(JSON.stringify(metadataFor(crate.metadata, true)), FIXTURE_METADATA);
    assert.equal(JSON.stringify(metadataFor(crate.metadata, false)), FIXTURE_METADATA);
  });

  test('a packaged manifest with every kind of dependency, features, badges and a readme', async () => {
    const file = await makeCrate(tmp, {
      name: 'tp-rich',
      version: '0.4.0-beta.1+build.7',
      manifest: `${manifest('tp-rich', '0.4.0-beta.1+build.7')}authors = ["A <a@example.org>", "B"]
documentation = "https://docs.example/tp-rich"
homepage = "https://example.org"
readme = "docs/READ ME.md"
keywords = ["zeta", "alpha"]
categories = ["development-tools"]
license-file = "LICENSE"
repository = "https://example.org/repo"
links = "tprich"
rust-version = "1.70"

[badges.maintenance]
status = "actively-developed"

[features]
zed = []
default = ["std"]
std = ["dep:opt", "tp-dep-a/feat"]

[dependencies.tp-dep-a]
version = "1.0"
default-features = false
features = ["x", "a"]

[dependencies.renamed]
version = ">= 1.2, < 2"
package = "tp-dep-b"
registry-index = "${OTHER_INDEX}"

[dependencies.opt]
version = "0.3.1"
optional = true

[dev-dependencies.tp-dev]
version = "~0.2"

[build-dependencies]
tp-build = "=0.1.0"

[target.'cfg(target_os="linux")'.dependencies]
tp-linux = "0.1.*"

[target.x86_64-unknown-linux-gnu.dev-dependencies]
tp-dev = "0.2"

[target.x86_64-unknown-linux-gnu.build-dependencies]
tp-build = "0.1"
`,
      files: { 'docs/READ ME.md': 'Ünïcode readme\r\nline two\n', LICENSE: 'MIT' },
    });
    const { metadata } = await readCrate(file, true);
    assert.deepEqual(metadataFor(metadata, true), {
      name: 'tp-rich',
      vers: '0.4.0-beta.1+build.7',
      deps: [
        {
          optional: true,
          default_features: true,
          name: 'opt',
          features: [],
          version_req: '^0.3.1',
          target: null,
          kind: 'normal',
        },
        {
          optional: false,
          default_features: true,
          name: 'tp-dep-b',
          features: [],
          version_req: '>=1.2, <2',
          target: null,
          kind: 'normal',
          registry: OTHER_INDEX,
          explicit_name_in_toml: 'renamed',
        },
        {
          optional: false,
          default_features: false,
          name: 'tp-dep-a',
          features: ['x', 'a'],
          version_req: '^1.0',
          target: null,
          kind: 'normal',
        },
        {
          optional: false,
          default_features: true,
          name: 'tp-dev',
          features: [],
          version_req: '~0.2',
          target: null,
          kind: 'dev',
        },
        {
          optional: false,
          default_features: true,
          name: 'tp-build',
          features: [],
          version_req: '=0.1.0',
          target: null,
          kind: 'build',
        },
        // Targets sorted by their key as written; within one: normal, build, dev.
        {
          optional: false,
          default_features: true,
          name: 'tp-linux',
          features: [],
          version_req: '0.1.*',
          target: 'cfg(target_os = "linux")',
          kind: 'normal',
        },
        {
          optional: false,
          default_features: true,
          name: 'tp-build',
          features: [],
          version_req: '^0.1',
          target: 'x86_64-unknown-linux-gnu',
          kind: 'build',
        },
        {
          optional: false,
          default_features: true,
          name: 'tp-dev',
          features: [],
          version_req: '^0.2',
          target: 'x86_64-unknown-linux-gnu',
          kind: 'dev',
        },
      ],
      features: { default: ['std'], std: ['dep:opt', 'tp-dep-a/feat'], zed: [] },
      authors: ['A <a@example.org>', 'B'],
      description: 'd',
      documentation: 'https://docs.example/tp-rich',
      homepage: 'https://example.org',
      readme: 'Ünïcode readme\r\nline two\n',
      readme_file: 'docs/READ ME.md',
      keywords: ['zeta', 'alpha'],
      categories: ['development-tools'],
      license: 'MIT',
      license_file: 'LICENSE',
      repository: 'https://example.org/repo',
      badges: { maintenance: { status: 'actively-developed' } },
      links: 'tprich',
      rust_version: '1.70',
    });
    // Key order is cargo's (serde field order), so the JSON is byte-comparable with what cargo sends.
    const renamed = metadataFor(metadata, true).deps[1] ?? {};
    assert.deepEqual(Object.keys(renamed), [
      'optional',
      'default_features',
      'name',
      'features',
      'version_req',
      'target',
      'kind',
      'registry',
      'explicit_name_in_toml',
    ]);
  });

  test('to another registry, crates.io dependencies name crates.io’s index', async () => {
    const file = await makeCrate(tmp, {
      name: 'tp-deps',
      version: '1.0.0',
      manifest: `${manifest('tp-deps', '1.0.0')}[dependencies]\na = "1"\nb = { version = "1", registry-index = "${OTHER_INDEX}" }\nc = { version = "1", registry-index = "sparse+https://index.crates.io/" }\n`,
    });
    const { metadata } = await readCrate(file, true);
    assert.deepEqual(
      metadataFor(metadata, true).deps.map((d) => d.registry),
      [undefined, OTHER_INDEX, undefined],
    );
    assert.deepEqual(
      metadataFor(metadata, false).deps.map((d) => d.registry),
      [CRATES_IO_INDEX, OTHER_INDEX, 'sparse+https://index.crates.io/'],
    );
  });

  test('readme: the default names are found when the manifest has no key; false and true as cargo reads them', async () => {
    const readmeOf = async (name: string, rest: string, files: Record<string, string>) =>
      (
        await readCrate(
          await makeCrate(tmp, { name, version: '1.0.0', manifest: manifest(name, '1.0.0', rest), files }),
          true,
        )
      ).metadata;
    const found = await readmeOf('tp-r1', '', { 'README.txt': 'text', README: 'plain' });
    assert.deepEqual([found.readme_file, found.readme], ['README.txt', 'text']);
    const none = await readmeOf('tp-r2', 'readme = false\n', { 'README.md': 'ignored' });
    assert.deepEqual([none.readme_file, none.readme], [null, null]);
    const yes = await readmeOf('tp-r3', 'readme = true\n', { 'README.md': 'md' });
    assert.deepEqual([yes.readme_file, yes.readme], ['README.md', 'md']);
  });

  test('version requirements are displayed as the semver crate displays them', () => {
    const cases: [string, string | undefined][] = [
      ['1.0', '^1.0'],
      ['1', '^1'],
      ['^0.3', '^0.3'],
      ['  >= 1 , < 2', '>=1, <2'],
      ['*', '*'],
      ['x', '*'],
      ['1.*', '1.*'],
      ['1.x.X', '1.*'],
      ['1.2.*', '1.2.*'],
      ['~1.*', '~1'],
      ['>=1.2.*', '>=1.2'],
      ['=1.2.3-beta.1+build', '=1.2.3-beta.1'],
      ['1.2.3+build', '^1.2.3'],
      ['01', undefined],
      ['1.*.2', undefined],
      ['1.2.*-beta', undefined],
      ['1.0,', undefined],
      ['>=1, *', undefined],
      ['1.2.3-01', undefined],
      ['18446744073709551616', undefined],
      ['', undefined],
    ];
    for (const [req, shown] of cases) assert.equal(normalizeVersionReq(req), shown, req);
  });

  test('target keys are displayed as cargo-platform displays them', () => {
    assert.equal(normalizePlatform('cfg(target_os="linux")'), 'cfg(target_os = "linux")');
    assert.equal(
      normalizePlatform('cfg(all(unix,not( windows ),any()))'),
      'cfg(all(unix, not(windows), any()))',
    );
    assert.equal(normalizePlatform('cfg(r#true)'), 'cfg(true)');
    assert.equal(normalizePlatform('cfg(r#foo = "a b")'), 'cfg(r#foo = "a b")');
    assert.equal(normalizePlatform('wasm32-unknown-unknown'), 'wasm32-unknown-unknown');
    for (const bad of [
      'cfg(all)',
      'cfg(unix',
      'cfg(unix windows)',
      'x86 64',
      'cfg()',
      `cfg(${'not('.repeat(100)}a${')'.repeat(100)})`,
    ]) {
      assert.throws(() => normalizePlatform(bad), bad);
    }
  });
});

describe('files that cannot be published are refused before any network call', () => {
  test('a truncated crate', async () => {
    const bytes = fs.readFileSync(FIXTURE);
    const truncated = path.join(tmp, 'cut', 'tp-sample-0.1.0.crate');
    fs.mkdirSync(path.dirname(truncated), { recursive: true });
    for (const keep of [bytes.length - 4, Math.floor(bytes.length / 2), 30]) {
      fs.writeFileSync(truncated, bytes.subarray(0, keep));
      assert.match(
        await refusal(truncated),
        /^tp-sample-0\.1\.0\.crate: cannot be read as a \.crate archive/,
      );
    }
  });

  test('garbage, a plain tar and an empty file', async () => {
    const dir = path.join(tmp, 'garbage');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'tp-sample-0.1.0.crate');
    fs.writeFileSync(file, gzipSync(Buffer.from('not a tar archive at all'.repeat(40))));
    assert.match(await refusal(file), /cannot be read as a \.crate archive/);
    fs.writeFileSync(file, Buffer.alloc(2048));
    assert.match(await refusal(file), /is not gzip-compressed/);
    fs.writeFileSync(file, '');
    assert.match(await refusal(file), /is not gzip-compressed/);
  });

  test('no Cargo.toml, another name or version than the file name, files outside the folder', async () => {
    const folder = path.join(tmp, 'nomanifest');
    fs.mkdirSync(path.join(folder, 'tp-sample-0.1.0/src'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'tp-sample-0.1.0/src/lib.rs'), '');
    const noManifest = path.join(folder, 'tp-sample-0.1.0.crate');
    await createTar({ gzip: true, file: noManifest, cwd: folder }, ['tp-sample-0.1.0/src/lib.rs']);
    assert.match(
      await refusal(noManifest),
      /has no Cargo\.toml in a top-level folder \(expected tp-sample-0\.1\.0\/Cargo\.toml\)/,
    );

    const built = await makeCrate(path.join(tmp, 'renamed'), {
      name: 'tp-x',
      version: '0.3.0',
      manifest: manifest('tp-x', '0.3.0'),
    });
    const renamed = path.join(path.dirname(built), 'tp-x-0.4.0.crate');
    fs.renameSync(built, renamed);
    const explained = await refusal(renamed);
    assert.match(
      explained,
      /^tp-x-0\.4\.0\.crate: its Cargo\.toml says tp-x 0\.3\.0, so the file should be named tp-x-0\.3\.0\.crate\./,
    );
    assert.match(explained, /Fix: Rebuild it with `cargo package`/);

    const stray = await makeCrate(path.join(tmp, 'stray'), {
      name: 'tp-y',
      version: '1.0.0',
      manifest: manifest('tp-y', '1.0.0'),
      folder: 'other-1.0.0',
    });
    assert.match(
      await refusal(stray),
      /holds other-1\.0\.0\/Cargo\.toml outside tp-y-1\.0\.0\/, which crates\.io refuses/,
    );
  });

  test('manifests cargo package never writes', async () => {
    const cases: [string, string, Record<string, string | Buffer>, RegExp][] = [
      [
        'tp-m1',
        manifest('tp-m1', '1.0.0', 'homepage.workspace = true\n'),
        {},
        /package\.homepage is inherited from a workspace/,
      ],
      [
        'tp-m2',
        manifest('tp-m2', '1.0.0', '[dependencies]\nlocal = { path = "../local" }\n'),
        {},
        /dependency `local` has no version requirement/,
      ],
      [
        'tp-m3',
        manifest('tp-m3', '1.0.0', 'readme = "MISSING.md"\n'),
        {},
        /package\.readme names `MISSING\.md`, which is not in the archive/,
      ],
      [
        'tp-m4',
        manifest('tp-m4', '1.0.0', 'readme = "R.md"\n'),
        { 'R.md': Buffer.from([0xff, 0xfe, 0x00]) },
        /its readme is not valid UTF-8/,
      ],
      [
        'tp-m5',
        manifest('tp-m5', '1.0.0', '[dependencies]\nx = "not a req"\n'),
        {},
        /invalid version requirement `not a req`/,
      ],
      [
        'tp-m6',
        manifest('tp-m6', '1.0.0', '[target.\'cfg(unix\'.dependencies]\nx = "1"\n'),
        {},
        /target `cfg\(unix` is neither a target name nor cfg/,
      ],
      ['tp-m7', '[package\nname = ', {}, /its Cargo\.toml cannot be parsed/],
    ];
    for (const [name, text, files, expected] of cases) {
      const file = await makeCrate(path.join(tmp, name), { name, version: '1.0.0', manifest: text, files });
      assert.match(await refusal(file), expected, name);
    }
  });

  test('verify-metadata asks for what crates.io requires; without it the crate is read as it is', async () => {
    const file = await makeCrate(path.join(tmp, 'bare'), {
      name: 'tp-bare',
      version: '1.0.0',
      manifest: '[package]\nname = "tp-bare"\nversion = "1.0.0"\n',
    });
    assert.match(await refusal(file), /Cargo\.toml lacks description and license, which crates\.io requires/);
    assert.equal((await readCrate(file, false)).metadata.description, null);
  });
});
