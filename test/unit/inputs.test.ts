import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { ActionError } from '../../src/errors.ts';
import { parseRepositoryUrl, readInputs, resolvePackagesDir } from '../../src/inputs.ts';
import { tempDir } from '../helpers/temp.ts';

function workspace(): string {
  const dir = tempDir('tp-inputs-');
  fs.mkdirSync(path.join(dir, 'dist'));
  return dir;
}

describe('readInputs', () => {
  it('applies the defaults when the runner passes empty values', () => {
    const ws = workspace();
    const inputs = readInputs({ GITHUB_WORKSPACE: ws, 'INPUT_PACKAGES-DIR': '', INPUT_REGISTRY: 'auto' });
    assert.equal(inputs.registry, 'auto');
    assert.equal(inputs.packagesDir, fs.realpathSync(path.join(ws, 'dist')));
    assert.equal(inputs.skipExisting, false);
    assert.equal(inputs.verifyMetadata, true);
    assert.equal(inputs.attestations, true);
    assert.equal(inputs.repositoryUrl, undefined);
  });

  it("accepts gh-action-pypi-publish's underscore spellings", () => {
    const ws = workspace();
    fs.mkdirSync(path.join(ws, 'out'));
    const inputs = readInputs({
      GITHUB_WORKSPACE: ws,
      INPUT_PACKAGES_DIR: 'out',
      INPUT_SKIP_EXISTING: 'true',
      INPUT_REPOSITORY_URL: 'https://test.pypi.org/legacy/',
    });
    assert.equal(path.basename(inputs.packagesDir), 'out');
    assert.equal(inputs.skipExisting, true);
    assert.equal(inputs.repositoryUrl?.href, 'https://test.pypi.org/legacy/');
  });

  it('prefers the hyphenated spelling when both are given', () => {
    const ws = workspace();
    fs.mkdirSync(path.join(ws, 'new'));
    const inputs = readInputs({
      GITHUB_WORKSPACE: ws,
      'INPUT_PACKAGES-DIR': 'new',
      INPUT_PACKAGES_DIR: 'dist',
    });
    assert.equal(path.basename(inputs.packagesDir), 'new');
  });

  it('takes token as an alias of password', () => {
    const inputs = readInputs({ GITHUB_WORKSPACE: workspace(), INPUT_TOKEN: 'pypi-abc' });
    assert.equal(inputs.password, 'pypi-abc');
  });

  it('refuses an unknown registry, naming the choices', () => {
    assert.throws(
      () => readInputs({ GITHUB_WORKSPACE: workspace(), INPUT_REGISTRY: 'pipy' }),
      (err: ActionError) =>
        err.message.includes("'pipy'") && (err.fix ?? '').includes('pypi, testpypi, rubygems'),
    );
  });

  it('refuses booleans other than true and false', () => {
    assert.throws(
      () => readInputs({ GITHUB_WORKSPACE: workspace(), 'INPUT_DRY-RUN': 'yes' }),
      /Input 'dry-run' must be true or false, not 'yes'/,
    );
  });
});

describe('repository-url', () => {
  it('allows https and loopback http only', () => {
    assert.equal(parseRepositoryUrl('https://upload.pypi.org/legacy/')?.host, 'upload.pypi.org');
    assert.equal(parseRepositoryUrl('http://127.0.0.1:8080/legacy/')?.port, '8080');
    assert.equal(parseRepositoryUrl('http://localhost/legacy/')?.hostname, 'localhost');
    assert.equal(parseRepositoryUrl('http://[::1]:9/')?.hostname, '[::1]');
    assert.throws(() => parseRepositoryUrl('http://pypi.example.org/legacy/'), /must use https/);
    assert.throws(() => parseRepositoryUrl('http://127.0.0.1.evil.example/'), /must use https/);
    assert.throws(() => parseRepositoryUrl('ftp://127.0.0.1/'), /must use https/);
  });

  it('refuses malformed URLs and embedded credentials', () => {
    assert.throws(() => parseRepositoryUrl('upload.pypi.org/legacy'), /not a valid URL/);
    assert.throws(
      () => parseRepositoryUrl('https://user:pw@upload.pypi.org/legacy/'),
      /user name or password/,
    );
  });
});

describe('attestations, fulcio-url, rekor-url', () => {
  it('defaults to attestations on, with the public-good Sigstore, and knows whether the step set it', () => {
    const defaults = readInputs({ GITHUB_WORKSPACE: workspace(), INPUT_ATTESTATIONS: '' });
    assert.equal(defaults.attestations, true);
    assert.equal(defaults.attestationsGiven, false);
    assert.equal(defaults.fulcioUrl.href, 'https://fulcio.sigstore.dev/');
    assert.equal(defaults.rekorUrl.href, 'https://rekor.sigstore.dev/');
    const given = readInputs({ GITHUB_WORKSPACE: workspace(), INPUT_ATTESTATIONS: 'true' });
    assert.equal(given.attestations, true);
    assert.equal(given.attestationsGiven, true);
    assert.equal(
      readInputs({ GITHUB_WORKSPACE: workspace(), INPUT_ATTESTATIONS: 'false' }).attestations,
      false,
    );
  });

  it('takes https or loopback Sigstore addresses, as for repository-url', () => {
    const local = readInputs({
      GITHUB_WORKSPACE: workspace(),
      'INPUT_FULCIO-URL': 'http://127.0.0.1:5555',
      'INPUT_REKOR-URL': 'https://rekor.example.org/',
    });
    assert.equal(local.fulcioUrl.port, '5555');
    assert.equal(local.rekorUrl.host, 'rekor.example.org');
    assert.throws(
      () => readInputs({ GITHUB_WORKSPACE: workspace(), 'INPUT_REKOR-URL': 'http://rekor.example.org' }),
      /Input 'rekor-url' must use https/,
    );
    assert.throws(
      () => readInputs({ GITHUB_WORKSPACE: workspace(), 'INPUT_FULCIO-URL': 'fulcio.sigstore.dev' }),
      /Input 'fulcio-url' is not a valid URL/,
    );
  });
});

describe('packages-dir', () => {
  it('refuses a folder outside the workspace, directly or through a symlink', () => {
    const ws = workspace();
    const outside = tempDir('tp-outside-');
    fs.symlinkSync(outside, path.join(ws, 'link'));
    assert.throws(() => resolvePackagesDir('../', ws), /leads outside the workspace/);
    assert.throws(() => resolvePackagesDir('link', ws), /leads outside the workspace/);
  });

  it('explains a missing folder', () => {
    assert.throws(
      () => resolvePackagesDir('nope', workspace()),
      (err: ActionError) => err.message.includes("packages-dir 'nope' does not exist") && Boolean(err.fix),
    );
  });
});
