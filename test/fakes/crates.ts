/**
 * crates.io emulator, written from rust-lang/crates.io's sources:
 *   src/controllers/trustpub/tokens/{exchange,revoke}/mod.rs, crates/crates_io_trustpub/src/{access_token,
 *   unverified,lib}.rs, crates/crates_io_trustpub/src/github/{claims,workflows}.rs, src/auth.rs,
 *   src/controllers/krate/publish.rs, crates/crates_io_tarball/src/lib.rs, src/controllers/version.rs,
 *   src/util/errors.rs + errors/json.rs, crates/crates_io_index/src/{data,features}.rs.
 * It also serves a sparse index (config.json + one file per crate) so the real `cargo publish` can use it as
 * a registry: cargo is the oracle for the publish wire format (test/e2e/cargo-oracle.test.ts).
 */
import { createHash, randomInt } from 'node:crypto';
import fs from 'node:fs/promises';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { parse as parseToml } from 'smol-toml';
import { create as createTar, Parser, type ReadEntry } from 'tar';
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
import {
  type Claims,
  ciConfigPath,
  defaultGitLabPublisher,
  GITHUB_ISSUER,
  GITLAB_ISSUER,
  type GitLabIssuer,
  type GitLabPublisher,
  type Issuer,
  projectParts,
} from './issuer.ts';

export type { Fault } from './http.ts';

/** A `trustpub_configs_github` row: one crate, one repository, one workflow, optional environment. */
export interface CratesPublisher {
  crate: string;
  owner: string;
  /** GitHub's numeric id of the owner, kept when the config is created (an i32 column). */
  ownerId: number;
  repository: string;
  workflow: string;
  environment?: string;
}

/** A `trustpub_configs_gitlab` row; `namespaceId` is filled in by the first exchange that matches. */
export interface CratesGitLabConfig extends GitLabPublisher {
  crate: string;
  namespaceId?: string;
}

export interface ReceivedPublish {
  headers: http.IncomingHttpHeaders;
  /** Bytes received, prefixes included. */
  length: number;
  /** The metadata JSON as sent, and parsed (undefined when it did not parse). */
  metadataText: string;
  metadata: Record<string, unknown> | undefined;
  /** The crate bytes after the second length prefix, and their sha256. */
  crate: Buffer;
  sha256: string;
  status: number;
  answer: string;
}

export interface StoredVersion {
  name: string;
  vers: string;
  cksum: string;
  bytes: Buffer;
  /** The index line's fields, built from the metadata JSON. */
  index: Record<string, unknown>;
  license: string | null;
  createdAt: string;
}

export interface CrateRecord {
  name: string;
  versions: Map<string, StoredVersion>;
}

export interface Revocation {
  authorization: string | undefined;
  status: number;
  /** The token was a live one this emulator minted. */
  known: boolean;
}

/** What happened, in order: the e2e tests check that a revocation follows the last upload. */
export interface CratesEvent {
  type: 'exchange' | 'publish' | 'lookup' | 'revoke';
  status: number;
  detail: string;
  /** When it was answered (ms). */
  at: number;
}

export interface CratesIo {
  /** http://127.0.0.1:PORT — the API base (`repository-url`). */
  url: string;
  /** `sparse+http://127.0.0.1:PORT/index/`, for cargo's `[registries.NAME] index`. */
  indexUrl: string;
  /** The configured trustpub audience. Mutable. */
  audience: string;
  /** Mutable. */
  configs: CratesPublisher[];
  /** GitLab configs, used when `gitlab` was given. Mutable. */
  gitlabConfigs: CratesGitLabConfig[];
  tokenLifetimeSeconds: number;
  /** Answer publish errors as HTTP 200 with an `errors` array, as older registry servers did. */
  legacyErrors: boolean;
  /** `warnings` of a successful publish (crates.io sends them empty nowadays). */
  warnings: { invalid_categories: string[]; invalid_badges: string[]; other: string[] };
  /** Long-lived API tokens (`cio` + 32 alphanumerics): they may create crates, trusted tokens may not. */
  apiTokens: Set<string>;
  /**
   * crates.io refuses a crate depending on a name it does not know (it links dependencies by name). Off, the
   * emulator behaves like registries built on crates.io's protocol, which accept dependencies on other
   * registries (the cargo oracle depends on three).
   */
  checkDependencies: boolean;
  maxUploadSize: number;
  minted: string[];
  exchanges: number;
  revocations: Revocation[];
  publishes: ReceivedPublish[];
  events: CratesEvent[];
  /** By canonical name (lower case, `-` as `_`). */
  crates: Map<string, CrateRecord>;
  /** Creates a crate without versions, as if its first version had been published by hand. */
  addCrate(name: string): void;
  faults: { exchange: Fault[]; publish: Fault[]; revoke: Fault[]; lookup: Fault[]; index: Fault[] };
  /** How long after a publish its version shows in the sparse index (crates.io's index CDN lags). */
  indexDelayMs: number;
  /** Every sparse index read, with the credentials it carried. */
  reads: ReadRequest[];
  close(): Promise<void>;
}

