import { type CiLog, failureText, installableColumn, type RunEnd } from './ci.ts';

/**
 * A log without workflow commands, for every CI system but GitHub Actions: no line may carry a secret, since
 * no runner masks one (GitLab cannot mask a value known only at run time). No code path prints a secret, and
 * output.ts scrubs every line of every secret the run holds before it comes here.
 */
export function plainLog(opts: {
  /** Opens and closes a collapsible block; absent where the log has none. */
  section?: { start(name: string, title: string): string; end(name: string): string };
  /** Whether debug lines are printed (they never hold a secret either). */
  debug: boolean;
  /** Where a line goes: stdout for the log, stderr for warnings and errors. */
  out?: (line: string) => void;
  err?: (line: string) => void;
}): CiLog {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = opts.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  let sections = 0;
  return {
    info: (message) => out(message),
    notice: (message) => out(`NOTE: ${message}`),
    warning: (message) => err(`WARNING: ${message}`),
    error: (message) => err(`ERROR: ${message}`),
    debug: (message) => {
      if (opts.debug) out(`DEBUG: ${message}`);
    },
    // Nothing masks here: output.ts has already cut every secret out.
    secret: () => {},
    async group(title, body) {
      if (!opts.section) return body();
      const name = `trusted_publish_${++sections}`;
      out(opts.section.start(name, title));
      try {
        return await body();
      } finally {
        out(opts.section.end(name));
      }
    },
  };
}

/** The results as an aligned text table, for the end of the log. */
export function summaryLines(results: RunEnd['results']): string[] {
  if (results.length === 0) return ['No file was published.'];
  const installable = installableColumn(results);
  const rows = [
    [
      'File',
      'Registry',
      'Name',
      'Version',
      'sha256',
      'Status',
      ...(installable ? ['Installable'] : []),
      'URL',
    ],
    ...results.map((r) => [
      r.file,
      r.registry,
      r.name,
      r.version,
      `${r.sha256.slice(0, 16)}…`,
      r.status,
      ...(installable ? [installable(r)] : []),
      r.url,
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** Prints the summary table at the end of the log, then the failure, and sets the exit status. */
export async function endPlainly(log: CiLog, run: RunEnd): Promise<void> {
  const { results, failure } = run;
  // A run that failed before any file had an entry says so in its failure alone.
  if (results.length > 0 || failure === undefined) {
    await log.group('Trusted publish summary', async () => {
      for (const line of summaryLines(results)) log.info(line);
    });
  }
  if (failure === undefined) return;
  log.error(failureText({ ...run, failure }));
  process.exitCode = 1;
}
