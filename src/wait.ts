import { ActionError } from './errors.ts';
import { headerValue, RESPONSE_LIMITS, send, sleep } from './http.ts';
import { log } from './output.ts';
import type { InstallCheck } from './registries/registry.ts';
import { Slots } from './slots.ts';

const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 15_000;
const PROGRESS_EVERY_MS = 15_000;
const READ_TIMEOUT_MS = 20_000;
/**
 * Reads (and parses) in flight at once, however many checks: a listing runs to tens of megabytes, so memory
 * stays flat in the number of packages and versions waited for.
 */
const READS_AT_ONCE = 2;

/** Time for the polling loop; tests replace it. */
export const clock = {
  now: (): number => Date.now(),
  sleep: (ms: number, stop?: AbortSignal): Promise<void> => sleep(ms, stop),
};

/** Seconds after the start at which each check first showed its version; undefined: not by the deadline. */
export type Availability = Map<InstallCheck, number | undefined>;

/** Seconds to wait after an answer: the server's Retry-After when it gives one, else the backoff. */
function nextDelayMs(current: number, retryAfter: string | undefined): number {
  const asked = retryAfter === undefined ? Number.NaN : Number(retryAfter) * 1000;
  return Number.isFinite(asked) && asked >= 0 ? Math.min(asked, MAX_DELAY_MS) : current;
}

/**
 * Polls every check at once until its answer shows the version or the deadline passes. The reads carry no
 * credentials: they are the public endpoints installers use. A 404 is the normal answer until the version is
 * there; a 5xx or a dropped connection is asked again, within the deadline. `stop` (a cancelled run) ends
 * the polling: what was not seen by then stays undefined.
 */
export async function waitUntilInstallable(
  registryTitle: string,
  checks: InstallCheck[],
  timeoutMs: number,
  stop?: AbortSignal,
): Promise<Availability> {
  const started = clock.now();
  const deadline = started + timeoutMs;
  const availability: Availability = new Map(checks.map((c) => [c, undefined]));
  const pending = new Set(checks);
  const reads = new Slots(READS_AT_ONCE);
  let lastProgress = started;

  const progress = () => {
    if (pending.size === 0 || clock.now() - lastProgress < PROGRESS_EVERY_MS) return;
    lastProgress = clock.now();
    const waited = Math.round((clock.now() - started) / 1000);
    const what = [...pending].map((c) => c.what).join(', ');
    log.info(`Waiting for ${what} on ${registryTitle}: ${waited} s`);
  };

  const poll = async (check: InstallCheck) => {
    let delay = FIRST_DELAY_MS;
    while (clock.now() < deadline && !stop?.aborted) {
      let retryAfter: string | undefined;
      try {
        const answer = await reads.run(async () => {
          const res = await send({
            method: 'GET',
            url: check.url,
            what: `Reading ${check.url.href}`,
            attempts: 1,
            // Idle and total alike end with the wait: a server that drips or streams without end cannot hold it.
            timeoutMs: Math.max(1, Math.min(READ_TIMEOUT_MS, deadline - clock.now())),
            deadlineMs: Math.max(1, deadline - clock.now()),
            // Index pages of big projects (every file of every release) run to megabytes.
            maxResponseBytes: RESPONSE_LIMITS.listing,
            ...(check.headers ? { headers: check.headers } : {}),
          });
          // Parsed while the slot is held: the answer and what it parses to are dropped before the next read.
          return {
            shown: res.status === 200 && check.shows(res),
            retryAfter: headerValue(res.headers['retry-after']),
          };
        });
        if (answer.shown) {
          const seconds = Math.round((clock.now() - started) / 100) / 10;
          availability.set(check, seconds);
          pending.delete(check);
          log.info(`${check.what} is installable from ${registryTitle} (after ${seconds} s).`);
          return;
        }
        retryAfter = answer.retryAfter;
      } catch (err) {
        // A dropped connection or a timeout is asked again like a 5xx; anything else is a bug to show.
        if (!(err instanceof ActionError)) throw err;
      }
      progress();
      const wait = nextDelayMs(delay, retryAfter);
      await clock.sleep(Math.max(0, Math.min(wait, deadline - clock.now())), stop);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  };

  await Promise.all(checks.map(poll));
  return availability;
}
