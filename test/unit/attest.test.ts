// Which instances get attestations by default: only those that verify them (pypi.org and test.pypi.org for
// PEP 740, the public npm registry for provenance). Elsewhere signing would publish the workflow's identity
// to the public Sigstore log for an index that cannot check it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Cancellation } from '../../src/cancel.ts';
import type { Ci } from '../../src/ci/ci.ts';
import { attestationsApply } from '../../src/flow/attest.ts';
import { planReleases } from '../../src/flow/plan.ts';
import { readInputs } from '../../src/inputs.ts';
import { FIXTURES } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');

/** Whether a trusted run with the wheel, these inputs and no `attestations` input would sign. */
async function signsFor(env: Record<string, string>): Promise<boolean> {
  const workspace = tempDir('tp-attest-');
  fs.mkdirSync(path.join(workspace, 'dist'));
  fs.copyFileSync(WHEEL, path.join(workspace, 'dist', path.basename(WHEEL)));
  const inputs = readInputs({ GITHUB_WORKSPACE: workspace, ...env });
  const [release] = await planReleases(inputs);
  assert.ok(release);
  return attestationsApply({
    release,
    inputs,
    ci: { signsAttestations: true } as Ci,
    env: {},
    cancel: new Cancellation(),
    held: new Map(),
  });
}

describe('attestations by default', () => {
  it('are made for pypi.org and test.pypi.org, whichever way TestPyPI is named', async () => {
    assert.equal(await signsFor({}), true);
    assert.equal(await signsFor({ 'INPUT_REPOSITORY-URL': 'https://upload.pypi.org/legacy/' }), true);
    assert.equal(await signsFor({ 'INPUT_REPOSITORY-URL': 'https://test.pypi.org/legacy/' }), true);
    assert.equal(await signsFor({ INPUT_REGISTRY: 'testpypi' }), true);
  });

  it('are not made for another index, nor with a password', async () => {
    assert.equal(await signsFor({ 'INPUT_REPOSITORY-URL': 'https://pypi.example.org/legacy/' }), false);
    assert.equal(await signsFor({ INPUT_PASSWORD: 'pypi-secret-value' }), false);
  });
});
