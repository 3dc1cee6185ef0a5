import path from 'node:path';
import { ActionError } from '../errors.ts';
import { ArchiveError, readTarMember, readZipMember, UnsupportedCompression } from './archive.ts';
import { type CoreMetadata, header, parseCoreMetadata } from './core-metadata.ts';
import { compressionRefusal } from './integrity.ts';

export type PythonFileType = 'bdist_wheel' | 'sdist';

export interface PythonDistribution {
  filetype: PythonFileType;
  /** The project name as the metadata spells it. */
  name: string;
  version: string;
  /** The upload form's `pyversion`: the wheel's python tag, '' for an sdist (as twine sends it). */
  pyversion: string;
  metadata: CoreMetadata;
  /**
   * The name the file is uploaded under. PyPI refuses sdists not named as PEP 625 says
   * (`tp-sample-0.1.0.tar.gz` must go up as `tp_sample-0.1.0.tar.gz`), so legacy names are corrected.
   */
  uploadName: string;
  warnings: string[];
}

/** PEP 503 normalisation: the form in which PyPI compares project names. */
export const normalizeName = (name: string): string => name.replace(/[-_.]+/g, '-').toLowerCase();

/** The project name as wheel and PEP 625 sdist file names spell it. */
const wheelEscapedName = (name: string): string => normalizeName(name).replace(/-/g, '_');

/** Wheel file names spell '-' in versions as '_' (PEP 427); compare in that form. */
const comparableVersion = (version: string): string => version.toLowerCase().replace(/-/g, '_');

const PROJECT_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;
// PEP 440's grammar, as packaging's VERSION_PATTERN accepts it.
const PEP440 =
  /^v?(?:\d+!)?\d+(?:\.\d+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?(?:-\d+|[-_.]?(?:post|rev|r)[-_.]?\d*)?(?:[-_.]?dev[-_.]?\d*)?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$/i;
/** The versions Warehouse accepts (packaging's list); 2.0 was never a released version (PEP 426, withdrawn). */
const KNOWN_METADATA_VERSIONS = ['1.0', '1.1', '1.2', '2.1', '2.2', '2.3', '2.4', '2.5'];
const CONTENT_TYPES = ['text/plain', 'text/x-rst', 'text/markdown'];

export function pythonFileType(file: string): PythonFileType | undefined {
  if (file.endsWith('.whl')) return 'bdist_wheel';
  if (file.endsWith('.tar.gz')) return 'sdist';
  return undefined;
}

function invalid(file: string, problem: string, fix: string): ActionError {
  return new ActionError(`${file}: ${problem}`, {
    cause: 'The file is not a valid Python distribution, or was damaged after it was built.',
    fix,
  });
}

const REBUILD = 'Rebuild it with `python -m build` and make sure nothing else writes into packages-dir.';

async function readMetadataText(filePath: string, filetype: PythonFileType): Promise<string | undefined> {
  const member =
    filetype === 'bdist_wheel'
      ? await readZipMember(filePath, (names) => {
          const found = names.filter((n) => /^[^/]+\.dist-info\/METADATA$/.test(n));
          return found.length === 1 ? found[0] : undefined;
        })
      : await readTarMember(filePath, (name) => /^[^/]+\/PKG-INFO$/.test(name));
  if (!member) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(member.data);
  } catch {
    throw invalid(path.basename(filePath), `${member.name} is not valid UTF-8.`, REBUILD);
  }
}

/** Reads a wheel or sdist's core metadata and checks it against the file name, as PyPI will. */
export async function readPythonDistribution(
  filePath: string,
  verifyMetadata: boolean,
): Promise<PythonDistribution> {
  const file = path.basename(filePath);
  const filetype = pythonFileType(file);
  if (!filetype) throw invalid(file, 'is neither a wheel (.whl) nor an sdist (.tar.gz).', REBUILD);
  let text: string | undefined;
  try {
    text = await readMetadataText(filePath, filetype);
  } catch (err) {
    if (err instanceof UnsupportedCompression) throw compressionRefusal(file, err);
    if (err instanceof ArchiveError)
      throw invalid(file, `cannot be read as an archive (${err.message}).`, REBUILD);
    throw err;
  }
  const where = filetype === 'bdist_wheel' ? 'a single *.dist-info/METADATA' : '<name>-<version>/PKG-INFO';
  if (text === undefined) throw invalid(file, `has no ${where}.`, REBUILD);
  const metadata = parseCoreMetadata(text);
  const name = header(metadata, 'Name') ?? '';
  const version = header(metadata, 'Version') ?? '';
  if (!name || !version) throw invalid(file, 'its metadata lacks Name or Version.', REBUILD);

  const stem = file.slice(0, -(filetype === 'bdist_wheel' ? '.whl' : '.tar.gz').length);
  let pyversion = '';
  let nameInFile: string;
  let versionInFile: string;
  if (filetype === 'bdist_wheel') {
    const parts = stem.split('-');
    if (parts.length !== 5 && parts.length !== 6) {
      throw invalid(
        file,
        'is not a valid wheel name (name-version[-build]-python-abi-platform.whl).',
        REBUILD,
      );
    }
    nameInFile = parts[0] ?? '';
    versionInFile = parts[1] ?? '';
    pyversion = parts[parts.length - 3] ?? '';
  } else {
    // Legacy sdists keep the project's own dashes (tp-sample-0.1.0.tar.gz), so split at the version.
    const suffix = `-${version}`;
    const matches = stem.toLowerCase().endsWith(suffix.toLowerCase());
    nameInFile = matches ? stem.slice(0, -suffix.length) : stem.slice(0, stem.lastIndexOf('-'));
    versionInFile = matches ? version : stem.slice(stem.lastIndexOf('-') + 1);
  }
  if (normalizeName(nameInFile) !== normalizeName(name)) {
    throw invalid(
      file,
      `its metadata names project '${name}', but the file name says '${nameInFile}'.`,
      REBUILD,
    );
  }
  if (comparableVersion(versionInFile) !== comparableVersion(version)) {
    throw invalid(
      file,
      `its metadata says version ${version}, but the file name says ${versionInFile}.`,
      REBUILD,
    );
  }
  checkPyPIRefusals(file, metadata, version);
  const warnings = verifyMetadata ? checkMetadata(file, metadata, name, version) : [];
  const uploadName = filetype === 'sdist' ? `${wheelEscapedName(name)}-${version}.tar.gz` : file;
  if (uploadName !== file) {
    warnings.push(
      `${file} does not follow PEP 625 and is uploaded as ${uploadName}, the name PyPI requires.`,
    );
  }
  return { filetype, name, version, pyversion, metadata, uploadName, warnings };
}

