import { ActionError } from './errors.ts';
import { checkTransport } from './http.ts';
import { log } from './log.ts';
import { type FileSystemView, isInside, NATIVE_FILE_SYSTEM } from './paths.ts';
import { REGISTRY_IDS, type RegistryId } from './registries/index.ts';
import type { PublishOptions } from './registries/registry.ts';

export type RegistryChoice = RegistryId | 'auto';

export interface Inputs {
  registry: RegistryChoice;
  /** Absolute, symlinks resolved, inside the workspace. */
  packagesDir: string;
  /** As the user wrote it, for messages. */
  packagesDirInput: string;
  repositoryUrl: URL | undefined;
  audience: string | undefined;
  skipExisting: boolean;
  dryRun: boolean;
  verbose: boolean;
  printHash: boolean;
  verifyMetadata: boolean;
  attestations: boolean;
  /** The step set 'attestations' itself (action.yml gives it no default, so this can be told). */
  attestationsGiven: boolean;
  /** Sigstore's certificate authority and transparency log, for attestations. */
  fulcioUrl: URL;
  rekorUrl: URL;
  /** Long-lived token given instead of trusted publishing; masked as soon as it is read. */
  password: string | undefined;
  user: string | undefined;
  /** npm dist-tag and access; empty when not given. */
  tag: string;
  access: string;
  /** Uploads in flight at once (per registry). */
  maxParallel: number;
  /** Wait until the published versions are installable, for at most `waitTimeoutMs`. */
  wait: boolean;
  waitTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

/** gh-action-pypi-publish's old spellings, still accepted so migrating is a one-line change. */
const DEPRECATED_SPELLINGS: Record<string, string> = {
  'packages-dir': 'packages_dir',
  'repository-url': 'repository_url',
  'skip-existing': 'skip_existing',
};

function rawInput(env: Env, name: string): string {
  return (env[`INPUT_${name.toUpperCase()}`] ?? '').trim();
}

/** An input's value; the defaults live here, not in action.yml, so an old spelling can stand in. */
function input(env: Env, name: string): string {
  const value = rawInput(env, name);
  const old = DEPRECATED_SPELLINGS[name];
  if (value || !old) return value;
  const oldValue = rawInput(env, old);
  if (oldValue) log.warning(`Input '${old}' is deprecated: rename it to '${name}'.`);
  return oldValue;
}

function booleanInput(env: Env, name: string, fallback: boolean): boolean {
  const value = input(env, name);
  if (value === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(value)) return true;
  if (['false', 'False', 'FALSE'].includes(value)) return false;
  throw new ActionError(`Input '${name}' must be true or false, not '${value}'.`, {
    fix: `Set '${name}: true' or '${name}: false' in the step's 'with:' block.`,
  });
}

/** A whole number from `min` to `max`; `unit` and `example` word the error. */
function wholeNumberInput(
  env: Env,
  name: string,
  fallback: number,
  { min, max, unit, example }: { min: number; max: number; unit: string; example: number },
): number {
  const value = input(env, name);
  if (value === '') return fallback;
  const number = Number(value);
  if (/^\d+$/.test(value) && number >= min && number <= max) return number;
  throw new ActionError(
    `Input '${name}' must be a whole number of ${unit} from ${min} to ${max}, not '${value}'.`,
    {
      fix: `Set it in the step's 'with:' block, e.g. '${name}: ${example}'.`,
    },
  );
}

function parseRegistry(value: string): RegistryChoice {
  const choice = (value || 'auto').toLowerCase();
  if (choice === 'auto' || (REGISTRY_IDS as readonly string[]).includes(choice))
    return choice as RegistryChoice;
  throw new ActionError(`Input 'registry' has an unknown value '${value}'.`, {
    fix: `Use one of: auto, ${REGISTRY_IDS.join(', ')}.`,
  });
}

/** The public-good Sigstore instances, which PyPI's verification trusts. */
export const PUBLIC_GOOD_FULCIO = 'https://fulcio.sigstore.dev';
export const PUBLIC_GOOD_REKOR = 'https://rekor.sigstore.dev';

/** A service address: a valid URL without credentials, https (or http to this machine only). */
function urlInput(name: string, value: string, examples: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ActionError(`Input '${name}' is not a valid URL: '${value}'.`, {
      fix: `Give a full address such as ${examples}.`,
    });
  }
  if (url.username || url.password) {
    throw new ActionError(`Input '${name}' must not contain a user name or password.`, {
      fix: 'Remove the credentials from the URL; trusted publishing needs none.',
    });
  }
  checkTransport(url, `Input '${name}'`);
  return url;
}

