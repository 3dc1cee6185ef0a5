import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ActionRun, CLI, findLeaks, NODE24, type ProcessRun, readTree, runProcess } from './action.ts';

export interface JobRun extends ProcessRun {
  /** Everything the job left: the project, temp files, home, the --output and --dotenv files. */
  files: Record<string, string>;
  /** The --output file, parsed; [] when it was not written. */
  published: ActionRun['published'];
  /** The --dotenv file's text. */
  dotenv: string;
}

export interface JobOptions {
  /** Files copied into the project's dist/. */
  files?: string[];
  /** Arguments before --output and --dotenv. */
  args?: string[];
  /** The job's `id_tokens:` variables. */
  idTokens?: Record<string, string>;
  env?: Record<string, string>;
  /** The CI system whose job variables are set; 'local': a terminal, none of a CI system's variables. */
  on?: 'gitlab' | 'circleci' | 'local';
  /** --output and --dotenv elsewhere than the job's out/ folder (one that cannot be written, say). */
  output?: string;
  dotenv?: string;
  /** Called with the process once it runs, e.g. to send it the signals of a cancelled job. */
  onSpawn?: (child: ChildProcess) => void;
}

/**
 * Runs the bundled command as a gitlab.com job's script line would (or a CircleCI job's `run:` step, or a
 * terminal), in a fresh project.
 */
export async function runJob(opts: JobOptions = {}): Promise<JobRun> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-job-'));
  const project = path.join(root, 'project');
  const out = path.join(root, 'out');
  for (const dir of [path.join(project, 'dist'), out, path.join(root, 'tmp'), path.join(root, 'home')])
    fs.mkdirSync(dir, { recursive: true });
  for (const file of opts.files ?? []) fs.copyFileSync(file, path.join(project, 'dist', path.basename(file)));
  const gitlab = {
    CI: 'true',
    GITLAB_CI: 'true',
    CI_SERVER_HOST: 'gitlab.com',
    CI_PROJECT_DIR: project,
    CI_PROJECT_PATH: 'octo-group/tp-sample',
    CI_COMMIT_TAG: 'v0.1.0',
    CI_JOB_ID: '2002',
  };
  const circleci = {
    CI: 'true',
    CIRCLECI: 'true',
    CIRCLE_WORKING_DIRECTORY: project,
    CIRCLE_PROJECT_USERNAME: 'octo-org',
    CIRCLE_PROJECT_REPONAME: 'tp-sample',
    CIRCLE_TAG: 'v0.1.0',
    CIRCLE_BUILD_NUM: '42',
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: path.join(root, 'home'),
    TMPDIR: path.join(root, 'tmp'),
    ...(opts.on === 'local' ? {} : opts.on === 'circleci' ? circleci : gitlab),
    ...opts.idTokens,
    ...opts.env,
  };
  const output = opts.output ?? path.join(out, 'published.json');
  const dotenv = opts.dotenv ?? path.join(out, 'publish.env');
  const argv = [NODE24, CLI, ...(opts.args ?? []), '--output', output, '--dotenv', dotenv];
  const run = await runProcess(argv, {
    cwd: project,
    env,
    ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
  });
  const files: Record<string, string> = {};
  readTree(root, '', files);
  fs.rmSync(root, { recursive: true, force: true });
  return {
    ...run,
    files,
    published: files['out/published.json'] ? JSON.parse(files['out/published.json']) : [],
    dotenv: files['out/publish.env'] ?? '',
  };
}

/**
 * Outside GitHub Actions no secret may show in any form, anywhere the job leaves output, and no line may be
 * a workflow command (`::add-mask::<token>` would print the token itself).
 */
export function assertNothingSecret(run: JobRun, secrets: string[]): void {
  assert.deepEqual(findLeaks(run, secrets), []);
  const commands = `${run.stdout}\n${run.stderr}`.split('\n').filter((line) => line.startsWith('::'));
  assert.deepEqual(commands, [], 'no workflow command outside GitHub Actions');
}