/**
 * What PyPI refuses whatever `verify-metadata` says, so that no token is minted for an upload that cannot
 * succeed: local versions (Warehouse: "The use of local versions ... is not allowed"), Metadata-Version 2.0,
 * and License-Expression under a Metadata-Version older than 2.4 (twine 6 refuses it before uploading, as
 * packaging does: "license-expression introduced in metadata version 2.4").
 */
function checkPyPIRefusals(file: string, metadata: CoreMetadata, version: string): void {
  const local = /\+(.+)$/.exec(version)?.[1];
  if (local !== undefined) {
    throw new ActionError(
      `${file}: version ${version} has a local part (+${local}), and PyPI refuses local versions. Nothing was sent.`,
      {
        cause:
          'Local versions are for builds that stay on one machine: setuptools-scm and hatch-vcs add one (+g<commit>) when the build runs off a tag or in a changed checkout, and some projects add one per variant (+cpu).',
        fix: 'Build from a clean checkout of the release tag, or turn the local part off (setuptools-scm / hatch-vcs: local_scheme = "no-local-version"); variants belong in their own index, not PyPI.',
      },
    );
  }
  const metadataVersion = header(metadata, 'Metadata-Version') ?? '';
  if (metadataVersion === '2.0') {
    throw new ActionError(
      `${file}: has Metadata-Version 2.0, which PyPI refuses ("'2.0' is not a valid metadata version"). Nothing was sent.`,
      {
        cause:
          'Metadata 2.0 (PEP 426) was withdrawn and never became a version of the core metadata; an old build tool (wheel before 0.31, for instance) still wrote it.',
        fix: 'Rebuild with a current build backend (python -m build), which writes Metadata-Version 2.1 or later.',
      },
    );
  }
  const [major = 0, minor = 0] = metadataVersion.split('.').map(Number);
  if (header(metadata, 'License-Expression') !== undefined && (major < 2 || (major === 2 && minor < 4))) {
    throw new ActionError(
      `${file}: has License-Expression under Metadata-Version ${metadataVersion}; the field was introduced in 2.4, so twine refuses the file and PyPI would not record the license. Nothing was sent.`,
      {
        cause: 'The build backend wrote a 2.4 field into older metadata.',
        fix: 'Upgrade the build backend so that it writes Metadata-Version 2.4 (setuptools 77+, hatchling 1.27+), or use the License field instead, and rebuild.',
      },
    );
  }
}

/** What `twine check` and PyPI's upload checks would refuse, before anything is sent. */
function checkMetadata(file: string, metadata: CoreMetadata, name: string, version: string): string[] {
  const fix = 'Correct the project metadata (pyproject.toml) and rebuild.';
  const metadataVersion = header(metadata, 'Metadata-Version') ?? '';
  if (!KNOWN_METADATA_VERSIONS.includes(metadataVersion)) {
    throw invalid(
      file,
      `has unknown Metadata-Version '${metadataVersion}'.`,
      'Upgrade your build backend and rebuild.',
    );
  }
  if (!PROJECT_NAME.test(name)) throw invalid(file, `'${name}' is not a valid project name.`, fix);
  if (!PEP440.test(version)) throw invalid(file, `'${version}' is not a valid PEP 440 version.`, fix);
  const warnings: string[] = [];
  const contentType = header(metadata, 'Description-Content-Type');
  if (contentType === undefined) {
    if (metadata.body) {
      warnings.push(
        `${file}: Description-Content-Type is missing; PyPI will render the description as reStructuredText.`,
      );
    }
  } else {
    const mime = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!CONTENT_TYPES.includes(mime)) {
      throw invalid(file, `Description-Content-Type '${contentType}' is not one PyPI accepts.`, fix);
    }
  }
  if (!header(metadata, 'Summary')) warnings.push(`${file}: Summary is missing.`);
  return warnings;
}
