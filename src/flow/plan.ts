import fs from 'node:fs';
import path from 'node:path';
import { verifyIntact } from '../artifacts/integrity.ts';
import { ActionError } from '../errors.ts';
import { type Inputs, publishOptions } from '../inputs.ts';
import { isInside } from '../paths.ts';
import { entryFor, PUBLISHABLE_FILES, type RegistryId, registryForFile } from '../registries/index.ts';
import type { Artifact, PublishOptions, Registry, Target } from '../registries/registry.ts';
import { Slots } from '../slots.ts';

/** Everything going to one registry instance, validated and in upload order. */
export interface Release {
  registry: Registry<Artifact>;
  target: Target;
  artifacts: Artifact[];
  /** The inputs the registry's exchange and upload read, taken from the inputs once. */
  options: PublishOptions;
}

/** Files that sit beside packages but are never uploaded on their own (signatures, attestations). */
/** Files read and checked at once while planning. */
const INSPECTED_AT_ONCE = 4;

const SIDE_FILES = /\.(asc|sig|sigstore|sigstore\.json|attestation|publish\.attestation)$/;

/** Regular files of packages-dir, by name; each must resolve inside the folder's own tree. */
function listFiles(inputs: Inputs): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(inputs.packagesDir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SIDE_FILES.test(entry.name)) continue;
    const real = fs.realpathSync(path.join(inputs.packagesDir, entry.name));
    const stat = fs.statSync(real);
    if (stat.isDirectory()) continue;
    if (!isInside(path, inputs.packagesDir, real)) {
      throw new ActionError(`${entry.name} in packages-dir is a link to ${real}, outside packages-dir.`, {
        fix: 'Copy the file into packages-dir instead of linking to it.',
      });
    }
    if (!stat.isFile()) continue;
    files.push(entry.name);
  }
  return files.sort();
}

function registryOf(file: string, inputs: Inputs): RegistryId {
  if (inputs.registry !== 'auto') {
    if (entryFor(inputs.registry).accepts(file)) return inputs.registry;
    throw new ActionError(`${file} is not a file ${inputs.registry} accepts.`, {
      cause: `packages-dir '${inputs.packagesDirInput}' holds files of another kind.`,
      fix: "Remove it from packages-dir, or set 'registry: auto' to publish each file to its own registry.",
    });
  }
  const id = registryForFile(file, inputs.repositoryUrl);
  if (id) return id;
  throw new ActionError(`${file} is not a package file this action can publish.`, {
    cause: `Only these are published: ${PUBLISHABLE_FILES}.`,
    fix: 'Remove it from packages-dir, or build the package with its ecosystem’s own tool.',
  });
}

/**
 * Reads and checks every file before anything touches the network, so a bad file never leaves a
 * half-published release. All problems are reported together.
 */
export async function planReleases(inputs: Inputs): Promise<Release[]> {
  const files = listFiles(inputs);
  if (files.length === 0) {
    throw new ActionError(`packages-dir '${inputs.packagesDirInput}' holds no files to publish.`, {
      cause: 'The build step wrote nothing there, or the artifact was downloaded to another folder.',
      fix: "Build into that folder before this step (python -m build, gem build), or set 'packages-dir'.",
    });
  }
  const byRegistry = new Map<RegistryId, string[]>();
  for (const file of files) {
    const id = registryOf(file, inputs);
    byRegistry.set(id, [...(byRegistry.get(id) ?? []), file]);
  }
  if (byRegistry.size > 1) {
    const given = (['repositoryUrl', 'audience', 'user', 'password'] as const).filter((k) => inputs[k]);
    if (given.length > 0) {
      throw new ActionError(
        `packages-dir holds files for ${[...byRegistry.keys()].join(' and ')}, but ${given.join(', ')} can only apply to one registry.`,
        { fix: 'Publish each ecosystem in its own step with its own packages-dir, or drop those inputs.' },
      );
    }
  }
  const options = publishOptions(inputs);
  const releases: Release[] = [];
  const problems: ActionError[] = [];
  for (const [id, names] of byRegistry) {
    const registry = await entryFor(id).load();
    const target = registry.target(id, inputs.repositoryUrl, inputs.audience);
    registry.validate?.(target, options, !inputs.password);
    if (options.stage && !registry.stages) {
      throw new ActionError(
        `Input 'stage' applies to npm only, and ${names.join(', ')} ${names.length === 1 ? 'goes' : 'go'} to ${target.title}.`,
        {
          cause: `${target.title} has no staging: a file uploaded there is published at once.`,
          fix: "Drop 'stage' for this registry: publish npm packages from their own step with 'stage: true'.",
        },
      );
    }
    // A few files at once: one's disk reads overlap another's hashing.
    const slots = new Slots(INSPECTED_AT_ONCE);
    const inspected = await Promise.all(
      names.map((name) =>
        slots.run(async (): Promise<Artifact | ActionError> => {
          const file = path.join(inputs.packagesDir, name);
          try {
            const artifact = await registry.inspect(file, { verifyMetadata: inputs.verifyMetadata });
            // After the reader: it refuses metadata bombs and unreadable files before all of it is inflated.
            await verifyIntact(file);
            return artifact;
          } catch (err) {
            if (!(err instanceof ActionError)) throw err;
            return err;
          }
        }),
      ),
    );
    const artifacts = inspected.filter((a): a is Artifact => !(a instanceof ActionError));
    problems.push(...inspected.filter((a): a is ActionError => a instanceof ActionError));
    if (problems.length === 0)
      releases.push({ registry, target, artifacts: registry.order(artifacts, options), options });
  }
  const [first] = problems;
  if (first && problems.length === 1) throw first;
  if (first) {
    throw new ActionError(`${problems.length} files cannot be published; nothing was uploaded.`, {
      details: problems.map((p) => p.explain()),
    });
  }
  return releases;
}

/** The plan as the log and the summary show it: per registry, where it goes and every file. */
export function describePlan(releases: Release[], inputs: Inputs): string {
  const lines: string[] = [];
  for (const { target, artifacts } of releases) {
    lines.push(`${target.name} at ${target.url.href}, token exchange at ${target.mintUrl.href}:`);
    for (const a of artifacts) {
      lines.push(`  ${a.file}  ${a.name} ${a.version}  ${a.size} bytes`);
      if (inputs.printHash) lines.push(`    sha256 ${a.sha256}`, `    blake2b-256 ${a.blake2_256}`);
    }
  }
  return lines.join('\n');
}
