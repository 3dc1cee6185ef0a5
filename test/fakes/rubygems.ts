/**
 * RubyGems.org emulator, written from rubygems/rubygems.org's own sources:
 *   app/controllers/api/v1/oidc/trusted_publisher_controller.rb, app/controllers/concerns/jwt_validation.rb,
 *   app/models/oidc/trusted_publisher/github_action.rb, app/controllers/api/base_controller.rb,
 *   app/controllers/application_controller.rb, app/controllers/api/v1/rubygems_controller.rb,
 *   app/models/pusher.rb, lib/gem_validator/package.rb + schema.rb, app/controllers/api/v2/versions_controller.rb,
 *   config/locales/en.yml, config/deploy/nginx-configmap.yaml.erb.
 * `gem push` is the oracle for the push wire format (test/e2e/gem-oracle.test.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import Busboy from 'busboy';
import { decodeJwt } from 'jose';
import { Parser, type ReadEntry } from 'tar';
import { parseDocument } from 'yaml';
import { GemAttestationError, verifyGemAttestations } from './gem-attestation.ts';
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
import { type Claims, GITHUB_ISSUER, type Issuer } from './issuer.ts';

export type { Fault } from './http.ts';

/** An OIDC::TrustedPublisher::GitHubAction record plus the gems it is registered for. */
export interface GemPublisher {
  owner: string;
  ownerId: string;
  repository: string;
  workflow: string;
  environment?: string;
  gems: string[];
  /** `owner/name` of a reusable workflow's repository when it differs from `repository` (the form's optional fields). */
  workflowRepository?: string;
}

export interface ReceivedPush {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  sha256: string;
  status: number;
  answer: string;
}

export interface StoredVersion {
  name: string;
  version: string;
  platform: string;
  sha256: string;
  yanked: boolean;
  /** The API key that pushed it: the server answers an identical re-push with the same key with 200. */
  pushedBy?: string;
  size?: number;
  summary?: string;
  authors?: string[];
  licenses?: string[];
  createdAt?: string;
  /** The Sigstore bundles verified with the push (Version#attestations). */
  attestations?: unknown[];
}

export interface RubyGems {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Gemcutter::HOST, which the `aud` claim must equal. Mutable. */
  audience: string;
  /** Mutable. Keys keep the publisher object that was current when they were minted (its own gems list stays live). */
  publisher: GemPublisher;
  keyLifetimeSeconds: number;
  /** API keys handed out. */
  minted: string[];
  /** Exchange requests received, faulted ones included. */
  exchanges: number;
  /** Every push attempt that got past the fault queue. */
  pushes: ReceivedPush[];
  /** Key `${name}-${version}-${platform}`. */
  versions: Map<string, StoredVersion>;
  /** Gems that exist on the server besides those with stored versions (for the gem info endpoint). */
  existingGems: Set<string>;
  /** Consumed one per request, before normal handling (`index`: the reads installers make). */
  faults: { exchange: Fault[]; push: Fault[]; versions: Fault[]; index: Fault[] };
  /** How long after a push its version shows in the compact index (`info`) and the versions JSON API. */
  readDelayMs: { info: number; versionsJson: number };
  /** Whether the server has a compact index (/versions, /info/<gem>); older servers only the JSON API. */
  compactIndex: boolean;
  /** The reads installers make (compact index, versions JSON), with the credentials they carried. */
  reads: ReadRequest[];
  /** Marks a stored version yanked (throws when it is not stored). */
  yank(name: string, version: string, platform?: string): void;
  close(): Promise<void>;
}

export const defaultPublisher = (): GemPublisher => ({
  owner: 'octo-org',
  ownerId: '1234567',
  repository: 'tp-sample',
  workflow: 'release.yml',
  environment: 'release',
  gems: ['tp_sample'],
});

/** What a registry client put on the wire, for comparing `gem push` with the action. */
export function pushSignature(p: ReceivedPush): {
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  sha256: string;
  length: number;
} {
  return {
    path: p.path,
    authorization: p.headers.authorization,
    contentType: p.headers['content-type'],
    sha256: p.sha256,
    length: p.body.length,
  };
}

