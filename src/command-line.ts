import { parseArgs } from 'node:util';
import { ActionError } from './errors.ts';
import type { InputSource } from './inputs.ts';

type Env = Record<string, string | undefined>;

/** The action's inputs, one flag each, plus the command's own; booleans take an optional true/false. */
const OPTIONS = [
  ['registry', 'NAME', 'auto (by the files), pypi, testpypi, rubygems, crates-io, npm, nuget or prefix'],
  ['packages-dir', 'DIR', 'the folder of built files, inside the project (default: dist)'],
  ['repository-url', 'URL', "the registry's address, for TestPyPI or another instance"],
  ['audience', 'AUD', "the OIDC audience, when the registry's own is not the one (rarely needed)"],
  ['skip-existing', null, 'skip files of versions the registry already holds'],
  ['dry-run', null, 'check the files, the plan and the ID token; exchange and upload nothing'],
  ['check', null, 'prove the trusted publishers: exchange the ID token at each registry, upload nothing'],
  ['verbose', null, 'say more'],
  ['print-hash', null, "print each file's sha256 and blake2b-256"],
  ['verify-metadata', null, "check each file's metadata before anything is sent (default: true)"],
  ['attestations', null, 'sign PEP 740 attestations / npm provenance (default: for pypi.org, npm)'],
  ['fulcio-url', 'URL', 'the Sigstore certificate authority (default: https://fulcio.sigstore.dev)'],
  ['rekor-url', 'URL', 'the Sigstore transparency log (default: https://rekor.sigstore.dev)'],
  ['password', 'TOKEN', 'a long-lived token instead of trusted publishing; prefer TRUSTED_PUBLISH_PASSWORD'],
  ['user', 'NAME', 'PyPI token user, or the nuget.org user name of the policy creator'],
  ['tag', 'TAG', 'npm dist-tag'],
  ['access', 'ACCESS', 'npm access: public or restricted'],
  ['stage', null, 'npm: stage the versions; a maintainer approves them (npm stage approve)'],
  ['channel', 'NAME', 'prefix.dev: the conda channel to publish to'],
  ['max-parallel', 'N', 'uploads in flight at once, 1 to 16 (default: 4)'],
  ['wait', null, 'after the uploads, wait until every version is installable'],
  ['wait-timeout', 'SECONDS', 'how long to wait before failing (default: 600)'],
  ['output', 'FILE', "write the 'published' JSON (every file and its status) to FILE"],
  [
    'dotenv',
    'FILE',
    'append TRUSTED_PUBLISH_UPLOADED/_SKIPPED/_FAILED/_RELEASES to FILE (GitLab dotenv report)',
  ],
  ['help', null, 'print this help (also -h)'],
  ['version', null, 'print the version'],
] as const;

type OptionName = (typeof OPTIONS)[number][0];

/** Every flag the command takes. */
export const OPTION_NAMES: readonly string[] = OPTIONS.map(([name]) => name);

const isBoolean = (name: string): boolean => OPTIONS.some(([n, value]) => n === name && value === null);

export const HELP = [
  'Usage: trusted-publish [options]',
  '       trusted-publish --help | -h | --version',
  '',
  'Publishes built packages (wheels and sdists, gems, crates, npm tarballs, NuGet packages) with OIDC trusted',
  'publishing from GitHub Actions, GitLab CI/CD or CircleCI: the job’s ID token is exchanged for a short-lived',
  'registry token, which uploads every file. On GitLab, declare the token under the job’s id_tokens: (e.g.',
  'PYPI_ID_TOKEN with aud: pypi); on CircleCI it comes from PYPI_ID_TOKEN (NPM_ID_TOKEN, …) or the circleci',
  'command; elsewhere, --dry-run checks the files and the plan.',
  '',
  'Options (the action’s inputs; a boolean takes true or false, or nothing for true, or --no-NAME):',
  ...OPTIONS.map(([name, value, text]) => `  --${`${name}${value ? ` ${value}` : ''}`.padEnd(24)} ${text}`),
  '',
  'Environment: TRUSTED_PUBLISH_PASSWORD holds a long-lived token (kept out of the process list);',
  'TRUSTED_PUBLISH_DEBUG=true prints debug lines on this machine (CI_DEBUG_TRACE does on GitLab).',
  'Exit status: 0 when every file was published or skipped, 1 otherwise, 2 for an unusable command line.',
].join('\n');

/** A command line that cannot be read: the exit status is 2, as for any command. */
export class UsageError extends ActionError {}

/** `--flag` alone means true, `--flag false` and `--no-flag` false; every value ends up `--name=value`. */
function normalize(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] === '-h' ? '--help' : (argv[i] ?? '');
    const negated = /^--no-(.+)$/.exec(arg)?.[1];
    if (negated && isBoolean(negated)) {
      out.push(`--${negated}=false`);
      continue;
    }
    const name = /^--([^=]+)$/.exec(arg)?.[1];
    if (name && isBoolean(name)) {
      const next = argv[i + 1];
      const given = next !== undefined && /^(true|false)$/i.test(next);
      out.push(`--${name}=${given ? next : 'true'}`);
      if (given) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

export interface CommandLine {
  help: boolean;
  version: boolean;
  /** The inputs' raw values, for the validator every input goes through. */
  source: InputSource;
  output: string | undefined;
  dotenv: string | undefined;
  /** A password was given on the command line, where the process list and the shell history show it. */
  passwordOnCommandLine: boolean;
}

export function parseCommandLine(argv: string[], env: Env): CommandLine {
  let values: Partial<Record<OptionName, string>>;
  try {
    values = parseArgs({
      args: normalize(argv),
      options: Object.fromEntries(OPTIONS.map(([name]) => [name, { type: 'string' }])),
      strict: true,
      allowPositionals: false,
    }).values as Partial<Record<OptionName, string>>;
  } catch (err) {
    throw new UsageError(`The command line cannot be read: ${(err as Error).message}`, {
      fix: 'Run trusted-publish --help for the options.',
    });
  }
  const given = (name: string): string => (values[name as OptionName] ?? '').trim();
  return {
    help: given('help').toLowerCase() === 'true',
    version: given('version').toLowerCase() === 'true',
    source: {
      value: (name) =>
        name === 'password' ? given(name) || (env.TRUSTED_PUBLISH_PASSWORD ?? '').trim() : given(name),
      label: (name) => `Option --${name}`,
      setting: (name, value) => `--${name} ${value}`,
    },
    output: given('output') || undefined,
    dotenv: given('dotenv') || undefined,
    passwordOnCommandLine: given('password') !== '',
  };
}
