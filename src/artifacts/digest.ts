import { createHash } from 'node:crypto';
import type { IHasher } from 'hash-wasm';
import { fileChunks } from '../file-chunks.ts';

export interface Digests {
  size: number;
  sha256: string;
}

/** Size and sha256 of the bytes it is shown, in order: a reader's ChunkTap. */
export class DigestTap {
  private readonly sha256 = createHash('sha256');
  private size = 0;

  readonly update = (bytes: Uint8Array): void => {
    this.size += bytes.length;
    this.sha256.update(bytes);
  };

  /** The digests, when the bytes shown were the whole file (`size` bytes); undefined otherwise. */
  digestsOf(size: number): Digests | undefined {
    return this.size === size ? { size, sha256: this.sha256.digest('hex') } : undefined;
  }
}

/** A file's size and sha256 in one streaming read. */
export async function digestFile(path: string): Promise<Digests> {
  const tap = new DigestTap();
  let size = 0;
  for await (const bytes of fileChunks(path, tap.update)) size += bytes.length;
  return tap.digestsOf(size) as Digests;
}

/**
 * Idle BLAKE2b hashers. Each is a WebAssembly instance with its own memory; one per file made a release of
 * many files pay for creating and collecting them.
 */
const idleBlake2: IHasher[] = [];

/**
 * BLAKE2b-256 comes from WebAssembly because Node's OpenSSL build refuses BLAKE2b with a 32-byte output. It
 * is loaded and compiled on first use: only PyPI's upload form and print-hash need it.
 */
let blake2Module: Promise<typeof import('./blake2b.ts')> | undefined;

/**
 * Starts loading and compiling the BLAKE2b hasher, which takes several milliseconds: called while requests
 * are in flight, it is ready when the first upload form needs it. V8 compiles WebAssembly off the main thread.
 */
export function loadBlake2(): void {
  if (blake2Module) return;
  blake2Module = import('./blake2b.ts');
  // Whoever needs the hasher awaits it and sees a failure; the early start alone must not crash the run.
  blake2Module.catch(() => undefined);
}

async function blake2Hasher(): Promise<IHasher> {
  const idle = idleBlake2.pop();
  if (idle) return idle;
  loadBlake2();
  const { createBLAKE2b } = await (blake2Module as Promise<typeof import('./blake2b.ts')>);
  return createBLAKE2b(256);
}

/** Each file's BLAKE2b-256, computed once: a retried upload sends the same form again. */
const blake2ByPath = new Map<string, Promise<string>>();

/** A file's BLAKE2b-256 (hex), read when first asked for. */
export function blake2File(path: string): Promise<string> {
  let digest = blake2ByPath.get(path);
  if (!digest) {
    digest = hashBlake2(path);
    blake2ByPath.set(path, digest);
  }
  return digest;
}

async function hashBlake2(path: string): Promise<string> {
  const hasher = await blake2Hasher();
  try {
    hasher.init();
    for await (const bytes of fileChunks(path)) hasher.update(bytes);
    return hasher.digest('hex');
  } finally {
    idleBlake2.push(hasher);
  }
}
