import { ActionError } from '../errors.ts';
import { claimText, gitlabCiFile, idTokenProblem } from '../oidc.ts';
import { log } from '../output.ts';
import { CI_TITLES, type Ci } from './ci.ts';
import { tokenAudiences, tokenVariables } from './id-token-variables.ts';
import { endPlainly, plainLog } from './plain.ts';

type Env = Record<string, string | undefined>;

/** The `.gitlab-ci.yml` lines that give the job this token. */
function idTokensYaml(variable: string, audience: string): string {
  const aud = /^[\w.:/-]+$/.test(audience) && !audience.includes(': ') ? audience : JSON.stringify(audience);
  return `  id_tokens:\n    ${variable}:\n      aud: ${aud}`;
}

/** A GitLab log section, collapsible in the job log. */
const section = {
  start: (name: string, title: string) =>
    `\x1b[0Ksection_start:${Math.floor(Date.now() / 1000)}:${name}\r\x1b[0K${title}`,
  end: (name: string) => `\x1b[0Ksection_end:${Math.floor(Date.now() / 1000)}:${name}\r\x1b[0K`,
};

/**
 * GitLab CI/CD: ID tokens only from the job's `id_tokens:` keyword, one variable per audience, fixed for the
 * job; a log with sections and plain ERROR/WARNING lines, which masks nothing at run time.
 */
export function gitlabCi(env: Env): Ci {
  const plain = plainLog({ section, debug: env.CI_DEBUG_TRACE === 'true' });
  // The job's ID tokens exist from its start: a lookup answer that echoes one, before any exchange, is scrubbed.
  for (const [name, value] of Object.entries(env)) if (name.endsWith('_ID_TOKEN') && value) log.secret(value);
  const find = (audience: string, purpose: string) => {
    const variables = tokenVariables(audience, purpose);
    const variable = variables.find((name) => env[name]);
    return { variables, variable, jwt: variable ? env[variable] : undefined };
  };
  const missing = (audience: string, purpose: string): string | undefined => {
    const { variables, jwt } = find(audience, purpose);
    if (jwt) return undefined;
    return `the job declares no ID token for audience '${audience}' (${variables.join(' or ')} is not set); add to the job in .gitlab-ci.yml:\n${idTokensYaml(variables[0] ?? '', audience)}`;
  };
  return {
    id: 'gitlab',
    title: CI_TITLES.gitlab,
    workspace: env.CI_PROJECT_DIR || process.cwd(),
    issuesIdTokens: true,
    freshIdTokens: false,
    signsAttestations: true,
    // Whether a token exists depends on the audience: idToken says which one is missing.
    checkIdTokens: () => undefined,
    async idToken(audience, purpose) {
      const { variables, variable, jwt } = find(audience, purpose);
      const yaml = idTokensYaml(variable ?? variables[0] ?? '', audience);
      if (!variable || !jwt) {
        throw new ActionError(
          `This GitLab job has no ID token for audience '${audience}': ${variables.join(' or ')} is not set.`,
          {
            cause:
              "GitLab gives a job ID tokens only through its 'id_tokens:' keyword, one variable per audience.",
            fix: `Add to the publishing job in .gitlab-ci.yml:\n${yaml}`,
          },
        );
      }
      log.secret(jwt);
      const problem = idTokenProblem(jwt);
      if (problem) {
        throw new ActionError(`${variable} ${problem}.`, {
          cause: problem.includes('expired')
            ? 'GitLab ID tokens last as long as the job may run; this one was made for an earlier job or outlived its job.'
            : `The variable holds something else than the job's ID token: a CI/CD variable or a script line of the same name replaces it.`,
          fix: `Declare it only under the job's 'id_tokens:' and run a new job:\n${yaml}`,
        });
      }
      const audiences = tokenAudiences(jwt);
      if (!audiences.includes(audience)) {
        throw new ActionError(
          `${variable} is an ID token for audience '${audiences.join("', '")}', not '${audience}'.`,
          {
            cause: `The registry accepts only tokens issued for '${audience}'; the job's 'id_tokens:' entry names another 'aud'.`,
            fix: `Set in the publishing job in .gitlab-ci.yml:\n${yaml}`,
          },
        );
      }
      return jwt;
    },
    missingIdToken: missing,
    shownClaims: ['sub', 'project_path', 'namespace_path', 'ci_config_ref_uri', 'ref', 'environment'],
    project: (claims) => claimText(claims, 'project_path'),
    ciFile: (claims) => gitlabCiFile(claims),
    log: plain,
    end: (run) => endPlainly(plain, run),
  };
}
