import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';

export interface WheelSpec {
  name: string;
  version: string;
  metadataVersion?: string;
  /** Extra METADATA headers in order, repeats allowed (Classifier, Requires-Dist, Project-URL, ...). */
  extraHeaders?: [string, string][];
  /** METADATA body. */
  description?: string;
  /** Python tag of the file name and WHEEL, default py3. */
  pyTag?: string;
  /** Size of an incompressible payload file, for big uploads. */
  padBytes?: number;
  /** Every entry with ZIP64 extra fields, as writers of large wheels produce them (torch, tensorflow). */
  zip64?: boolean;
}

// Fixed timestamps and pseudo-random bytes: the same spec always gives the same file, so a re-upload is identical.
const MTIME = new Date('2024-01-01T00:00:00Z');

/** Deterministic incompressible bytes: AES-CTR of zeros, cheap even for hundreds of MiB. */
function padding(size: number): Readable {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16));
  const chunk = Buffer.alloc(1024 * 1024);
  return Readable.from(
    (function* () {
      for (let left = size; left > 0; left -= chunk.length)
        yield cipher.update(chunk.subarray(0, Math.min(left, chunk.length)));
    })(),
  );
}

/** RECORD's hash form: urlsafe base64 sha256 without padding. */
async function recordHash(data: Buffer | Readable): Promise<string> {
  const hash = createHash('sha256');
  if (Buffer.isBuffer(data)) hash.update(data);
  else for await (const chunk of data) hash.update(chunk as Buffer);
  return `sha256=${hash.digest('base64url')}`;
}

/** Writes a valid wheel (module, dist-info METADATA, WHEEL, RECORD) into `dir` and returns its path. */
export async function makeWheel(dir: string, spec: WheelSpec): Promise<string> {
  const stem = spec.name.replace(/[-_.]+/g, '_').toLowerCase();
  const pyTag = spec.pyTag ?? 'py3';
  const distInfo = `${stem}-${spec.version}.dist-info`;
  const metadata = [
    `Metadata-Version: ${spec.metadataVersion ?? '2.1'}`,
    `Name: ${spec.name}`,
    `Version: ${spec.version}`,
    ...(spec.extraHeaders ?? []).map(([key, value]) => `${key}: ${value}`),
  ].join('\n');
  const files: [string, Buffer][] = [
    [`${stem}/__init__.py`, Buffer.from(`__version__ = ${JSON.stringify(spec.version)}\n`)],
    [
      `${distInfo}/METADATA`,
      Buffer.from(`${metadata}\n${spec.description === undefined ? '' : `\n${spec.description}`}`),
    ],
    [
      `${distInfo}/WHEEL`,
      Buffer.from(
        `Wheel-Version: 1.0\nGenerator: trusted-publish-tests\nRoot-Is-Purelib: true\nTag: ${pyTag}-none-any\n`,
      ),
    ],
  ];
  const record = await Promise.all(
    files.map(async ([path, data]) => `${path},${await recordHash(data)},${data.length}`),
  );
  const zip = new ZipFile();
  const zip64 = { forceZip64Format: spec.zip64 === true };
  for (const [path, data] of files) zip.addBuffer(data, path, { mtime: MTIME, ...zip64 });
  if (spec.padBytes) {
    const padPath = `${stem}/pad.bin`;
    record.push(`${padPath},${await recordHash(padding(spec.padBytes))},${spec.padBytes}`);
    zip.addReadStream(padding(spec.padBytes), padPath, {
      mtime: MTIME,
      compress: false,
      size: spec.padBytes,
    });
  }
  record.push(`${distInfo}/RECORD,,`);
  zip.addBuffer(Buffer.from(`${record.join('\n')}\n`), `${distInfo}/RECORD`, { mtime: MTIME, ...zip64 });
  zip.end({ forceZip64Format: spec.zip64 === true, comment: '' });
  const path = join(dir, `${stem}-${spec.version}-${pyTag}-none-any.whl`);
  await pipeline(zip.outputStream, createWriteStream(path));
  return path;
}
