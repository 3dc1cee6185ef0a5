import { createHash } from 'node:crypto';
import { createBLAKE2b, type IHasher } from 'hash-wasm';
import { fileChunks } from '../file-chunks.ts';

export interface Digests {
  size: number;
  sha256: string;
  blake2_256: string;
}

/**
 * Idle BLAKE2b hashers. Each is a WebAssembly instance with its own memory; one per file made a release of
 * many files pay for creating and collecting them.
 */
const idleBlake2: IHasher[] = [];

/**
 * Both digests in one streaming read. BLAKE2b-256 comes from WebAssembly because Node's OpenSSL build
 * refuses BLAKE2b with a 32-byte output.
 */
export async function digestFile(path: string): Promise<Digests> {
  const sha256 = createHash('sha256');
  const blake2 = idleBlake2.pop() ?? (await createBLAKE2b(256));
  try {
    blake2.init();
    let size = 0;
    for await (const bytes of fileChunks(path)) {
      size += bytes.length;
      sha256.update(bytes);
      blake2.update(bytes);
    }
    return { size, sha256: sha256.digest('hex'), blake2_256: blake2.digest('hex') };
  } finally {
    idleBlake2.push(blake2);
  }
}
