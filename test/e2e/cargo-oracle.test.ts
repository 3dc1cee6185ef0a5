/**
 * The oracle: the real `cargo publish` (1.95) against the emulator, and the bundled action against a fresh
 * emulator with the `.crate` cargo packaged from the same source. Both must send the same metadata JSON; a
 * difference is our bug (or the emulator's), never cargo's.
 *
 * Offline: the emulators serve cargo's sparse index on 127.0.0.1. crates.io itself is replaced (source
 * replacement, `[source.crates-io] replace-with`) by a third emulator, so ordinary crates.io dependencies
 * resolve without the network, and cargo still names them as crates.io dependencies when publishing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type CratesIo, defaultConfig, type ReceivedPublish, startCratesIo } from '../fakes/crates.ts';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { FIXTURES, runAction } from '../helpers/action.ts';
import { clientPath, describeWith } from '../helpers/clients.ts';

const CARGO = clientPath('cargo');
const FIXTURE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');
const FIXTURE_SOURCE = path.join(FIXTURES, 'crates/src');
const CRATES_IO_INDEX = 'https://github.com/rust-lang/crates.io-index';
/** crates.io API tokens are `cio` and 32 alphanumerics; long-lived ones may create crates. */
const API_TOKEN = `cio${'0123456789abcdef'.repeat(2)}`;

let issuer: Issuer;
/** The registry cargo publishes to ("emu"), another one ("other") and crates.io's stand-in ("mirror"). */
let emu: CratesIo;
let other: CratesIo;
let mirror: CratesIo;
let tmp: string;
let cargoHome: string;

before(async () => {
  issuer = await startIssuer();
  emu = await startCratesIo({ issuer, crates: [] });
  other = await startCratesIo({ issuer, crates: [] });
  mirror = await startCratesIo({ issuer, crates: [] });
  for (const registry of [emu, other, mirror]) registry.apiTokens.add(API_TOKEN);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-cargo-oracle-'));
  cargoHome = path.join(tmp, 'cargo-home');
  fs.mkdirSync(cargoHome);
  fs.writeFileSync(
    path.join(cargoHome, 'config.toml'),
    [
      '[registries.emu]',
      `index = "${emu.indexUrl}"`,
      '[registries.other]',
      `index = "${other.indexUrl}"`,
      '[registries.mirror]',
      `index = "${mirror.indexUrl}"`,
      '[source.crates-io]',
      'replace-with = "mirror-source"',
      '[source.mirror-source]',
      `registry = "${mirror.indexUrl}"`,
      '',
    ].join('\n'),
  );
});

