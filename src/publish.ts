import { loadBlake2 } from './artifacts/digest.ts';
import { CANCELLED, type Cancellation } from './cancel.ts';
import type { Ci } from './ci/ci.ts';
import { ActionError } from './errors.ts';
import { attest, noticeUnusedAttestations } from './flow/attest.ts';
import { checkPublishers } from './flow/check.ts';
import { refuseSecondExchange, refuseUnacceptedCi } from './flow/checks.ts';
import { Credentials } from './flow/credentials.ts';
import { dryRun } from './flow/dry-run.ts';
import { lookUpHeld } from './flow/held.ts';
import { waitForAll } from './flow/installable.ts';
import { type Env, type Part, toSend } from './flow/part.ts';
import { describePlan, planReleases } from './flow/plan.ts';
import { failedAll, notAttempted, partialFailure, stagedBlock, uploadAll } from './flow/upload.ts';
import { cutBy } from './http.ts';
import type { Inputs } from './inputs.ts';
import { log } from './output.ts';
import type { PublishedFile } from './types.ts';

export interface PublishOutcome {
  results: PublishedFile[];
  /** Blocks for the step summary: the plan, claims and publisher form values. */
  summary: string[];
  failure?: unknown;
}

/**
 * The whole flow, on the CI system the entry point chose: validate every file and plan; refuse what cannot
 * work before anything is sent; look up what the registries hold; then per registry sign, exchange (once
 * per scope), upload and revoke; wait until installable. Every file ends with one entry in the results.
 * A publisher check (`check`) stops after the refusals: it exchanges at every registry and uploads nothing.
 * Once the run is cancelled nothing new starts, the requests under way are cut after their grace, and the
 * files not sent end as failed "cancelled".
 */
export async function publish(
  inputs: Inputs,
  ci: Ci,
  cancel: Cancellation,
  env: Env = process.env,
): Promise<PublishOutcome> {
  const results: PublishedFile[] = [];
  const summary: string[] = [];
  const outcome = await cutBy(cancel.cut, () => flow(inputs, ci, cancel, env, results, summary));
  if (!cancel.stopped) return outcome;
  return {
    ...outcome,
    failure: new ActionError('The run was cancelled: the files not sent are marked "cancelled".', {
      details: outcome.failure instanceof ActionError ? [outcome.failure.message] : [],
      fix: 'Re-run the job to publish the rest: the files that went up are found there and skipped.',
    }),
  };
}

async function flow(
  inputs: Inputs,
  ci: Ci,
  cancel: Cancellation,
  env: Env,
  results: PublishedFile[],
  summary: string[],
): Promise<PublishOutcome> {
  try {
    const releases = await planReleases(inputs);
    const plan = describePlan(releases, inputs);
    await log.group('Plan', async () => log.info(plan));
    summary.push(plan);
    for (const warning of releases.flatMap((r) => r.artifacts).flatMap((a) => a.warnings))
      log.warning(warning);

    const parts: Part[] = releases.map((release) => ({ release, inputs, ci, env, cancel, held: new Map() }));
    for (const part of parts) refuseUnacceptedCi(part);
    if (inputs.check) {
      for (const part of parts) refuseSecondExchange(part);
      return { results, summary, failure: await checkPublishers(parts, summary) };
    }
    // Each part's tokens, in the parts' order; the first exchange's JWT is asked for beside the lookup.
    const credentialsOf = new Map(parts.map((part) => [part, new Credentials(part)]));
    if (!inputs.dryRun) {
      for (const credentials of credentialsOf.values()) credentials.prepare();
      // PyPI's upload form carries BLAKE2b: its hasher compiles while the lookup and the exchange are in flight.
      if (releases.some((r) => r.registry.sendsBlake2)) loadBlake2();
      await lookUpHeld(parts);
    }
    for (const part of parts) refuseSecondExchange(part);

    for (const [part, credentials] of credentialsOf) {
      if (cancel.stopped) {
        results.push(...notAttempted(part, CANCELLED));
        continue;
      }
      await log.group(part.release.target.title, async () => {
        noticeUnusedAttestations(part);
        if (!inputs.dryRun) return publishRelease(part, credentials, results, summary);
        const block = await dryRun(part);
        if (block) summary.push(block);
      });
    }

    const failure = partialFailure(results);
    if (failure || !inputs.wait || inputs.dryRun || cancel.stopped) return { results, summary, failure };
    return { results, summary, failure: await waitForAll(parts, results, inputs) };
  } catch (failure) {
    return { results, summary, failure };
  }
}

/**
 * One registry's release: attestations first and the first exchange next (a failure there sends nothing),
 * then the uploads; every token minted is revoked whatever happened.
 */
async function publishRelease(
  part: Part,
  credentials: Credentials,
  results: PublishedFile[],
  summary: string[],
): Promise<void> {
  const { release, inputs } = part;
  try {
    if (inputs.password) {
      log.notice(
        `Publishing to ${release.target.title} with a long-lived token. Trusted publishing needs no stored secret: register this workflow as a trusted publisher and drop the 'password' input.`,
      );
    }
    try {
      const attested = await attest(part);
      if (attested) summary.push(attested);
      if (part.cancel.stopped) {
        results.push(...notAttempted(part, CANCELLED));
        return;
      }
      const [first] = toSend(part);
      if (first && !release.registry.exchangeScope) await credentials.for(first);
    } catch (err) {
      results.push(...failedAll(part, err));
      throw err;
    }
    const entries = await uploadAll(part, credentials);
    results.push(...entries);
    const staged = stagedBlock(entries);
    if (staged) summary.push(staged);
  } finally {
    await credentials.revokeAll();
  }
}
