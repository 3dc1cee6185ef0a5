import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { makeGem } from '../fakes/gem.ts';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type RubyGems, startRubyGems } from '../fakes/rubygems.ts';
import {
  type ActionRun,
  FIXTURES,
  findLeaks,
  type RunOptions,
  runAction,
  wasMasked,
} from '../helpers/action.ts';
import { skipWithout } from '../helpers/clients.ts';
import { tempDir } from '../helpers/temp.ts';

const GEM = path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem');

let issuer: Issuer;
let rubygems: RubyGems;

before(async () => {
  issuer = await startIssuer();
});
after(async () => {
  await rubygems?.close();
  await issuer.close();
});
beforeEach(async () => {
  await rubygems?.close();
  rubygems = await startRubyGems({ issuer });
});

function run(opts: RunOptions = {}): Promise<ActionRun> {
  return runAction({
    files: [GEM],
    oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
    ...opts,
    inputs: { 'repository-url': rubygems.url, ...opts.inputs },
  });
}

function assertNoLeaks(result: ActionRun): void {
  assert.deepEqual(findLeaks(result, [...rubygems.minted, ...issuer.issued]), []);
}

describe('RubyGems end to end (bundled action on Node 24)', () => {
  it('publishes the fixture gem and a platform gem byte-identical with one exchange', {
    skip: skipWithout('gem'),
  }, async () => {
    const platformGem = await makeGem(tempDir('tp-e2e-gem-'), {
      name: 'tp_sample',
      version: '0.2.0',
      platform: 'x86_64-linux',
    });
    const result = await run({ files: [GEM, platformGem], inputs: { registry: 'rubygems' } });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(rubygems.minted.length, 1);
    assert.ok(wasMasked(result, rubygems.minted[0] ?? ''));
    assert.deepEqual([...rubygems.versions.keys()].sort(), [
      'tp_sample-0.1.0-ruby',
      'tp_sample-0.2.0-x86_64-linux',
    ]);
    assert.deepEqual(rubygems.pushes[0]?.body, fs.readFileSync(GEM));
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status, p.registry]),
      [
        ['tp_sample-0.1.0.gem', 'uploaded', 'rubygems'],
        ['tp_sample-0.2.0-x86_64-linux.gem', 'uploaded', 'rubygems'],
      ],
    );
    assert.match(result.stdout, /Successfully registered gem: tp_sample \(0\.2\.0-x86_64-linux\)/);
    assert.match(result.summary, /tp_sample-0.2.0-x86_64-linux.gem/);
    assertNoLeaks(result);
  });

  it('an identical re-run is skipped with or without skip-existing: no exchange, no push', async () => {
    assert.equal((await run()).code, 0);
    const [pushes, minted] = [rubygems.pushes.length, rubygems.minted.length];
    for (const inputs of [{ 'skip-existing': 'true' }, { 'skip-existing': 'false' }]) {
      const again = await run({ inputs });
      assert.equal(again.code, 0, again.stdout);
      assert.equal(again.published[0]?.status, 'skipped');
      assert.match(
        again.stdout,
        /Skipped tp_sample-0\.1\.0\.gem: already on RubyGems .* with the same sha256/,
      );
      assertNoLeaks(again);
    }
    assert.deepEqual(
      [rubygems.pushes.length, rubygems.minted.length],
      [pushes, minted],
      'looked up, nothing sent',
    );
  });

  it('a version there with other bytes stops the run before anything is sent; skip-existing skips it with a warning', async () => {
    assert.equal((await run()).code, 0);
    const [stored] = rubygems.versions.values();
    assert.ok(stored);
    stored.sha256 = 'e'.repeat(64);
    const pushes = rubygems.pushes.length;
    const refused = await run({ inputs: { 'skip-existing': 'false' } });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout,
      /tp_sample-0\.1\.0\.gem: RubyGems .* already holds tp_sample-0\.1\.0\.gem for tp_sample 0\.1\.0, with other content/,
    );
    assert.match(refused.stdout, /Bump the version/);
    assertNoLeaks(refused);

    const skipped = await run({ inputs: { 'skip-existing': 'true' } });
    assert.equal(skipped.code, 0, skipped.stdout);
    assert.equal(skipped.published[0]?.status, 'skipped');
    assert.match(
      skipped.published[0]?.note ?? '',
      /with other content \(sha256 ours [0-9a-f]{64}, RubyGems.*'s e{64}\); skipped under skip-existing/,
    );
    assert.match(skipped.stdout, /::warning::tp_sample-0\.1\.0\.gem: .*with other content/);
    assertNoLeaks(skipped);
    assert.equal(rubygems.pushes.length, pushes, 'nothing was pushed');
  });

  it('refuses a repush the lookup could not see (a yanked version) without skip-existing', async () => {
    assert.equal((await run()).code, 0);
    rubygems.yank('tp_sample', '0.1.0');
    const refused = await run();
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /HTTP 409\): A yanked version already exists \(tp_sample-0\.1\.0\)/);
    assert.match(refused.stdout, /Bump the version/);
    assertNoLeaks(refused);
  });

  it('counts a yanked version (invisible to the check) as existing under skip-existing', async () => {
    assert.equal((await run()).code, 0);
    rubygems.yank('tp_sample', '0.1.0');
    const result = await run({ inputs: { 'skip-existing': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.published[0]?.status, 'skipped');
  });

  it('explains the bare 404 of a publisher mismatch with the claims and the form values', async () => {
    rubygems.publisher.owner = 'Octo-Org';
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, /found no trusted publisher for this workflow \(HTTP 404\)/);
    assert.match(result.stdout, /RubyGems answers 404 with no reason/);
    assert.match(result.stdout, /Repository owner: octo-org/);
    assert.match(result.stdout, /Workflow filename: release\.yml/);
    assert.match(result.stdout, /repository_owner_id: 1234567/);
    assert.equal(rubygems.pushes.length, 0);
    assertNoLeaks(result);
  });

  it('names the gem the publisher is not registered for', async () => {
    rubygems.publisher.gems = ['another_gem'];
    const result = await run();
    assert.equal(result.code, 1);
    assert.match(result.stdout, /You are not allowed to push this gem/);
    assert.match(result.stdout, /not registered for gem 'tp_sample'/);
    assertNoLeaks(result);
  });

  it('retries a push that met a server fault and publishes once', async () => {
    rubygems.faults.push.push(503);
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.equal(rubygems.versions.size, 1);
    assertNoLeaks(result);
  });

  it('refuses a corrupt gem before any network call', async () => {
    const dir = tempDir('tp-e2e-gem-');
    const broken = path.join(dir, 'tp_sample-0.1.0.gem');
    fs.writeFileSync(broken, fs.readFileSync(GEM).subarray(0, 2000));
    const before = issuer.requests.length;
    const result = await run({ files: [broken] });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /tp_sample-0.1.0.gem: /);
    assert.equal(issuer.requests.length, before);
    assert.equal(rubygems.exchanges, 0);
  });

  it('files of two ecosystems under registry: auto with a repository-url: an input error, and nothing on the wire', async () => {
    // Each ecosystem goes to its own public instance (planned in test/unit/plan.test.ts); repository-url can
    // name one instance only, so with two registries planned the run stops before any request.
    const issued = issuer.requests.length;
    const result = await runAction({
      files: [GEM, path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl')],
      oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
      inputs: { 'repository-url': rubygems.url },
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /holds files for pypi and rubygems, but 'repository-url' can only apply to one registry/,
    );
    assert.deepEqual(rubygems.reads, [], 'no lookup');
    assert.equal(rubygems.exchanges, 0);
    assert.equal(rubygems.pushes.length, 0);
    assert.equal(issuer.requests.length, issued, 'no ID token asked for');
    assert.deepEqual(result.published, []);
  });
});
