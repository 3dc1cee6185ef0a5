import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES } from './action.ts';

/** The project's fixtures of one ecosystem whose names match. */
export const fixtures = (dir: string, pattern: RegExp): string[] =>
  fs
    .readdirSync(path.join(FIXTURES, dir))
    .filter((f) => pattern.test(f))
    .map((f) => path.join(FIXTURES, dir, f));

/** An emulator for one test, closed after it. */
export async function using<T extends { close(): Promise<void> }>(
  start: Promise<T>,
  body: (emulator: T) => Promise<void>,
): Promise<void> {
  const emulator = await start;
  try {
    await body(emulator);
  } finally {
    await emulator.close();
  }
}
