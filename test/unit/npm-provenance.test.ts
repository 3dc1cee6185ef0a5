// The SLSA provenance statement npm signs (libnpmpublish lib/provenance.js and lib/publish.js), held against the
// statement written out by hand from npm's code for the same run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  gitlabProvenanceStatement,
  npmPurl,
  provenanceStatement,
} from '../../src/attestation/npm-provenance.ts';
import { defaultClaims, defaultGitLabClaims } from '../fakes/issuer.ts';

/** The variables libnpmpublish reads on GitHub Actions, for the run defaultClaims() describes. */
const NPM_ENV = {
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'octo-org/tp-sample',
  GITHUB_WORKFLOW_REF: 'octo-org/tp-sample/.github/workflows/release.yml@refs/tags/v0.1.0',
  GITHUB_EVENT_NAME: 'push',
  GITHUB_REPOSITORY_ID: '7654321',
  GITHUB_REPOSITORY_OWNER_ID: '1234567',
  GITHUB_REF: 'refs/tags/v0.1.0',
  GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
  RUNNER_ENVIRONMENT: 'github-hosted',
  GITHUB_RUN_ID: '1',
  GITHUB_RUN_ATTEMPT: '1',
};

/** What npm's JSON.stringify(payload) gives for the scoped package, key order included. */
const NPM_PAYLOAD =
  '{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"pkg:npm/%40octo-org/tp-scoped@1.2.0","digest":{"sha512":"ab12"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1","externalParameters":{"workflow":{"ref":"refs/tags/v0.1.0","repository":"https://github.com/octo-org/tp-sample","path":".github/workflows/release.yml"}},"internalParameters":{"github":{"event_name":"push","repository_id":"7654321","repository_owner_id":"1234567"}},"resolvedDependencies":[{"uri":"git+https://github.com/octo-org/tp-sample@refs/tags/v0.1.0","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},"runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"},"metadata":{"invocationId":"https://github.com/octo-org/tp-sample/actions/runs/1/attempts/1"}}}}';

const SCOPED = { name: '@octo-org/tp-scoped', version: '1.2.0' };

describe('npm provenance statement', () => {
  it("names the package as npm-package-arg's toPurl does: a scope's @ percent-encoded, its slash kept", () => {
    assert.equal(npmPurl('@octo-org/tp-scoped', '1.2.0'), 'pkg:npm/%40octo-org/tp-scoped@1.2.0');
    assert.equal(npmPurl('tp-sample', '0.1.0-beta.1'), 'pkg:npm/tp-sample@0.1.0-beta.1');
  });

  it('is npm’s bytes from the runner variables npm reads, when no claim says otherwise', () => {
    assert.equal(provenanceStatement(SCOPED, 'ab12', {}, NPM_ENV).toString(), NPM_PAYLOAD);
  });

  it('is the same bytes from the claims of the signing token, which win over the variables', () => {
    const misleading = {
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_SHA: 'f'.repeat(40),
      GITHUB_RUN_ID: '9',
    };
    assert.equal(provenanceStatement(SCOPED, 'ab12', defaultClaims(), misleading).toString(), NPM_PAYLOAD);
  });

  it('takes the server from GITHUB_SERVER_URL, which no claim carries (GitHub Enterprise Server)', () => {
    const statement = JSON.parse(
      provenanceStatement(SCOPED, 'ab12', defaultClaims(), {
        GITHUB_SERVER_URL: 'https://ghe.example.com',
      }).toString(),
    );
    assert.equal(
      statement.predicate.buildDefinition.externalParameters.workflow.repository,
      'https://ghe.example.com/octo-org/tp-sample',
    );
  });
});

describe('npm provenance statement from a GitLab job', () => {
  const env = {
    CI_JOB_NAME: 'publish-npm',
    CI_JOB_URL: 'https://gitlab.com/octo-group/tp-sample/-/jobs/2002',
    CI_PROJECT_URL: 'https://gitlab.com/octo-group/tp-sample',
    CI_PROJECT_PATH: 'someone/else',
    CI_SERVER_URL: 'https://gitlab.com',
    CI_CONFIG_PATH: '.gitlab-ci.yml',
    CI_RUNNER_DESCRIPTION: 'shared runner',
  };
  const statement = JSON.parse(
    gitlabProvenanceStatement(
      { name: '@octo/pkg', version: '1.0.0' },
      'ab'.repeat(64),
      defaultGitLabClaims(),
      env,
    ).toString(),
  );

  it("is libnpmpublish's SLSA v0.2 statement for GitLab", () => {
    assert.equal(statement._type, 'https://in-toto.io/Statement/v0.1');
    assert.deepEqual(statement.subject, [
      { name: 'pkg:npm/%40octo/pkg@1.0.0', digest: { sha512: 'ab'.repeat(64) } },
    ]);
    assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v0.2');
    assert.equal(statement.predicate.buildType, 'https://github.com/npm/cli/gitlab/v0alpha1');
    assert.equal(
      statement.predicate.builder.id,
      'https://gitlab.com/octo-group/tp-sample/-/runners/12270807',
    );
    assert.deepEqual(statement.predicate.invocation.configSource, {
      uri: 'git+https://gitlab.com/octo-group/tp-sample',
      digest: { sha1: '0123456789abcdef0123456789abcdef01234567' },
      entryPoint: 'publish-npm',
    });
    assert.equal(statement.predicate.metadata.buildInvocationId, env.CI_JOB_URL);
    assert.deepEqual(statement.predicate.materials, [
      {
        uri: 'git+https://gitlab.com/octo-group/tp-sample',
        digest: { sha1: '0123456789abcdef0123456789abcdef01234567' },
      },
    ]);
  });

  it("takes a value the signing token carries from its claim, the rest from the job's variables", () => {
    const { parameters, environment } = statement.predicate.invocation;
    assert.equal(parameters.CI_PROJECT_PATH, 'octo-group/tp-sample', 'the claim, not the variable');
    assert.equal(parameters.CI_JOB_ID, '2002');
    assert.equal(parameters.CI_CONFIG_PATH, '.gitlab-ci.yml');
    assert.equal(
      'CI_REGISTRY' in parameters,
      false,
      'an unset variable is left out, as JSON.stringify leaves it',
    );
    assert.deepEqual(environment.job, { id: '2002' });
    assert.deepEqual(environment.pipeline, { id: '1001', ref: '.gitlab-ci.yml' });
  });
});
