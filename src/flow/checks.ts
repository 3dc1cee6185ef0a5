import { ActionError } from '../errors.ts';
import { exchangeScope } from './credentials.ts';
import { type Part, toSend } from './part.ts';
import { acceptedCis, formFor } from './publisher.ts';

/**
 * Refuses, before anything is fetched or sent, a run that cannot get an exchange: on a machine without ID
 * tokens (a dry run there checks the rest), for a registry that takes no trusted publisher of this CI, or in
 * a job that must not use its identity (a CircleCI re-run with SSH).
 */
export function refuseUnacceptedCi(part: Part): void {
  const { release, inputs, ci } = part;
  const { registry, target } = release;
  if (inputs.password) return;
  if (!ci.issuesIdTokens) {
    if (!inputs.dryRun) ci.checkIdTokens();
    return;
  }
  if (formFor(registry, ci.id)) {
    ci.refuseUnsafeJob?.();
    return;
  }
  throw new ActionError(
    `${target.title} accepts trusted publishing from ${acceptedCis(registry)} only, not from ${ci.title}.`,
    {
      cause: `${target.title} has no trusted publisher for ${ci.title} jobs, so no exchange of this job's ID token can succeed.`,
      fix: `Give a ${target.title} API key with push rights to this job as a masked, protected CI variable and pass it as the password (TRUSTED_PUBLISH_PASSWORD, or the 'password' input); or publish from ${acceptedCis(registry)}.`,
    },
  );
}

/**
 * A CI that gives a job one ID token per audience (GitLab) allows one exchange: a registry that exchanges per
 * package (npm) can publish one package a job. Said before anything is sent.
 */
export function refuseSecondExchange(part: Part): void {
  const { release, inputs, ci } = part;
  if (inputs.password || ci.freshIdTokens || !ci.issuesIdTokens) return;
  const scopes = [...new Set(toSend(part).map((a) => exchangeScope(part, a)))];
  if (scopes.length <= 1) return;
  const { title } = release.target;
  throw new ActionError(
    `${title} exchanges the ID token once per package, and ${ci.title} gives this job one token: ${scopes.join(', ')} cannot all be published from one job; nothing was sent.`,
    {
      cause: `${ci.title} issues a job's ID tokens once, fixed for the job, and ${title} refuses a token it has already exchanged.`,
      fix: 'Publish each package in its own job, each with its own id_tokens:, or pass an API token as the password (TRUSTED_PUBLISH_PASSWORD).',
    },
  );
}
