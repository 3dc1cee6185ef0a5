import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Parser } from 'tar/parse';
import type { ReadEntry } from 'tar/read-entry';
import yauzl from 'yauzl';
import { ActionError } from '../errors.ts';
import { CHUNK_BYTES } from '../file-chunks.ts';

/**
 * More than any registry accepts once unpacked. Proving a file whole means inflating all of it, so a bomb
 * is cut off here instead of burning minutes of CPU.
 */
export const MAX_UNPACKED_BYTES = 4 * 1024 ** 3;

/** What is wrong with a file's bytes, as the user is told. */
class Damage extends Error {}

/** A zip field the local header and the central directory both record; 0xffffffff defers to ZIP64. */
const ZIP64_MARKER = 0xffffffff;
const DATA_DESCRIPTOR_FLAG = 0x08;
const DATA_DESCRIPTOR_SIGNATURE = 0x08074b50;

function unpacked(total: number): void {
  if (total > MAX_UNPACKED_BYTES) throw new Damage(`it unpacks to more than ${MAX_UNPACKED_BYTES} bytes`);
}

/** The end-of-archive marker: two zero blocks. Writers may pad after it, with zeros only. */
const TAR_END_BYTES = 1024;

/**
 * Reads a tar to its end-of-archive marker, passing each member to `onEntry` (which must consume it).
 * Bytes after the marker are not parsed (the parser would only buffer them), but the archive must end in
 * zeros: every tar writer pads that way, so anything else was appended to a finished archive.
 */
class TarToEnd {
  private readonly parser: Parser;
  private ended = false;
  private failure: Error | undefined;
  private tail = Buffer.alloc(0);

  constructor(onEntry: (entry: ReadEntry) => void = (entry) => entry.resume()) {
    this.parser = new Parser({ strict: true, onReadEntry: onEntry });
    this.parser.on('eof', () => {
      this.ended = true;
    });
    this.parser.on('error', (err: Error) => {
      this.failure ??= err;
    });
  }

  async write(chunk: Buffer): Promise<void> {
    this.check();
    this.tail = Buffer.concat([this.tail, chunk.subarray(-TAR_END_BYTES)]).subarray(-TAR_END_BYTES);
    if (this.ended || this.parser.write(chunk)) return;
    try {
      await once(this.parser, 'drain');
    } catch {
      this.check();
    }
  }

  async end(): Promise<void> {
    this.check();
    const done = once(this.parser, 'end');
    this.parser.end();
    await done;
    this.check();
    if (!this.ended) throw new Damage('the tar archive ends without its end-of-archive marker');
    if (this.tail.some((byte) => byte !== 0)) throw new Damage('trailing bytes after the tar archive');
  }

  private check(): void {
    if (this.failure) throw new Damage(`damaged tar archive (${this.failure.message})`);
  }
}

/** A gzip member's first bytes: magic and the deflate method. */
const GZIP_START = Buffer.from([0x1f, 0x8b, 0x08]);
/** zlib's wording for a member that does not start as GZIP_START. */
const START_ERRORS = /incorrect header check|unknown compression method/;

/** `head` is the stream's first bytes: when they start a member, zlib's complaint is about a later one. */
function gzipDamage(err: Error, head: Buffer): Damage {
  if (err instanceof Damage) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'Z_BUF_ERROR') return new Damage('truncated gzip stream');
  // zlib ends its output at the trailer and the rest of the input is cut off.
  if (code === 'ABORT_ERR' || (head.equals(GZIP_START) && START_ERRORS.test(err.message)))
    return new Damage('trailing bytes after the gzip stream');
  if (/incorrect (data|length) check/.test(err.message))
    return new Damage('the gzip trailer does not match the data (CRC-32 or length mismatch)');
  return new Damage(`damaged gzip stream (${err.message})`);
}

