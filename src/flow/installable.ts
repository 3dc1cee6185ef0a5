import { ActionError } from '../errors.ts';
import type { Inputs } from '../inputs.ts';
import { log } from '../output.ts';
import type { PublishedFile } from '../types.ts';
import { waitUntilInstallable } from '../wait.ts';
import type { Part } from './part.ts';

/** What the dry run would poll, with the `wait` input. */
export async function waitPlan(part: Part): Promise<string[]> {
  const { release, inputs } = part;
  if (!inputs.wait) return [];
  const { registry, target, artifacts, options } = release;
  const checks = await registry.installChecks(target, artifacts, options, new Set(artifacts));
  const until = options.stage
    ? 'a maintainer approves the staged versions and they are installable'
    : 'installable';
  return [
    `Would wait up to ${inputs.waitTimeoutMs / 1000} s until ${until}, polling:`,
    ...checks.map((c) => `  ${c.what}: ${c.url.href}`),
  ];
}

/**
 * Waits until every version the run uploaded or found there can be installed, and marks their entries; a
 * version that is not installable by the deadline is the run's failure.
 */
export async function waitForAll(parts: Part[], results: PublishedFile[], inputs: Inputs): Promise<unknown> {
  const missing = (await Promise.all(parts.map((part) => waitForRelease(part, results)))).flat();
  if (missing.length === 0) return undefined;
  const unapproved = results.filter((r) => r.status === 'staged' && r.available === false);
  if (unapproved.length > 0) {
    return new ActionError(
      `${unapproved.length === 1 ? 'A staged version was' : `${unapproved.length} staged versions were`} not approved and installable within ${inputs.waitTimeoutMs / 1000} s.`,
      {
        cause:
          'A staged version becomes installable only once a maintainer approves it (with 2FA); no one has yet.',
        fix: `Approve it (${unapproved.map((r) => r.approve).join('; ')}), then re-run the job to wait again: the staged version is not sent twice, since the registry holds it. Or raise 'wait-timeout'.`,
        details: missing,
      },
    );
  }
  return new ActionError(
    `Every file was published, but ${missing.length === 1 ? 'a version is' : `${missing.length} versions are`} not installable yet after ${inputs.waitTimeoutMs / 1000} s.`,
    {
      cause:
        'The registry lists new versions in the index its installers read some time after the upload (a CDN or an index job); it has not caught up yet.',
      fix: "Nothing needs uploading again: re-run the job with 'skip-existing: true' (it sends nothing twice) to wait again, or raise 'wait-timeout'.",
      details: missing,
    },
  );
}

async function waitForRelease(part: Part, results: PublishedFile[]): Promise<string[]> {
  const { registry, target, artifacts, options } = part.release;
  const entries = new Map(results.filter((r) => r.registry === target.id).map((r) => [r.file, r]));
  // A file skipped although the registry holds other bytes under its name is not ours to wait for: the
  // checks look for our digests, which will never be listed.
  const status = (a: { file: string }) => entries.get(a.file)?.status ?? '';
  const done = artifacts.filter(
    (a) => ['uploaded', 'staged', 'skipped'].includes(status(a)) && part.held.get(a)?.same !== false,
  );
  if (done.length === 0) return [];
  const uploaded = new Set(done.filter((a) => ['uploaded', 'staged'].includes(status(a))));
  const staged = done.filter((a) => status(a) === 'staged');
  if (staged.length > 0) {
    // A release gate: the job holds here until a maintainer opens it.
    log.notice(
      `Waiting up to ${part.inputs.waitTimeoutMs / 1000} s for a maintainer to approve ${staged.map((a) => `${a.name}@${a.version}`).join(', ')} on ${target.title} (${staged.map((a) => entries.get(a.file)?.approve).join('; ')}).`,
    );
  }
  const checks = await registry.installChecks(target, done, options, uploaded);
  const availability = await waitUntilInstallable(
    target.title,
    checks,
    part.inputs.waitTimeoutMs,
    part.cancel.stop,
  );
  const missing: string[] = [];
  for (const [check, seconds] of availability) {
    for (const file of check.files) {
      const found = entries.get(file);
      if (!found) continue;
      found.available = seconds !== undefined;
      if (seconds !== undefined) found.available_after_s = seconds;
    }
    if (seconds === undefined) missing.push(`${check.what}: not yet at ${check.url.href}`);
  }
  return missing;
}
