/** Verdaccio, a real npm registry server, for the tests that check what the action publishes against it. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from './action.ts';

const VERDACCIO = path.join(ROOT, 'node_modules/verdaccio/bin/verdaccio');

/** A port nothing listens on: bind 127.0.0.1:0, read the port, let it go. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Verdaccio {
  url: string;
  child: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

/** Verdaccio 6 on 127.0.0.1 with storage in a folder of `parent`, no uplinks (nothing leaves this machine). */
export async function startVerdaccio(parent: string): Promise<Verdaccio> {
  const dir = fs.mkdtempSync(path.join(parent, 'verdaccio-'));
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    config,
    [
      `storage: ${path.join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${path.join(dir, 'htpasswd')}`,
      '    max_users: 10',
      'uplinks: {}',
      'packages:',
      "  '@*/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      'max_body_size: 100mb',
      'web:',
      '  enable: false',
      'log: { type: stdout, format: json, level: warn }',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [VERDACCIO, '--config', config, '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  // Up to 30 s for it to answer.
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) break;
    const ok = await fetch(`${url}/-/ping`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, child, log: () => output, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`Verdaccio did not start:\n${output}`);
}

/** Adds a user and returns the token Verdaccio gives it (a password-style publish token). */
export async function verdaccioToken(verdaccio: Verdaccio): Promise<string> {
  const user = await fetch(`${verdaccio.url}/-/user/org.couchdb.user:tp-user`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'tp-user', password: 'tp-password-1234' }),
  });
  assert.equal(user.status, 201, await user.clone().text());
  const { token } = (await user.json()) as { token: string };
  assert.ok(token);
  return token;
}
