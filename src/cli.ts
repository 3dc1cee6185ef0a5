#!/usr/bin/env node
import fs from 'node:fs';
import { ciFor } from './ci/index.ts';
import { type CommandLine, HELP, OPTION_NAMES, parseCommandLine, UsageError } from './command-line.ts';
import { ActionError } from './errors.ts';
import { validateInputs } from './inputs.ts';
import { log, outputTo, writeUserFile } from './output.ts';
import { run } from './run.ts';
import type { PublishedFile } from './types.ts';
import { wording } from './wording.ts';

/** Writes --output and --dotenv; a file that cannot be written fails the run, which says which. */
function save(commandLine: CommandLine, results: PublishedFile[]): void {
  const json = JSON.stringify(results);
  const write = (file: string, text: string, append: boolean) => {
    try {
      writeUserFile(file, text, append);
    } catch (err) {
      throw new ActionError(`Could not write ${file}: ${(err as Error).message}`, {
        fix: 'Point --output and --dotenv at a writable path.',
      });
    }
  };
  if (commandLine.output) write(commandLine.output, `${json}\n`, false);
  if (commandLine.dotenv) write(commandLine.dotenv, `TRUSTED_PUBLISH_PUBLISHED=${json}\n`, true);
}

const ci = ciFor(process.env);
outputTo(ci);
wording.useFlags(OPTION_NAMES);

let commandLine: CommandLine | undefined;
try {
  commandLine = parseCommandLine(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  log.error(err.explain());
  process.exitCode = 2;
}
if (commandLine?.help) {
  process.stdout.write(`${HELP}\n`);
} else if (commandLine?.version) {
  // The package's own manifest, beside dist/ (or src/) wherever npm installed it.
  const manifest = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${manifest.version}\n`);
} else if (commandLine) {
  const given = commandLine;
  if (given.passwordOnCommandLine)
    log.warning(
      '--password shows the token in the process list and the shell history: give it in TRUSTED_PUBLISH_PASSWORD instead.',
    );
  await run(
    ci,
    () => validateInputs(given.source, ci.workspace),
    (results) => save(given, results),
  );
}
