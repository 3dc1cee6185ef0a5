/**
 * prefix.dev emulator, written from its clients' sources (prefix.dev's server is not public):
 *   conda/rattler crates/rattler_networking/src/trusted_publishing.rs (the exchange: POST /api/oidc/mint_token
 *   with {"token": <JWT>}, the answer's body the token itself), crates/rattler_upload/src/upload/prefix.rs
 *   (POST /api/v1/upload/<channel>, multipart part `file` with X-File-Name and X-File-SHA256 part headers,
 *   optional `attestation` part; 401, 403, 409 = already there, 422, 413), crates/rattler_conda_types
 *   repo_data (repodata.json: `packages` for .tar.bz2, `packages.conda` for .conda, each with its sha256), and
 *   prefix.dev's trusted publisher form (owner, repository, workflow file; GitHub Actions only).
 * Hostile modes: queued faults, an exchange answered with a page instead of a token, errors that echo the
 * request's Authorization header, a repodata.json that lags the upload.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  type Fault,
  fault,
  listen,
  logRead,
  type ReadRequest,
  readBody,
  send,
  sendJson,
  visibleOn,
} from './http.ts';
import type { Claims, Issuer } from './issuer.ts';

export type { Fault } from './http.ts';

/** A publisher as prefix.dev's form registers it on a channel. */
export interface PrefixPublisher {
  channel: string;
  owner: string;
  repository: string;
  workflow: string;
}

export const defaultPublisher = (): PrefixPublisher => ({
  channel: 'tp-channel',
  owner: 'octo-org',
  repository: 'tp-sample',
  workflow: 'release.yml',
});

export interface ReceivedUpload {
  channel: string;
  authorization: string | undefined;
  contentType: string | undefined;
  /** The `file` part's headers, lower-cased names. */
  partHeaders: Record<string, string>;
  filename: string | undefined;
  sha256: string;
  size: number;
  /** The `attestation` part, when sent. */
  attestation: string | undefined;
  /** Part names in the order they came. */
  parts: string[];
  status: number;
}

export interface StoredFile {
  sha256: string;
  size: number;
  storedAt: number;
}

export interface PrefixDev {
  url: string;
  /** The audience the exchange checks; rattler asks a host other than prefix.dev for its own name. */
  audience: string;
  publishers: PrefixPublisher[];
  /** API keys (the `password` input) and the channels they may write to. */
  apiKeys: Map<string, string>;
  /** Tokens minted, in order (the leak scans look for them). */
  minted: string[];
  /** channel → subdir → file name → record. */
  channels: Map<string, Map<string, Map<string, StoredFile>>>;
  uploads: ReceivedUpload[];
  reads: ReadRequest[];
  events: { type: 'exchange' | 'upload' | 'lookup'; status: number }[];
  /** The platform folder a file is stored under; the emulator reads no package (its Node may lack zstd). */
  subdir: string;
  /** How long after an upload repodata.json lists the file (the CDN in front of repo.prefix.dev). */
  repodataDelayMs: number;
  /** More lag for some files, by name: files show one by one, so repodata.json can list one and not another. */
  laterMs: Map<string, number>;
  mintFaults: Fault[];
  uploadFaults: Fault[];
  /** Answer the exchange with this body (a login page, say) instead of a token. */
  mintAnswer: string | undefined;
  /** Errors quote the request's Authorization header, as careless servers and proxies do. */
  echoCredentials: boolean;
  /** Stores a file as if someone else had uploaded it. */
  store(channel: string, file: string, bytes: Buffer): void;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

/** The `file` and `attestation` parts of a multipart body, with each part's own headers. */
function parseMultipart(
  body: Buffer,
  contentType: string | undefined,
): { name: string; filename?: string; headers: Record<string, string>; data: Buffer }[] | undefined {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType ?? '');
  const marker = boundary?.[1] ?? boundary?.[2];
  if (!marker) return undefined;
  const delimiter = Buffer.from(`--${marker}`);
  const parts = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) return undefined;
    const part = body.subarray(start + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) return undefined;
    const headers: Record<string, string> = {};
    for (const line of part.subarray(0, split).toString('utf8').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const disposition = headers['content-disposition'] ?? '';
    const name = /name="([^"]*)"/.exec(disposition)?.[1] ?? '';
    const filename = /filename="([^"]*)"/.exec(disposition)?.[1];
    parts.push({
      name,
      ...(filename === undefined ? {} : { filename }),
      headers,
      data: part.subarray(split + 4),
    });
    at = next;
  }
  return parts;
}

