import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { defaultPolicy, issueJwt, type NuGet, startNuGet } from '../fakes/nuget.ts';
import { makeNupkg } from '../fakes/nupkg.ts';
import { type ActionRun, actionAgainst, findLeaks, runAction, wasMasked } from '../helpers/action.ts';

const AUDIENCE = 'https://www.nuget.org';

let issuer: Issuer;
let ng: NuGet;
let work: string;
let NUPKG: string;
let SNUPKG: string;

before(async () => {
  issuer = await startIssuer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-e2e-nuget-'));
  NUPKG = await makeNupkg(work, { id: 'TpSample', version: '0.1.0' });
  SNUPKG = await makeNupkg(work, { id: 'TpSample', version: '0.1.0', symbols: true });
});
beforeEach(async () => {
  await ng?.close();
  ng = await startNuGet({ issuer });
});
after(async () => {
  await ng?.close();
  await issuer.close();
  fs.rmSync(work, { recursive: true, force: true });
});

// As the policy's creator, with id-token: write unless told otherwise.
const { run, assertNoLeaks } = actionAgainst(
  () => issuer,
  () => ng,
  () => ({ files: [NUPKG, SNUPKG], inputs: { 'repository-url': ng.url, user: 'octocat' } }),
);

const statuses = (result: ActionRun) => result.published.map((p) => p.status);

