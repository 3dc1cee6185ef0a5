// A damaged file is refused before any request: every compressed stream to its checksum, every archive to its
// end, every zip entry against its central directory. Damaged copies are cut from the real fixtures.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { create as createTar } from 'tar';
import { ZipFile } from 'yazl';
import { ArchiveError, readZipMember, scanTar } from '../../src/artifacts/archive.ts';
import { DigestTap } from '../../src/artifacts/digest.ts';
import { verifyIntact } from '../../src/artifacts/integrity.ts';
import { ActionError } from '../../src/errors.ts';
import { makeNupkg } from '../fakes/nupkg.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { FIXTURES } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

const SDIST = path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz');
const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');
const CRATE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');
const TGZ = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');
const GEM = path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem');
const GZIPPED_TARS = [SDIST, CRATE, TGZ];

const tmp = () => tempDir('tp-integrity-');

/** `bytes` under `name` (a fixture's name by default) in a folder of its own. */
function copy(name: string, bytes: Buffer): string {
  const file = path.join(tmp(), path.basename(name));
  fs.writeFileSync(file, bytes);
  return file;
}

async function assertRefused(file: string, problem: RegExp): Promise<void> {
  await assert.rejects(verifyIntact(file), (err: Error) => {
    assert.ok(err instanceof ActionError, err.stack);
    const name = path.basename(file).replace(/[.]/g, '\\.');
    assert.match(err.message, new RegExp(`^${name}: is damaged: .*\\. Nothing was sent\\.$`));
    assert.match(err.message, problem);
    assert.match(err.explain(), /Likely cause: The file was cut short or altered after it was built/);
    assert.match(err.explain(), /Fix: Build the file again \(or download the artifact again\)/);
    return true;
  });
}

const cuts = (size: number): number[] => [0.25, 0.5, 0.9].map((f) => Math.floor(size * f)).concat(size - 1);

const flip = (bytes: Buffer, at: number): Buffer => {
  const copied = Buffer.from(bytes);
  copied[at] = (copied[at] ?? 0) ^ 0x55;
  return copied;
};

/** A tar.gz holding `tar` (decompressed bytes), named as `like`. */
const regzip = (like: string, tar: Buffer): string => copy(like, gzipSync(tar));

/** The fixture's tar with its end-of-archive marker and padding cut off. */
function tarWithoutEnd(file: string): Buffer {
  const tar = gunzipSync(fs.readFileSync(file));
  let end = tar.length;
  while (end > 0 && tar[end - 1] === 0) end--;
  return tar.subarray(0, Math.ceil(end / 512) * 512);
}

describe('intact files pass', () => {
  it('the fixtures built by the real tools', async () => {
    for (const file of [SDIST, WHEEL, CRATE, TGZ, GEM]) await verifyIntact(file);
  });

  it('generated NuGet packages and a wheel with a streamed (data descriptor) entry', async () => {
    const dir = tmp();
    await verifyIntact(await makeNupkg(dir, { id: 'TpSample', version: '0.1.0' }));
    await verifyIntact(await makeNupkg(dir, { id: 'TpSample', version: '0.1.0', symbols: true }));
    await verifyIntact(await makeWheel(dir, { name: 'tp-sample', version: '0.1.0', padBytes: 100_000 }));
  });

  it('hashes the file in the same read: the tap’s digests are the file’s, or none where it reads otherwise', async () => {
    const dir = tmp();
    const nupkg = await makeNupkg(dir, { id: 'TpSample', version: '0.1.0' });
    const big = await makeWheel(dir, { name: 'tp-sample', version: '0.1.0', padBytes: 3 * 1024 * 1024 });
    for (const file of [SDIST, WHEEL, CRATE, TGZ, GEM, nupkg, big]) {
      const tap = new DigestTap();
      await verifyIntact(file, tap.update);
      const bytes = fs.readFileSync(file);
      assert.deepEqual(tap.digestsOf(bytes.length), {
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      });
    }
    // unbzip2-stream reads the file on its own: planning falls back to a read of its own.
    const bz2 = path.join(FIXTURES, 'conda/tp-sample-0.1.0-0.tar.bz2');
    const tap = new DigestTap();
    await verifyIntact(bz2, tap.update);
    assert.equal(tap.digestsOf(fs.statSync(bz2).size), undefined);
  });

  it('zero padding after a tar’s end-of-archive marker, as tar writers add', async () => {
    const padded = Buffer.concat([tarWithoutEnd(SDIST), Buffer.alloc(10240)]);
    await verifyIntact(regzip(SDIST, padded));
  });
});

