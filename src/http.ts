import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import { ActionError } from './errors.ts';

export interface RequestBody {
  length: number;
  /** Bytes, or a stream of them whose total is exactly `length`. */
  data: Uint8Array | AsyncIterable<Uint8Array>;
  contentType?: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** Called once per attempt so every retry sends a fresh body (and, for mints, a fresh JWT). */
  body?: () => Promise<RequestBody> | RequestBody;
  /** Headers made anew for every attempt, for registries that take the JWT in a header. */
  attemptHeaders?: () => Promise<Record<string, string>>;
  /** What the request is for, in words: used in error messages. */
  what: string;
  /** Socket inactivity limit per attempt. */
  timeoutMs?: number;
  attempts?: number;
  /** Bytes of the answer kept (the rest is read and dropped); index pages of big projects need more. */
  maxResponseBytes?: number;
  /** Cuts the request when it aborts (a cancelled run); by default the signal `cutBy` set for the caller. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  reason: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The URL that answered (after same-origin redirects). */
  url: URL;
  /** An earlier attempt failed transiently, so the server may already have acted on this request. */
  retried: boolean;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const MAX_RESPONSE_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_ATTEMPTS = 4;
const MAX_RETRY_AFTER_MS = 60_000;

export const isLoopback = (url: URL): boolean => LOOPBACK_HOSTS.has(url.hostname);

/** HTTPS everywhere; plain HTTP only to this machine, so tests can use local emulators. */
export function checkTransport(url: URL, inputName: string): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopback(url)) return;
  throw new ActionError(`${inputName} must use https:// (got ${url.origin}).`, {
    cause: 'Tokens would travel unencrypted; plain http:// is only allowed to 127.0.0.1, localhost and ::1.',
    fix: `Use the https:// address of the registry in ${inputName}.`,
  });
}

// One keep-alive agent per protocol: every file of a release reuses the same connection.
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 16 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

/** The backoff wait, which ends early when `signal` aborts; unit tests replace it so they never sleep. */
export const backoff = {
  sleep: (ms: number, signal?: AbortSignal): Promise<void> => sleep(ms, signal),
};

/** Waits `ms`, or less when `signal` aborts first (its timer then goes, so it holds no process open). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

class TransientError extends Error {}

/**
 * The signal that cuts the requests of a piece of work, so a cancelled run reaches every request the flow and
 * the registries make without each registry call carrying it.
 */
const cutting = new AsyncLocalStorage<AbortSignal | undefined>();

/** Runs `body` with every request it makes cut when `signal` aborts; undefined: requests are not cut. */
export function cutBy<T>(signal: AbortSignal | undefined, body: () => Promise<T>): Promise<T> {
  return cutting.run(signal, body);
}

/** A request cut because the run was cancelled: never retried. */
export class CancelledError extends ActionError {}

function cancelled(req: HttpRequest): CancelledError {
  return new CancelledError(`${req.what} was cancelled.`);
}

/**
 * Until when each origin asked to be left alone (429 with Retry-After). Every request to it waits, not only
 * the one that was told: parallel uploads would otherwise keep hitting the limit.
 */
const pausedUntil = new Map<string, number>();

async function respectPause(url: URL, signal: AbortSignal | undefined): Promise<void> {
  const wait = (pausedUntil.get(url.origin) ?? 0) - Date.now();
  if (wait > 0) await backoff.sleep(wait, signal);
}

const isTransientStatus = (status: number): boolean => status === 429 || status >= 500;

export function retryDelayMs(attempt: number, retryAfter: string | undefined): number {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, MAX_RETRY_AFTER_MS);
  }
  const base = 500 * 2 ** (attempt - 1);
  return base + Math.floor(Math.random() * base * 0.25);
}

/**
 * Sends a request, retrying connection errors, timeouts, 5xx and 429 with backoff. Any other status is
 * returned to the caller, which knows what it means. Redirects are followed only within the same origin,
 * so credentials never reach another host.
 */
export async function send(request: HttpRequest): Promise<HttpResponse> {
  const signal = request.signal ?? cutting.getStore();
  const req = signal ? { ...request, signal } : request;
  const attempts = req.attempts ?? DEFAULT_ATTEMPTS;
  let lastProblem = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (signal?.aborted) throw cancelled(req);
    try {
      await respectPause(req.url, signal);
      const res = { ...(await sendFollowingRedirects(req)), retried: attempt > 1 };
      if (!isTransientStatus(res.status) || attempt === attempts) return res;
      lastProblem = `HTTP ${res.status} ${res.reason}`;
      const retryAfter = headerValue(res.headers['retry-after']);
      const delay = retryDelayMs(attempt, retryAfter);
      if (res.status === 429 && retryAfter !== undefined) {
        // The next attempt, like every other request to this origin, waits in respectPause.
        const until = Date.now() + delay;
        pausedUntil.set(req.url.origin, Math.max(until, pausedUntil.get(req.url.origin) ?? 0));
      } else {
        await backoff.sleep(delay, signal);
      }
    } catch (err) {
      if (signal?.aborted) throw cancelled(req);
      if (!(err instanceof TransientError)) throw err;
      lastProblem = err.message;
      if (attempt < attempts) await backoff.sleep(retryDelayMs(attempt, undefined), signal);
    }
  }
  if (signal?.aborted) throw cancelled(req);
  throw new ActionError(`${req.what} failed: ${lastProblem} (tried ${attempts} times).`, {
    cause: `${req.url.host} did not answer in time or dropped the connection every time.`,
    fix: 'Re-run the job; if it keeps failing, check the registry status page or the repository-url input.',
  });
}