/**
 * Inflates one gzip member to its trailer (zlib checks its CRC-32 and length), feeding the output to `tar`
 * if given. The rule is one member and nothing after it: zlib would silently skip zero padding and decode
 * a second member as if it were part of the first, while Ruby's and Rust's readers stop after the first,
 * so two readers could see two different packages.
 */
async function verifyGzip(source: AsyncIterable<Buffer>, tar?: TarToEnd): Promise<void> {
  const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
  let input = 0;
  let output = 0;
  let head = Buffer.alloc(0);
  let lastBytes = Buffer.alloc(0);
  try {
    await pipeline(
      source,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          input += chunk.length;
          if (head.length < GZIP_START.length)
            head = Buffer.concat([head, chunk]).subarray(0, GZIP_START.length);
          lastBytes = Buffer.concat([lastBytes.subarray(-4), chunk.subarray(-4)]).subarray(-4);
          yield chunk;
        }
      },
      gunzip,
      async (inflated: AsyncIterable<Buffer>) => {
        for await (const chunk of inflated) {
          output += chunk.length;
          unpacked(output);
          await tar?.write(chunk);
        }
      },
    );
  } catch (err) {
    throw gzipDamage(err as Error, head);
  }
  // Zero padding is consumed by nobody; a second member shows as output its own trailer does not count.
  if (gunzip.bytesWritten !== input || lastBytes.length < 4 || lastBytes.readUInt32LE(0) !== output % 2 ** 32)
    throw new Damage('trailing bytes after the gzip stream');
  await tar?.end();
}

const readFile = (filePath: string): Readable =>
  fs.createReadStream(filePath, { highWaterMark: CHUNK_BYTES });

/** sdists, crates and npm tarballs: one gzip member holding one tar. */
const verifyTarGz = (filePath: string): Promise<void> => verifyGzip(readFile(filePath), new TarToEnd());

/**
 * A gem is a plain tar of gzip members (metadata.gz, data.tar.gz, checksums.yaml.gz): the outer tar to its
 * end, every member to its gzip trailer, and data.tar.gz's own tar to its end.
 */
async function verifyGem(filePath: string): Promise<void> {
  const members: Promise<void>[] = [];
  const problems: Error[] = [];
  const outer = new TarToEnd((entry) => {
    if (!entry.path.endsWith('.gz')) return entry.resume();
    const inner = entry.path.endsWith('.tar.gz') ? new TarToEnd() : undefined;
    members.push(
      verifyGzip(drained(entry), inner).catch((err: Error) => {
        problems.push(new Damage(`${entry.path}: ${err.message}`));
      }),
    );
  });
  for await (const chunk of readFile(filePath)) await outer.write(chunk as Buffer);
  await outer.end();
  await Promise.all(members);
  if (problems[0]) throw problems[0];
}

/** A member's bytes; the rest is skipped if its check stops early, so the outer tar can go on. */
async function* drained(entry: ReadEntry): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of entry) yield chunk as Buffer;
  } finally {
    entry.resume();
  }
}

/** The next central directory entry, or undefined after the last. */
function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const settle = (fn: () => void) => {
      zip.off('entry', onEntry).off('end', onEnd).off('error', onError);
      fn();
    };
    const onEntry = (entry: yauzl.Entry) => settle(() => resolve(entry));
    const onEnd = () => settle(() => resolve(undefined));
    const onError = (err: Error) => settle(() => reject(err));
    zip.on('entry', onEntry).on('end', onEnd).on('error', onError);
    zip.readEntry();
  });
}

/**
 * Zip readers disagree on which copy they trust: Python's zipfile and yauzl read the central directory,
 * streaming readers the local headers. A file whose two copies differ is refused, not interpreted.
 */
