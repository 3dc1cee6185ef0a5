import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import type https from 'node:https';
import { ActionError } from './errors.ts';
import { Slots } from './slots.ts';
import { untrusted } from './untrusted.ts';

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
  /**
   * The longest the whole request may take, every attempt and backoff included. By default a request without
   * a body gets READ_DEADLINE_MS; one with a body gets, per attempt, time in proportion to its size.
   */
  deadlineMs?: number;
  attempts?: number;
  /**
   * The largest successful answer read (RESPONSE_LIMITS has one per kind of answer): a larger one is refused,
   * never buffered whole. An error answer is cut at ERROR_BODY_BYTES: only its first words are ever shown.
   */
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
const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The largest answer read, by what it is. Each is a few times the largest real one seen (the abbreviated
 * packument of a package with thousands of versions runs to ~20 MiB, a PyPI simple page of a project with
 * every wheel of every release to a few MiB), so a real registry never meets it and a hostile one cannot make
 * the run hold more. Answers are parsed whole (the checks need every version listed), so the ceiling, with
 * BIG_READS, is what keeps memory flat.
 */
export const RESPONSE_LIMITS = {
  /** A JSON API answer: a token, an audience, one release's files. */
  api: 1 * MiB,
  /** An index file installers read: a crates.io or RubyGems compact index file, a NuGet flat container list. */
  index: 16 * MiB,
  /** A project's whole listing: a PyPI simple page, an npm packument. */
  listing: 64 * MiB,
} as const;
/** Bytes of an error answer kept: enough for any registry's message; the rest is never read. */
export const ERROR_BODY_BYTES = 64 * KiB;
/** Answers larger than RESPONSE_LIMITS.api are read at most this many at a time, whatever asks for them. */
const BIG_READS = new Slots(2);
const MAX_REDIRECTS = 5;
const DEFAULT_TIMEOUT_MS = 30_000;
/** A read that takes longer is not coming: a registry sends a megabyte well within a second. */
const READ_DEADLINE_MS = 60_000;
/**
 * An upload attempt may take this long plus its size at MIN_UPLOAD_BYTES_PER_S: a slow link is waited for
 * (curl and twine never cut an upload that moves), one that no longer moves is caught by the idle timeout.
 */
const UPLOAD_BASE_MS = 120_000;
const MIN_UPLOAD_BYTES_PER_S = 16 * KiB;
/** setTimeout's largest delay (about 24 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * A lookup before the upload only spares work: one that cannot finish in this time decides nothing (the
 * caller warns and each upload's own answer decides).
 */
export const LOOKUP_DEADLINE_MS = 20_000;
const DEFAULT_ATTEMPTS = 4;
const MAX_RETRY_AFTER_MS = 60_000;

export const isLoopback = (url: URL): boolean => LOOPBACK_HOSTS.has(url.hostname);

/** HTTPS everywhere; plain HTTP only to this machine, so tests can use local emulators. */
export function checkTransport(url: URL, inputName: string): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopback(url)) return;
  // A javascript:, file: or data: URL has no origin ("null"): name its scheme instead.
  const got = url.origin === 'null' ? `a ${url.protocol} URL` : url.origin;
  throw new ActionError(`${inputName} must use https:// (got ${got}).`, {
    cause: 'Tokens would travel unencrypted; plain http:// is only allowed to 127.0.0.1, localhost and ::1.',
    fix: `Use the https:// address of the registry in ${inputName}.`,
  });
}

/**
 * The https module, and with it TLS and most of crypto, is loaded by the first https request: a dry run on a
 * laptop, --help and --version make none.
 */
let httpsModule: typeof https | undefined;
function transportFor(url: URL): typeof http | typeof https {
  if (url.protocol !== 'https:') return http;
  httpsModule ??= process.getBuiltinModule('node:https');
  return httpsModule;
}

