// Each trusted publishing mistake, configured on the emulators, must come out of the bundled action named
// with its fix; causes the claims rule out must not be listed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { type RubyGems, startRubyGems } from '../fakes/rubygems.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { type ActionRun, FIXTURES, findLeaks, type RunOptions, runAction } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

const SDIST = path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz');
const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');
const GEM = path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem');

const REUSABLE = /This job runs a reusable workflow/;
const NO_ENVIRONMENT = /The job has no 'environment:'/;
const ENVIRONMENT = /The job runs in environment/;
const CASE = /compares names with their letter case/;
const MISSING_PROJECT = /does not exist on .* yet/;
const CANDIDATES = /Possible causes, most likely first/;

let issuer: Issuer;
let pypi: PyPI;
let rubygems: RubyGems;

before(async () => {
  issuer = await startIssuer();
});
beforeEach(async () => {
  issuer.claims = defaultClaims();
  await pypi?.close();
  await rubygems?.close();
  pypi = await startPyPI({ issuer });
  rubygems = await startRubyGems({ issuer });
});
after(async () => {
  await pypi.close();
  await rubygems.close();
  await issuer.close();
});

async function run(opts: RunOptions = {}): Promise<ActionRun> {
  const result = await runAction({
    files: [SDIST, WHEEL],
    oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
    ...opts,
    // The exchange's diagnosis alone: attestations have their own suite (attestations.test.ts).
    inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false', ...opts.inputs },
  });
  assert.deepEqual(findLeaks(result, [...pypi.minted, ...rubygems.minted, ...issuer.issued]), []);
  return result;
}

/** Makes the job's workflow another file, in both claims that name one. */
function workflowClaims(file: string, calledRef?: string) {
  const ref = `octo-org/tp-sample/.github/workflows/${file}@refs/tags/v0.1.0`;
  issuer.claims.workflow_ref = ref;
  issuer.claims.job_workflow_ref = calledRef ?? ref;
}

