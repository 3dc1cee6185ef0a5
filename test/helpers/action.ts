import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { findNode24 } from './node24.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.resolve(ROOT, 'test/fixtures');
export const RUNTIME = findNode24(ROOT);
/** The Node the bundle runs on: Node 24 where it can be had (see node24.ts). */
export const NODE24 = RUNTIME.node;
/** TP_DIST lets a build in another folder be tested without touching the committed dist/. */
const DIST = process.env.TP_DIST ?? path.join(ROOT, 'dist');
const MAIN = path.join(DIST, 'main.js');
/** The bundled command, package.json's bin. */
export const CLI = path.join(DIST, 'cli.js');
const RUN_TIMEOUT_MS = 60_000;

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  /** Every file the runner would keep after the step, by name, for the leak scan. */
  files: Record<string, string>;
  published: {
    file: string;
    status: string;
    registry: string;
    name: string;
    version: string;
    error?: string;
    note?: string;
  }[];
  /** Wall time of the action's process (with its wrapper), from spawn to exit. */
  ms: number;
}

export interface RunOptions {
  /** Files copied into the packages folder (workspace/dist unless packagesDir says otherwise). */
  files?: string[];
  inputs?: Record<string, string>;
  /** The fake issuer's values; omitted = the job has no id-token permission. */
  oidc?: { requestUrl: string; requestToken: string };
  eventName?: string;
  eventPayload?: unknown;
  env?: Record<string, string>;
  /** Prepares the workspace before the run (symlinks, odd folders). */
  prepare?: (workspace: string) => void;
  /** A command the action runs under, e.g. /usr/bin/time to measure it (the bench). */
  wrapper?: string[];
  /** Runs the bundled command with these arguments instead of the action, in the same job. */
  commandArgs?: string[];
  /** Called with the process once it runs, e.g. to send it the signals of a cancelled job. */
  onSpawn?: (child: ChildProcess) => void;
}

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a command to its end (killed after a minute) and collects its output. With `detached`, it gets its own
 * process group, so a timeout kills a wrapped process and not only its wrapper.
 */
export async function runProcess(
  argv: string[],
  opts: {
    cwd: string;
    env: Record<string, string>;
    detached?: boolean;
    onSpawn?: (child: ChildProcess) => void;
  },
): Promise<ProcessRun> {
  const [command = NODE24, ...args] = argv;
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  opts.onSpawn?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => {
    if (opts.detached && child.pid) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  }, RUN_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr, ms: performance.now() - started };
}

/** Inputs the runner sets from action.yml's defaults, as INPUT_<NAME> with hyphens kept. */
function defaultInputs(): Record<string, string> {
  const action = parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: string }>;
  };
  const env: Record<string, string> = {};
  for (const [name, spec] of Object.entries(action.inputs)) {
    if (spec.default !== undefined) env[`INPUT_${name.toUpperCase()}`] = spec.default;
  }
  return env;
}

/** Parses GITHUB_OUTPUT's `name<<delimiter` blocks and `name=value` lines. */
function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const heredoc = line.match(/^([^=<]+)<<(.+)$/);
    if (heredoc?.[1] && heredoc[2]) {
      const end = lines.indexOf(heredoc[2], i + 1);
      outputs[heredoc[1]] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (line.includes('=')) {
      outputs[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return outputs;
}

export function readTree(dir: string, prefix: string, into: Record<string, string>): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) readTree(full, `${prefix}${entry.name}/`, into);
    else if (entry.isFile()) into[`${prefix}${entry.name}`] = fs.readFileSync(full, 'latin1');
  }
}