export const defaultConfig = (): CratesPublisher => ({
  crate: 'tp-sample',
  owner: 'octo-org',
  ownerId: 1234567,
  repository: 'tp-sample',
  workflow: 'release.yml',
  environment: 'release',
});

// Real texts: exchange/mod.rs, revoke/mod.rs, auth.rs, krate/publish.rs, util/errors.rs.
export const DECODE_FAILED = 'Failed to decode JWT';
export const JWT_REUSED = 'JWT has already been used';
export const noConfig = (repo: string): string =>
  `No Trusted Publishing config found for repository \`${repo}\`.`;
export const ownerIdMismatch = (repo: string, id: number, expected: number[]): string =>
  `The Trusted Publishing config for repository \`${repo}\` does not match the repository owner ID (${id}) in the JWT. Expected owner IDs: ${expected.join(', ')}. Please recreate the Trusted Publishing config to update the repository owner ID.`;
export const workflowMismatch = (repo: string, file: string, expected: string[]): string =>
  `The Trusted Publishing config for repository \`${repo}\` does not match the workflow filename \`${file}\` in the JWT. Expected workflow filenames: ${expected.map((w) => `\`${w}\``).join(', ')}`;
export const namespaceIdMismatch = (repo: string, id: string, expected: string[]): string =>
  `The Trusted Publishing config for repository \`${repo}\` does not match the namespace ID (${id}) in the JWT. Expected namespace IDs: ${expected.join(', ')}. Please recreate the Trusted Publishing config to update the namespace ID.`;
export const workflowPathMismatch = (repo: string, file: string, expected: string[]): string =>
  `The Trusted Publishing config for repository \`${repo}\` does not match the workflow filepath \`${file}\` in the JWT. Expected workflow filepaths: ${expected.map((w) => `\`${w}\``).join(', ')}`;
export const environmentMismatch = (repo: string, env: string | undefined, expected: string[]): string =>
  env === undefined
    ? `The Trusted Publishing config for repository \`${repo}\` requires an environment, but the JWT does not specify one. Expected environments: ${expected.map((e) => `\`${e}\``).join(', ')}`
    : `The Trusted Publishing config for repository \`${repo}\` does not match the environment \`${env}\` in the JWT. Expected environments: ${expected.map((e) => `\`${e}\``).join(', ')}`;
export const unsupportedEvent = (event: string): string =>
  `Trusted Publishing does not support the \`${event}\` event trigger due to security concerns. Please use a different trigger such as \`push\`, \`release\`, or \`workflow_dispatch\`.`;
export const NEW_CRATE_REFUSED =
  'Trusted Publishing tokens do not support creating new crates. Publish the crate manually, first';
export const INVALID_TOKEN = 'Invalid authentication token';
export const notValidForCrate = (name: string): string =>
  `The provided access token is not valid for crate \`${name}\``;
export const alreadyUploaded = (version: string): string =>
  `crate version \`${version}\` is already uploaded`;
export const missingMetadata = (missing: string[]): string =>
  `missing or empty metadata fields: ${missing.join(', ')}. Please see https://doc.rust-lang.org/cargo/reference/manifest.html for more information on configuring these fields`;
const UNPARSABLE_AUTH = 'Invalid `Authorization` header: Failed to parse token';
const INSECURE_TOKEN =
  'The given API token does not match the format used by crates.io. Tokens generated before 2020-07-14 were generated with an insecure random number generator, and have been revoked. You can generate a new token at https://crates.io/me. For more information please see https://blog.rust-lang.org/2020/07/14/crates-io-security-advisory.html. We apologize for any inconvenience.';

const JWT_LEEWAY_SECONDS = 60;
const MAX_JSON_LENGTH = 1024 * 1024;
const MAX_UNPACK = 64 * 1024 * 1024;
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN_PREFIX = 'cio_tp_';
const TOKEN_RAW_LENGTH = 31;

/** canon_crate_name: crates differing only in case or `-`/`_` are the same crate. */
export const canonicalName = (name: string): string => name.toLowerCase().replace(/-/g, '_');

/** access_token.rs: XOR of the raw bytes picks one alphanumeric character. */
function tokenChecksum(raw: string): string {
  let xor = 0;
  for (const byte of Buffer.from(raw)) xor ^= byte;
  return ALPHANUMERIC[xor % ALPHANUMERIC.length] ?? '0';
}

