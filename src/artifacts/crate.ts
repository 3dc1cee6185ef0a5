import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ActionError } from '../errors.ts';
import { ArchiveError, isGzipFile, readTarMember, scanTar } from './archive.ts';
import { isSemverVersion, ManifestError, normalizePlatform, normalizeVersionReq } from './cargo-syntax.ts';

/**
 * One dependency as `cargo publish` sends it (crates-io's `NewCrateDependency`). `registry` and
 * `explicit_name_in_toml` are left out when cargo leaves them out (serde `skip_serializing_if`).
 */
export interface CrateDependency {
  optional: boolean;
  default_features: boolean;
  name: string;
  features: string[];
  version_req: string;
  target: string | null;
  kind: 'normal' | 'dev' | 'build';
  registry?: string;
  explicit_name_in_toml?: string;
}

/** The publish metadata JSON, field for field and in the order cargo 1.95 serialises it (`NewCrate`). */
export interface CrateMetadata {
  name: string;
  vers: string;
  deps: CrateDependency[];
  features: Record<string, string[]>;
  authors: string[];
  description: string | null;
  documentation: string | null;
  homepage: string | null;
  readme: string | null;
  readme_file: string | null;
  keywords: string[];
  categories: string[];
  license: string | null;
  license_file: string | null;
  repository: string | null;
  badges: Record<string, Record<string, string>>;
  links: string | null;
  rust_version: string | null;
}

export interface CrateSpec {
  name: string;
  version: string;
  /**
   * The metadata as sent to the registry the crate was packaged for. A dependency's `registry` holds the
   * index URL its packaged Cargo.toml names (`registry-index`), and is absent for crates.io dependencies:
   * `metadataFor` turns that into what cargo sends to a given registry.
   */
  metadata: CrateMetadata;
}

/** crates.io's index, as cargo names it in the `registry` of a dependency sent to another registry. */
export const CRATES_IO_INDEX = 'https://github.com/rust-lang/crates.io-index';
const CRATES_IO_INDEXES = new Set([CRATES_IO_INDEX, 'sparse+https://index.crates.io/']);

/** cargo's DEFAULT_README_FILES, looked up in this order when the manifest says nothing about a readme. */
const DEFAULT_README_FILES = ['README.md', 'README.txt', 'README'];

const REPACKAGE = 'Rebuild it with `cargo package` and make sure nothing else writes into packages-dir.';

type Table = Record<string, unknown>;

const isTable = (value: unknown): value is Table =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/** Own keys only: a dependency may be called `constructor`, which every object inherits. */
const own = (table: Table, key: string): unknown => (Object.hasOwn(table, key) ? table[key] : undefined);

/** Rust's BTreeMap<String, _> order: by bytes, not by locale. */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
const sortedEntries = (table: Table): [string, unknown][] =>
  Object.entries(table).sort(([a], [b]) => byteOrder(a, b));

function optionalString(table: Table, key: string, where: string): string | null {
  const value = own(table, key);
  if (value === undefined) return null;
  if (typeof value === 'string') return value;
  if (isTable(value) && own(value, 'workspace') === true) {
    throw new ManifestError(
      `${where}.${key} is inherited from a workspace; cargo package writes the resolved value, so this Cargo.toml was not written by cargo package.`,
    );
  }
  throw new ManifestError(`${where}.${key} must be a string.`);
}

function stringList(table: Table, key: string, where: string): string[] {
  const value = own(table, key);
  if (value === undefined) return [];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new ManifestError(`${where}.${key} must be a list of strings.`);
}

function subTable(table: Table, keys: string[], where: string): Table | undefined {
  for (const key of keys) {
    const value = own(table, key);
    if (value === undefined) continue;
    if (!isTable(value)) throw new ManifestError(`${where}.${key} must be a table.`);
    return value;
  }
  return undefined;
}

// ---- the manifest → NewCrate ----

