import { ActionError } from '../errors.ts';
import { CI_TITLES, type Ci } from './ci.ts';
import { endPlainly, plainLog } from './plain.ts';

type Env = Record<string, string | undefined>;

const NO_IDENTITY =
  'trusted publishing needs the ID token of a CI job (GitHub Actions, GitLab CI/CD or CircleCI), and this machine has none';

/** A terminal: plain lines, no ID token; a dry run checks the files and the plan. */
export function localMachine(env: Env): Ci {
  const log = plainLog({ debug: env.TRUSTED_PUBLISH_DEBUG === 'true' });
  const refuse = (): never => {
    throw new ActionError(`No OIDC identity: ${NO_IDENTITY}.`, {
      cause: 'None of GITHUB_ACTIONS, GITLAB_CI and CIRCLECI is set, so this is not a CI job.',
      fix: 'Run trusted-publish in the CI job registered as the trusted publisher; here, --dry-run checks the files and the plan, and a long-lived token in TRUSTED_PUBLISH_PASSWORD publishes without trusted publishing.',
    });
  };
  return {
    id: 'local',
    title: CI_TITLES.local,
    workspace: process.cwd(),
    issuesIdTokens: false,
    freshIdTokens: false,
    signsAttestations: false,
    checkIdTokens: refuse,
    idToken: async () => refuse(),
    missingIdToken: () => NO_IDENTITY,
    shownClaims: [],
    project: () => undefined,
    ciFile: () => undefined,
    log,
    end: (run) => endPlainly(log, run),
  };
}
