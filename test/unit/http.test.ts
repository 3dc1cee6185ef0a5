import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ActionError } from '../../src/errors.ts';
import {
  backoff,
  type HttpResponse,
  jsonBody,
  registryWords,
  retryDelayMs,
  send,
  TooLargeError,
} from '../../src/http.ts';
import { multipartBody } from '../../src/multipart.ts';
import { type Listening, listen, send as reply } from '../fakes/http.ts';

const waits: number[] = [];
const realSleep = backoff.sleep;
before(() => {
  backoff.sleep = async (ms) => {
    waits.push(ms);
  };
});
after(() => {
  backoff.sleep = realSleep;
});

/** A server answering each request with the next scripted step. */
async function scripted(steps: ((res: import('node:http').ServerResponse) => void)[]) {
  const seen: { url: string; authorization: string | undefined; body: string }[] = [];
  const server = await listen(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization, body });
    const step = steps.shift();
    if (step) step(res);
    else reply(res, 200, 'done');
  });
  return { server, seen };
}

describe('send', () => {
  let servers: Listening[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });

  it('retries 5xx and 429, honouring Retry-After, with a fresh body each time', async () => {
    waits.length = 0;
    const { server, seen } = await scripted([
      (res) => reply(res, 503, 'busy'),
      (res) => reply(res, 429, 'slow down', { 'retry-after': '7' }),
    ]);
    servers.push(server);
    let bodies = 0;
    const res = await send({
      method: 'POST',
      url: new URL(`${server.origin}/mint`),
      what: 'Minting',
      body: () => jsonBody({ attempt: ++bodies }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.retried, true);
    assert.deepEqual(
      seen.map((s) => s.body),
      ['{"attempt":1}', '{"attempt":2}', '{"attempt":3}'],
    );
    assert.equal(waits.length, 2);
    assert.equal(waits[1], 7000);
  });

  it('never retries other 4xx', async () => {
    const { server, seen } = await scripted([(res) => reply(res, 400, 'bad', {}, 'File already exists')]);
    servers.push(server);
    const res = await send({ method: 'POST', url: new URL(server.origin), what: 'Uploading' });
    assert.equal(res.status, 400);
    assert.equal(res.reason, 'File already exists');
    assert.equal(res.retried, false);
    assert.equal(seen.length, 1);
  });

  it('retries a dropped connection, then gives up with a bounded count', async () => {
    const server = await listen((req) => req.socket.destroy());
    servers.push(server);
    await assert.rejects(
      send({ method: 'GET', url: new URL(server.origin), what: 'Asking', attempts: 3 }),
      (err: ActionError) =>
        err instanceof ActionError && /Asking failed: .* \(tried 3 times\)/.test(err.message),
    );
  });

  it('speaks TLS to an https URL (the https module is loaded by the first such request)', async () => {
    const firstBytes: Buffer[] = [];
    const server = net.createServer((socket) => {
      socket.once('data', (chunk: Buffer) => {
        firstBytes.push(chunk);
        socket.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      await assert.rejects(
        send({ method: 'GET', url: new URL(`https://127.0.0.1:${port}/`), what: 'Asking', attempts: 1 }),
        ActionError,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // A TLS record of type handshake (22) opens the connection: a ClientHello, not an HTTP request line.
    assert.equal(firstBytes[0]?.[0], 0x16);
  });

  it('times out a server that never answers', async () => {
    let requests = 0;
    const server = await listen(() => {
      requests++;
    });
    servers.push(server);
    await assert.rejects(
      send({ method: 'GET', url: new URL(server.origin), what: 'Asking', attempts: 2, timeoutMs: 200 }),
      /no answer within 0.2 s/,
    );
    assert.equal(requests, 2);
  });

  it('follows a same-origin redirect but never carries credentials to another origin', async () => {
    const other = await scripted([]);
    servers.push(other.server);
    const { server, seen } = await scripted([
      (res) => reply(res, 308, '', { location: '/legacy/' }),
      (res) => reply(res, 307, '', { location: `${other.server.origin}/steal` }),
    ]);
    servers.push(server);
    await assert.rejects(
      send({
        method: 'POST',
        url: new URL(`${server.origin}/legacy`),
        what: 'Uploading',
        headers: { authorization: 'Basic c2VjcmV0' },
      }),
      /redirected to another host/,
    );
    assert.deepEqual(
      seen.map((s) => [s.url, s.authorization]),
      [
        ['/legacy', 'Basic c2VjcmV0'],
        ['/legacy/', 'Basic c2VjcmV0'],
      ],
    );
    assert.equal(other.seen.length, 0);
  });

  it('streams a file body byte for byte; a connection dropped mid-body is retried with a fresh stream', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-http-'));
    const file = path.join(dir, 'big.whl');
    const data = randomBytes(3 * 1024 * 1024 + 7);
    fs.writeFileSync(file, data);
    let attempts = 0;
    const received: { length: string | undefined; body: Buffer }[] = [];
    const server = await listen(async (req, res) => {
      // The first attempt dies once part of its body arrived.
      if (++attempts === 1) return void req.once('data', () => req.socket.destroy());
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk);
      received.push({ length: req.headers['content-length'], body: Buffer.concat(chunks) });
      reply(res, 200, 'ok');
    });
    servers.push(server);
    try {
      const res = await send({
        method: 'POST',
        url: new URL(`${server.origin}/legacy/`),
        what: 'Uploading',
        body: () =>
          multipartBody([['name', 'tp-sample']], {
            field: 'content',
            filename: 'big.whl',
            path: file,
            size: data.length,
            contentType: 'application/octet-stream',
          }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.retried, true);
      assert.equal(attempts, 2);
      const [complete] = received;
      assert.ok(complete);
      assert.equal(complete.length, String(complete.body.length));
      assert.ok(complete.body.includes(data));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('retryDelayMs', () => {
  it('grows exponentially and caps Retry-After', () => {
    assert.ok(retryDelayMs(1, undefined) >= 500 && retryDelayMs(1, undefined) < 700);
    assert.ok(retryDelayMs(3, undefined) >= 2000);
    assert.equal(retryDelayMs(1, '0'), 0);
    assert.equal(retryDelayMs(1, '3600'), 60_000);
  });
});

describe('deadlines and ceilings', () => {
  it('refuses a success answer past its ceiling, and keeps only the start of an error answer', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    const server = await listen((req, res) => reply(res, req.url === '/ok' ? 200 : 400, big));
    try {
      await assert.rejects(
        send({ method: 'GET', url: new URL('/ok', server.origin), what: 'Reading' }),
        (err: unknown) => err instanceof TooLargeError && /more than 1 MiB/.test(err.message),
      );
      const res = await send({ method: 'GET', url: new URL('/bad', server.origin), what: 'Reading' });
      assert.equal(res.status, 400);
      assert.equal(res.body.length, 64 * 1024);
    } finally {
      await server.close();
    }
  });

  it('ends a read that never completes at its deadline, however often bytes arrive', async () => {
    const server = await listen((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write(' '), 20);
      res.on('close', () => clearInterval(timer));
    });
    try {
      await assert.rejects(
        send({
          method: 'GET',
          url: new URL(server.origin),
          what: 'Reading',
          deadlineMs: 300,
          timeoutMs: 200,
        }),
        (err: unknown) => err instanceof ActionError && /no complete answer within 0\.3 s/.test(err.message),
      );
    } finally {
      await server.close();
    }
  });
});

describe('registryWords', () => {
  const answer = (body: string, type: string, reason = 'Bad Request'): HttpResponse => ({
    status: 400,
    reason,
    headers: { 'content-type': type },
    body,
    url: new URL('https://example.org/'),
    retried: false,
  });

  it('takes the status line when it says more than the standard phrase, else the body', () => {
    assert.equal(
      registryWords(answer('ignored', 'text/plain', 'Invalid distribution file.')),
      'Invalid distribution file.',
    );
    assert.equal(registryWords(answer(' Invalid  file.\r\n', 'text/plain')), 'Invalid file.');
    assert.equal(registryWords(answer('', 'text/plain')), undefined);
    assert.equal(registryWords(answer('<html><body>\n</body></html>', 'text/html')), undefined);
  });

  it('reduces HTML to its text and JSON to its message, on one bounded line with controls escaped', () => {
    const html =
      '<html><head><title>T</title><script>x()</script></head><body><h1>Bad</h1><p>a &amp; b&#33;</p></body></html>';
    assert.equal(registryWords(answer(html, 'text/html')), 'Bad a & b!');
    const json = JSON.stringify({ errors: [{ detail: 'one' }, { detail: 'two' }] });
    assert.equal(registryWords(answer(json, 'application/json')), 'one; two');
    assert.equal(registryWords(answer('{"message":"m","error":"e"}', 'application/json')), 'm');
    assert.equal(registryWords(answer('a\n::error::x\u001b[1m', 'text/plain')), 'a ::error::x\\x1b[1m');
    const long = registryWords(answer('y'.repeat(5000), 'text/plain')) ?? '';
    assert.equal(long.length, 500);
  });

  it('cuts out credentials a registry echoes', () => {
    const basic = Buffer.from('__token__:pypi-AgEIcHlwaS5vcmcCJGFiY2Q').toString('base64');
    const said =
      registryWords(answer(`Bad auth: Basic ${basic} for eyJhbGciOiJS.eyJzdWIiOiJ4In0.c2ln`, 'text/plain')) ??
      '';
    assert.equal(said, 'Bad auth: Basic *** for ***');
  });
});
