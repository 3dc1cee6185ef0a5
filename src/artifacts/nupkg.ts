import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ActionError } from '../errors.ts';
import { ArchiveError, readZipMember, UnsupportedCompression } from './archive.ts';
import { compressionRefusal } from './integrity.ts';

export interface NuGetPackage {
  /** The package ID as the .nuspec spells it. */
  id: string;
  /** NuGet's normalised form (1.0 → 1.0.0, build metadata dropped): what nuget.org shows and stores. */
  version: string;
  /** The version as the .nuspec spells it. */
  nuspecVersion: string;
  /** A .snupkg, pushed to the symbol endpoint after its package. */
  symbols: boolean;
}

/** nuget.org's PackageIdValidator for new IDs, and its 100-character limit. */
const PACKAGE_ID = /^[A-Za-z0-9_]+([.-][A-Za-z0-9_]+)*$/;
const MAX_ID_LENGTH = 100;
const MAX_VERSION_COMPONENT = 2 ** 31 - 1;

const REBUILD =
  'Rebuild it with `dotnet pack` (or `nuget pack`) and make sure nothing else writes into packages-dir.';

function invalid(file: string, problem: string, fix = REBUILD): ActionError {
  return new ActionError(`${file}: ${problem}`, {
    cause: 'The file is not a valid NuGet package, or was damaged or renamed after it was built.',
    fix,
  });
}

/** NuGet's label rule: letters, digits and '-'; a numeric label may not have leading zeros. */
function validLabel(part: string, allowLeadingZeros: boolean): boolean {
  return /^[0-9A-Za-z-]+$/.test(part) && (allowLeadingZeros || !/^0[0-9]+$/.test(part));
}

/**
 * NuGetVersion.TryParse (NuGet.Versioning): two to four numeric components (one is read as x.0), then
 * optional dot-separated release labels after '-', then build metadata after '+'. Returns the normalised
 * string (ToNormalizedString: three components, the fourth only when it is not 0, labels kept, metadata
 * dropped), or undefined when NuGet would refuse the version. Stricter than NuGet in one way: no spaces
 * inside the numbers, which System.Version would tolerate.
 */
export function normalizeNuGetVersion(text: string): string | undefined {
  const match = /^([^-+]*)(?:-([^+]*))?(?:\+(.*))?$/s.exec(text.trim());
  if (!match) return undefined;
  const [, release = '', labels, metadata] = match;
  const parts = release.split('.');
  if (parts.length === 1) parts.push('0');
  if (parts.length > 4 || parts.some((p) => !/^[0-9]+$/.test(p) || Number(p) > MAX_VERSION_COMPONENT)) {
    return undefined;
  }
  if (labels !== undefined && !labels.split('.').every((l) => validLabel(l, false))) return undefined;
  if (metadata !== undefined && !metadata.split('.').every((m) => validLabel(m, true))) return undefined;
  const [major, minor, patch = 0, revision = 0] = parts.map(Number);
  return `${major}.${minor}.${patch}${revision > 0 ? `.${revision}` : ''}${labels === undefined ? '' : `-${labels}`}`;
}

/** An element's text whether or not it carries attributes; undefined when absent or not text. */
function text(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object' && '#text' in node) {
    const value = (node as { '#text': unknown })['#text'];
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

export interface Nuspec {
  id: string | undefined;
  version: string | undefined;
  packageTypes: string[];
}

/** The few .nuspec fields a push depends on; a string says why the XML is unusable. */
export function parseNuspec(xml: string): Nuspec | string {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) return `${valid.err.msg} (line ${valid.err.line})`;
  const doc = new XMLParser({
    ignoreAttributes: false,
    removeNSPrefix: true,
    // Versions such as 1.10 must stay text, not become the number 1.1.
    parseTagValue: false,
    // IDs and versions never hold entities; not expanding any closes the door on entity bombs.
    processEntities: false,
    isArray: (name) => name === 'packageType',
  }).parse(xml) as { package?: { metadata?: Record<string, unknown> } };
  const metadata = doc.package?.metadata;
  if (!metadata || typeof metadata !== 'object') return 'it has no <package><metadata> element';
  const types = (metadata.packageTypes as { packageType?: unknown[] } | undefined)?.packageType ?? [];
  return {
    id: text(metadata.id)?.trim(),
    version: text(metadata.version)?.trim(),
    packageTypes: types
      .map((t) => (t as Record<string, unknown>)['@_name'])
      .filter((n) => typeof n === 'string'),
  };
}

