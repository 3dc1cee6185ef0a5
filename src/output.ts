import fs from 'node:fs';
import type { Ci, CiLog, RunEnd } from './ci/ci.ts';
import { addSecret, scrub } from './secrets.ts';
import { commandSafe } from './untrusted.ts';
import { wording } from './wording.ts';

/**
 * Everything the run sends out of the process passes through this module: log lines, the run's end (the
 * summary, the `published` output, the exit status) and the files the command writes. Where it goes belongs
 * to the CI system, which the entry point hands over once with `outputTo`; nothing prints through
 * @actions/core or the console directly. Every string is scrubbed here of every secret the run holds, in
 * every form (secrets.ts), on every CI system: GitHub's masking covers its log, but not the outputs, the
 * summary or files read later. No line printed here starts a workflow command (untrusted.ts). Inputs are named
 * as the run takes them (wording.ts).
 */
let sink: Pick<Ci, 'log' | 'end'> = {
  // Until an entry point names the CI system: plain lines (unit tests that load a module alone).
  log: {
    info: (message) => process.stdout.write(`${message}\n`),
    notice: (message) => process.stdout.write(`${message}\n`),
    warning: (message) => process.stderr.write(`${message}\n`),
    error: (message) => process.stderr.write(`${message}\n`),
    debug: () => {},
    secret: () => {},
    group: (_title, body) => body(),
  },
  end: async () => {},
};

/** Called once, by the entry point, with the CI system it chose. */
export function outputTo(ci: Pick<Ci, 'log' | 'end'>): void {
  sink = ci;
}

/** A message as it may leave the process. */
const shown = (message: string): string => commandSafe(scrub(wording.apply(message)));

export const log: CiLog = {
  info: (message) => sink.log.info(shown(message)),
  notice: (message) => sink.log.notice(shown(message)),
  warning: (message) => sink.log.warning(shown(message)),
  error: (message) => sink.log.error(shown(message)),
  debug: (message) => sink.log.debug(shown(message)),
  /** Scrubbed from everything from now on, and masked with every form where the CI system masks. */
  secret: (value) => {
    for (const form of addSecret(value)) sink.log.secret(form);
  },
  group: (title, body) => sink.log.group(shown(title), body),
};

/** A value of the same shape with every string in it made fit to leave the process. */
function eachString<T>(value: T, fit: (text: string) => string): T {
  if (typeof value === 'string') return fit(value) as T;
  if (Array.isArray(value)) return value.map((v) => eachString(v, fit)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, eachString(v, fit)])) as T;
  }
  return value;
}

/**
 * Writes the summary and the `published` output, and sets the exit status; every field of every entry, the
 * blocks and the failure scrubbed, as the log is (the summary and the outputs outlive the job's masking).
 */
export function endRun(run: RunEnd): Promise<void> {
  return sink.end(eachString(run, (text) => commandSafe(scrub(text))));
}

/** Writes (or appends to) a file the user asked for; throws the file system's error. */
export function writeUserFile(file: string, text: string, append: boolean): void {
  if (append) fs.appendFileSync(file, scrub(text));
  else fs.writeFileSync(file, scrub(text));
}
