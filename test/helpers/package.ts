/** The project itself as npm packs it: the tarball the release publishes and `npx trusted-publish` installs. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runNpm } from '../fakes/npm.ts';
import { ROOT } from './action.ts';

export interface PackedProject {
  tarball: string;
  /** Every file in the tarball, as npm lists it, sorted. */
  files: string[];
  name: string;
  version: string;
}

/** Packs the project with the real `npm pack` into `dest`, as the release job does. */
export async function packProject(dest: string): Promise<PackedProject> {
  const run = await runNpm(['pack', '--json', '--pack-destination', dest], { cwd: ROOT });
  assert.equal(run.code, 0, run.stderr);
  const [info] = JSON.parse(run.stdout) as {
    filename: string;
    name: string;
    version: string;
    files: { path: string }[];
  }[];
  assert.ok(info, run.stdout);
  const tarball = path.join(dest, info.filename);
  assert.ok(fs.existsSync(tarball), tarball);
  return {
    tarball,
    files: info.files.map((file) => file.path.replaceAll('\\', '/')).sort(),
    name: info.name,
    version: info.version,
  };
}