/** `AccessToken::from_str`: prefix, 31 alphanumerics and their checksum; the raw part when valid. */
function parseAccessToken(token: string): string | undefined {
  if (!token.startsWith(TOKEN_PREFIX)) return undefined;
  const suffix = token.slice(TOKEN_PREFIX.length);
  if (suffix.length !== TOKEN_RAW_LENGTH + 1 || !/^[A-Za-z0-9]+$/.test(suffix)) return undefined;
  const raw = suffix.slice(0, TOKEN_RAW_LENGTH);
  return suffix.endsWith(tokenChecksum(raw)) ? raw : undefined;
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** extract_workflow_filename: the regex's leftmost match, as Rust's regex finds it. */
export const workflowFilename = (workflowRef: string): string | undefined =>
  /([^/]+\.(yml|yaml))(@.+)/.exec(workflowRef)?.[1];

/** AuthHeader: `Bearer <token>` (any case) or the bare token; any other scheme is refused. */
function authToken(req: http.IncomingMessage): { token?: string; error?: string } {
  const header = req.headers.authorization;
  if (header === undefined) return {};
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the header must be visible ASCII, as http's to_str checks.
  if (/[^\x09\x20-\x7e]/.test(header)) {
    return { error: 'Invalid `Authorization` header: Found unexpected non-ASCII characters' };
  }
  const space = header.indexOf(' ');
  const [scheme, token] = space < 0 ? ['', header] : [header.slice(0, space), header.slice(space + 1)];
  if (scheme !== '' && scheme.toLowerCase() !== 'bearer') {
    return {
      error: `Invalid \`Authorization\` header: Found unexpected authentication scheme \`${scheme}\``,
    };
  }
  return { token: token.trim() };
}

/** crates_io_index::features::split_features: new-syntax features (and those enabling them) go to features2. */
function splitFeatures(
  features: Record<string, string[]>,
): [Record<string, string[]>, Record<string, string[]>] {
  const newSyntax = (v: string) => v.startsWith('dep:') || v.includes('?/');
  const first: Record<string, string[]> = {};
  const second: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(features)) (v.some(newSyntax) ? second : first)[k] = v;
  for (let i = 0; i < 100; i++) {
    const moving = Object.entries(first).filter(([, v]) => v.some((f) => f in second));
    if (moving.length === 0) break;
    for (const [k, v] of moving) {
      second[k] = v;
      delete first[k];
    }
  }
  return [first, second];
}

/**
 * The index line, built from the publish metadata the way cargo's own test registry does (crates.io builds
 * it from the tarball's manifest; both say the same for what cargo sends). A dependency keeps its `registry`,
 * so a crate depending on another registry resolves there.
 */
function indexLine(meta: Record<string, unknown>, cksum: string): Record<string, unknown> {
  const deps = (Array.isArray(meta.deps) ? meta.deps : []) as Record<string, unknown>[];
  const [features, features2] = splitFeatures((meta.features ?? {}) as Record<string, string[]>);
  const hasFeatures2 = Object.keys(features2).length > 0;
  return {
    name: meta.name,
    vers: meta.vers,
    deps: deps.map((d) => ({
      name: d.explicit_name_in_toml ?? d.name,
      req: d.version_req,
      features: d.features,
      optional: d.optional,
      default_features: d.default_features,
      target: d.target ?? null,
      kind: d.kind ?? 'normal',
      ...(d.registry ? { registry: d.registry } : {}),
      ...(d.explicit_name_in_toml ? { package: d.name } : {}),
    })),
    cksum,
    features,
    ...(hasFeatures2 ? { features2 } : {}),
    yanked: false,
    ...(meta.links ? { links: meta.links } : {}),
    ...(meta.rust_version ? { rust_version: meta.rust_version } : {}),
    ...(hasFeatures2 ? { v: 2 } : {}),
  };
}

/** The sparse index path of a crate: 1/a, 2/ab, 3/a/abc, ab/cd/abcd… (always lower case). */
export function indexPath(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length <= 2) return `${lower.length}/${lower}`;
  if (lower.length === 3) return `3/${lower[0]}/${lower}`;
  return `${lower.slice(0, 2)}/${lower.slice(2, 4)}/${lower}`;
}

