import { ActionError } from './errors.ts';
import { checkTransport } from './http.ts';
import { PUBLIC_GOOD_FULCIO, PUBLIC_GOOD_REKOR } from './oidc.ts';
import { log } from './output.ts';
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
  /** prefix.dev: the channel the packages go to; empty when not given. */
  channel: string;
  /** Uploads in flight at once (per registry). */
  maxParallel: number;
  /** npm: stage the versions for a maintainer's approval instead of publishing them. */
  stage: boolean;
  /** Exchange the ID token at every registry the files name, upload nothing, revoke what can be revoked. */
  check: boolean;
  /** Wait until the published versions are installable, for at most `waitTimeoutMs`. */
  wait: boolean;
  waitTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

/**
 * Where the inputs' raw values come from (the action's INPUT_* variables, or the command's flags), and how
 * messages name an input there. Both feed one validator, so the action and the command agree on every rule.
 */
export interface InputSource {
  /** The trimmed value, '' when not given. */
  value(name: string): string;
  /** How a message names the input: "Input 'dry-run'", or "Option --dry-run". */
  label(name: string): string;
  /** How the user sets it, for a fix: "'dry-run: true' in the step's 'with:' block", or "--dry-run true". */
  setting(name: string, value: string): string;
}

/** gh-action-pypi-publish's old spellings, still accepted so migrating is a one-line change. */
const DEPRECATED_SPELLINGS: Record<string, string> = {
  'packages-dir': 'packages_dir',
  'repository-url': 'repository_url',
  'skip-existing': 'skip_existing',
};

function rawInput(env: Env, name: string): string {
  return (env[`INPUT_${name.toUpperCase()}`] ?? '').trim();
}

/** The action's inputs, as the runner passes them; the defaults live in the validator, so an old spelling can stand in. */
export function actionInputs(env: Env): InputSource {
  return {
    value(name) {
      const value = rawInput(env, name);
      const old = DEPRECATED_SPELLINGS[name];
      if (value || !old) return value;
      const oldValue = rawInput(env, old);
      if (oldValue) log.warning(`Input '${old}' is deprecated: rename it to '${name}'.`);
      return oldValue;
    },
    label: (name) => `Input '${name}'`,
    setting: (name, value) => `'${name}: ${value}' in the step's 'with:' block`,
  };
}

function booleanInput(source: InputSource, name: string, fallback: boolean): boolean {
  const value = source.value(name);
  if (value === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(value)) return true;
  if (['false', 'False', 'FALSE'].includes(value)) return false;
  throw new ActionError(`${source.label(name)} must be true or false, not '${value}'.`, {
    fix: `Set ${source.setting(name, 'true')} or ${source.setting(name, 'false')}.`,
  });
}

/** A whole number from `min` to `max`; `unit` and `example` word the error. */
function wholeNumberInput(
  source: InputSource,
  name: string,
  fallback: number,
  { min, max, unit, example }: { min: number; max: number; unit: string; example: number },
): number {
  const value = source.value(name);
  if (value === '') return fallback;
  const number = Number(value);
  if (/^\d+$/.test(value) && number >= min && number <= max) return number;
  throw new ActionError(
    `${source.label(name)} must be a whole number of ${unit} from ${min} to ${max}, not '${value}'.`,
    { fix: `Set ${source.setting(name, String(example))}.` },
  );
}

function parseRegistry(source: InputSource): RegistryChoice {
  const value = source.value('registry');
  const choice = (value || 'auto').toLowerCase();
  if (choice === 'auto' || (REGISTRY_IDS as readonly string[]).includes(choice))
    return choice as RegistryChoice;
  throw new ActionError(`${source.label('registry')} has an unknown value '${value}'.`, {
    fix: `Use one of: auto, ${REGISTRY_IDS.join(', ')}.`,
  });
}

/** A service address: a valid URL without credentials, https (or http to this machine only). */
function urlInput(label: string, value: string, examples: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ActionError(`${label} is not a valid URL: '${value}'.`, {
      fix: `Give a full address such as ${examples}.`,
    });
  }
  if (url.username || url.password) {
    throw new ActionError(`${label} must not contain a user name or password.`, {
      fix: 'Remove the credentials from the URL; trusted publishing needs none.',
    });
  }
  checkTransport(url, label);
  return url;
}