// Real texts. config/locales/en.yml `please_sign_up`, used by Api::BaseController#render_unauthorized.
export const ACCESS_DENIED = 'Access Denied. Please sign up for an account at https://rubygems.org';
// app/models/pusher.rb #notify_unauthorized (API key owned by a trusted publisher).
export const NOT_ALLOWED = 'You are not allowed to push this gem.';
// app/models/pusher.rb #republish_notification (indexed version).
export const REPUSH_NOT_ALLOWED =
  'Repushing of gem versions is not allowed.\n' +
  'Please bump the version number and push a new different release.\n' +
  'See also `gem yank` if you want to unpublish the bad release.';
// app/models/pusher.rb #republish_notification (yanked version).
export const yankedExists = (fullName: string, differentOwner: boolean): string =>
  `A yanked version ${differentOwner ? 'pushed by a previous owner of this gem ' : ''}already exists (${fullName}).\n` +
  'Repushing of gem versions is not allowed. Please use a new version and retry';
// app/models/pusher.rb #notify_gem_processing_error: a heredoc, hence the final newline.
export const cannotProcess = (detail?: string): string =>
  'RubyGems.org cannot process this gem.\n' +
  "Please try rebuilding it and installing it locally to make sure it's valid." +
  (detail === undefined ? '' : `\nError:\n${detail.length > 500 ? `${detail.slice(0, 497)}...` : detail}`) +
  '\n';
// app/models/pusher.rb #find, after the name lookup (Rubygem.name_is is case-insensitive).
const CASE_CHANGE =
  'Unable to change case of gem name with indexed versions\nPlease delete all versions first with `gem yank`.';
// app/controllers/api/v2/versions_controller.rb and config/locales/en.yml `api_gem_not_found`.
const VERSION_NOT_FOUND = 'This version could not be found.';
const GEM_NOT_FOUND = 'This gem could not be found';

/** nginx's client_max_body_size in front of the app. */
const MAX_BODY = 500 * 1024 * 1024;

const html = (title: string, heading: string): string =>
  `<!DOCTYPE html>\n<html lang="en">\n  <head>\n    <title>${title} | RubyGems.org</title>\n  </head>\n` +
  `  <body>\n    <h1>${heading}</h1>\n  </body>\n</html>\n`;

/** `any` is `*\/*`: Rails then answers with the first format the action declares. */
type Format = 'html' | 'json' | 'yaml' | 'any' | 'other';

/**
 * Rails' choice of response format: a path extension wins, then a non-browser Accept header (in q order);
 * no Accept or a browser-like list means HTML.
 */
function requestFormat(req: http.IncomingMessage, extension: string | undefined): Format {
  if (extension === 'json' || extension === 'yaml') return extension;
  const accept = req.headers.accept?.trim();
  if (!accept || /,\s*\*\/\*|\*\/\*\s*,/.test(accept)) return 'html';
  const types = accept
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? '1');
      return { type, q: Number.isNaN(q) ? 0 : q, index };
    })
    .filter((t) => t.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  const first = types[0]?.type;
  if (first === undefined) return 'html';
  if (first === '*/*') return 'any';
  if (first === 'text/html' || first === 'application/xhtml+xml') return 'html';
  if (['application/json', 'text/x-json', 'application/jsonrequest'].includes(first)) return 'json';
  if (first === 'application/x-yaml' || first === 'text/yaml') return 'yaml';
  return 'other';
}

/** ApplicationController#render_not_found: the one answer for every failed exchange. */
function notFound(res: http.ServerResponse, format: Format): void {
  if (format === 'json') sendJson(res, 404, { error: 'Not Found' });
  // `{ error: t(:not_found) }.to_yaml` keeps Ruby's symbol key.
  else if (format === 'yaml')
    send(res, 404, '---\n:error: Not Found\n', { 'content-type': 'application/x-yaml' });
  else if (format === 'other') send(res, 404, 'Not Found');
  else
    send(res, 404, html('Page not found', 'Page not found.'), { 'content-type': 'text/html; charset=utf-8' });
}

/** Api::BaseController#render_bad_request: JSON whatever the Accept header says. */
const badRequest = (res: http.ServerResponse, error: string): void => sendJson(res, 400, { error });

