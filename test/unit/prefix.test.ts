import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { readConda } from '../../src/artifacts/conda.ts';
import { CONDA_PUBLISH_PREDICATE, type CondaArtifact, prefix } from '../../src/registries/prefix.ts';
import type { PublishOptions } from '../../src/registries/registry.ts';

const FIXTURES = path.resolve(import.meta.dirname ?? '', '../fixtures/conda');
const options: PublishOptions = {
  skipExisting: false,
  tag: '',
  access: '',
  channel: 'my-channel',
  user: '',
  stage: false,
};
const hasZstd = 'createZstdDecompress' in zlib;

describe('prefix.dev', () => {
  it('asks for the audience rattler asks for: prefix.dev there, the host name elsewhere', async () => {
    assert.equal(await prefix.audience(prefix.target('prefix', undefined, undefined)), 'prefix.dev');
    const other = prefix.target('prefix', new URL('https://conda.example.com/base/'), undefined);
    assert.equal(await prefix.audience(other), 'conda.example.com');
    assert.equal(other.mintUrl.href, 'https://conda.example.com/api/oidc/mint_token');
  });

  it('refuses a run without a channel, or with a URL for one', () => {
    const target = prefix.target('prefix', undefined, undefined);
    assert.throws(() => prefix.validate?.(target, { ...options, channel: '' }, true), /needs the channel/);
    assert.throws(
      () => prefix.validate?.(target, { ...options, channel: 'https://prefix.dev/x' }, true),
      /not a channel name/,
    );
    prefix.validate?.(target, options, true);
  });

  it('reads info/index.json from the .tar.bz2 fixture', async () => {
    assert.deepEqual(await readConda(path.join(FIXTURES, 'tp-sample-0.1.0-0.tar.bz2')), {
      name: 'tp-sample',
      version: '0.1.0',
      build: '0',
      subdir: 'noarch',
      format: 'tar.bz2',
    });
  });

  it('reads info/index.json from the .conda fixture', {
    skip: !hasZstd && 'this Node has no zstd (the bundle runs on Node 24: test/e2e/prefix.test.ts)',
  }, async () => {
    assert.equal((await readConda(path.join(FIXTURES, 'tp-sample-0.1.0-0.conda'))).format, 'conda');
  });

  it('signs a CEP 27 statement naming the file, its sha256 and the channel URL', async () => {
    const target = prefix.target('prefix', undefined, undefined);
    const artifact = {
      file: 'tp-sample-0.1.0-0.conda',
      sha256: 'ab'.repeat(32),
      channel: 'my-channel',
    } as CondaArtifact;
    const statement = await prefix.attestations?.statement(artifact, {
      target,
      options,
      claims: {},
      env: {},
    });
    assert.deepEqual(JSON.parse(String(statement)), {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'tp-sample-0.1.0-0.conda', digest: { sha256: 'ab'.repeat(32) } }],
      predicateType: CONDA_PUBLISH_PREDICATE,
      predicate: { targetChannel: 'https://prefix.dev/my-channel' },
    });
    assert.equal(prefix.attestations?.verifiedBy(target), true);
  });
});
