import fs from 'node:fs';
import * as core from '@actions/core';
import { ActionError } from '../errors.ts';
import { parseJson, send } from '../http.ts';
import { claimText, workflowFile } from '../oidc.ts';
import { log } from '../output.ts';
import type { PublishedFile } from '../types.ts';
import { untrusted } from '../untrusted.ts';
import { CI_TITLES, type Ci, failureText, installableColumn, type RunEnd } from './ci.ts';

type Env = Record<string, string | undefined>;

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
function checkTrustedPublishingPossible(env: Env): void {
  const event = env.GITHUB_EVENT_NAME ?? '';
  if (event === 'pull_request_target') {
    throw new ActionError('Trusted publishing is refused for pull_request_target workflows.', {
      cause:
        'pull_request_target runs with the base repository’s permissions while checking out code a pull request controls; PyPI refuses such tokens and publishing from it would let any contributor release.',
      fix: 'Publish from a workflow triggered by a tag push or a release (on: push: tags, or on: release).',
    });
  }
  if (event === 'workflow_run') {
    core.warning(
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
async function fetchIdToken(audience: string, env: Env): Promise<string> {
  checkTrustedPublishingPossible(env);
  // The runner's request token is a credential too: a proxy's error could echo it.
  if (env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) log.secret(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
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
    throw new ActionError(
      `GitHub refused the OIDC token request: HTTP ${res.status} ${untrusted(res.reason)}.`,
      {
        cause: 'The job lacks the id-token: write permission, or GitHub had a fault.',
        fix: 'Add `permissions: id-token: write` to the publishing job and re-run it.',
      },
    );
  }
  log.secret(value);
  return value;
}

const STATUS_ICON = {
  uploaded: '✅ uploaded',
  staged: '⏸️ staged',
  skipped: '⏭️ skipped',
  failed: '❌ failed',
} as const;

/** Text in HTML: file names, registry answers and claims are shown as written, never as markup. */
const html = (text: string): string =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

const row = (tag: 'th' | 'td', cells: string[]) =>
  `<tr>${cells.map((cell) => `<${tag}>${cell}</${tag}>`).join('')}</tr>`;

function resultsTable(results: PublishedFile[]): string {
  const installable = installableColumn(results);
  const header = ['File', 'Registry', 'Name', 'Version', 'sha256', 'Status'];
  if (installable) header.push('Installable');
  const rows = results.map((r) => [
    r.status === 'failed' ? html(r.file) : `<a href="${html(r.url)}">${html(r.file)}</a>`,
    html(r.registry),
    html(r.name),
    html(r.version),
    `<code>${html(r.sha256.slice(0, 16))}…</code>`,
    STATUS_ICON[r.status],
    ...(installable ? [html(installable(r))] : []),
  ]);
  return `<table>${[row('th', header), ...rows.map((cells) => row('td', cells))].join('')}</table>`;
}

/**
 * The step summary, in the HTML GitHub renders: the results, the plan's blocks and the failure. Written here
 * rather than with @actions/core's summary, which puts text into the markup as it is.
 */
function stepSummary({ results, blocks, failure }: RunEnd): string {
  const codeBlock = (text: string) => `<pre><code>${html(text)}</code></pre>`;
  const parts = ['<h2>Trusted publish</h2>'];
  if (results.length > 0) parts.push(resultsTable(results));
  parts.push(...blocks.map(codeBlock));
  if (failure !== undefined)
    parts.push('<h3>Failed</h3>', codeBlock(failureText({ results, blocks, failure })));
  return parts.map((part) => `${part}\n`).join('');
}

/** GitHub Actions: workflow commands, ID tokens from the runner's token service, the step summary. */
export function githubActions(env: Env): Ci {
  return {
    id: 'github',
    title: CI_TITLES.github,
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
    issuesIdTokens: true,
    freshIdTokens: true,
    signsAttestations: true,
    checkIdTokens: () => checkTrustedPublishingPossible(env),
    idToken: (audience) => fetchIdToken(audience, env),
    // The permission covers every audience: checkIdTokens says what is missing.
    missingIdToken: () => undefined,
    shownClaims: [
      'sub',
      'repository',
      'repository_owner',
      'repository_owner_id',
      'workflow_ref',
      'job_workflow_ref',
      'ref',
      'environment',
      'event_name',
    ],
    project: (claims) => claimText(claims, 'repository'),
    ciFile: (claims, githubClaim) => workflowFile(claimText(claims, githubClaim)),
    log: {
      info: (message) => core.info(message),
      notice: (message) => core.notice(message),
      warning: (message) => core.warning(message),
      error: (message) => core.error(message),
      debug: (message) => core.debug(message),
      secret: (value) => core.setSecret(value),
      // GitHub's log keeps its lines as they always were: the step itself is the fold.
      group: (_title, body) => body(),
    },
    async end(run) {
      core.setOutput('published', JSON.stringify(run.results));
      if (run.failure !== undefined) core.setFailed(run.failure);
      if (env.GITHUB_STEP_SUMMARY) fs.appendFileSync(env.GITHUB_STEP_SUMMARY, stepSummary(run));
    },
  };
}