describe('files cut short', () => {
  it('gzipped tars (sdist, crate, npm tarball) cut anywhere: a truncated gzip stream', async () => {
    for (const file of GZIPPED_TARS) {
      const bytes = fs.readFileSync(file);
      for (const size of cuts(bytes.length)) {
        await assertRefused(copy(file, bytes.subarray(0, size)), /: truncated gzip stream\./);
      }
    }
  });

  it('a wheel and a NuGet package cut anywhere', async () => {
    const nupkg = await makeNupkg(tmp(), { id: 'TpSample', version: '0.1.0' });
    for (const file of [WHEEL, nupkg]) {
      const bytes = fs.readFileSync(file);
      for (const size of cuts(bytes.length)) {
        await assertRefused(
          copy(file, bytes.subarray(0, size)),
          /damaged zip archive \(End of central directory/,
        );
      }
    }
  });

  it('a gem cut anywhere: its tar has no end', async () => {
    const bytes = fs.readFileSync(GEM);
    for (const size of cuts(bytes.length)) {
      await assertRefused(
        copy(GEM, bytes.subarray(0, size)),
        /the tar archive ends without its end-of-archive/,
      );
    }
  });

  it('a tar gzipped whole but cut inside a member', async () => {
    for (const file of GZIPPED_TARS) {
      const tar = tarWithoutEnd(file);
      await assertRefused(
        regzip(file, tar.subarray(0, tar.length - 100)),
        /damaged tar archive \(.*Truncated input/,
      );
    }
  });

  it('a tar gzipped whole but cut before its end-of-archive marker', async () => {
    for (const file of GZIPPED_TARS) {
      await assertRefused(
        regzip(file, tarWithoutEnd(file)),
        /the tar archive ends without its end-of-archive/,
      );
    }
  });
});

describe('bytes altered', () => {
  it('a flipped byte inside compressed data of a gzipped tar', async () => {
    for (const file of GZIPPED_TARS) {
      const bytes = fs.readFileSync(file);
      await assertRefused(copy(file, flip(bytes, Math.floor(bytes.length / 2))), /gzip/);
    }
  });

  it('a flipped byte in the gzip trailer’s CRC-32', async () => {
    const bytes = fs.readFileSync(SDIST);
    await assertRefused(
      copy(SDIST, flip(bytes, bytes.length - 6)),
      /the gzip trailer does not match the data/,
    );
  });

  it('a flipped byte inside a gem’s header', async () => {
    await assertRefused(
      copy(GEM, flip(fs.readFileSync(GEM), 20)),
      /damaged tar archive \(.*checksum failure\)/,
    );
  });
});

describe('bytes after the end', () => {
  const trailing = /: trailing bytes after the gzip stream\./;
  const tails: [string, Buffer, RegExp][] = [
    ['zero padding', Buffer.alloc(512), trailing],
    ['garbage', Buffer.from('appended by something else'), trailing],
    // zlib takes it for the header of a second member, cut short.
    ['garbage that starts like gzip', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x42]), /truncated gzip stream/],
  ];
  for (const [what, tail, problem] of tails) {
    it(`${what} after the gzip stream of a gzipped tar`, async () => {
      for (const file of GZIPPED_TARS) {
        await assertRefused(copy(file, Buffer.concat([fs.readFileSync(file), tail])), problem);
      }
    });
  }

  // gzip -t, npm (zlib) and Python's tarfile (Warehouse, pip) read every member of a gzip file.
  it('a tar split over several gzip members, in npm tarballs and sdists', async () => {
    for (const file of [SDIST, TGZ]) {
      const tar = gunzipSync(fs.readFileSync(file));
      const members = [0, 700, 5000, tar.length].map((at, i, all) => tar.subarray(at, all[i + 1]));
      await verifyIntact(copy(file, Buffer.concat(members.filter((m) => m.length).map((m) => gzipSync(m)))));
      const member = gzipSync(Buffer.from('a second member'));
      await assertRefused(
        copy(file, Buffer.concat([fs.readFileSync(file), member])),
        /trailing bytes after the tar archive/,
      );
      await assertRefused(
        copy(file, Buffer.concat([fs.readFileSync(file), member, Buffer.from('garbage')])),
        /trailing bytes after the gzip stream/,
      );
      await assertRefused(
        copy(file, Buffer.concat([fs.readFileSync(file), member, Buffer.alloc(512)])),
        /trailing bytes after the gzip stream/,
      );
    }
  });

  // crates.io (Rust's GzDecoder) reads the first member alone: a second would be content it never sees.
  it('a second gzip member in a crate', async () => {
    const member = gzipSync(Buffer.from('a second member'));
    await assertRefused(
      copy(CRATE, Buffer.concat([fs.readFileSync(CRATE), member])),
      /trailing bytes after the gzip stream/,
    );
  });

  it('data after a tar’s end-of-archive marker', async () => {
    const tar = gunzipSync(fs.readFileSync(SDIST));
    await assertRefused(
      regzip(SDIST, Buffer.concat([tar, Buffer.alloc(512, 'x')])),
      /trailing bytes after the tar archive/,
    );
    const gem = Buffer.concat([fs.readFileSync(GEM), Buffer.from('trailing')]);
    await assertRefused(copy(GEM, gem), /trailing bytes after the tar archive/);
  });

  it('bytes after a zip’s end of central directory', async () => {
    await assertRefused(copy(WHEEL, Buffer.concat([fs.readFileSync(WHEEL), Buffer.from('trailing')])), /zip/);
  });
});

