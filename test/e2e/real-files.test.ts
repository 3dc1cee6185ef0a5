// Files shaped as real releases are, which npm, twine and the registries take or refuse: the bundled action
// must do the same. npm: tarballs whose top folder is not package/, file names npm pack would not write,
// manifests npm normalises, gzip files of several members. PyPI: extras under the field Warehouse reads,
// what PyPI refuses (local versions, Metadata-Version 2.0, License-Expression before 2.4, bzip2 entries)
// refused before any request, and what it takes (Metadata-Version 2.5, ZIP64 wheels, multi-member sdists).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { defaultPublisher, type NpmRegistry, packNpm, startNpm } from '../fakes/npm.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { actionAgainst, FIXTURES } from '../helpers/action.ts';

const NPM_FIXTURE = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');
const TYPES = path.join(FIXTURES, 'npm/types/tp-sample-0.1.0.tgz');
const CLI = path.join(FIXTURES, 'npm/cli/tp-cli-1.0.0.tgz');
const SDIST = path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz');
const BZIP2_WHEEL = path.join(FIXTURES, 'pypi/bzip2/tp_sample-0.1.0-py3-none-any.whl');

let issuer: Issuer;
let tmp: string;
before(async () => {
  issuer = await startIssuer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-real-files-'));
});
after(async () => {
  await issuer.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A folder of its own holding `bytes` as `name`. */
function copyAs(name: string, bytes: Buffer): string {
  const file = path.join(fs.mkdtempSync(path.join(tmp, 'copy-')), name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** The file's gzip stream rewritten as three members, as concatenating gzip files (or pigz) produces. */
function multiMember(file: string): Buffer {
  const tar = gunzipSync(fs.readFileSync(file));
  const cuts = [0, 512, Math.floor(tar.length / 2), tar.length];
  return Buffer.concat(cuts.slice(1).map((end, i) => gzipSync(tar.subarray(cuts[i], end))));
}

describe('npm: tarballs as npm publish takes them (bundled action on Node 24)', () => {
  let registry: NpmRegistry;
  const names = ['@types/tp-sample', 'tp-cli', 'tp-sample', '@octo-org/core', 'left-pad'];
  beforeEach(async () => {
    await registry?.close();
    registry = await startNpm({
      issuer,
      publishers: Object.fromEntries(names.map((n) => [n, [defaultPublisher()]])),
    });
    for (const name of names) registry.addPackage(name, ['0.0.1']);
  });
  after(async () => {
    await registry?.close();
  });
  const { run, assertNoLeaks } = actionAgainst(
    () => issuer,
    () => registry,
    () => ({ inputs: { 'repository-url': registry.url, attestations: 'false' } }),
  );
  const stored = (name: string, version: string) => registry.packuments.get(name)?.versions[version];

  it('publishes a DefinitelyTyped-style tarball, whose top folder is tp-sample/, byte for byte', async () => {
    const result = await run({ files: [TYPES] });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status, p.name, p.version]),
      [['tp-sample-0.1.0.tgz', 'uploaded', '@types/tp-sample', '0.1.0']],
    );
    assert.deepEqual(
      [...registry.tarballs].filter(([key]) => key.startsWith('@types/tp-sample/')).map(([, b]) => b),
      [fs.readFileSync(TYPES)],
    );
    assert.equal(stored('@types/tp-sample', '0.1.0')?.types, 'index.d.ts');
    assertNoLeaks(result);
  });

  it('takes the name and version from package.json whatever the file is called (registry and yarn v1 names)', async () => {
    const core = await packNpm(tmp, { name: '@octo-org/core', version: '7.26.0' });
    const leftPad = await packNpm(tmp, { name: 'left-pad', version: '1.3.0' });
    const files = [
      copyAs('core-7.26.0.tgz', fs.readFileSync(core)),
      copyAs('left-pad-v1.3.0.tgz', fs.readFileSync(leftPad)),
      copyAs('tp-sample-0.2.0.tgz', fs.readFileSync(NPM_FIXTURE)),
    ];
    const result = await run({ files });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(result.published.map((p) => [p.file, p.status, p.name, p.version]).sort(), [
      ['core-7.26.0.tgz', 'uploaded', '@octo-org/core', '7.26.0'],
      ['left-pad-v1.3.0.tgz', 'uploaded', 'left-pad', '1.3.0'],
      ['tp-sample-0.2.0.tgz', 'uploaded', 'tp-sample', '0.1.0'],
    ]);
    // Only the name that says another version than the file holds draws a warning.
    assert.match(result.stdout, /tp-sample-0\.2\.0\.tgz: its package\.json says tp-sample@0\.1\.0/);
    assert.doesNotMatch(result.stdout, /core-7\.26\.0\.tgz: its package\.json says/);
    assert.doesNotMatch(result.stdout, /left-pad-v1\.3\.0\.tgz: its package\.json says/);
  });

  it('publishes the manifest npm 11 would: bin from directories.bin, people and repository normalised', async () => {
    const result = await run({ files: [CLI] });
    assert.equal(result.code, 0, result.stdout);
    const version = stored('tp-cli', '1.0.0');
    assert.deepEqual(version?.bin, { 'tp-cli': 'bin/tp-cli' });
    assert.deepEqual(version?.author, {
      name: 'Jane Doe',
      email: 'jane@example.com',
      url: 'https://jane.example',
    });
    assert.deepEqual(version?.contributors, [{ name: 'Bob Roe', email: 'bob@example.com' }]);
    assert.deepEqual(version?.repository, {
      type: 'git',
      url: 'git+https://github.com/example-org/tp-cli.git',
    });
    assert.deepEqual(version?.bugs, { url: 'https://github.com/example-org/tp-cli/issues' });
    assert.equal(version?.homepage, 'https://github.com/example-org/tp-cli#readme');
    assert.deepEqual(version?.keywords, ['sample', 'cli']);
    const sent = registry.documents.at(-1)?.document as { versions: Record<string, Record<string, unknown>> };
    assert.equal(sent.versions['1.0.0']?.readme, '# tp-cli\n\nPrints its version.\n');
  });

  it('publishes a tarball whose gzip stream has several members, and refuses one with garbage after them', async () => {
    const bytes = multiMember(NPM_FIXTURE);
    const result = await run({ files: [copyAs('tp-sample-0.1.0.tgz', bytes)] });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(registry.tarballs.get('tp-sample/-/tp-sample-0.1.0.tgz'), bytes);
    const garbage = Buffer.concat([bytes, Buffer.from('appended by something else')]);
    const minted = registry.minted.length;
    const refused = await run({ files: [copyAs('tp-sample-0.1.0.tgz', garbage)] });
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stdout, /tp-sample-0\.1\.0\.tgz: cannot be read as a package tarball/);
    assert.equal(registry.minted.length, minted, 'nothing was exchanged for the damaged file');
  });
});

