import { once } from 'node:events';
import path from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Parser } from 'tar/parse';
import type { ReadEntry } from 'tar/read-entry';
import type yauzl from 'yauzl';
import { ActionError } from '../errors.ts';
import { CHUNK_BYTES, type ChunkTap, fileChunks, ownedFileChunks } from '../file-chunks.ts';
import { checkZipMethod, nextEntry, UnsupportedCompression, ZipReader } from './archive.ts';

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

function withinUnpackedLimit(total: number): void {
  if (total > MAX_UNPACKED_BYTES)
    throw new Damage(`it unpacks to more than ${MAX_UNPACKED_BYTES} bytes, more than any registry accepts`);
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
    try {
      const done = once(this.parser, 'end');
      this.parser.end();
      await done;
    } catch {
      // A member cut short: the parser's error is this.failure.
    }
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
 * Inflates a gzip stream to its last trailer (zlib checks each member's CRC-32 and length), feeding the output
 * to `tar` if given, and refuses anything after the last member (zlib stops at zero padding and fails on other
 * bytes). `oneMember` is for formats whose registry reads only the first member: Ruby's Zlib::GzipReader
 * (gems) and Rust's GzDecoder (crates.io) stop there, so a second member would be a second package nobody
 * sees. npm (zlib) and Python's tarfile (Warehouse, pip) read every member, as `gzip -t` does.
 */
async function verifyGzip(
  source: AsyncIterable<Buffer>,
  tar: TarToEnd | undefined,
  oneMember: boolean,
): Promise<void> {
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
          withinUnpackedLimit(output);
          await tar?.write(chunk);
        }
      },
    );
  } catch (err) {
    throw gzipDamage(err as Error, head);
  }
  // zlib leaves zero padding unread; a second member shows as output the last trailer does not count.
  const secondMember = lastBytes.length < 4 || lastBytes.readUInt32LE(0) !== output % 2 ** 32;
  if (gunzip.bytesWritten !== input || (oneMember && secondMember))
    throw new Damage('trailing bytes after the gzip stream');
  await tar?.end();
}

/** sdists, crates and npm tarballs: a gzip stream holding one tar (a crate in a single member). */
const verifyTarGz = (filePath: string, tap: ChunkTap): Promise<void> =>
  verifyGzip(ownedFileChunks(filePath, tap), new TarToEnd(), filePath.endsWith('.crate'));

/**
 * A gem is a plain tar of gzip members (metadata.gz, data.tar.gz, checksums.yaml.gz): the outer tar to its
 * end, every member to its gzip trailer, and data.tar.gz's own tar to its end.
 */
