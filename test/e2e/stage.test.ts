import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  defaultClaims,
  type GitLabIssuer,
  type Issuer,
  startGitLabIssuer,
  startIssuer,
} from '../fakes/issuer.ts';
import { defaultPublisher, type NpmRegistry, startNpm } from '../fakes/npm.ts';
import { actionAgainst, FIXTURES } from '../helpers/action.ts';
import { assertNothingSecret, runJob } from '../helpers/gitlab-job.ts';

const TARBALL = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');
const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let issuer: Issuer;
let gitlab: GitLabIssuer;
let registry: NpmRegistry;

before(async () => {
  issuer = await startIssuer();
  gitlab = await startGitLabIssuer();
});
after(async () => {
  await registry?.close();
  await Promise.all([issuer.close(), gitlab.close()]);
});
beforeEach(async () => {
  await registry?.close();
  issuer.claims = defaultClaims();
  registry = await startNpm({
    issuer,
    gitlab,
    publishers: { 'tp-sample': [{ ...defaultPublisher(), allowPublish: false, allowStagePublish: true }] },
    gitlabPublishers: {
      'tp-sample': [{ namespace: 'octo-group', project: 'tp-sample', ciFile: '.gitlab-ci.yml' }],
    },
  });
  registry.addPackage('tp-sample', ['0.0.1']);
});

const { run, assertNoLeaks } = actionAgainst(
  () => issuer,
  () => registry,
  () => ({
    files: [TARBALL],
    inputs: { 'repository-url': registry.url, attestations: 'false', stage: 'true' },
  }),
);

/** The entries' staging fields, as the `published` output has them. */
const staging = (entry: unknown) => entry as { stage_id?: string; approve?: string; available?: boolean };