/** Runs the bundled action as GitHub's runner would: a child process with the runner's files and env. */
export async function runAction(opts: RunOptions = {}): Promise<ActionRun> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-run-'));
  const workspace = path.join(root, 'workspace');
  const runnerDir = path.join(root, 'runner');
  const temp = path.join(root, 'runner-temp');
  for (const dir of [workspace, runnerDir, temp, path.join(root, 'home')])
    fs.mkdirSync(dir, { recursive: true });
  const packages = path.join(workspace, opts.inputs?.['packages-dir'] ?? 'dist');
  fs.mkdirSync(packages, { recursive: true });
  for (const file of opts.files ?? []) fs.copyFileSync(file, path.join(packages, path.basename(file)));
  opts.prepare?.(workspace);
  const runnerFile = (name: string) => {
    const file = path.join(runnerDir, name);
    fs.writeFileSync(file, '');
    return file;
  };
  const eventPath = path.join(runnerDir, 'event.json');
  fs.writeFileSync(eventPath, JSON.stringify(opts.eventPayload ?? {}));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: path.join(root, 'home'),
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_OUTPUT: runnerFile('output'),
    GITHUB_STEP_SUMMARY: runnerFile('summary'),
    GITHUB_STATE: runnerFile('state'),
    GITHUB_ENV: runnerFile('env'),
    GITHUB_PATH: runnerFile('path'),
    GITHUB_EVENT_NAME: opts.eventName ?? 'push',
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: 'octo-org/tp-sample',
    RUNNER_TEMP: temp,
    ...defaultInputs(),
    ...(opts.oidc
      ? {
          ACTIONS_ID_TOKEN_REQUEST_URL: opts.oidc.requestUrl,
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: opts.oidc.requestToken,
        }
      : {}),
    ...opts.env,
  };
  for (const [name, value] of Object.entries(opts.inputs ?? {})) env[`INPUT_${name.toUpperCase()}`] = value;

  const entry = opts.commandArgs ? [CLI, ...opts.commandArgs] : [MAIN];
  const { code, stdout, stderr, ms } = await runProcess([...(opts.wrapper ?? []), NODE24, ...entry], {
    cwd: workspace,
    env,
    detached: opts.wrapper !== undefined,
    ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
  });

  const files: Record<string, string> = {};
  readTree(runnerDir, 'runner/', files);
  readTree(temp, 'temp/', files);
  readTree(path.join(root, 'home'), 'home/', files);
  const outputs = parseOutputFile(files['runner/output'] ?? '');
  const published = outputs.published ? JSON.parse(outputs.published) : [];
  const summary = fs.readFileSync(env.GITHUB_STEP_SUMMARY ?? '', 'utf8');
  // Everything the step left behind has been read; the run's folders go, so a test suite leaves no trace.
  fs.rmSync(root, { recursive: true, force: true });
  return { code, stdout, stderr, outputs, summary, files, published, ms };
}

/** Every printable form of a secret: raw, base64 (plain and as Basic credentials), URL- and JSON-escaped. */
export function secretForms(secret: string): string[] {
  const forms = [
    secret,
    Buffer.from(secret).toString('base64'),
    Buffer.from(`__token__:${secret}`).toString('base64'),
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
  ];
  return [...new Set(forms.filter((f) => f.length >= 8))];
}

/**
 * Fails when a secret shows anywhere the runner keeps: stdout (except its own ::add-mask:: line), stderr,
 * outputs, summary, state, env and temp files. A secret that was used must have been masked.
 */
export function findLeaks(run: Pick<ActionRun, 'stdout' | 'stderr' | 'files'>, secrets: string[]): string[] {
  const leaks: string[] = [];
  const stdoutLines = run.stdout.split('\n');
  for (const secret of secrets) {
    for (const form of secretForms(secret)) {
      stdoutLines.forEach((line, i) => {
        if (line.includes(form) && !line.startsWith('::add-mask::')) {
          leaks.push(`stdout line ${i + 1} holds a secret`);
        }
      });
      if (run.stderr.includes(form)) leaks.push('stderr holds a secret');
      for (const [name, content] of Object.entries(run.files)) {
        if (content.includes(form)) leaks.push(`${name} holds a secret`);
      }
    }
  }
  return leaks;
}

/** True when the runner was told to mask this value before anything else printed it. */
export function wasMasked(run: ActionRun, secret: string): boolean {
  return run.stdout.split('\n').includes(`::add-mask::${secret}`);
}

export const randomToken = (prefix: string): string => `${prefix}${randomUUID().replace(/-/g, '')}`;

/**
 * The action bound to one emulator: `run` uses the issuer's id-token permission and the emulator's
 * defaults; `assertNoLeaks` checks that no token or JWT shows anywhere and that every token minted by that
 * run was masked. Getters, because suites start a fresh emulator per test.
 */
export function actionAgainst(
  issuer: () => { requestUrl: string; requestToken: string; issued: string[] },
  emulator: () => { minted: string[] },
  defaults: () => RunOptions,
) {
  const mintedDuring = new WeakMap<ActionRun, string[]>();
  async function run(opts: RunOptions = {}): Promise<ActionRun> {
    const before = emulator().minted.length;
    const { requestUrl, requestToken } = issuer();
    const base = defaults();
    const result = await runAction({
      oidc: { requestUrl, requestToken },
      ...base,
      ...opts,
      inputs: { ...base.inputs, ...opts.inputs },
    });
    mintedDuring.set(result, emulator().minted.slice(before));
    return result;
  }
  function assertNoLeaks(result: ActionRun, extra: string[] = []): void {
    assert.deepEqual(findLeaks(result, [...emulator().minted, ...issuer().issued, ...extra]), []);
    for (const token of mintedDuring.get(result) ?? [])
      assert.ok(wasMasked(result, token), 'minted token masked');
  }
  return { run, assertNoLeaks };
}
