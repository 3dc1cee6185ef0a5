import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createBLAKE2b } from 'hash-wasm';

export interface Digests {
  size: number;
  sha256: string;
  blake2_256: string;
}

/**
 * Both digests in one streaming read. BLAKE2b-256 comes from WebAssembly because Node's OpenSSL build
 * refuses BLAKE2b with a 32-byte output.
 */
export async function digestFile(path: string): Promise<Digests> {
  const sha256 = createHash('sha256');
  const blake2 = await createBLAKE2b(256);
  blake2.init();
  let size = 0;
  for await (const chunk of fs.createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    sha256.update(bytes);
    blake2.update(bytes);
  }
  return { size, sha256: sha256.digest('hex'), blake2_256: blake2.digest('hex') };
}
