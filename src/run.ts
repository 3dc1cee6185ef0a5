import type { Inputs } from './inputs.ts';
import { type PublishOutcome, publish } from './publish.ts';
import { type PublishedFile, report } from './report.ts';

/**
 * Inputs → plan → publish → report, for the action and the command alike. `save` keeps the results where
 * the caller wants them (the command's --output), whatever happened.
 */
export async function run(inputs: () => Inputs, save?: (results: PublishedFile[]) => void): Promise<void> {
  let outcome: PublishOutcome;
  try {
    outcome = await publish(inputs());
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
}
