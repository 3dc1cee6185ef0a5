// npm's SLSA provenance statements, as npm's client builds them from a GitHub Actions run or a gitlab.com job:
// the registry checks them against the signing certificate. Pure data, like pep740.ts: signing is sign.ts's.
import { claimText } from '../oidc.ts';
import type { Claims } from '../types.ts';

type Env = Record<string, string | undefined>;

const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
const GITHUB_BUILDER_ID_PREFIX = 'https://github.com/actions/runner';
const GITHUB_BUILD_TYPE = 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1';

/** npm-package-arg's toPurl for the default registry: a scope's `@` percent-encoded, its `/` kept. */
export const npmPurl = (name: string, version: string): string =>
  `pkg:npm/${name.replace(/^@/, '%40')}@${version}`;

/**
 * libnpmpublish's generateProvenance on GitHub Actions (lib/provenance.js), key for key, with the subject
 * publish.js gives it. npm reads every value from the runner's environment; here the claims of the token whose
 * certificate signs the statement come first, so the statement names the run the certificate names (the runner
 * sets both from the same run: on GitHub the bytes are npm's). GITHUB_SERVER_URL has no claim.
 */
export function provenanceStatement(
  pkg: { name: string; version: string },
  sha512: string,
  claims: Claims,
  env: Env,
): Buffer {
  const value = (claim: string, variable: string) => claimText(claims, claim) ?? env[variable];
  const server = env.GITHUB_SERVER_URL || 'https://github.com';
  const repository = value('repository', 'GITHUB_REPOSITORY');
  // owner/repo/.github/workflows/release.yml@refs/tags/v1 → .github/workflows/release.yml, refs/tags/v1
  const relativeRef = (value('workflow_ref', 'GITHUB_WORKFLOW_REF') ?? '').replace(`${repository}/`, '');
  const at = relativeRef.indexOf('@');
  return Buffer.from(
    JSON.stringify({
      _type: IN_TOTO_STATEMENT_V1,
      subject: [{ name: npmPurl(pkg.name, pkg.version), digest: { sha512 } }],
      predicateType: SLSA_PROVENANCE_V1,
      predicate: {
        buildDefinition: {
          buildType: GITHUB_BUILD_TYPE,
          externalParameters: {
            workflow: {
              ref: relativeRef.slice(at + 1),
              repository: `${server}/${repository}`,
              path: relativeRef.slice(0, at),
            },
          },
          internalParameters: {
            github: {
              event_name: value('event_name', 'GITHUB_EVENT_NAME'),
              repository_id: value('repository_id', 'GITHUB_REPOSITORY_ID'),
              repository_owner_id: value('repository_owner_id', 'GITHUB_REPOSITORY_OWNER_ID'),
            },
          },
          resolvedDependencies: [
            {
              uri: `git+${server}/${repository}@${value('ref', 'GITHUB_REF')}`,
              digest: { gitCommit: value('sha', 'GITHUB_SHA') },
            },
          ],
        },
        runDetails: {
          builder: { id: `${GITHUB_BUILDER_ID_PREFIX}/${value('runner_environment', 'RUNNER_ENVIRONMENT')}` },
          metadata: {
            invocationId: `${server}/${repository}/actions/runs/${value('run_id', 'GITHUB_RUN_ID')}/attempts/${value('run_attempt', 'GITHUB_RUN_ATTEMPT')}`,
          },
        },
      },
    }),
  );
}

const IN_TOTO_STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';
const GITLAB_BUILD_TYPE = 'https://github.com/npm/cli/gitlab/v0alpha1';

