import fs from 'node:fs';
import path from 'node:path';
import { ActionError } from '../errors.ts';
import { circleciClaim, claimText, decodeClaims } from '../oidc.ts';
import { log as output } from '../output.ts';
import type { Claims } from '../types.ts';
import { CI_TITLES, type Ci } from './ci.ts';
import { tokenAudiences, tokenVariables } from './id-token-variables.ts';
import { endPlainly, plainLog } from './plain.ts';

type Env = Record<string, string | undefined>;

const CLAIM = circleciClaim;

/** The job's default tokens, whose audience is the organization ID: never sent anywhere. */
const DEFAULT_TOKENS = ['CIRCLE_OIDC_TOKEN_V2', 'CIRCLE_OIDC_TOKEN'];

/** How long `circleci run oidc get` may take, and how much it may print. */
const COMMAND_TIMEOUT_MS = 30_000;
const COMMAND_MAX_OUTPUT = 64 * 1024;

/** The `circleci` command on PATH, where the job's image has it (CircleCI's own images and machines do). */
function findCircleCiCommand(env: Env): string | undefined {
  const names = process.platform === 'win32' ? ['circleci.exe', 'circleci.cmd', 'circleci'] : ['circleci'];
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of names) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch {
        // Not here.
      }
    }
  }
  return undefined;
}

/** The step that hands a registry's token to this command, for messages. */
function exportStep(variable: string, audience: string): string {
  const claims = JSON.stringify({ aud: audience }).replaceAll("'", "'\\''");
  return `  - run: echo "export ${variable}=\\$(circleci run oidc get --claims '${claims}')" >> "$BASH_ENV"`;
}

/** The refusal of a re-run with SSH, whose identity a person at the machine can use. */
function sshRerunRefused(): ActionError {
  return new ActionError('Trusted publishing is refused in a CircleCI job re-run with SSH.', {
    cause: `The job's OIDC token says ${CLAIM('ssh-rerun')}: true. A re-run with SSH lets a person log in to the machine while it holds the job's identity, so what it publishes is not what the pipeline built; PyPI refuses such tokens, and nothing is exchanged here.`,
    fix: 'Re-run the workflow without SSH ("Rerun workflow from start" or "from failed"), or start a new pipeline.',
  });
}

const isSshRerun = (claims: Claims | undefined): boolean => claims?.[CLAIM('ssh-rerun')] === true;

/**
 * CircleCI: an ID token for a registry's audience from the variable a step exported (PYPI_ID_TOKEN,
 * NPM_ID_TOKEN, as the registries' own tools read it) or from `circleci run oidc get --claims '{"aud": …}'`.
 * The job's CIRCLE_OIDC_TOKEN has the organization as its audience and is never sent. A plain log, which
 * masks nothing.
 */