/** A refusal with crates.io's words; its status line is the one the route answers with. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const refuse = (status: number, detail: string): never => {
  throw new Refusal(status, detail);
};

/** process_tarball, reduced to what decides acceptance: gzip, entry paths and types, one Cargo.toml. */
async function processTarball(pkg: string, bytes: Buffer): Promise<Manifest> {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: MAX_UNPACK });
  } catch {
    return refuse(400, 'uploaded tarball is malformed or too large when decompressed');
  }
  const manifests: { path: string; text: string }[] = [];
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({ strict: true });
    parser.on('entry', (entry: ReadEntry) => {
      const inPackage = entry.path.startsWith(`${pkg}/`) ? entry.path.slice(pkg.length + 1) : undefined;
      if (inPackage === undefined || inPackage.split('/').includes('..')) {
        parser.abort(new Refusal(400, `invalid path found: ${entry.path}`));
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'Directory') {
        parser.abort(new Refusal(400, `unexpected tar entry type ${entry.type} found: ${entry.path}`));
        return;
      }
      if (inPackage.toLowerCase() !== 'cargo.toml') return entry.resume();
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () =>
        manifests.push({ path: inPackage, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    parser.on('abort', reject);
    parser.on('error', () =>
      reject(new Refusal(400, 'uploaded tarball is malformed or too large when decompressed')),
    );
    parser.on('end', resolve);
    parser.end(tar);
  });
  if (manifests.length > 1) {
    refuse(
      400,
      `uploaded tarball contains more than one \`Cargo.toml\` manifest file; found \`${manifests.map((m) => m.path).join('`, `')}\``,
    );
  }
  const [manifest] = manifests;
  if (!manifest) return refuse(400, 'uploaded tarball is missing a `Cargo.toml` manifest file');
  if (manifest.path !== 'Cargo.toml' && manifest.path !== 'cargo.toml') {
    refuse(
      400,
      `uploaded tarball is missing a \`Cargo.toml\` manifest file; \`${manifest.path}\` was found, but must be named \`Cargo.toml\` with that exact casing`,
    );
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parseToml(manifest.text) as Record<string, unknown>;
  } catch (err) {
    return refuse(400, `failed to parse \`Cargo.toml\` manifest file\n\n${(err as Error).message}`);
  }
  const pkgTable = parsed.package;
  if (typeof pkgTable !== 'object' || pkgTable === null) {
    return refuse(400, 'failed to parse `Cargo.toml` manifest file\n\nmissing field `package`');
  }
  return { pkg: pkgTable as Table, deps: manifestDependencies(parsed) };
}

type Table = Record<string, unknown>;

interface Manifest {
  pkg: Table;
  /** Every dependency of every kind and target: crates.io reads them from here, never from the metadata JSON. */
  deps: { name: string; req: unknown; registry: unknown }[];
}

/** convert_dependencies: normal, dev and build tables, at the top and per target (either spelling). */
function manifestDependencies(manifest: Table): Manifest['deps'] {
  const tables = (t: Table) =>
    ['dependencies', 'dev-dependencies', 'dev_dependencies', 'build-dependencies', 'build_dependencies']
      .map((key) => t[key])
      .filter((v): v is Table => typeof v === 'object' && v !== null);
  const targets = Object.values((manifest.target ?? {}) as Table).filter(
    (v): v is Table => typeof v === 'object' && v !== null,
  );
  return [manifest, ...targets].flatMap(tables).flatMap((deps) =>
    Object.entries(deps).map(([key, spec]) => {
      const detail = (typeof spec === 'object' && spec !== null ? spec : { version: spec }) as Table;
      return { name: String(detail.package ?? key), req: detail.version, registry: detail.registry };
    }),
  );
}

/** A u32 LE length prefix and the bytes it announces, with the error texts of read_json_metadata/read_tarball_bytes. */
function lengthPrefixed(body: Buffer, at: number, what: 'metadata' | 'tarball', max: number) {
  if (body.length < at + 4) refuse(400, `invalid ${what} length`);
  const length = body.readUInt32LE(at);
  if (length > max) {
    refuse(413, what === 'metadata' ? 'JSON metadata blob too large' : `max upload size is: ${max}`);
  }
  if (body.length < at + 4 + length) {
    refuse(400, `invalid ${what} length for remaining payload: ${length}`);
  }
  return { data: body.subarray(at + 4, at + 4 + length), end: at + 4 + length };
}

/** semver's Version grammar; the emulator checks what crates.io parses. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

interface TrustedToken {
  crates: Set<string>;
  expiresAt: number;
}

/** Keeps the configs that pass one check; when none does, crates.io's refusal names what the others expect. */
function narrow<C>(configs: C[], passes: (c: C) => boolean, refusal: (rejected: C[]) => string): C[] {
  const kept = configs.filter(passes);
  if (kept.length === 0) refuse(400, refusal(configs.filter((c) => !passes(c))));
  return kept;
}

/** A config without an environment takes any job; one with an environment, that one ignoring case. */
function narrowByEnvironment<C extends { environment?: string }>(
  configs: C[],
  repo: string,
  claims: Claims,
): C[] {
  const env = typeof claims.environment === 'string' ? claims.environment : undefined;
  return narrow(
    configs,
    (c) =>
      c.environment === undefined || (env !== undefined && c.environment.toLowerCase() === env.toLowerCase()),
    (wrong) =>
      environmentMismatch(
        repo,
        env,
        wrong.map((c) => c.environment ?? ''),
      ),
  );
}

export async function startCratesIo(opts: {
  issuer: Issuer;
  configs?: CratesPublisher[];
  /** GitLab's issuer, whose tokens the emulator then takes too. */
  gitlab?: GitLabIssuer;
  audience?: string;
  /** Crate names that already exist (default: every configured crate). */
  crates?: string[];
}): Promise<CratesIo> {
  // The keystore: crates.io loads the issuer's JWKS to find the key a JWT's `kid` names.
  const jwks = (await (await fetch(new URL('/.well-known/jwks', opts.issuer.requestUrl))).json()) as {
    keys: { kid?: string }[];
  };
  const kids = new Set(jwks.keys.map((k) => k.kid));
  const gitlabJwks = opts.gitlab
    ? ((await (await fetch(opts.gitlab.jwksUrl)).json()) as { keys: { kid?: string }[] })
    : { keys: [] };
  const gitlabKids = new Set(gitlabJwks.keys.map((k) => k.kid));
  /** By sha256 of the raw part, as trustpub_tokens stores them. */
  const tokens = new Map<string, TrustedToken>();
  const usedJtis = new Set<string>();

  function record(type: CratesEvent['type'], status: number, detail: string): void {
    cio.events.push({ type, status, detail, at: Date.now() });
  }

  /** ApiErrorResponse: one detail in an `errors` array. */
  function answerError(res: http.ServerResponse, status: number, detail: string): void {
    sendJson(res, status, { errors: [{ detail }] });
  }

  /** The GitHub half of exchange_trustpub_token, after the JWT was verified. */
  function matchConfigs(claims: Claims): Set<string> {
    const repo = String(claims.repository);
    const slash = repo.indexOf('/');
    if (slash < 0) refuse(400, 'Unexpected `repository` value');
    const [owner, name] = [repo.slice(0, slash), repo.slice(slash + 1)];
    const file = workflowFilename(String(claims.workflow_ref));
    if (file === undefined) return refuse(400, 'Unexpected `workflow_ref` value');
    const ownerIdText = String(claims.repository_owner_id);
    const ownerId = Number(ownerIdText);
    if (!/^[+-]?\d+$/.test(ownerIdText) || ownerId > 2 ** 31 - 1 || ownerId < -(2 ** 31)) {
      refuse(400, 'Unexpected `repository_owner_id` value');
    }
    // lower(owner) = lower(?) AND lower(name) = lower(?)
    let configs = cio.configs.filter(
      (c) =>
        c.owner.toLowerCase() === owner.toLowerCase() && c.repository.toLowerCase() === name.toLowerCase(),
    );
    if (configs.length === 0) refuse(400, noConfig(repo));
    configs = narrow(
      configs,
      (c) => c.ownerId === ownerId,
      (wrong) =>
        ownerIdMismatch(
          repo,
          ownerId,
          wrong.map((c) => c.ownerId),
        ),
    );
    // The workflow file name is compared exactly.
    configs = narrow(
      configs,
      (c) => c.workflow === file,
      (wrong) =>
        workflowMismatch(
          repo,
          file,
          wrong.map((c) => c.workflow),
        ),
    );
    configs = narrowByEnvironment(configs, repo, claims);
    return new Set(configs.map((c) => canonicalName(c.crate)));
  }

  /**
   * The GitLab half: namespace and project ignore case, the namespace id is trusted on first use, the CI file
   * path (between `//` and the last `@` of ci_config_ref_uri) is compared exactly, the environment ignoring case.
   */
  function matchGitLabConfigs(claims: Claims): Set<string> {
    const repo = String(claims.project_path);
    const { namespace, project } = projectParts(repo);
    const file = ciConfigPath(String(claims.ci_config_ref_uri));
    if (file === undefined) return refuse(400, 'Unexpected `ci_config_ref_uri` value');
    let configs = cio.gitlabConfigs.filter(
      (c) =>
        c.namespace.toLowerCase() === namespace.toLowerCase() &&
        c.project.toLowerCase() === project.toLowerCase(),
    );
    if (configs.length === 0) refuse(400, noConfig(repo));
    const namespaceId = String(claims.namespace_id);
    configs = narrow(
      configs,
      (c) => c.namespaceId === undefined || c.namespaceId === namespaceId,
      (wrong) =>
        namespaceIdMismatch(
          repo,
          namespaceId,
          wrong.map((c) => c.namespaceId ?? ''),
        ),
    );
    configs = narrow(
      configs,
      (c) => c.ciFile === file,
      (wrong) =>
        workflowPathMismatch(
          repo,
          file,
          wrong.map((c) => c.ciFile),
        ),
    );
    configs = narrowByEnvironment(configs, repo, claims);
    for (const c of configs) c.namespaceId ??= namespaceId;
    return new Set(configs.map((c) => canonicalName(c.crate)));
  }

  /** Everything up to the signature check answers 400 with its own words; the JWT itself only "Failed to decode JWT". */
  async function verifiedClaims(jwt: string): Promise<Claims> {
    let unverified: Claims;
    let kid: string | undefined;
    try {
      unverified = decodeJwt(jwt);
      kid = decodeProtectedHeader(jwt).kid;
    } catch {
      return refuse(400, DECODE_FAILED);
    }
    if (typeof unverified.iss !== 'string') return refuse(400, DECODE_FAILED);
    const gitlab = unverified.iss === GITLAB_ISSUER ? opts.gitlab : undefined;
    if (unverified.iss !== GITHUB_ISSUER && !gitlab)
      return refuse(400, `Unsupported JWT issuer: ${unverified.iss}`);
    if (kid === undefined) return refuse(400, 'Missing JWT key ID');
    if (!(gitlab ? gitlabKids : kids).has(kid)) return refuse(400, 'Invalid JWT key ID');
    let claims: Claims;
    try {
      claims = await (gitlab ?? opts.issuer).verify(jwt, cio.audience);
    } catch {
      return refuse(400, DECODE_FAILED);
    }
    if (gitlab) {
      const strings = ['aud', 'jti', 'namespace_id', 'project_path', 'ci_config_ref_uri', 'sha'];
      if (strings.some((c) => typeof claims[c] !== 'string')) return refuse(400, DECODE_FAILED);
      return claims;
    }
    // GitHubClaims' required fields and types, and its own iat check.
    const strings = [
      'aud',
      'jti',
      'repository_owner_id',
      'repository',
      'workflow_ref',
      'event_name',
      'run_id',
      'sha',
    ];
    const now = Math.floor(Date.now() / 1000);
    if (
      strings.some((c) => typeof claims[c] !== 'string') ||
      typeof claims.iat !== 'number' ||
      typeof claims.exp !== 'number' ||
      (claims.environment !== undefined &&
        claims.environment !== null &&
        typeof claims.environment !== 'string') ||
      claims.iat > now + JWT_LEEWAY_SECONDS
    ) {
      return refuse(400, DECODE_FAILED);
    }
    return claims;
  }

  async function exchange(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    cio.exchanges++;
    if (fault(cio.faults.exchange, req, res, { 'content-type': 'application/json' })) return;
    const body = (await readBody(req, MAX_JSON_LENGTH)) ?? Buffer.alloc(0);
    // axum's Json extractor answers in plain text, before the handler runs.
    if (!/^application\/([^;]+\+)?json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
      record('exchange', 415, 'content type');
      return send(res, 415, 'Expected request with `Content-Type: application/json`');
    }
    let jwt: unknown;
    try {
      jwt = (JSON.parse(body.toString('utf8')) as { jwt?: unknown } | null)?.jwt;
    } catch (err) {
      record('exchange', 400, 'syntax');
      return send(res, 400, `Failed to parse the request body as JSON: ${(err as Error).message}`);
    }
    if (typeof jwt !== 'string') {
      record('exchange', 422, 'no jwt');
      return send(res, 422, 'Failed to deserialize the JSON body into the target type: missing field `jwt`');
    }
    try {
      const claims = await verifiedClaims(jwt);
      // The jti is inserted inside the transaction: a later refusal rolls it back, so only success burns it.
      const jti = String(claims.jti);
      if (usedJtis.has(jti)) refuse(400, JWT_REUSED);
      if (claims.event_name === 'pull_request_target' || claims.event_name === 'workflow_run') {
        refuse(400, unsupportedEvent(String(claims.event_name)));
      }
      const crates = claims.iss === GITLAB_ISSUER ? matchGitLabConfigs(claims) : matchConfigs(claims);
      usedJtis.add(jti);
      let raw = '';
      for (let i = 0; i < TOKEN_RAW_LENGTH; i++) raw += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
      const token = `${TOKEN_PREFIX}${raw}${tokenChecksum(raw)}`;
      tokens.set(sha256(raw), { crates, expiresAt: Date.now() + cio.tokenLifetimeSeconds * 1000 });
      cio.minted.push(token);
      record('exchange', 200, [...crates].join(','));
      sendJson(res, 200, { token });
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      record('exchange', err.status, err.message);
      answerError(res, err.status, err.message);
    }
  }

  function revoke(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    if (fault(cio.faults.revoke, req, res, { 'content-type': 'application/json' })) return;
    const authorization = req.headers.authorization;
    const { token, error } = authToken(req);
    const raw = token === undefined ? undefined : parseAccessToken(token);
    let status = 204;
    let detail = 'revoked';
    if (error) [status, detail] = [401, error];
    else if (token === undefined) [status, detail] = [401, 'Missing `Authorization` header'];
    else if (raw === undefined) [status, detail] = [401, UNPARSABLE_AUTH];
    const known = raw !== undefined && tokens.has(sha256(raw));
    // DELETE … WHERE hashed_token = ?: an unknown (or already revoked) token is a success too.
    if (status === 204 && raw !== undefined) tokens.delete(sha256(raw));
    cio.revocations.push({ authorization, status, known });
    record('revoke', status, detail);
    if (status === 204) {
      res.writeHead(204);
      res.end();
    } else {
      answerError(res, status, detail);
    }
  }

  /** The publish handler's checks, in crates.io's order, up to storing the version. */
  async function publishChecks(req: http.IncomingMessage, body: Buffer, received: ReceivedPublish) {
    const json = lengthPrefixed(body, 0, 'metadata', MAX_JSON_LENGTH);
    received.metadataText = json.data.toString('utf8');
    let meta: Record<string, unknown>;
    try {
      meta = JSON.parse(received.metadataText) as Record<string, unknown>;
    } catch (err) {
      return refuse(400, `invalid upload request: ${(err as Error).message}`);
    }
    received.metadata = meta;
    for (const field of ['name', 'vers']) {
      if (typeof meta[field] !== 'string') refuse(400, `invalid upload request: missing field \`${field}\``);
    }
    const name = String(meta.name);
    const semver = SEMVER.exec(String(meta.vers));
    if (!semver) refuse(400, `"${String(meta.vers)}" is an invalid semver version`);
    const version = String(meta.vers);
    const existing = cio.crates.get(canonicalName(name));

    const { token, error } = authToken(req);
    if (error) refuse(401, error);
    if (token?.startsWith(TOKEN_PREFIX)) {
      const raw = parseAccessToken(token);
      if (raw === undefined) refuse(401, UNPARSABLE_AUTH);
      if (!existing) refuse(403, NEW_CRATE_REFUSED);
      const stored = tokens.get(sha256(raw ?? ''));
      if (!stored || stored.expiresAt <= Date.now()) refuse(403, INVALID_TOKEN);
      if (!stored?.crates.has(canonicalName(name))) refuse(403, notValidForCrate(existing?.name ?? name));
    } else if (token === undefined) {
      refuse(403, 'this action requires authentication');
    } else if (!/^cio[a-zA-Z0-9]{32}$/.test(token)) {
      refuse(401, INSECURE_TOKEN);
    } else if (!cio.apiTokens.has(token)) {
      refuse(403, 'authentication failed');
    }

    const tarball = lengthPrefixed(body, json.end, 'tarball', cio.maxUploadSize);
    received.crate = Buffer.from(tarball.data);
    received.sha256 = sha256(received.crate);
    // Build metadata is dropped from the stored version number (semver's to_string keeps it; num_no_build does not).
    const { pkg, deps } = await processTarball(`${name}-${version}`, received.crate);
    if (pkg.name !== name)
      refuse(400, `metadata name \`${name}\` does not match manifest name \`${String(pkg.name)}\``);
    if (pkg.version !== version) {
      refuse(
        400,
        `metadata version \`${version}\` does not match manifest version \`${String(pkg.version)}\``,
      );
    }
    const missing: string[] = [];
    if (!pkg.description) missing.push('description');
    if (!pkg.license && !pkg['license-file']) missing.push('license');
    if (missing.length > 0) refuse(400, missingMetadata(missing));
    // validate_dependency: only a `registry` key counts as another registry (cargo writes `registry-index`).
    for (const dep of deps) {
      if (typeof dep.registry === 'string' && dep.registry !== '') {
        refuse(
          400,
          `Dependency \`${dep.name}\` is hosted on another registry. Cross-registry dependencies are not permitted on crates.io.`,
        );
      }
      if (typeof dep.req === 'string' && /^ *[*xX] *$/.test(dep.req)) {
        refuse(
          400,
          `wildcard (\`*\`) dependency constraints are not allowed on crates.io. Crate with this problem: \`${dep.name}\` See https://doc.rust-lang.org/cargo/faq.html#can-libraries-use--as-a-version-for-their-dependencies for more information`,
        );
      }
    }
    const numNoBuild = version.split('+')[0] ?? version;
    if (existing && [...existing.versions.keys()].some((v) => (v.split('+')[0] ?? v) === numNoBuild)) {
      refuse(400, alreadyUploaded(numNoBuild));
    }
    // add_dependencies matches names exactly, whatever registry-index says.
    const known = new Set([...cio.crates.values()].map((c) => c.name));
    for (const dep of cio.checkDependencies ? deps : []) {
      if (!known.has(dep.name)) refuse(400, `no known crate named \`${dep.name}\``);
    }
    const krate: CrateRecord = existing ?? { name, versions: new Map() };
    cio.crates.set(canonicalName(name), krate);
    krate.versions.set(version, {
      name: krate.name,
      vers: version,
      cksum: received.sha256,
      bytes: received.crate,
      index: indexLine(meta, received.sha256),
      license: typeof pkg.license === 'string' ? pkg.license : null,
      createdAt: new Date().toISOString(),
    });
    return { krate, version };
  }

  async function publish(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (fault(cio.faults.publish, req, res, { 'content-type': 'application/json' })) return;
    const limit = 8 + MAX_JSON_LENGTH + cio.maxUploadSize;
    const body = await readBody(req, limit);
    const received: ReceivedPublish = {
      headers: req.headers,
      length: body?.length ?? limit,
      metadataText: '',
      metadata: undefined,
      crate: Buffer.alloc(0),
      sha256: '',
      status: 0,
      answer: '',
    };
    cio.publishes.push(received);
    const answer = (status: number, value: unknown) => {
      received.status = status;
      received.answer = JSON.stringify(value);
      sendJson(res, status, value);
    };
    try {
      if (body === undefined) refuse(413, `max upload size is: ${cio.maxUploadSize}`);
      const { krate, version } = await publishChecks(req, body ?? Buffer.alloc(0), received);
      record('publish', 200, `${krate.name} ${version}`);
      const versions = [...krate.versions.keys()];
      answer(200, {
        warnings: cio.warnings,
        crate: {
          id: krate.name,
          name: krate.name,
          description: received.metadata?.description ?? null,
          max_version: versions.at(-1),
          newest_version: version,
          num_versions: versions.length,
          yanked: false,
        },
      });
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      record('publish', err.status, err.message);
      answer(cio.legacyErrors ? 200 : err.status, { errors: [{ detail: err.message }] });
    }
  }

  function lookup(req: http.IncomingMessage, res: http.ServerResponse, name: string, version: string) {
    if (fault(cio.faults.lookup, req, res, { 'content-type': 'application/json' })) return;
    const krate = cio.crates.get(canonicalName(name));
    const v = krate?.versions.get(version);
    record('lookup', v ? 200 : 404, `${name} ${version}`);
    if (!krate) return answerError(res, 404, `crate \`${name}\` does not exist`);
    if (!v) return answerError(res, 404, `crate \`${name}\` does not have a version \`${version}\``);
    sendJson(res, 200, {
      version: {
        id: 1,
        crate: krate.name,
        num: v.vers,
        dl_path: `/api/v1/crates/${krate.name}/${v.vers}/download`,
        checksum: v.cksum,
        crate_size: v.bytes.length,
        license: v.license,
        yanked: false,
        created_at: v.createdAt,
      },
    });
  }

  function sparseIndex(req: http.IncomingMessage, res: http.ServerResponse, rest: string) {
    logRead(cio.reads, req, `/index/${rest}`);
    if (fault(cio.faults.index, req, res)) return;
    if (rest === 'config.json') return sendJson(res, 200, { dl: `${cio.url}/api/v1/crates`, api: cio.url });
    const name = rest.split('/').at(-1) ?? '';
    const krate = cio.crates.get(canonicalName(name));
    const shown = [...(krate?.versions.values() ?? [])].filter((v) =>
      visibleOn(Date.parse(v.createdAt), cio.indexDelayMs),
    );
    if (!krate || shown.length === 0 || indexPath(krate.name) !== rest) return send(res, 404, 'Not Found');
    const lines = shown.map((v) => JSON.stringify(v.index));
    send(res, 200, `${lines.join('\n')}\n`);
  }

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://crates');
    const path = decodeURIComponent(url.pathname);
    if (path === '/api/v1/trusted_publishing/tokens') {
      if (req.method === 'POST') return exchange(req, res);
      if (req.method === 'DELETE') return revoke(req, res);
    }
    if (req.method === 'PUT' && path === '/api/v1/crates/new') return publish(req, res);
    req.resume();
    if (req.method !== 'GET') return answerError(res, 404, 'Not Found');
    if (path.startsWith('/index/')) return sparseIndex(req, res, path.slice('/index/'.length));
    const download = /^\/api\/v1\/crates\/([^/]+)\/([^/]+)\/download$/.exec(path);
    if (download) {
      const v = cio.crates.get(canonicalName(download[1] ?? ''))?.versions.get(download[2] ?? '');
      if (!v) return answerError(res, 404, 'Not Found');
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': v.bytes.length });
      return res.end(v.bytes);
    }
    const crate = /^\/api\/v1\/crates\/([^/]+)$/.exec(path);
    if (crate) {
      const krate = cio.crates.get(canonicalName(crate[1] ?? ''));
      if (!krate) return answerError(res, 404, `crate \`${crate[1]}\` does not exist`);
      const versions = [...krate.versions.keys()];
      return sendJson(res, 200, {
        crate: { id: krate.name, name: krate.name, max_version: versions.at(-1) ?? '0.0.0' },
        versions: [],
      });
    }
    const version = /^\/api\/v1\/crates\/([^/]+)\/([^/]+)$/.exec(path);
    if (version) return lookup(req, res, version[1] ?? '', version[2] ?? '');
    answerError(res, 404, 'Not Found');
  });

  const cio: CratesIo = {
    url: server.origin,
    indexUrl: `sparse+${server.origin}/index/`,
    audience: opts.audience ?? 'crates.io',
    configs: opts.configs ?? [defaultConfig()],
    gitlabConfigs: [{ crate: 'tp-sample', ...defaultGitLabPublisher() }],
    tokenLifetimeSeconds: 30 * 60,
    legacyErrors: false,
    warnings: { invalid_categories: [], invalid_badges: [], other: [] },
    apiTokens: new Set(),
    checkDependencies: true,
    maxUploadSize: 10 * 1024 * 1024,
    minted: [],
    exchanges: 0,
    revocations: [],
    publishes: [],
    events: [],
    crates: new Map(),
    addCrate(name) {
      if (!cio.crates.has(canonicalName(name)))
        cio.crates.set(canonicalName(name), { name, versions: new Map() });
    },
    faults: { exchange: [], publish: [], revoke: [], lookup: [], index: [] },
    indexDelayMs: 0,
    reads: [],
    close: server.close,
  };
  for (const name of opts.crates ?? cio.configs.map((c) => c.crate)) cio.addCrate(name);
  return cio;
}

/**
 * Writes `NAME-VERSION.crate` the way cargo lays one out (a gzipped tar of `NAME-VERSION/…` with a fixed
 * mtime), from a Cargo.toml text and other files. For cases cargo would never package, the caller controls
 * every byte of the manifest; the oracle test uses real `cargo package` instead.
 */
export async function makeCrate(
  dir: string,
  opts: {
    name: string;
    version: string;
    manifest: string;
    files?: Record<string, string | Buffer>;
    folder?: string;
  },
): Promise<string> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'tp-makecrate-'));
  try {
    const folder = opts.folder ?? `${opts.name}-${opts.version}`;
    const files: Record<string, string | Buffer> = {
      'src/lib.rs': '',
      ...opts.files,
      'Cargo.toml': opts.manifest,
    };
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(work, folder, name);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, content);
    }
    await fs.mkdir(dir, { recursive: true });
    const target = path.join(dir, `${opts.name}-${opts.version}.crate`);
    // Files only, as cargo writes them: no directory entries.
    const members = Object.keys(files)
      .map((name) => `${folder}/${name}`)
      .sort();
    await createTar(
      { gzip: true, file: target, cwd: work, portable: true, mtime: new Date('2006-07-24T01:21:28Z') },
      members,
    );
    return target;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
