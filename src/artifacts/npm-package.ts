import fs from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { ActionError } from '../errors.ts';
import { ArchiveError, scanTar } from './archive.ts';

/** What `npm publish` would send for one tarball, read from its `package/package.json`. */
export interface NpmPackage {
  name: string;
  /** As npm publishes it: `semver.clean` of package.json's version (no leading `v`/`=`, no build metadata). */
  version: string;
  /** package.json as packed, with `version` cleaned. */
  manifest: Record<string, unknown>;
  /** The README npm would attach (its normalize step picks README.md-like files first). */
  readme: { file: string; text: string } | undefined;
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

/** @npmcli/package-json's README choice: the first markdown-like README, else a bare README. */
function pickReadme(names: string[]): string | undefined {
  const markdownLike = /\.m?a?r?k?d?o?w?n?$/i;
  const candidates = names.filter((n) => /^readme(\..*)?$/i.test(n)).sort();
  return candidates.find((n) => markdownLike.test(n)) ?? candidates.find((n) => n.endsWith('README'));
}

/**
 * Reads a tarball made by `npm pack` and checks what npm would check before publishing. The whole archive is
 * streamed through gunzip and the tar parser, so a truncated or corrupt file is refused here, not by the registry.
 */
export async function readNpmPackage(filePath: string): Promise<NpmPackage> {
  const file = path.basename(filePath);
  const isMember = (name: string) => name.startsWith('package/') && !name.slice(8).includes('/');
  let scan: Awaited<ReturnType<typeof scanTar>>;
  try {
    const head = Buffer.alloc(2);
    const handle = await fs.open(filePath, 'r');
    try {
      await handle.read(head, 0, 2, 0);
    } finally {
      await handle.close();
    }
    // npm pack always gzips; a plain tar has no checksum to catch truncation.
    if (head[0] !== 0x1f || head[1] !== 0x8b) throw new ArchiveError('not gzip-compressed');
    scan = await scanTar(filePath, (name) =>
      isMember(name) && (name === 'package/package.json' || /^readme(\..*)?$/i.test(name.slice(8)))
        ? 'read'
        : undefined,
    );
  } catch (err) {
    if (err instanceof ArchiveError) {
      throw invalid(file, `cannot be read as a package tarball (${err.message}).`);
    }
    throw err;
  }
  const raw = scan.read.get('package/package.json');
  if (!raw) throw invalid(file, 'has no package/package.json, so it is not a tarball from `npm pack`.');
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (err) {
    throw invalid(file, `its package.json is not valid JSON (${(err as Error).message}).`);
  }
  if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) {
    throw invalid(file, 'its package.json is not a JSON object.');
  }
  return checkManifest(file, manifest as Record<string, unknown>, scan.read);
}

function checkManifest(
  file: string,
  manifest: Record<string, unknown>,
  members: Map<string, Buffer>,
): NpmPackage {
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
  const expected = packFileName(name, version);
  if (file !== expected && file !== packFileName(name, rawVersion) && LOOKS_PACKED.test(file)) {
    throw invalid(
      file,
      `its package.json says ${name}@${version}, so \`npm pack\` would have named it ${expected}.`,
      'Rebuild it with `npm pack`, and make sure nothing else writes into packages-dir.',
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
  const notes = warnings.map((w) => `${file}: package name "${name}": ${w}.`);
  if (registry && !/^https:\/\/registry\.npmjs\.org\/?$/.test(registry)) {
    notes.push(
      `${file}: publishConfig.registry (${registry}) is not used: this action publishes to the registry 'repository-url' names (https://registry.npmjs.org by default).`,
    );
  }
  const readmeName = pickReadme(
    [...members.keys()].filter((m) => m !== 'package/package.json').map((m) => m.slice(8)),
  );
  const readmeBytes = readmeName === undefined ? undefined : members.get(`package/${readmeName}`);
  return {
    name,
    version,
    manifest: { ...manifest, version },
    readme: readmeName && readmeBytes ? { file: readmeName, text: readmeBytes.toString('utf8') } : undefined,
    scoped: name.startsWith('@'),
    prerelease: parsed.prerelease.length > 0,
    configTag,
    configAccess,
    warnings: notes,
  };
}
