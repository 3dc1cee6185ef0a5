/**
 * Oracles for npm. (1) A real registry server, Verdaccio, takes what the bundled action publishes, and the
 * real `npm install` installs it from there. (2) The real `npm publish` (npm 11) publishes to the emulator,
 * once with a token in .npmrc and once through its own OIDC exchange, and sends the same document as the
 * action on every part a registry relies on.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import {
  defaultPublisher,
  documentSignature,
  type NpmRegistry,
  packNpm,
  runNpm,
  startNpm,
} from '../fakes/npm.ts';
import { FIXTURES, findLeaks, runAction, wasMasked } from '../helpers/action.ts';
import { startVerdaccio, type Verdaccio, verdaccioToken } from '../helpers/verdaccio.ts';

const FIXTURE = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');
const SCOPED = '@octo-org/tp-scoped';

let tmp: string;
let scoped: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-npm-oracle-'));
  scoped = await packNpm(tmp, {
    name: SCOPED,
    version: '1.2.0',
    readme: '# tp-scoped\n\nInstalled from a registry.\n',
    publishConfig: { access: 'public' },
  });
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** What is in an installed package's folder. */
const installed = (project: string, name: string, file: string): string =>
  fs.readFileSync(path.join(project, 'node_modules', name, file), 'utf8');

describe('Verdaccio, a real npm registry, takes what the action publishes', () => {
  let verdaccio: Verdaccio;
  before(async () => {
    verdaccio = await startVerdaccio(tmp);
  });
  after(async () => {
    await verdaccio?.stop();
  });

  it('publishes with a Verdaccio token, and npm install gets both packages back, byte for byte', async () => {
    const token = await verdaccioToken(verdaccio);

    const result = await runAction({
      files: [FIXTURE, scoped],
      inputs: { 'repository-url': `${verdaccio.url}/`, password: token },
    });
    assert.equal(result.code, 0, `${result.stdout}\n${verdaccio.log()}`);
    assert.deepEqual(
      result.published.map((p) => [p.name, p.version, p.status]),
      [
        [SCOPED, '1.2.0', 'uploaded'],
        ['tp-sample', '0.1.0', 'uploaded'],
      ],
    );
    assert.ok(wasMasked(result, token));
    assert.deepEqual(findLeaks(result, [token]), []);

    const project = fs.mkdtempSync(path.join(tmp, 'consumer-'));
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
    );
    const install = await runNpm(
      [
        'install',
        'tp-sample@0.1.0',
        `${SCOPED}@1.2.0`,
        '--registry',
        `${verdaccio.url}/`,
        '--no-audit',
        '--no-fund',
      ],
      { cwd: project },
    );
    assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
    assert.equal(
      installed(project, 'tp-sample', 'index.js'),
      fs.readFileSync(path.join(FIXTURES, 'npm/src/index.js'), 'utf8'),
    );
    assert.equal(JSON.parse(installed(project, 'tp-sample', 'package.json')).version, '0.1.0');
    assert.equal(installed(project, SCOPED, 'index.js'), 'module.exports = {"version":"1.2.0"};\n');
    assert.equal(installed(project, SCOPED, 'README.md'), '# tp-scoped\n\nInstalled from a registry.\n');
    // npm checked each tarball against the integrity the action sent.
    const lock = JSON.parse(fs.readFileSync(path.join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { integrity?: string; resolved?: string }>;
    };
    assert.match(
      lock.packages['node_modules/tp-sample']?.resolved ?? '',
      new RegExp(`^${verdaccio.url}/tp-sample/-/tp-sample-0\\.1\\.0\\.tgz$`),
    );
    assert.match(lock.packages[`node_modules/${SCOPED}`]?.integrity ?? '', /^sha512-/);

    // Verdaccio's packument now lists the version with our shasum: a re-run, with or without skip-existing,
    // is skipped after that public read alone.
    for (const skipExisting of ['false', 'true']) {
      const again = await runAction({
        files: [FIXTURE],
        inputs: { 'repository-url': `${verdaccio.url}/`, password: token, 'skip-existing': skipExisting },
      });
      assert.equal(again.code, 0, again.stdout);
      assert.equal(again.published[0]?.status, 'skipped');
      assert.match(again.stdout, /Skipped tp-sample-0\.1\.0\.tgz: already on npm .* with the same sha256/);
    }
  });
});