function dependency(
  nameInToml: string,
  spec: unknown,
  kind: CrateDependency['kind'],
  target: string | null,
): CrateDependency {
  const where = `dependency \`${nameInToml}\``;
  const detail: Table = typeof spec === 'string' ? { version: spec } : isTable(spec) ? spec : {};
  if (typeof spec !== 'string' && !isTable(spec))
    throw new ManifestError(`${where} must be a string or a table.`);
  if (own(detail, 'workspace') !== undefined) {
    throw new ManifestError(`${where} is inherited from a workspace; cargo package writes it out in full.`);
  }
  const version = own(detail, 'version');
  if (typeof version !== 'string') {
    throw new ManifestError(
      `${where} has no version requirement; cargo package requires one for every dependency.`,
    );
  }
  const versionReq = normalizeVersionReq(version);
  if (versionReq === undefined)
    throw new ManifestError(`${where} has an invalid version requirement \`${version}\`.`);
  const flag = (keys: string[], fallback: boolean): boolean => {
    for (const key of keys) {
      const value = own(detail, key);
      if (value === undefined) continue;
      if (typeof value !== 'boolean') throw new ManifestError(`${where}: ${key} must be true or false.`);
      return value;
    }
    return fallback;
  };
  const pkg = own(detail, 'package');
  if (pkg !== undefined && typeof pkg !== 'string')
    throw new ManifestError(`${where}: package must be a string.`);
  const registryIndex = own(detail, 'registry-index');
  if (registryIndex !== undefined && typeof registryIndex !== 'string') {
    throw new ManifestError(`${where}: registry-index must be a string.`);
  }
  if (own(detail, 'registry') !== undefined) {
    // cargo package replaces `registry = "name"` with the index URL; a name alone cannot be resolved here.
    throw new ManifestError(
      `${where} names a registry by name only; cargo package writes its registry-index.`,
    );
  }
  return {
    optional: flag(['optional'], false),
    default_features: flag(['default-features', 'default_features'], true),
    name: pkg ?? nameInToml,
    features: stringList(detail, 'features', where),
    version_req: versionReq,
    target,
    kind,
    ...(registryIndex === undefined ? {} : { registry: registryIndex }),
    ...(pkg === undefined ? {} : { explicit_name_in_toml: nameInToml }),
  };
}

function dependencies(
  table: Table,
  keys: string[],
  kind: CrateDependency['kind'],
  target: string | null,
): CrateDependency[] {
  const deps = subTable(table, keys, target ? `target.${target}` : 'manifest');
  if (!deps) return [];
  return sortedEntries(deps).map(([name, spec]) => dependency(name, spec, kind, target));
}

const DEV = ['dev-dependencies', 'dev_dependencies'];
const BUILD = ['build-dependencies', 'build_dependencies'];

/** cargo's `to_real_manifest` order: normal, dev, build; then per target (sorted) normal, build, dev. */
function allDependencies(manifest: Table): CrateDependency[] {
  const deps = [
    ...dependencies(manifest, ['dependencies'], 'normal', null),
    ...dependencies(manifest, DEV, 'dev', null),
    ...dependencies(manifest, BUILD, 'build', null),
  ];
  const targets = subTable(manifest, ['target'], 'manifest') ?? {};
  for (const [key, platform] of sortedEntries(targets)) {
    if (!isTable(platform)) throw new ManifestError(`target.${key} must be a table.`);
    const target = normalizePlatform(key);
    deps.push(
      ...dependencies(platform, ['dependencies'], 'normal', target),
      ...dependencies(platform, BUILD, 'build', target),
      ...dependencies(platform, DEV, 'dev', target),
    );
  }
  return deps;
}

function stringMap<T>(table: Table | undefined, where: string, value: (v: unknown, key: string) => T) {
  const out: Record<string, T> = {};
  for (const [key, v] of sortedEntries(table ?? {})) out[key] = value(v, `${where}.${key}`);
  return out;
}

/** Where the readme lives, as cargo decides it for a packaged manifest (`normalize_package_readme`). */
function readmeFile(pkg: Table, members: Set<string>, root: string): string | null {
  const readme = own(pkg, 'readme');
  if (readme === false) return null;
  if (readme === true) return 'README.md';
  if (typeof readme === 'string') return readme;
  if (readme !== undefined) throw new ManifestError('package.readme must be a string or a boolean.');
  // Crates packaged by older cargo have no readme key: cargo looks for the default names.
  return DEFAULT_README_FILES.find((name) => members.has(`${root}${name}`)) ?? null;
}

