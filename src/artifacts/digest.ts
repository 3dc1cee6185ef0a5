import { createHash } from 'node:crypto';
import type { IHasher } from 'hash-wasm';
import { fileChunks } from '../file-chunks.ts';

export interface Digests {
  size: number;
  sha256: string;
  /** Only where asked for (see digestFile). */
  blake2_256?: string;
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
async function blake2Hasher(): Promise<IHasher> {
  const idle = idleBlake2.pop();
  if (idle) return idle;
  const { createBLAKE2b } = await import('./blake2b.ts');
  return createBLAKE2b(256);
}

/** A file's size and sha256, and with `blake2` its BLAKE2b-256 too, in one streaming read. */
export async function digestFile(path: string, blake2: true): Promise<Required<Digests>>;
export async function digestFile(path: string, blake2: boolean): Promise<Digests>;
export async function digestFile(path: string, blake2: boolean): Promise<Digests> {
  const sha256 = createHash('sha256');
  const blake2b = blake2 ? await blake2Hasher() : undefined;
  try {
    blake2b?.init();
    let size = 0;
    for await (const bytes of fileChunks(path)) {
      size += bytes.length;
      sha256.update(bytes);
      blake2b?.update(bytes);
    }
    const digests: Digests = { size, sha256: sha256.digest('hex') };
    if (blake2b) digests.blake2_256 = blake2b.digest('hex');
    return digests;
  } finally {
    if (blake2b) idleBlake2.push(blake2b);
  }
}