// One keep-alive agent per protocol: every file of a release reuses the same connection.
const agents = new Map<string, http.Agent>();
function agentFor(url: URL): http.Agent {
  let agent = agents.get(url.protocol);
  if (!agent) {
    agent = new (transportFor(url).Agent)({ keepAlive: true, maxSockets: 16 });
    agents.set(url.protocol, agent);
  }
  return agent;
}

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

/** An answer past its byte ceiling: refused, not retried (a second read would be as large). */
export class TooLargeError extends ActionError {}

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

async function respectPause(url: URL, endAt: number, signal: AbortSignal | undefined): Promise<void> {
  const wait = Math.min(pausedUntil.get(url.origin) ?? 0, endAt) - Date.now();
  if (wait > 0) await backoff.sleep(wait, signal);
}

const seconds = (ms: number): number => Math.round(ms / 100) / 10;

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
  const deadlineMs = req.deadlineMs ?? (req.body ? Number.POSITIVE_INFINITY : READ_DEADLINE_MS);
  const endAt = Date.now() + deadlineMs;
  const big = (req.maxResponseBytes ?? RESPONSE_LIMITS.api) > RESPONSE_LIMITS.api;
  let lastProblem = '';
  // The last answer that would have been retried: the caller's to read when the deadline ends the retries.
  let lastAnswer: HttpResponse | undefined;
  let attempt = 0;
  while (attempt < attempts && Date.now() < endAt) {
    attempt++;
    if (signal?.aborted) throw cancelled(req);
    try {
      await respectPause(req.url, endAt, signal);
      const once = () => sendFollowingRedirects(req, endAt);
      const res = { ...(await (big ? BIG_READS.run(once) : once())), retried: attempt > 1 };
      if (!isTransientStatus(res.status) || attempt === attempts) return res;
      lastAnswer = res;
      const retryAfter = headerValue(res.headers['retry-after']);
      const delay = retryDelayMs(attempt, retryAfter);
      if (res.status === 429 && retryAfter !== undefined) {
        // The next attempt, like every other request to this origin, waits in respectPause.
        const until = Date.now() + delay;
        pausedUntil.set(req.url.origin, Math.max(until, pausedUntil.get(req.url.origin) ?? 0));
      } else {
        await backoff.sleep(Math.min(delay, endAt - Date.now()), signal);
      }
    } catch (err) {
      if (signal?.aborted) throw cancelled(req);
      if (!(err instanceof TransientError)) throw err;
      lastAnswer = undefined;
      lastProblem = err.message;
      if (attempt < attempts)
        await backoff.sleep(Math.min(retryDelayMs(attempt, undefined), endAt - Date.now()), signal);
    }
  }
  if (signal?.aborted) throw cancelled(req);
  if (lastAnswer) return lastAnswer;
  const tried = attempt === 1 ? 'tried once' : `tried ${attempt} times`;
  const within =
    Date.now() >= endAt && Number.isFinite(deadlineMs) ? `, within ${seconds(deadlineMs)} s` : '';
  throw new ActionError(`${req.what} failed: ${lastProblem} (${tried}${within}).`, {
    cause: `${req.url.host} did not answer in time or dropped the connection every time.`,
    fix: 'Re-run the job; if it keeps failing, check the registry status page or the repository-url input.',
  });
}