export function parseRepositoryUrl(value: string): URL | undefined {
  if (!value) return undefined;
  return urlInput('repository-url', value, "'https://upload.pypi.org/legacy/' or 'https://rubygems.org'");
}

/**
 * Resolves packages-dir inside the workspace; a path or symlink (a junction on Windows) leading outside it is
 * refused. `fileSystem` is the runner's own file system except in tests.
 */
export function resolvePackagesDir(
  value: string,
  workspace: string,
  fileSystem: FileSystemView = NATIVE_FILE_SYSTEM,
): string {
  const wanted = fileSystem.path.resolve(workspace, value || 'dist');
  let real: string;
  try {
    real = fileSystem.realpath(wanted);
  } catch {
    throw new ActionError(`packages-dir '${value}' does not exist (looked for ${wanted}).`, {
      cause: 'The build step did not run, wrote its files elsewhere, or the artifact was not downloaded.',
      fix: "Build the packages into that folder before this step, or point 'packages-dir' at the folder that holds them.",
    });
  }
  if (!isInside(fileSystem.path, fileSystem.realpath(workspace), real)) {
    throw new ActionError(`packages-dir '${value}' leads outside the workspace (to ${real}).`, {
      cause: 'Only files the workflow built inside GITHUB_WORKSPACE are published.',
      fix: "Set 'packages-dir' to a folder inside the repository checkout, such as 'dist'.",
    });
  }
  if (!fileSystem.isDirectory(real)) {
    throw new ActionError(`packages-dir '${value}' is a file, not a folder.`, {
      fix: "Point 'packages-dir' at the folder that holds the built files.",
    });
  }
  return real;
}

export function readInputs(env: Env = process.env, fileSystem = NATIVE_FILE_SYSTEM): Inputs {
  const password = input(env, 'password') || input(env, 'token');
  // Masked before anything else can print it.
  if (password) log.secret(password);
  const workspace = env.GITHUB_WORKSPACE || process.cwd();
  const packagesDirInput = input(env, 'packages-dir') || 'dist';
  return {
    registry: parseRegistry(input(env, 'registry')),
    repositoryUrl: parseRepositoryUrl(input(env, 'repository-url')),
    audience: input(env, 'audience') || undefined,
    skipExisting: booleanInput(env, 'skip-existing', false),
    dryRun: booleanInput(env, 'dry-run', false),
    verbose: booleanInput(env, 'verbose', false),
    printHash: booleanInput(env, 'print-hash', false),
    verifyMetadata: booleanInput(env, 'verify-metadata', true),
    attestations: booleanInput(env, 'attestations', true),
    attestationsGiven: input(env, 'attestations') !== '',
    fulcioUrl: urlInput(
      'fulcio-url',
      input(env, 'fulcio-url') || PUBLIC_GOOD_FULCIO,
      `'${PUBLIC_GOOD_FULCIO}'`,
    ),
    rekorUrl: urlInput('rekor-url', input(env, 'rekor-url') || PUBLIC_GOOD_REKOR, `'${PUBLIC_GOOD_REKOR}'`),
    password: password || undefined,
    user: input(env, 'user') || undefined,
    tag: input(env, 'tag'),
    access: input(env, 'access'),
    wait: booleanInput(env, 'wait', false),
    // Six hours: a GitHub job's own limit.
    waitTimeoutMs:
      wholeNumberInput(env, 'wait-timeout', 600, { min: 1, max: 6 * 3600, unit: 'seconds', example: 900 }) *
      1000,
    maxParallel: wholeNumberInput(env, 'max-parallel', 4, { min: 1, max: 16, unit: 'uploads', example: 8 }),
    packagesDirInput,
    packagesDir: resolvePackagesDir(packagesDirInput, workspace, fileSystem),
  };
}

/** The inputs every registry's exchange and upload may read. */
export function publishOptions(inputs: Inputs): PublishOptions {
  return {
    skipExisting: inputs.skipExisting,
    tag: inputs.tag,
    access: inputs.access,
    user: inputs.user ?? '',
  };
}
