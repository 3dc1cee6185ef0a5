import fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';

/** Metadata members are small; anything larger is refused rather than inflated (decompression bombs). */
export const MAX_MEMBER_BYTES = 8 * 1024 * 1024;

export class ArchiveError extends Error {}

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

/**
 * Streams a tar (gzipped or not: the parser detects it) and returns the first member `pick` accepts,
 * without reading the rest of the archive into memory.
 */
export function readTarMember(
  path: string,
  pick: (name: string) => boolean,
): Promise<{ name: string; data: Buffer } | undefined> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const source = fs.createReadStream(path);
    const finish = (result: { name: string; data: Buffer } | undefined, error?: Error) => {
      if (settled) return;
      settled = true;
      source.destroy();
      if (error) reject(error);
      else resolve(result);
    };
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        if (settled || entry.type !== 'File' || !pick(entry.path)) {
          entry.resume();
          return;
        }
        if (entry.size > MAX_MEMBER_BYTES) {
          finish(undefined, new ArchiveError(`${entry.path} is larger than ${MAX_MEMBER_BYTES} bytes`));
          return;
        }
        collect(entry as AsyncIterable<Buffer>, MAX_MEMBER_BYTES, entry.path).then(
          (data) => finish({ name: entry.path, data }),
          (error: Error) => finish(undefined, error),
        );
      },
    });
    parser.on('error', (err: Error) => finish(undefined, new ArchiveError(err.message)));
    parser.on('warn', (_code: string, message: string | Error) =>
      finish(undefined, new ArchiveError(typeof message === 'string' ? message : message.message)),
    );
    parser.on('end', () => finish(undefined));
    parser.on('close', () => finish(undefined));
    source.on('error', (err) => finish(undefined, new ArchiveError(err.message)));
    source.pipe(parser);
  });
}

/** Inflates a small gzip member with a hard output limit. */
export function gunzipBounded(data: Buffer, what: string): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: MAX_MEMBER_BYTES });
  } catch (err) {
    throw new ArchiveError(`${what}: ${(err as Error).message}`);
  }
}