/** A path inside the package, '/'-separated; undefined when it leaves the package. */
function memberPath(root: string, relative: string): string | undefined {
  const parts: string[] = [];
  for (const part of relative.split(/[\\/]/)) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return `${root}${parts.join('/')}`;
}

function packageTable(manifest: Table): Table {
  const pkg = subTable(manifest, ['package', 'project'], 'manifest');
  if (!pkg) throw new ManifestError('Cargo.toml has no [package] table.');
  return pkg;
}

/** The readme the manifest names (or cargo would find) and the archive member holding it. */
export function readmeOf(
  manifest: Table,
  members: Set<string>,
  root: string,
): { file: string; member: string } | null {
  const file = readmeFile(packageTable(manifest), members, root);
  if (file === null) return null;
  const member = memberPath(root, file);
  if (member === undefined || !members.has(member)) {
    throw new ManifestError(`package.readme names \`${file}\`, which is not in the archive.`);
  }
  return { file, member };
}

/**
 * The publish metadata cargo builds from a packaged Cargo.toml (cargo's `prepare_transmit`), given the
 * readme that `readmeOf` located and its text.
 */
export function crateMetadata(manifest: Table, readme: { file: string; text: string } | null): CrateMetadata {
  const pkg = packageTable(manifest);
  const name = optionalString(pkg, 'name', 'package');
  const vers = optionalString(pkg, 'version', 'package');
  if (!name) throw new ManifestError('Cargo.toml has no package.name.');
  if (!vers) throw new ManifestError('Cargo.toml has no package.version.');
  if (!isSemverVersion(vers)) throw new ManifestError(`package.version \`${vers}\` is not a semver version.`);
  const features = stringMap(subTable(manifest, ['features'], 'manifest'), 'features', (v, where) => {
    if (Array.isArray(v) && v.every((f) => typeof f === 'string')) return v as string[];
    throw new ManifestError(`${where} must be a list of strings.`);
  });
  const badges = stringMap(subTable(manifest, ['badges'], 'manifest'), 'badges', (v, where) => {
    if (!isTable(v)) throw new ManifestError(`${where} must be a table.`);
    return stringMap(v, where, (s, key) => {
      if (typeof s !== 'string') throw new ManifestError(`${key} must be a string.`);
      return s;
    });
  });
  return {
    name,
    vers,
    deps: allDependencies(manifest),
    features,
    authors: stringList(pkg, 'authors', 'package'),
    description: optionalString(pkg, 'description', 'package'),
    documentation: optionalString(pkg, 'documentation', 'package'),
    homepage: optionalString(pkg, 'homepage', 'package'),
    readme: readme?.text ?? null,
    readme_file: readme?.file ?? null,
    keywords: stringList(pkg, 'keywords', 'package'),
    categories: stringList(pkg, 'categories', 'package'),
    license: optionalString(pkg, 'license', 'package'),
    license_file: optionalString(pkg, 'license-file', 'package'),
    repository: optionalString(pkg, 'repository', 'package'),
    badges,
    links: optionalString(pkg, 'links', 'package'),
    rust_version: optionalString(pkg, 'rust-version', 'package'),
  };
}

/**
 * What cargo sends to a registry: a dependency's `registry` is left out when it is that registry ("None
 * means the same registry" in the Web API) and names crates.io's index otherwise.
 */
export function metadataFor(metadata: CrateMetadata, toCratesIo: boolean): CrateMetadata {
  const deps = metadata.deps.map(({ registry, ...dep }) => {
    const index = registry ?? CRATES_IO_INDEX;
    const same = toCratesIo && CRATES_IO_INDEXES.has(index);
    // Keep cargo's key order: registry sits between kind and explicit_name_in_toml.
    const { explicit_name_in_toml: explicit, ...rest } = dep;
    return {
      ...rest,
      ...(same ? {} : { registry: index }),
      ...(explicit === undefined ? {} : { explicit_name_in_toml: explicit }),
    };
  });
  return { ...metadata, deps };
}

// ---- the .crate file ----

function invalid(file: string, problem: string): ActionError {
  return new ActionError(`${file}: ${problem}`, {
    cause: 'The file is not a crate as `cargo package` writes it, or was damaged after it was built.',
    fix: REPACKAGE,
  });
}

