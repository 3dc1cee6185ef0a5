/**
 * Temporary folders for tests, removed when the test file's process exits (each file runs in a process of its
 * own), whether its tests passed or failed: a run of `npm test` leaves nothing behind in the system's temp
 * folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder named `<prefix><random>` in the system's temp folder, gone when this process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
