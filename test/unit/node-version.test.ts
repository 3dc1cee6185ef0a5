// The command's Node check and package.json's `engines` say the same thing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import semver from 'semver';
import { supportsNode } from '../../src/node-version.ts';
import { ROOT } from '../helpers/action.ts';

it('supportsNode agrees with engines on every version around its bounds', () => {
  const { engines } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    engines: { node: string };
  };
  const versions = [];
  for (let major = 18; major <= 28; major++)
    for (const minor of [0, 1, 14, 15, 16, 21, 22, 23, 40])
      for (const patch of [0, 1, 2, 3]) versions.push(`${major}.${minor}.${patch}`);
  for (const version of versions) {
    assert.equal(supportsNode(version), semver.satisfies(version, engines.node), version);
  }
  assert.equal(supportsNode('v24.15.0'), true);
});
