// conda packages, as conda/rattler's rattler_package_streaming reads them: a `.conda` is a zip of
// metadata.json, info-<stem>.tar.zst and pkg-<stem>.tar.zst (CEP 2); a `.tar.bz2` is one bzip2-compressed tar
// whose info/ folder comes first. Either way info/index.json names the package, version, build and subdir.
import path from 'node:path';
import { PassThrough, Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { Parser } from 'tar/parse';
import type { ReadEntry } from 'tar/read-entry';
import unbzip2 from 'unbzip2-stream';
import { ActionError } from '../errors.ts';
import { ownedFileChunks } from '../file-chunks.ts';
import { ArchiveError, MAX_MEMBER_BYTES, readZipMember } from './archive.ts';

export interface CondaSpec {
  name: string;
  version: string;
  build: string;
  /** The platform folder of the channel the file goes to: noarch, linux-64, osx-arm64… */
  subdir: string;
  format: 'conda' | 'tar.bz2';
}

const INDEX_JSON = 'info/index.json';
/** conda's package names: lower case letters, digits and `._-` (conda-build refuses others). */
const NAME = /^[a-z0-9_][a-z0-9_.-]*$/;
/** Versions and build strings never hold '-' (it separates them in the file name) nor spaces. */
const VERSION = /^[A-Za-z0-9_.!+*]+$/;
const BUILD = /^[A-Za-z0-9_.+]+$/;
const SUBDIR = /^[a-z0-9_]+(-[a-z0-9_]+)?$/;

export const condaFormat = (file: string): CondaSpec['format'] | undefined =>
  file.endsWith('.conda') ? 'conda' : file.endsWith('.tar.bz2') ? 'tar.bz2' : undefined;

/** zstd came to Node's zlib in 22.15 / 23.8 (the action runs on Node 24); typed here, as @types/node 20 lacks it. */
const zstd = zlib as unknown as { createZstdDecompress?: () => Transform };

export function zstdDecompressor(): Transform {
  if (!zstd.createZstdDecompress)
    throw new Error(
      `this Node.js (${process.version}) has no zstd; .conda files need Node.js 22.15 or later`,
    );
  return zstd.createZstdDecompress();
}

/** The tar member named `wanted`, read whole (bounded) from a stream of tar bytes; the read stops there. */
async function tarMember(chunks: AsyncIterable<Buffer>, wanted: string): Promise<Buffer | undefined> {
  let found: Buffer | undefined;
  let failure: Error | undefined;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (entry.path !== wanted || entry.type !== 'File') return entry.resume();
      if (entry.size > MAX_MEMBER_BYTES) {
        failure = new ArchiveError(`${entry.path} is larger than ${MAX_MEMBER_BYTES} bytes`);
        return entry.resume();
      }
      const parts: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => parts.push(chunk));
      entry.on('end', () => {
        found = Buffer.concat(parts);
      });
    },
  });
  parser.on('error', (err: Error) => {
    failure ??= new ArchiveError(err.message);
  });
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.length;
    if (found || failure) break;
    // info/ comes first; a reader that has not met it after this much is reading no conda package.
    if (total > 16 * MAX_MEMBER_BYTES) break;
    parser.write(chunk);
  }
  if (!found && !failure) {
    const ended = new Promise<void>((resolve) => {
      parser.once('end', resolve);
      parser.once('error', () => resolve());
    });
    parser.end();
    await ended;
  }
  if (failure) throw failure;
  return found;
}

/** `.conda`: info/index.json from the info-*.tar.zst member. */
async function indexOfConda(filePath: string): Promise<Buffer | undefined> {
  const metadata = await readZipMember(filePath, (names) => names.find((n) => n === 'metadata.json'));
  const version =
    metadata && (JSON.parse(metadata.data.toString('utf8')) as { conda_pkg_format_version?: unknown });
  if (version?.conda_pkg_format_version !== 2)
    throw new ArchiveError('metadata.json does not say conda_pkg_format_version 2');
  const info = await readZipMember(filePath, (names) =>
    names.find((n) => n.startsWith('info-') && n.endsWith('.tar.zst') && !n.includes('/')),
  );
  if (!info) throw new ArchiveError('it holds no info-*.tar.zst member');
  const inflated = zstdDecompressor();
  inflated.end(info.data);
  return tarMember(inflated as AsyncIterable<Buffer>, INDEX_JSON);
}

