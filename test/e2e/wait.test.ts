// `wait: true`: the bundled action polls each registry's installer read until the version shows there. Every
// emulator fills that read only some time after the upload, on its own clock, as the registries' CDNs and index
// jobs do; the tests check it waits exactly that long, fails clearly on a timeout, rides out a 503, and never
// sends a credential to the read.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCrate, startCratesIo } from '../fakes/crates.ts';
import { makeGem } from '../fakes/gem.ts';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { defaultPublisher, startNpm } from '../fakes/npm.ts';
import { startNuGet } from '../fakes/nuget.ts';
import { makeNupkg } from '../fakes/nupkg.ts';
import { startPrefixDev } from '../fakes/prefix.ts';
import { startPyPI } from '../fakes/pypi.ts';
import { startRubyGems } from '../fakes/rubygems.ts';
import { type ActionRun, FIXTURES, findLeaks, type RunOptions, runAction } from '../helpers/action.ts';

const SDIST = path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz');
const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');
const GEM = path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem');
const CRATE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');
const NPM = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');
const CONDA = path.join(FIXTURES, 'conda/tp-sample-0.1.0-0.conda');
const TAR_BZ2 = path.join(FIXTURES, 'conda/tp-sample-0.1.0-0.tar.bz2');
/** The lag every emulator's read gets here: long enough that a run which does not wait is seen to finish first. */
const LAG_MS = 2_500;

let issuer: Issuer;
let work: string;

before(async () => {
  issuer = await startIssuer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-e2e-wait-'));
});
after(async () => {
  await issuer.close();
  fs.rmSync(work, { recursive: true, force: true });
});

function run(opts: RunOptions): Promise<ActionRun> {
  return runAction({ oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken }, ...opts });
}

/** Long ago, for a version published before the run: every read shows it at once. */
const LONG_AGO = new Date('2020-01-01T00:00:00Z');

/** Every entry was published, is marked installable, and became so no earlier than the read's lag. */
function assertAvailableAfterLag(result: ActionRun, minted: string[]): void {
  assert.equal(result.code, 0, result.stdout);
  const entries = result.published as { status: string; available?: boolean; available_after_s?: number }[];
  assert.ok(entries.length > 0);
  for (const entry of entries) {
    assert.notEqual(entry.status, 'failed');
    assert.equal(entry.available, true);
    assert.ok(
      (entry.available_after_s ?? 0) >= (LAG_MS - 1_000) / 1000,
      `waited: ${entry.available_after_s}`,
    );
  }
  assert.match(result.stdout, /is installable from /);
  assert.match(result.summary, /Installable/);
  assert.deepEqual(findLeaks(result, [...minted, ...issuer.issued]), []);
}