describe('npm staged publishing (bundled action on Node 24)', () => {
  it('stages with POST /-/stage/package/<name>: the version is not installable, the entry says how to approve it', async () => {
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    const [document] = registry.documents;
    assert.equal(document?.path, '/-/stage/package/tp-sample');
    assert.equal(document?.headers.authorization, `Bearer ${registry.minted[0]}`);
    const [stage] = [...registry.staged.values()];
    assert.ok(stage, 'staged on the registry');
    assert.equal(stage.version, '0.1.0');
    assert.equal(registry.packuments.get('tp-sample')?.versions['0.1.0'], undefined, 'not in the packument');
    const [entry] = result.published;
    assert.equal(entry?.status, 'staged');
    assert.equal(staging(entry).stage_id, stage.id);
    assert.match(staging(entry).stage_id ?? '', UUID);
    const approve = `npm stage approve ${stage.id} --registry ${registry.url}/`;
    assert.equal(staging(entry).approve, approve);
    assert.ok(
      result.stdout.includes(
        `::notice::Staged tp-sample-0.1.0.tgz: tp-sample@0.1.0 staged with tag latest (stage ${stage.id})`,
      ),
      result.stdout,
    );
    assert.ok(result.summary.includes(`tp-sample@0.1.0  stage ${stage.id}: ${approve}`), result.summary);
    assert.match(result.summary, /⏸️ staged/);
    assertNoLeaks(result);
  });

  it('with wait, holds the job until a maintainer approves, saying so, then reports the version installable', async () => {
    const running = run({ inputs: { wait: 'true', 'wait-timeout': '60' } });
    // The maintainer approves once the version is staged (bounded: the run itself times out in a minute).
    for (let i = 0; i < 600 && registry.staged.size === 0; i++) await sleep(50);
    const [stage] = [...registry.staged.values()];
    assert.ok(stage, 'staged');
    await sleep(1500);
    assert.equal(registry.packuments.get('tp-sample')?.versions['0.1.0'], undefined);
    registry.approve(stage.id);
    const result = await running;
    assert.equal(result.code, 0, result.stdout);
    assert.match(
      result.stdout,
      /Waiting up to 60 s for a maintainer to approve tp-sample@0\.1\.0 on npm \(127\.0\.0\.1:\d+\)/,
    );
    assert.match(result.stdout, /tp-sample@0\.1\.0 \(tag latest\), staged: awaiting approval is installable/);
    const [entry] = result.published;
    assert.equal(entry?.status, 'staged');
    assert.equal(staging(entry).available, true);
    assertNoLeaks(result);
  });

  it('with wait, a version no one approves fails after wait-timeout saying how to approve it', async () => {
    const result = await run({ inputs: { wait: 'true', 'wait-timeout': '2' } });
    assert.equal(result.code, 1);
    const [stage] = [...registry.staged.values()];
    assert.match(result.stdout, /A staged version was not approved and installable within 2 s\./);
    assert.ok(result.stdout.includes(`Approve it (npm stage approve ${stage?.id} --registry`), result.stdout);
    assert.equal(result.published[0]?.status, 'staged');
    assert.equal(staging(result.published[0]).available, false);
  });

  it('a direct publish refused by a stage-only publisher says to set stage: true', async () => {
    const result = await run({ inputs: { stage: 'false' } });
    assert.equal(result.code, 1);
    assert.equal(registry.documents[0]?.path, '/tp-sample');
    assert.match(result.stdout, /HTTP 403\): OIDC permission denied for this action/);
    assert.match(result.stdout, /allowed actions do not include `npm publish`: it may only stage versions/);
    assert.match(result.stdout, /Fix: Set 'stage: true' to stage the version/);
    assertNoLeaks(result);
  });

  it('staging refused by a publish-only publisher says to allow npm stage publish or drop stage', async () => {
    registry.publishers.set('tp-sample', [{ ...defaultPublisher(), allowStagePublish: false }]);
    const result = await run();
    assert.equal(result.code, 1);
    assert.equal(registry.documents[0]?.path, '/-/stage/package/tp-sample');
    assert.match(result.stdout, /allowed actions do not include `npm stage publish`/);
    assert.match(
      result.stdout,
      /Fix: Drop 'stage' to publish directly; or, to stage, .*allow `npm stage publish`/,
    );
    assert.equal(registry.staged.size, 0);
  });

  it('a dry run shows the route each file would take', async () => {
    const staged = await run({ inputs: { 'dry-run': 'true' } });
    assert.equal(staged.code, 0, staged.stdout);
    assert.ok(
      staged.stdout.includes(
        `tp-sample-0.1.0.tgz: POST ${registry.url}/-/stage/package/tp-sample (npm stage publish: installable once a maintainer approves it)`,
      ),
      staged.stdout,
    );
    const direct = await run({ inputs: { 'dry-run': 'true', stage: 'false' } });
    assert.ok(direct.stdout.includes(`tp-sample-0.1.0.tgz: PUT ${registry.url}/tp-sample (npm publish)`));
    assert.equal(registry.documents.length + registry.exchanges.length, 0, 'nothing sent');
  });

  it('refuses stage for another registry before any request', async () => {
    const jwts = issuer.issued.length;
    const result = await run({ files: [WHEEL], inputs: { 'repository-url': '', registry: 'pypi' } });
    assert.equal(result.code, 1);
    assert.equal(issuer.issued.length, jwts, 'no ID token was even asked for');
    assert.match(
      result.stdout,
      /Input 'stage' applies to npm only, and tp_sample-0\.1\.0-py3-none-any\.whl goes to PyPI/,
    );
  });
});

describe('npm staged publishing (bundled command on GitLab)', () => {
  it('--stage stages the version and prints how to approve it; nothing secret is printed', async () => {
    const job = await runJob({
      files: [TARBALL],
      args: ['--repository-url', registry.url, '--attestations', 'false', '--stage'],
      idTokens: { NPM_ID_TOKEN: await gitlab.token(registry.audience) },
    });
    assertNothingSecret(job, [...registry.minted, ...gitlab.issued]);
    assert.equal(job.code, 0, job.stdout + job.stderr);
    const [stage] = [...registry.staged.values()];
    assert.deepEqual(
      job.published.map((p) => [p.file, p.status, staging(p).stage_id]),
      [['tp-sample-0.1.0.tgz', 'staged', stage?.id]],
    );
    assert.ok(job.stdout.includes(`npm stage approve ${stage?.id} --registry ${registry.url}/`), job.stdout);
  });
});