async function checkLocalHeader(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<number> {
  const local = await zip.readLocalFileHeaderPromise(entry);
  const disagrees = (field: string) =>
    new Damage(`local header of ${entry.fileName} disagrees with the central directory (${field})`);
  if (!local.fileName.equals(entry.fileNameRaw)) throw disagrees('name');
  if (local.compressionMethod !== entry.compressionMethod) throw disagrees('compression method');
  // With a data descriptor the writer may leave these zero in the local header and write them after the data.
  const deferred = (entry.generalPurposeBitFlag & DATA_DESCRIPTOR_FLAG) !== 0;
  const fields: [string, number, number][] = [
    ['CRC-32', local.crc32, entry.crc32],
    ['compressed size', local.compressedSize, entry.compressedSize],
    ['uncompressed size', local.uncompressedSize, entry.uncompressedSize],
  ];
  for (const [field, here, there] of fields) {
    if (here !== there && here !== ZIP64_MARKER && !(deferred && here === 0)) throw disagrees(field);
  }
  return local.fileDataStart;
}

/** The data descriptor after a streamed entry's data carries its CRC-32 (after an optional signature). */
async function checkDataDescriptor(zip: yauzl.ZipFile, entry: yauzl.Entry, dataStart: number): Promise<void> {
  const start = dataStart + entry.compressedSize;
  // Not openReadStreamLowLevelPromise: yauzl 3.4's wrapper calls openReadStream with these arguments.
  const stream = await new Promise<Readable>((resolve, reject) =>
    zip.openReadStreamLowLevel(start, 8, 0, 8, false, null, (err, read) =>
      err ? reject(err) : resolve(read),
    ),
  );
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const crc =
    bytes.length < 8
      ? undefined
      : bytes.readUInt32LE(bytes.readUInt32LE(0) === DATA_DESCRIPTOR_SIGNATURE ? 4 : 0);
  if (crc !== entry.crc32)
    throw new Damage(`data descriptor of ${entry.fileName} disagrees with the central directory (CRC-32)`);
}

/** Wheels and NuGet packages: every entry's local header, data and CRC-32 against the central directory. */
async function verifyZip(filePath: string): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(filePath, { lazyEntries: true, autoClose: false, strictFileNames: false });
  } catch (err) {
    throw new Damage(`damaged zip archive (${(err as Error).message})`);
  }
  try {
    let total = 0;
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) {
      total += entry.uncompressedSize;
      unpacked(total);
      const dataStart = await checkLocalHeader(zip, entry);
      // yauzl checks the inflated size against the central directory, not the CRC-32.
      let crc = 0;
      for await (const chunk of await zip.openReadStreamPromise(entry))
        crc = zlib.crc32(chunk as Buffer, crc);
      if (crc !== entry.crc32) throw new Damage(`entry ${entry.fileName}: CRC mismatch`);
      if (entry.generalPurposeBitFlag & DATA_DESCRIPTOR_FLAG)
        await checkDataDescriptor(zip, entry, dataStart);
    }
  } catch (err) {
    throw err instanceof Damage ? err : new Damage(`damaged zip archive (${(err as Error).message})`);
  } finally {
    zip.close();
  }
}

function verifierFor(file: string): ((filePath: string) => Promise<void>) | undefined {
  if (/\.(whl|nupkg|snupkg)$/i.test(file)) return verifyZip;
  if (file.endsWith('.gem')) return verifyGem;
  if (/\.(tar\.gz|crate|tgz)$/.test(file)) return verifyTarGz;
  return undefined;
}

/**
 * Proves a package file whole before anything is sent: every compressed stream read to its checksum and
 * every archive to its end, in one streaming pass that keeps none of the content.
 */
export async function verifyIntact(filePath: string): Promise<void> {
  const file = path.basename(filePath);
  try {
    await verifierFor(file)?.(filePath);
  } catch (err) {
    if (!(err instanceof Damage)) throw err;
    throw new ActionError(`${file}: is damaged: ${err.message}. Nothing was sent.`, {
      cause:
        'The file was cut short or altered after it was built: an interrupted copy, or an artifact upload or download that went wrong.',
      fix: 'Build the file again (or download the artifact again) and check that its size and checksum match what the build wrote.',
    });
  }
}
