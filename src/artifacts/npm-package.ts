import { promises as fs } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import PackageJson from '@npmcli/package-json';
import { ActionError } from '../errors.ts';
import { ArchiveError, isGzipFile, scanTar } from './archive.ts';

/** What `npm publish` would send for one tarball, read from the package.json in its top folder. */
export interface NpmPackage {
  name: string;
  /** As npm publishes it: `semver.clean` of package.json's version (no leading `v`/`=`, no build metadata). */
  version: string;
  /** package.json as `npm publish` sends it: normalised as npm 11 does, README attached, `version` cleaned. */
  manifest: Record<string, unknown>;
  scoped: boolean;
  prerelease: boolean;
  /** `publishConfig.tag` / `.access`: npm lets them stand in for the --tag and --access flags. */
  configTag: string;
  configAccess: string;
  warnings: string[];
}

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: (string | number)[];
}

// semver.org's grammar, which node-semver's strict (non-loose) parser follows.
const IDENT = String.raw`(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)`;
const SEMVER = new RegExp(
  String.raw`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-(${IDENT}(?:\.${IDENT})*))?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$`,
);
/** node-semver's MAX_LENGTH. */
const MAX_VERSION_LENGTH = 256;

/** node-semver's strict parse, after `semver.clean`'s trimming of whitespace and leading `=`/`v`. */
export function parseSemver(text: string): SemVer | undefined {
  const cleaned = text.trim().replace(/^[=v]+/, '');
  if (cleaned.length > MAX_VERSION_LENGTH) return undefined;
  const m = SEMVER.exec(cleaned);
  if (!m) return undefined;
  const [major, minor, patch] = [m[1], m[2], m[3]].map(Number) as [number, number, number];
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined;
  const prerelease = m[4] ? m[4].split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)) : [];
  return { major, minor, patch, prerelease };
}

export const formatSemver = (v: SemVer): string =>
  `${v.major}.${v.minor}.${v.patch}${v.prerelease.length ? `-${v.prerelease.join('.')}` : ''}`;

/** `semver.clean`: the version npm publishes, or undefined when npm would refuse it (EBADSEMVER). */
export function cleanVersion(text: string): string | undefined {
  const parsed = parseSemver(text);
  return parsed && formatSemver(parsed);
}

/** SemVer precedence (build metadata ignored), as node-semver's compare. */
export function compareSemver(a: SemVer, b: SemVer): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return Math.sign(core);
  // A release sorts after its prereleases.
  if (!a.prerelease.length || !b.prerelease.length)
    return Math.sign(b.prerelease.length - a.prerelease.length);
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const [x, y] = [a.prerelease[i], b.prerelease[i]];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return Math.sign(x - y);
    // Numeric identifiers sort before alphanumeric ones.
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

const SCOPED = /^(?:@([^/]+?)[/])?([^/]+?)$/;

/**
 * validate-npm-package-name 6 (bundled with npm 11): `errors` make a name invalid for any package; `warnings`
 * only for new ones, and trusted publishing serves existing packages, so they are reported, not fatal.
 */
export function checkPackageName(name: string): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!name.length) errors.push('name length must be greater than zero');
  if (name.startsWith('.')) errors.push('name cannot start with a period');
  if (name.startsWith('-')) errors.push('name cannot start with a hyphen');
  if (name.startsWith('_')) errors.push('name cannot start with an underscore');
  if (name.trim() !== name) errors.push('name cannot contain leading or trailing spaces');
  for (const excluded of ['node_modules', 'favicon.ico']) {
    if (name.toLowerCase() === excluded) errors.push(`${excluded} is not a valid package name`);
  }
  if (builtinModules.includes(name.toLowerCase())) warnings.push(`${name} is a core module name`);
  if (name.length > 214) warnings.push('name can no longer contain more than 214 characters');
  if (name.toLowerCase() !== name) warnings.push('name can no longer contain capital letters');
  if (/[~'!()*]/.test(name.split('/').at(-1) ?? '')) {
    warnings.push('name can no longer contain special characters ("~\'!()*")');
  }
  if (encodeURIComponent(name) !== name) {
    const m = SCOPED.exec(name);
    const [scope, bare] = [m?.[1], m?.[2]];
    if (bare?.startsWith('.')) errors.push('name cannot start with a period');
    const urlSafe = (s: string | undefined) => s !== undefined && encodeURIComponent(s) === s;
    if (!urlSafe(scope) || !urlSafe(bare)) errors.push('name can only contain URL-friendly characters');
  }
  return { errors: [...new Set(errors)], warnings };
}