describe('wait until installable (bundled action on Node 24)', () => {
  it('PyPI: polls the PEP 691 simple page until every file is listed with its sha256, without credentials', async () => {
    const pypi = await startPyPI({ issuer });
    try {
      pypi.readDelayMs.simple = LAG_MS;
      const result = await run({
        files: [SDIST, WHEEL],
        inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false', wait: 'true' },
      });
      assertAvailableAfterLag(result, pypi.minted);
      const reads = pypi.requests.filter((r) => r.path === '/simple/tp-sample/');
      assert.ok(reads.length >= 2, 'polled more than once');
      assert.ok(
        reads.every((r) => r.authorization === undefined),
        'no credentials on the read',
      );
    } finally {
      await pypi.close();
    }
  });

  it('PyPI: a timeout fails saying the upload went through, what is not visible where, and that a re-run is safe', async () => {
    const pypi = await startPyPI({ issuer });
    try {
      pypi.readDelayMs.simple = 600_000;
      const result = await run({
        files: [SDIST, WHEEL],
        inputs: {
          'repository-url': pypi.uploadUrl,
          attestations: 'false',
          wait: 'true',
          'wait-timeout': '2',
        },
      });
      assert.equal(result.code, 1);
      assert.deepEqual(
        result.published.map((p) => [p.status, (p as { available?: boolean }).available]),
        [
          ['uploaded', false],
          ['uploaded', false],
        ],
      );
      assert.match(
        result.stdout,
        /Every file was published, but a version is not installable yet after 2 s\./,
      );
      assert.match(
        result.stdout,
        /tp-sample 0\.1\.0: not yet at http:\/\/127\.0\.0\.1:\d+\/simple\/tp-sample\//,
      );
      assert.match(result.stdout, /re-run the job with 'skip-existing: true' \(it sends nothing twice\)/);
      assert.doesNotMatch(result.stdout, /Nothing was uploaded/);
    } finally {
      await pypi.close();
    }
  });

  it('PyPI: a 503 while waiting is asked again', async () => {
    const pypi = await startPyPI({ issuer });
    try {
      pypi.faults.simple.push(503, 503);
      const result = await run({
        files: [WHEEL],
        inputs: {
          'repository-url': pypi.uploadUrl,
          attestations: 'false',
          wait: 'true',
          'wait-timeout': '30',
        },
      });
      assert.equal(result.code, 0, result.stdout);
      assert.equal((result.published[0] as { available?: boolean }).available, true);
      assert.equal(pypi.faults.simple.length, 0, 'both faults were met');
    } finally {
      await pypi.close();
    }
  });

  it('RubyGems: polls the compact index /info/<gem>, or the versions JSON API where there is none', async () => {
    for (const compactIndex of [true, false]) {
      const rubygems = await startRubyGems({ issuer });
      try {
        rubygems.compactIndex = compactIndex;
        rubygems.readDelayMs = { info: LAG_MS, versionsJson: LAG_MS };
        const result = await run({ files: [GEM], inputs: { 'repository-url': rubygems.url, wait: 'true' } });
        assertAvailableAfterLag(result, rubygems.minted);
        const polled = compactIndex ? '/info/tp_sample' : '/api/v1/versions/tp_sample.json';
        const reads = rubygems.reads.filter((r) => r.path === polled);
        assert.ok(reads.length >= 2, `polled ${polled}`);
        assert.ok(
          rubygems.reads.every((r) => r.authorization === undefined),
          'no credentials on the reads',
        );
      } finally {
        await rubygems.close();
      }
    }
  });

  it('crates.io: polls the sparse index file cargo reads until it has the version with its checksum', async () => {
    const crates = await startCratesIo({ issuer });
    try {
      crates.indexDelayMs = LAG_MS;
      const result = await run({ files: [CRATE], inputs: { 'repository-url': crates.url, wait: 'true' } });
      assertAvailableAfterLag(result, crates.minted);
      const reads = crates.reads.filter((r) => r.path === '/index/tp/-s/tp-sample');
      assert.ok(reads.length >= 2, 'polled the index file');
      assert.ok(
        crates.reads.every((r) => r.authorization === undefined),
        'no credentials on the reads',
      );
    } finally {
      await crates.close();
    }
  });

  it('npm: polls the abbreviated packument until the version and its dist-tag are there', async () => {
    const npm = await startNpm({ issuer, publishers: { 'tp-sample': [defaultPublisher()] } });
    try {
      npm.addPackage('tp-sample', ['0.0.1']);
      npm.installDelayMs = LAG_MS;
      const result = await run({
        files: [NPM],
        inputs: { 'repository-url': npm.url, attestations: 'false', wait: 'true' },
      });
      assertAvailableAfterLag(result, npm.minted);
      assert.match(result.stdout, /tp-sample@0\.1\.0 \(tag latest\) is installable/);
      // The publish's own look at the packument carries its token; every read after it is the wait's.
      const polls = npm.reads.slice(npm.reads.findLastIndex((r) => r.authorization !== undefined) + 1);
      assert.ok(polls.length >= 2, 'polled after the publish');
    } finally {
      await npm.close();
    }
  });

  it('NuGet: polls the flat container from the service index until the version is listed', async () => {
    const nuget = await startNuGet({ issuer });
    try {
      nuget.listingDelayMs = LAG_MS;
      const nupkg = await makeNupkg(work, { id: 'TpWait', version: '1.0.0' });
      const result = await run({
        files: [nupkg],
        inputs: { 'repository-url': nuget.url, user: 'octocat', wait: 'true' },
      });
      assertAvailableAfterLag(result, nuget.minted);
      const reads = nuget.reads.filter((r) => r.path === '/v3-flatcontainer/tpwait/index.json');
      assert.ok(reads.length >= 2, 'polled the flat container');
      assert.ok(nuget.reads.every((r) => r.authorization === undefined && r.apiKey === undefined));
    } finally {
      await nuget.close();
    }
  });

  it('a dry run prints what would be polled and polls nothing; without wait nothing is polled', async () => {
    const pypi = await startPyPI({ issuer });
    try {
      const dry = await run({
        files: [SDIST, WHEEL],
        inputs: { 'repository-url': pypi.uploadUrl, wait: 'true', 'dry-run': 'true', 'wait-timeout': '90' },
      });
      assert.equal(dry.code, 0, dry.stdout);
      assert.match(
        dry.stdout,
        /Would wait up to 90 s until installable, polling:\n\s+tp-sample 0\.1\.0: http:\/\/127\.0\.0\.1:\d+\/simple\/tp-sample\//,
      );
      const plain = await run({
        files: [WHEEL],
        inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false' },
      });
      assert.equal(plain.code, 0, plain.stdout);
      assert.equal((plain.published[0] as { available?: boolean }).available, undefined);
      assert.equal(pypi.requests.filter((r) => r.path.startsWith('/simple/')).length, 0);
    } finally {
      await pypi.close();
    }
  });
});