const mediaType = (req: http.IncomingMessage): string =>
  (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/** The `jwt` request parameter the way Rails builds params: JSON and form bodies are parsed, others are not. */
function jwtParam(req: http.IncomingMessage, body: Buffer): string | undefined | 'unparsable' {
  let value: unknown;
  const type = mediaType(req);
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return 'unparsable';
    }
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      value = (parsed as Record<string, unknown>).jwt;
    }
  } else if (type === 'application/x-www-form-urlencoded') {
    value = new URLSearchParams(body.toString('utf8')).get('jwt') ?? undefined;
  }
  // params.expect(:jwt) wants a non-blank scalar.
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

const publisherName = (p: GemPublisher): string =>
  `GitHub Actions ${p.owner}/${p.repository} @ .github/workflows/${p.workflow}` +
  (p.environment ? ` (${p.environment})` : '');

/**
 * OIDC::TrustedPublisher::GitHubAction.for_claims followed by its access policy: every comparison is exact
 * (PostgreSQL `=` and Ruby `==`), so owner or repository case differences never match.
 */
function publisherMatches(p: GemPublisher, claims: Claims, audience: string): boolean {
  const { repository, job_workflow_ref: jobWorkflowRef, environment } = claims;
  if (typeof repository !== 'string' || typeof jobWorkflowRef !== 'string') return false;
  const slash = repository.indexOf('/');
  const [owner, name] =
    slash < 0 ? [repository, ''] : [repository.slice(0, slash), repository.slice(slash + 1)];
  const match = /^([^/]+)\/([^/]+)\/\.github\/workflows\/([^@]+)@/.exec(jobWorkflowRef);
  if (!match) return false;
  const [, workflowOwner, workflowName, workflowFile] = match;
  if (p.owner !== owner || p.repository !== name || p.workflow !== workflowFile) return false;
  // A string column compared with a string claim; a numeric claim fails the policy's `==`.
  if (claims.repository_owner_id !== p.ownerId) return false;
  const sameRepo = workflowOwner === owner && workflowName === name;
  if (sameRepo ? p.workflowRepository : p.workflowRepository !== `${workflowOwner}/${workflowName}`)
    return false;
  // A job with an environment matches publishers with that environment or none; a job without one, only none.
  if (environment !== undefined && environment !== null && environment !== false) {
    if (p.environment && p.environment !== environment) return false;
  } else if (p.environment) {
    return false;
  }
  if (claims.aud !== audience || claims.iss !== GITHUB_ISSUER) return false;
  // The policy rebuilds job_workflow_ref from the publisher and a ref taken from the claims.
  const slug = `${p.workflowRepository ?? `${p.owner}/${p.repository}`}/.github/workflows/${p.workflow}@`;
  const refs = p.workflowRepository
    ? [
        jobWorkflowRef.startsWith(slug) ? jobWorkflowRef.slice(slug.length) : undefined,
        claims.job_workflow_sha,
      ]
    : [claims.ref, claims.sha];
  return refs.some((ref) => typeof ref === 'string' && ref !== '' && jobWorkflowRef === `${slug}${ref}`);
}

interface GemSpec {
  name: string;
  version: string;
  platform: string;
  summary: string;
  authors: string[];
  licenses: string[];
}

/** GemValidator raises these; the pusher turns them into the 422 text with the message as detail. */
class InvalidGem extends Error {}

/** Gem::Package::TarHeader.strict_oct on the first header, so a non-tar body fails with RubyGems' own words. */
function tarHeaderProblem(body: Buffer): string | undefined {
  const header = body.subarray(0, 512);
  const fields: [number, number][] = [
    [100, 8],
    [108, 8],
    [116, 8],
    [124, 12],
    [136, 12],
    [148, 8],
  ];
  for (const [offset, length] of fields) {
    // unpack('A') drops trailing NULs and spaces.
    const raw = header
      .subarray(offset, offset + length)
      .toString('latin1')
      .replace(/[\0 ]+$/, '');
    if (!/^[0-7]*$/.test(raw.trim())) return `${JSON.stringify(raw)} is not an octal string`;
  }
  return undefined;
}

