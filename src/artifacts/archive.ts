import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { Parser } from 'tar/parse';
import type { ReadEntry } from 'tar/read-entry';
import yauzl from 'yauzl';
import { ownedFileChunks } from '../file-chunks.ts';

/** Metadata members are small; anything larger is refused rather than inflated (decompression bombs). */
export const MAX_MEMBER_BYTES = 8 * 1024 * 1024;

export class ArchiveError extends Error {}

/** Whether the file starts as a gzip stream does; a plain tar would have no checksum to catch truncation. */
export function isGzipFile(path: string): boolean {
  const head = Buffer.alloc(2);
  const fd = fs.openSync(path, 'r');
  try {
    return fs.readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Zip compression methods by number (APPNOTE 4.4.5), for messages. */
const ZIP_METHODS: Record<number, string> = { 9: 'deflate64', 12: 'bzip2', 14: 'LZMA', 93: 'zstd', 95: 'xz' };

/** A zip entry compressed with a method other than stored (0) or deflated (8): whole, but not for a registry. */
export class UnsupportedCompression extends ArchiveError {
  constructor(entry: string, method: number) {
    super(`entry ${entry} is compressed with ${ZIP_METHODS[method] ?? `method ${method}`}`);
  }
}

/** Throws UnsupportedCompression unless the entry is stored or deflated, the methods every registry reads. */
export function checkZipMethod(entry: string, method: number): void {
  if (method !== 0 && method !== 8) throw new UnsupportedCompression(entry, method);
}

async function collect(stream: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      size += chunk.length;
      if (size > limit) throw new ArchiveError(`${what} is larger than ${limit} bytes once unpacked`);
      chunks.push(chunk);
    }
  } catch (err) {
    throw err instanceof ArchiveError ? err : new ArchiveError((err as Error).message);
  }
  return Buffer.concat(chunks);
}

const BLOCK_BYTES = 64 * 1024;
const CACHED_BLOCKS = 8;

/** Blocks of closed zips, reused by the next one: a fresh buffer costs a page fault per page touched. */
const spareBlocks: Buffer[] = [];

/** The whole buffer of a block that ends early (the end of the file), to read another block into. */
const wholeBlock = (block: Buffer): Buffer => Buffer.from(block.buffer, block.byteOffset, BLOCK_BYTES);

/**
 * A zip read through a few cached blocks, with synchronous reads (see file-chunks.ts for why). yauzl reads
 * each central directory record and each local header with a read of its own: a wheel of 3000 entries took
 * half a second of round trips. Served from cached blocks, it takes a few reads.
 */
export class ZipReader extends yauzl.RandomAccessReader {
  /** Cached blocks by index, each the bytes read into a buffer of its own of BLOCK_BYTES. */
  private readonly blocks = new Map<number, Buffer>();
  private closed = false;

  private constructor(
    private readonly fd: number,
    readonly size: number,
  ) {
    super();
  }

  /** Opens a zip file: yauzl's reader over it, whose entries come one at a time (lazyEntries). */
  static async open(path: string): Promise<{ zip: yauzl.ZipFile; reader: ZipReader }> {
    const fd = fs.openSync(path, 'r');
    const reader = new ZipReader(fd, fs.fstatSync(fd).size);
    try {
      const zip = await yauzl.fromRandomAccessReaderPromise(reader, reader.size, {
        lazyEntries: true,
        autoClose: false,
        strictFileNames: false,
      });
      return { zip, reader };
    } catch (err) {
      reader.release();
      throw new ArchiveError((err as Error).message);
    }
  }

  /** Up to `length` bytes at `position`, copied into `into` at `offset`; fewer only at the end of the file. */
  private copy(into: Buffer, offset: number, position: number, length: number): number {
    let copied = 0;
    while (copied < length) {
      const at = position + copied;
      const block = this.block(Math.floor(at / BLOCK_BYTES));
      const n = block.copy(into, offset + copied, at % BLOCK_BYTES, (at % BLOCK_BYTES) + length - copied);
      if (n === 0) break;
      copied += n;
    }
    return copied;
  }

  /** Up to `length` bytes at `position`: fewer only at the end of the file. */
  bytesAt(position: number, length: number): Buffer {
    const bytes = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.size - position)));
    return bytes.subarray(0, this.copy(bytes, 0, position, bytes.length));
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ): void {
    let error: Error | null;
    try {
      error =
        this.copy(buffer, offset, position, length) === length ? null : new Error('unexpected end of file');
    } catch (err) {
      error = err as Error;
    }
    // yauzl expects its callbacks later, as from a disk read.
    queueMicrotask(() => callback(error));
  }

  /** An entry's bytes, a block at a time. */
  override _readStreamForRange(start: number, end: number): Readable {
    const reader = this;
    return Readable.from(
      (function* () {
        for (let at = start; at < end; at += BLOCK_BYTES)
          yield reader.bytesAt(at, Math.min(BLOCK_BYTES, end - at));
      })(),
      { objectMode: false },
    );
  }

  override close(callback: (err: Error | null) => void): void {
    this.release();
    queueMicrotask(() => callback(null));
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
    const buffers = [...this.blocks.values()].map(wholeBlock);
    spareBlocks.push(...buffers.slice(0, Math.max(0, CACHED_BLOCKS - spareBlocks.length)));
    this.blocks.clear();
  }

  private block(index: number): Buffer {
    const cached = this.blocks.get(index);
    if (cached) return cached;
    let buffer: Buffer | undefined;
    const oldest = this.blocks.keys().next();
    if (this.blocks.size >= CACHED_BLOCKS && !oldest.done) {
      buffer = wholeBlock(this.blocks.get(oldest.value) as Buffer);
      this.blocks.delete(oldest.value);
    }
    buffer ??= spareBlocks.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES);
    const block = buffer.subarray(0, fs.readSync(this.fd, buffer, 0, BLOCK_BYTES, index * BLOCK_BYTES));
    this.blocks.set(index, block);
    return block;
  }
}

