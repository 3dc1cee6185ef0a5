import fs from 'node:fs';
import type { Ci, CiLog, RunEnd } from './ci/ci.ts';
import { wording } from './wording.ts';

/**
 * Everything the run sends out of the process passes through this module: log lines, the run's end (the
 * summary, the `published` output, the exit status) and the files the command writes. Where it goes belongs
 * to the CI system, which the entry point hands over once with `outputTo`; nothing prints through
 * @actions/core or the console directly (GitHub's workflow commands would show a secret in clear text
 * anywhere else). Inputs are named as the run takes them (wording.ts).
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

export const log: CiLog = {
  info: (message) => sink.log.info(wording.apply(message)),
  notice: (message) => sink.log.notice(wording.apply(message)),
  warning: (message) => sink.log.warning(wording.apply(message)),
  error: (message) => sink.log.error(wording.apply(message)),
  debug: (message) => sink.log.debug(wording.apply(message)),
  secret: (value) => sink.log.secret(value),
  group: (title, body) => sink.log.group(title, body),
};

/** Writes the summary and the `published` output, and sets the exit status. */
export function endRun(run: RunEnd): Promise<void> {
  return sink.end(run);
}

/** Writes (or appends to) a file the user asked for; throws the file system's error. */
export function writeUserFile(file: string, text: string, append: boolean): void {
  if (append) fs.appendFileSync(file, text);
  else fs.writeFileSync(file, text);
}