describe('diagnosis of trusted publishing mistakes', () => {
  it('1a. environment mismatch: names the job environment, not the causes the claims rule out', async () => {
    pypi.publisher.environment = 'pypi';
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, /\[invalid-publisher\]/);
    assert.match(result.stdout, /environment: release/);
    assert.match(
      result.stdout,
      /The job runs in environment 'release': the publisher's environment must be 'release'/,
    );
    assert.match(result.stdout, /Environment name: release/);
    for (const ruledOut of [REUSABLE, NO_ENVIRONMENT, CASE, MISSING_PROJECT])
      assert.doesNotMatch(result.stdout, ruledOut);
  });

  it('1b. no environment on the job while the publisher has one', async () => {
    issuer.claims.environment = undefined;
    issuer.claims.sub = 'repo:octo-org/tp-sample:ref:refs/tags/v0.1.0';
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, /environment: MISSING/);
    assert.match(
      result.stdout,
      /The job has no 'environment:', so a publisher registered with an environment never matches/,
    );
    assert.doesNotMatch(result.stdout, ENVIRONMENT);
  });

  it('2. workflow file name: shows the file PyPI reads and its dash/underscore twin', async () => {
    workflowClaims('release-pypi.yml');
    pypi.publisher.workflow = 'release_pypi.yml';
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /The publisher must name the workflow file 'release-pypi.yml' exactly \(not 'release_pypi.yml'/,
    );
    assert.match(result.stdout, /Workflow name: release-pypi.yml/);
    assert.doesNotMatch(result.stdout, REUSABLE);
  });

  it('3. owner case: PyPI matches the exact case, shown as GitHub spells it', async () => {
    issuer.claims.repository_owner = 'Octo-Org';
    issuer.claims.repository = 'Octo-Org/tp-sample';
    workflowClaims('release.yml');
    issuer.claims.workflow_ref = 'Octo-Org/tp-sample/.github/workflows/release.yml@refs/tags/v0.1.0';
    issuer.claims.job_workflow_ref = issuer.claims.workflow_ref;
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /PyPI compares names with their letter case: owner and repository must be 'Octo-Org\/tp-sample' exactly, not 'octo-org\/tp-sample'/,
    );
    assert.match(result.stdout, /Owner: Octo-Org/);
  });

  it('4. package not registered with this publisher: says which went through and which did not', async () => {
    const other = await makeWheel(tempDir('tp-diag-'), {
      name: 'tp-other',
      version: '1.0.0',
    });
    pypi.existingProjects.add('tp-other');
    const result = await run({ files: [SDIST, WHEEL, other] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /not registered for project 'tp-other'/);
    assert.match(
      result.stdout,
      /Went through: tp-sample-0.1.0.tar.gz \(uploaded\), tp_sample-0.1.0-py3-none-any.whl \(uploaded\)/,
    );
    assert.deepEqual(Object.fromEntries(result.published.map((p) => [p.file, p.status])), {
      'tp-sample-0.1.0.tar.gz': 'uploaded',
      'tp_sample-0.1.0-py3-none-any.whl': 'uploaded',
      'tp_other-1.0.0-py3-none-any.whl': 'failed',
    });
    assert.doesNotMatch(result.stdout, CANDIDATES, 'the 403 names the cause: no guessing');
  });

  it('5. reusable workflow: PyPI reads the called file, so the caller registered does not match', async () => {
    workflowClaims(
      'release.yml',
      'octo-org/shared-workflows/.github/workflows/pypi-publish.yml@refs/heads/main',
    );
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /This job runs a reusable workflow\. PyPI matches the called file 'pypi-publish.yml' \(job_workflow_ref\), not the caller 'release.yml': register 'pypi-publish.yml' of repository octo-org\/shared-workflows/,
    );
    assert.match(result.stdout, /Workflow name: pypi-publish.yml/);
  });

  it('6. workflow_run is warned about; pull_request_target is refused before any token exists', async () => {
    const workflowRun = await run({ eventName: 'workflow_run', inputs: { 'dry-run': 'true' } });
    assert.match(workflowRun.stdout, /::warning::This job runs from workflow_run/);
    const requests = issuer.requests.length;
    const prTarget = await run({ eventName: 'pull_request_target' });
    assert.equal(prTarget.code, 1);
    assert.match(prTarget.stdout, /refused for pull_request_target/);
    assert.equal(issuer.requests.length, requests);
  });

  it('7. missing id-token: write names the permission to add', async () => {
    const result = await runAction({ files: [SDIST, WHEEL], inputs: { 'repository-url': pypi.uploadUrl } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /permissions:%0A {4}id-token: write/);
  });

  it('8. project that does not exist yet: suggests a pending publisher with a pre-filled link', async () => {
    pypi.existingProjects.clear();
    pypi.publisher.workflow = 'other.yml';
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, /1\. tp-sample does not exist on PyPI yet.*register a pending publisher/);
    assert.match(
      result.stdout,
      /manage\/account\/publishing\/\?provider=github&owner=octo-org&repository=tp-sample&workflow_filename=release.yml&environment=release&project_name=tp-sample/,
    );
  });

  it('8b. the same for a gem that does not exist yet on RubyGems', async () => {
    rubygems.existingGems.clear();
    rubygems.publisher.workflow = 'other.yml';
    const result = await run({ files: [GEM], inputs: { 'repository-url': rubygems.url } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /tp_sample does not exist on RubyGems.* yet.*pending trusted publisher/);
  });

  it('9. wrong audience: the index says the token is invalid and the fix is to drop the audience input', async () => {
    const result = await run({ inputs: { audience: 'testpypi' } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /\[invalid-token\]/);
    assert.match(result.stdout, /Leave the 'audience' input empty/);
    assert.doesNotMatch(result.stdout, CANDIDATES);
  });

  it('an existing project with a matching-looking publisher does not suggest a pending publisher', async () => {
    pypi.publisher.workflow = 'other.yml';
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, CANDIDATES);
    assert.doesNotMatch(result.stdout, MISSING_PROJECT);
    assert.match(result.stdout, /manage\/project\/tp-sample\/settings\/publishing\/\?provider=github/);
  });
});
