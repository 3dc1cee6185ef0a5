import { ActionError } from '../errors.ts';
import { log } from '../output.ts';
import type { Artifact, HeldFile } from '../registries/registry.ts';
import { untrusted } from '../untrusted.ts';
import type { Part } from './part.ts';

/**
 * Looks up what each registry holds of its release before anything is sent, and records in `part.held` the
 * files not to send. Same bytes are skipped, with or without skip-existing (a re-run of a release whose job
 * died half-way sends only the rest). With skip-existing, anything there is skipped whatever its bytes, with a
 * warning when they differ: as twine's --skip-existing, for the workflows that publish every push to a test
 * index or re-run after a rebuild. Without it, files held with other content stop the run before anything is
 * sent: no upload of them could succeed.
 */
export async function lookUpHeld(parts: Part[]): Promise<void> {
  const conflicts = (await Promise.all(parts.map(lookUp))).flat();
  if (conflicts.length === 0) return;
  throw new ActionError(
    `${conflicts.length === 1 ? 'A file differs' : 'Files differ'} from what the registry already holds; nothing was sent.`,
    {
      cause:
        'These versions were published before with other bytes (a rebuild after the release went out, or a file left from another build). A registry never replaces a published file, and PyPI takes one sdist per release.',
      fix: 'Bump the version and rebuild; or, to finish the release that is there, publish the very files it was built from (download them from the registry or from the first run’s artifacts).',
      details: conflicts,
    },
  );
}

async function lookUp(part: Part): Promise<string[]> {
  const { registry, target, artifacts, options } = part.release;
  if (!registry.held) return [];
  // A read that cannot be made (a firewalled read host, a dropped connection) decides nothing: each upload's
  // own answer does, as before there was a lookup.
  const found = await registry.held(target, artifacts).catch((err: unknown) => {
    if (!(err instanceof ActionError)) throw err;
    log.warning(
      `Could not look up what ${target.title} already holds (${err.message}); every file is sent, and the registry's answer says whether it was there.`,
    );
    return [];
  });
  const conflicts: string[] = [];
  artifacts.forEach((artifact, i) => {
    const held = found[i];
    if (!held) return;
    const holds = `${artifact.file}: ${target.title} already holds ${untrusted(held.file)} for ${artifact.name} ${artifact.version}, with other content`;
    if (held.same === false && !options.skipExisting) {
      conflicts.push(`${holds} (${untrusted(held.url)}).`);
      return;
    }
    if (held.same === false) {
      log.warning(
        `${holds}${digestsShown(held, target.title)}; skipped under skip-existing, nothing is sent for it (${untrusted(held.url)}).`,
      );
    }
    if (held.same || options.skipExisting) part.held.set(artifact, held);
  });
  return conflicts;
}

/** ' (sha256 ours …, PyPI's …)', where the registry gave a digest; registry text shown only if it is hex. */
function digestsShown(held: HeldFile, title: string): string {
  const { digests } = held;
  if (!digests || !/^[0-9a-f]{16,128}$/i.test(digests.stored)) return '';
  return ` (${digests.algorithm} ours ${digests.ours}, ${title}'s ${digests.stored})`;
}

/** Why a held file is skipped, as the log says it. */
export function heldMessage(part: Part, artifact: Artifact, held: HeldFile): string {
  const { title } = part.release.target;
  if (held.same === undefined) return `${artifact.name} ${artifact.version} already exists on ${title}`;
  if (!held.same) {
    return `${title} already holds ${untrusted(held.file)} with other content${digestsShown(held, title)}; skipped under skip-existing`;
  }
  const under = held.file === artifact.file ? '' : ` (as ${untrusted(held.file)})`;
  return `already on ${title} with the same sha256${under}`;
}
