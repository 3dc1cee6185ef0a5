// Every registry, on every path (success, a refused exchange, a retried exchange, dry-run), with step debug
// logging and verbose on: no registry token, Basic/base64 form or JWT anywhere the runner keeps.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCratesIo } from '../fakes/crates.ts';
import type { Fault } from '../fakes/http.ts';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { defaultPublisher, startNpm } from '../fakes/npm.ts';
import { startNuGet } from '../fakes/nuget.ts';
import { makeNupkg } from '../fakes/nupkg.ts';
import { startPyPI } from '../fakes/pypi.ts';
import { startRubyGems } from '../fakes/rubygems.ts';
import { FIXTURES, findLeaks, runAction, wasMasked } from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';

interface Case {
  registry: string;
  files: () => string[];
  start: () => Promise<{
    url: string;
    minted: string[];
    mintFaults: Fault[];
    breakPublisher(): void;
    close(): Promise<void>;
  }>;
  inputs?: Record<string, string>;
}

let issuer: Issuer;
let nupkg: string;
before(async () => {
  issuer = await startIssuer();
  nupkg = await makeNupkg(tempDir('tp-leaks-'), {
    id: 'TpSample',
    version: '0.1.0',
  });
});
after(async () => {
  await issuer.close();
});

const CASES: Case[] = [
  {
    registry: 'pypi',
    files: () => [
      path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz'),
      path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl'),
    ],
    inputs: { attestations: 'false' },
    start: async () => {
      const e = await startPyPI({ issuer });
      return {
        url: e.uploadUrl,
        minted: e.minted,
        mintFaults: e.faults.mint,
        breakPublisher: () => {
          e.publisher.workflow = 'x.yml';
        },
        close: e.close,
      };
    },
  },
  {
    registry: 'rubygems',
    files: () => [path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem')],
    start: async () => {
      const e = await startRubyGems({ issuer });
      return {
        url: e.url,
        minted: e.minted,
        mintFaults: e.faults.exchange,
        breakPublisher: () => {
          e.publisher.workflow = 'x.yml';
        },
        close: e.close,
      };
    },
  },
  {
    registry: 'crates-io',
    files: () => [path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate')],
    start: async () => {
      const e = await startCratesIo({ issuer });
      return {
        url: e.url,
        minted: e.minted,
        mintFaults: e.faults.exchange,
        breakPublisher: () => {
          for (const c of e.configs) c.workflow = 'x.yml';
        },
        close: e.close,
      };
    },
  },
  {
    registry: 'npm',
    files: () => [path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz')],
    inputs: { attestations: 'false' },
    start: async () => {
      const e = await startNpm({ issuer, publishers: { 'tp-sample': [defaultPublisher()] } });
      e.addPackage('tp-sample', ['0.0.1']);
      return {
        url: e.url,
        minted: e.minted,
        mintFaults: e.faults.exchange,
        breakPublisher: () => {
          e.publishers.set('tp-sample', [{ ...defaultPublisher(), file: 'x.yml' }]);
        },
        close: e.close,
      };
    },
  },
  {
    registry: 'nuget',
    files: () => [nupkg],
    inputs: { user: 'octocat' },
    start: async () => {
      const e = await startNuGet({ issuer });
      return {
        url: e.url,
        minted: e.minted,
        mintFaults: e.faults.exchange,
        breakPublisher: () => {
          for (const p of e.policies) p.workflow = 'x.yml';
        },
        close: e.close,
      };
    },
  },
];

describe('leak matrix', () => {
  for (const c of CASES) {
    for (const path_ of ['success', 'refused exchange', 'retried exchange', 'dry-run'] as const) {
      it(`${c.registry}: ${path_}`, async () => {
        const emulator = await c.start();
        try {
          if (path_ === 'refused exchange') emulator.breakPublisher();
          if (path_ === 'retried exchange') emulator.mintFaults.push(503);
          const result = await runAction({
            files: c.files(),
            oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
            inputs: {
              'repository-url': emulator.url,
              verbose: 'true',
              ...(path_ === 'dry-run' ? { 'dry-run': 'true' } : {}),
              ...c.inputs,
            },
            env: { RUNNER_DEBUG: '1' },
          });
          assert.equal(result.code, path_ === 'refused exchange' ? 1 : 0, result.stdout);
          assert.deepEqual(findLeaks(result, [...emulator.minted, ...issuer.issued]), []);
          for (const token of emulator.minted)
            assert.ok(wasMasked(result, token), 'every minted token masked');
          if (path_ === 'dry-run') assert.deepEqual(emulator.minted, [], 'dry-run never exchanges');
        } finally {
          await emulator.close();
        }
      });
    }
  }
});
