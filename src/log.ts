import * as core from '@actions/core';

/**
 * Every line the action prints goes through here, never through @actions/core directly: how a log marks
 * warnings, errors and secrets belongs to the CI system the run is on (GitHub's workflow commands would show
 * a secret in clear text anywhere else).
 */
export const log = {
  info: (message: string): void => core.info(message),
  notice: (message: string): void => core.notice(message),
  warning: (message: string): void => core.warning(message),
  error: (message: string): void => core.error(message),
  debug: (message: string): void => core.debug(message),
  /** Registers a value the log must never show; call it the instant the value exists. */
  secret: (value: string): void => core.setSecret(value),
};