/** Reads the zip member whose name `pick` selects from the central directory; undefined when none does. */
export async function readZipMember(
  path: string,
  pick: (names: string[]) => string | undefined,
): Promise<{ name: string; data: Buffer } | undefined> {
  const { zip, reader } = await ZipReader.open(path);
  try {
    const entries = new Map<string, yauzl.Entry>();
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip))
      entries.set(entry.fileName, entry);
    const name = pick([...entries.keys()]);
    const entry = name === undefined ? undefined : entries.get(name);
    if (!name || !entry) return undefined;
    return { name, data: await memberData(zip, reader, entry) };
  } catch (err) {
    throw err instanceof ArchiveError ? err : new ArchiveError((err as Error).message);
  } finally {
    zip.close();
  }
}

/**
 * A member small enough to hold (MAX_MEMBER_BYTES), read from the cached blocks and inflated in one call.
 * yauzl's read stream inflates through zlib's thread pool, a round trip per chunk: for the few KiB of a
 * METADATA that cost more than the rest of reading the wheel. Its checks are kept: no encryption, a stored
 * or deflated entry, data within the file, and exactly the size the central directory gives.
 */
async function memberData(zip: yauzl.ZipFile, reader: ZipReader, entry: yauzl.Entry): Promise<Buffer> {
  const name = entry.fileName;
  if (entry.isEncrypted()) throw new ArchiveError(`${name} is encrypted`);
  checkZipMethod(name, entry.compressionMethod);
  if (entry.uncompressedSize > MAX_MEMBER_BYTES)
    throw new ArchiveError(`${name} is larger than ${MAX_MEMBER_BYTES} bytes once unpacked`);
  // Its packed bytes are held whole too: deflate grows data by an eighth at worst, so twice is never valid.
  if (entry.compressedSize > 2 * MAX_MEMBER_BYTES)
    throw new ArchiveError(`${name} is larger than ${2 * MAX_MEMBER_BYTES} bytes packed`);
  const { fileDataStart } = await zip.readLocalFileHeaderPromise(entry, { minimal: true });
  const raw = reader.bytesAt(fileDataStart, entry.compressedSize);
  if (raw.length !== entry.compressedSize) throw new ArchiveError(`${name} is cut short`);
  let data = raw;
  if (entry.compressionMethod === 8) {
    try {
      data = inflateRawSync(raw, { maxOutputLength: Math.max(entry.uncompressedSize, 1) });
    } catch (err) {
      const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw new ArchiveError(
        tooLarge ? `${name} unpacks to more bytes than it says` : (err as Error).message,
      );
    }
  }
  if (data.length !== entry.uncompressedSize)
    throw new ArchiveError(
      `${name} unpacks to ${data.length} bytes, the central directory says ${entry.uncompressedSize}`,
    );
  return data;
}

/** The next central directory entry, or undefined after the last. */
export function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
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

export interface TarScan {
  /** Members read whole (bounded by MAX_MEMBER_BYTES). */
  read: Map<string, Buffer>;
  /** sha256 hex of members streamed through the hash. */
  sha256: Map<string, string>;
}

/**
 * Streams a tar (gzipped or not: the parser detects it). `choose` says per member whether to read it,
 * hash it or pass over it; `enough` stops the scan early once the wanted members are in.
 */
export function scanTar(
  path: string,
  choose: (name: string) => 'read' | 'sha256' | undefined,
  enough: (scan: TarScan) => boolean = () => false,
): Promise<TarScan> {
  const scan: TarScan = { read: new Map(), sha256: new Map() };
  return new Promise((resolve, reject) => {
    let settled = false;
    const pending: Promise<void>[] = [];
    const source = Readable.from(ownedFileChunks(path), { objectMode: false });
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      source.destroy();
      if (error) reject(error);
      else resolve(scan);
    };
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const how = settled || entry.type !== 'File' ? undefined : choose(entry.path);
        if (how === 'read') {
          if (entry.size > MAX_MEMBER_BYTES) return finish(new ArchiveError(`${entry.path} is too large`));
          const reading = collect(entry as AsyncIterable<Buffer>, MAX_MEMBER_BYTES, entry.path).then(
            (data) => {
              scan.read.set(entry.path, data);
              if (enough(scan)) finish();
            },
          );
          pending.push(reading.catch((err: Error) => finish(err)));
        } else if (how === 'sha256') {
          const hash = createHash('sha256');
          entry.on('data', (chunk: Buffer) => hash.update(chunk));
          entry.on('end', () => scan.sha256.set(entry.path, hash.digest('hex')));
        } else {
          entry.resume();
        }
      },
    });
    parser.on('error', (err: Error) => finish(new ArchiveError(err.message)));
    parser.on('end', () => Promise.all(pending).then(() => finish()));
    source.on('error', (err) => finish(new ArchiveError(err.message)));
    source.pipe(parser);
  });
}

/** The first tar member `pick` accepts, read whole; the scan stops there. */
export async function readTarMember(
  path: string,
  pick: (name: string) => boolean,
): Promise<{ name: string; data: Buffer } | undefined> {
  const scan = await scanTar(
    path,
    (name) => (pick(name) ? 'read' : undefined),
    (s) => s.read.size > 0,
  );
  const [first] = scan.read;
  return first && { name: first[0], data: first[1] };
}

/** Inflates a small gzip member with a hard output limit. */
export function gunzipBounded(data: Buffer, what: string): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: MAX_MEMBER_BYTES });
  } catch (err) {
    throw new ArchiveError(`${what}: ${(err as Error).message}`);
  }
}
