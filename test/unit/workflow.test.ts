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
  'runs-on'?: string;
  name?: string;
  if?: string;
  uses?: string;
  needs?: string | string[];
  environment?: string;
  strategy?: { matrix?: { os?: string[] } };
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  steps?: Step[];
}

interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  concurrency: { group: string; 'cancel-in-progress': unknown };
  jobs: Record<string, Job>;
}

// They cannot run here; these checks keep them what GitHub would run, and what this project needs from them.
const WORKFLOWS = path.join(ROOT, '.github/workflows');
const readWorkflow = (file: string) => parse(fs.readFileSync(path.join(WORKFLOWS, file), 'utf8')) as Workflow;
const workflow = readWorkflow('ci.yml');
const release = readWorkflow('release.yml');
const action = parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
  inputs: Record<string, unknown>;
};
const OSES = ['ubuntu-latest', 'windows-latest', 'macos-latest'];
/** A GitHub expression as the workflow writes it. */
const expression = (text: string) => `\${{ ${text} }}`;

function job(name: string, of: Workflow = workflow): Job {
  const found = of.jobs[name];
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
    const node = test.steps?.find((step) => step.uses?.startsWith('actions/setup-node@'));
    assert.ok(node, 'a setup-node step');
    assert.equal(String(node?.with?.['node-version']), '24');
    const order = ['npm ci', 'npm run lint', 'npm run build', 'git status --porcelain dist', 'npm test'].map(
      (command) => stepRunning(test.steps ?? [], command),
    );
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      'install, lint, build, dist check, test, in that order',
    );
    assert.ok(
      stepRunning(test.steps ?? [], 'pipx install twine') < stepRunning(test.steps ?? [], 'npm test'),
    );
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
    const steps = dryRun.steps ?? [];
    const index = steps.findIndex((step) => step.uses === './');
    const step = steps[index];
    assert.ok(step, "a step uses './'");
    assert.equal(String(step.with?.['dry-run']), 'true');
    assert.equal(step.with?.['packages-dir'], 'dist-fixtures');
    for (const input of Object.keys(step.with ?? {})) assert.ok(input in action.inputs, `input ${input}`);
    assert.ok(stepRunning(steps, 'dist-fixtures') < index, 'fixtures copied before the run');
  });

  it('can be called by the release, which runs the same checks before it publishes', () => {
    assert.ok('workflow_call' in workflow.on);
  });
});

/** Every workflow, by file name. */
const everyWorkflow = fs
  .readdirSync(WORKFLOWS)
  .filter((file) => /\.ya?ml$/.test(file))
  .map((file) => ({
    file,
    text: fs.readFileSync(path.join(WORKFLOWS, file), 'utf8'),
    parsed: readWorkflow(file),
  }));

describe('every workflow', () => {
  it('covers ci.yml and release.yml', () => {
    assert.deepEqual(everyWorkflow.map(({ file }) => file).sort(), ['ci.yml', 'release.yml']);
  });

  it('pins every action from outside this repository by a 40-hex commit SHA, with the version in a comment', () => {
    for (const { file, text, parsed } of everyWorkflow) {
      for (const [name, { steps = [] }] of Object.entries(parsed.jobs)) {
        for (const { uses } of steps.filter((step) => step.uses && !step.uses.startsWith('./'))) {
          assert.match(
            uses ?? '',
            /^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/,
            `${file} ${name}: ${uses}`,
          );
          // The version the SHA is, for the reader and for update tools: `uses: owner/repo@<sha> # vX.Y.Z`.
          const line = text.split('\n').find((l) => l.includes(`uses: ${uses}`));
          assert.match(line ?? '', / # v\d+\.\d+\.\d+$/, `${file} ${name}: ${uses} has no version comment`);
        }
      }
    }
  });

  it('keeps no checkout credentials and grants nothing at the top: each job asks for what it uses', () => {
    for (const { file, parsed } of everyWorkflow) {
      assert.deepEqual(parsed.permissions, {}, file);
      for (const [name, found] of Object.entries(parsed.jobs)) {
        assert.ok(found.permissions, `${file} ${name}: permissions`);
        for (const step of (found.steps ?? []).filter((s) => s.uses?.startsWith('actions/checkout@')))
          assert.equal(step.with?.['persist-credentials'], false, `${file} ${name}: ${step.name}`);
      }
    }
  });
});

describe('.github/workflows/release.yml', () => {
  it('runs on a tag vX.Y.Z only', () => {
    assert.deepEqual(release.on, { push: { tags: ['v[0-9]+.[0-9]+.[0-9]+'] } });
    assert.equal(release.concurrency['cancel-in-progress'], false, 'a release is never cancelled halfway');
    assert.deepEqual(Object.keys(release.jobs), ['check', 'publish', 'move-major-tag']);
  });

  it('first runs CI (lint, build, the dist check, the tests and the dry run of the action)', () => {
    const check = job('check', release);
    assert.equal(check.uses, './.github/workflows/ci.yml');
    // What ci.yml's jobs hold, and no more.
    assert.deepEqual(check.permissions, { contents: 'read', 'id-token': 'write' });
  });

  it('publishes the packed package with this very action: trusted publishing, provenance, waiting', () => {
    const publish = job('publish', release);
    assert.equal(publish.needs, 'check');
    assert.match(publish.if ?? '', /github\.ref_type == 'tag' && startsWith\(github\.ref, 'refs\/tags\/v'\)/);
    assert.deepEqual(publish.permissions, { contents: 'read', 'id-token': 'write' });
    assert.equal(publish.environment, 'npm');
    const steps = publish.steps ?? [];
    const node = steps.find((step) => step.uses?.startsWith('actions/setup-node@'));
    assert.equal(String(node?.with?.['node-version']), '24');
    assert.equal(node?.with?.['package-manager-cache'], false, 'no dependency cache beside an ID token');
    const versionCheck = stepRunning(steps, 'GITHUB_REF_NAME');
    const pack = stepRunning(steps, 'npm pack');
    const index = steps.findIndex((step) => step.uses === './');
    const publishStep = steps[index];
    assert.ok(publishStep, "a step uses './'");
    assert.ok(versionCheck < pack && pack < index, 'tag checked, then packed, then published');
    assert.match(steps[pack]?.run ?? '', /--pack-destination release/);
    assert.deepEqual(publishStep.with, {
      registry: 'npm',
      'packages-dir': 'release',
      attestations: true,
      wait: true,
    });
    for (const input of Object.keys(publishStep.with ?? {}))
      assert.ok(input in action.inputs, `input ${input}`);
  });

  it('moves the major tag to the release commit after the publish, the one job that may write', () => {
    const move = job('move-major-tag', release);
    assert.equal(move.needs, 'publish');
    assert.match(move.if ?? '', /startsWith\(github\.ref, 'refs\/tags\/v'\)/);
    assert.deepEqual(move.permissions, { contents: 'write' });
    const script = move.steps?.map((step) => step.run ?? '').join('\n') ?? '';
    assert.match(script, /major="\$\{GITHUB_REF_NAME%%\.\*\}"/, 'v1.2.3 → v1');
    assert.match(script, /git\/refs\/tags\/\$major" -f sha="\$GITHUB_SHA" -F force=true/);
    for (const { file, parsed } of everyWorkflow) {
      for (const [name, found] of Object.entries(parsed.jobs)) {
        if (file === 'release.yml' && name === 'move-major-tag') continue;
        assert.notEqual(found.permissions?.contents, 'write', `${file} ${name}`);
      }
    }
  });
});