async function sendFollowingRedirects(
  req: HttpRequest,
  endAt: number,
): Promise<Omit<HttpResponse, 'retried'>> {
  let url = req.url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await sendOnce(req, url, endAt);
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

async function sendOnce(req: HttpRequest, url: URL, endAt: number): Promise<Omit<HttpResponse, 'retried'>> {
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
  const transport = transportFor(url);
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = Date.now();
  const attemptMs = body ? UPLOAD_BASE_MS + (body.length / MIN_UPLOAD_BYTES_PER_S) * 1000 : MAX_TIMER_MS;
  const budgetMs = Math.max(1, Math.min(endAt - started, attemptMs, MAX_TIMER_MS));
  const limit = req.maxResponseBytes ?? RESPONSE_LIMITS.api;
  return new Promise((resolve, reject) => {
    let sent = 0;
    const fail = (problem: string) => reject(new TransientError(problem));
    const request = transport.request(url, {
      method: req.method,
      headers,
      agent: agentFor(url),
    });
    // An idle timeout alone never fires on a server that sends a byte a second: the attempt also has a total.
    const overdue = setTimeout(() => {
      const progress = body
        ? `; ${sent} of ${body.length} bytes sent, at least ${MIN_UPLOAD_BYTES_PER_S / KiB} KiB/s is waited for`
        : '';
      request.destroy(new Error(`no complete answer within ${seconds(budgetMs)} s${progress}`));
    }, budgetMs);
    request.on('close', () => clearTimeout(overdue));
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
      const status = res.statusCode ?? 0;
      const answer = (kept: Buffer[]) =>
        resolve({
          status,
          reason: res.statusMessage ?? '',
          headers: res.headers,
          body: Buffer.concat(kept).toString('utf8'),
          url,
        });
      const failed = status >= 300;
      const ceiling = failed ? Math.min(limit, ERROR_BODY_BYTES) : limit;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= ceiling) {
          chunks.push(chunk);
          return;
        }
        if (failed) {
          // Only an error's first words are ever shown: keep them, never read the rest.
          chunks.push(chunk.subarray(0, ceiling - (size - chunk.length)));
          answer(chunks);
        } else {
          reject(
            new TooLargeError(`${req.what}: ${url.host} answered with more than ${ceiling / MiB} MiB.`, {
              cause: 'No registry answer of this kind is that large: a proxy or the server is misbehaving.',
              fix: 'Check the repository-url input, or re-run the job later.',
            }),
          );
        }
        request.destroy();
      });
      res.on('error', (err) => fail(err.message));
      res.on('end', () => answer(chunks));
    });
    const counted = (chunk: Uint8Array) => {
      sent += chunk.length;
      return chunk;
    };
    if (!body) {
      request.end();
    } else if (body.data instanceof Uint8Array) {
      request.end(counted(body.data));
    } else {
      writeStream(request, body.data, counted).catch((err: Error) => request.destroy(err));
    }
  });
}

/**
 * Writes a streamed body with at most one chunk in flight: the next chunk is taken while the last one is
 * still being flushed to the socket, never before the one ahead of it was. A producer may so reuse a
 * buffer two chunks later (file-chunks.ts), and a slow registry holds back reading instead of filling memory.
 */
async function writeStream(
  request: http.ClientRequest,
  data: AsyncIterable<Uint8Array>,
  counted: (chunk: Uint8Array) => Uint8Array,
): Promise<void> {
  let previous: Promise<void> = Promise.resolve();
  for await (const chunk of data) {
    await previous;
    if (request.destroyed) return;
    previous = flushed(request, counted(chunk));
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
  try {
    const res = await send({ method: 'GET', url, what, attempts: 2, ...(headers ? { headers } : {}) });
    return res.status === 200 ? true : res.status === 404 ? false : undefined;
  } catch (err) {
    // Only a successful answer can be too large: the resource is there.
    if (err instanceof TooLargeError) return true;
    throw err;
  }
}

/** Characters of a body excerpt shown at most: a message, never a page. */
const EXCERPT_CHARS = 500;
/**
 * Characters of a registry's own message (a status line, a JSON error's detail) shown at most: Warehouse's
 * attestation refusals run to a thousand, and their end names the mismatch.
 */
export const MESSAGE_CHARS = 2_000;

/**
 * Registries and proxies echo what they were sent: an Authorization value, a JWT or a token in their words is
 * cut out before the words are shown anywhere (every secret the run knows is also scrubbed from the log).
 */
const CREDENTIAL_SHAPES = [
  /\b(Basic|Bearer|Token)\s+[A-Za-z0-9+/=._~-]{20,}/gi,
  /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  /\b(pypi|rubygems|cio|npm|oy2)[_-][A-Za-z0-9_-]{16,}/gi,
];
const withoutCredentials = (text: string): string =>
  CREDENTIAL_SHAPES.reduce(
    (kept, shape) =>
      kept.replace(shape, (_found, scheme?: string) => {
        const keepScheme = scheme && /^(Basic|Bearer|Token)$/i.test(scheme);
        return keepScheme ? `${scheme} ***` : '***';
      }),
    text,
  );

/** The status line's reason when it says more than the standard phrase for its code (Warehouse's way). */
export function statusReason(res: HttpResponse): string | undefined {
  const reason = res.reason.trim();
  return reason && reason.toLowerCase() !== (http.STATUS_CODES[res.status] ?? '').toLowerCase()
    ? untrusted(withoutCredentials(reason), MESSAGE_CHARS)
    : undefined;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** An HTML error page's text: what a browser would show of its body (the title when the body is empty). */
function htmlText(html: string): string {
  const text = (fragment: string) =>
    fragment
      .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<!--[\s\S]*?-->/g, ' ')
      .replace(/<[^>]*>/g, ' ')
      .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name: string) => {
        if (name[0] !== '#') return ENTITIES[name.toLowerCase()] ?? whole;
        const code =
          name[1]?.toLowerCase() === 'x' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      });
  const body = text(html).trim();
  return body || text(/<title\b[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1] ?? '');
}