async function tarEntries(body: Buffer): Promise<{ name: string; data: Buffer }[]> {
  // node-tar would gunzip a compressed stream; RubyGems' TarReader reads the bytes as they are.
  if (body[0] === 0x1f && body[1] === 0x8b) throw new InvalidGem('not a tar archive: gzip data');
  // TarReader stops at end of input or at an all-zero header, before reading any field.
  if (body.subarray(0, 512).every((b) => b === 0)) return [];
  const octal = tarHeaderProblem(body);
  if (octal) throw new InvalidGem(octal);
  return new Promise((resolve, reject) => {
    const entries: { name: string; data: Buffer }[] = [];
    const parser = new Parser({ strict: true });
    parser.on('entry', (entry: ReadEntry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => entries.push({ name: entry.path, data: Buffer.concat(chunks) }));
    });
    parser.on('error', (err: Error) => reject(new InvalidGem(err.message)));
    parser.on('end', () => resolve(entries));
    parser.end(body);
  });
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function gunzip(data: Buffer, name: string): string {
  try {
    return gunzipSync(data).toString('utf8');
  } catch (err) {
    throw new InvalidGem(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const VERSION_PATTERN = /^([0-9]+(?:\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?$/;
const NAME_PATTERN = /^(?=.*[a-zA-Z])[a-zA-Z0-9][a-zA-Z0-9._-]*$/;

/** The gemspec YAML checked against GemValidator::Schema::SPECIFICATION's required parts. */
function parseSpec(yamlText: string): GemSpec {
  const doc = parseDocument(yamlText, { logLevel: 'silent' });
  if (doc.errors.length > 0) throw new InvalidGem(`invalid YAML syntax: ${doc.errors[0]?.message ?? ''}`);
  const root = doc.contents as { tag?: string } | null;
  if (root?.tag !== '!ruby/object:Gem::Specification') {
    throw new InvalidGem('gemspec validation failed: expected tag !ruby/object:Gem::Specification');
  }
  const versionNode = doc.get('version', true) as { tag?: string } | undefined;
  const spec = doc.toJS() as Record<string, unknown>;
  const fail = (what: string): never => {
    throw new InvalidGem(`gemspec validation failed: ${what}`);
  };
  for (const key of ['name', 'version', 'summary', 'authors']) if (!(key in spec)) fail(`missing ${key}`);
  const { name, version, summary, authors, platform, licenses } = spec;
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) fail('invalid name');
  const number = (version as { version?: unknown } | null)?.version;
  if (
    versionNode?.tag !== '!ruby/object:Gem::Version' ||
    typeof number !== 'string' ||
    !VERSION_PATTERN.test(number)
  ) {
    fail('invalid version');
  }
  if (typeof summary !== 'string') fail('invalid summary');
  if (!Array.isArray(authors) || authors.length === 0) fail('authors must not be empty');
  // The schema takes a string or null; Gem::Platform objects are refused.
  if (platform !== null && platform !== undefined && typeof platform !== 'string') fail('invalid platform');
  return {
    name: name as string,
    version: number as string,
    platform: typeof platform === 'string' && platform !== '' ? platform : 'ruby',
    summary: summary as string,
    authors: (authors as unknown[]).map(String),
    licenses: Array.isArray(licenses) ? licenses.map(String) : [],
  };
}

/** GemValidator::Package.validate: entries, required files, SHA256 checksums. */
async function readGem(body: Buffer): Promise<GemSpec> {
  const entries = await tarEntries(body);
  if (entries.length === 0) throw new InvalidGem('gem package contains no entries');
  let spec: GemSpec | undefined;
  let checksums: Record<string, unknown> | undefined;
  const calculated = new Map<string, string>();
  const signatures = new Set<string>();
  for (const { name, data } of entries) {
    if (name === 'metadata' || name === 'metadata.gz') {
      if (spec) throw new InvalidGem(`duplicate metadata file: already processed metadata, found ${name}`);
      spec = parseSpec(name === 'metadata.gz' ? gunzip(data, name) : data.toString('utf8'));
      calculated.set(name, sha256(data));
    } else if (name === 'data.tar.gz') {
      if (calculated.has(name)) throw new InvalidGem('duplicate data.tar.gz file found');
      calculated.set(name, sha256(data));
    } else if (name === 'checksums.yaml.gz') {
      if (checksums) throw new InvalidGem('duplicate checksums.yaml.gz file found');
      const parsed = parseDocument(gunzip(data, name), { logLevel: 'silent' }).toJS() as unknown;
      const sha = (parsed as { SHA256?: unknown } | null)?.SHA256;
      if (sha === null || typeof sha !== 'object') {
        throw new InvalidGem('checksums validation failed: missing SHA256');
      }
      checksums = { ...(sha as Record<string, unknown>), [name]: sha256(data) };
      calculated.set(name, sha256(data));
    } else if (name.endsWith('.sig')) {
      if (signatures.has(name)) throw new InvalidGem('duplicate signatures files found');
      signatures.add(name);
    } else {
      throw new InvalidGem(`unexpected gem file entry: ${JSON.stringify(name)}`);
    }
  }
  if (!spec) throw new InvalidGem('missing metadata.gz file');
  if (!calculated.has('data.tar.gz')) throw new InvalidGem('missing data.tar.gz file');
  if (checksums) {
    for (const [file, hex] of calculated) {
      const reported = checksums[file];
      if (reported === undefined)
        throw new InvalidGem(`expected checksum for ${JSON.stringify(file)} but found none`);
      if (reported !== hex) {
        throw new InvalidGem(`expected ${JSON.stringify(file)} to have ${hex} but was ${String(reported)}`);
      }
    }
  }
  return spec;
}

const versionKey = (name: string, version: string, platform: string): string =>
  `${name}-${version}-${platform}`;

/** Version#full_name; Version#to_title is `name (slug)`. */
const fullName = (name: string, version: string, platform: string): string =>
  platform === 'ruby' ? `${name}-${version}` : `${name}-${version}-${platform}`;
const title = (name: string, version: string, platform: string): string =>
  `${name} (${platform === 'ruby' ? version : `${version}-${platform}`})`;

interface ApiKey {
  owner: GemPublisher;
  expiresAt: number;
}

/** A multipart form's files and text fields, as Rack parses them (a part without a filename is a field). */
function readForm(
  headers: http.IncomingHttpHeaders,
  body: Buffer,
): Promise<{ files: Record<string, Buffer>; fields: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const files: Record<string, Buffer> = {};
    const fields: Record<string, string> = {};
    const parser = Busboy({ headers, limits: { fieldSize: MAX_BODY } });
    parser.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        files[name] = Buffer.concat(chunks);
      });
    });
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('error', reject);
    parser.on('close', () => resolve({ files, fields }));
    parser.end(body);
  });
}