/** Offsets of one entry's local header and central directory header. */
function zipHeaders(bytes: Buffer, name: string): { local: number; central: number } {
  const found: Record<number, number> = {};
  for (let at = bytes.indexOf(name); at >= 0; at = bytes.indexOf(name, at + 1)) {
    if (bytes.readUInt32LE(at - 30) === 0x04034b50) found[0x04034b50] = at - 30;
    if (at >= 46 && bytes.readUInt32LE(at - 46) === 0x02014b50) found[0x02014b50] = at - 46;
  }
  const [local, central] = [found[0x04034b50], found[0x02014b50]];
  assert.ok(local !== undefined && central !== undefined, `${name} has both headers`);
  return { local, central };
}

/** A copy of `file` with `edit` applied to its bytes. */
function edited(file: string, edit: (bytes: Buffer) => void): string {
  const bytes = Buffer.from(fs.readFileSync(file));
  edit(bytes);
  return copy(file, bytes);
}

describe('zip entries against their central directory', () => {
  const METADATA = 'tp_sample-0.1.0.dist-info/METADATA';

  it('a flipped byte inside an entry’s compressed data of a wheel and a NuGet package', async () => {
    const nupkg = await makeNupkg(tmp(), { id: 'TpSample', version: '0.1.0' });
    for (const [file, entry] of [
      [WHEEL, 'tp_sample-0.1.0.dist-info/RECORD'],
      [nupkg, 'lib/net8.0/TpSample.dll'],
    ] as const) {
      const damaged = edited(file, (bytes) => {
        const { local } = zipHeaders(bytes, entry);
        const data = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
        bytes[data + 1] = (bytes[data + 1] ?? 0) ^ 0xff;
      });
      // A flipped bit in deflate data is found by the CRC or by the inflater, whichever sees it first.
      await assertRefused(damaged, new RegExp(`entry ${entry}: (CRC mismatch|damaged compressed data)`));
    }
  });

  it('an entry inflated across several reads: intact, then with a flipped byte', async () => {
    // Text-like bytes: deflate shrinks them, but not to one read's worth.
    const big = Buffer.from(
      Array.from({ length: 400_000 }, (_, i) => `line ${(i * 7919) % 100_003}\n`).join(''),
    );
    const zip = new ZipFile();
    zip.addBuffer(big, 'tp_sample/big.txt');
    zip.end();
    const chunks: Buffer[] = [];
    for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
    const intact = copy(WHEEL, Buffer.concat(chunks));
    const { local, central } = zipHeaders(fs.readFileSync(intact), 'tp_sample/big.txt');
    assert.ok(fs.readFileSync(intact).readUInt32LE(central + 20) > 1024 * 1024, 'spans reads');
    await verifyIntact(intact);
    const damaged = edited(intact, (bytes) => {
      const at = local + 30 + 17 + bytes.readUInt16LE(local + 28) + 1024 * 1024 + 10;
      bytes[at] = (bytes[at] ?? 0) ^ 0x55;
    });
    await assertRefused(
      damaged,
      /entry tp_sample\/big\.txt: (CRC mismatch|damaged compressed data|unpacks to)/,
    );
  });

  it('a central directory that lies about a CRC-32 or a size', async () => {
    const fields: [number, string][] = [
      [16, 'CRC-32'],
      [20, 'compressed size'],
      [24, 'uncompressed size'],
    ];
    for (const [offset, field] of fields) {
      const lying = edited(WHEEL, (bytes) => {
        const { central } = zipHeaders(bytes, METADATA);
        bytes.writeUInt32LE(bytes.readUInt32LE(central + offset) + 1, central + offset);
      });
      await assertRefused(
        lying,
        new RegExp(`local header of ${METADATA} disagrees with the central directory \\(${field}\\)`),
      );
    }
  });

  it('local header and central directory that agree on a wrong size', async () => {
    for (const [change, problem] of [
      [1, 'unpacks to 336 bytes, the central directory says 337'],
      [-1, 'unpacks to more than the 335 bytes the central directory says'],
    ] as const) {
      const lying = edited(WHEEL, (bytes) => {
        const { local, central } = zipHeaders(bytes, METADATA);
        for (const at of [local + 22, central + 24]) bytes.writeUInt32LE(bytes.readUInt32LE(at) + change, at);
      });
      await assertRefused(lying, new RegExp(`entry ${METADATA}: ${problem}`));
    }
  });

  it('a local header that disagrees in its name or compression method', async () => {
    const renamed = edited(WHEEL, (bytes) => {
      const { local } = zipHeaders(bytes, METADATA);
      bytes.write('X', local + 30 + METADATA.length - 1);
    });
    await assertRefused(renamed, new RegExp(`local header of ${METADATA} disagrees .*\\(name\\)`));
    const stored = edited(WHEEL, (bytes) => {
      const { local } = zipHeaders(bytes, METADATA);
      bytes.writeUInt16LE(0, local + 8);
    });
    await assertRefused(
      stored,
      new RegExp(`local header of ${METADATA} disagrees .*\\(compression method\\)`),
    );
  });

  it('a streamed entry (data descriptor): its CRC-32 against the data and the descriptor', async () => {
    const wheel = await makeWheel(tmp(), { name: 'tp-sample', version: '0.1.0', padBytes: 4096 });
    const pad = 'tp_sample/pad.bin';
    const dataOf = (bytes: Buffer) => {
      const { local, central } = zipHeaders(bytes, pad);
      assert.ok(bytes.readUInt16LE(local + 6) & 0x08, 'yazl streams it with a data descriptor');
      const start = local + 30 + pad.length + bytes.readUInt16LE(local + 28);
      const end = start + bytes.readUInt32LE(central + 20);
      return { central, start, crcAt: bytes.readUInt32LE(end) === 0x08074b50 ? end + 4 : end };
    };
    const xorUInt32 = (bytes: Buffer, at: number) =>
      bytes.writeUInt32LE((bytes.readUInt32LE(at) ^ 1) >>> 0, at);
    const damaged = edited(wheel, (bytes) => {
      const { start } = dataOf(bytes);
      bytes[start + 100] = (bytes[start + 100] ?? 0) ^ 0x55;
    });
    await assertRefused(damaged, new RegExp(`entry ${pad}: CRC mismatch`));
    const descriptor = edited(wheel, (bytes) => xorUInt32(bytes, dataOf(bytes).crcAt));
    const central = edited(wheel, (bytes) => xorUInt32(bytes, dataOf(bytes).central + 16));
    for (const lying of [descriptor, central]) {
      await assertRefused(
        lying,
        new RegExp(`data descriptor of ${pad} disagrees with the central directory`),
      );
    }
  });
});