async function verifyGem(filePath: string, tap: ChunkTap): Promise<void> {
  const members: Promise<void>[] = [];
  const problems: Error[] = [];
  const outer = new TarToEnd((entry) => {
    if (!entry.path.endsWith('.gz')) return entry.resume();
    const inner = entry.path.endsWith('.tar.gz') ? new TarToEnd() : undefined;
    members.push(
      verifyGzip(drained(entry), inner, true).catch((err: Error) => {
        problems.push(new Damage(`${entry.path}: ${err.message}`));
      }),
    );
  });
  for await (const chunk of ownedFileChunks(filePath, tap)) await outer.write(chunk);
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
function checkDataDescriptor(reader: ZipReader, entry: yauzl.Entry, dataStart: number): void {
  const bytes = reader.bytesAt(dataStart + entry.compressedSize, 8);
  const crc =
    bytes.length < 8
      ? undefined
      : bytes.readUInt32LE(bytes.readUInt32LE(0) === DATA_DESCRIPTOR_SIGNATURE ? 4 : 0);
  if (crc !== entry.crc32)
    throw new Damage(`data descriptor of ${entry.fileName} disagrees with the central directory (CRC-32)`);
}

/** One entry's data, fed in slices as the file is read: its CRC-32 and size against the central directory. */
class EntryData {
  private crc = 0;
  private size = 0;
  /** Created at the first slice: thousands of idle zlib streams would each hold their window. */
  private inflate: zlib.InflateRaw | undefined;
  private failure: string | undefined;

  constructor(
    readonly entry: yauzl.Entry,
    readonly start: number,
  ) {
    checkZipMethod(entry.fileName, entry.compressionMethod);
  }

  get end(): number {
    return this.start + this.entry.compressedSize;
  }

  /** The whole entry in one slice: small entries are inflated at once, without a stream's round trips. */
  whole(data: Uint8Array): void {
    if (this.entry.compressionMethod === 0) {
      this.count(data);
      return;
    }
    try {
      // One output buffer of the recorded size, not a 16 KiB one per small entry.
      const size = this.entry.uncompressedSize;
      this.count(
        zlib.inflateRawSync(data, { maxOutputLength: Math.max(size, 1), chunkSize: Math.max(size, 64) }),
      );
    } catch (err) {
      this.failure ??=
        (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
          ? this.tooLarge()
          : `damaged compressed data (${(err as Error).message})`;
    }
  }

  /** Resolves once the slice is consumed: the reader's buffer is reused afterwards. */
  async update(slice: Uint8Array): Promise<void> {
    if (this.entry.compressionMethod === 0) return this.count(slice);
    this.inflate ??= this.startInflate();
    const inflate = this.inflate;
    // A zlib error destroys the stream without calling back the write it was working on.
    await new Promise<void>((resolve) => {
      const done = () => {
        inflate.off('close', done);
        resolve();
      };
      inflate.once('close', done).write(slice, done);
    });
    this.check();
  }

  async finish(): Promise<void> {
    if (this.inflate) {
      this.inflate.end();
      // The error, if any, is already this.failure.
      await finished(this.inflate).catch(() => undefined);
    }
    this.check();
    if (this.size !== this.entry.uncompressedSize)
      throw this.damage(
        `unpacks to ${this.size} bytes, the central directory says ${this.entry.uncompressedSize}`,
      );
    if (this.crc !== this.entry.crc32) throw this.damage('CRC mismatch');
  }

  private startInflate(): zlib.InflateRaw {
    const inflate = zlib.createInflateRaw({ chunkSize: 64 * 1024 });
    inflate.on('data', (chunk: Buffer) => this.count(chunk));
    inflate.on('error', (err: Error) => {
      this.failure ??= `damaged compressed data (${err.message})`;
    });
    return inflate;
  }

  private count(chunk: Uint8Array): void {
    this.size += chunk.length;
    if (this.size > this.entry.uncompressedSize) {
      this.failure ??= this.tooLarge();
      this.inflate?.destroy();
    }
    this.crc = zlib.crc32(chunk, this.crc);
  }

  private tooLarge(): string {
    return `unpacks to more than the ${this.entry.uncompressedSize} bytes the central directory says`;
  }

  private check(): void {
    if (this.failure) throw this.damage(this.failure);
  }

  private damage(problem: string): Damage {
    return new Damage(`entry ${this.entry.fileName}: ${problem}`);
  }
}

/** Every entry's data, in one sequential read of the file with reused buffers. */
async function checkEntryData(filePath: string, entries: EntryData[], tap: ChunkTap): Promise<void> {
  const byOffset = [...entries].sort((a, b) => a.start - b.start);
  byOffset.forEach((entry, i) => {
    const previous = byOffset[i - 1];
    if (previous && entry.start < previous.end)
      throw new Damage(`entries ${previous.entry.fileName} and ${entry.entry.fileName} overlap`);
  });
  let next = 0;
  let position = 0;
  for await (const chunk of fileChunks(filePath, tap)) {
    const chunkEnd = position + chunk.length;
    for (let entry = byOffset[next]; entry && entry.start < chunkEnd; entry = byOffset[next]) {
      const slice = chunk.subarray(
        Math.max(entry.start - position, 0),
        Math.min(entry.end, chunkEnd) - position,
      );
      const isWhole =
        entry.start >= position && entry.end <= chunkEnd && entry.entry.uncompressedSize <= CHUNK_BYTES;
      if (isWhole) entry.whole(slice);
      else if (slice.length > 0) await entry.update(slice);
      if (entry.end > chunkEnd) break;
      await entry.finish();
      next++;
    }
    position = chunkEnd;
  }
  for (const entry of byOffset.slice(next)) await entry.finish();
}

/** Wheels and NuGet packages: every entry's local header, data and CRC-32 against the central directory. */
async function verifyZip(filePath: string, tap: ChunkTap): Promise<void> {
  let opened: Awaited<ReturnType<typeof ZipReader.open>>;
  try {
    opened = await ZipReader.open(filePath);
  } catch (err) {
    throw new Damage(`damaged zip archive (${(err as Error).message})`);
  }
  const { zip, reader } = opened;
  const entries: EntryData[] = [];
  try {
    let total = 0;
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) {
      total += entry.uncompressedSize;
      withinUnpackedLimit(total);
      const dataStart = await checkLocalHeader(zip, entry);
      if (entry.generalPurposeBitFlag & DATA_DESCRIPTOR_FLAG) checkDataDescriptor(reader, entry, dataStart);
      entries.push(new EntryData(entry, dataStart));
    }
  } catch (err) {
    throw err instanceof Damage ? err : new Damage(`damaged zip archive (${(err as Error).message})`);
  } finally {
    zip.close();
  }
  // yauzl's own read streams allocate a buffer per read: RSS grew with the file's size.
  await checkEntryData(filePath, entries, tap);
}

/** A decompressor's output read to its end and the tar in it to its end-of-archive marker. */
async function verifyCompressedTar(
  inflated: AsyncIterable<Buffer>,
  kind: string,
  words: (message: string) => string = (message) => message,
): Promise<void> {
  const tar = new TarToEnd();
  let output = 0;
  try {
    for await (const chunk of inflated) {
      output += chunk.length;
      withinUnpackedLimit(output);
      await tar.write(chunk);
    }
  } catch (err) {
    throw err instanceof Damage
      ? err
      : new Damage(`damaged ${kind} stream (${words((err as Error).message)})`);
  }
  await tar.end();
}

/** conda's decompressors (and the bzip2 library) are loaded by the runs that check conda packages only. */
const condaStreams = () => import('./conda.ts');

/** `.conda`: the zip checked as a wheel is, then each `.tar.zst` member to its zstd checksum and tar end. */
async function verifyConda(filePath: string, tap: ChunkTap): Promise<void> {
  await verifyZip(filePath, tap);
  const { zstdDecompressor } = await condaStreams();
  const { zip } = await ZipReader.open(filePath);
  try {
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) {
      if (!entry.fileName.endsWith('.tar.zst')) continue;
      const name = entry.fileName;
      const member = (await zip.openReadStreamPromise(entry)).pipe(zstdDecompressor());
      await verifyCompressedTar(member, 'zstd').catch((err: Error) => {
        throw err instanceof Damage ? new Damage(`${name}: ${err.message}`) : err;
      });
    }
  } finally {
    zip.close();
  }
}

