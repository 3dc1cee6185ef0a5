// A PyPI (Warehouse) emulator: OIDC audience + mint-token and the legacy upload API, with Warehouse's checks,
// check order and texts (warehouse/oidc/{views,services}.py, oidc/models/{_core,github}.py,
// forklift/{legacy,forms,metadata,decorators}.py, macaroons/caveats). It never unpacks the uploaded archive.
import { createHash, randomBytes } from 'node:crypto';
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import busboy from 'busboy';
import { createBLAKE2b, type IHasher } from 'hash-wasm';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, type JWTPayload, jwtVerify } from 'jose';
import { type Fault, fault, listen, readBody, send, sendJson, visibleOn } from './http.ts';
import {
  CIRCLECI_ISSUER,
  type CircleCiIssuer,
  type CircleCiPublisher,
  type Claims,
  ciConfigPath,
  defaultCircleCiPublisher,
  defaultGitLabPublisher,
  GITHUB_ISSUER,
  GITLAB_ISSUER,
  type GitLabIssuer,
  type GitLabPublisher,
  type Issuer,
  projectParts,
} from './issuer.ts';
import { AttestationUploadError, checkUploadAttestations, type Pep740Attestation } from './pep740.ts';
import { isControl, normalizeName, parseVersion, pyRepr } from './python.ts';

export interface Publisher {
  /** Repository name without the owner. */
  repository: string;
  owner: string;
  ownerId: string;
  /** Workflow file name, e.g. release.yml. */
  workflow: string;
  environment?: string;
  projects: string[];
}

export interface ReceivedUpload {
  /** Every non-file part, in arrival order, repeated names kept. */
  fields: [string, string][];
  /** The first file part; null when the request carried none (or was refused before its body was read). */
  file: {
    field: string;
    filename: string;
    contentType: string;
    size: number;
    sha256: string;
    blake2_256: string;
  } | null;
  headers: IncomingHttpHeaders;
  status: number;
  /** When the request arrived and when it was answered (ms). */
  startedAt: number;
  answeredAt: number;
}

export interface StoredFile {
  /** Normalized project name. */
  project: string;
  /** When it was stored (ms); read endpoints show it `readDelayMs` later. Absent: shown at once. */
  storedAt?: number;
  version: string;
  sha256: string;
  blake2_256: string;
  filetype: string;
}

