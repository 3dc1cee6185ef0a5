// A cancelled job: the signals GitHub's runner and GitLab's send, mid-upload, to the bundled action and command.
// The run must revoke the token it minted (checked on the emulator) and write what went through, before the
// runner kills it.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type CratesIo, startCratesIo } from '../fakes/crates.ts';
import {
  defaultClaims,
  type GitLabIssuer,
  type Issuer,
  startGitLabIssuer,
  startIssuer,
} from '../fakes/issuer.ts';
import { actionAgainst, FIXTURES } from '../helpers/action.ts';
import { assertNothingSecret, runJob } from '../helpers/gitlab-job.ts';

const CRATE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');

let issuer: Issuer;
let gitlab: GitLabIssuer;
let cio: CratesIo;

before(async () => {
  issuer = await startIssuer();
  gitlab = await startGitLabIssuer();
});
beforeEach(async () => {
  await cio?.close();
  cio = await startCratesIo({ issuer, gitlab });
  issuer.claims = defaultClaims();
  // The upload reaches the registry and gets no answer: it is under way when the job is cancelled.
  cio.faults.publish.push('hang');
});
after(async () => {
  await cio?.close();
  await Promise.all([issuer.close(), gitlab.close()]);
});

const { run, assertNoLeaks } = actionAgainst(
  () => issuer,
  () => cio,
  () => ({ files: [CRATE], inputs: { 'repository-url': cio.url } }),
);

/** GitHub's runner cancelling a step (actions/runner, ProcessInvoker): SIGINT, SIGTERM 7.5 s later, a kill 2.5 s after that. */
const RUNNER_SIGNALS: [NodeJS.Signals, number][] = [
  ['SIGINT', 0],
  ['SIGTERM', 7_500],
  ['SIGKILL', 10_000],
];
/** GitLab's: SIGTERM, then a kill. */
const GITLAB_SIGNALS: [NodeJS.Signals, number][] = [
  ['SIGTERM', 0],
  ['SIGKILL', 10_000],
];

/**
 * Sends `signals` (each at its offset in ms) once the upload is held open at the emulator, as a runner
 * would; those not yet sent when the process exits are not sent. Returns the signals that were sent.
 */
function cancelMidUpload(signals: [NodeJS.Signals, number][]) {
  const sent: NodeJS.Signals[] = [];
  const onSpawn = (child: ChildProcess) => {
    const timers: NodeJS.Timeout[] = [];
    const poll = setInterval(() => {
      if (cio.faults.publish.length > 0) return;
      clearInterval(poll);
      for (const [signal, at] of signals)
        timers.push(
          setTimeout(() => {
            sent.push(signal);
            child.kill(signal);
          }, at),
        );
    }, 20);
    child.on('exit', () => {
      clearInterval(poll);
      for (const timer of timers) clearTimeout(timer);
    });
  };
  return { sent, onSpawn };
}

describe('a cancelled run (bundled action and command on Node 24)', () => {
  it('GitHub’s SIGINT mid-upload: revokes the token, reports the file as cancelled, exits 1 before SIGTERM', async () => {
    const cancel = cancelMidUpload(RUNNER_SIGNALS);
    const result = await run({ onSpawn: cancel.onSpawn });
    assert.deepEqual(cancel.sent, ['SIGINT'], 'finished before the runner’s SIGTERM');
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const [token] = cio.minted;
    assert.equal(cio.minted.length, 1);
    assert.deepEqual(cio.revocations, [{ authorization: `Bearer ${token}`, status: 204, known: true }]);
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status, p.error]),
      [['tp-sample-0.1.0.crate', 'failed', 'cancelled']],
    );
    assert.match(result.summary, /tp-sample-0\.1\.0\.crate/);
    assert.match(result.summary, /The run was cancelled/);
    assert.match(result.stdout, /SIGINT: the run is cancelled/);
    assert.match(result.stdout, /Revoked the short-lived crates\.io/);
    assertNoLeaks(result);
  });

  it('a second signal during the grace cuts the upload at once and still writes the report and revokes', async () => {
    const cancel = cancelMidUpload([
      ['SIGINT', 0],
      ['SIGINT', 300],
      ['SIGKILL', 10_000],
    ]);
    const result = await run({ onSpawn: cancel.onSpawn });
    assert.deepEqual(cancel.sent, ['SIGINT', 'SIGINT']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /SIGINT again: the uploads under way are cut now/);
    assert.equal(cio.revocations.length, 1);
    assert.equal(cio.revocations[0]?.known, true);
    assert.deepEqual(
      result.published.map((p) => [p.status, p.error]),
      [['failed', 'cancelled']],
    );
    assert.match(result.summary, /The run was cancelled/);
    assertNoLeaks(result);
  });

  it('the command on GitHub: SIGINT mid-upload revokes and writes `published` and the summary', async () => {
    const cancel = cancelMidUpload(RUNNER_SIGNALS);
    const result = await run({
      onSpawn: cancel.onSpawn,
      commandArgs: ['--repository-url', cio.url],
    });
    assert.deepEqual(cancel.sent, ['SIGINT']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.equal(cio.revocations.length, 1);
    assert.equal(cio.revocations[0]?.known, true);
    assert.deepEqual(
      result.published.map((p) => [p.status, p.error]),
      [['failed', 'cancelled']],
      'the published output',
    );
    assert.match(result.summary, /The run was cancelled/);
    assertNoLeaks(result);
  });

  it('GitLab’s SIGTERM mid-upload: the command revokes, writes --output and --dotenv, exits 1 before the kill', async () => {
    const cancel = cancelMidUpload(GITLAB_SIGNALS);
    const job = await runJob({
      files: [CRATE],
      args: ['--repository-url', cio.url],
      idTokens: { CRATES_IO_ID_TOKEN: await gitlab.token('crates.io') },
      onSpawn: cancel.onSpawn,
    });
    assert.deepEqual(cancel.sent, ['SIGTERM'], 'finished before the kill');
    assert.equal(job.code, 1, job.stdout + job.stderr);
    assert.equal(cio.minted.length, 1);
    assert.deepEqual(
      cio.revocations.map((r) => [r.status, r.known]),
      [[204, true]],
    );
    assert.deepEqual(
      job.published.map((p) => [p.file, p.status, p.error]),
      [['tp-sample-0.1.0.crate', 'failed', 'cancelled']],
    );
    assert.match(job.dotenv, /^TRUSTED_PUBLISH_/m);
    assert.match(job.dotenv, /cancelled|FAILED=1/);
    assert.match(job.stderr, /SIGTERM: the run is cancelled/);
    assertNothingSecret(job, [...cio.minted, ...gitlab.issued]);
  });
});
