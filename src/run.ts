import { cancelOnSignals } from './cancel.ts';
import type { Ci } from './ci/ci.ts';
import type { Inputs } from './inputs.ts';
import { type PublishOutcome, publish } from './publish.ts';
import { report } from './report.ts';
import type { PublishedFile } from './types.ts';

/**
 * Inputs → publish → report, for the action and the command alike, on the CI system the entry point chose.
 * `save` keeps the results where the caller wants them (the command's --output), whatever happened: a
 * cancelled run (SIGINT, SIGTERM) ends its flow early and is reported like any other. The process ends
 * with it.
 */
export async function run(
  ci: Ci,
  inputs: () => Inputs,
  save?: (results: PublishedFile[]) => void,
): Promise<never> {
  const cancel = cancelOnSignals();
  let outcome: PublishOutcome;
  try {
    outcome = await publish(inputs(), ci, cancel);
  } catch (failure) {
    outcome = { results: [], summary: [], failure };
  }
  let failure = outcome.failure;
  try {
    save?.(outcome.results);
  } catch (err) {
    failure ??= err;
  }
  await report(outcome.results, failure, outcome.summary);
  return exitOnceFlushed();
}

/**
 * Ends the process with its exit code once stdout and stderr have taken everything written (a pipe on macOS
 * is written asynchronously). Everything the run started has been awaited by now; a natural exit would
 * first tear the whole heap down, 10-20 ms of every run (npm run bench).
 */
async function exitOnceFlushed(): Promise<never> {
  await Promise.all(
    [process.stdout, process.stderr].map(
      (stream) => new Promise<void>((resolve) => stream.write('', () => resolve())),
    ),
  );
  process.exit();
}