const repoName = (claims: Claims, owner: string): string =>
  String(claims.repository ?? '').slice(owner.length + 1);
/** The workflow file of `owner/repo/.github/workflows/<file>@<ref>`. */
const workflowOf = (ref: unknown): string =>
  /\/\.github\/workflows\/([^@]+)@/.exec(String(ref ?? ''))?.[1] ?? '';

export async function startPrefixDev(opts: { issuer: Issuer; audience?: string }): Promise<PrefixDev> {
  const seenJti = new Set<string>();
  /** token → the channels it may write to. */
  const tokens = new Map<string, string[]>();

  const channelFiles = (channel: string, subdir: string) => {
    const subdirs = prefix.channels.get(channel) ?? new Map<string, Map<string, StoredFile>>();
    prefix.channels.set(channel, subdirs);
    const files = subdirs.get(subdir) ?? new Map<string, StoredFile>();
    subdirs.set(subdir, files);
    return files;
  };

  const refuse = (req: IncomingMessage, _status: number, words: string) =>
    prefix.echoCredentials ? `${words} (Authorization: ${req.headers.authorization ?? 'none'})` : words;

  async function exchange(req: IncomingMessage, res: import('node:http').ServerResponse) {
    const answer = (status: number, body: string) => {
      prefix.events.push({ type: 'exchange', status });
      send(res, status, body);
    };
    if (fault(prefix.mintFaults, req, res)) return prefix.events.push({ type: 'exchange', status: 0 });
    const body = await readBody(req, MiB);
    let jwt: unknown;
    try {
      jwt = (JSON.parse(body?.toString('utf8') ?? '') as { token?: unknown }).token;
    } catch {
      return answer(400, 'Invalid JSON body');
    }
    if (typeof jwt !== 'string') return answer(400, 'Missing token');
    let claims: Claims;
    try {
      claims = await opts.issuer.verify(jwt, prefix.audience);
    } catch (err) {
      return answer(401, `Invalid OIDC token: ${(err as Error).message}`);
    }
    const jti = String(claims.jti ?? '');
    if (!jti || seenJti.has(jti)) return answer(401, 'OIDC token has already been used');
    seenJti.add(jti);
    const owner = String(claims.repository_owner ?? '');
    const matching = prefix.publishers.filter(
      (p) =>
        p.owner.toLowerCase() === owner.toLowerCase() &&
        p.repository.toLowerCase() === repoName(claims, owner).toLowerCase() &&
        p.workflow === workflowOf(claims.job_workflow_ref),
    );
    if (matching.length === 0) return answer(401, 'No matching trusted publisher found');
    if (prefix.mintAnswer !== undefined) return answer(200, prefix.mintAnswer);
    const token = `pfx_${randomBytes(24).toString('hex')}`;
    tokens.set(
      token,
      matching.map((p) => p.channel),
    );
    prefix.minted.push(token);
    answer(200, token);
  }

  async function upload(req: IncomingMessage, res: import('node:http').ServerResponse, channel: string) {
    const received: ReceivedUpload = {
      channel,
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      partHeaders: {},
      filename: undefined,
      sha256: '',
      size: 0,
      attestation: undefined,
      parts: [],
      status: 0,
    };
    prefix.uploads.push(received);
    const answer = (status: number, body: string) => {
      received.status = status;
      prefix.events.push({ type: 'upload', status });
      send(res, status, body);
    };
    if (fault(prefix.uploadFaults, req, res)) return prefix.events.push({ type: 'upload', status: 0 });
    const body = await readBody(req, 64 * MiB);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const allowed = bearer ? (tokens.get(bearer) ?? [prefix.apiKeys.get(bearer)].filter(Boolean)) : [];
    if (!bearer || allowed.length === 0) return answer(401, refuse(req, 401, 'Unauthorized'));
    if (!allowed.includes(channel))
      return answer(403, refuse(req, 403, `No write access to channel '${channel}'`));
    const parts = body && parseMultipart(body, req.headers['content-type']);
    if (!parts) return answer(400, 'Expected a multipart/form-data body');
    received.parts = parts.map((p) => p.name);
    const file = parts.find((p) => p.name === 'file');
    if (!file) return answer(400, "Missing 'file' part");
    received.partHeaders = file.headers;
    received.filename = file.filename;
    received.size = file.data.length;
    received.sha256 = createHash('sha256').update(file.data).digest('hex');
    received.attestation = parts.find((p) => p.name === 'attestation')?.data.toString('utf8');
    const name = file.headers['x-file-name'];
    if (!name || !/\.(conda|tar\.bz2)$/.test(name)) return answer(400, 'Missing or invalid X-File-Name');
    if (file.headers['x-file-sha256'] !== received.sha256) return answer(400, 'SHA256 mismatch');
    const files = channelFiles(channel, prefix.subdir);
    if (files.has(name)) return answer(409, `Package ${name} already exists in channel ${channel}`);
    files.set(name, { sha256: received.sha256, size: received.size, storedAt: Date.now() });
    answer(200, '');
  }

  function repodata(
    _req: IncomingMessage,
    res: import('node:http').ServerResponse,
    channel: string,
    subdir: string,
  ) {
    const files = prefix.channels.get(channel)?.get(subdir);
    const visible = [...(files ?? [])].filter(([file, f]) =>
      visibleOn(f.storedAt, prefix.repodataDelayMs + (prefix.laterMs.get(file) ?? 0)),
    );
    if (visible.length === 0) {
      prefix.events.push({ type: 'lookup', status: 404 });
      return send(res, 404, 'Not Found');
    }
    prefix.events.push({ type: 'lookup', status: 200 });
    const record = (file: string, f: StoredFile) => {
      const [, name, version, build] = /^(.+)-([^-]+)-([^-]+)\.(?:conda|tar\.bz2)$/.exec(file) ?? [];
      return { name, version, build, build_number: 0, depends: [], subdir, sha256: f.sha256, size: f.size };
    };
    sendJson(res, 200, {
      info: { subdir },
      packages: Object.fromEntries(
        visible.filter(([n]) => n.endsWith('.tar.bz2')).map(([n, f]) => [n, record(n, f)]),
      ),
      'packages.conda': Object.fromEntries(
        visible.filter(([n]) => n.endsWith('.conda')).map(([n, f]) => [n, record(n, f)]),
      ),
      repodata_version: 1,
    });
  }

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://prefix');
    if (req.method === 'POST' && url.pathname === '/api/oidc/mint_token') return exchange(req, res);
    const up = /^\/api\/v1\/upload\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && up?.[1]) return upload(req, res, decodeURIComponent(up[1]));
    const read = /^\/([^/]+)\/([^/]+)\/repodata\.json$/.exec(url.pathname);
    if (req.method === 'GET' && read?.[1] && read[2]) {
      logRead(prefix.reads, req, url.pathname);
      return repodata(req, res, read[1], read[2]);
    }
    send(res, 404, 'Not Found');
  });

  const prefix: PrefixDev = {
    url: server.origin,
    audience: opts.audience ?? '127.0.0.1',
    publishers: [defaultPublisher()],
    apiKeys: new Map(),
    minted: [],
    channels: new Map(),
    uploads: [],
    reads: [],
    events: [],
    subdir: 'noarch',
    repodataDelayMs: 0,
    laterMs: new Map(),
    mintFaults: [],
    uploadFaults: [],
    mintAnswer: undefined,
    echoCredentials: true,
    store(channel, file, bytes) {
      channelFiles(channel, prefix.subdir).set(file, {
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.length,
        storedAt: 0,
      });
    },
    close: server.close,
  };
  return prefix;
}
