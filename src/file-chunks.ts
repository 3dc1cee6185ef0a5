import fs from 'node:fs';

/** Large enough that the cost per read vanishes next to hashing and sending a chunk. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * Package files are read with synchronous reads. They were just built or downloaded, so every read is a
 * page-cache copy of well under a millisecond, while an asynchronous read costs a round trip through libuv's
 * thread pool several times that (npm run bench: a plan of 20 wheels spent more in those round trips than
 * in reading and hashing). A read never waits long enough to hold up the uploads in flight.
 */
const RING = 2;

/**
 * Chunk buffers of finished reads, reused by the next file. Fresh buffers per chunk made peak RSS grow
 * with the file size (tens of MiB of garbage the GC frees late), and every fresh page costs a page fault.
 */
const spare: Buffer[] = [];

/**
 * Sees every chunk as it is read, in order: a reader that checks a file hashes it in the same read (the
 * integrity pass and the digests).
 */
export type ChunkTap = (chunk: Uint8Array) => void;

/**
 * A file's bytes in chunks, read into a ring of two reused buffers. A chunk stays valid until the consumer
 * asks for the second chunk after it, so a consumer may keep one chunk in flight (a socket write) while it
 * takes the next. A consumer that keeps chunks longer (a parser, a stream pipeline) takes ownedFileChunks.
 */
export async function* fileChunks(path: string, tap?: ChunkTap): AsyncGenerator<Uint8Array, void, undefined> {
  const fd = fs.openSync(path, 'r');
  const ring = Array.from({ length: RING }, () => spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES));
  try {
    for (let i = 0; ; i++) {
      const buffer = ring[i % RING] as Buffer;
      const bytesRead = fs.readSync(fd, buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) return;
      const chunk = buffer.subarray(0, bytesRead);
      tap?.(chunk);
      yield chunk;
    }
  } finally {
    fs.closeSync(fd);
    spare.push(...ring.slice(0, Math.max(0, RING - spare.length)));
  }
}

/** A file's bytes in chunks the consumer owns: each a buffer of its own, no larger than what is left. */
export async function* ownedFileChunks(
  path: string,
  tap?: ChunkTap,
): AsyncGenerator<Buffer, void, undefined> {
  const fd = fs.openSync(path, 'r');
  try {
    for (let left = fs.fstatSync(fd).size; ; ) {
      const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(CHUNK_BYTES, left)));
      const bytesRead = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      left -= bytesRead;
      const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      tap?.(chunk);
      yield chunk;
    }
  } finally {
    fs.closeSync(fd);
  }
}