/** npm-package-arg's escapedName: the registry path of a package (`@scope%2fname`, lowercase %2f). */
export const escapeName = (name: string): string => name.replace('/', '%2f');

/** The file `npm pack` writes: `<name>-<version>.tgz`, a scope becoming a `scope-` prefix. */
export const packFileName = (name: string, version: string): string =>
  `${name}-${version}.tgz`.replace(/^@/, '').replace('/', '-');

/** A file name that ends like `npm pack`'s, `-<version>.tgz`: it claims a version we can check. */
const LOOKS_PACKED = /-v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?\.tgz$/;

// node-semver's range grammar (XRANGEPLAIN with the <, >, =, ~ and ^ operators), for semver.validRange.
const XID = String.raw`(?:0|[1-9]\d*|[xX*])`;
const COMPARATOR = new RegExp(
  String.raw`^(?:[<>]?=?|~>?|\^)[v=]*${XID}(?:\.${XID}(?:\.${XID}(?:-${IDENT}(?:\.${IDENT})*)?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?)?)?$`,
);

/** `semver.validRange` for the strings a tag can be: `||`-joined sets of space-separated comparators. */
function isSemverRange(text: string): boolean {
  return text
    .trim()
    .split(/\s*\|\|\s*/)
    .every((set) => set === '' || set.split(/\s+/).every((c) => COMPARATOR.test(c)));
}

/**
 * Why npm would refuse this dist-tag, or undefined: npm 11 refuses a tag that is a valid SemVer range
 * (`1`, `^2`, `x`), then npm-package-arg one that encodeURIComponent would change.
 */
export function distTagProblem(tag: string): string | undefined {
  if (isSemverRange(tag)) return `'${tag}' is a valid SemVer range, which npm refuses as a tag name.`;
  if (encodeURIComponent(tag) !== tag) {
    return `'${tag}' has characters that are not allowed in a dist-tag (only letters, digits and - . _ ~ are safe).`;
  }
  return undefined;
}

/** The dist-tag a package goes out under: the `tag` input, else publishConfig.tag, else latest. */
export function chooseDistTag(pkg: NpmPackage, inputTag: string): { tag: string; explicit: boolean } {
  const tag = inputTag || pkg.configTag;
  return { tag: tag || 'latest', explicit: tag !== '' };
}

/**
 * npm 11 refuses a prerelease under the default tag ("You must specify a tag using --tag when publishing a
 * prerelease version."): `latest` would then point users at a prerelease. Same rule, same place: before
 * anything is sent.
 */
export function prereleaseProblem(pkg: NpmPackage, inputTag: string): string | undefined {
  if (!pkg.prerelease || chooseDistTag(pkg, inputTag).explicit) return undefined;
  return `${pkg.name}@${pkg.version} is a prerelease, and without a tag it would become 'latest' (npm refuses this: "You must specify a tag using --tag when publishing a prerelease version.").`;
}

