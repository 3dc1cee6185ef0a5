#!/usr/bin/env node
// First: on a Node the command does not support, nothing else may start.
import './node-check.ts';
import fs from 'node:fs';
import path from 'node:path';
import { ciFor } from './ci/index.ts';
import { type CommandLine, HELP, OPTION_NAMES, parseCommandLine, UsageError } from './command-line.ts';
import { ActionError } from './errors.ts';
import { validateInputs } from './inputs.ts';
import { log, outputTo, writeUserFile } from './output.ts';
import { run } from './run.ts';
import type { PublishedFile } from './types.ts';
import { wording } from './wording.ts';

/**
 * GitLab refuses a dotenv report over 5 KiB or (on an instance's default plan) 20 variables, and with it the
 * job's artifacts: the report holds a few compact variables, never the whole JSON (that is --output's).
 */
const DOTENV_LIST_CHARS = 1024;

/** A dotenv value: one line of the characters package names and versions are made of. */
const dotenvValue = (text: string): string => text.replace(/[^A-Za-z0-9@/._+~-]/g, '_');

function dotenvLines(results: PublishedFile[]): string {
  const count = (status: PublishedFile['status']) => results.filter((r) => r.status === status).length;
  const releases = [...new Set(results.map((r) => dotenvValue(`${r.name}@${r.version}`)))];
  // Whole entries only, as many as fit: TRUSTED_PUBLISH_RELEASE_COUNT says whether the list is complete.
  let listed = '';
  for (const release of releases) {
    const next = listed ? `${listed},${release}` : release;
    if (next.length > DOTENV_LIST_CHARS) break;
    listed = next;
  }
  return [
    `TRUSTED_PUBLISH_UPLOADED=${count('uploaded')}`,
    `TRUSTED_PUBLISH_SKIPPED=${count('skipped')}`,
    `TRUSTED_PUBLISH_FAILED=${count('failed')}`,
    `TRUSTED_PUBLISH_RELEASES=${listed}`,
    `TRUSTED_PUBLISH_RELEASE_COUNT=${releases.length}`,
    '',
  ].join('\n');
}

/** Whether `file` can be written, found before any request (else the release goes up and its record is lost). */
function checkWritable(file: string, flag: string): void {
  const full = path.resolve(file);
  let problem: string | undefined;
  try {
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (stat?.isDirectory()) problem = 'it is a folder';
    else fs.accessSync(stat ? full : path.dirname(full), fs.constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problem = code === 'ENOENT' ? `its folder ${path.dirname(full)} does not exist` : (err as Error).message;
  }
  if (problem) {
    throw new ActionError(`${flag} ${file} cannot be written: ${problem}.`, {
      cause:
        'The file is written after the uploads; nothing was sent, so the release is not left unrecorded.',
      fix: `Point ${flag} at a writable file in an existing folder (e.g. inside the project).`,
    });
  }
}

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
  if (commandLine.dotenv) write(commandLine.dotenv, dotenvLines(results), true);
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
    () => {
      if (given.output) checkWritable(given.output, '--output');
      if (given.dotenv) checkWritable(given.dotenv, '--dotenv');
      return validateInputs(given.source, ci.workspace);
    },
    (results) => save(given, results),
  );
}