// Answers that are 200 and list part of the run: the sdist and not yet the wheel, one conda file and not the
// other, an older version and not the new one. A check that takes any 200 (or any one file) for the whole
// release would say "installable" at the first poll, before the lag: each entry must wait for it.
describe('wait until installable, on answers that list part of the run', () => {
  it('PyPI: the simple page lists the sdist, and the wheel only after its own lag', async () => {
    const pypi = await startPyPI({ issuer });
    try {
      pypi.laterMs.set('tp_sample-0.1.0-py3-none-any.whl', LAG_MS);
      const result = await run({
        files: [SDIST, WHEEL],
        inputs: { 'repository-url': pypi.uploadUrl, attestations: 'false', wait: 'true' },
      });
      assertAvailableAfterLag(result, pypi.minted);
      const reads = pypi.requests.filter((r) => r.path === '/simple/tp-sample/');
      assert.ok(reads.length >= 2, 'polled past a page that listed the sdist alone');
    } finally {
      await pypi.close();
    }
  });

  it('prefix.dev: repodata.json lists the .conda, and the .tar.bz2 only after its own lag', async () => {
    const pfx = await startPrefixDev({ issuer });
    try {
      pfx.laterMs.set('tp-sample-0.1.0-0.tar.bz2', LAG_MS);
      const result = await run({
        files: [CONDA, TAR_BZ2],
        inputs: { 'repository-url': pfx.url, channel: 'tp-channel', wait: 'true' },
      });
      assertAvailableAfterLag(result, pfx.minted);
      const answered = pfx.events.filter((e) => e.type === 'lookup').map((e) => e.status);
      assert.ok(answered.filter((status) => status === 200).length >= 2, `polled: ${answered}`);
    } finally {
      await pfx.close();
    }
  });

  it('RubyGems: the compact index and the versions API list an older version, the new one after the lag', async () => {
    for (const compactIndex of [true, false]) {
      const rubygems = await startRubyGems({ issuer });
      try {
        rubygems.compactIndex = compactIndex;
        const old = await makeGem(work, { name: 'tp_sample', version: '0.0.1' });
        const inputs = { 'repository-url': rubygems.url };
        assert.equal((await run({ files: [old], inputs })).code, 0);
        assert.equal(rubygems.versions.size, 1);
        for (const v of rubygems.versions.values()) v.createdAt = LONG_AGO.toISOString();
        rubygems.readDelayMs = { info: LAG_MS, versionsJson: LAG_MS };
        const result = await run({ files: [GEM], inputs: { ...inputs, wait: 'true' } });
        assertAvailableAfterLag(result, rubygems.minted);
      } finally {
        await rubygems.close();
      }
    }
  });

  it('crates.io: the sparse index file lists an older version, the new one after the lag', async () => {
    const crates = await startCratesIo({ issuer });
    try {
      const old = await makeCrate(work, {
        name: 'tp-sample',
        version: '0.0.1',
        manifest: '[package]\nname = "tp-sample"\nversion = "0.0.1"\ndescription = "d"\nlicense = "MIT"\n',
      });
      const inputs = { 'repository-url': crates.url };
      assert.equal((await run({ files: [old], inputs })).code, 0);
      for (const v of crates.crates.get('tp_sample')?.versions.values() ?? [])
        v.createdAt = LONG_AGO.toISOString();
      crates.indexDelayMs = LAG_MS;
      const result = await run({ files: [CRATE], inputs: { ...inputs, wait: 'true' } });
      assertAvailableAfterLag(result, crates.minted);
    } finally {
      await crates.close();
    }
  });

  it('NuGet: the flat container lists an older version, the new one after the lag', async () => {
    const nuget = await startNuGet({ issuer });
    try {
      const inputs = { 'repository-url': nuget.url, user: 'octocat' };
      const old = await makeNupkg(work, { id: 'TpWait', version: '0.9.0' });
      assert.equal((await run({ files: [old], inputs })).code, 0);
      const stored = [...(nuget.packages.get('tpwait')?.versions.values() ?? [])];
      assert.equal(stored.length, 1);
      for (const v of stored) v.pushedAt = LONG_AGO.getTime();
      nuget.listingDelayMs = LAG_MS;
      const nupkg = await makeNupkg(work, { id: 'TpWait', version: '1.0.0' });
      const result = await run({ files: [nupkg], inputs: { ...inputs, wait: 'true' } });
      assertAvailableAfterLag(result, nuget.minted);
    } finally {
      await nuget.close();
    }
  });
});
