import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from '../helpers/action.ts';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

interface Job {
  'runs-on': string;
  if?: string;
  strategy?: { matrix?: { os?: string[] } };
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  steps: Step[];
}

// It cannot run here; these checks keep it what GitHub would run, and what this project needs from it.
const workflow = parse(fs.readFileSync(path.join(ROOT, '.github/workflows/ci.yml'), 'utf8')) as {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  concurrency: { group: string; 'cancel-in-progress': unknown };
  jobs: Record<string, Job>;
};
const action = parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
  inputs: Record<string, unknown>;
};
const OSES = ['ubuntu-latest', 'windows-latest', 'macos-latest'];
/** A GitHub expression as the workflow writes it. */
const expression = (text: string) => `\${{ ${text} }}`;

function job(name: string): Job {
  const found = workflow.jobs[name];
  assert.ok(found, `job '${name}'`);
  return found;
}

/** The index of the first step whose command runs `command`; fails when there is none. */
function stepRunning(steps: Step[], command: string): number {
  const index = steps.findIndex((step) => step.run?.includes(command));
  assert.notEqual(index, -1, `a step runs '${command}'`);
  return index;
}

describe('.github/workflows/ci.yml', () => {
  it('runs on pushes to main and pull requests, grants nothing by default and cancels superseded runs', () => {
    assert.ok('push' in workflow.on && 'pull_request' in workflow.on);
    assert.deepEqual(workflow.permissions, {});
    assert.match(workflow.concurrency.group, /github\.workflow/);
    assert.ok(workflow.concurrency['cancel-in-progress']);
    assert.deepEqual(Object.keys(workflow.jobs).sort(), ['action', 'test']);
  });

  it('lints, builds, checks dist/ is fresh and tests on Linux, Windows and macOS with Node 24', () => {
    const test = job('test');
    assert.deepEqual(test.strategy?.matrix?.os, OSES);
    assert.equal(test['runs-on'], expression('matrix.os'));
    assert.deepEqual(test.permissions, { contents: 'read' });
    const node = test.steps.find((step) => step.uses?.startsWith('actions/setup-node@'));
    assert.equal(node?.uses, 'actions/setup-node@v4');
    assert.equal(String(node?.with?.['node-version']), '24');
    const order = ['npm ci', 'npm run lint', 'npm run build', 'git status --porcelain dist', 'npm test'].map(
      (command) => stepRunning(test.steps, command),
    );
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      'install, lint, build, dist check, test, in that order',
    );
    assert.ok(stepRunning(test.steps, 'pipx install twine') < stepRunning(test.steps, 'npm test'));
  });

  it('requires the reference clients on ubuntu only', () => {
    assert.equal(
      job('test').env?.TP_REQUIRE_ORACLES,
      expression("matrix.os == 'ubuntu-latest' && '1' || ''"),
    );
  });

  it('runs the action itself from the checkout, as a dry run on the fixtures, on every OS', () => {
    const dryRun = job('action');
    assert.deepEqual(dryRun.strategy?.matrix?.os, OSES);
    assert.equal(dryRun['runs-on'], expression('matrix.os'));
    assert.deepEqual(dryRun.permissions, { 'id-token': 'write', contents: 'read' });
    const index = dryRun.steps.findIndex((step) => step.uses === './');
    const step = dryRun.steps[index];
    assert.ok(step, "a step uses './'");
    assert.equal(String(step.with?.['dry-run']), 'true');
    assert.equal(step.with?.['packages-dir'], 'dist-fixtures');
    for (const input of Object.keys(step.with ?? {})) assert.ok(input in action.inputs, `input ${input}`);
    assert.ok(stepRunning(dryRun.steps, 'dist-fixtures') < index, 'fixtures copied before the run');
  });

  it('uses released major versions of other actions and keeps no checkout credentials', () => {
    for (const [name, { steps }] of Object.entries(workflow.jobs)) {
      for (const step of steps.filter((s) => s.uses && s.uses !== './')) {
        assert.match(step.uses ?? '', /^[\w-]+\/[\w-]+@v\d+$/, `${name}: ${step.uses}`);
        if (step.uses?.startsWith('actions/checkout@')) {
          assert.equal(step.with?.['persist-credentials'], false, `${name}: ${step.name}`);
        }
      }
    }
  });
});
