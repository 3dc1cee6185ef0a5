import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CHUNK_BYTES, fileChunks } from '../../src/file-chunks.ts';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-chunks-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file whose every chunk is filled with its own index, so a chunk overwritten too early shows. */
function patterned(name: string, size: number): string {
  const file = path.join(dir, name);
  const data = Buffer.alloc(size);
  for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
    data.fill(offset / CHUNK_BYTES + 1, offset, Math.min(size, offset + CHUNK_BYTES));
  }
  fs.writeFileSync(file, data);
  return file;
}

async function readAll(file: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of fileChunks(file)) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

describe('fileChunks', () => {
  it('yields exactly the bytes of the file, whatever its size', async () => {
    for (const size of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5]) {
      const file = patterned(`size-${size}`, size);
      assert.ok((await readAll(file)).equals(fs.readFileSync(file)), `size ${size}`);
    }
  });

  it('keeps a chunk intact while the consumer takes the next one (one chunk in flight)', async () => {
    const chunks = fileChunks(patterned('four', 4 * CHUNK_BYTES));
    let previous: Uint8Array | undefined;
    for (let index = 1; index <= 4; index++) {
      const { value, done } = await chunks.next();
      assert.equal(done, false);
      assert.ok(value?.every((byte) => byte === index));
      // The chunk before is still unchanged once the read ahead of the next one has landed.
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(previous?.every((byte) => byte === index - 1) ?? true);
      previous = value;
    }
    assert.equal((await chunks.next()).done, true);
  });

  it('closes the file when the consumer stops early, and the next file reads clean', async () => {
    const big = patterned('big', 5 * CHUNK_BYTES);
    for await (const chunk of fileChunks(big)) {
      assert.equal(chunk[0], 1);
      break;
    }
    const small = patterned('small', 10);
    assert.ok((await readAll(small)).equals(fs.readFileSync(small)));
    // Deleting works on every platform only once nothing holds the file open.
    fs.rmSync(big);
  });
});
