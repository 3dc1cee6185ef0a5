import type { CiLog } from './ci/ci.ts';
import { ci } from './ci/index.ts';

/**
 * Every line the tool prints goes through here, never through @actions/core directly: how a log marks
 * warnings, errors, groups and secrets belongs to the CI system the run is on (GitHub's workflow commands
 * would show a secret in clear text anywhere else).
 */
export const log: CiLog = ci.log;