function invalid(file: string, problem: string, fix = 'Rebuild it with `npm pack`.'): ActionError {
  return new ActionError(`${file}: ${problem}`, {
    cause: 'The file is not a package tarball npm would publish, or was damaged after it was built.',
    fix,
  });
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/**
 * A member's path once npm unpacks it: npm strips the first path segment whatever its name (`package/` from
 * `npm pack`, `node/` from DefinitelyTyped, other names in old packages). Undefined for what npm would not
 * write: a member with no folder, or a path that climbs out of the package.
 */
function unpackedPath(member: string): string | undefined {
  const rest = member.split('/').slice(1).join('/');
  const normal = path.posix.normalize(rest);
  if (!rest || normal.startsWith('../') || normal === '..' || normal.startsWith('/')) return undefined;
  return normal.replace(/\/$/, '');
}

/** Root files whose content npm's manifest reading uses: the README it attaches, AUTHORS for contributors. */
const READ_AT_ROOT = /^(?:package\.json|readme(?:\..*)?|AUTHORS)$/i;

/**
 * Reads a tarball made by `npm pack` and checks what npm would check before publishing. The whole archive is
 * streamed through gunzip and the tar parser, so a truncated or corrupt file is refused here, not by the registry.
 */
export async function readNpmPackage(filePath: string): Promise<NpmPackage> {
  const file = path.basename(filePath);
  // Every member by its unpacked path (a later member of one path replaces an earlier one, as on unpacking).
  const members = new Map<string, string>();
  let scan: Awaited<ReturnType<typeof scanTar>>;
  try {
    // npm pack always gzips.
    if (!isGzipFile(filePath)) throw new ArchiveError('not gzip-compressed');
    scan = await scanTar(filePath, (name) => {
      const unpacked = unpackedPath(name);
      if (unpacked === undefined) return undefined;
      members.set(unpacked, name);
      return READ_AT_ROOT.test(unpacked) ? 'read' : undefined;
    });
  } catch (err) {
    if (err instanceof ArchiveError) {
      throw invalid(file, `cannot be read as a package tarball (${err.message}).`);
    }
    throw err;
  }
  const contents = new Map<string, Buffer>();
  for (const [unpacked, member] of members) {
    const bytes = scan.read.get(member);
    if (bytes) contents.set(unpacked, bytes);
  }
  const raw = contents.get('package.json');
  if (!raw) {
    throw invalid(
      file,
      'has no package.json in its top folder (package/package.json in a tarball from `npm pack`).',
    );
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (err) {
    throw invalid(file, `its package.json is not valid JSON (${(err as Error).message}).`);
  }
  if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) {
    throw invalid(file, 'its package.json is not a JSON object.');
  }
  const checked = checkManifest(file, manifest as Record<string, unknown>);
  let normalized: Record<string, unknown>;
  try {
    normalized = await normalizeAsNpm([...members.keys()], contents, manifest as Record<string, unknown>);
  } catch (err) {
    throw invalid(file, `npm cannot read its package.json (${(err as Error).message}).`);
  }
  return { ...checked, manifest: { ...normalized, version: checked.version } };
}

/**
 * The manifest `npm publish <tarball>` sends, made by the library npm 11 makes it with: pacote unpacks the
 * tarball and reads it with @npmcli/package-json's `prepare` (directories.bin becomes `bin`, `./` leaves bin
 * paths, author and contributor strings become objects, bugs and homepage follow the repository, a keywords
 * string is split, the README is attached), then libnpmpublish applies `fixName`. The steps that look at files
 * see a copy of the package's layout with empty files, holding only what they read: package.json, the root
 * README and AUTHORS.
 */
async function normalizeAsNpm(
  paths: string[],
  contents: Map<string, Buffer>,
  manifest: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tp-npm-manifest-'));
  try {
    for (const member of layoutPaths(paths, manifest)) {
      await fs.mkdir(path.join(dir, path.dirname(member)), { recursive: true });
      await fs.writeFile(path.join(dir, member), contents.get(member) ?? '');
    }
    await fs.writeFile(path.join(dir, 'package.json'), contents.get('package.json') ?? '');
    // gitHead: npm unpacks into its cache, never inside a git repository, so the step never finds one; here
    // the temporary folder might be inside one (TMPDIR in a checkout).
    const steps = PackageJson.prepareSteps.filter((step) => step !== 'gitHead');
    const prepared = await PackageJson.prepare(dir, { steps });
    const patched = await new PackageJson().fromContent(prepared.content).normalize({ steps: ['fixName'] });
    return patched.content;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * The members npm's manifest steps can see: the root (README, AUTHORS, *.gyp, server.js), the folders named by
 * directories.bin and directories.man, and the type declarations beside `main`.
 */
function layoutPaths(paths: string[], manifest: Record<string, unknown>): string[] {
  const directories = (manifest.directories ?? {}) as Record<string, unknown>;
  const folders = [directories.bin, directories.man]
    .filter((d): d is string => typeof d === 'string' && d !== '')
    .map((d) => `${path.posix.normalize(`/${d.replace(/\\/g, '/')}`).slice(1)}/`);
  const main = typeof manifest.main === 'string' ? manifest.main : 'index.js';
  const types = path.posix.normalize(
    path.posix.join(path.posix.dirname(main), `${path.posix.basename(main, path.posix.extname(main))}.d.ts`),
  );
  return paths.filter(
    (p) =>
      p !== 'package.json' &&
      (!p.includes('/') || p === types || folders.some((folder) => folder !== '/' && p.startsWith(folder))),
  );
}

/** The names a tarball of `name@version` goes by: `npm pack`'s, the registry's download name, yarn v1's. */
function tarballNames(name: string, versions: string[]): string[] {
  const bare = name.split('/').at(-1) ?? name;
  return versions.flatMap((v) => [packFileName(name, v), `${bare}-${v}.tgz`, packFileName(name, `v${v}`)]);
}

function checkManifest(
  file: string,
  manifest: Record<string, unknown>,
): Omit<NpmPackage, 'manifest'> & {
  manifest: Record<string, unknown>;
} {
  const { name, version: rawVersion } = manifest;
  if (typeof name !== 'string' || !name) throw invalid(file, 'its package.json has no "name".');
  if (typeof rawVersion !== 'string' || !rawVersion) {
    throw invalid(file, 'its package.json has no "version".');
  }
  const { errors, warnings } = checkPackageName(name);
  if (errors.length) throw invalid(file, `"${name}" is not a valid npm package name: ${errors.join('; ')}.`);
  const parsed = parseSemver(rawVersion);
  if (!parsed) {
    throw invalid(
      file,
      `its version "${rawVersion}" is not valid SemVer (npm: "invalid semver").`,
      'Fix the version in package.json and rebuild with `npm pack`.',
    );
  }
  const version = formatSemver(parsed);
  if (manifest.private === true || manifest.private === 'true') {
    throw invalid(
      file,
      'package.json marks it private: npm refuses to publish it ("This package has been marked as private").',
      "Remove the 'private' field from package.json to publish it, or leave this file out of packages-dir.",
    );
  }
  const notes = warnings.map((w) => `${file}: package name "${name}": ${w}.`);
  // npm takes name and version from package.json, never from the file name; a name that says otherwise
  // often means a stale file from an earlier build.
  if (LOOKS_PACKED.test(file) && !tarballNames(name, [version, rawVersion]).includes(file)) {
    notes.push(
      `${file}: its package.json says ${name}@${version} (\`npm pack\` would name it ${packFileName(name, version)}); it is published as ${name}@${version}, as npm publish would.`,
    );
  }
  const config = (manifest.publishConfig ?? {}) as Record<string, unknown>;
  const configAccess = text(config.access);
  if (configAccess && configAccess !== 'public' && configAccess !== 'restricted') {
    throw invalid(
      file,
      `publishConfig.access is "${configAccess}"; npm accepts "public" or "restricted".`,
      'Fix publishConfig in package.json and rebuild.',
    );
  }
  const configTag = text(config.tag);
  const tagProblem = configTag ? distTagProblem(configTag) : undefined;
  if (tagProblem)
    throw invalid(file, `publishConfig.tag: ${tagProblem}`, 'Fix publishConfig in package.json and rebuild.');
  const registry = text(config.registry);
  if (registry && !/^https:\/\/registry\.npmjs\.org\/?$/.test(registry)) {
    notes.push(
      `${file}: publishConfig.registry (${registry}) is not used: this action publishes to the registry 'repository-url' names (https://registry.npmjs.org by default).`,
    );
  }
  return {
    name,
    version,
    manifest: { ...manifest, version },
    scoped: name.startsWith('@'),
    prerelease: parsed.prerelease.length > 0,
    configTag,
    configAccess,
    warnings: notes,
  };
}