describe('NuGet end to end (bundled action on Node 24)', () => {
  it('publishes a package and then its symbol package with trusted publishing', async () => {
    const issuedBefore = issuer.issued.length;
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status, p.registry, p.name, p.version]),
      [
        ['TpSample.0.1.0.nupkg', 'uploaded', 'nuget', 'TpSample', '0.1.0'],
        ['TpSample.0.1.0.snupkg', 'uploaded', 'nuget', 'TpSample', '0.1.0'],
      ],
    );
    // One exchange, as NuGet/login makes it.
    assert.equal(ng.exchanges.length, 1);
    const exchange = ng.exchanges[0];
    assert.deepEqual(JSON.parse(exchange?.body ?? ''), { username: 'octocat', tokenType: 'ApiKey' });
    assert.match(exchange?.headers['content-type'] ?? '', /^application\/json/);
    assert.match(exchange?.headers['user-agent'] ?? '', /^trusted-publish\//);
    const jwt = issuer.issued[issuedBefore] ?? '';
    assert.equal(exchange?.headers.authorization, `Bearer ${jwt}`);
    assert.equal(decodeJwt(jwt).aud, AUDIENCE);
    // Pushes as NuGet.Client's PackageUpdateResource makes them, package before symbols.
    assert.deepEqual(
      ng.pushes.map((p) => [p.path, p.status]),
      [
        ['/api/v2/package', 201],
        ['/api/v2/symbolpackage', 201],
      ],
    );
    const [key] = ng.minted;
    for (const p of ng.pushes) {
      assert.equal(p.headers['x-nuget-apikey'], key);
      assert.deepEqual(p.part, {
        field: 'package',
        filename: 'package.nupkg',
        contentType: 'application/octet-stream',
      });
      assert.ok(p.headers['content-length'], 'a Content-Length, not chunked');
    }
    assert.deepEqual(ng.pushes[0]?.body, fs.readFileSync(NUPKG));
    assert.deepEqual(ng.pushes[1]?.body, fs.readFileSync(SNUPKG));
    assert.equal(ng.packages.get('tpsample')?.versions.get('0.1.0')?.symbols?.validating, false);
    assert.match(result.summary, new RegExp(`href="${ng.url}/packages/TpSample/0\\.1\\.0"`));
    assertNoLeaks(result);
  });

  it('refuses a missing user input before any file is read or anything is sent', async () => {
    const requestsBefore = issuer.requests.length;
    const broken = path.join(fs.mkdtempSync(path.join(work, 'broken-')), 'TpSample.0.1.0.nupkg');
    fs.writeFileSync(broken, 'not a package');
    const result = await run({ files: [broken], inputs: { user: '' } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /Trusted publishing to NuGet \(127\.0\.0\.1:\d+\) needs the 'user' input/);
    assert.match(result.stdout, /the policy's creator, not the organisation that owns the package/);
    assert.doesNotMatch(result.stdout, /not an intact zip/, 'the input is checked before the files');
    assert.equal(issuer.requests.length, requestsBefore, 'no OIDC token was requested');
    assert.equal(ng.exchanges.length, 0);
    assert.equal(ng.pushes.length, 0);
  });

  it('explains a user that is the owning organisation instead of the policy creator', async () => {
    const result = await run({ inputs: { user: 'octo-org' } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /No matching trust policy owned by user 'octo-org' was found/);
    assert.match(
      result.stdout,
      /'user' must be the policy's creator, not the organisation that owns the package/,
    );
    assert.match(
      result.stdout,
      /job_workflow_ref: octo-org\/tp-sample\/\.github\/workflows\/release\.yml@refs\/tags\/v0\.1\.0/,
    );
    assert.match(result.stdout, /Repository Owner: octo-org/);
    assert.match(result.stdout, /Workflow File: release\.yml/);
    assert.match(result.stdout, /Environment: release/);
    assert.deepEqual(statuses(result), ['failed', 'failed']);
    assert.equal(ng.pushes.length, 0);
    assertNoLeaks(result);
  });

  it('passes on the gallery’s own words for a workflow file mismatch', async () => {
    ng.policies = [{ ...defaultPolicy(), workflow: 'publish.yml' }];
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /Workflow mismatch for policy 'release': expected 'publish\.yml', actual 'release\.yml'/,
    );
    assert.match(result.stdout, /its workflow file or environment differs/);
    assert.match(result.stdout, /Workflow File: release\.yml/);
    assertNoLeaks(result);
  });

  it('says a reusable workflow from another repository can never match', async () => {
    const saved = issuer.claims;
    issuer.claims = {
      ...saved,
      job_workflow_ref: 'octo-org/shared/.github/workflows/release.yml@refs/heads/main',
    };
    try {
      const result = await run();
      assert.equal(result.code, 1);
      assert.match(
        result.stdout,
        /Claim 'job_workflow_ref' has value '[^']+' which does not start with octo-org\/tp-sample\/\.github\/workflows\//,
      );
      assert.match(
        result.stdout,
        /Workflow File: release\.yml — but it lives outside octo-org\/tp-sample, which nuget\.org never matches/,
      );
      assertNoLeaks(result);
    } finally {
      issuer.claims = saved;
    }
  });

  it('fails clearly on a version that exists, and skips it under skip-existing', async () => {
    ng.symbolValidation = 'pending';
    assert.equal((await run()).code, 0);

    const duplicate = await run();
    assert.equal(duplicate.code, 1);
    assert.match(
      duplicate.stdout,
      /A package with ID 'TpSample' and version '0\.1\.0' already exists and cannot be modified/,
    );
    assert.match(duplicate.stdout, /can never be pushed again/);
    assert.match(duplicate.stdout, /Bump the version/);
    assert.deepEqual(statuses(duplicate), ['failed', 'failed']);
    assert.equal(
      duplicate.published[1]?.error,
      'not attempted: TpSample.0.1.0.nupkg, which must go first, failed',
    );

    const [pushes, reads] = [ng.pushes.length, ng.reads.length];
    const skipped = await run({ inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.deepEqual(statuses(skipped), ['skipped', 'skipped']);
    // The flat container lists the version, so the package is not sent again; symbols are not listed there.
    assert.match(
      skipped.stdout,
      /Skipped TpSample\.0\.1\.0\.nupkg: TpSample 0\.1\.0 already exists on NuGet/,
    );
    assert.equal(ng.pushes.length, pushes + 1, 'only the symbol package was pushed');
    assert.match(
      skipped.stdout,
      /Skipped TpSample\.0\.1\.0\.snupkg: a symbol package of TpSample 0\.1\.0 is already there/,
    );
    assert.deepEqual(
      ng.reads.slice(reads).map((r) => [r.path, r.authorization, r.apiKey]),
      [
        ['/v3/index.json', undefined, undefined],
        ['/v3-flatcontainer/tpsample/index.json', undefined, undefined],
      ],
      'public reads, no credentials',
    );
    assertNoLeaks(skipped);
  });

  it('names the package the policy does not cover', async () => {
    ng.registerPackage('TpSample', 'someone-else');
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /refused TpSample\.0\.1\.0\.nupkg \(HTTP 403\): The specified API key is invalid/,
    );
    assert.match(
      result.stdout,
      /may not push 'TpSample': the trusted publishing policy that issued it does not cover this package/,
    );
    assert.match(result.stdout, /Package Owner: the account or organisation that owns TpSample/);
    assertNoLeaks(result);
  });

  it('retries a failing exchange with a fresh JWT in each attempt', async () => {
    ng.faults.exchange.push(503, 502);
    const before = issuer.issued.length;
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    const jwts = issuer.issued.slice(before);
    assert.equal(new Set(jwts).size, 3);
    assert.deepEqual(
      ng.exchanges.map((e) => e.headers.authorization),
      jwts.map((j) => `Bearer ${j}`),
    );
    assertNoLeaks(result);
  });

  it('exchanges again before the key expires during a long release', async () => {
    // A key that lives 2 s is due once half of it is gone, which the first push (1.2 s, alone) outlasts. This
    // also proves the gallery's "expires" was read: without it no refresh would happen.
    ng.keyLifetimeSeconds = 2;
    ng.pushLatencyMs = 1_200;
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.ok(ng.minted.length >= 2, `minted ${ng.minted.length}`);
    assert.match(result.stdout, /expires soon; exchanging a new one/);
    assertNoLeaks(result);
  });

  it('shows the gallery’s push warnings', async () => {
    ng.pushWarnings = ['The package is missing a readme.'];
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.match(
      result.stdout,
      /::warning::NuGet \(127\.0\.0\.1:\d+\) on TpSample\.0\.1\.0\.nupkg: The package is missing a readme\./,
    );
  });

  it('validates every file before any network call', async () => {
    const dir = fs.mkdtempSync(path.join(work, 'bad-'));
    const truncated = path.join(dir, 'TpSample.0.1.0.snupkg');
    fs.writeFileSync(truncated, fs.readFileSync(SNUPKG).subarray(0, 300));
    const renamed = await makeNupkg(dir, {
      id: 'TpSample',
      version: '0.2.0',
      fileName: 'TpSample.0.3.0.nupkg',
    });
    const requestsBefore = issuer.requests.length;
    const result = await run({ files: [renamed, truncated] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /TpSample\.0\.1\.0\.snupkg: is not an intact zip archive/);
    assert.match(result.stdout, /should be named TpSample\.0\.2\.0\.nupkg/);
    assert.match(result.summary, /Nothing was uploaded/);
    assert.equal(issuer.requests.length, requestsBefore);
    assert.equal(ng.exchanges.length, 0);
  });

  it('explains symbols whose package is neither in the folder nor on the registry', async () => {
    const result = await run({ files: [SNUPKG] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /a symbol package can only follow its package/);
    assertNoLeaks(result);
  });

  it('dry-run prints the policy form values and the user to pass; never exchanges, never pushes', async () => {
    const result = await run({ inputs: { 'dry-run': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /TpSample\.0\.1\.0\.nupkg {2}TpSample 0\.1\.0/);
    assert.match(result.stdout, /Values for the NuGet \(127\.0\.0\.1:\d+\) trusted publisher form:/);
    assert.match(result.stdout, /Repository: tp-sample/);
    assert.match(
      result.stdout,
      /and this action's 'user' input: the nuget\.org user name of the policy's creator/,
    );
    assert.equal(ng.exchanges.length, 0);
    assert.equal(ng.pushes.length, 0);
    assertNoLeaks(result);
  });

  it('refuses api.nuget.org as repository-url with the address to use', async () => {
    const result = await run({ inputs: { 'repository-url': 'https://api.nuget.org/v3/index.json' } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /points at api\.nuget\.org/);
    assert.match(result.stdout, /set it to https:\/\/www\.nuget\.org/);
  });

  it('uses an API key from the password input without a user or an OIDC token', async () => {
    const minted = await fetch(`${ng.url}/api/v2/token`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await issueJwt(issuer, AUDIENCE)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ username: 'octocat', tokenType: 'ApiKey' }),
    });
    const { apiKey } = (await minted.json()) as { apiKey: string };
    const requestsBefore = issuer.requests.length;
    const result = await runAction({
      files: [NUPKG, SNUPKG],
      inputs: { 'repository-url': ng.url, password: apiKey },
    });
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /::notice::Publishing to NuGet \(127\.0\.0\.1:\d+\) with a long-lived token/);
    assert.equal(issuer.requests.length, requestsBefore, 'no OIDC token requested');
    assert.ok(wasMasked(result, apiKey));
    assert.deepEqual(findLeaks(result, [apiKey, ...issuer.issued]), []);
  });

  it('leaks nothing with step debug logging and verbose on', async () => {
    const result = await run({
      inputs: { verbose: 'true', 'print-hash': 'true' },
      env: { RUNNER_DEBUG: '1' },
    });
    assert.equal(result.code, 0, result.stdout);
    assertNoLeaks(result);
  });
});
