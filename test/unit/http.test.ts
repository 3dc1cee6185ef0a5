import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ActionError } from '../../src/errors.ts';
import { backoff, jsonBody, retryDelayMs, send } from '../../src/http.ts';
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
});

describe('retryDelayMs', () => {
  it('grows exponentially and caps Retry-After', () => {
    assert.ok(retryDelayMs(1, undefined) >= 500 && retryDelayMs(1, undefined) < 700);
    assert.ok(retryDelayMs(3, undefined) >= 2000);
    assert.equal(retryDelayMs(1, '0'), 0);
    assert.equal(retryDelayMs(1, '3600'), 60_000);
  });
});
