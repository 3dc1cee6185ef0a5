import { ActionError } from './errors.ts';
import { endRun, log } from './output.ts';
import type { PublishedFile } from './types.ts';
import { wording } from './wording.ts';

/** Writes the `published` output and the summary; a failed release still says what went through. */
export async function report(results: PublishedFile[], failure: unknown, blocks: string[]): Promise<void> {
  await endRun({ results, blocks, failure: failure === undefined ? undefined : explainFailure(failure) });
}

/** An expected failure prints its explanation; anything else is a bug, and says so without a stack trace. */
function explainFailure(failure: unknown): string {
  if (failure instanceof ActionError) return wording.apply(failure.explain());
  const message = failure instanceof Error ? failure.message : String(failure);
  if (failure instanceof Error && failure.stack) log.debug(failure.stack);
  return `Unexpected error: ${message}\nThis is a bug in the action; please report it with this log (re-run with debug logging for details).`;
}
