import type { CiLog } from './ci/ci.ts';
import { ci } from './ci/index.ts';
import { wording } from './wording.ts';

/**
 * Every line the tool prints goes through here, never through @actions/core directly: how a log marks
 * warnings, errors, groups and secrets belongs to the CI system the run is on (GitHub's workflow commands
 * would show a secret in clear text anywhere else). Inputs are named as the run takes them (wording.ts).
 */
export const log: CiLog = {
  ...ci.log,
  info: (message) => ci.log.info(wording.apply(message)),
  notice: (message) => ci.log.notice(wording.apply(message)),
  warning: (message) => ci.log.warning(wording.apply(message)),
  error: (message) => ci.log.error(wording.apply(message)),
  debug: (message) => ci.log.debug(wording.apply(message)),
};
