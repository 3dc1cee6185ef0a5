import fs from 'node:fs';
import path from 'node:path';
import { blake2File, DigestTap, digestFile } from '../artifacts/digest.ts';
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

/** Files read and checked at once while planning. */
const INSPECTED_AT_ONCE = 4;

/** Files that sit beside packages but are never uploaded on their own (signatures, attestations). */
const SIDE_FILES = /\.(asc|sig|sigstore|sigstore\.json|attestation|publish\.attestation)$/;

/** How far the look into subfolders goes: download-artifact nests one level; a deep tree is not a dist folder. */
const SUBFOLDER_DEPTH = 3;
const SUBFOLDER_ENTRIES = 10_000;

interface Listing {
  /** Regular files directly in packages-dir, by name. */
  files: string[];
  /** Its subfolders (hidden ones aside), by name. */
  subfolders: string[];
  /** The real paths of the files, so a link into a subfolder counts as published. */
  real: Set<string>;
}

/** Regular files of packages-dir, by name; each must resolve inside the folder's own tree. */
function listFiles(inputs: Inputs): Listing {
  const listing: Listing = { files: [], subfolders: [], real: new Set() };
  for (const entry of fs.readdirSync(inputs.packagesDir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SIDE_FILES.test(entry.name)) continue;
    const real = fs.realpathSync(path.join(inputs.packagesDir, entry.name));
    const stat = fs.statSync(real);
    if (stat.isDirectory()) {
      if (entry.isDirectory()) listing.subfolders.push(entry.name);
      continue;
    }
    if (!isInside(path, inputs.packagesDir, real)) {
      throw new ActionError(`${entry.name} in packages-dir is a link to ${real}, outside packages-dir.`, {
        fix: 'Copy the file into packages-dir instead of linking to it.',
      });
    }
    if (!stat.isFile()) continue;
    listing.files.push(entry.name);
    listing.real.add(real);
  }
  listing.files.sort();
  listing.subfolders.sort();
  return listing;
}

/**
 * Package files in the subfolders of packages-dir, as `folder/file`: only the files directly in it are
 * published, as `twine upload dist/*` takes them (twine stops at a folder). Links are not followed.
 */
function packagesInSubfolders(inputs: Inputs, listing: Listing): string[] {
  const isPackage = (file: string) =>
    inputs.registry === 'auto'
      ? registryForFile(file, inputs.repositoryUrl) !== undefined
      : entryFor(inputs.registry).accepts(file);
  const found: string[] = [];
  let budget = SUBFOLDER_ENTRIES;
  const walk = (relative: string, depth: number): void => {
    for (const entry of fs.readdirSync(path.join(inputs.packagesDir, relative), { withFileTypes: true })) {
      if (--budget < 0) return;
      if (entry.name.startsWith('.')) continue;
      const inner = `${relative}/${entry.name}`;
      if (entry.isDirectory() && depth < SUBFOLDER_DEPTH) walk(inner, depth + 1);
      if (!entry.isFile() || SIDE_FILES.test(entry.name) || !isPackage(entry.name)) continue;
      if (!listing.real.has(fs.realpathSync(path.join(inputs.packagesDir, inner)))) found.push(inner);
    }
  };
  for (const folder of listing.subfolders) walk(folder, 1);
  return found.sort();
}

/** Refuses package files left in subfolders (download-artifact without merge-multiple): never a partial release. */
function refuseSubfolders(inputs: Inputs, listing: Listing): void {
  const nested = packagesInSubfolders(inputs, listing);
  if (nested.length === 0) return;
  const folders = [...new Set(nested.map((f) => f.slice(0, f.lastIndexOf('/') + 1)))];
  throw new ActionError(
    `packages-dir '${inputs.packagesDirInput}' has package files in subfolders (${folders.join(', ')}), which would not be published; nothing was sent.`,
    {
      cause:
        'Only the files directly in packages-dir are published (`twine upload dist/*` refuses a folder there too). actions/download-artifact without `merge-multiple` puts each artifact in its own folder.',
      fix: "Download the artifacts with `merge-multiple: true` (and `pattern:` naming them) so the files land in packages-dir itself, or move them there; or set 'packages-dir' to the one folder to publish.",
      details: nested,
    },
  );
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
  const listing = listFiles(inputs);
  refuseSubfolders(inputs, listing);
  const { files, subfolders } = listing;
  if (files.length === 0) {
    const folders = subfolders.map((f) => `${f}/`).join(', ');
    throw new ActionError(
      `packages-dir '${inputs.packagesDirInput}' holds no files to publish${subfolders.length ? `, only subfolders (${folders}), with no package file found in them` : ''}.`,
      {
        cause: 'The build step wrote nothing there, or the artifact was downloaded to another folder.',
        fix: "Build into that folder before this step (python -m build, gem build), or set 'packages-dir'; download artifacts with `merge-multiple: true` so their files land in it.",
      },
    );
  }
  const byRegistry = new Map<RegistryId, string[]>();
  for (const file of files) {
    const id = registryOf(file, inputs);
    byRegistry.set(id, [...(byRegistry.get(id) ?? []), file]);
  }
  if (byRegistry.size > 1) {
    const inputNames = {
      repositoryUrl: 'repository-url',
      audience: 'audience',
      user: 'user',
      password: 'password',
    };
    const given = Object.entries(inputNames).filter(([key]) => inputs[key as keyof typeof inputNames]);
    if (given.length > 0) {
      throw new ActionError(
        `packages-dir holds files for ${[...byRegistry.keys()].join(' and ')}, but ${given.map(([, name]) => `'${name}'`).join(', ')} can only apply to one registry.`,
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
    // A few files at once: one's inflating (zlib works in the thread pool) overlaps another's hashing.
    const slots = new Slots(INSPECTED_AT_ONCE);
    const inspected = await Promise.all(
      names.map((name) =>
        slots.run(async (): Promise<Artifact | ActionError> => {
          const file = path.join(inputs.packagesDir, name);
          try {
            // The integrity pass reads the whole file: it hashes it too.
            const tap = new DigestTap();
            if (registry.intactBeforeInspect) await verifyIntact(file, tap.update);
            const read = await registry.inspect(file, { verifyMetadata: inputs.verifyMetadata });
            // Otherwise after the reader: it refuses metadata bombs and unreadable files before all is inflated.
            if (!registry.intactBeforeInspect) await verifyIntact(file, tap.update);
            const digests = tap.digestsOf(fs.statSync(file).size) ?? (await digestFile(file));
            const shown = inputs.printHash ? { blake2_256: await blake2File(file) } : {};
            return { warnings: [], ...read, path: file, file: name, ...digests, ...shown };
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
      if (inputs.printHash) lines.push(`    sha256 ${a.sha256}`, `    blake2b-256 ${a.blake2_256 ?? ''}`);
    }
  }
  return lines.join('\n');
}