describe('PyPI: what Warehouse takes and refuses (bundled action on Node 24)', () => {
  let pypi: PyPI;
  beforeEach(async () => {
    await pypi?.close();
    pypi = await startPyPI({ issuer });
  });
  after(async () => {
    await pypi?.close();
  });
  const { run, assertNoLeaks } = actionAgainst(
    () => issuer,
    () => pypi,
    () => ({ inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false' } }),
  );
  const wheel = (version: string, metadataVersion: string, extraHeaders: [string, string][] = []) =>
    makeWheel(fs.mkdtempSync(path.join(tmp, 'wheel-')), {
      name: 'tp-sample',
      version,
      metadataVersion,
      extraHeaders: [['Summary', 'A sample'], ...extraHeaders],
    });

  /** Refused before any request: no token asked of the CI system, nothing sent to the index. */
  async function assertRefusedBeforeAnyRequest(file: string, problem: RegExp): Promise<void> {
    const asked = issuer.requests.length;
    const result = await run({ files: [file] });
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, problem);
    assert.equal(issuer.requests.length, asked, 'no ID token was requested');
    assert.deepEqual(pypi.requests, [], 'nothing reached the index');
  }

  it('sends Provides-Extra as provides_extra, one per extra, so the release lists its extras', async () => {
    const file = await wheel('0.3.0', '2.1', [
      ['Requires-Dist', 'PySocks!=1.5.7,>=1.5.6; extra == "socks"'],
      ['Provides-Extra', 'socks'],
      ['Provides-Extra', 'use-chardet-on-py3'],
    ]);
    const result = await run({ files: [file] });
    assert.equal(result.code, 0, result.stdout);
    const fields = pypi.uploads.at(-1)?.fields ?? [];
    assert.deepEqual(
      fields.filter(([name]) => name.startsWith('provides_extra')),
      [
        ['provides_extra', 'socks'],
        ['provides_extra', 'use-chardet-on-py3'],
      ],
    );
    const json = (await (await fetch(`${pypi.origin}/pypi/tp-sample/0.3.0/json`)).json()) as {
      info: { provides_extra: string[] | null };
    };
    assert.deepEqual(json.info.provides_extra, ['socks', 'use-chardet-on-py3']);
    assertNoLeaks(result);
  });

  it('refuses local versions before any request, saying PyPI refuses them', async () => {
    for (const version of ['2.13.0+cpu', '4.11.4.dev3+gb2f29d8e8']) {
      await assertRefusedBeforeAnyRequest(
        await wheel(version, '2.1'),
        new RegExp(
          `version ${version.replace(/[.+]/g, '\\$&')} has a local part .*PyPI refuses local versions`,
        ),
      );
    }
  });

  it('refuses Metadata-Version 2.0 before any request, and uploads 2.5', async () => {
    await assertRefusedBeforeAnyRequest(
      await wheel('0.4.0', '2.0'),
      /has Metadata-Version 2\.0, which PyPI refuses/,
    );
    const result = await run({ files: [await wheel('0.5.0', '2.5', [['Import-Name', 'tp_sample']])] });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(pypi.uploads.at(-1)?.status, 200);
  });

  it('refuses License-Expression in metadata older than 2.4 before any request, as twine does', async () => {
    await assertRefusedBeforeAnyRequest(
      await wheel('0.6.0', '2.1', [['License-Expression', 'MIT']]),
      /has License-Expression under Metadata-Version 2\.1; the field was introduced in 2\.4/,
    );
    const result = await run({ files: [await wheel('0.6.0', '2.4', [['License-Expression', 'MIT']])] });
    assert.equal(result.code, 0, result.stdout);
    assert.ok(pypi.uploads.at(-1)?.fields.some(([n, v]) => n === 'license_expression' && v === 'MIT'));
  });

  it('refuses a bzip2 wheel saying PyPI accepts only stored and deflated entries, not that it is damaged', async () => {
    await assertRefusedBeforeAnyRequest(
      BZIP2_WHEEL,
      /compressed with bzip2, and PyPI accepts only stored and deflated zip entries/,
    );
    const result = await run({ files: [BZIP2_WHEEL] });
    assert.doesNotMatch(result.stdout, /damaged|unreadable|cannot be read/);
  });

  it('uploads a ZIP64 wheel and an sdist whose gzip stream has several members', async () => {
    const zip64 = await makeWheel(fs.mkdtempSync(path.join(tmp, 'zip64-')), {
      name: 'tp-sample',
      version: '0.7.0',
      zip64: true,
      extraHeaders: [['Summary', 'A sample']],
    });
    assert.ok(fs.readFileSync(zip64).includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), 'a ZIP64 end record');
    const sdist = copyAs('tp-sample-0.1.0.tar.gz', multiMember(SDIST));
    const result = await run({ files: [zip64, sdist] });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(result.published.map((p) => [p.file, p.status]).sort(), [
      ['tp-sample-0.1.0.tar.gz', 'uploaded'],
      ['tp_sample-0.7.0-py3-none-any.whl', 'uploaded'],
    ]);
    assert.deepEqual(
      pypi.uploads.map((u) => u.status),
      [200, 200],
    );
  });
});
