import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseGemspec, readGem } from '../../src/artifacts/gem.ts';
import { FIXTURES } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

const GEM = path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem');

function copy(bytes: Buffer, name: string): string {
  const dir = tempDir('tp-gem-');
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

describe('readGem', () => {
  it('reads name, version and platform from the fixture built by gem build', async () => {
    assert.deepEqual(await readGem(GEM), { name: 'tp_sample', version: '0.1.0', platform: 'ruby' });
  });

  it('refuses a gem whose file name disagrees with its gemspec', async () => {
    const renamed = copy(fs.readFileSync(GEM), 'tp_sample-0.2.0.gem');
    await assert.rejects(readGem(renamed), /should be named tp_sample-0.1.0.gem/);
  });

  it('refuses a truncated gem', async () => {
    const bytes = fs.readFileSync(GEM);
    await assert.rejects(
      readGem(copy(bytes.subarray(0, 1500), 'tp_sample-0.1.0.gem')),
      /tp_sample-0.1.0.gem: /,
    );
  });

  it('refuses a gem whose data no longer matches checksums.yaml.gz', async () => {
    const bytes = Buffer.from(fs.readFileSync(GEM));
    // Flip one byte inside data.tar.gz's content: the tar still parses, the checksum no longer matches.
    const header = bytes.indexOf('data.tar.gz');
    const flipAt = header + 512 + 20;
    bytes[flipAt] = (bytes[flipAt] ?? 0) ^ 0xff;
    await assert.rejects(
      readGem(copy(bytes, 'tp_sample-0.1.0.gem')),
      /does not match its checksum|cannot be read/,
    );
  });

  it('refuses a file that is not a gem', async () => {
    await assert.rejects(readGem(copy(Buffer.from('not a tar at all'), 'x-1.0.gem')), /x-1.0.gem: /);
  });
});

describe('parseGemspec', () => {
  it('reads platform gems, old Gem::Platform objects and refuses YAML alias bombs', () => {
    const spec = (platform: string) =>
      `--- !ruby/object:Gem::Specification\nname: native\nversion: !ruby/object:Gem::Version\n  version: 1.2.3\nplatform: ${platform}\n`;
    assert.equal(parseGemspec(spec('x86_64-linux'))?.platform, 'x86_64-linux');
    assert.equal(
      parseGemspec(spec('!ruby/object:Gem::Platform\n  cpu: x86_64\n  os: darwin\n  version: "23"'))
        ?.platform,
      'x86_64-darwin-23',
    );
    // Old gems name a requirement twice, by alias.
    const requirement =
      '!ruby/object:Gem::Requirement\n  requirements:\n  - - ">="\n    - !ruby/object:Gem::Version\n      version: "0"';
    const aliased = `${spec('ruby')}dependencies:\n- !ruby/object:Gem::Dependency\n  name: rake\n  requirement: &1 ${requirement.replaceAll('\n', '\n  ')}\n  version_requirements: *1\n`;
    assert.equal(parseGemspec(aliased)?.name, 'native');
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, inner] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
      ['h', 'g'],
      ['i', 'h'],
      ['j', 'i'],
      ['k', 'j'],
      ['l', 'k'],
      ['m', 'l'],
    ])
      levels.push(`${name}: &${name} [${Array(9).fill(`*${inner}`).join(', ')}]`);
    const bomb = `${levels.join('\n')}\nname: x\nversion: "1"\n`;
    assert.throws(() => parseGemspec(bomb), /alias/i);
  });
});
