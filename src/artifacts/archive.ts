import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Parser } from 'tar/parse';
import type { ReadEntry } from 'tar/read-entry';
import yauzl from 'yauzl';

/** Metadata members are small; anything larger is refused rather than inflated (decompression bombs). */
export const MAX_MEMBER_BYTES = 8 * 1024 * 1024;

export class ArchiveError extends Error {}

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

/** Reads the zip member whose name `pick` selects from the central directory; undefined when none does. */
export function readZipMember(
  path: string,
  pick: (names: string[]) => string | undefined,
): Promise<{ name: string; data: Buffer } | undefined> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: false, strictFileNames: false }, (err, zip) => {
      if (err || !zip) return reject(new ArchiveError(err?.message ?? 'cannot open'));
      const entries = new Map<string, yauzl.Entry>();
      zip.on('entry', (entry: yauzl.Entry) => {
        entries.set(entry.fileName, entry);
        zip.readEntry();
      });
      zip.on('error', (e: Error) => reject(new ArchiveError(e.message)));
      zip.on('end', () => {
        const name = pick([...entries.keys()]);
        const entry = name === undefined ? undefined : entries.get(name);
        if (!name || !entry) {
          zip.close();
          return resolve(undefined);
        }
        try {
          checkZipMethod(name, entry.compressionMethod);
        } catch (error) {
          zip.close();
          return reject(error);
        }
        if (entry.uncompressedSize > MAX_MEMBER_BYTES) {
          zip.close();
          return reject(new ArchiveError(`${name} is larger than ${MAX_MEMBER_BYTES} bytes once unpacked`));
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(new ArchiveError(e?.message ?? 'cannot read member'));
          collect(stream, MAX_MEMBER_BYTES, name).then(
            (data) => {
              zip.close();
              resolve({ name, data });
            },
            (error: Error) => {
              zip.close();
              reject(error);
            },
          );
        });
      });
      zip.readEntry();
    });
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
    const source = fs.createReadStream(path);
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