/** The Ruby class name of a decoded JSON value, for the controller's message. */
const rubyClass = (value: unknown): string =>
  value === null
    ? 'NilClass'
    : typeof value === 'string'
      ? 'String'
      : typeof value === 'number'
        ? Number.isInteger(value)
          ? 'Integer'
          : 'Float'
        : typeof value === 'boolean'
          ? `${value ? 'True' : 'False'}Class`
          : 'Hash';

export async function startRubyGems(opts: {
  issuer: Issuer;
  publisher?: Partial<GemPublisher>;
  audience?: string;
  /**
   * The Sigstore trust root a push's attestations are verified against (RubyGems.org uses the public-good one).
   * Without it an `attestations` part is read (its form checked) but not verified, and nothing is stored.
   */
  trustedRoot?: TrustedRoot;
}): Promise<RubyGems> {
  const keys = new Map<string, ApiKey>();

  async function exchange(req: http.IncomingMessage, res: http.ServerResponse, extension?: string) {
    rg.exchanges++;
    if (fault(rg.faults.exchange, req, res, { 'content-type': 'application/json' })) return;
    const format = requestFormat(req, extension);
    const body = (await readBody(req, MAX_BODY)) ?? Buffer.alloc(0);
    const jwt = jwtParam(req, body);
    if (jwt === 'unparsable') {
      // ActionDispatch's ParseError goes to the public exceptions app, which answers in the request's format.
      if (format === 'json') return sendJson(res, 400, { status: 400, error: 'Bad Request' });
      return send(res, 400, html('Bad request', 'Bad request.'), {
        'content-type': 'text/html; charset=utf-8',
      });
    }
    if (jwt === undefined) return badRequest(res, "Request is missing param 'jwt'");

    // JwtValidation#decode_jwt and #validate_jwt_format run before any signature check and answer 400.
    const segments = jwt.split('.').length;
    if (segments !== 3 && segments !== 5) {
      return badRequest(res, 'Invalid JWT Format. JWT should include 3 or 5 segments.');
    }
    let unverified: Claims;
    try {
      unverified = decodeJwt(jwt);
    } catch (err) {
      if (segments === 5) return notFound(res, format);
      return badRequest(res, err instanceof Error ? err.message : String(err));
    }
    for (const claim of ['nbf', 'iat', 'exp']) {
      if (!Number.isInteger(unverified[claim])) return badRequest(res, `Missing/invalid ${claim}`);
    }
    for (const claim of ['iss', 'jti']) {
      if (typeof unverified[claim] !== 'string') return badRequest(res, `Missing/invalid ${claim}`);
    }

    // Time, issuer, signature, publisher and policy failures all end in render_not_found, with no reason.
    let claims: Claims;
    try {
      claims = await opts.issuer.verify(jwt, rg.audience);
    } catch {
      return notFound(res, format);
    }
    const owner = rg.publisher;
    if (!publisherMatches(owner, claims, rg.audience)) return notFound(res, format);

    const key = `rubygems_${randomBytes(24).toString('hex')}`;
    const expiresAt = Date.now() + rg.keyLifetimeSeconds * 1000;
    keys.set(key, { owner, expiresAt });
    rg.minted.push(key);
    const iat = new Date(Number(claims.iat) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    sendJson(res, 201, {
      rubygems_api_key: key,
      name: `${publisherName(owner)} ${iat}`,
      scopes: ['push_rubygem'],
      expires_at: new Date(expiresAt).toISOString(),
    });
  }

  /** Everything Pusher#process decides, in its order: pull_spec, find, authorize. */
  async function decidePush(
    apiKey: string,
    owner: GemPublisher,
    body: Buffer,
    digest: string,
    attestations: unknown[] | undefined,
  ) {
    let spec: GemSpec;
    try {
      spec = await readGem(body);
    } catch (err) {
      if (err instanceof InvalidGem) return { status: 422, answer: cannotProcess(err.message) };
      return { status: 422, answer: cannotProcess() };
    }
    const { name, version, platform } = spec;
    const sameGem = [...rg.versions.values()].filter((v) => v.name.toLowerCase() === name.toLowerCase());
    const gemName = sameGem[0]?.name ?? name;
    const existing = sameGem.find((v) => v.version === version && v.platform === platform);
    if (existing) {
      // find_or_initialize_by includes sha256, size and pusher_api_key: only the same bytes from the same key.
      if (!existing.yanked && existing.pushedBy === apiKey && existing.sha256 === digest) {
        return { status: 200, answer: `Gem was already pushed: ${title(gemName, version, platform)}` };
      }
      if (!existing.yanked) return { status: 409, answer: REPUSH_NOT_ALLOWED };
      const owns = owner.gems.includes(gemName);
      return { status: 409, answer: yankedExists(fullName(existing.name, version, platform), !owns) };
    }
    if (gemName !== name && sameGem.some((v) => !v.yanked)) return { status: 409, answer: CASE_CHANGE };
    if (!owner.gems.includes(gemName)) return { status: 403, answer: NOT_ALLOWED };
    // Pusher#validate ends with verify_sigstore, before the version is saved.
    let verified: unknown[] | undefined;
    if (attestations?.length && opts.trustedRoot) {
      try {
        verified = verifyGemAttestations(attestations, {
          gem: body,
          trustedRoot: opts.trustedRoot,
          trusted: true,
          policy: {
            workflowRepository: owner.workflowRepository ?? `${owner.owner}/${owner.repository}`,
            workflow: owner.workflow,
          },
        });
      } catch (err) {
        if (!(err instanceof GemAttestationError)) throw err;
        return { status: err.status, answer: err.message };
      }
    }
    rg.versions.set(versionKey(name, version, platform), {
      ...(verified ? { attestations: verified } : {}),
      name,
      version,
      platform,
      sha256: digest,
      yanked: false,
      pushedBy: apiKey,
      size: body.length,
      summary: spec.summary,
      authors: spec.authors,
      licenses: spec.licenses,
      createdAt: new Date().toISOString(),
    });
    // The gem takes the pushed name's case (allowed only when no indexed version exists).
    for (const v of sameGem.filter((v) => v.name !== name)) {
      rg.versions.delete(versionKey(v.name, v.version, v.platform));
      v.name = name;
      rg.versions.set(versionKey(v.name, v.version, v.platform), v);
    }
    return { status: 200, answer: `Successfully registered gem: ${title(name, version, platform)}` };
  }

  async function push(req: http.IncomingMessage, res: http.ServerResponse) {
    if (fault(rg.faults.push, req, res)) return;
    const path = req.url ?? '';
    const finish = (status: number, answer: string, body: Buffer, headers: http.OutgoingHttpHeaders = {}) => {
      rg.pushes.push({ path, headers: req.headers, body, sha256: sha256(body), status, answer });
      send(res, status, answer, headers);
    };
    // Not the real server (nginx takes chunked bodies): clients are held to sending a Content-Length.
    if (req.headers['content-length'] === undefined) {
      req.resume();
      await new Promise((resolve) => req.once('end', resolve));
      return finish(411, 'Length Required', Buffer.alloc(0));
    }
    const body = await readBody(req, MAX_BODY);
    if (body === undefined) {
      const nginx =
        '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n</body>\r\n</html>\r\n';
      return finish(413, nginx, Buffer.alloc(0), { 'content-type': 'text/html' });
    }
    // Api::BaseController#authenticate_with_api_key: the raw header, hashed, among unexpired keys.
    const apiKey = req.headers.authorization ?? '';
    const found = keys.get(apiKey);
    if (!found || found.expiresAt <= Date.now()) return finish(401, ACCESS_DENIED, body);
    // rubygems_controller.rb#create: a multipart form carries the gem file and an `attestations` JSON list.
    let gem = body;
    let attestations: unknown[] | undefined;
    if (/^multipart\/(form-data|mixed)/i.test(req.headers['content-type'] ?? '')) {
      const form = await readForm(req.headers, body);
      if (!form.files.gem) return finish(400, 'gem is not a file upload', body);
      const field = form.fields.attestations;
      if (typeof field !== 'string') return finish(400, 'missing attestations', body);
      let decoded: unknown;
      try {
        decoded = JSON.parse(field);
      } catch {
        return finish(500, 'Server error. Please try again.', body);
      }
      if (!Array.isArray(decoded))
        return finish(400, `attestations must be an array, is ${rubyClass(decoded)}`, body);
      gem = form.files.gem;
      attestations = decoded;
    }
    const { status, answer } = await decidePush(apiKey, found.owner, gem, sha256(gem), attestations);
    finish(status, answer, body);
  }

  function showVersion(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    if (fault(rg.faults.versions, req, res)) return;
    const match = /^\/api\/v2\/rubygems\/([^/]+)\/versions\/([^/]+?)(?:\.(json|yaml))?$/.exec(url.pathname);
    const gem = decodeURIComponent(match?.[1] ?? '');
    const number = decodeURIComponent(match?.[2] ?? '');
    const all = [...rg.versions.values()];
    // Rubygem.find_by(name:) is exact; public versions leave out yanked ones.
    if (!all.some((v) => v.name === gem)) return send(res, 404, GEM_NOT_FOUND);
    const platform = url.searchParams.get('platform');
    const v = all.find(
      (v) =>
        v.name === gem && v.version === number && !v.yanked && (platform === null || v.platform === platform),
    );
    if (!v) return send(res, 404, VERSION_NOT_FOUND);
    // respond_to declares json then yaml, and YAML is not emulated.
    const format = requestFormat(req, match?.[3]);
    if (format !== 'json' && format !== 'any') return send(res, 406, 'Not Acceptable');
    const file = `${fullName(v.name, v.version, v.platform)}.gem`;
    // Rubygem#payload merged with Version#payload, as public_version_payload builds it.
    sendJson(res, 200, {
      name: v.name,
      downloads: 0,
      version: v.version,
      version_created_at: v.createdAt ?? null,
      version_downloads: 0,
      platform: v.platform,
      authors: v.authors?.join(', ') ?? null,
      info: v.summary ?? null,
      licenses: v.licenses ?? [],
      metadata: {},
      yanked: false,
      sha: v.sha256,
      spec_sha: null,
      project_uri: `${rg.url}/gems/${v.name}`,
      gem_uri: `${rg.url}/gems/${file}`,
      created_at: v.createdAt ?? null,
      number: v.version,
      summary: v.summary ?? null,
      prerelease: /[a-zA-Z]/.test(v.version),
    });
  }

  const isIndexRead = (path: string): boolean =>
    path === '/versions' || path.startsWith('/info/') || /^\/api\/v1\/versions\/[^/]+\.json$/.test(path);

  /** The compact index Bundler reads (/versions, /info/<gem>) and the versions JSON API, each with its lag. */
  function indexRead(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    logRead(rg.reads, req, path);
    if (fault(rg.faults.index, req, res)) return;
    const shown = (name: string, delay: number) =>
      [...rg.versions.values()].filter(
        (v) => v.name === name && !v.yanked && visibleOn(Date.parse(v.createdAt ?? ''), delay),
      );
    const slug = (v: StoredVersion) => (v.platform === 'ruby' ? v.version : `${v.version}-${v.platform}`);
    if (path === '/versions' || path.startsWith('/info/')) {
      if (!rg.compactIndex) return send(res, 404, 'Not Found');
      if (path === '/versions') return send(res, 200, `created_at: ${new Date().toISOString()}\n---\n`);
      const versions = shown(decodeURIComponent(path.slice('/info/'.length)), rg.readDelayMs.info);
      if (versions.length === 0) return send(res, 404, 'This gem could not be found');
      return send(res, 200, `---\n${versions.map((v) => `${slug(v)} |checksum:${v.sha256}\n`).join('')}`);
    }
    const name = decodeURIComponent(path.slice('/api/v1/versions/'.length, -'.json'.length));
    const versions = shown(name, rg.readDelayMs.versionsJson);
    if (versions.length === 0) return send(res, 404, 'This rubygem could not be found.');
    sendJson(
      res,
      200,
      versions.map((v) => ({ number: v.version, platform: v.platform, sha: v.sha256 })),
    );
  }

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://rubygems');
    const exchangeRoute = /^\/api\/v1\/oidc\/trusted_publisher\/exchange_token(?:\.(json|yaml))?$/.exec(
      url.pathname,
    );
    if (req.method === 'POST' && exchangeRoute) return exchange(req, res, exchangeRoute[1]);
    if (req.method === 'POST' && /^\/api\/v1\/gems(?:\.(json|yaml))?$/.test(url.pathname))
      return push(req, res);
    if (req.method === 'GET' && url.pathname.startsWith('/api/v2/rubygems/'))
      return showVersion(req, res, url);
    req.resume();
    if (req.method === 'GET' && isIndexRead(url.pathname)) return indexRead(req, res, url.pathname);
    const gemJson = /^\/api\/v1\/gems\/([^/]+)\.json$/.exec(url.pathname);
    if (req.method === 'GET' && gemJson?.[1]) {
      const name = decodeURIComponent(gemJson[1]);
      const exists = rg.existingGems.has(name) || [...rg.versions.values()].some((v) => v.name === name);
      // Api::V1::RubygemsController#show
      return exists
        ? send(res, 200, JSON.stringify({ name }), { 'content-type': 'application/json' })
        : send(res, 404, 'This rubygem could not be found.');
    }
    send(res, 404, 'Not Found');
  });

  const rg: RubyGems = {
    url: server.origin,
    audience: opts.audience ?? 'rubygems.org',
    publisher: { ...defaultPublisher(), ...opts.publisher },
    keyLifetimeSeconds: 900,
    minted: [],
    exchanges: 0,
    pushes: [],
    versions: new Map(),
    existingGems: new Set(),
    faults: { exchange: [], push: [], versions: [], index: [] },
    readDelayMs: { info: 0, versionsJson: 0 },
    compactIndex: true,
    reads: [],
    yank(name, version, platform = 'ruby') {
      const v = rg.versions.get(versionKey(name, version, platform));
      if (!v) throw new Error(`no stored version ${versionKey(name, version, platform)}`);
      v.yanked = true;
    },
    close: server.close,
  };
  // A (non-pending) publisher is attached to existing gems.
  for (const gem of rg.publisher.gems) rg.existingGems.add(gem);
  return rg;
}