describe('npm publish and the action send the same document', () => {
  let issuer: Issuer;
  const registries: NpmRegistry[] = [];

  before(async () => {
    issuer = await startIssuer();
  });
  after(async () => {
    for (const r of registries) await r.close();
    await issuer.close();
  });

  /** An emulator where both packages exist (one older version each) with this repository's publisher. */
  async function emulator(): Promise<NpmRegistry> {
    const registry = await startNpm({
      issuer,
      publishers: { 'tp-sample': [defaultPublisher()], [SCOPED]: [defaultPublisher()] },
    });
    registry.addPackage('tp-sample', ['0.0.1']);
    registry.addPackage(SCOPED, ['1.0.0']);
    registries.push(registry);
    return registry;
  }

  /** `npm publish <tarball>` to the emulator; `env` adds what a GitHub runner would have. */
  function npmPublish(
    registry: NpmRegistry,
    file: string,
    opts: { token?: string; env?: Record<string, string> },
  ) {
    const host = new URL(registry.url).host;
    return runNpm(
      ['publish', file, '--registry', `${registry.url}/`, '--provenance=false', '--ignore-scripts'],
      {
        cwd: tmp,
        npmrc: opts.token ? `//${host}/:_authToken=${opts.token}\n` : '',
        env: opts.env,
      },
    );
  }

  it('matches on every part a registry relies on, for the fixture and a scoped package', async () => {
    const forNpm = await emulator();
    const forAction = await emulator();
    issuer.claims = defaultClaims();

    // The fixture: npm with a token minted the way the action gets one.
    const jwtRes = await fetch(`${issuer.requestUrl}&audience=npm:127.0.0.1`, {
      headers: { authorization: `bearer ${issuer.requestToken}` },
    });
    const { value: jwt } = (await jwtRes.json()) as { value: string };
    const minted = await fetch(`${forNpm.url}/-/npm/v1/oidc/token/exchange/package/tp-sample`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}` },
    });
    const { token } = (await minted.json()) as { token: string };
    const fixture = await npmPublish(forNpm, FIXTURE, { token });
    assert.equal(fixture.code, 0, `${fixture.stdout}\n${fixture.stderr}`);

    // The scoped package: npm's own trusted publishing, with our fake GitHub issuer.
    const requests = issuer.requests.length;
    const viaOidc = await npmPublish(forNpm, scoped, {
      env: {
        GITHUB_ACTIONS: 'true',
        ACTIONS_ID_TOKEN_REQUEST_URL: issuer.requestUrl,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: issuer.requestToken,
      },
    });
    assert.equal(viaOidc.code, 0, `${viaOidc.stdout}\n${viaOidc.stderr}`);
    // npm asked GitHub for the audience the action uses and exchanged where the emulator listens.
    assert.deepEqual(
      issuer.requests.slice(requests).map((r) => r.audience),
      ['npm:127.0.0.1'],
    );
    assert.deepEqual(forNpm.exchanges.at(-1), {
      path: '/-/npm/v1/oidc/token/exchange/package/@octo-org%2ftp-scoped',
      name: SCOPED,
      status: 201,
    });

    const result = await runAction({
      files: [FIXTURE, scoped],
      oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
      // npm above publishes with --provenance=false: the same document, without a .sigstore attachment.
      inputs: { 'repository-url': forAction.url, attestations: 'false' },
    });
    assert.equal(result.code, 0, result.stdout);

    const byName = (r: NpmRegistry, name: string) => r.documents.find((d) => d.name === name)?.document;
    const versionOf = (doc: Record<string, unknown> | undefined): Record<string, unknown> =>
      Object.values((doc?.versions ?? {}) as Record<string, Record<string, unknown>>)[0] ?? {};
    for (const [name, file] of [
      ['tp-sample', FIXTURE],
      [SCOPED, scoped],
    ] as const) {
      const [theirs, ours] = [forNpm, forAction].map((r) => r.documents.find((d) => d.name === name));
      assert.equal(theirs?.status, 200, `npm's ${name}`);
      assert.equal(ours?.status, 200, `the action's ${name}`);
      assert.equal(ours?.path, theirs?.path);
      assert.equal(ours?.headers['content-type'], theirs?.headers['content-type']);
      const signature = documentSignature(theirs?.document);
      assert.equal(
        signature.data,
        fs.readFileSync(file).toString('base64'),
        `npm attached ${name}'s tarball`,
      );
      assert.deepEqual(documentSignature(ours?.document), signature, name);
      // Every package.json field goes through unchanged.
      const [npmVersion, actionVersion] = [versionOf(theirs?.document), versionOf(ours?.document)];
      for (const key of Object.keys(actionVersion).filter(
        (k) => !['_id', 'dist', 'readme', 'readmeFilename'].includes(k),
      )) {
        assert.deepEqual(actionVersion[key], npmVersion[key], `${name} ${key}`);
      }
    }
    // Where the package has a README, both attach it.
    const [npmScoped, actionScoped] = [forNpm, forAction].map((r) => versionOf(byName(r, SCOPED)));
    assert.equal(npmScoped?.readme, '# tp-scoped\n\nInstalled from a registry.\n');
    assert.equal(actionScoped?.readme, npmScoped?.readme);
    assert.equal(actionScoped?.readmeFilename, npmScoped?.readmeFilename);
  });
  /** `npm pack` of a package.json and files written as given (npm pack keeps package.json as written). */
  async function packWith(manifest: Record<string, unknown>, files: Record<string, string>): Promise<string> {
    const work = fs.mkdtempSync(path.join(tmp, 'pack-src-'));
    fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify(manifest, null, 2));
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(work, name)), { recursive: true });
      fs.writeFileSync(path.join(work, name), content, { mode: 0o755 });
    }
    const out = fs.mkdtempSync(path.join(tmp, 'pack-out-'));
    const packed = await runNpm(['pack', '--pack-destination', out, '--json', '--ignore-scripts'], {
      cwd: work,
    });
    assert.equal(packed.code, 0, packed.stderr);
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    return path.join(out, filename);
  }

  it('normalises package.json exactly as npm 11 does, for old-style, scoped, prerelease and @types tarballs', async () => {
    const dotted = await packWith(
      {
        name: 'tp-dotted',
        version: '1.0.0',
        bin: { 'tp-dotted': './cli.js', 'tp-other': './bin//other.js' },
        man: './man/tp-dotted.1',
        author: { name: 'Jane Doe', email: 'jane@example.com' },
        maintainers: ['Bob Roe <bob@example.com>'],
        repository: { type: 'git', url: 'https://gitlab.com/example-org/tp-dotted' },
        keywords: 'one,two , three',
        files: ['cli.js', 'bin', 'man', 'server.js', 'binding.gyp', 'AUTHORS', 'index.d.ts'],
        main: 'index.js',
      },
      {
        'cli.js': '#!/usr/bin/env node\n',
        'bin/other.js': '#!/usr/bin/env node\n',
        'man/tp-dotted.1': '.TH TP-DOTTED 1\n',
        'server.js': '',
        'binding.gyp': '{}',
        AUTHORS: '# people\nAnn Example <ann@example.com>\n',
        'index.d.ts': 'export {};\n',
      },
    );
    const prerelease = await packWith(
      {
        name: '@octo-org/tp-pre',
        version: '2.0.0-beta.1',
        author: 'Jane Doe',
        bugs: 'https://example.org/bugs',
      },
      { 'readme.markdown': 'pre\n' },
    );
    const CLI = path.join(FIXTURES, 'npm/cli/tp-cli-1.0.0.tgz');
    const TYPES = path.join(FIXTURES, 'npm/types/tp-sample-0.1.0.tgz');
    const cases = [
      { name: 'tp-cli', file: CLI, tag: '' },
      { name: 'tp-dotted', file: dotted, tag: '' },
      { name: SCOPED, file: scoped, tag: '' },
      { name: '@types/tp-sample', file: TYPES, tag: '' },
      { name: '@octo-org/tp-pre', file: prerelease, tag: 'next' },
    ];
    const forNpm = await emulator();
    const forAction = await emulator();
    for (const r of [forNpm, forAction]) {
      for (const { name } of cases) {
        r.publishers.set(name, [defaultPublisher()]);
        if (name !== SCOPED) r.addPackage(name, ['0.0.1']);
      }
    }
    forNpm.addToken('npm-oracle-token', '*');
    for (const { file, tag } of cases) {
      const host = new URL(forNpm.url).host;
      const published = await runNpm(
        ['publish', file, '--registry', `${forNpm.url}/`, '--provenance=false', '--ignore-scripts']
          .concat(tag ? ['--tag', tag] : [])
          .concat(file === prerelease ? ['--access', 'public'] : []),
        { cwd: tmp, npmrc: `//${host}/:_authToken=npm-oracle-token\n` },
      );
      assert.equal(published.code, 0, `${published.stdout}\n${published.stderr}`);
    }
    issuer.claims = defaultClaims();
    for (const tag of ['', 'next']) {
      const result = await runAction({
        files: cases.filter((c) => c.tag === tag).map((c) => c.file),
        oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
        inputs: { 'repository-url': forAction.url, attestations: 'false', tag, access: tag ? 'public' : '' },
      });
      assert.equal(result.code, 0, result.stdout);
    }
    // What npm adds about itself and the publishing machine: its and Node's versions, and pacote's record of
    // where it read the tarball (a local path). dist is compared by documentSignature.
    const npmOnly = ['_nodeVersion', '_npmVersion', '_integrity', '_resolved', '_from', 'dist'];
    const versionOf = (r: NpmRegistry, name: string): Record<string, unknown> => {
      const doc = r.documents.find((d) => d.name === name)?.document as
        | { versions: Record<string, Record<string, unknown>> }
        | undefined;
      const manifest = Object.values(doc?.versions ?? {})[0] ?? {};
      return Object.fromEntries(Object.entries(manifest).filter(([k]) => !npmOnly.includes(k)));
    };
    for (const { name } of cases) {
      const [theirs, ours] = [forNpm, forAction].map((r) => r.documents.find((d) => d.name === name));
      assert.equal(theirs?.status, 200, `npm's ${name}`);
      assert.equal(ours?.status, 200, `the action's ${name}`);
      assert.deepEqual(documentSignature(ours?.document), documentSignature(theirs?.document), name);
      assert.deepEqual(versionOf(forAction, name), versionOf(forNpm, name), name);
    }
    // The differences the comparison covers are real: npm derived what package.json did not say.
    const cli = versionOf(forNpm, 'tp-cli');
    assert.deepEqual(cli.bin, { 'tp-cli': 'bin/tp-cli' });
    assert.deepEqual(cli.author, {
      name: 'Jane Doe',
      email: 'jane@example.com',
      url: 'https://jane.example',
    });
    assert.deepEqual(versionOf(forNpm, 'tp-dotted').bin, {
      'tp-dotted': 'cli.js',
      'tp-other': 'bin/other.js',
    });
    assert.deepEqual(
      documentSignature(forNpm.documents.find((d) => d.name === '@octo-org/tp-pre')?.document)['dist-tags'],
      {
        next: '2.0.0-beta.1',
      },
    );
  });
});
