import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { OPTION_NAMES, parseCommandLine, UsageError } from '../../src/command-line.ts';
import type { ActionError } from '../../src/errors.ts';
import { readInputs, validateInputs } from '../../src/inputs.ts';
import { ROOT } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

function workspace(): string {
  const dir = tempDir('tp-cli-');
  fs.mkdirSync(path.join(dir, 'out'));
  return dir;
}

const fromFlags = (argv: string[], ws: string, env: Record<string, string> = {}) =>
  validateInputs(parseCommandLine(argv, env).source, ws);

describe('the command line', () => {
  it("has a flag for every input of action.yml (but the old underscore spellings and 'token')", () => {
    const action = parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
      inputs: Record<string, unknown>;
    };
    const inputs = Object.keys(action.inputs).filter((name) => !name.includes('_') && name !== 'token');
    assert.deepEqual(
      inputs.filter((name) => !OPTION_NAMES.includes(name)),
      [],
    );
  });

  it('gives the very Inputs the action gets from the same values', () => {
    const ws = workspace();
    const flags = fromFlags(
      [
        '--packages-dir',
        'out',
        '--registry',
        'testpypi',
        '--repository-url',
        'https://test.pypi.org/legacy/',
        '--skip-existing',
        '--print-hash',
        'true',
        '--verify-metadata=false',
        '--no-attestations',
        '--user',
        'me',
        '--tag',
        'next',
        '--access',
        'public',
      ],
      ws,
    );
    const action = readInputs({
      GITHUB_WORKSPACE: ws,
      'INPUT_PACKAGES-DIR': 'out',
      INPUT_REGISTRY: 'testpypi',
      'INPUT_REPOSITORY-URL': 'https://test.pypi.org/legacy/',
      'INPUT_SKIP-EXISTING': 'true',
      'INPUT_PRINT-HASH': 'true',
      'INPUT_VERIFY-METADATA': 'false',
      INPUT_ATTESTATIONS: 'false',
      INPUT_USER: 'me',
      INPUT_TAG: 'next',
      INPUT_ACCESS: 'public',
    });
    assert.deepEqual(flags, action);
    assert.equal(flags.skipExisting, true);
    assert.equal(flags.attestations, false);
    assert.equal(flags.attestationsGiven, true);
  });

  it('leaves every input at the action’s default when no flag is given', () => {
    const ws = workspace();
    fs.mkdirSync(path.join(ws, 'dist'));
    assert.deepEqual(fromFlags([], ws), readInputs({ GITHUB_WORKSPACE: ws }));
  });

  it('takes a boolean alone, with true/false after it, with =, or as --no-NAME', () => {
    const ws = workspace();
    const dryRun = (argv: string[]) => fromFlags(['--packages-dir', 'out', ...argv], ws).dryRun;
    assert.equal(dryRun(['--dry-run']), true);
    assert.equal(dryRun(['--dry-run', 'false']), false);
    assert.equal(dryRun(['--dry-run', 'TRUE']), true);
    assert.equal(dryRun(['--dry-run=false']), false);
    assert.equal(dryRun(['--no-dry-run']), false);
    // A flag after a bare boolean is a flag, not its value.
    assert.equal(fromFlags(['--dry-run', '--packages-dir', 'out'], ws).dryRun, true);
  });

  it('names the flag and how to set it when a value is wrong', () => {
    const ws = workspace();
    assert.throws(
      () => fromFlags(['--packages-dir', 'out', '--dry-run=yes'], ws),
      (err: ActionError) =>
        /Option --dry-run must be true or false, not 'yes'/.test(err.message) &&
        (err.fix ?? '').includes('--dry-run true'),
    );
    assert.throws(
      () => fromFlags(['--packages-dir', 'out', '--repository-url', 'nope'], ws),
      /Option --repository-url is not a valid URL: 'nope'/,
    );
  });

  it('reads the password from TRUSTED_PUBLISH_PASSWORD, and says when it came on the command line', () => {
    const ws = workspace();
    const env = { TRUSTED_PUBLISH_PASSWORD: 'pypi-from-env' };
    assert.equal(fromFlags(['--packages-dir', 'out'], ws, env).password, 'pypi-from-env');
    const given = parseCommandLine(['--password', 'pypi-flag'], env);
    assert.equal(given.passwordOnCommandLine, true);
    assert.equal(given.source.value('password'), 'pypi-flag');
    assert.equal(parseCommandLine([], env).passwordOnCommandLine, false);
  });

  it('keeps --help, --output and --dotenv for the command itself', () => {
    const parsed = parseCommandLine(['--help', '--output', 'p.json', '--dotenv', 'p.env'], {});
    assert.equal(parsed.help, true);
    assert.equal(parsed.output, 'p.json');
    assert.equal(parsed.dotenv, 'p.env');
  });

  it('takes -h for --help, and --version', () => {
    assert.equal(parseCommandLine(['-h'], {}).help, true);
    assert.equal(parseCommandLine(['--version'], {}).version, true);
    assert.equal(parseCommandLine([], {}).version, false);
  });

  it('refuses unknown options and stray arguments as a usage error', () => {
    for (const argv of [['--repository', 'x'], ['dist'], ['--registry']])
      assert.throws(() => parseCommandLine(argv, {}), UsageError, argv.join(' '));
  });
});