export interface PyPI {
  origin: string;
  /** origin + '/legacy/'. */
  uploadUrl: string;
  publisher: Publisher;
  /** The project's GitLab publisher (Warehouse's GitLabPublisher); used when `gitlab` was given. Mutable. */
  gitlabPublisher: GitLabPublisher;
  /** The project's CircleCI publisher (Warehouse's CircleCIPublisher); used when `circleci` was given. Mutable. */
  circleciPublisher: CircleCiPublisher;
  audience: string;
  /** 403: trusted publishing disabled (mint answers 422 not-enabled, as Warehouse does); 404: no such routes. */
  audienceStatus: 200 | 403 | 404;
  tokenLifetimeSeconds: number;
  minted: string[];
  /** Every mint request, faulted ones included. */
  mintRequests: number;
  /** Milliseconds each upload is held before its answer (a real index's processing time). */
  uploadLatencyMs: number;
  /** Milliseconds each JSON API lookup is held before its answer (an index across the internet). */
  lookupLatencyMs: number;
  /** Uploads being handled now, and the most at once. */
  inFlight: { now: number; max: number };
  /** Upload faults apply once this many uploads were recorded (to meet a later upload of a release). */
  faultsAfterUploads: number;
  /** When each upload fault was served (ms). */
  faultedAt: number[];
  /** Files to refuse with 400 and this reason, whatever else holds. */
  refusals: Map<string, string>;
  /** Every request in arrival order, with the Authorization it carried. */
  /** Every request, with when it came (performance.now()). */
  requests: { method: string; path: string; authorization: string | undefined; at: number }[];
  /** Every upload that was not faulted and not sunk, with the status it got. */
  uploads: ReceivedUpload[];
  files: Map<string, StoredFile>;
  /** Projects that exist on the index (normalized names), besides those with stored files. */
  existingProjects: Set<string>;
  /** Consumed one per request before normal handling; a 'reset' upload dies after part of its body was read. */
  faults: { audience: Fault[]; mint: Fault[]; upload: Fault[]; lookup: Fault[]; simple: Fault[] };
  /** How long after an upload a file shows on the simple page (CDN purge) and in the JSON API, each its own. */
  readDelayMs: { simple: number; json: number };
  /**
   * More lag for some files, by name, on both reads: files show one by one, so an answer can list the sdist and
   * not yet the wheel, as a CDN purge that reached one file's page entry first.
   */
  laterMs: Map<string, number>;
  /** Sent as Retry-After with 429 faults. */
  retryAfterSeconds?: number;
  /** Benchmark mode: uploads are drained and answered 200, nothing checked, hashed or recorded. */
  sink: boolean;
  /**
   * Release metadata as Warehouse keeps it from the release's first upload, by `<project>@<version>`: the
   * extras come from the form field `provides_extra` (one per extra); a field of another name is ignored.
   */
  releases: Map<string, { provides_extra: string[]; created: number }>;
  /**
   * Moves a release's creation time `days` back, as if it had been made then: past 14 days Warehouse takes no
   * new files for it (MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS, pypi/warehouse#19727 and #20260).
   */
  ageRelease(project: string, version: string, days: number): void;
  /** The verified PEP 740 attestations stored with each file (Warehouse's provenance), by file name. */
  provenance: Map<string, Pep740Attestation[]>;
  /** A man in the middle for tests: rewrites an upload's `attestations` field before it is checked. */
  tamperAttestations?: (field: string, filename: string) => string;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
/** forklift/legacy.py's MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS. */
const MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS = 14;
const DAY_MS = 24 * 3600 * 1000;
const METADATA_HELP = 'https://packaging.python.org/specifications/core-metadata';
const LOCAL_VERSION_HELP =
  'https://packaging.python.org/en/latest/specifications/version-specifiers/#local-version-identifiers';

/** The JSON-body fields of a Warehouse mint failure. */
class MintError extends Error {
  constructor(
    readonly code: string,
    readonly description: string,
  ) {
    super(description);
  }
}

/** Warehouse's InvalidPublisherError: the claims match no publisher. */
class InvalidPublisher extends Error {}

/** A forklift `_exc_with_message`: the message goes in the status line and the body. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MACOS_ARCHES = new Set([
  'ppc',
  'ppc64',
  'i386',
  'x86_64',
  'arm64',
  'intel',
  'fat',
  'fat3',
  'fat64',
  'universal',
  'universal2',
]);
const LINUX_ARCHES = new Set(['x86_64', 'i686', 'aarch64', 'armv7l', 'ppc64le', 's390x', 'riscv64']);
const PLATFORMS = new Set([
  'any',
  'win32',
  'win_arm64',
  'win_amd64',
  'win_ia64',
  'manylinux1_x86_64',
  'manylinux1_i686',
  'manylinux2010_x86_64',
  'manylinux2010_i686',
  'manylinux2014_x86_64',
  'manylinux2014_i686',
  'manylinux2014_aarch64',
  'manylinux2014_armv7l',
  'manylinux2014_ppc64',
  'manylinux2014_ppc64le',
  'manylinux2014_s390x',
  'linux_armv6l',
  'linux_armv7l',
]);

/** forklift's _valid_platform_tag: PyPI refuses e.g. plain linux_x86_64 wheels. */
function validPlatform(tag: string): boolean {
  if (PLATFORMS.has(tag)) return true;
  const mac = /^macosx_(\d+)_(\d+)_(.*)$/.exec(tag);
  if (mac) {
    const [, major = '', minor, arch = ''] = mac;
    return (
      MACOS_ARCHES.has(arch) &&
      (major === '10' || (['11', '12', '13', '14', '15', '26'].includes(major) && minor === '0'))
    );
  }
  const linux = /^(many|musl)linux_\d+_\d+_(.*)$/.exec(tag);
  if (linux) return LINUX_ARCHES.has(linux[2] ?? '') || (linux[1] === 'many' && linux[2] === 'ppc64');
  const ios = /^ios_\d+_\d+_(.*)_(iphoneos|iphonesimulator)/.exec(tag);
  const android = /^android_\d+_(.*)/.exec(tag);
  return (
    ['arm64', 'x86_64'].includes(ios?.[1] ?? '') ||
    ['armeabi_v7a', 'arm64_v8a', 'x86', 'x86_64'].includes(android?.[1] ?? '') ||
    /^pyemscripten_\d+_\d+_wasm32/.test(tag)
  );
}

/**
 * The upload's fields as a sorted multiset of `name=value` (plus the file part as `field=@filename (type)`),
 * without md5_digest, which Warehouse no longer needs: to compare what two clients sent for the same file.
 */
export function partMultiset(u: ReceivedUpload): string[] {
  const parts = u.fields.filter(([name]) => name !== 'md5_digest').map(([name, value]) => `${name}=${value}`);
  if (u.file) parts.push(`${u.file.field}=@${u.file.filename} (${u.file.contentType})`);
  return parts.sort();
}

// Single-use metadata fields: a repeated one is "unparsed" by parse_form_metadata.
const STRING_FIELDS = new Set([
  'author',
  'author_email',
  'description',
  'description_content_type',
  'download_url',
  'home_page',
  'keywords',
  'license',
  'license_expression',
  'maintainer',
  'maintainer_email',
  'metadata_version',
  'name',
  'requires_python',
  'summary',
  'version',
]);
const METADATA_VERSIONS = ['1.0', '1.1', '1.2', '2.1', '2.2', '2.3', '2.4', '2.5'];
// Form field -> [core metadata name, metadata version that introduced it], for the fields of 2.1 and later.
const INTRODUCED: Record<string, [string, string]> = {
  description_content_type: ['description-content-type', '2.1'],
  provides_extra: ['provides-extra', '2.1'],
  dynamic: ['dynamic', '2.2'],
  license_expression: ['license-expression', '2.4'],
  license_file: ['license-file', '2.4'],
  import_name: ['import-name', '2.5'],
  import_namespace: ['import-namespace', '2.5'],
};

/** Pyramid's HTTPException page, in the type WebOb picks from Accept among html, json, then plain text. */
function page(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  detail = '',
  headers: OutgoingHttpHeaders = {},
): void {
  const explanations: Record<number, string> = {
    400: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
    403: 'Access was denied to this resource.',
    404: 'The resource could not be found.',
    411: 'Content-Length header required.',
  };
  const title = http.STATUS_CODES[status] ?? '';
  const reason = detail || title;
  const statusLine = `${status} ${reason}`;
  const ranges = (req.headers.accept ?? '*/*').split(',').map((range) => {
    const [type = '', ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return { type, q: q ? Number(q.slice(2)) : 1 };
  });
  const quality = (offer: string) =>
    [offer, `${offer.split('/')[0]}/*`, '*/*']
      .map((t) => ranges.find((r) => r.type === t)?.q)
      .find((q) => q !== undefined) ?? 0;
  const [html, json] = [quality('text/html'), quality('application/json')];
  const type = html === 0 && json === 0 ? 'text/plain' : json > html ? 'application/json' : 'text/html';
  const esc = (s: string) =>
    type === 'text/html' ? s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`) : s;
  const br = type === 'text/html' ? '<br/>' : '\n';
  const body = `${esc(explanations[status] ?? '')}${br}${br}\n${esc(detail)}\n\n`;
  const text =
    type === 'text/html'
      ? `<html>\n <head>\n  <title>${statusLine}</title>\n </head>\n <body>\n  <h1>${statusLine}</h1>\n  ${body}\n </body>\n</html>`
      : type === 'application/json'
        ? JSON.stringify({ message: body, code: statusLine, title })
        : `${statusLine}\n\n${body}`;
  send(res, status, text, { 'content-type': type, ...headers }, reason);
}

function refuse(status: number, message: string): never {
  throw new Refusal(status, message);
}

type Fields = [string, string][];
const values = (fields: Fields, name: string): string[] =>
  fields.filter(([n]) => n === name).map(([, v]) => v);

interface Parsed {
  fields: Fields;
  file?: NonNullable<ReceivedUpload['file']> & { md5: string };
  /** A form field other than content sent as a file part. */
  tupleField?: string;
}

/**
 * Idle BLAKE2b hashers: a WebAssembly instance per upload cost the emulator's one thread more than the
 * hashing, and both clients of the bench wait on that thread.
 */
const idleBlake2: IHasher[] = [];

/** Streams the multipart body through the hashes; the file is never buffered. */
async function parseUpload(req: IncomingMessage, maxFileSize: number): Promise<Parsed> {
  const blake2 = idleBlake2.pop() ?? (await createBLAKE2b(256));
  try {
    return await parseHashing(req, maxFileSize, blake2);
  } finally {
    idleBlake2.push(blake2);
  }
}

async function parseHashing(req: IncomingMessage, maxFileSize: number, blake2: IHasher): Promise<Parsed> {
  const parsed: Parsed = { fields: [] };
  const parser = busboy({
    headers: req.headers,
    preservePath: true,
    defParamCharset: 'utf8',
    limits: { fieldSize: 16 * MiB },
  });
  const hashing: Promise<unknown>[] = [];
  parser.on('field', (name, value) => parsed.fields.push([name, value]));
  parser.on('file', (name, stream, info) => {
    if (name !== 'content' || parsed.file) {
      if (name !== 'content' && name !== 'gpg_signature') parsed.tupleField ??= name;
      stream.resume();
      return;
    }
    const file = {
      field: name,
      filename: info.filename ?? '',
      contentType: info.mimeType,
      size: 0,
      sha256: '',
      blake2_256: '',
      md5: '',
    };
    parsed.file = file;
    const [md5, sha256] = [createHash('md5'), createHash('sha256')];
    blake2.init();
    stream.on('data', (chunk: Buffer) => {
      file.size += chunk.length;
      // Past the limit the answer is "too large" whatever the hashes say.
      if (file.size > maxFileSize) return;
      md5.update(chunk);
      sha256.update(chunk);
      blake2.update(chunk);
    });
    hashing.push(
      new Promise<void>((resolve) =>
        stream.once('close', () => {
          [file.md5, file.sha256, file.blake2_256] = [
            md5.digest('hex'),
            sha256.digest('hex'),
            blake2.digest('hex'),
          ];
          resolve();
        }),
      ),
    );
  });
  await new Promise((resolve, reject) => {
    parser.once('close', resolve);
    parser.once('error', reject);
    req.pipe(parser);
  });
  await Promise.all(hashing);
  return parsed;
}

/** The macaroon a request presents, as the security policy extracts it ('' when none). */
function presentedToken(authorization: string): string {
  const [scheme = '', credentials = ''] = authorization.split(/ (.*)/s);
  if (['token', 'bearer'].includes(scheme.toLowerCase())) return credentials;
  const [user, password = ''] = Buffer.from(credentials, 'base64').toString().split(/:(.*)/s);
  return scheme.toLowerCase() === 'basic' && user === '__token__' ? password.trim() : '';
}

/** forklift's UploadForm.validate() and the way file_upload words its first error. */
function checkForm(fields: Fields): { name: string; filetype: string } {
  const first = (name: string) => values(fields, name)[0] ?? '';
  const [name, filetype, pyversion] = [first('name'), first('filetype'), first('pyversion')];
  const errors = new Map<string, string>();
  if (!name) errors.set('name', 'This field is required.');
  else if (!/^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i.test(name)) {
    errors.set(
      'name',
      "Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'.",
    );
  }
  if (!filetype) errors.set('filetype', 'This field is required.');
  else if (!['sdist', 'bdist_wheel'].includes(filetype)) errors.set('filetype', 'Use a known file type.');
  for (const [field, label] of [
    ['sha256_digest', 'SHA256'],
    ['blake2_256_digest', 'BLAKE2'],
  ] as const) {
    const value = first(field);
    if (value && !/^[A-F0-9]{64}$/i.test(value))
      errors.set(field, `Use a valid, hex-encoded, ${label} message digest.`);
  }
  if (errors.size === 0) {
    if (filetype !== 'sdist' && !pyversion) {
      errors.set('pyversion', 'Python version is required for binary distribution uploads.');
    } else if (filetype === 'sdist' && pyversion && pyversion !== 'source') {
      errors.set('pyversion', "Use 'source' as Python version for an sdist.");
    } else if (!first('md5_digest') && !first('sha256_digest') && !first('blake2_256_digest')) {
      refuse(400, 'Error: Include at least one message digest.');
    }
  }
  const field = errors.has('name') ? 'name' : [...errors.keys()].sort()[0];
  if (field === undefined) return { name, filetype };
  const error = errors.get(field);
  if (field !== 'name') refuse(400, `Invalid value for ${field}. Error: ${error}`);
  const shown = name.length > 60 ? `${name.slice(0, 30)}...${name.slice(-30)}` : name;
  refuse(
    400,
    `${pyRepr(shown)} is an invalid value for Name. Error: ${error} See ${METADATA_HELP} for more information.`,
  );
}

/** metadata.parse(form_data=...) as forklift reports it; an empty value counts as absent. */
function checkMetadata(fields: Fields): NonNullable<ReturnType<typeof parseVersion>> {
  const first = (name: string) => values(fields, name)[0] || undefined;
  const errors: [string, string][] = [];
  const unparsed = [...new Set(fields.map(([n]) => n))].filter(
    (n) => STRING_FIELDS.has(n) && values(fields, n).length > 1,
  );
  const metadataVersion = first('metadata_version');
  const versionText = first('version');
  const version = versionText === undefined ? undefined : parseVersion(versionText);
  if (unparsed.length > 0) {
    for (const n of unparsed) errors.push([n, `${pyRepr(n)} has invalid data`]);
  } else {
    if (metadataVersion === undefined || !METADATA_VERSIONS.includes(metadataVersion)) {
      errors.push([
        'metadata-version',
        `${metadataVersion === undefined ? 'None' : pyRepr(metadataVersion)} is not a valid metadata version`,
      ]);
    } else {
      for (const [field, [emailName, since]] of Object.entries(INTRODUCED)) {
        if (first(field) && METADATA_VERSIONS.indexOf(since) > METADATA_VERSIONS.indexOf(metadataVersion)) {
          errors.push([
            emailName,
            `${emailName} introduced in metadata version ${since}, not ${metadataVersion}`,
          ]);
        }
      }
    }
    if (versionText === undefined) errors.push(['version', "'version' is a required field"]);
    else if (!version) errors.push(['version', `${pyRepr(versionText)} is invalid for 'version'`]);
    // Warehouse's own rules run only on metadata that packaging accepted.
    else if (errors.length === 0 && version.local) {
      errors.push(['version', `The use of local versions in ${pyRepr(version.text)} is not allowed.`]);
    }
  }
  const field =
    ['metadata-version', 'name', 'version'].find((f) => errors.some(([e]) => e === f)) ??
    errors.map(([f]) => f).sort()[0];
  const message = errors.find(([f]) => f === field)?.[1];
  if (message === undefined && version) return version;
  const help = message?.includes('use of local versions') ? LOCAL_VERSION_HELP : METADATA_HELP;
  refuse(400, `${message}${message?.endsWith('.') ? '' : '.'} See ${help} for more information.`);
}

/** forklift's _validate_filename. */
function checkExtension(filename: string, filetype: string): void {
  if ([...filename].some(isControl)) {
    refuse(
      400,
      'Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL character (ordinal 127) in the name.',
    );
  }
  if (/[/\\]/.test(filename)) refuse(400, "Cannot upload a file with '/' or '\\' in the name.");
  const extension = /^.+?(\.(tar\.gz|zip|whl))$/i.exec(filename)?.[1];
  if (!extension) {
    refuse(
      400,
      'Invalid file extension: Use .tar.gz, .whl or .zip extension. See https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for more information',
    );
  }
  if (!(filetype === 'sdist' ? ['.zip', '.tar.gz'] : ['.whl']).includes(extension)) {
    refuse(
      400,
      `Invalid file extension: Extension ${extension} is invalid for filetype ${filetype}. See https://www.python.org/dev/peps/pep-0527 for more information.`,
    );
  }
}

