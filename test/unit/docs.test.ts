// What a newcomer reads and copies must be true: README's versions, references and examples, action.yml's
// Marketplace metadata, the changelog's entry for this version.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from '../helpers/action.ts';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const manifest = JSON.parse(read('package.json'));
const readme = read('README.md');
const action = parse(read('action.yml')) as {
  name: string;
  description: string;
  author: string;
  branding: { icon: string; color: string };
  inputs: Record<string, { deprecationMessage?: string }>;
};

/** The colours GitHub Marketplace takes for `branding.color`. */
const BRANDING_COLORS = ['white', 'black', 'yellow', 'blue', 'green', 'orange', 'red', 'purple', 'gray-dark'];

/** README's fenced YAML blocks under a heading. */
function yamlBlocks(heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.notEqual(start, -1, heading);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  // A block inside a numbered list is indented as a whole: taken back to column 0.
  return [...section.matchAll(/^( *)```yaml\n([\s\S]*?)^ *```/gm)].map(([, indent = '', block = '']) =>
    block.replace(new RegExp(`^${indent}`, 'gm'), ''),
  );
}

describe('action.yml', () => {
  it('has what GitHub Marketplace shows: a name, a short description, an author and branding', () => {
    assert.equal(action.name, 'Trusted Publish');
    assert.ok(action.description.length <= 125, `description: ${action.description.length} characters`);
    assert.ok(action.author);
    assert.match(action.branding.icon, /^[a-z0-9-]+$/);
    assert.ok(BRANDING_COLORS.includes(action.branding.color), action.branding.color);
  });

  it('lets the action alone warn about old input spellings (no runner deprecationMessage: one warning, not two)', () => {
    for (const [name, input] of Object.entries(action.inputs))
      assert.equal(input.deprecationMessage, undefined, name);
  });
});

describe('README', () => {
  it('spells the action one way: trusted-publish/trusted-publish@v0', () => {
    const references = [...readme.matchAll(/uses: ([^\s`]*trusted-publish[^\s`]*)/g)].map(
      (match) => match[1],
    );
    assert.ok(references.length >= 5);
    for (const reference of references)
      assert.match(reference ?? '', /^trusted-publish\/trusted-publish@(v0|<sha>)$/, reference);
    assert.doesNotMatch(readme, /<owner>\/trusted-publish/);
  });

  it("pins the command's version wherever it is run with npx", () => {
    const runs = [...readme.matchAll(/npx (?:--yes )?trusted-publish([^\s`]*)/g)].map((match) => match[1]);
    assert.ok(runs.length >= 6);
    for (const pin of runs) assert.equal(pin, `@${manifest.version}`);
  });

  it("states the Node version one way, as package.json's engines", () => {
    const statements = readme.match(
      /Node 22\.22\.2 or a later 22, 24\.15\.0 or a later 24, or 26 and later \(`engines`: `([^`]+)`\)/g,
    );
    assert.equal(statements?.length, 2, 'the set-up and the GitLab section');
    assert.ok(statements?.every((s) => s.includes(`\`${manifest.engines.node}\``)));
    assert.doesNotMatch(readme, /Node ≥|Node >=|22\.22 or 24\.15/);
  });

  it('gives the npm quickstart a with: block of real inputs', () => {
    const [block] = yamlBlocks('npm quickstart');
    const jobs = parse(block ?? '') as {
      jobs: Record<string, { steps: { uses?: string; with?: unknown }[] }>;
    };
    const step = jobs.jobs.publish?.steps.find((s) => s.uses === 'trusted-publish/trusted-publish@v0');
    assert.ok(step?.with && typeof step.with === 'object', 'a with: mapping');
    assert.ok(Object.keys(step.with).length > 0);
    for (const name of Object.keys(step.with)) assert.ok(name in action.inputs, name);
  });

  it('parses every YAML example', () => {
    for (const heading of ['PyPI quickstart', 'RubyGems quickstart', 'npm quickstart', 'NuGet quickstart']) {
      const blocks = yamlBlocks(heading);
      assert.ok(blocks.length > 0, heading);
      for (const block of blocks) assert.doesNotThrow(() => parse(block), heading);
    }
  });
});

describe('CHANGELOG.md and SECURITY.md', () => {
  it("has this version's entry, in the Keep a Changelog form", () => {
    const changelog = read('CHANGELOG.md');
    assert.match(changelog, /keepachangelog\.com/);
    assert.match(changelog, /^## \[Unreleased\]$/m);
    assert.match(
      changelog,
      new RegExp(`^## \\[${manifest.version.replaceAll('.', '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'),
    );
    assert.match(changelog, new RegExp(`^\\[${manifest.version.replaceAll('.', '\\.')}\\]: https://`, 'm'));
  });

  it('says how to report a vulnerability privately', () => {
    assert.match(read('SECURITY.md'), /Report a vulnerability/);
  });
});