describe('one member read whole (METADATA, a .nuspec)', () => {
  const METADATA = 'tp_sample-0.1.0.dist-info/METADATA';
  const pick = (names: string[]) => names.find((n) => n === METADATA);
  const read = (file: string) => readZipMember(file, pick);

  it('gives the bytes Python’s zipfile gives', async () => {
    const expected = execFileSync('python3', [
      '-c',
      'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))',
      WHEEL,
      METADATA,
    ]);
    const member = await read(WHEEL);
    assert.equal(member?.name, METADATA);
    assert.ok(member.data.equals(expected));
  });

  it('refuses a size that disagrees with the data, either way, and an encrypted entry', async () => {
    for (const [change, problem] of [
      [1, /unpacks to 336 bytes, the central directory says 337/],
      [-1, /unpacks to more bytes than it says/],
    ] as const) {
      const lying = edited(WHEEL, (bytes) => {
        const { local, central } = zipHeaders(bytes, METADATA);
        for (const at of [local + 22, central + 24]) bytes.writeUInt32LE(bytes.readUInt32LE(at) + change, at);
      });
      await assert.rejects(
        read(lying),
        (err: Error) => err instanceof ArchiveError && problem.test(err.message),
      );
    }
    const encrypted = edited(WHEEL, (bytes) => {
      const { local, central } = zipHeaders(bytes, METADATA);
      for (const at of [local + 6, central + 8]) bytes.writeUInt16LE(bytes.readUInt16LE(at) | 1, at);
    });
    await assert.rejects(read(encrypted), /METADATA is encrypted/);
  });

  it('refuses a packed size no member it holds whole can have, before reading it', async () => {
    const huge = edited(WHEEL, (bytes) => {
      const { central } = zipHeaders(bytes, METADATA);
      bytes.writeUInt32LE(17 * 1024 * 1024, central + 20);
    });
    await assert.rejects(read(huge), /METADATA is larger than 16777216 bytes packed/);
  });
});

