import { log } from './output.ts';

/**
 * How a cancelled run ends in time. GitHub's runner cancels a step with SIGINT, sends SIGTERM 7.5 s later and
 * kills the process 2.5 s after that (actions/runner, ProcessInvoker); GitLab sends SIGTERM. Within the first
 * 7.5 s the run lets the uploads under way finish (IN_FLIGHT_GRACE_MS), revokes every token it minted (each
 * revocation bounded by CLEANUP_REQUEST_MS) and writes what went through.
 */
export const IN_FLIGHT_GRACE_MS = 3_000;
export const CLEANUP_REQUEST_MS = 2_000;

/**
 * The run's cancellation, as every step sees it: `stop` at the first signal (nothing new starts), `cut` when
 * the grace of requests under way is over. A second signal (GitHub's SIGTERM, a second Ctrl-C) ends the grace
 * at once but not the cleanup: the revocations and the report still happen, which is all that is left to do.
 */
export class Cancellation {
  private readonly stopping = new AbortController();
  private readonly cutting = new AbortController();
  /** Aborted at the first signal: no upload, exchange or wait starts after it. */
  readonly stop: AbortSignal = this.stopping.signal;
  /** Aborted when the requests under way have had their grace: they are cut. */
  readonly cut: AbortSignal = this.cutting.signal;

  get stopped(): boolean {
    return this.stop.aborted;
  }

  cancel(signal: string): void {
    if (this.stopped) {
      log.warning(
        `${signal} again: the uploads under way are cut now; revoking tokens and writing the report.`,
      );
      this.cutting.abort();
      return;
    }
    log.warning(
      `${signal}: the run is cancelled. No new upload starts; those under way get ${IN_FLIGHT_GRACE_MS / 1000} s to finish, then every token minted is revoked and the report written.`,
    );
    this.stopping.abort();
    setTimeout(() => this.cutting.abort(), IN_FLIGHT_GRACE_MS).unref();
  }
}

/** A cancellation the CI system's signals trigger; listening replaces Node's default of dying on the spot. */
export function cancelOnSignals(): Cancellation {
  const cancellation = new Cancellation();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => cancellation.cancel(signal));
  return cancellation;
}

/** The entry of a file that was not sent, or whose upload was cut, because the run was cancelled. */
export const CANCELLED = 'cancelled';
