import * as core from '@actions/core';
import { ActionError } from './errors.ts';

export interface PublishedFile {
  file: string;
  registry: string;
  name: string;
  version: string;
  sha256: string;
  status: 'uploaded' | 'skipped' | 'failed';
  url: string;
  error?: string;
  /** With the `wait` input: whether the version could be installed before the timeout, and when. */
  available?: boolean;
  available_after_s?: number;
}

const STATUS_ICON = { uploaded: '✅ uploaded', skipped: '⏭️ skipped', failed: '❌ failed' } as const;

function availability(r: PublishedFile): string {
  if (r.available === undefined) return '';
  return r.available ? `✅ after ${r.available_after_s} s` : '⏳ not yet';
}

function resultsTable(results: PublishedFile[]) {
  const waited = results.some((r) => r.available !== undefined);
  return [
    [
      { data: 'File', header: true },
      { data: 'Registry', header: true },
      { data: 'Name', header: true },
      { data: 'Version', header: true },
      { data: 'sha256', header: true },
      { data: 'Status', header: true },
      ...(waited ? [{ data: 'Installable', header: true }] : []),
    ],
    ...results.map((r) => [
      r.status === 'failed' ? r.file : `<a href="${r.url}">${r.file}</a>`,
      r.registry,
      r.name,
      r.version,
      `<code>${r.sha256.slice(0, 16)}…</code>`,
      STATUS_ICON[r.status],
      ...(waited ? [availability(r)] : []),
    ]),
  ];
}

/** Writes the `published` output and the step summary; a failed release still says what went through. */
export async function report(
  results: PublishedFile[],
  failure: unknown,
  extraSummary: string[],
): Promise<void> {
  core.setOutput('published', JSON.stringify(results));
  const summary = core.summary.addHeading('Trusted publish', 2);
  if (results.length > 0) summary.addTable(resultsTable(results));
  for (const block of extraSummary) summary.addCodeBlock(block);
  if (failure !== undefined) {
    const text = explainFailure(failure);
    const sent = results.some((r) => r.status === 'uploaded');
    summary.addHeading('Failed', 3).addCodeBlock(sent ? text : `${text}\n\nNothing was uploaded.`);
    core.setFailed(text);
  }
  if (process.env.GITHUB_STEP_SUMMARY) await summary.write();
}

/** An expected failure prints its explanation; anything else is a bug, and says so without a stack trace. */
export function explainFailure(failure: unknown): string {
  if (failure instanceof ActionError) return failure.explain();
  const message = failure instanceof Error ? failure.message : String(failure);
  if (failure instanceof Error && failure.stack) core.debug(failure.stack);
  return `Unexpected error: ${message}\nThis is a bug in the action; please report it with this log (re-run with debug logging for details).`;
}