/**
 * A bzip2 file's content as a stream; unbzip2-stream checks every block's and the stream's CRC and fails a
 * stream cut short. It is an old-style (through) stream: its output is passed on with back-pressure.
 */
export function bunzip2(filePath: string, highWaterMark?: number): Readable {
  const source = Readable.from(ownedFileChunks(filePath), { objectMode: false });
  const decoder = source.pipe(unbzip2());
  const inflated = new PassThrough(highWaterMark ? { highWaterMark } : {});
  source.on('error', (err) => inflated.destroy(err));
  decoder.on('error', (err: Error) => inflated.destroy(err));
  decoder.on('data', (chunk: Buffer) => {
    if (inflated.write(chunk)) return;
    decoder.pause();
    inflated.once('drain', () => decoder.resume());
  });
  decoder.on('end', () => inflated.end());
  inflated.on('close', () => source.destroy());
  return inflated;
}

/** `.tar.bz2`: info/index.json from the tar, read until it is found. */
async function indexOfTarBz2(filePath: string): Promise<Buffer | undefined> {
  const inflated = bunzip2(filePath);
  try {
    return await tarMember(inflated, INDEX_JSON);
  } finally {
    inflated.destroy();
  }
}

function field(index: Record<string, unknown>, key: string, pattern: RegExp, file: string): string {
  const value = index[key];
  if (typeof value === 'string' && pattern.test(value)) return value;
  throw new ActionError(
    `${file}: info/index.json has no valid '${key}' (${JSON.stringify(value) ?? 'missing'}).`,
    {
      cause: 'The package was not built by a conda build tool, or its index.json was edited.',
      fix: 'Build the package again with rattler-build or conda-build.',
    },
  );
}

/** The package's identity from info/index.json, checked against the file's name as conda channels require. */
export async function readConda(filePath: string): Promise<CondaSpec> {
  const file = path.basename(filePath);
  const format = condaFormat(file);
  if (!format) throw new Error(`not a conda package: ${file}`);
  let raw: Buffer | undefined;
  try {
    raw = await (format === 'conda' ? indexOfConda(filePath) : indexOfTarBz2(filePath));
  } catch (err) {
    throw new ActionError(`${file}: is not a readable conda package (${(err as Error).message}).`, {
      cause: 'The file is damaged, or it is not a conda package built by rattler-build or conda-build.',
      fix: 'Build the package again and publish the file the build wrote.',
    });
  }
  if (!raw) {
    throw new ActionError(`${file}: holds no ${INDEX_JSON}.`, {
      cause: 'Every conda package carries info/index.json; this file was not made by a conda build tool.',
      fix: 'Build the package with rattler-build or conda-build.',
    });
  }
  let index: Record<string, unknown>;
  try {
    index = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ActionError(`${file}: ${INDEX_JSON} is not valid JSON (${(err as Error).message}).`, {
      fix: 'Build the package again with rattler-build or conda-build.',
    });
  }
  const spec: CondaSpec = {
    name: field(index, 'name', NAME, file),
    version: field(index, 'version', VERSION, file),
    build: field(index, 'build', BUILD, file),
    subdir: field(index, 'subdir', SUBDIR, file),
    format,
  };
  const expected = `${spec.name}-${spec.version}-${spec.build}.${format}`;
  if (file !== expected) {
    throw new ActionError(`${file}: its name does not match its info/index.json, which says ${expected}.`, {
      cause:
        'conda channels store and resolve a package by <name>-<version>-<build>; a renamed file would be listed under a name installers do not ask for.',
      fix: `Publish the file under the name the build gave it (${expected}).`,
    });
  }
  return spec;
}
