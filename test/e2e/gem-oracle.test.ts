/**
 * The oracle half: the real `gem push` against the emulator. If RubyGems' own client cannot publish here, or
 * sends something other than what the emulator expects, the emulator is wrong, not the client.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { makeGem } from '../fakes/gem.ts';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { pushSignature, type RubyGems, startRubyGems } from '../fakes/rubygems.ts';
import { runAction } from '../helpers/action.ts';
import { clientPath, describeWith } from '../helpers/clients.ts';
import { mintGemKey } from '../helpers/tokens.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/rubygems/tp_sample-0.1.0.gem');

let issuer: Issuer;
let rg: RubyGems;
let tmp: string;

before(async () => {
  issuer = await startIssuer();
  rg = await startRubyGems({ issuer });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-gem-oracle-'));
});

after(async () => {
  await rg.close();
  await issuer.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** `gem push` with nothing from this machine's configuration: a fresh HOME, the key in the environment, no stdin. */
function gemPush(file: string, key: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = fs.mkdtempSync(path.join(tmp, 'home-'));
  return new Promise((resolve) => {
    const child = execFile(
      clientPath('gem'),
      ['push', '--host', rg.url, file],
      {
        cwd: home,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          LANG: 'C.UTF-8',
          GEM_HOST_API_KEY: key,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    // A prompt (OTP, credentials) must fail the test, not hang it.
    child.stdin?.end();
  });
}

async function pushAndCheck(source: string, expected: { key: string; answer: string }) {
  const file = path.join(tmp, path.basename(source));
  if (source !== file) fs.copyFileSync(source, file);
  const bytes = fs.readFileSync(file);
  const key = await mintGemKey(issuer, rg);
  const before = rg.pushes.length;

  const result = await gemPush(file, key);
  assert.equal(result.code, 0, `gem push failed:\n${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, new RegExp(expected.answer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

  assert.equal(rg.pushes.length, before + 1, 'gem push sent exactly one request');
  const received = rg.pushes.at(-1);
  assert.ok(received);
  assert.equal(received.status, 200);
  assert.equal(received.answer, expected.answer);
  assert.deepEqual(received.body, bytes);
  assert.deepEqual(pushSignature(received), {
    path: '/api/v1/gems',
    authorization: key,
    contentType: 'application/octet-stream',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    length: bytes.length,
  });
  assert.equal(received.headers['content-length'], String(bytes.length));

  const stored = rg.versions.get(expected.key);
  assert.equal(stored?.sha256, received.sha256);
  assert.equal(stored?.yanked, false);
}

describeWith('gem', 'gem push and the RubyGems emulator agree', () => {
  it('gem push publishes the fixture gem to the emulator', async () => {
    await pushAndCheck(FIXTURE, {
      key: 'tp_sample-0.1.0-ruby',
      answer: 'Successfully registered gem: tp_sample (0.1.0)',
    });
  });

  it('gem push publishes a generated platform gem to the emulator', async () => {
    const file = await makeGem(tmp, { name: 'tp_sample', version: '0.2.0', platform: 'x86_64-linux' });
    await pushAndCheck(file, {
      key: 'tp_sample-0.2.0-x86_64-linux',
      answer: 'Successfully registered gem: tp_sample (0.2.0-x86_64-linux)',
    });
  });

  it('gem push reports the emulator refusing a repush', async () => {
    const file = path.join(tmp, 'tp_sample-0.1.0.gem');
    fs.copyFileSync(FIXTURE, file);
    const result = await gemPush(file, await mintGemKey(issuer, rg));
    assert.notEqual(result.code, 0);
    assert.match(result.stdout + result.stderr, /Repushing of gem versions is not allowed/);
    assert.equal(rg.pushes.at(-1)?.status, 409);
  });

  it('the bundled action sends what gem push sends: path, raw key, content type and the same bytes', async () => {
    const fromGem = rg.pushes.find((p) => p.status === 200 && p.answer.includes('tp_sample (0.1.0)'));
    assert.ok(fromGem, 'the fixture was pushed by gem push in an earlier test');
    const ours = await startRubyGems({ issuer });
    try {
      const result = await runAction({
        files: [FIXTURE],
        inputs: { 'repository-url': ours.url },
        oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
      });
      assert.equal(result.code, 0, result.stdout);
      const fromAction = ours.pushes[0];
      assert.ok(fromAction);
      const { authorization, ...signature } = pushSignature(fromAction);
      const { authorization: gemAuthorization, ...gemSignature } = pushSignature(fromGem);
      assert.deepEqual(signature, gemSignature);
      // Both send the key itself, with no scheme.
      assert.equal(authorization, ours.minted[0]);
      assert.equal(gemAuthorization?.startsWith('rubygems_'), true);
      assert.deepEqual(fromAction.body, fromGem.body);
    } finally {
      await ours.close();
    }
  });
});