const utf8 = (data: Buffer): string => new TextDecoder('utf-8', { fatal: true }).decode(data);

/**
 * Reads a .crate (a gzipped tar of `NAME-VERSION/`), checks it the way crates.io will, and builds the
 * metadata `cargo publish` would send for it. The whole archive is read, so a truncated file is refused here,
 * before any network call.
 */
export async function readCrate(filePath: string, verifyMetadata: boolean): Promise<CrateSpec> {
  const file = path.basename(filePath);
  if (!file.endsWith('.crate')) throw invalid(file, 'is not named NAME-VERSION.crate.');
  const stem = file.slice(0, -'.crate'.length);
  if (!isGzipFile(filePath)) throw invalid(file, 'is not gzip-compressed, as every .crate is.');
  const members: string[] = [];
  let manifestMember: { name: string; data: Buffer } | undefined;
  try {
    const scan = await scanTar(filePath, (name) => {
      members.push(name);
      return /^[^/]+\/Cargo\.toml$/.test(name) ? 'read' : undefined;
    });
    const manifests = [...scan.read];
    if (manifests.length > 1) {
      throw invalid(file, `holds several packages (${manifests.map(([n]) => n).join(', ')}).`);
    }
    const [first] = manifests;
    manifestMember = first && { name: first[0], data: first[1] };
  } catch (err) {
    if (err instanceof ArchiveError)
      throw invalid(file, `cannot be read as a .crate archive (${err.message}).`);
    throw err;
  }
  if (!manifestMember)
    throw invalid(file, `has no Cargo.toml in a top-level folder (expected ${stem}/Cargo.toml).`);
  const root = manifestMember.name.slice(0, -'Cargo.toml'.length);
  let manifest: Table;
  try {
    manifest = parseToml(utf8(manifestMember.data), { unsafeKeyBehaviour: 'keep' }) as Table;
  } catch (err) {
    throw invalid(file, `its Cargo.toml cannot be parsed (${(err as Error).message.split('\n')[0]}).`);
  }
  let metadata: CrateMetadata;
  try {
    const readme = readmeOf(manifest, new Set(members), root);
    const read = readme && (await readTarMember(filePath, (name) => name === readme.member));
    metadata = crateMetadata(manifest, readme && read ? { file: readme.file, text: utf8(read.data) } : null);
  } catch (err) {
    if (err instanceof ManifestError) throw invalid(file, `its Cargo.toml is not usable: ${err.message}`);
    if (err instanceof ArchiveError) throw invalid(file, `its readme cannot be read (${err.message}).`);
    // TextDecoder's fatal mode: cargo reads the readme as a String and fails the same way.
    if (err instanceof TypeError) throw invalid(file, 'its readme is not valid UTF-8.');
    throw err;
  }
  const expected = `${metadata.name}-${metadata.vers}`;
  if (stem !== expected) {
    throw invalid(
      file,
      `its Cargo.toml says ${metadata.name} ${metadata.vers}, so the file should be named ${expected}.crate.`,
    );
  }
  const stray = members.find((m) => !m.startsWith(`${expected}/`) || m.split('/').includes('..'));
  if (root !== `${expected}/` || stray !== undefined) {
    throw invalid(file, `holds ${stray ?? root} outside ${expected}/, which crates.io refuses.`);
  }
  if (verifyMetadata) checkRequired(file, metadata);
  return { name: metadata.name, version: metadata.vers, metadata };
}

/** crates.io refuses a crate without these ("missing or empty metadata fields"); say so before uploading. */
function checkRequired(file: string, metadata: CrateMetadata): void {
  const missing: string[] = [];
  if (!metadata.description) missing.push('description');
  if (!metadata.license && !metadata.license_file) missing.push('license');
  if (missing.length === 0) return;
  throw new ActionError(`${file}: Cargo.toml lacks ${missing.join(' and ')}, which crates.io requires.`, {
    cause: 'crates.io refuses crates without a description and a license (or license-file).',
    fix: `Add ${missing.map((m) => `package.${m}`).join(' and ')} to Cargo.toml and run \`cargo package\` again (or set 'verify-metadata: false' for a registry that does not require them).`,
  });
}
