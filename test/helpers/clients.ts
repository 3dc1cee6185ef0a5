/**
 * The reference clients the emulators are checked against (twine, gem, cargo). A contributor without one
 * still runs every other test: the cross-checks that need it are skipped with one line saying what is not
 * checked and how to install it. CI sets TP_REQUIRE_ORACLES=1, which turns a missing client into a failing
 * test, so a cross-check can never be skipped there without anyone noticing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

interface Client {
  /** What goes unchecked without it. */
  checks: string;
  install: string;
  /** Where it lives besides PATH (cargo is a rustup proxy in ~/.cargo/bin, often not on PATH). */
  extraDirs?: string[];
  /** A variable naming the executable, which wins over PATH (cargo sets CARGO for what it runs). */
  envVar?: string;
}

const CLIENTS = {
  twine: { checks: 'the PyPI emulator', install: "'apt-get install twine' or 'pipx install twine'" },
  gem: {
    checks: 'the RubyGems emulator (and gems built by gem build)',
    install: "'apt-get install ruby' or your OS's Ruby package",
  },
  cargo: {
    checks: 'the crates.io emulator',
    install: "rustup (https://rustup.rs) or 'apt-get install cargo'",
    extraDirs: [path.join(os.homedir(), '.cargo', 'bin')],
    envVar: 'CARGO',
  },
} satisfies Record<string, Client>;

export type ClientName = keyof typeof CLIENTS;

const EXECUTABLE_SUFFIXES = process.platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];

/** The client's executable from PATH (or its usual folder), or undefined. */
export function findClient(name: ClientName): string | undefined {
  const client: Client = CLIENTS[name];
  const named = client.envVar && process.env[client.envVar];
  if (named) return named;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...(client.extraDirs ?? [])];
  for (const dir of dirs.filter(Boolean)) {
    for (const suffix of EXECUTABLE_SUFFIXES) {
      const candidate = path.join(dir, name + suffix);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch {
        // not in this folder
      }
    }
  }
  return undefined;
}

/**
 * The value for a suite's `skip` option: false when the client is there, else the one line that says what is
 * not cross-checked. Under TP_REQUIRE_ORACLES the absence is a failing test instead.
 */
export function skipWithout(name: ClientName): false | string {
  if (findClient(name)) return false;
  const client: Client = CLIENTS[name];
  const line = `${name} not found: ${client.checks} is not cross-checked; install it with ${client.install}`;
  if (process.env.TP_REQUIRE_ORACLES) {
    test(`${name} is installed (TP_REQUIRE_ORACLES is set)`, () => assert.fail(line));
  }
  return line;
}

/**
 * A suite of cross-checks against the client: run as usual when it is there, else reported as one skipped
 * test with the line that says what is not checked. (node:test counts a skipped `describe` nowhere in its
 * summary, so the suite would vanish from the totals instead of showing as skipped.)
 */
export function describeWith(name: ClientName, title: string, body: () => void): void {
  const skip = skipWithout(name);
  if (skip) test(title, { skip }, () => {});
  else describe(title, body);
}

/** The client's path for a suite that `skipWithout` let run; a placeholder that fails loudly otherwise. */
export function clientPath(name: ClientName): string {
  return findClient(name) ?? name;
}
