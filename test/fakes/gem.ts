import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A Ruby single-quoted literal: only backslash and quote are special there, so no interpolation can sneak in. */
const ruby = (s: string): string => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/**
 * Builds a gem with the real `gem build`, so the archive layout, gemspec YAML and checksums are RubyGems' own.
 * `padBytes` adds a file of random bytes to make big (and never identical) gems.
 */
export async function makeGem(
  dir: string,
  opts: { name: string; version: string; platform?: string; padBytes?: number },
): Promise<string> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'tp-makegem-'));
  try {
    const lib = `lib/${opts.name}.rb`;
    const files = [lib];
    await fs.mkdir(path.join(work, 'lib'));
    await fs.writeFile(path.join(work, lib), `module TpGenerated\n  VERSION = ${ruby(opts.version)}\nend\n`);
    if (opts.padBytes !== undefined) {
      files.push('data/pad.bin');
      await fs.mkdir(path.join(work, 'data'));
      await fs.writeFile(path.join(work, 'data/pad.bin'), randomBytes(opts.padBytes));
    }
    const spec = [
      'Gem::Specification.new do |s|',
      `  s.name = ${ruby(opts.name)}`,
      `  s.version = ${ruby(opts.version)}`,
      ...(opts.platform === undefined ? [] : [`  s.platform = ${ruby(opts.platform)}`]),
      "  s.summary = 'A generated gem used to test trusted publishing'",
      "  s.authors = ['Sample Author']",
      "  s.license = 'MIT'",
      "  s.homepage = 'https://example.org/tp_sample'",
      `  s.files = [${files.map(ruby).join(', ')}]`,
      'end',
      '',
    ].join('\n');
    await fs.writeFile(path.join(work, 'gem.gemspec'), spec);
    // A clean environment: no user gemrc, no GEM_HOME or proxy from the machine running the tests.
    await run('gem', ['build', 'gem.gemspec'], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, LANG: 'C.UTF-8' },
      timeout: 60_000,
    });
    // RubyGems names the file itself (it normalises the platform), so take whatever it wrote.
    const built = (await fs.readdir(work)).find((f) => f.endsWith('.gem'));
    if (!built) throw new Error(`gem build wrote no .gem in ${work}`);
    await fs.mkdir(dir, { recursive: true });
    const target = path.join(dir, built);
    await fs.copyFile(path.join(work, built), target);
    return target;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
