import { CANCELLED } from '../cancel.ts';
import { ActionError } from '../errors.ts';
import { log } from '../output.ts';
import type { Artifact } from '../registries/registry.ts';
import { Slots } from '../slots.ts';
import type { PublishedFile } from '../types.ts';
import { untrusted } from '../untrusted.ts';
import { waitUntilInstallable } from '../wait.ts';
import type { Credentials } from './credentials.ts';
import { heldMessage } from './held.ts';
import { entry, type Part } from './part.ts';

/** Every file of the release failed for one reason (no attestations or no token): one entry each. */
export function failedAll(part: Part, err: unknown): PublishedFile[] {
  const reason = part.cancel.stopped ? CANCELLED : err instanceof Error ? err.message : String(err);
  return part.release.artifacts.map((a) => ({ ...entry(part, a), status: 'failed', error: reason }));
}

/** The release's files as not sent, for this reason; those the registry holds are skipped all the same. */
export function notAttempted(part: Part, reason: string): PublishedFile[] {
  return part.release.artifacts.map((a) =>
    part.held.has(a)
      ? { ...entry(part, a), status: 'skipped' }
      : { ...entry(part, a), status: 'failed', error: reason },
  );
}

/**
 * Uploads at most `max-parallel` files at once; a file starts once those it must follow are through (the
 * first file of a release, a crate's dependencies in the index). A failure stops the files of its release
 * that have not started, lets those under way finish, and every file ends with exactly one entry, in the
 * release's order.
 */
export async function uploadAll(part: Part, credentials: Credentials): Promise<PublishedFile[]> {
  const { registry, artifacts } = part.release;
  const slots = new Slots(part.inputs.maxParallel);
  const broken = new Set<string>();
  const entries = new Map<Artifact, PublishedFile>();
  /** Per file: undefined once dependents may start, else why they may not. */
  const passed = new Map<Artifact, Promise<string | undefined>>();
  for (const artifact of artifacts) {
    const release = `${artifact.name} ${artifact.version}`;
    const failed = (error: string): PublishedFile => ({ ...entry(part, artifact), status: 'failed', error });
    const publishing = (async (): Promise<PublishedFile> => {
      const held = part.held.get(artifact);
      if (held) {
        const message = heldMessage(part, artifact, held);
        log.info(`Skipped ${artifact.file}: ${message}`);
        return { ...entry(part, artifact), status: 'skipped', ...(held.same === false && { note: message }) };
      }
      const blocked = await Promise.all(
        (registry.mustFollow?.(artifact, artifacts) ?? []).map((before) => passed.get(before)),
      );
      const reason = blocked.find((r) => r !== undefined);
      if (part.cancel.stopped) return failed(CANCELLED);
      if (reason) return failed(`not attempted: ${reason}`);
      return slots.run(async () => {
        if (part.cancel.stopped) return failed(CANCELLED);
        if (broken.has(release)) return failed('not attempted: another file of this release failed');
        return uploadOne(part, credentials, artifact, broken);
      });
    })();
    passed.set(
      artifact,
      publishing.then((done) => {
        entries.set(artifact, done);
        return passedFor(part, artifact, done);
      }),
    );
  }
  await Promise.all(passed.values());
  return artifacts.map((a) => entries.get(a) as PublishedFile);
}

async function uploadOne(
  part: Part,
  credentials: Credentials,
  artifact: Artifact,
  broken: Set<string>,
): Promise<PublishedFile> {
  const { registry, target, artifacts, options } = part.release;
  const base = entry(part, artifact);
  try {
    const credential = await credentials.for(artifact);
    const outcome = await registry.upload(target, credential, artifact, options).catch(async (err) => {
      // A token the registry let expire before its time (or revoked) is exchanged anew, once.
      const renewed =
        err instanceof ActionError && err.tokenRefused && (await credentials.renew(artifact, credential));
      if (!renewed) throw err;
      return registry.upload(target, renewed, artifact, options);
    });
    const said = { uploaded: 'Uploaded', staged: 'Staged', skipped: 'Skipped' }[outcome.status];
    if (outcome.stage) log.notice(`${said} ${artifact.file}: ${untrusted(outcome.message)}`);
    else log.info(`${said} ${artifact.file}: ${untrusted(outcome.message)}`);
    const stage = outcome.stage ? { stage_id: outcome.stage.id, approve: outcome.stage.approve } : {};
    return { ...base, status: outcome.status, ...stage };
  } catch (err) {
    broken.add(`${artifact.name} ${artifact.version}`);
    if (part.cancel.stopped) {
      log.warning(`${artifact.file} was not published: the run was cancelled during its upload.`);
      return { ...base, status: 'failed', error: CANCELLED };
    }
    const explained = await credentials.explain(
      err,
      artifacts.filter((a) => a.name === artifact.name),
    );
    const message = explained instanceof Error ? explained.message : String(explained);
    const failed: PublishedFile = { ...base, status: 'failed', error: message };
    explanations.set(failed, explained instanceof ActionError ? explained.explain() : message);
    return failed;
  }
}

/**
 * Each failed upload's whole explanation (cause, fix, claims), printed once: in the run's failure, which the
 * log and the summary show, rather than also as the upload fails.
 */
const explanations = new WeakMap<PublishedFile, string>();

/** Whether the files that must follow this one may start: it went through and, where needed, is indexed. */
async function passedFor(part: Part, artifact: Artifact, done: PublishedFile): Promise<string | undefined> {
  const { release, inputs } = part;
  const { registry, target, artifacts, options } = release;
  if (done.status === 'failed') return `${artifact.file}, which must go first, failed`;
  const followers = artifacts.some((a) => registry.mustFollow?.(a, artifacts).includes(artifact));
  if (!registry.followsIndex || done.status !== 'uploaded' || !followers) return undefined;
  const checks = await registry.installChecks(target, [artifact], options, new Set([artifact]));
  const seen = await waitUntilInstallable(target.title, checks, inputs.waitTimeoutMs, part.cancel.stop);
  return [...seen.values()].every((s) => s !== undefined)
    ? undefined
    : `${artifact.name} ${artifact.version}, which it depends on, is not in ${target.title}'s index after ${inputs.waitTimeoutMs / 1000} s`;
}

/** The staged files and how a maintainer approves each, for the summary; undefined when none was staged. */
export function stagedBlock(entries: PublishedFile[]): string | undefined {
  const staged = entries.filter((e) => e.status === 'staged');
  if (staged.length === 0) return undefined;
  return [
    'Staged, installable once a maintainer approves them (with 2FA):',
    ...staged.map((e) => `  ${e.name}@${e.version}  stage ${e.stage_id}: ${e.approve}`),
  ].join('\n');
}

/** Which files of the run failed, as the run's failure; undefined when none did. */
export function partialFailure(results: PublishedFile[]): ActionError | undefined {
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length === 0) return undefined;
  const done = results.filter((r) => r.status !== 'failed').map((r) => `${r.file} (${r.status})`);
  return new ActionError(
    `${failed.length} of ${results.length} files were not published: ${failed.map((r) => r.file).join(', ')}.`,
    {
      details: [
        done.length ? `Went through: ${done.join(', ')}.` : 'Nothing went through.',
        ...failed.map((r) => `${r.file}: ${explanations.get(r) ?? r.error}`),
      ],
    },
  );
}
