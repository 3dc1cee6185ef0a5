import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { normalizeNuGetVersion, parseNuspec, readNupkg } from '../../src/artifacts/nupkg.ts';
import { makeNupkg, nuspecXml } from '../fakes/nupkg.ts';

const dirs: string[] = [];
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-nupkg-'));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('normalizeNuGetVersion (NuGetVersion.TryParse + ToNormalizedString)', () => {
  const cases: [string, string | undefined][] = [
    ['1.0.0', '1.0.0'],
    ['1.0', '1.0.0'],
    ['1', '1.0.0'],
    ['1.0.0.0', '1.0.0'],
    ['1.0.0.1', '1.0.0.1'],
    ['01.002.3', '1.2.3'],
    [' 1.2.3 ', '1.2.3'],
    ['1.10', '1.10.0'],
    ['1.0.0-Beta.1+build.5', '1.0.0-Beta.1'],
    ['1.0.0+meta-x', '1.0.0'],
    ['1.0.0-rc+01', '1.0.0-rc'],
    ['1.0.0-0a', '1.0.0-0a'],
    ['', undefined],
    ['1.2.3.4.5', undefined],
    ['1..2', undefined],
    ['1.0.0-', undefined],
    ['1.0.0+', undefined],
    ['1.0.0-01', undefined],
    ['1.0.0-beta..1', undefined],
    ['1.0.0-be_ta', undefined],
    ['a.b', undefined],
    ['$version$', undefined],
    ['99999999999.0', undefined],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${expected ?? 'invalid'}`, () => {
      assert.equal(normalizeNuGetVersion(input), expected);
    });
  }
});

describe('parseNuspec', () => {
  it('reads id, version (as text) and package types, namespaces and attributes notwithstanding', () => {
    const xml =
      '<?xml version="1.0"?><n:package xmlns:n="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">' +
      '<n:metadata minClientVersion="2.12"><n:id>Tp.Sample</n:id><n:version>1.10</n:version>' +
      '<n:packageTypes><n:packageType name="Dependency" /><n:packageType name="DotnetTool" /></n:packageTypes>' +
      '</n:metadata></n:package>';
    assert.deepEqual(parseNuspec(xml), {
      id: 'Tp.Sample',
      version: '1.10',
      packageTypes: ['Dependency', 'DotnetTool'],
    });
  });

  it('says why malformed XML or a missing metadata element cannot be read', () => {
    assert.match(String(parseNuspec('<package><metadata><id>x</metadata></package>')), /line 1/);
    assert.equal(parseNuspec('<package/>'), 'it has no <package><metadata> element');
  });

  it('expands no entity, so an entity bomb stays an inert string', () => {
    const bomb =
      '<?xml version="1.0"?><!DOCTYPE package [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' +
      '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><package><metadata><id>&c;</id><version>1.0.0</version></metadata></package>';
    assert.deepEqual(parseNuspec(bomb), { id: '&c;', version: '1.0.0', packageTypes: [] });
  });
});

describe('readNupkg', () => {
  it('reads a generated package and its symbol package', async () => {
    const dir = tmp();
    const nupkg = await makeNupkg(dir, { id: 'TpSample', version: '0.1.0' });
    const snupkg = await makeNupkg(dir, { id: 'TpSample', version: '0.1.0', symbols: true });
    assert.deepEqual(await readNupkg(nupkg), {
      id: 'TpSample',
      version: '0.1.0',
      nuspecVersion: '0.1.0',
      symbols: false,
    });
    assert.deepEqual(await readNupkg(snupkg), {
      id: 'TpSample',
      version: '0.1.0',
      nuspecVersion: '0.1.0',
      symbols: true,
    });
  });

  it('matches the file name without case and after version normalisation, both ways', async () => {
    const dir = tmp();
    const short = await makeNupkg(dir, {
      id: 'TpSample',
      version: '1.0.0-Beta',
      fileName: 'tpsample.1.0-beta.nupkg',
    });
    assert.equal((await readNupkg(short)).version, '1.0.0-Beta');
    const long = await makeNupkg(dir, {
      id: 'Tp.Sample',
      version: '2.1+build.7',
      fileName: 'Tp.Sample.2.1.0.nupkg',
    });
    assert.deepEqual(await readNupkg(long), {
      id: 'Tp.Sample',
      version: '2.1.0',
      nuspecVersion: '2.1+build.7',
      symbols: false,
    });
  });

  it('refuses a file whose name disagrees with its .nuspec, naming the expected one', async () => {
    const dir = tmp();
    const version = await makeNupkg(dir, {
      id: 'TpSample',
      version: '0.2.0',
      fileName: 'TpSample.0.1.0.nupkg',
    });
    await assert.rejects(
      readNupkg(version),
      /says TpSample 0\.2\.0, so the file should be named TpSample\.0\.2\.0\.nupkg/,
    );
    const id = await makeNupkg(dir, { id: 'TpSample', version: '0.2.0', fileName: 'TpSampler.0.2.0.nupkg' });
    await assert.rejects(readNupkg(id), /should be named TpSample\.0\.2\.0\.nupkg/);
    const extension = await makeNupkg(dir, {
      id: 'TpSample',
      version: '0.2.0',
      symbols: true,
      fileName: 'TpSample.0.3.0.snupkg',
    });
    await assert.rejects(readNupkg(extension), /should be named TpSample\.0\.2\.0\.snupkg/);
  });

  it('refuses truncated files and other bytes (a member damaged inside is integrity.test.ts’s case)', async () => {
    const dir = tmp();
    const good = await makeNupkg(dir, { id: 'TpSample', version: '0.1.0' });
    const bytes = fs.readFileSync(good);
    const truncated = path.join(tmp(), 'TpSample.0.1.0.nupkg');
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 40));
    await assert.rejects(readNupkg(truncated), /TpSample\.0\.1\.0\.nupkg: is not an intact zip archive/);
    const garbage = path.join(tmp(), 'TpSample.0.1.0.nupkg');
    fs.writeFileSync(garbage, Buffer.from('not a zip at all'.repeat(40)));
    await assert.rejects(readNupkg(garbage), /is not an intact zip archive/);
  });

  it('refuses a package without exactly one .nuspec at its root', async () => {
    const dir = tmp();
    const nested = await makeNupkg(dir, {
      id: 'TpSample',
      version: '0.1.0',
      nuspecPath: 'meta/TpSample.nuspec',
    });
    await assert.rejects(readNupkg(nested), /has no \.nuspec at its root/);
    const two = await makeNupkg(tmp(), {
      id: 'TpSample',
      version: '0.1.0',
      extraFiles: [['Other.nuspec', nuspecXml({ id: 'Other', version: '0.1.0' })]],
    });
    await assert.rejects(readNupkg(two), /has 2 \.nuspec files at its root/);
  });

  it('refuses a .nuspec without id or version, or with ones nuget.org would not take', async () => {
    const cases: [string, RegExp][] = [
      ['<package><metadata><version>1.0.0</version></metadata></package>', /no <id> or no <version>/],
      ['<package><metadata><id>TpSample</id></metadata></package>', /no <id> or no <version>/],
      [
        '<package><metadata><id>TpSample</id><version>$version$</version></metadata></package>',
        /'\$version\$' is not a valid NuGet version/,
      ],
      [
        '<package><metadata><id>Tp Sample</id><version>1.0.0</version></metadata></package>',
        /package ID 'Tp Sample' is not one nuget.org accepts/,
      ],
      [
        '<package><metadata><id>TpSample</id><version>1.0.0</version></metadata>',
        /its \.nuspec cannot be read/,
      ],
    ];
    for (const [nuspec, expected] of cases) {
      const file = await makeNupkg(tmp(), { id: 'TpSample', version: '1.0.0', nuspec });
      await assert.rejects(readNupkg(file), expected);
    }
  });

  it('refuses a .nuspec that is not UTF-8', async () => {
    const xml = nuspecXml({ id: 'TpSample', version: '1.0.0' }).replace('Sample Author', 'Jos\u00e9');
    const file = await makeNupkg(tmp(), {
      id: 'TpSample',
      version: '1.0.0',
      nuspec: Buffer.from(xml, 'latin1'),
    });
    await assert.rejects(readNupkg(file), /its \.nuspec is not UTF-8 text/);
  });

  it('keeps symbol packages and packages apart by extension and package type', async () => {
    const dir = tmp();
    const legacy = await makeNupkg(dir, {
      id: 'TpSample',
      version: '0.1.0',
      fileName: 'TpSample.0.1.0.symbols.nupkg',
    });
    await assert.rejects(readNupkg(legacy), /legacy symbols package \(\.symbols\.nupkg\)/);
    const untyped = await makeNupkg(dir, {
      id: 'TpSample',
      version: '0.1.0',
      fileName: 'TpSample.0.1.0.snupkg',
    });
    await assert.rejects(
      readNupkg(untyped),
      /named \.snupkg but its \.nuspec lacks the 'SymbolsPackage' package type/,
    );
    const typed = await makeNupkg(dir, {
      id: 'TpSample',
      version: '0.1.0',
      symbols: true,
      fileName: 'TpSample.0.1.0.nupkg',
    });
    await assert.rejects(
      readNupkg(typed),
      /declares the 'SymbolsPackage' package type, which only \.snupkg files may/,
    );
  });
});