/** Whether words say no more than the status does ("503 Service Unavailable", "Not Found."). */
function onlyTheStatus(words: string, status: number): boolean {
  const phrase = (http.STATUS_CODES[status] ?? '').toLowerCase();
  const said = words.toLowerCase().replace(/\.$/, '');
  return said === phrase || said === `${status} ${phrase}` || said === String(status);
}

/** The words of a JSON error: `message`, `error`, `detail`, or each of `errors[]` (JSON:API's `detail`). */
function jsonWords(value: unknown): string | undefined {
  if (typeof value === 'string') return value || undefined;
  if (!value || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    const each = value.map(jsonWords).filter((w): w is string => w !== undefined);
    return each.length > 0 ? each.join('; ') : undefined;
  }
  const fields = value as Record<string, unknown>;
  for (const key of ['message', 'error', 'detail', 'description', 'errors', 'reason']) {
    const words = jsonWords(fields[key]);
    if (words) return words;
  }
  return undefined;
}

/**
 * A short excerpt of an error answer's body, on one line: a JSON error's message, an HTML page's text, or
 * the text itself; undefined when the body says nothing. Registries call it where their answer's reason may be
 * only in the body (a proxy, an HTTP/2 hop, another implementation of the protocol).
 */
export function bodyExcerpt(res: HttpResponse): string | undefined {
  const body = res.body.trim();
  if (!body) return undefined;
  const type = headerValue(res.headers['content-type']) ?? '';
  const json = parseJson(res);
  const words =
    json !== undefined
      ? jsonWords(json)
      : /html/i.test(type) || /^<(!doctype|html|\?xml|body|h1|p)\b/i.test(body)
        ? htmlText(body)
        : body;
  // A JSON error's message is the registry's own; any other body is a page, of which the start is enough.
  const limit = json !== undefined ? MESSAGE_CHARS : EXCERPT_CHARS;
  const line = words === undefined ? '' : untrusted(withoutCredentials(words), limit);
  return line && !onlyTheStatus(line, res.status) ? line : undefined;
}

/** What the registry said of a refusal: the status line's own reason, else the body's; undefined: nothing. */
export const registryWords = (res: HttpResponse): string | undefined => statusReason(res) ?? bodyExcerpt(res);

/**
 * The likely cause of a refusal whose reason is the registry's: "its reason is above" only when it gave one
 * (the error shows it), else that it said nothing but the status.
 */
export const refusalCause = (what: string, reasonShown: boolean): string =>
  reasonShown ? `${what}; its reason is above.` : `${what}, and said nothing but the status.`;

/** Parses a JSON body, or undefined when it is not JSON (an HTML error page, say). */
export function parseJson(res: HttpResponse): unknown {
  try {
    return JSON.parse(res.body);
  } catch {
    return undefined;
  }
}

export const USER_AGENT = `trusted-publish/0.1.0 node/${process.versions.node}`;
