import fs from 'node:fs';
import { ActionError } from './errors.ts';
import { parseJson, send } from './http.ts';
import { log } from './log.ts';

export type Claims = Record<string, unknown>;

type Env = Record<string, string | undefined>;

/** The claims registries match publishers on, in the order the diagnosis shows them. */
export const SHOWN_CLAIMS = [
  'sub',
  'repository',
  'repository_owner',
  'repository_owner_id',
  'workflow_ref',
  'job_workflow_ref',
  'ref',
  'environment',
  'event_name',
] as const;

export function claimText(claims: Claims | undefined, name: string): string | undefined {
  const value = claims?.[name];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** Reads a JWT's payload. Nothing here trusts it: the registry verifies the signature. */
export function decodeClaims(jwt: string): Claims | undefined {
  const payload = jwt.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as Claims) : undefined;
  } catch {
    return undefined;
  }
}

/** The workflow file name in a `owner/repo/.github/workflows/<file>@ref` claim. */
export function workflowFile(ref: string | undefined): string | undefined {
  return ref?.match(/\.github\/workflows\/([^@]+)@/)?.[1];
}

interface EventPayload {
  pull_request?: {
    head?: { repo?: { full_name?: string; fork?: boolean } | null };
    base?: { repo?: { full_name?: string } };
  };
}

function readEvent(env: Env): EventPayload {
  if (!env.GITHUB_EVENT_PATH) return {};
  try {
    return JSON.parse(fs.readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as EventPayload;
  } catch {
    return {};
  }
}

function isForkPullRequest(env: Env): boolean {
  const pr = readEvent(env).pull_request;
  if (!pr) return false;
  const head = pr.head?.repo;
  return (
    Boolean(head?.fork) || (head?.full_name !== undefined && head.full_name !== pr.base?.repo?.full_name)
  );
}

/** Refuses, before any token exists, the events where trusted publishing is unsafe or cannot work. */
export function checkTrustedPublishingPossible(env: Env): void {
  const event = env.GITHUB_EVENT_NAME ?? '';
  if (event === 'pull_request_target') {
    throw new ActionError('Trusted publishing is refused for pull_request_target workflows.', {
      cause:
        'pull_request_target runs with the base repository’s permissions while checking out code a pull request controls; PyPI refuses such tokens and publishing from it would let any contributor release.',
      fix: 'Publish from a workflow triggered by a tag push or a release (on: push: tags, or on: release).',
    });
  }
  if (event === 'workflow_run') {
    log.warning(
      'This job runs from workflow_run: the OIDC claims name this workflow, so the publisher must be registered for this file, not for the workflow that triggered it.',
    );
  }
  if (!env.ACTIONS_ID_TOKEN_REQUEST_URL || !env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    if (isForkPullRequest(env)) {
      throw new ActionError('No OIDC token is available: this job runs for a pull request from a fork.', {
        cause: 'GitHub never gives ID tokens to workflows triggered by pull requests from forks.',
        fix: "Publish from the upstream repository on a tag push or release; skip this step for pull requests (if: github.event_name == 'push').",
      });
    }
    throw new ActionError(
      'No OIDC token is available to this job (ACTIONS_ID_TOKEN_REQUEST_URL is not set).',
      {
        cause: 'The job lacks the id-token: write permission.',
        fix: "Add to the publishing job:\n  permissions:\n    id-token: write\n(Or give a long-lived token in the 'password' input, if trusted publishing cannot be used.)",
      },
    );
  }
}

/**
 * Asks GitHub for an ID token with this audience. Our own request instead of core.getIDToken: that one
 * retries few statuses and can wait minutes on a dead socket; ours is bounded like every other call.
 */
export async function fetchIdToken(audience: string, env: Env = process.env): Promise<string> {
  checkTrustedPublishingPossible(env);
  const url = new URL(`${env.ACTIONS_ID_TOKEN_REQUEST_URL}&audience=${encodeURIComponent(audience)}`);
  const res = await send({
    method: 'GET',
    url,
    headers: { authorization: `Bearer ${env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}`, accept: 'application/json' },
    what: 'Requesting the OIDC token from GitHub',
    timeoutMs: 20_000,
  });
  const value = (parseJson(res) as { value?: unknown } | undefined)?.value;
  if (res.status !== 200 || typeof value !== 'string' || !value) {
    throw new ActionError(`GitHub refused the OIDC token request: HTTP ${res.status} ${res.reason}.`, {
      cause: 'The job lacks the id-token: write permission, or GitHub had a fault.',
      fix: 'Add `permissions: id-token: write` to the publishing job and re-run it.',
    });
  }
  log.secret(value);
  return value;
}