after(async () => {
  await Promise.all([emu, other, mirror].map((r) => r?.close()));
  await issuer?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** cargo with nothing from this machine's configuration: its own CARGO_HOME, tokens from the environment. */
function cargo(
  cwd: string,
  args: string[],
  token = API_TOKEN,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: cargoHome,
    CARGO_HOME: cargoHome,
    // cargo is a rustup proxy: it finds the toolchains through RUSTUP_HOME, not through HOME.
    RUSTUP_HOME: process.env.RUSTUP_HOME ?? path.join(os.homedir(), '.rustup'),
    CARGO_TERM_COLOR: 'never',
    CARGO_REGISTRIES_EMU_TOKEN: token,
    CARGO_REGISTRIES_OTHER_TOKEN: API_TOKEN,
    CARGO_REGISTRIES_MIRROR_TOKEN: API_TOKEN,
  };
  return new Promise((resolve) => {
    const child = execFile(CARGO, args, { cwd, env, timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

/** Publishes a source folder with cargo; returns what the registry received. */
async function cargoPublish(
  registry: CratesIo,
  name: string,
  dir: string,
  token?: string,
): Promise<ReceivedPublish> {
  const before = registry.publishes.length;
  const result = await cargo(dir, ['publish', '--registry', name, '--no-verify', '--allow-dirty'], token);
  assert.equal(result.code, 0, `cargo publish failed:\n${result.stderr}`);
  assert.equal(registry.publishes.length, before + 1, 'cargo sent one publish request');
  const received = registry.publishes.at(-1);
  assert.ok(received && received.status === 200, received?.answer);
  return received;
}

/** `cargo package`: the .crate the action publishes, which must be the bytes cargo itself uploaded. */
async function cargoPackage(dir: string, file: string, uploaded: ReceivedPublish): Promise<string> {
  const result = await cargo(dir, ['package', '--registry', 'emu', '--no-verify', '--allow-dirty']);
  assert.equal(result.code, 0, result.stderr);
  const crate = path.join(dir, 'target/package', file);
  assert.equal(createHash('sha256').update(fs.readFileSync(crate)).digest('hex'), uploaded.sha256);
  return crate;
}

function writeTree(root: string, files: Record<string, string>): string {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), content);
  }
  return root;
}

/** A crate source folder for cargo: a manifest (after the common [package] lines) and src/lib.rs. */
function source(name: string, version: string, rest = '', files: Record<string, string> = {}): string {
  const head = `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\ndescription = "Generated for the cargo oracle"\nlicense = "MIT"\n`;
  return writeTree(fs.mkdtempSync(path.join(tmp, `${name}-`)), {
    'Cargo.toml': `${head}${rest}`,
    'src/lib.rs': '',
    ...files,
  });
}

/** A trusted token minted the way the action gets one: GitHub JWT, then the registry's exchange. */
async function trustedToken(registry: CratesIo): Promise<string> {
  const jwt = await fetch(`${issuer.requestUrl}&audience=crates.io`, {
    headers: { authorization: `bearer ${issuer.requestToken}` },
  });
  const res = await fetch(`${registry.url}/api/v1/trusted_publishing/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jwt: ((await jwt.json()) as { value: string }).value }),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { token: string }).token;
}

/** The bundled action publishing `file` to a fresh emulator where `crate` has a trusted publisher. */
async function actionPublish(
  file: string,
  crate: string,
  checkDependencies = true,
): Promise<ReceivedPublish> {
  const target = await startCratesIo({ issuer, configs: [{ ...defaultConfig(), crate }] });
  target.checkDependencies = checkDependencies;
  try {
    const run = await runAction({
      files: [file],
      oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
      inputs: { 'repository-url': target.url },
    });
    assert.equal(run.code, 0, run.stdout);
    assert.equal(target.publishes.length, 1);
    const received = target.publishes[0];
    assert.ok(received);
    return received;
  } finally {
    await target.close();
  }
}

/** What both clients put on the wire besides the JSON: framing, headers. */
function wire(p: ReceivedPublish) {
  return {
    contentType: p.headers['content-type'],
    accept: p.headers.accept,
    contentLength: p.headers['content-length'] === String(p.length),
    framed: p.length === 4 + Buffer.byteLength(p.metadataText) + 4 + p.crate.length,
    scheme: /^\S+ /.test(p.headers.authorization ?? '') ? 'with a scheme' : 'bare token',
  };
}

describeWith('cargo', 'cargo publish and the action send the same metadata', () => {
  test('the fixture crate (cargo with a trusted token, the action with the fixture file)', async (t) => {
    emu.addCrate('tp-sample');
    const dir = fs.mkdtempSync(path.join(tmp, 'fixture-'));
    fs.cpSync(FIXTURE_SOURCE, dir, { recursive: true });
    const token = await trustedToken(emu);
    const byCargo = await cargoPublish(emu, 'emu', dir, token);
    // cargo sends the trusted token as it sends any token: the bare value, no scheme.
    assert.equal(byCargo.headers.authorization, token);
    const packaged = await cargoPackage(dir, 'tp-sample-0.1.0.crate', byCargo);
    const fixtureSha = createHash('sha256').update(fs.readFileSync(FIXTURE)).digest('hex');
    t.diagnostic(
      `cargo package of the fixture source ${fixtureSha === byCargo.sha256 ? 'is' : 'is not'} byte-identical to the fixture`,
    );

    const byAction = await actionPublish(FIXTURE, 'tp-sample');
    assert.equal(byAction.metadataText, byCargo.metadataText);
    assert.deepEqual(wire(byAction), wire(byCargo));
    // And the crate cargo packaged gives the same JSON as the fixture file.
    assert.equal((await actionPublish(packaged, 'tp-sample')).metadataText, byCargo.metadataText);
  });

  test('a crate with renamed, optional, target-specific, build, dev and other-registry dependencies', async () => {
    // cargo resolves every dependency before packaging: publish them first, each to its registry.
    const published: [CratesIo, string, string, string, string][] = [
      [mirror, 'mirror', 'tp-dep-a', '1.0.0', '[features]\ndefault = ["feat"]\nfeat = []\nx = []\n'],
      [mirror, 'mirror', 'tp-dep-b', '1.2.3', ''],
      [mirror, 'mirror', 'tp-dep-c', '0.3.1', '[features]\nsomething = []\n'],
      [mirror, 'mirror', 'tp-build', '0.1.0', ''],
      [mirror, 'mirror', 'tp-dev', '0.2.5', ''],
      [mirror, 'mirror', 'tp-unix', '0.1.0', ''],
      [mirror, 'mirror', 'tp-linux', '0.1.4', ''],
      [emu, 'emu', 'tp-dep-e', '0.1.0', ''],
      [other, 'other', 'tp-other', '2.0.0', ''],
    ];
    for (const [registry, name, crate, version, rest] of published) {
      await cargoPublish(registry, name, source(crate, version, rest));
    }
    // The emulator links dependencies by name as crates.io does; these live on three registries.
    emu.checkDependencies = false;
    const dir = source(
      'tp-rich',
      '0.4.0',
      `authors = ["Sample Author <author@example.org>", "Second Author"]
documentation = "https://docs.example.org/tp-rich"
homepage = "https://example.org/tp-rich"
readme = "README.md"
keywords = ["zeta", "alpha"]
categories = ["development-tools"]
license-file = "LICENSE"
repository = "https://example.org/tp-rich.git"
links = "tprich"
rust-version = "1.70"

[badges]
maintenance = { status = "actively-developed" }

[features]
default = ["std"]
std = []
extra = ["dep:tp-dep-c", "tp-dep-a/feat"]
weak = ["tp-dep-c?/something"]

[dependencies]
tp-dep-a = { version = "1.0", default-features = false, features = ["x"] }
renamed = { package = "tp-dep-b", version = ">= 1.2, < 2" }
tp-dep-c = { version = "0.3", optional = true }
tp-dep-e = { version = "0.1", registry = "emu" }
tp-other = { version = "2", registry = "other" }

[build-dependencies]
tp-build = "=0.1.0"

[dev-dependencies]
tp-dev = "~0.2"
local-only = { path = "local-only" }

[target.'cfg(unix)'.dependencies]
tp-unix = "0.1"

[target.'cfg(target_os="linux")'.dependencies]
tp-linux = "0.1.*"

[target.x86_64-unknown-linux-gnu.build-dependencies]
tp-build = "0.1"
`,
      {
        'README.md': '# tp-rich\r\n\r\nÜnïcödé readme, CRLF line ends.\r\n',
        LICENSE: 'MIT License\n',
        'build.rs': 'fn main() {}\n',
        'local-only/Cargo.toml': '[package]\nname = "local-only"\nversion = "0.0.0"\nedition = "2021"\n',
        'local-only/src/lib.rs': '',
      },
    );
    const byCargo = await cargoPublish(emu, 'emu', dir);
    const packaged = await cargoPackage(dir, 'tp-rich-0.4.0.crate', byCargo);
    const byAction = await actionPublish(packaged, 'tp-rich', false);

    const fromCargo = JSON.parse(byCargo.metadataText) as { deps: Record<string, unknown>[] };
    const fromAction = JSON.parse(byAction.metadataText) as { deps: Record<string, unknown>[] };
    // The action reads `registry-index` from the packaged Cargo.toml and cannot know it is the index of the
    // registry it publishes to; cargo knows, and leaves `registry` out ("same registry").
    for (const dep of fromAction.deps) if (dep.registry === emu.indexUrl) delete dep.registry;
    assert.deepEqual(fromAction, fromCargo);
    assert.equal(JSON.stringify(fromAction), byCargo.metadataText, 'same JSON, key order included');
    assert.deepEqual(wire(byAction), wire(byCargo));

    // The comparison covered what it is meant to cover.
    const deps = fromCargo.deps;
    assert.equal(deps.length, 10);
    assert.ok(deps.some((d) => d.explicit_name_in_toml === 'renamed' && d.name === 'tp-dep-b'));
    assert.ok(deps.some((d) => d.target === 'cfg(target_os = "linux")'));
    assert.ok(deps.some((d) => d.registry === other.indexUrl));
    assert.ok(deps.some((d) => d.registry === CRATES_IO_INDEX));
    assert.ok(deps.some((d) => d.kind === 'dev') && deps.some((d) => d.kind === 'build' && d.target));
    assert.match(String((fromCargo as { readme?: unknown }).readme), /Ünïcödé readme, CRLF line ends\.\r\n$/);
  });

  test('cargo reads the emulator’s refusals, also answered as HTTP 200 with errors', async () => {
    // cargo only warns about a missing description and license; crates.io refuses the crate. (A duplicate
    // version never reaches the server: cargo finds it in the index first.)
    const dir = writeTree(fs.mkdtempSync(path.join(tmp, 'bare-')), {
      'Cargo.toml': '[package]\nname = "tp-bare"\nversion = "1.0.0"\nedition = "2021"\n',
      'src/lib.rs': '',
    });
    const expected = /missing or empty metadata fields: description, license\./;
    const refused = await cargo(dir, ['publish', '--registry', 'emu', '--no-verify', '--allow-dirty']);
    assert.notEqual(refused.code, 0);
    assert.equal(emu.publishes.at(-1)?.status, 400);
    assert.match(refused.stderr, expected);
    emu.legacyErrors = true;
    try {
      const legacy = await cargo(dir, ['publish', '--registry', 'emu', '--no-verify', '--allow-dirty']);
      assert.notEqual(legacy.code, 0);
      assert.equal(emu.publishes.at(-1)?.status, 200);
      assert.match(legacy.stderr, expected);
    } finally {
      emu.legacyErrors = false;
    }
  });
});