export function circleCi(env: Env): Ci {
  const plain = plainLog({ debug: env.TRUSTED_PUBLISH_DEBUG === 'true' });
  // The job's tokens exist from its start: a lookup answer that echoes one, before any exchange, is scrubbed.
  for (const [name, value] of Object.entries(env))
    if ((name.endsWith('_ID_TOKEN') || DEFAULT_TOKENS.includes(name)) && value) output.secret(value);
  const command = findCircleCiCommand(env);
  const defaultToken = DEFAULT_TOKENS.map((name) => env[name]).find(Boolean);
  // A token handed over in a variable is fixed for the job; the command mints a new one for every request.
  const variablesGiven = Object.keys(env).some((name) => name.endsWith('_ID_TOKEN') && env[name]);
  const fromVariable = (audience: string, purpose: string) => {
    const variables = tokenVariables(audience, purpose);
    const variable = variables.find((name) => env[name]);
    return { variables, variable, jwt: variable ? env[variable] : undefined };
  };

  /** Registers the token, then refuses one of another audience or of an SSH re-run. */
  const accept = (jwt: string, audience: string, source: string, fix: string): string => {
    output.secret(jwt);
    const audiences = tokenAudiences(jwt);
    if (!audiences.includes(audience)) {
      throw new ActionError(
        `${source} is an ID token for audience '${audiences.join("', '")}', not '${audience}'.`,
        {
          cause: `The registry accepts only tokens issued for '${audience}'.`,
          fix,
        },
      );
    }
    if (isSshRerun(decodeClaims(jwt))) throw sshRerunRefused();
    return jwt;
  };

  const askCommand = async (file: string, audience: string, purpose: string): Promise<string> => {
    const args = ['run', 'oidc', 'get', '--claims', JSON.stringify({ aud: audience })];
    // Loaded here: only a CircleCI job without the token in a variable runs a command (start-up cost).
    const { execFile } = (await import('node:child_process')).default;
    const { stdout, failure } = await new Promise<{ stdout: string; failure?: string }>((resolve) => {
      execFile(
        file,
        args,
        { env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: COMMAND_MAX_OUTPUT, windowsHide: true },
        (err, out) => {
          if (!err) return resolve({ stdout: String(out) });
          const code = (err as { code?: unknown }).code;
          resolve({
            stdout: '',
            failure: err.killed ? `no answer within ${COMMAND_TIMEOUT_MS / 1000} s` : `exit status ${code}`,
          });
        },
      );
    });
    const jwt = stdout.trim();
    // Its output is a token or nothing worth showing: what it printed stays out of the log.
    if (failure || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(jwt)) {
      if (jwt) output.secret(jwt);
      throw new ActionError(
        `\`circleci run oidc get\` gave no ID token for audience '${audience}' (${failure ?? 'its output is not a JWT'}).`,
        {
          cause:
            "CircleCI issues OIDC tokens only to jobs that have them (not to builds of a fork's pull request), and the command asks CircleCI's API from inside the job.",
          fix: `Re-run the job; or export the token in an earlier step:\n${exportStep(tokenVariables(audience, purpose)[0] ?? '', audience)}`,
        },
      );
    }
    return accept(jwt, audience, '`circleci run oidc get`', 'Report this with the log.');
  };

  // The default token's claims are read, never sent: they say whether this is a re-run with SSH.
  const refuseSshRerun = () => {
    if (defaultToken && isSshRerun(decodeClaims(defaultToken))) throw sshRerunRefused();
  };

  const missing = (audience: string, purpose: string): string | undefined => {
    if (fromVariable(audience, purpose).jwt || command) return undefined;
    const [variable = ''] = tokenVariables(audience, purpose);
    return `the job has no ID token for audience '${audience}' (${variable} is not set and the circleci command is not on PATH); export one in an earlier step:\n${exportStep(variable, audience)}`;
  };

  return {
    id: 'circleci',
    title: CI_TITLES.circleci,
    workspace: (env.CIRCLE_WORKING_DIRECTORY ?? '').replace(/^~(?=$|\/)/, env.HOME ?? '~') || process.cwd(),
    issuesIdTokens: true,
    freshIdTokens: command !== undefined && !variablesGiven,
    signsAttestations: false,
    refuseUnsafeJob: refuseSshRerun,
    checkIdTokens: refuseSshRerun,
    async idToken(audience, purpose) {
      const { variables, variable, jwt } = fromVariable(audience, purpose);
      const step = exportStep(variables[0] ?? '', audience);
      if (variable && jwt) return accept(jwt, audience, variable, `Export it for this audience:\n${step}`);
      if (command) return askCommand(command, audience, purpose);
      if (defaultToken) {
        throw new ActionError(
          `This CircleCI job has no ID token for audience '${audience}', only its default CIRCLE_OIDC_TOKEN, which is not sent.`,
          {
            cause: `CIRCLE_OIDC_TOKEN's audience is the organization's ID: a registry refuses it, and sending it would hand the job's identity for every service that trusts that audience to the registry. A token for '${audience}' comes from \`circleci run oidc get\`, and the circleci command is not on this job's PATH.`,
            fix: `Run the job in an image with the circleci command (CircleCI's cimg/ images and machine executors have it), or export the token in an earlier step that has it:\n${step}\n(${variables.join(' or ')} is read here.)`,
          },
        );
      }
      throw new ActionError(`This CircleCI job has no OIDC token: ${variables.join(' or ')} is not set.`, {
        cause:
          "CircleCI sets CIRCLE_OIDC_TOKEN in jobs that get OIDC tokens; builds of a fork's pull request get none.",
        fix: `Publish from a pipeline of the project itself (a tag or branch push), and export a token for '${audience}':\n${step}`,
      });
    },
    missingIdToken: missing,
    shownClaims: [
      'sub',
      CLAIM('org-id'),
      CLAIM('project-id'),
      CLAIM('pipeline-definition-id'),
      CLAIM('vcs-origin'),
      CLAIM('vcs-ref'),
      CLAIM('context-ids'),
      CLAIM('ssh-rerun'),
    ],
    project: (claims) => claimText(claims, CLAIM('vcs-origin')) ?? claimText(claims, CLAIM('project-id')),
    // A CircleCI publisher names no CI file: the pipeline definition ID stands for it.
    ciFile: () => undefined,
    log: plain,
    end: (run) => endPlainly(plain, run),
  };
}
