import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A queued misbehaviour: answer this HTTP status, never answer, drop the connection, answer 200 and then
 * send a byte every half second ('drip') or bytes without end ('endless'), or answer this status with a
 * body of its own (a reason only in the body, an HTML error page).
 */
export type Fault =
  | number
  | 'hang'
  | 'reset'
  | 'drip'
  | 'endless'
  | { status: number; body: string; contentType?: string; reason?: string };

const DRIP_EVERY_MS = 500;
/** Bounds on the hostile streams, so a client that never stops reading still ends the test. */
const DRIP_MAX_BYTES = 1_200;
const ENDLESS_MAX_BYTES = 8 * 1024 ** 3;

/** Sends `bytes` (one a time) every DRIP_EVERY_MS until the client goes or the bound is reached. */
function drip(res: ServerResponse): void {
  let sent = 0;
  const timer = setInterval(() => {
    if (res.destroyed || sent >= DRIP_MAX_BYTES) {
      clearInterval(timer);
      res.destroy();
      return;
    }
    res.write(sent === 0 ? '[' : ' ');
    sent++;
  }, DRIP_EVERY_MS);
  res.on('close', () => clearInterval(timer));
}

/** Sends 64 KiB pieces as fast as the client reads them, until it goes or the bound is reached. */
function endless(res: ServerResponse): void {
  const piece = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  const pump = () => {
    while (!res.destroyed && sent < ENDLESS_MAX_BYTES) {
      sent += piece.length;
      if (!res.write(piece)) return void res.once('drain', pump);
    }
    res.destroy();
  };
  pump();
}

export interface Listening {
  origin: string;
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1 at a free port; `close()` also drops connections still open (hung requests). */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => unknown | Promise<unknown>,
): Promise<Listening> {
  const server = http.createServer((req, res) => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        // An emulator bug must fail the test that met it, not leave the client waiting.
        if (res.headersSent) res.destroy();
        else send(res, 500, `emulator error: ${err instanceof Error ? err.stack : String(err)}`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Node refuses status reasons outside latin-1; Warehouse too encodes them to latin-1 with '?' for the rest. */
const latin1 = (reason: string): string => reason.replace(/[^\t\x20-\x7e\xa0-\xff]/g, '?');

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  headers: OutgoingHttpHeaders = {},
  reason?: string,
): void {
  res.writeHead(status, reason === undefined ? undefined : latin1(reason), {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, reason?: string): void {
  send(res, status, JSON.stringify(value), { 'content-type': 'application/json' }, reason);
}

/** The whole body, or undefined when it is larger than `limit` (then drained, so an answer can still be sent). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return size > limit ? undefined : Buffer.concat(chunks);
}

/** Consumes the next fault of `queue` on this request; false when the queue was empty and normal handling goes on. */
export function fault(
  queue: Fault[],
  req: IncomingMessage,
  res: ServerResponse,
  headers: OutgoingHttpHeaders = {},
): boolean {
  const next = queue.shift();
  if (next === undefined) return false;
  if (next === 'reset') {
    // Cut after the first piece of body so a client sees the connection die mid-request.
    const cut = () => req.socket.destroy();
    req.once('data', cut);
    req.once('end', cut);
    return true;
  }
  req.resume();
  if (next === 'hang') return true;
  req.once('end', () => {
    if (next === 'drip' || next === 'endless') {
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      (next === 'drip' ? drip : endless)(res);
    } else if (typeof next === 'object') {
      const type = { 'content-type': next.contentType ?? 'text/plain; charset=utf-8' };
      send(res, next.status, next.body, { ...headers, ...type }, next.reason);
    } else {
      send(res, next, `${next} ${http.STATUS_CODES[next] ?? ''}`, headers);
    }
  });
  return true;
}

/** A public read the emulators log, to show what the action asked and that it sent no credentials. */
export interface ReadRequest {
  path: string;
  authorization: string | undefined;
}

export function logRead(reads: ReadRequest[], req: IncomingMessage, path: string): void {
  reads.push({ path, authorization: req.headers.authorization });
}

/**
 * Whether a record stored at `storedAt` (ms) shows on a read endpoint yet: registries fill the indexes their
 * installers read some time after the upload (a CDN, an index job), each endpoint on its own.
 */
export const visibleOn = (storedAt: number, delayMs = 0): boolean => Date.now() >= storedAt + delayMs;