/** The job variables libnpmpublish records as the parameters of a GitLab build, in its order. */
const GITLAB_PARAMETERS = [
  'CI',
  'CI_API_GRAPHQL_URL',
  'CI_API_V4_URL',
  'CI_BUILD_BEFORE_SHA',
  'CI_BUILD_ID',
  'CI_BUILD_NAME',
  'CI_BUILD_REF',
  'CI_BUILD_REF_NAME',
  'CI_BUILD_REF_SLUG',
  'CI_BUILD_STAGE',
  'CI_COMMIT_BEFORE_SHA',
  'CI_COMMIT_BRANCH',
  'CI_COMMIT_REF_NAME',
  'CI_COMMIT_REF_PROTECTED',
  'CI_COMMIT_REF_SLUG',
  'CI_COMMIT_SHA',
  'CI_COMMIT_SHORT_SHA',
  'CI_COMMIT_TIMESTAMP',
  'CI_COMMIT_TITLE',
  'CI_CONFIG_PATH',
  'CI_DEFAULT_BRANCH',
  'CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX',
  'CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX',
  'CI_DEPENDENCY_PROXY_SERVER',
  'CI_DEPENDENCY_PROXY_USER',
  'CI_JOB_ID',
  'CI_JOB_NAME',
  'CI_JOB_NAME_SLUG',
  'CI_JOB_STAGE',
  'CI_JOB_STARTED_AT',
  'CI_JOB_URL',
  'CI_NODE_TOTAL',
  'CI_PAGES_DOMAIN',
  'CI_PAGES_URL',
  'CI_PIPELINE_CREATED_AT',
  'CI_PIPELINE_ID',
  'CI_PIPELINE_IID',
  'CI_PIPELINE_SOURCE',
  'CI_PIPELINE_URL',
  'CI_PROJECT_CLASSIFICATION_LABEL',
  'CI_PROJECT_DESCRIPTION',
  'CI_PROJECT_ID',
  'CI_PROJECT_NAME',
  'CI_PROJECT_NAMESPACE',
  'CI_PROJECT_NAMESPACE_ID',
  'CI_PROJECT_PATH',
  'CI_PROJECT_PATH_SLUG',
  'CI_PROJECT_REPOSITORY_LANGUAGES',
  'CI_PROJECT_ROOT_NAMESPACE',
  'CI_PROJECT_TITLE',
  'CI_PROJECT_URL',
  'CI_PROJECT_VISIBILITY',
  'CI_REGISTRY',
  'CI_REGISTRY_IMAGE',
  'CI_REGISTRY_USER',
  'CI_RUNNER_DESCRIPTION',
  'CI_RUNNER_ID',
  'CI_RUNNER_TAGS',
  'CI_SERVER_HOST',
  'CI_SERVER_NAME',
  'CI_SERVER_PORT',
  'CI_SERVER_PROTOCOL',
  'CI_SERVER_REVISION',
  'CI_SERVER_SHELL_SSH_HOST',
  'CI_SERVER_SHELL_SSH_PORT',
  'CI_SERVER_URL',
  'CI_SERVER_VERSION',
  'CI_SERVER_VERSION_MAJOR',
  'CI_SERVER_VERSION_MINOR',
  'CI_SERVER_VERSION_PATCH',
  'CI_TEMPLATE_REGISTRY_HOST',
  'GITLAB_CI',
  'GITLAB_FEATURES',
  'GITLAB_USER_ID',
  'GITLAB_USER_LOGIN',
  'RUNNER_GENERATE_ARTIFACTS_METADATA',
] as const;

/** The variables a GitLab ID token also carries as claims: the claim, from the token that signs, wins. */
const GITLAB_CLAIM_OF: Partial<Record<(typeof GITLAB_PARAMETERS)[number], string>> = {
  CI_COMMIT_SHA: 'sha',
  CI_COMMIT_REF_NAME: 'ref',
  CI_COMMIT_REF_PROTECTED: 'ref_protected',
  CI_JOB_ID: 'job_id',
  CI_PIPELINE_ID: 'pipeline_id',
  CI_PIPELINE_SOURCE: 'pipeline_source',
  CI_PROJECT_ID: 'project_id',
  CI_PROJECT_NAMESPACE: 'namespace_path',
  CI_PROJECT_NAMESPACE_ID: 'namespace_id',
  CI_PROJECT_PATH: 'project_path',
  CI_PROJECT_VISIBILITY: 'project_visibility',
  CI_RUNNER_ID: 'runner_id',
  GITLAB_USER_ID: 'user_id',
  GITLAB_USER_LOGIN: 'user_login',
};

/**
 * libnpmpublish's generateProvenance in a GitLab job (SLSA v0.2, the job's variables as its parameters), key
 * for key. As for GitHub, a value the signing token carries as a claim comes from the claim.
 */
export function gitlabProvenanceStatement(
  pkg: { name: string; version: string },
  sha512: string,
  claims: Claims,
  env: Env,
): Buffer {
  const variable = (name: (typeof GITLAB_PARAMETERS)[number]) => {
    const claim = GITLAB_CLAIM_OF[name];
    return (claim && claimText(claims, claim)) ?? env[name];
  };
  const projectUrl =
    env.CI_PROJECT_URL ?? `${String(claims.iss ?? 'https://gitlab.com')}/${variable('CI_PROJECT_PATH')}`;
  const parameters = Object.fromEntries(
    GITLAB_PARAMETERS.map((name) => [name, name === 'CI_PROJECT_URL' ? projectUrl : variable(name)]),
  );
  const source = { uri: `git+${projectUrl}`, digest: { sha1: variable('CI_COMMIT_SHA') } };
  return Buffer.from(
    JSON.stringify({
      _type: IN_TOTO_STATEMENT_V01,
      subject: [{ name: npmPurl(pkg.name, pkg.version), digest: { sha512 } }],
      predicateType: SLSA_PROVENANCE_V02,
      predicate: {
        buildType: GITLAB_BUILD_TYPE,
        builder: { id: `${projectUrl}/-/runners/${variable('CI_RUNNER_ID')}` },
        invocation: {
          configSource: { ...source, entryPoint: env.CI_JOB_NAME },
          parameters,
          environment: {
            name: env.CI_RUNNER_DESCRIPTION,
            architecture: env.CI_RUNNER_EXECUTABLE_ARCH,
            server: env.CI_SERVER_URL,
            project: variable('CI_PROJECT_PATH'),
            job: { id: variable('CI_JOB_ID') },
            pipeline: { id: variable('CI_PIPELINE_ID'), ref: env.CI_CONFIG_PATH },
          },
        },
        metadata: {
          buildInvocationId: `${env.CI_JOB_URL}`,
          completeness: { parameters: true, environment: true, materials: false },
          reproducible: false,
        },
        materials: [source],
      },
    }),
  );
}