export function parseRepositoryUrl(value: string, label = "Input 'repository-url'"): URL | undefined {
  if (!value) return undefined;
  return urlInput(label, value, "'https://upload.pypi.org/legacy/' or 'https://rubygems.org'");
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
  const realWorkspace = fileSystem.realpath(workspace);
  if (!isInside(fileSystem.path, realWorkspace, real)) {
    throw new ActionError(`packages-dir '${value}' leads outside the workspace (to ${real}).`, {
      cause: `Only files the job built inside its workspace (${realWorkspace}) are published.`,
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

/** Validates every input into one typed object; the files must lie inside `workspace`. */
export function validateInputs(
  source: InputSource,
  workspace: string,
  fileSystem: FileSystemView = NATIVE_FILE_SYSTEM,
): Inputs {
  const input = (name: string) => source.value(name);
  const password = input('password') || input('token');
  // Registered before anything else can print it.
  if (password) log.secret(password);
  const packagesDirInput = input('packages-dir') || 'dist';
  const check = booleanInput(source, 'check', false);
  const dryRun = booleanInput(source, 'dry-run', false);
  if (check && dryRun) {
    throw new ActionError(`${source.label('check')} and ${source.label('dry-run')} cannot both be true.`, {
      cause:
        'A dry run fetches the ID token and exchanges nothing; a check exchanges it to prove the publisher.',
      fix: `Keep one: ${source.setting('check', 'true')} proves the publisher, ${source.setting('dry-run', 'true')} only shows what a run would do.`,
    });
  }
  if (check && password) {
    throw new ActionError(`${source.label('check')} proves a trusted publisher, and a password was given.`, {
      cause: 'A long-lived token is not exchanged, so there is no publisher to check.',
      fix: 'Drop the password to check the trusted publisher, or drop the check.',
    });
  }
  return {
    registry: parseRegistry(source),
    repositoryUrl: parseRepositoryUrl(input('repository-url'), source.label('repository-url')),
    audience: input('audience') || undefined,
    skipExisting: booleanInput(source, 'skip-existing', false),
    dryRun,
    check,
    verbose: booleanInput(source, 'verbose', false),
    printHash: booleanInput(source, 'print-hash', false),
    verifyMetadata: booleanInput(source, 'verify-metadata', true),
    attestations: booleanInput(source, 'attestations', true),
    attestationsGiven: input('attestations') !== '',
    fulcioUrl: urlInput(
      source.label('fulcio-url'),
      input('fulcio-url') || PUBLIC_GOOD_FULCIO,
      `'${PUBLIC_GOOD_FULCIO}'`,
    ),
    rekorUrl: urlInput(
      source.label('rekor-url'),
      input('rekor-url') || PUBLIC_GOOD_REKOR,
      `'${PUBLIC_GOOD_REKOR}'`,
    ),
    password: password || undefined,
    user: input('user') || undefined,
    tag: input('tag'),
    access: input('access'),
    channel: input('channel'),
    stage: booleanInput(source, 'stage', false),
    wait: booleanInput(source, 'wait', false),
    // Six hours: a GitHub job's own limit.
    waitTimeoutMs:
      wholeNumberInput(source, 'wait-timeout', 600, {
        min: 1,
        max: 6 * 3600,
        unit: 'seconds',
        example: 900,
      }) * 1000,
    maxParallel: wholeNumberInput(source, 'max-parallel', 4, {
      min: 1,
      max: 16,
      unit: 'uploads',
      example: 8,
    }),
    packagesDirInput,
    packagesDir: resolvePackagesDir(packagesDirInput, workspace, fileSystem),
  };
}

/** The action's inputs, validated. */
export function readInputs(env: Env = process.env, fileSystem = NATIVE_FILE_SYSTEM): Inputs {
  return validateInputs(actionInputs(env), env.GITHUB_WORKSPACE || process.cwd(), fileSystem);
}

/** The inputs every registry's exchange and upload may read. */
export function publishOptions(inputs: Inputs): PublishOptions {
  return {
    skipExisting: inputs.skipExisting,
    tag: inputs.tag,
    access: inputs.access,
    channel: inputs.channel,
    user: inputs.user ?? '',
    stage: inputs.stage,
  };
}
