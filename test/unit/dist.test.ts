import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { ROOT } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

function tree(dir: string, prefix = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) Object.assign(files, tree(full, `${prefix}${entry.name}/`));
    else files[`${prefix}${entry.name}`] = fs.readFileSync(full, 'utf8');
  }
  return files;
}

it('the committed dist/ equals a fresh build of the sources', () => {
  const fresh = tempDir('tp-dist-');
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs'), fresh], { cwd: ROOT });
  const committed = tree(path.join(ROOT, 'dist'));
  const built = tree(fresh);
  assert.deepEqual(
    Object.keys(committed).sort(),
    Object.keys(built).sort(),
    'dist/ holds other files: run npm run build',
  );
  for (const [name, content] of Object.entries(built)) {
    assert.ok(committed[name] === content, `dist/${name} is stale: run npm run build and commit dist/`);
  }
});