describe('zip entries against each other and the unpacked limit', () => {
  /** A wheel-named zip of the entries, as yazl writes it with known sizes: stored, or deflated. */
  async function zipOf(entries: [string, Buffer][], compress = false): Promise<string> {
    const zip = new ZipFile();
    for (const [name, bytes] of entries) zip.addBuffer(bytes, name, { compress });
    zip.end();
    const chunks: Buffer[] = [];
    for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
    return copy(WHEEL, Buffer.concat(chunks));
  }

  it('two entries whose data overlap: the first runs over the header of the next', async () => {
    const intact = await zipOf([
      ['tp_sample/a.txt', Buffer.from('a'.repeat(64))],
      ['tp_sample/b.txt', Buffer.from('b'.repeat(64))],
    ]);
    await verifyIntact(intact);
    const overlapping = edited(intact, (bytes) => {
      const { local, central } = zipHeaders(bytes, 'tp_sample/a.txt');
      assert.equal(bytes.readUInt16LE(local + 6) & 0x08, 0, 'sizes in the local header, no descriptor');
      // Both headers agree on the longer size, which reaches into b.txt's data: only the positions tell.
      for (const at of [local + 18, local + 22, central + 20, central + 24])
        bytes.writeUInt32LE(bytes.readUInt32LE(at) + 128, at);
    });
    await assertRefused(overlapping, /entries tp_sample\/a\.txt and tp_sample\/b\.txt overlap/);
  });

  it('entries that declare more than 4 GiB in all, refused before anything is inflated', async () => {
    const declared = 0xf000_0000; // 3.75 GiB each: two of them pass 4 GiB; below ZIP64's 0xffffffff marker.
    const bomb = edited(
      await zipOf(
        [
          ['tp_sample/a.bin', Buffer.alloc(64)],
          ['tp_sample/b.bin', Buffer.alloc(64)],
        ],
        true,
      ),
      (bytes) => {
        for (const name of ['tp_sample/a.bin', 'tp_sample/b.bin']) {
          const { local, central } = zipHeaders(bytes, name);
          for (const at of [local + 22, central + 24]) bytes.writeUInt32LE(declared, at);
        }
      },
    );
    await assertRefused(bomb, /unpacks to more than 4294967296 bytes, more than any registry accepts/);
  });
});

describe('a gem’s members', () => {
  /** The fixture gem with one member's bytes replaced, packed again as a plain tar. */
  async function gemWith(member: string, change: (bytes: Buffer) => Buffer): Promise<string> {
    const scan = await scanTar(GEM, () => 'read');
    const dir = tmp();
    for (const [name, bytes] of scan.read)
      fs.writeFileSync(path.join(dir, name), name === member ? change(bytes) : bytes);
    const file = path.join(tmp(), path.basename(GEM));
    await createTar({ file, cwd: dir, portable: true }, [...scan.read.keys()]);
    return file;
  }

  it('the fixture packed again passes', async () => {
    await verifyIntact(await gemWith('metadata.gz', (bytes) => bytes));
  });

  it('a member cut short, with bytes after it, or with an inner tar without its end', async () => {
    await assertRefused(
      await gemWith('data.tar.gz', (bytes) => bytes.subarray(0, bytes.length - 5)),
      /data\.tar\.gz: truncated gzip stream/,
    );
    await assertRefused(
      await gemWith('checksums.yaml.gz', (bytes) => Buffer.concat([bytes, Buffer.from('appended')])),
      /checksums\.yaml\.gz: trailing bytes after the gzip stream/,
    );
    await assertRefused(
      await gemWith('metadata.gz', (bytes) => flip(bytes, bytes.length - 6)),
      /metadata\.gz: the gzip trailer does not match the data/,
    );
    await assertRefused(
      await gemWith('data.tar.gz', (bytes) => {
        const tar = gunzipSync(bytes);
        let end = tar.length;
        while (end > 0 && tar[end - 1] === 0) end--;
        return gzipSync(tar.subarray(0, Math.ceil(end / 512) * 512));
      }),
      /data\.tar\.gz: the tar archive ends without its end-of-archive marker/,
    );
  });
});