async function sendFollowingRedirects(req: HttpRequest): Promise<Omit<HttpResponse, 'retried'>> {
  let url = req.url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await sendOnce(req, url);
    const location = headerValue(res.headers.location);
    if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
    const next = new URL(location, url);
    if (next.origin !== url.origin) {
      throw new ActionError(`${req.what}: ${url.origin} redirected to another host, ${next.origin}.`, {
        cause: 'Credentials are never sent to a different origin than the one configured.',
        fix: `Set repository-url to the address the registry really serves (maybe ${next.origin}${next.pathname}).`,
      });
    }
    url = next;
  }
  throw new ActionError(`${req.what}: more than ${MAX_REDIRECTS} redirects from ${req.url.origin}.`, {
    fix: 'Check the repository-url input.',
  });
}

async function sendOnce(req: HttpRequest, url: URL): Promise<Omit<HttpResponse, 'retried'>> {
  const body = req.body ? await req.body() : undefined;
  const headers: Record<string, string> = {
    'user-agent': USER_AGENT,
    ...req.headers,
    ...(req.attemptHeaders ? await req.attemptHeaders() : {}),
  };
  if (body) {
    headers['content-length'] = String(body.length);
    if (body.contentType) headers['content-type'] = body.contentType;
  }
  const transport = url.protocol === 'https:' ? https : http;
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const fail = (problem: string) => reject(new TransientError(problem));
    const request = transport.request(url, {
      method: req.method,
      headers,
      agent: agents[url.protocol as 'http:' | 'https:'],
    });
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    const cut = () => request.destroy(new Error('cancelled'));
    req.signal?.addEventListener('abort', cut, { once: true });
    request.on('close', () => {
      req.signal?.removeEventListener('abort', cut);
      // Cut while the answer was coming: no 'end' follows (a settled promise ignores this).
      if (req.signal?.aborted) fail('cancelled');
    });
    request.on('error', (err: NodeJS.ErrnoException) =>
      fail(err.code ? `${err.code} (${err.message})` : err.message),
    );
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      const limit = req.maxResponseBytes ?? MAX_RESPONSE_BYTES;
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= limit) chunks.push(chunk);
      });
      res.on('error', (err) => fail(err.message));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          reason: res.statusMessage ?? '',
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          url,
        }),
      );
    });
    if (!body) {
      request.end();
    } else if (body.data instanceof Uint8Array) {
      request.end(body.data);
    } else {
      writeStream(request, body.data).catch((err: Error) => request.destroy(err));
    }
  });
}

/**
 * Writes a streamed body with at most one chunk in flight: the next chunk is taken while the last one is
 * still being flushed to the socket, never before the one ahead of it was. A producer may so reuse a
 * buffer two chunks later (file-chunks.ts), and a slow registry holds back reading instead of filling memory.
 */
async function writeStream(request: http.ClientRequest, data: AsyncIterable<Uint8Array>): Promise<void> {
  let previous: Promise<void> = Promise.resolve();
  for await (const chunk of data) {
    await previous;
    if (request.destroyed) return;
    previous = flushed(request, chunk);
  }
  await previous;
  if (!request.destroyed) request.end();
}

/** Writes a chunk; settles once it is flushed, or when the request closed (then no callback ever comes). */
function flushed(request: http.ClientRequest, chunk: Uint8Array): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      request.off('close', done);
      resolve();
    };
    request.on('close', done);
    request.write(chunk, done);
  });
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function jsonBody(value: unknown): RequestBody {
  const data = Buffer.from(JSON.stringify(value));
  return { data, length: data.length, contentType: 'application/json' };
}

/** A path under an API base; a base with a path prefix (a private instance) keeps it. */
export function apiUrl(base: URL, path: string): URL {
  return new URL(path, base.href.endsWith('/') ? base.href : `${base.href}/`);
}

/** Whether a resource exists: 200 yes, 404 no, anything else unknown (used only to word a diagnosis). */
export async function exists(
  url: URL,
  what: string,
  headers?: Record<string, string>,
): Promise<boolean | undefined> {
  const res = await send({ method: 'GET', url, what, attempts: 2, ...(headers ? { headers } : {}) });
  return res.status === 200 ? true : res.status === 404 ? false : undefined;
}

/** Parses a JSON body, or undefined when it is not JSON (an HTML error page, say). */
export function parseJson(res: HttpResponse): unknown {
  try {
    return JSON.parse(res.body);
  } catch {
    return undefined;
  }
}

export const USER_AGENT = `trusted-publish/0.1.0 node/${process.versions.node}`;
