import { createHash } from 'node:crypto';
import path from 'node:path';
import {
  CORE_SCHEMA,
  defineMappingTag,
  defineScalarTag,
  defineSequenceTag,
  load,
  mapTag,
  seqTag,
  strTag,
  YAMLException,
} from 'js-yaml';
import { ActionError } from '../errors.ts';
import { ArchiveError, gunzipBounded, scanTar } from './archive.ts';

export interface GemSpec {
  name: string;
  version: string;
  /** 'ruby' for pure gems, else e.g. 'x86_64-linux'. */
  platform: string;
}

const REBUILD = 'Rebuild it with `gem build` and make sure nothing else writes into packages-dir.';

function invalid(file: string, problem: string): ActionError {
  return new ActionError(`${file}: ${problem}`, {
    cause: 'The file is not a valid gem, or was damaged after it was built.',
    fix: REBUILD,
  });
}

/** Gem::Platform appears as a plain string in modern gems, as an object (cpu, os, version) in old ones. */
function platformText(value: unknown): string {
  if (value === undefined || value === null || value === '') return 'ruby';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    const { cpu, os, version } = value as Record<string, unknown>;
    return [cpu, os, version].filter((part) => typeof part === 'string' && part).join('-') || 'ruby';
  }
  return String(value);
}

/**
 * Psych writes Ruby objects with local tags (`!ruby/object:Gem::Version`); any local tag is read as the plain
 * mapping, sequence or string it tags, which is all we need of them.
 */
const GEMSPEC_SCHEMA = CORE_SCHEMA.withTags(
  defineMappingTag('!', { ...mapTag, matchByTagPrefix: true, identify: () => false }),
  defineSequenceTag('!', { ...seqTag, matchByTagPrefix: true, identify: () => false }),
  defineScalarTag('!', { ...strTag, matchByTagPrefix: true, identify: () => false }),
);

/**
 * A gemspec or checksums.yaml as data. Aliases are not expanded (each is the one value it names), and there is
 * a budget: old gemspecs repeat a requirement by alias, a YAML bomb aliases thousands of times. Throws the
 * parser's reason, on one line, for text that is not YAML.
 */
function loadYaml(yamlText: string): unknown {
  try {
    return load(yamlText, { schema: GEMSPEC_SCHEMA, maxAliases: 100 });
  } catch (err) {
    throw new Error(err instanceof YAMLException ? err.toString(true) : (err as Error).message);
  }
}

/** The YAML gemspec is full of Ruby object tags; their mappings are all we need. */
export function parseGemspec(yamlText: string): GemSpec | undefined {
  const spec = loadYaml(yamlText) as Record<string, unknown> | null;
  if (!spec || typeof spec !== 'object') return undefined;
  const version = spec.version as { version?: unknown } | string | undefined;
  const versionText = typeof version === 'object' ? version?.version : version;
  if (typeof spec.name !== 'string' || (typeof versionText !== 'string' && typeof versionText !== 'number')) {
    return undefined;
  }
  return { name: spec.name, version: String(versionText), platform: platformText(spec.platform) };
}

export function gemFileName(spec: GemSpec): string {
  return `${spec.name}-${spec.version}${spec.platform === 'ruby' ? '' : `-${spec.platform}`}.gem`;
}

/**
 * Reads the gemspec from metadata.gz and checks every member against checksums.yaml.gz, as `gem install`
 * would, so a truncated or altered gem is refused before anything is sent.
 */
export async function readGem(filePath: string): Promise<GemSpec> {
  const file = path.basename(filePath);
  let scan: Awaited<ReturnType<typeof scanTar>>;
  try {
    scan = await scanTar(filePath, (name) => {
      if (name === 'metadata.gz' || name === 'checksums.yaml.gz') return 'read';
      return name === 'data.tar.gz' ? 'sha256' : undefined;
    });
  } catch (err) {
    if (err instanceof ArchiveError) throw invalid(file, `cannot be read as a gem archive (${err.message}).`);
    throw err;
  }
  const metadata = scan.read.get('metadata.gz');
  if (!metadata || !scan.sha256.has('data.tar.gz')) throw invalid(file, 'lacks metadata.gz or data.tar.gz.');
  let spec: GemSpec | undefined;
  try {
    spec = parseGemspec(
      new TextDecoder('utf-8', { fatal: true }).decode(gunzipBounded(metadata, 'metadata.gz')),
    );
  } catch (err) {
    throw invalid(file, `its metadata.gz cannot be read (${(err as Error).message}).`);
  }
  if (!spec) throw invalid(file, 'its gemspec has no name or version.');
  const checksums = scan.read.get('checksums.yaml.gz');
  if (checksums) verifyChecksums(file, checksums, metadata, scan.sha256.get('data.tar.gz') ?? '');
  const expected = gemFileName(spec);
  if (expected !== file) {
    throw invalid(
      file,
      `its gemspec says ${spec.name} ${spec.version} (platform ${spec.platform}), so the file should be named ${expected}.`,
    );
  }
  return spec;
}

function verifyChecksums(file: string, checksums: Buffer, metadata: Buffer, dataSha256: string): void {
  let listed: { SHA256?: Record<string, string> } | null | undefined;
  try {
    listed = loadYaml(gunzipBounded(checksums, 'checksums.yaml.gz').toString('utf8')) as typeof listed;
  } catch {
    // gem install checks what it can read; the members themselves were checked whole.
    return;
  }
  const sha256 = listed?.SHA256;
  if (!sha256) return;
  const actual: Record<string, string> = {
    'metadata.gz': createHash('sha256').update(metadata).digest('hex'),
    'data.tar.gz': dataSha256,
  };
  for (const [member, digest] of Object.entries(actual)) {
    if (sha256[member] && sha256[member] !== digest) {
      throw invalid(file, `${member} does not match its checksum in checksums.yaml.gz: the gem is corrupt.`);
    }
  }
}
