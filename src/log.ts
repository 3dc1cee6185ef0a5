import type { CiLog } from './ci/ci.ts';
import { wording } from './wording.ts';

/** Until an entry point names the CI system's log: plain lines (unit tests that load a module alone). */
let sink: CiLog = {
  info: (message) => process.stdout.write(`${message}\n`),
  notice: (message) => process.stdout.write(`${message}\n`),
  warning: (message) => process.stderr.write(`${message}\n`),
  error: (message) => process.stderr.write(`${message}\n`),
  debug: () => {},
  secret: () => {},
  group: (_title, body) => body(),
};

/** Called once, by the entry point, with the log of the CI system it chose. */
export function logTo(ciLog: CiLog): void {
  sink = ciLog;
}

/**
 * Every line the tool prints goes through here, never through @actions/core directly: how a log marks
 * warnings, errors, groups and secrets belongs to the CI system the run is on (GitHub's workflow commands
 * would show a secret in clear text anywhere else), which the entry point hands over with `logTo`. Inputs
 * are named as the run takes them (wording.ts).
 */
export const log: CiLog = {
  info: (message) => sink.info(wording.apply(message)),
  notice: (message) => sink.notice(wording.apply(message)),
  warning: (message) => sink.warning(wording.apply(message)),
  error: (message) => sink.error(wording.apply(message)),
  debug: (message) => sink.debug(wording.apply(message)),
  secret: (value) => sink.secret(value),
  group: (title, body) => sink.group(title, body),
};