/** `.tar.bz2` conda packages: every bzip2 block to its CRC, the tar to its end. */
async function verifyTarBz2(filePath: string): Promise<void> {
  const { bunzip2 } = await condaStreams();
  // unbzip2-stream's own words for anything but a CRC mismatch say nothing a user can use.
  return verifyCompressedTar(bunzip2(filePath, CHUNK_BYTES), 'bzip2', (message) =>
    /crc/i.test(message) ? 'a CRC does not match the data' : 'cut short or corrupted',
  );
}

/** A file's check by its format; it shows `tap` every byte of the file in order, except for .tar.bz2. */
function verifierFor(file: string): ((filePath: string, tap: ChunkTap) => Promise<void>) | undefined {
  if (/\.(whl|nupkg|snupkg)$/i.test(file)) return verifyZip;
  if (file.endsWith('.gem')) return verifyGem;
  if (/\.(tar\.gz|crate|tgz)$/.test(file)) return verifyTarGz;
  if (file.endsWith('.conda')) return verifyConda;
  if (file.endsWith('.tar.bz2')) return verifyTarBz2;
  return undefined;
}

/** The refusal of a zip with entries its registry cannot read: the file is whole, so not called damaged. */
export function compressionRefusal(file: string, err: UnsupportedCompression): ActionError {
  const registry = file.endsWith('.whl') ? 'PyPI' : 'NuGet';
  return new ActionError(
    `${file}: ${err.message}, and ${registry} accepts only stored and deflated zip entries. Nothing was sent.`,
    {
      cause: `The tool that wrote it compressed with another method (bzip2, LZMA, zstd); ${registry} and the installers that read it take only stored and deflated entries.`,
      fix: 'Rebuild it with the ecosystem’s own build tool (python -m build, dotnet pack), or recompress its entries with deflate.',
    },
  );
}

/**
 * Proves a package file whole before anything is sent: every compressed stream read to its checksum and
 * every archive to its end, in one streaming pass that keeps none of the content. `tap` sees the bytes of
 * that pass (see verifierFor), so the file's digests come from the same read.
 */
export async function verifyIntact(filePath: string, tap: ChunkTap = () => undefined): Promise<void> {
  const file = path.basename(filePath);
  try {
    await verifierFor(file)?.(filePath, tap);
  } catch (err) {
    if (err instanceof UnsupportedCompression) throw compressionRefusal(file, err);
    if (!(err instanceof Damage)) throw err;
    throw new ActionError(`${file}: is damaged: ${err.message}. Nothing was sent.`, {
      cause:
        'The file was cut short or altered after it was built: an interrupted copy, or an artifact upload or download that went wrong.',
      fix: 'Build the file again (or download the artifact again) and check that its size and checksum match what the build wrote.',
    });
  }
}