/** The sdist (PEP 625) and wheel (PEP 427) file name checks, against the project and the form's version. */
function checkFilename(
  filename: string,
  filetype: string,
  project: string,
  version: { text: string; key: string },
): void {
  const expectedStem = normalizeName(project).replace(/-/g, '_');
  const startWith = `Start filename for ${pyRepr(project)} with ${pyRepr(expectedStem)}.`;
  if (filetype === 'sdist') {
    const stem = filename.replace(/\.(tar\.gz|zip)$/, '');
    const dash = stem.lastIndexOf('-');
    if (dash < 0 || !parseVersion(stem.slice(dash + 1)))
      refuse(400, `Invalid source distribution filename: ${filename}`);
    if (normalizeName(stem.slice(0, dash)) !== normalizeName(project)) refuse(400, startWith);
    const expected = `${expectedStem}-${version.text}.tar.gz`;
    if (filename !== expected)
      refuse(400, `Filename ${pyRepr(filename)} is invalid, should be ${pyRepr(expected)}.`);
    return;
  }
  // packaging.utils.parse_wheel_filename quotes the name without its .whl.
  const stem = filename.slice(0, -'.whl'.length);
  const parts = stem.split('-');
  if (parts.length !== 5 && parts.length !== 6)
    refuse(400, `Invalid wheel filename (wrong number of parts): ${pyRepr(stem)}`);
  const [nameFromFilename = '', versionFromFilename = ''] = parts;
  if (nameFromFilename.includes('__') || !/^[\w.]*$/u.test(nameFromFilename))
    refuse(400, `Invalid project name: ${pyRepr(stem)}`);
  const fileVersion = parseVersion(versionFromFilename);
  if (!fileVersion) refuse(400, `Invalid wheel filename (invalid version): ${pyRepr(stem)}`);
  for (const platform of (parts.at(-1) ?? '').split('.')) {
    if (!validPlatform(platform))
      refuse(400, `Binary wheel '${filename}' has an unsupported platform tag '${platform}'.`);
  }
  if (normalizeName(nameFromFilename) !== normalizeName(project)) refuse(400, startWith);
  if (nameFromFilename !== expectedStem) {
    refuse(
      400,
      `Filename ${pyRepr(filename)} should contain the normalized project name ${pyRepr(expectedStem)}, not ${pyRepr(nameFromFilename)}.`,
    );
  }
  if (fileVersion.key !== version.key) {
    refuse(400, `Version in filename should be ${pyRepr(version.text)} not ${pyRepr(fileVersion.text)}.`);
  }
}

