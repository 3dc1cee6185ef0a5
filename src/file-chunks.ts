import fs from 'node:fs/promises';

/** Large enough that the cost per read vanishes next to hashing and sending a chunk. */
export const CHUNK_BYTES = 1024 * 1024;
const RING = 3;

/**
 * Chunk buffers of finished reads, reused by the next file. Fresh buffers per chunk made peak RSS grow
 * with the file size (tens of MiB of garbage the GC frees late); with reuse it stays flat.
 */
const spare: Buffer[] = [];

/**
 * A file's bytes in chunks, read ahead into a ring of three buffers: the next chunk is read from disk while
 * the consumer hashes or sends this one. A chunk stays valid until the consumer asks for the second chunk
 * after it, so a consumer may keep one chunk in flight (a socket write) while it takes the next.
 */
export async function* fileChunks(path: string): AsyncGenerator<Uint8Array, void, undefined> {
  const file = await fs.open(path, 'r');
  const ring = Array.from({ length: RING }, () => spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES));
  let reading: Promise<{ bytesRead: number; buffer: Buffer }> | undefined;
  try {
    for (let i = 0; ; i++) {
      reading ??= file.read(ring[i % RING] as Buffer, 0, CHUNK_BYTES, null);
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) return;
      reading = file.read(ring[(i + 1) % RING] as Buffer, 0, CHUNK_BYTES, null);
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    // A consumer that stops early leaves a read under way; the buffers are only free once it is done.
    await reading?.catch(() => undefined);
    await file.close();
    spare.push(...ring.slice(0, Math.max(0, RING - spare.length)));
  }
}
