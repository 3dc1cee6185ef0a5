// The real client is the truth about the wire: Debian's twine 4.0.2 uploads to the PyPI emulator, so the
// emulator is shown to accept what twine sends, and to refuse in the status line the way twine understands.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type PyPI, partMultiset, startPyPI } from '../fakes/pypi.ts';
import { makeWheel } from '../fakes/wheel.ts';
import { runAction } from '../helpers/action.ts';
import { clientPath, describeWith } from '../helpers/clients.ts';
import { mintPyPIToken } from '../helpers/tokens.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/pypi');
const SDIST = 'tp-sample-0.1.0.tar.gz';
const WHEEL = 'tp_sample-0.1.0-py3-none-any.whl';

let issuer: Issuer;
let pypi: PyPI;
let dir: string;
let token: string;

before(async () => {
  issuer = await startIssuer();
  pypi = await startPyPI({ issuer, publisher: { projects: ['tp-sample', 'tp-sample-extra'] } });
  dir = await mkdtemp(join(tmpdir(), 'tp-twine-'));
  await mkdir(join(dir, 'home'));
  token = await mintPyPIToken(issuer, pypi);
});
after(async () => {
  await pypi.close();
  await issuer.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs twine (asynchronously: the emulators answer from this process's event loop). */
async function twine(...args: string[]): Promise<{ code: number; output: string }> {
  return twineTo(pypi, token, ...args);
}

async function twineTo(
  emulator: PyPI,
  password: string,
  ...args: string[]
): Promise<{ code: number; output: string }> {
  const argv = ['upload', '--repository-url', emulator.uploadUrl, '-u', '__token__', '-p', password];
  const env = {
    PATH: process.env.PATH,
    // A throwaway HOME: no ~/.pypirc, no keyring of the machine's user.
    HOME: join(dir, 'home'),
    TWINE_NON_INTERACTIVE: '1',
    NO_PROXY: '127.0.0.1',
    COLUMNS: '500',
  };
  try {
    const { stdout, stderr } = await promisify(execFile)(
      clientPath('twine'),
      [...argv, '--non-interactive', '--disable-progress-bar', ...args],
      { env, timeout: 60_000 },
    );
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

async function fixtureCopy(name: string, as = name): Promise<string> {
  await copyFile(join(FIXTURES, name), join(dir, as));
  return join(dir, as);
}

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describeWith('twine', 'twine and the PyPI emulator agree', () => {
  it('the fixture sdist keeps its unnormalized name, which PyPI refuses since PEP 625 is enforced', async () => {
    const { code, output } = await twine(await fixtureCopy(SDIST));
    assert.equal(code, 1, output);
    assert.match(
      output.replace(/\s+/g, ' '),
      /Filename 'tp-sample-0\.1\.0\.tar\.gz' is invalid, should be 'tp_sample-0\.1\.0\.tar\.gz'\./,
    );
    assert.equal(pypi.uploads.at(-1)?.status, 400);
    assert.equal(pypi.files.size, 0);
  });

  it('twine uploads the fixture sdist (under its normalized name) then the fixture wheel', async () => {
    const sdist = await fixtureCopy(SDIST, 'tp_sample-0.1.0.tar.gz');
    const wheel = await fixtureCopy(WHEEL);
    // One file per run: twine itself would send wheels before sdists.
    for (const file of [sdist, wheel]) {
      const { code, output } = await twine(file);
      assert.equal(code, 0, output);
    }
    assert.deepEqual(
      pypi.uploads.slice(-2).map((u) => [u.file?.filename, u.status]),
      [
        ['tp_sample-0.1.0.tar.gz', 200],
        [WHEEL, 200],
      ],
    );
    assert.equal(pypi.files.get('tp_sample-0.1.0.tar.gz')?.sha256, await sha256(sdist));
    const { storedAt, ...stored } = pypi.files.get(WHEEL) ?? {};
    assert.ok(storedAt);
    assert.deepEqual(stored, {
      project: 'tp-sample',
      version: '0.1.0',
      sha256: await sha256(wheel),
      blake2_256: pypi.uploads.at(-1)?.file?.blake2_256,
      filetype: 'bdist_wheel',
    });
  });

  const EXTRA_WHEEL_SPEC = {
    name: 'tp.Sample_Extra',
    version: '0.2.0',
    metadataVersion: '2.2',
    extraHeaders: [
      ['Summary', 'Zoë’s sample — ✓'],
      ['Author', 'Zoë Ångström'],
      ['Classifier', 'Programming Language :: Python :: 3'],
      ['Classifier', 'License :: OSI Approved :: MIT License'],
      ['Requires-Dist', 'requests>=2'],
      ['Requires-Dist', 'idna; extra == "idn"'],
      ['Project-URL', 'Documentation, https://example.org/docs'],
      ['Project-URL', 'Source, https://example.org/src'],
      ['Provides-Extra', 'idn'],
      ['Dynamic', 'Requires-Dist'],
    ],
    description: '# Ünïcode\n\n日本語 ✓\n',
  } satisfies Parameters<typeof makeWheel>[1];

  it('twine uploads a Metadata 2.2 wheel with repeated fields and non-ASCII text, all of which arrive', async () => {
    const wheel = await makeWheel(dir, EXTRA_WHEEL_SPEC);
    const { code, output } = await twine(wheel);
    assert.equal(code, 0, output);
    const received = pypi.uploads.at(-1);
    assert.ok(received);
    assert.equal(received.status, 200);
    assert.equal(pypi.files.get('tp_sample_extra-0.2.0-py3-none-any.whl')?.project, 'tp-sample-extra');
    const parts = partMultiset(received);
    for (const part of [
      'name=tp.Sample-Extra',
      'metadata_version=2.2',
      'pyversion=py3',
      'summary=Zoë’s sample — ✓',
      'author=Zoë Ångström',
      'classifiers=Programming Language :: Python :: 3',
      'classifiers=License :: OSI Approved :: MIT License',
      'requires_dist=requests>=2',
      'requires_dist=idna; extra == "idn"',
      'project_urls=Documentation, https://example.org/docs',
      'project_urls=Source, https://example.org/src',
      'description=# Ünïcode\n\n日本語 ✓\n',
      'content=@tp_sample_extra-0.2.0-py3-none-any.whl (application/octet-stream)',
    ]) {
      assert.ok(parts.includes(part), `${part} not in ${JSON.stringify(parts)}`);
    }
    assert.ok(!parts.some((p) => p.startsWith('md5_digest=')));
    assert.deepEqual(parts, [...parts].sort());
    assert.ok(received.fields.some(([name]) => name === 'md5_digest'));
  });

  it('twine reads the status line: identical re-upload passes, a changed file is "already existing"', async () => {
    const same = await fixtureCopy(WHEEL);
    assert.equal((await twine(same)).code, 0);
    const changedDir = join(dir, 'changed');
    await mkdir(changedDir);
    const changed = await makeWheel(changedDir, {
      name: 'tp-sample',
      version: '0.1.0',
      description: 'changed',
    });
    const refused = await twine(changed);
    assert.equal(refused.code, 1);
    assert.match(refused.output, /400 Bad Request/);
    assert.match(
      refused.output.replace(/\s+/g, ' '),
      /File already exists \('tp_sample-0\.1\.0-py3-none-any\.whl'/,
    );
    const skipped = await twine('--skip-existing', changed);
    assert.equal(skipped.code, 0, skipped.output);
    assert.match(
      skipped.output,
      /Skipping tp_sample-0\.1\.0-py3-none-any\.whl because it appears to already exist/,
    );
  });

  it('the bundled action sends exactly the form parts twine sends, file by file', async () => {
    const extraDir = join(dir, 'extra');
    await mkdir(extraDir);
    const extra = await makeWheel(extraDir, EXTRA_WHEEL_SPEC);
    const twined = await startPyPI({ issuer, publisher: { projects: ['tp-sample', 'tp-sample-extra'] } });
    const ours = await startPyPI({ issuer, publisher: { projects: ['tp-sample', 'tp-sample-extra'] } });
    try {
      const password = await mintPyPIToken(issuer, twined);
      for (const file of [
        await fixtureCopy(SDIST, 'tp_sample-0.1.0.tar.gz'),
        await fixtureCopy(WHEEL),
        extra,
      ]) {
        const { code, output } = await twineTo(twined, password, file);
        assert.equal(code, 0, output);
      }
      const result = await runAction({
        // The action gets the sdist under its legacy name and must upload it under the PEP 625 one.
        files: [join(FIXTURES, SDIST), join(FIXTURES, WHEEL), extra],
        // Debian's twine 4 cannot send PEP 740 attestations (twine 5.1+ sends ones made beforehand), and a
        // signature is never the same twice: the comparison runs without them. attestations.test.ts shows that
        // turning them on adds the one `attestations` part and changes no other.
        inputs: { 'repository-url': ours.uploadUrl, attestations: 'false' },
        oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
      });
      assert.equal(result.code, 0, result.stdout);
      const byFile = (emulator: PyPI) =>
        new Map(emulator.uploads.map((u) => [u.file?.filename, partMultiset(u)] as const));
      // Debian's twine 4 names the extras part `provides_extras`; twine 6 (packaging's reader) sends
      // `provides_extra`, the field Warehouse reads, and so does the action.
      const expected = new Map(
        [...byFile(twined)].map(([file, parts]) => [
          file,
          parts.map((p) => p.replace(/^provides_extras=/, 'provides_extra=')).sort(),
        ]),
      );
      const actual = byFile(ours);
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
      for (const [file, parts] of expected) assert.deepEqual(actual.get(file), parts, file);
    } finally {
      await twined.close();
      await ours.close();
    }
  });
});