export async function startPyPI(opts: {
  issuer: Issuer;
  publisher?: Partial<Publisher>;
  /** GitLab's issuer, whose tokens the emulator then takes too. */
  gitlab?: GitLabIssuer;
  /** A CircleCI organization's issuer, whose tokens the emulator then takes too. */
  circleci?: CircleCiIssuer;
  audience?: string;
  maxFileSize?: number;
  /**
   * The Sigstore trust root attestations are verified against (Warehouse uses the public-good one). Without it
   * the emulator ignores the `attestations` field, as Warehouse does while its DISABLE_PEP740 flag is on (and
   * as one predating PEP 740 did): the file is accepted, no provenance is stored.
   */
  trustedRoot?: TrustedRoot;
}): Promise<PyPI> {
  const keySet = createRemoteJWKSet(new URL('/.well-known/jwks', opts.issuer.requestUrl));
  const maxFileSize = opts.maxFileSize ?? 100 * MiB;
  const tokens = new Map<
    string,
    { notBefore: number; expires: number; fromGitLab: boolean; fromCircleCi: boolean }
  >();
  const usedJti = new Set<string>();
  const now = () => Math.floor(Date.now() / 1000);

  /** OIDCPublisherService.verify_jwt_signature: undefined for any problem. */
  async function verifyJwt(jwt: string): Promise<JWTPayload | undefined> {
    try {
      // Warehouse finds the key by kid only.
      if (!decodeProtectedHeader(jwt).kid) return undefined;
      const { payload } = await jwtVerify(jwt, keySet, {
        algorithms: ['RS256'],
        issuer: GITHUB_ISSUER,
        audience: pypi.audience,
        requiredClaims: ['iss', 'iat', 'exp', 'aud'],
        clockTolerance: 30,
      });
      // PyJWT's strict_aud wants the audience alone, and verify_iat refuses a token issued in the future.
      if (typeof payload.aud !== 'string' || (payload.iat ?? 0) > now() + 30) return undefined;
      return payload;
    } catch {
      return undefined;
    }
  }

  /** GitHubPublisher.lookup_by_claims then verify_claims. */
  function checkPublisher(claims: Claims): void {
    // Required claims of GitHubPublisher, verifiable ones first.
    for (const name of [
      'repository',
      'repository_owner',
      'repository_owner_id',
      'job_workflow_ref',
      'jti',
      'event_name',
      'ref',
      'sha',
    ]) {
      if (claims[name] == null) throw new InvalidPublisher(`Missing claim ${pyRepr(name)}`);
    }
    const p = pypi.publisher;
    const [owner, name = ''] = String(claims.repository).split(/\/(.*)/s);
    const jobWorkflowRef = String(claims.job_workflow_ref);
    const workflow = /[^/]+\.(yml|yaml)(?=@)/.exec(jobWorkflowRef)?.[0];
    if (!workflow) throw new InvalidPublisher('Could not job extract workflow filename from OIDC claims');
    const environment = typeof claims.environment === 'string' ? claims.environment : '';
    // The lookup is an SQL equality on name, owner, owner id and workflow: case matters there, including for
    // the repository name, although the later claim check compares that one case-insensitively.
    const found =
      name === p.repository &&
      owner === p.owner &&
      String(claims.repository_owner_id) === p.ownerId &&
      workflow === p.workflow &&
      (!p.environment || p.environment.toLowerCase() === environment.toLowerCase());
    if (!found) throw new InvalidPublisher('Publisher with matching claims was not found');

    const slug = `${p.owner}/${p.repository}/.github/workflows/${p.workflow}`;
    const refs = [claims.ref, claims.sha].filter((r) => typeof r === 'string' && r !== '') as string[];
    if (refs.length === 0) throw new InvalidPublisher('The ref and sha claims are empty');
    const expected = [...new Set(refs.map((r) => `${slug}@${r}`))].sort();
    if (!expected.includes(jobWorkflowRef)) {
      throw new InvalidPublisher(
        `The job_workflow_ref claim does not match, expecting one of [${expected.map(pyRepr).join(', ')}], got ${pyRepr(jobWorkflowRef)}`,
      );
    }
    if (usedJti.has(String(claims.jti)))
      throw new MintError('invalid-reuse-token', 'invalid token: already used');
    if (claims.event_name === 'pull_request_target') {
      throw new InvalidPublisher(
        "Publishing from a workflow invoked via 'pull_request_target' is not supported.",
      );
    }
  }

  /** GitLab's ID tokens, verified as verifyJwt does GitHub's. */
  async function verifyGitLabJwt(jwt: string): Promise<JWTPayload | undefined> {
    try {
      const payload = await opts.gitlab?.verify(jwt, pypi.audience);
      return typeof payload?.aud === 'string' ? payload : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * GitLabPublisher.lookup_by_claims then verify_claims: namespace and project ignore case, the CI file path
   * is an SQL equality, the environment is compared exactly (a publisher without one takes any), and
   * ci_config_ref_uri must be exactly the publisher's file at the job's ref_path or sha.
   */
  function checkGitLabPublisher(claims: Claims): void {
    for (const name of ['sub', 'project_path', 'ci_config_ref_uri', 'ref_path', 'sha', 'jti']) {
      if (claims[name] == null) throw new InvalidPublisher(`Missing claim ${pyRepr(name)}`);
    }
    const { namespace, project } = projectParts(String(claims.project_path));
    const uri = String(claims.ci_config_ref_uri);
    const file = ciConfigPath(uri);
    if (!file) throw new InvalidPublisher('Could not extract workflow filename from OIDC claims');
    const p = pypi.gitlabPublisher;
    const environment = typeof claims.environment === 'string' ? claims.environment : '';
    const found =
      p.namespace.toLowerCase() === namespace.toLowerCase() &&
      p.project.toLowerCase() === project.toLowerCase() &&
      p.ciFile === file &&
      (!p.environment || p.environment === environment);
    if (!found) throw new InvalidPublisher('Publisher with matching claims was not found');
    const refs = [claims.ref_path, claims.sha].filter((r) => typeof r === 'string' && r !== '') as string[];
    const expected = refs.map((r) => `gitlab.com/${p.namespace}/${p.project}//${p.ciFile}@${r}`);
    if (!expected.includes(uri)) {
      throw new InvalidPublisher(
        `The ci_config_ref_uri claim does not match, expecting one of [${expected.map(pyRepr).join(', ')}], got ${pyRepr(uri)}`,
      );
    }
    if (usedJti.has(String(claims.jti)))
      throw new MintError('invalid-reuse-token', 'invalid token: already used');
  }

  /**
   * CircleCIPublisher (Warehouse's pull request 19349): lookup_by_claims on the three IDs, then the publisher's
   * optional restrictions (a context among the job's context-ids, VCS ref and origin equal), then
   * verify_claims: every required claim present, and ssh-rerun exactly false.
   */
  async function checkCircleCiPublisher(jwt: string): Promise<Claims> {
    let claims: Claims;
    try {
      claims = (await opts.circleci?.verify(jwt, pypi.audience)) ?? {};
    } catch {
      throw new MintError('invalid-token', 'malformed or invalid token');
    }
    if (typeof claims.aud !== 'string') throw new MintError('invalid-token', 'malformed or invalid token');
    const claim = (name: string) => claims[`oidc.circleci.com/${name}`];
    const p = pypi.circleciPublisher;
    const contexts = claim('context-ids');
    const optional = (truth: string, value: unknown) => truth === '' || (Boolean(value) && truth === value);
    const found =
      claim('org-id') === p.orgId &&
      claim('project-id') === p.projectId &&
      claim('pipeline-definition-id') === p.pipelineDefinitionId &&
      (p.contextId === '' || (Array.isArray(contexts) && contexts.includes(p.contextId))) &&
      optional(p.vcsRef, claim('vcs-ref')) &&
      optional(p.vcsOrigin, claim('vcs-origin'));
    if (!found) throw new InvalidPublisher('Publisher with matching claims was not found');
    for (const name of ['org-id', 'project-id', 'pipeline-definition-id', 'ssh-rerun']) {
      if (claim(name) == null)
        throw new InvalidPublisher(`Missing claim ${pyRepr(`oidc.circleci.com/${name}`)}`);
    }
    if (claim('ssh-rerun') !== false)
      throw new InvalidPublisher(`Check failed for required claim ${pyRepr('oidc.circleci.com/ssh-rerun')}`);
    if (claims.jti !== undefined && usedJti.has(String(claims.jti)))
      throw new MintError('invalid-reuse-token', 'invalid token: already used');
    return claims;
  }

  /** mint_token_from_oidc + mint_token. */
  async function mint(body: Buffer | undefined): Promise<{ success: true; token: string; expires: number }> {
    const invalidPayload = (line: string) =>
      new MintError('invalid-payload', `1 validation error for TokenPayload\n${line}`);
    let payload: unknown;
    try {
      payload = JSON.parse(body?.toString() ?? '');
    } catch (err) {
      throw invalidPayload(`  Invalid JSON: ${(err as Error).message} [type=json_invalid, input_type=str]`);
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw invalidPayload('  Input should be an object [type=model_type]');
    }
    const jwt: unknown = (payload as Record<string, unknown>).token;
    if (jwt === undefined) throw invalidPayload('token\n  Field required [type=missing, input_type=dict]');
    if (typeof jwt !== 'string')
      throw invalidPayload('token\n  Input should be a valid string [type=string_type]');

    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(jwt);
    } catch {
      throw new MintError('invalid-payload', 'malformed JWT');
    }
    if (!('iss' in unverified)) throw new MintError('invalid-payload', 'malformed JWT');
    const fromGitLab = opts.gitlab !== undefined && unverified.iss === GITLAB_ISSUER;
    // Warehouse's pull request keys the service on 'https://oidc.circleci.com'; CircleCI's tokens name the
    // organization's issuer, 'https://oidc.circleci.com/org/<org-id>', which is what the emulator takes.
    const fromCircleCi = opts.circleci !== undefined && unverified.iss === CIRCLECI_ISSUER;
    if (unverified.iss !== GITHUB_ISSUER && !fromGitLab && !fromCircleCi)
      throw new MintError('invalid-payload', 'unknown trusted publishing issuer');
    if (pypi.audienceStatus === 403) {
      throw new MintError(
        'not-enabled',
        `${fromGitLab ? 'gitlab' : fromCircleCi ? 'circleci' : 'github'} trusted publishing functionality not enabled`,
      );
    }
    let claims: Claims | undefined;
    try {
      if (fromCircleCi) claims = await checkCircleCiPublisher(jwt);
      else {
        claims = fromGitLab ? await verifyGitLabJwt(jwt) : await verifyJwt(jwt);
        if (!claims) throw new MintError('invalid-token', 'malformed or invalid token');
        if (fromGitLab) checkGitLabPublisher(claims);
        else checkPublisher(claims);
      }
    } catch (err) {
      if (!(err instanceof InvalidPublisher)) throw err;
      throw new MintError(
        'invalid-publisher',
        `valid token, but no corresponding publisher (${err.message})`,
      );
    }
    // Only a successful exchange burns the jti.
    usedJti.add(String(claims.jti));
    const token = `pypi-${randomBytes(48).toString('base64url')}`;
    // The exact instant, where Warehouse sends whole seconds (int(time.time()) + lifetime, up to a second
    // short). Rounded down here, a lifetime set just past a client's refresh margin was inside it at the
    // first upload whenever the mint fell late in its second, and a test's count of exchanges depended on
    // that millisecond.
    const expires = Date.now() / 1000 + pypi.tokenLifetimeSeconds;
    tokens.set(token, { notBefore: now(), expires, fromGitLab, fromCircleCi });
    pypi.minted.push(token);
    return { success: true, token, expires };
  }

  /** forklift's file_upload after the body was read, in its order of checks; stores the file it accepts. */
  function accept(up: Parsed, req: IncomingMessage): void {
    const first = (name: string) => values(up.fields, name)[0];
    if (up.tupleField) refuse(400, `${up.tupleField}: Should not be a tuple.`);
    const token = tokens.get(presentedToken(req.headers.authorization ?? ''));
    if (!token) {
      refuse(
        403,
        `Invalid or non-existent authentication information. See ${pypi.origin}/help/#invalid-auth for more information.`,
      );
    }
    if ((first('protocol_version') ?? '1') !== '1') refuse(400, 'Unknown protocol version.');
    const { name, filetype } = checkForm(up.fields);
    const version = checkMetadata(up.fields);
    const file = up.file;
    if (!file) refuse(400, 'Upload payload does not have a file.');

    // Permission: the minted token's caveats in the order they were issued (publisher's projects, then expiry).
    const normalized = normalizeName(name);
    const project = pypi.publisher.projects.find((p) => normalizeName(p) === normalized);
    if (!project)
      refuse(403, `Invalid API Token: OIDC scoped token is not valid for project ${pyRepr(name)}`);
    // Against the exact instant, as `expires` is stated (see the mint).
    if (now() < token.notBefore || Date.now() / 1000 >= token.expires)
      refuse(403, 'Invalid API Token: token is expired');

    checkExtension(file.filename, filetype);
    if (!file.contentType || file.contentType.startsWith('image/')) refuse(400, 'Invalid distribution file.');
    if (file.size > maxFileSize) {
      refuse(
        400,
        `File too large. Limit for project ${pyRepr(project)} is ${Math.floor(maxFileSize / MiB)} MB. See ${pypi.origin}/project-management/storage-limits#requesting-a-file-size-limit-increase for more information.`,
      );
    }
    const digests = { md5_digest: file.md5, sha256_digest: file.sha256, blake2_256_digest: file.blake2_256 };
    if (
      Object.entries(digests).some(
        ([field, actual]) => first(field) && first(field)?.toLowerCase() !== actual,
      )
    ) {
      refuse(400, 'The digest supplied does not match a digest calculated from the uploaded file.');
    }

    // _is_duplicate_file: the same name or the same content counts as existing.
    const sameName = pypi.files.get(file.filename);
    const existing = sameName ?? [...pypi.files.values()].find((f) => f.blake2_256 === file.blake2_256);
    if (existing) {
      if (existing === sameName && existing.sha256 === file.sha256 && existing.blake2_256 === file.blake2_256)
        return;
      refuse(
        400,
        `File already exists (${pyRepr(file.filename)}, with blake2_256 hash ${pyRepr(file.blake2_256)}). See ${pypi.origin}/help/#file-name-reuse for more information.`,
      );
    }
    // Checked after the duplicate check, so a re-run with --skip-existing still meets "File already exists"
    // (pypi/warehouse#20260); measured from Release.created.
    const release = pypi.releases.get(`${normalized}@${version.text}`);
    if (release && Date.now() - release.created > MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS * DAY_MS) {
      refuse(
        400,
        `Uploading new files to releases older than ${MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS} days is not allowed.`,
      );
    }
    const sameRelease = (f: StoredFile) =>
      f.project === normalized && parseVersion(f.version)?.key === version.key;
    if (
      filetype === 'sdist' &&
      [...pypi.files.values()].some((f) => sameRelease(f) && f.filetype === 'sdist')
    ) {
      refuse(400, 'Only one sdist may be uploaded per release.');
    }
    checkFilename(file.filename, filetype, project, version);
    // file_upload verifies attestations last, just before it stores the file.
    const attestations = values(up.fields, 'attestations')[0];
    let provenance: Pep740Attestation[] | undefined;
    // A CircleCI publisher's attestation_identity is None: parse_attestations_for_upload refuses any.
    if (attestations !== undefined && token.fromCircleCi)
      refuse(
        400,
        'Invalid attestations supplied during upload: Attestations are not currently supported with CircleCI publishers',
      );
    if (attestations !== undefined && opts.trustedRoot) {
      try {
        provenance = checkUploadAttestations(
          pypi.tamperAttestations?.(attestations, file.filename) ?? attestations,
          {
            trustedRoot: opts.trustedRoot,
            filename: file.filename,
            sha256: file.sha256,
            // The attestation_identity of the publisher that minted the token: repository (or project) and CI file.
            identity: token.fromGitLab
              ? {
                  project: `${pypi.gitlabPublisher.namespace}/${pypi.gitlabPublisher.project}`,
                  ciFile: pypi.gitlabPublisher.ciFile,
                }
              : {
                  repository: `${pypi.publisher.owner}/${pypi.publisher.repository}`,
                  workflow: pypi.publisher.workflow,
                },
          },
        );
      } catch (err) {
        if (!(err instanceof AttestationUploadError)) throw err;
        // pydantic's multi-line texts cannot go in a status line; one line here, Warehouse's words kept.
        refuse(400, `Invalid attestations supplied during upload: ${err.message.replace(/\s*\n\s*/g, ' ')}`);
      }
    }
    if (provenance) pypi.provenance.set(file.filename, provenance);
    if (!release)
      pypi.releases.set(`${normalized}@${version.text}`, {
        provides_extra: values(up.fields, 'provides_extra'),
        created: Date.now(),
      });
    pypi.files.set(file.filename, {
      project: normalized,
      storedAt: Date.now(),
      version: version.text,
      sha256: file.sha256,
      blake2_256: file.blake2_256,
      filetype,
    });
  }

  /** Whether a read with this lag shows the file yet: the lag, and the file's own on top. */
  const shown = (filename: string, f: StoredFile, delayMs: number) =>
    visibleOn(f.storedAt ?? 0, delayMs + (pypi.laterMs.get(filename) ?? 0));

  /** A release's files as Warehouse's JSON API lists them (`urls`), matched by normalized version. */
  function releaseFiles(project: string, version: string) {
    const key = parseVersion(decodeURIComponent(version))?.key;
    return [...pypi.files]
      .filter(([, f]) => f.project === project && parseVersion(f.version)?.key === key)
      .filter(([filename, f]) => shown(filename, f, pypi.readDelayMs.json))
      .map(([filename, f]) => ({
        version: f.version,
        json: {
          filename,
          packagetype: f.filetype,
          digests: { sha256: f.sha256, blake2b_256: f.blake2_256 },
          url: `${pypi.origin}/packages/${filename}`,
        },
      }));
  }

  /** The simple page installers read (PEP 503 HTML, or PEP 691 JSON when asked), after its CDN lag. */
  function simplePage(req: IncomingMessage, res: ServerResponse, name: string) {
    const project = normalizeName(name);
    // PyPI redirects a non-normalized name to its normalized page.
    if (name !== project)
      return page(req, res, 301, 'Moved Permanently', { location: `/simple/${project}/` });
    const files = [...pypi.files].filter(
      ([filename, f]) => f.project === project && shown(filename, f, pypi.readDelayMs.simple),
    );
    if (files.length === 0) return page(req, res, 404);
    const url = (filename: string, f: StoredFile) => `${pypi.origin}/packages/${filename}#sha256=${f.sha256}`;
    if (/application\/vnd\.pypi\.simple\.v1\+json/.test(req.headers.accept ?? '')) {
      return send(
        res,
        200,
        JSON.stringify({
          meta: { 'api-version': '1.1' },
          name: project,
          versions: [...new Set(files.map(([, f]) => f.version))],
          files: files.map(([filename, f]) => ({
            filename,
            url: url(filename, f),
            hashes: { sha256: f.sha256 },
          })),
        }),
        { 'content-type': 'application/vnd.pypi.simple.v1+json' },
      );
    }
    const links = files.map(([filename, f]) => `<a href="${url(filename, f)}">${filename}</a><br />`);
    send(
      res,
      200,
      `<!DOCTYPE html><html><body><h1>Links for ${project}</h1>${links.join('')}</body></html>`,
      {
        'content-type': 'text/html',
      },
    );
  }

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const faulted = pypi.uploads.length >= pypi.faultsAfterUploads && pypi.faults.upload.length > 0;
    if (faulted) pypi.faultedAt.push(Date.now());
    if (
      faulted &&
      fault(
        pypi.faults.upload,
        req,
        res,
        pypi.retryAfterSeconds === undefined ? {} : { 'retry-after': String(pypi.retryAfterSeconds) },
      )
    ) {
      return;
    }
    pypi.inFlight.now++;
    pypi.inFlight.max = Math.max(pypi.inFlight.max, pypi.inFlight.now);
    // The index's own processing time, as a real one takes hundreds of milliseconds per upload.
    const later = (reply: () => void) =>
      setTimeout(() => {
        pypi.inFlight.now--;
        reply();
      }, pypi.uploadLatencyMs);
    if (pypi.sink) {
      req.resume();
      return void req.once('end', () => later(() => page(req, res, 200)));
    }
    const received: ReceivedUpload = {
      fields: [],
      file: null,
      headers: req.headers,
      status: 0,
      startedAt: Date.now(),
      answeredAt: 0,
    };
    const answer = (status: number, detail = '') => {
      received.status = status;
      pypi.uploads.push(received);
      later(() => {
        received.answeredAt = Date.now();
        page(req, res, status, detail);
      });
    };
    if (req.headers['content-length'] === undefined) {
      req.resume();
      return void req.once('end', () => answer(411));
    }
    const up = await parseUpload(req, maxFileSize).catch(() => undefined);
    if (!up) {
      req.unpipe();
      req.resume();
      // Outside multipart WebOb sees no form, hence no :action and no route.
      return answer(/^multipart\/form-data/i.test(req.headers['content-type'] ?? '') ? 400 : 404);
    }
    received.fields = up.fields;
    if (up.file) {
      const { md5: _, ...file } = up.file;
      received.file = file;
    }
    const action =
      new URL(req.url ?? '/', pypi.origin).searchParams.get(':action') ??
      up.fields.find(([n]) => n === ':action')?.[1];
    if (action !== 'file_upload') return answer(404);
    const refusal = received.file && pypi.refusals.get(received.file.filename);
    if (refusal) return answer(400, refusal);
    try {
      accept(up, req);
      answer(200);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      answer(err.status, err.message);
    }
  }

  const server = await listen(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://pypi').pathname;
    pypi.requests.push({
      method: req.method ?? '',
      path,
      authorization: req.headers.authorization,
      at: performance.now(),
    });
    if (req.method === 'GET' && path === '/_/oidc/audience') {
      if (fault(pypi.faults.audience, req, res)) return;
      if (pypi.audienceStatus === 404) return page(req, res, 404);
      if (pypi.audienceStatus === 403)
        return sendJson(res, 403, { message: 'Trusted publishing functionality not enabled' });
      return sendJson(res, 200, { audience: pypi.audience });
    }
    if (req.method === 'POST' && path === '/_/oidc/mint-token') {
      pypi.mintRequests++;
      if (fault(pypi.faults.mint, req, res)) return;
      const body = await readBody(req, MiB);
      if (pypi.audienceStatus === 404) return page(req, res, 404);
      try {
        return sendJson(res, 200, await mint(body));
      } catch (err) {
        if (!(err instanceof MintError)) throw err;
        return sendJson(res, 422, {
          message: 'Token request failed',
          errors: [{ code: err.code, description: err.description }],
        });
      }
    }
    if (req.method === 'POST' && path === '/legacy/') return upload(req, res);
    req.resume();
    const simple = /^\/simple\/([^/]+)\/$/.exec(path);
    if (req.method === 'GET' && simple?.[1]) {
      if (fault(pypi.faults.simple, req, res)) return;
      return simplePage(req, res, decodeURIComponent(simple[1]));
    }
    const releaseJson = /^\/pypi\/([^/]+)\/([^/]+)\/json$/.exec(path);
    if (req.method === 'GET' && releaseJson?.[1] && releaseJson[2]) {
      if (fault(pypi.faults.lookup, req, res)) return;
      if (pypi.lookupLatencyMs) await new Promise((resolve) => setTimeout(resolve, pypi.lookupLatencyMs));
      const project = normalizeName(decodeURIComponent(releaseJson[1]));
      const files = releaseFiles(project, releaseJson[2]);
      const extras = pypi.releases.get(`${project}@${files[0]?.version}`)?.provides_extra ?? [];
      const info = { version: files[0]?.version, provides_extra: extras.length ? extras : null };
      return files.length > 0
        ? sendJson(res, 200, { info, urls: files.map((f) => f.json) })
        : sendJson(res, 404, { message: 'Not Found' });
    }
    const projectJson = /^\/pypi\/([^/]+)\/json$/.exec(path);
    if (req.method === 'GET' && projectJson?.[1]) {
      const name = normalizeName(decodeURIComponent(projectJson[1]));
      const exists =
        pypi.existingProjects.has(name) || [...pypi.files.values()].some((f) => f.project === name);
      return exists ? sendJson(res, 200, { info: { name } }) : sendJson(res, 404, { message: 'Not Found' });
    }
    if (req.method === 'POST' && path === '/legacy') {
      return page(
        req,
        res,
        308,
        'An upload was attempted to /legacy but the expected upload URL is /legacy/ (with a trailing slash)',
        { location: '/legacy/' },
      );
    }
    page(req, res, 404);
  });

  const pypi: PyPI = {
    origin: server.origin,
    uploadUrl: `${server.origin}/legacy/`,
    publisher: {
      repository: 'tp-sample',
      owner: 'octo-org',
      ownerId: '1234567',
      workflow: 'release.yml',
      environment: 'release',
      projects: ['tp-sample'],
      ...opts.publisher,
    },
    gitlabPublisher: defaultGitLabPublisher(),
    circleciPublisher: defaultCircleCiPublisher(),
    audience: opts.audience ?? 'pypi',
    audienceStatus: 200,
    tokenLifetimeSeconds: 900,
    minted: [],
    mintRequests: 0,
    requests: [],
    uploadLatencyMs: 0,
    lookupLatencyMs: 0,
    inFlight: { now: 0, max: 0 },
    refusals: new Map(),
    faultsAfterUploads: 0,
    faultedAt: [],
    uploads: [],
    files: new Map(),
    existingProjects: new Set(),
    faults: { audience: [], mint: [], upload: [], lookup: [], simple: [] },
    readDelayMs: { simple: 0, json: 0 },
    laterMs: new Map(),
    sink: false,
    provenance: new Map(),
    releases: new Map(),
    ageRelease(project, version, days) {
      const release = pypi.releases.get(`${normalizeName(project)}@${version}`);
      if (!release) throw new Error(`no release ${project} ${version} on the emulator`);
      release.created -= days * DAY_MS;
    },
    close: server.close,
  };
  // The publisher's projects exist: a (non-pending) publisher is always attached to one.
  for (const project of pypi.publisher.projects) pypi.existingProjects.add(normalizeName(project));
  return pypi;
}