/**
 * Reads and checks a .nupkg or .snupkg the way nuget.org will: one .nuspec at the zip root with a valid ID
 * and version, a symbol package declaring the SymbolsPackage type (and only then), and the file named
 * `<id>.<version>` as `dotnet pack` names it (case-insensitively, versions compared after NuGet's
 * normalisation, so Foo.1.0.nupkg holds version 1.0.0). That every member is intact is verifyIntact's
 * part (integrity.ts), as for every other kind of package.
 */
export async function readNupkg(filePath: string): Promise<NuGetPackage> {
  const file = path.basename(filePath);
  const lower = file.toLowerCase();
  if (lower.endsWith('.symbols.nupkg')) {
    throw invalid(
      file,
      'is a legacy symbols package (.symbols.nupkg), which nuget.org does not accept.',
      'Build symbols in the .snupkg format: dotnet pack -p:IncludeSymbols=true -p:SymbolPackageFormat=snupkg',
    );
  }
  const extension = lower.endsWith('.snupkg') ? '.snupkg' : '.nupkg';
  let roots: string[] = [];
  let xml: string;
  try {
    const member = await readZipMember(filePath, (names) => {
      roots = names.filter((n) => !n.includes('/') && n.toLowerCase().endsWith('.nuspec'));
      return roots.length === 1 ? roots[0] : undefined;
    });
    if (!member) {
      throw invalid(
        file,
        roots.length === 0 ? 'has no .nuspec at its root.' : `has ${roots.length} .nuspec files at its root.`,
      );
    }
    xml = new TextDecoder('utf-8', { fatal: true }).decode(member.data);
  } catch (err) {
    if (err instanceof UnsupportedCompression) throw compressionRefusal(file, err);
    if (err instanceof ArchiveError) throw invalid(file, `is not an intact zip archive (${err.message}).`);
    if (err instanceof TypeError) throw invalid(file, 'its .nuspec is not UTF-8 text.');
    throw err;
  }
  const nuspec = parseNuspec(xml);
  if (typeof nuspec === 'string') throw invalid(file, `its .nuspec cannot be read: ${nuspec}.`);
  const { id, version: nuspecVersion } = nuspec;
  if (!id || !nuspecVersion) throw invalid(file, 'its .nuspec has no <id> or no <version>.');
  if (id.length > MAX_ID_LENGTH || !PACKAGE_ID.test(id)) {
    throw invalid(
      file,
      `its package ID '${id}' is not one nuget.org accepts (letters, digits, '_', with '.' or '-' between them; at most ${MAX_ID_LENGTH} characters).`,
    );
  }
  const version = normalizeNuGetVersion(nuspecVersion);
  if (!version) throw invalid(file, `its .nuspec version '${nuspecVersion}' is not a valid NuGet version.`);
  const symbols = extension === '.snupkg';
  // NuGet compares package type names without case.
  if (symbols !== nuspec.packageTypes.some((t) => t.toLowerCase() === 'symbolspackage')) {
    throw invalid(
      file,
      symbols
        ? "it is named .snupkg but its .nuspec lacks the 'SymbolsPackage' package type."
        : "its .nuspec declares the 'SymbolsPackage' package type, which only .snupkg files may.",
    );
  }
  const stem = file.slice(0, -extension.length);
  const named = stem.toLowerCase().startsWith(`${id.toLowerCase()}.`)
    ? normalizeNuGetVersion(stem.slice(id.length + 1))
    : undefined;
  if (named?.toLowerCase() !== version.toLowerCase()) {
    throw invalid(
      file,
      `its .nuspec says ${id} ${nuspecVersion}, so the file should be named ${id}.${version}${extension}.`,
    );
  }
  return { id, version, nuspecVersion, symbols };
}
