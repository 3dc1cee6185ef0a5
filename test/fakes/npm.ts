/**
 * npm registry emulator: the trusted publishing exchange, the packument and the publish PUT.
 *
 * Sources: npm/cli `lib/utils/oidc.js` (exchange URL, Bearer JWT, audience `npm:<registry hostname>`,
 * `{token}` answer, failures carried in `message`), `lib/commands/trust/github.js` (a publisher is
 * `{repository: owner/repo, workflow_ref: {file}, environment?}` plus the allow-publish permission),
 * `lib/commands/publish.js` and libnpmpublish `lib/publish.js` (the document), npm-registry-fetch
 * `lib/errors.js` (publish failures carried in `error`). The registry's own texts quoted below are those
 * npm users see from registry.npmjs.org; where its source is not public and no text is known, the checks
 * follow npm/npm-registry-couchapp's validate_doc_update.js and updates.js, and the rest say "(emulator)".
 * `npm publish` is the oracle for the wire format (test/e2e/npm-oracle.test.ts). A provenance attachment is
 * verified as npm-provenance.ts describes when the emulator has a Sigstore trust root. Staging follows npm/cli
 * `lib/commands/stage/` and libnpmpublish (`POST /-/stage/package/<escaped name>`, `{stageId}` answer) and npm's
 * staged publishing docs (a staged version holds its version number and is not installable until approved).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { decodeJwt } from 'jose';
import { Parser, type ReadEntry } from 'tar';
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
  CIRCLECI_ISSUER,
  type CircleCiIssuer,
  type CircleCiPublisher,
  type Claims,
  ciConfigPath,
  GITHUB_ISSUER,
  GITLAB_ISSUER,
  type GitLabIssuer,
  type GitLabPublisher,
  type Issuer,
} from './issuer.ts';
import {
  PROVENANCE_REFUSAL,
  ProvenanceError,
  provenanceBundleJson,
  type VerifiedProvenance,
  verifyProvenance,
} from './npm-provenance.ts';

export type { Fault } from './http.ts';

/** One trusted publisher of a package, as npmjs.com's form (or `npm trust github`) stores it. */
export interface NpmPublisher {
  /** `owner/repo`: the form's "Organization or user" and "Repository". */
  repository: string;
  /** The form's "Workflow filename", compared with the file in the `workflow_ref` claim. */
  file: string;
  /** Optional; when set, the job's `environment` claim must equal it. */
  environment?: string;
  /**
   * The publisher's allowed actions (npm/cli lib/trust-cmd.js: permissions `createPackage` for
   * `--allow-publish`, `createStagedPackage` for `--allow-stage-publish`). The exchange mints a token either
   * way; the publish or stage it was not allowed is refused with 403 "OIDC permission denied for this
   * action". Both default to true.
   */
  allowPublish?: boolean;
  allowStagePublish?: boolean;
}

/** A version staged with `npm stage publish`, not in the packument until a maintainer approves it. */
export interface StagedVersion {
  id: string;
  name: string;
  version: string;
  tag: string;
  shasum: string;
}

export interface ReceivedDocument {
  /** The package name from the URL, unescaped. */
  name: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body, undefined when it was not JSON. */
  document: Record<string, unknown> | undefined;
  status: number;
  answer: unknown;
}

interface TokenRecord {
  /** The packages it may publish; '*' = any, new packages too (a user's token). */
  packages: Set<string> | '*';
  expiresAt: number | undefined;
  publisher: NpmPublisher | undefined;
  gitlabPublisher?: GitLabPublisher;
  circleciPublisher?: NpmCircleCiPublisher;
}

/** npm's CircleCI trusted publisher: the organization, project and pipeline definition IDs, and the VCS origin. */
export type NpmCircleCiPublisher = Pick<
  CircleCiPublisher,
  'orgId' | 'projectId' | 'pipelineDefinitionId' | 'vcsOrigin'
>;

export interface Packument {
  _id: string;
  name: string;
  description?: unknown;
  'dist-tags': Record<string, string>;
  versions: Record<string, Record<string, unknown>>;
  time: Record<string, string>;
}

export interface NpmRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The `aud` a JWT must carry: `npm:` + the registry's hostname, as npm's client asks GitHub. Mutable. */
  audience: string;
  /** Trusted publishers per package name. Mutable. */
  publishers: Map<string, NpmPublisher[]>;
  /** GitLab CI/CD trusted publishers per package name, used when `gitlab` was given. Mutable. */
  gitlabPublishers: Map<string, GitLabPublisher[]>;
  /** CircleCI trusted publishers per package name, used when `circleci` was given. Mutable. */
  circleciPublishers: Map<string, NpmCircleCiPublisher[]>;
  tokenLifetimeSeconds: number;
  /** Tokens handed out by the exchange. */
  minted: string[];
  /** Every exchange past the fault queue: the path as sent, the package asked for, the status answered. */
  exchanges: { path: string; name: string; status: number }[];
  /** Every publish PUT and stage POST past the fault queue. */
  documents: ReceivedDocument[];
  /** Versions staged and not yet approved, by stage id. */
  staged: Map<string, StagedVersion>;
  /** Approves a stage, as a maintainer does with 2FA (npm stage approve): the version is published. */
  approve(stageId: string): void;
  packuments: Map<string, Packument>;
  /** Tarballs received, by `<name>/-/<file>`. */
  tarballs: Map<string, Buffer>;
  /** Consumed one per request, before normal handling. */
  faults: { exchange: Fault[]; packument: Fault[]; publish: Fault[] };
  /**
   * How long the abbreviated packument npm install reads lags behind a publish (the registry's CDN caches it):
   * that form shows the packument as it was this long ago.
   */
  installDelayMs: number;
  /** Every packument read, with the credentials it carried. */
  reads: ReadRequest[];
  /** Publishes to store and then answer by dropping the connection, as when a reply is lost on the way. */
  lostAnswers: number;
  /** Verified provenance, by `name@version` (only with a trust root). */
  provenance: Map<string, VerifiedProvenance>;
  /** A man in the middle for tests: rewrites a publish's provenance bundle (parsed JSON) before it is checked. */
  tamperProvenance?: (bundle: Record<string, unknown>) => Record<string, unknown>;
  /**
   * Puts a package on the registry (trusted publishing only serves existing packages), with its versions. A
   * restricted (private) package's packument is shown only to a token that may publish it.
   */
  addPackage(name: string, versions?: string[], opts?: { deprecated?: string[]; restricted?: boolean }): void;
  /** A long-lived token, as a user would create on npmjs.com; `packages` '*' may also create packages. */
  addToken(token: string, packages: string[] | '*'): void;
  close(): Promise<void>;
}

// The registry's texts, as npm prints them after "<status> <reason> - PUT <url> - ".
export const CANNOT_PUBLISH_OVER = (version: string): string =>
  `You cannot publish over the previously published versions: ${version}.`;
export const MUST_LOG_IN = 'You must be logged in to publish packages.';
export const NOT_FOUND = 'Not found';
export const TOKEN_EXPIRED_NOTICE = 'Access token expired or revoked. Please try logging in again.';
export const NO_PERMISSION = (name: string): string =>
  `You do not have permission to publish "${name}". Are you logged in as the correct user?`;
export const OIDC_PERMISSION_DENIED = 'OIDC permission denied for this action';
// npm/cli oidc.js logs `error.body.message`; these three are the ones users have reported.
export const EXCHANGE_ERROR = (what: 'bad request' | 'unauthorized' | 'package not found'): string =>
  `OIDC token exchange error - ${what}`;

const EXCHANGE_PATH = '/-/npm/v1/oidc/token/exchange/package/';
/** libnpmpublish: npm stage publish POSTs the publish document to `/-/stage/package/<escaped name>`. */
const STAGE_PATH = '/-/stage/package/';
const MAX_BODY = 100 * 1024 * 1024;
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$/;

export const defaultPublisher = (): NpmPublisher => ({
  repository: 'octo-org/tp-sample',
  file: 'release.yml',
  environment: 'release',
});

/** A package name from a registry path: `@scope%2fname`, `@scope%2Fname` and `@scope/name` all work. */
function nameFromPath(pathname: string): string | undefined {
  try {
    const name = decodeURIComponent(pathname.slice(1));
    return /^(?:@[^/]+\/)?[^/@][^/]*$/.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A publisher matches when the token's `repository` is its owner/repo, the file in `workflow_ref` (the
 * caller's workflow, not a reusable one's) is its workflow file, and, when it names an environment, the
 * token's `environment` is that one. npm accepts only GitHub-hosted runners. Comparisons are exact.
 */
export function publisherMatches(p: NpmPublisher, claims: Claims): boolean {
  const file = /^[^/]+\/[^/]+\/\.github\/workflows\/([^@/]+)@/.exec(String(claims.workflow_ref ?? ''))?.[1];
  if (claims.iss !== GITHUB_ISSUER || claims.runner_environment !== 'github-hosted') return false;
  if (claims.repository !== p.repository || file !== p.file) return false;
  return !p.environment || claims.environment === p.environment;
}

/**
 * A GitLab publisher matches when `project_path` is its namespace/project, the file in `ci_config_ref_uri`
 * its top-level CI file and, when it names an environment, the job's `environment` that one: all exactly.
 * npm accepts only gitlab.com's hosted runners.
 */
export function gitlabPublisherMatches(p: GitLabPublisher, claims: Claims): boolean {
  if (claims.iss !== GITLAB_ISSUER || claims.runner_environment !== 'gitlab-hosted') return false;
  if (claims.project_path !== `${p.namespace}/${p.project}`) return false;
  if (ciConfigPath(String(claims.ci_config_ref_uri ?? '')) !== p.ciFile) return false;
  return !p.environment || claims.environment === p.environment;
}

/**
 * A CircleCI publisher matches when the organization, project and pipeline definition IDs and the VCS origin
 * are its own, exactly; a job re-run with SSH never does.
 */
export function circleciPublisherMatches(p: NpmCircleCiPublisher, claims: Claims): boolean {
  const claim = (name: string) => claims[`oidc.circleci.com/${name}`];
  if (claims.iss !== CIRCLECI_ISSUER || claim('ssh-rerun') !== false) return false;
  return (
    claim('org-id') === p.orgId &&
    claim('project-id') === p.projectId &&
    claim('pipeline-definition-id') === p.pipelineDefinitionId &&
    claim('vcs-origin') === p.vcsOrigin
  );
}

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const sha512 = (b: Buffer): string => `sha512-${createHash('sha512').update(b).digest('base64')}`;

/**
 * The package.json in a tarball's top folder (`package/` from npm pack, `node/` in a DefinitelyTyped tarball:
 * the registry and npm strip the first path segment whatever it is), or a reason it cannot be read.
 */
async function packedManifest(tgz: Buffer): Promise<Record<string, unknown> | string> {
  let tar: Buffer;
  try {
    tar = gunzipSync(tgz);
  } catch (err) {
    return `tarball is not gzip data (${(err as Error).message})`;
  }
  return new Promise((resolve) => {
    let manifest: Record<string, unknown> | string = 'tarball has no package.json in its top folder';
    const parser = new Parser({ strict: true });
    parser.on('entry', (entry: ReadEntry) => {
      if (!/^[^/]+\/package\.json$/.test(entry.path)) return entry.resume();
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => {
        try {
          manifest = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          manifest = `${entry.path} is not JSON`;
        }
      });
    });
    parser.on('error', (err: Error) => resolve(`tarball cannot be read (${err.message})`));
    parser.on('end', () => resolve(manifest));
    parser.end(tar);
  });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a publish document the way the registry must for `npm install` to work afterwards: one version whose
 * dist matches the one attachment, named as npm names it. Returns the reason for a 400, or the parts to store.
 */
async function checkDocument(
  doc: Record<string, unknown>,
  name: string,
): Promise<
  | string
  | {
      version: string;
      manifest: Record<string, unknown>;
      tags: Record<string, string>;
      tarball: Buffer;
      file: string;
      /** The `<name>-<version>.sigstore` attachment, when sent. */
      provenance: unknown;
    }
> {
  // validate_doc_update.js
  if (doc.name !== name) return `Invalid name: ${JSON.stringify(doc.name)}`;
  if (doc._id !== doc.name) return 'name must match _id';
  const tags = doc['dist-tags'];
  if (!isObject(tags)) return 'dist-tags must be object';
  const versions = doc.versions;
  if (!isObject(versions)) return 'versions must be object';
  const keys = Object.keys(versions);
  if (keys.length !== 1) return `a publish carries exactly one version, not ${keys.length} (emulator)`;
  const version = keys[0] as string;
  // updates.js newDoc / addNewVersion
  if (!SEMVER.test(version)) return `Invalid version: ${JSON.stringify(version)}`;
  const manifest = versions[version];
  if (!isObject(manifest)) return 'version entries must be objects';
  if (manifest.version !== version) {
    return `Version mismatch: ${JSON.stringify(version)} !== ${JSON.stringify(manifest.version)}`;
  }
  if (manifest.name !== name) return `version ${version} has incorrect name: ${String(manifest.name)}`;
  if (manifest._id !== `${name}@${version}`)
    return `version ${version} has _id ${JSON.stringify(manifest._id)}, expected "${name}@${version}" (emulator)`;
  if (Object.keys(tags).length === 0) return 'no dist-tag given (emulator)';
  for (const [tag, target] of Object.entries(tags)) {
    if (typeof target !== 'string' || !SEMVER.test(target))
      return `${tag} version invalid version: ${String(target)}`;
    if (target !== version) return `${tag} version missing: ${target}`;
  }
  const dist = manifest.dist;
  if (!isObject(dist)) return `no dist object in ${version} version`;
  if (!dist.tarball) return `no tarball in ${version} version`;
  if (!dist.shasum) return `no shasum in ${version} version`;
  if (
    doc.access !== undefined &&
    doc.access !== null &&
    doc.access !== 'public' &&
    doc.access !== 'restricted'
  ) {
    return `access must be public or restricted, not ${JSON.stringify(doc.access)} (emulator)`;
  }
  if (doc.access === 'restricted' && !name.startsWith('@'))
    return "Can't restrict access to unscoped packages. (emulator)";
  const file = `${name}-${version}.tgz`;
  const bundleFile = `${name}-${version}.sigstore`;
  const attachments = doc._attachments;
  if (!isObject(attachments)) return 'no _attachments: the tarball must be attached (emulator)';
  const attachmentKeys = Object.keys(attachments);
  if (!attachmentKeys.includes(file) || attachmentKeys.some((k) => k !== file && k !== bundleFile)) {
    return `attachments ${JSON.stringify(attachmentKeys)} do not match the version: expected ["${file}"] or ["${file}", "${bundleFile}"] (emulator)`;
  }
  const attachment = attachments[file];
  if (!isObject(attachment) || typeof attachment.data !== 'string')
    return `attachment ${file} has no data (emulator)`;
  if (attachment.content_type !== 'application/octet-stream') {
    return `attachment content_type ${JSON.stringify(attachment.content_type)} is not application/octet-stream (emulator)`;
  }
  const tarball = Buffer.from(attachment.data, 'base64');
  if (tarball.toString('base64') !== attachment.data)
    return `attachment ${file} is not valid base64 (emulator)`;
  if (attachment.length !== tarball.length) {
    return `attachment length ${String(attachment.length)} does not match its ${tarball.length} bytes of data (emulator)`;
  }
  if (dist.shasum !== sha1(tarball))
    return `shasum ${String(dist.shasum)} does not match the attachment, ${sha1(tarball)} (emulator)`;
  if (dist.integrity !== sha512(tarball))
    return `integrity ${String(dist.integrity)} does not match the attachment (emulator)`;
  if (typeof dist.tarball !== 'string' || !dist.tarball.endsWith(`/${name}/-/${file}`)) {
    return `dist.tarball ${String(dist.tarball)} does not end with /${name}/-/${file} (emulator)`;
  }
  const packed = await packedManifest(tarball);
  if (typeof packed === 'string') return `${packed} (emulator)`;
  if (
    packed.name !== name ||
    String(packed.version)
      .replace(/^[=v]+/, '')
      .split('+')[0] !== version
  ) {
    return `the tarball's package.json is ${String(packed.name)}@${String(packed.version)}, not ${name}@${version} (emulator)`;
  }
  return {
    version,
    manifest,
    tags: tags as Record<string, string>,
    tarball,
    file,
    provenance: attachments[bundleFile],
  };
}

export async function startNpm(opts: {
  issuer: Issuer;
  publishers?: Record<string, NpmPublisher[]>;
  /** GitLab's issuer, whose tokens the emulator then takes too. */
  gitlab?: GitLabIssuer;
  gitlabPublishers?: Record<string, GitLabPublisher[]>;
  /** A CircleCI organization's issuer, whose tokens the emulator then takes too. */
  circleci?: CircleCiIssuer;
  circleciPublishers?: Record<string, NpmCircleCiPublisher[]>;
  /**
   * The Sigstore trust root provenance is verified against (npm uses the public-good one). Without it a
   * `.sigstore` attachment is accepted unread, and no provenance is kept.
   */
  trustedRoot?: TrustedRoot;
}): Promise<NpmRegistry> {
  const { issuer } = opts;
  const tokens = new Map<string, TokenRecord>();
  const restricted = new Set<string>();
  const usedJti = new Set<string>();
  /** Versions ever published, unpublished ones included: npm never takes them again. */
  const everPublished = new Map<string, Set<string>>();

  function tokenFor(req: http.IncomingMessage): TokenRecord | 'none' | 'unknown' {
    const value = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!value) return 'none';
    const record = tokens.get(value);
    if (!record || (record.expiresAt !== undefined && record.expiresAt <= Date.now())) return 'unknown';
    return record;
  }

  async function exchange(req: http.IncomingMessage, res: http.ServerResponse, rest: string): Promise<void> {
    if (fault(npm.faults.exchange, req, res)) return;
    await readBody(req, 1024 * 1024);
    const name = nameFromPath(`/${rest}`) ?? rest;
    const answer = (status: number, what: Parameters<typeof EXCHANGE_ERROR>[0]) => {
      npm.exchanges.push({ path: req.url ?? '', name, status });
      sendJson(res, status, { message: EXCHANGE_ERROR(what) });
    };
    const jwt = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (jwt?.split('.').length !== 3) return answer(400, 'bad request');
    let claims: Claims;
    let fromGitLab = false;
    let fromCircleCi = false;
    try {
      const iss = decodeJwt(jwt).iss;
      fromGitLab = opts.gitlab !== undefined && iss === GITLAB_ISSUER;
      fromCircleCi = opts.circleci !== undefined && iss === CIRCLECI_ISSUER;
      const verifier = (fromGitLab && opts.gitlab) || (fromCircleCi && opts.circleci) || issuer;
      claims = await verifier.verify(jwt, npm.audience);
    } catch {
      return answer(401, 'unauthorized');
    }
    // Each token is accepted once.
    const jti = String(decodeJwt(jwt).jti ?? '');
    if (!jti || usedJti.has(jti)) return answer(401, 'unauthorized');
    usedJti.add(jti);
    const known = npm.packuments.has(name);
    const publisher =
      known && !fromGitLab && !fromCircleCi
        ? (npm.publishers.get(name) ?? []).find((p) => publisherMatches(p, claims))
        : undefined;
    const gitlabPublisher =
      known && fromGitLab
        ? (npm.gitlabPublishers.get(name) ?? []).find((p) => gitlabPublisherMatches(p, claims))
        : undefined;
    const circleciPublisher =
      known && fromCircleCi
        ? (npm.circleciPublishers.get(name) ?? []).find((p) => circleciPublisherMatches(p, claims))
        : undefined;
    if (!publisher && !gitlabPublisher && !circleciPublisher) return answer(404, 'package not found');
    const token = `npm_${randomBytes(27).toString('base64url').slice(0, 36)}`;
    const created = new Date();
    const expires = new Date(created.getTime() + npm.tokenLifetimeSeconds * 1000);
    tokens.set(token, {
      packages: new Set([name]),
      expiresAt: expires.getTime(),
      publisher,
      gitlabPublisher,
      circleciPublisher,
    });
    npm.minted.push(token);
    npm.exchanges.push({ path: req.url ?? '', name, status: 201 });
    sendJson(res, 201, {
      token_type: 'oidc',
      token,
      created: created.toISOString(),
      expires: expires.toISOString(),
    });
  }

  /** Each package's packument after every change, so the cached (abbreviated) form can lag behind. */
  const history = new Map<string, { at: number; doc: Packument }[]>();
  const remember = (name: string, doc: Packument) =>
    history.set(name, [...(history.get(name) ?? []), { at: Date.now(), doc: structuredClone(doc) }]);

  function packumentOf(req: http.IncomingMessage, res: http.ServerResponse, name: string): void {
    logRead(npm.reads, req, req.url ?? '');
    if (fault(npm.faults.packument, req, res)) return;
    req.resume();
    const cached = (req.headers.accept ?? '').includes('application/vnd.npm.install-v1+json');
    const doc = cached
      ? history.get(name)?.findLast((h) => visibleOn(h.at, npm.installDelayMs))?.doc
      : npm.packuments.get(name);
    const token = tokenFor(req);
    const hidden =
      restricted.has(name) &&
      (typeof token === 'string' || (token.packages !== '*' && !token.packages.has(name)));
    if (doc && !hidden) sendJson(res, 200, doc);
    else sendJson(res, 404, { error: NOT_FOUND });
  }

  /** What approving each stage does: the version is stored as a publish stores it. */
  const approvals = new Map<string, () => void>();

  /**
   * A publish (PUT) or, with `stage`, npm stage publish (POST /-/stage/package/<name>: the same document,
   * answered 201 with `{stageId}`; the version shares the publish versions' unique index but stays out of the
   * packument until approved).
   */
  async function publish(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    name: string,
    stage = false,
  ): Promise<void> {
    if (fault(npm.faults.publish, req, res)) return;
    const record: ReceivedDocument = {
      name,
      path: req.url ?? '',
      headers: req.headers,
      document: undefined,
      status: 0,
      answer: undefined,
    };
    npm.documents.push(record);
    const answer = (
      status: number,
      body: Record<string, unknown>,
      headers: http.OutgoingHttpHeaders = {},
    ) => {
      record.status = status;
      record.answer = body;
      send(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
    };
    const body = await readBody(req, MAX_BODY);
    if (!body) return answer(413, { error: 'request entity too large (emulator)' });
    const token = tokenFor(req);
    if (token === 'none') return answer(401, { error: MUST_LOG_IN });
    if (token === 'unknown') return answer(404, { error: NOT_FOUND }, { 'npm-notice': TOKEN_EXPIRED_NOTICE });
    if ((req.headers['content-type'] ?? '').split(';')[0]?.trim() !== 'application/json') {
      return answer(400, { error: `content-type must be application/json (emulator)` });
    }
    try {
      record.document = JSON.parse(body.toString('utf8'));
    } catch {
      return answer(400, { error: 'body is not JSON (emulator)' });
    }
    const doc = record.document;
    if (!isObject(doc)) return answer(400, { error: 'body is not a JSON object (emulator)' });
    const exists = npm.packuments.get(name);
    if (token.packages !== '*' && !token.packages.has(name)) {
      // A package the token cannot see looks absent.
      return exists ? answer(403, { error: NO_PERMISSION(name) }) : answer(404, { error: NOT_FOUND });
    }
    const allowed = stage ? token.publisher?.allowStagePublish : token.publisher?.allowPublish;
    if (token.publisher && allowed === false) return answer(403, { error: OIDC_PERMISSION_DENIED });
    const checked = await checkDocument(doc, name);
    if (typeof checked === 'string') return answer(400, { error: checked });
    const { version, manifest, tags, tarball, file } = checked;
    if (
      everPublished.get(name)?.has(version) ||
      [...npm.staged.values()].some((v) => v.name === name && v.version === version)
    )
      return answer(403, { error: CANNOT_PUBLISH_OVER(version) });
    let provenance: VerifiedProvenance | undefined;
    // npm takes no provenance from CircleCI (its CLI never makes any there).
    if (checked.provenance !== undefined && token.circleciPublisher)
      return answer(422, { error: `${PROVENANCE_REFUSAL}: provenance is not supported for CircleCI` });
    if (checked.provenance !== undefined && opts.trustedRoot) {
      try {
        const json = provenanceBundleJson(checked.provenance);
        provenance = verifyProvenance(npm.tamperProvenance?.(json) ?? json, {
          trustedRoot: opts.trustedRoot,
          name,
          version,
          tarball,
          repository: manifest.repository,
          publisher: token.publisher,
          gitlabPublisher: token.gitlabPublisher,
        });
      } catch (err) {
        if (!(err instanceof ProvenanceError)) throw err;
        return answer(422, { error: `${PROVENANCE_REFUSAL}: ${err.message}` });
      }
    }
    const commit = () => {
      const current = npm.packuments.get(name);
      const now = new Date().toISOString();
      const packument: Packument = current ?? {
        _id: name,
        name,
        'dist-tags': {},
        versions: {},
        time: { created: now },
      };
      const { readme: _readme, readmeFilename: _file, ...stored } = manifest;
      // The registry points to the version's attestations from its dist, as pacote reads them.
      if (provenance) {
        stored.dist = {
          ...(stored.dist as Record<string, unknown>),
          attestations: {
            url: `${server.origin}/-/npm/v1/attestations/${name}@${version}`,
            provenance: { predicateType: provenance.predicateType },
          },
        };
        npm.provenance.set(`${name}@${version}`, provenance);
      }
      packument.versions[version] = stored;
      Object.assign(packument['dist-tags'], tags);
      packument.time[version] = now;
      packument.time.modified = now;
      if (tags.latest === version) packument.description = doc.description;
      npm.packuments.set(name, packument);
      remember(name, packument);
      everPublished.set(name, new Set([...(everPublished.get(name) ?? []), version]));
      npm.tarballs.set(`${name}/-/${file}`, tarball);
    };
    if (stage) {
      const stageId = randomUUID();
      const [tag = 'latest'] = Object.keys(tags);
      npm.staged.set(stageId, { id: stageId, name, version, tag, shasum: sha1(tarball) });
      approvals.set(stageId, commit);
      return answer(201, { stageId });
    }
    commit();
    if (npm.lostAnswers > 0) {
      npm.lostAnswers--;
      record.status = 200;
      record.answer = 'lost';
      res.socket?.destroy();
      return;
    }
    answer(200, { success: true });
  }

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://npm');
    if (req.method === 'POST' && url.pathname.startsWith(EXCHANGE_PATH)) {
      return exchange(req, res, url.pathname.slice(EXCHANGE_PATH.length));
    }
    const name = nameFromPath(url.pathname);
    if (name && req.method === 'GET') return packumentOf(req, res, name);
    if (name && req.method === 'PUT') return publish(req, res, name);
    const staging = url.pathname.startsWith(STAGE_PATH)
      ? nameFromPath(url.pathname.slice(STAGE_PATH.length - 1))
      : undefined;
    if (staging && req.method === 'POST') return publish(req, res, staging, true);
    req.resume();
    sendJson(res, 404, { error: NOT_FOUND });
  });

  const hostname = new URL(server.origin).hostname;
  const npm: NpmRegistry = {
    url: server.origin,
    audience: `npm:${hostname}`,
    publishers: new Map(Object.entries(opts.publishers ?? {})),
    gitlabPublishers: new Map(Object.entries(opts.gitlabPublishers ?? {})),
    circleciPublishers: new Map(Object.entries(opts.circleciPublishers ?? {})),
    tokenLifetimeSeconds: 3600,
    minted: [],
    exchanges: [],
    documents: [],
    staged: new Map(),
    approve(stageId) {
      const commit = approvals.get(stageId);
      if (!commit) throw new Error(`no stage ${stageId} on the emulator`);
      approvals.delete(stageId);
      npm.staged.delete(stageId);
      commit();
    },
    packuments: new Map(),
    tarballs: new Map(),
    faults: { exchange: [], packument: [], publish: [] },
    installDelayMs: 0,
    reads: [],
    lostAnswers: 0,
    provenance: new Map(),
    addPackage(name, versions = [], { deprecated = [], restricted: isRestricted = false } = {}) {
      if (isRestricted) restricted.add(name);
      else restricted.delete(name);
      const now = new Date().toISOString();
      const packument: Packument = {
        _id: name,
        name,
        'dist-tags': {},
        versions: {},
        time: { created: now, modified: now },
      };
      for (const version of versions) {
        packument.versions[version] = {
          name,
          version,
          _id: `${name}@${version}`,
          ...(deprecated.includes(version) ? { deprecated: 'no longer supported' } : {}),
          dist: { shasum: '0'.repeat(40), tarball: `${server.origin}/${name}/-/${name}-${version}.tgz` },
        };
        packument.time[version] = now;
        packument['dist-tags'].latest = version;
      }
      npm.packuments.set(name, packument);
      history.set(name, [{ at: 0, doc: structuredClone(packument) }]);
      everPublished.set(name, new Set(versions));
    },
    addToken(token, packages) {
      tokens.set(token, {
        packages: packages === '*' ? '*' : new Set(packages),
        expiresAt: undefined,
        publisher: undefined,
      });
    },
    close: server.close,
  };
  return npm;
}

/** The ids of `npm publish`'s document that any registry relies on, for comparing two publishers. */
export function documentSignature(doc: Record<string, unknown> | undefined): Record<string, unknown> {
  const versions = (doc?.versions ?? {}) as Record<string, Record<string, unknown>>;
  const [version, manifest] = Object.entries(versions)[0] ?? [];
  const dist = (manifest?.dist ?? {}) as Record<string, unknown>;
  const attachments = (doc?._attachments ?? {}) as Record<string, Record<string, unknown>>;
  const [key, attachment] = Object.entries(attachments)[0] ?? [];
  return {
    _id: doc?._id,
    name: doc?.name,
    description: doc?.description,
    'dist-tags': doc?.['dist-tags'],
    // npm sends null for "not asked"; leaving it out says the same.
    access: doc?.access ?? null,
    version,
    versionId: manifest?._id,
    versionName: manifest?.name,
    integrity: dist.integrity,
    shasum: dist.shasum,
    tarballPath: typeof dist.tarball === 'string' ? new URL(dist.tarball).pathname : undefined,
    attachmentKey: key,
    contentType: attachment?.content_type,
    data: attachment?.data,
    length: attachment?.length,
  };
}

export interface NpmRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The machine's npm with nothing from this machine's or the test runner's configuration: a fresh HOME, user
 * config and cache, no CI variables (npm would try trusted publishing) unless `env` adds them, no stdin.
 */
export function runNpm(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; npmrc?: string },
): Promise<NpmRun> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-npm-home-'));
  const userconfig = path.join(home, '.npmrc');
  fs.writeFileSync(userconfig, opts.npmrc ?? '');
  return new Promise((resolve) => {
    const child = execFile(
      'npm',
      args,
      {
        cwd: opts.cwd,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          LANG: 'C.UTF-8',
          npm_config_userconfig: userconfig,
          npm_config_cache: path.join(home, 'cache'),
          npm_config_update_notifier: 'false',
          npm_config_fund: 'false',
          npm_config_audit: 'false',
          ...opts.env,
        },
        timeout: 120_000,
      },
      (err, stdout, stderr) => {
        fs.rmSync(home, { recursive: true, force: true });
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

/**
 * Packs a package with the real `npm pack`, so the tarball's layout, gzip and file name are npm's own.
 * `padBytes` adds random bytes so two packs of one version differ.
 */
export async function packNpm(
  dir: string,
  opts: {
    name: string;
    version: string;
    readme?: string;
    publishConfig?: Record<string, string>;
    padBytes?: number;
    /** package.json's repository.url, which npm's registry compares with provenance. */
    repository?: string;
  },
): Promise<string> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-npm-pack-'));
  try {
    const manifest = {
      name: opts.name,
      version: opts.version,
      description: 'A generated package used to test trusted publishing',
      main: 'index.js',
      license: 'MIT',
      ...(opts.publishConfig ? { publishConfig: opts.publishConfig } : {}),
      ...(opts.repository ? { repository: { type: 'git', url: opts.repository } } : {}),
    };
    fs.writeFileSync(path.join(work, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    fs.writeFileSync(
      path.join(work, 'index.js'),
      `module.exports = ${JSON.stringify({ version: opts.version })};\n`,
    );
    if (opts.readme !== undefined) fs.writeFileSync(path.join(work, 'README.md'), opts.readme);
    if (opts.padBytes) fs.writeFileSync(path.join(work, 'pad.bin'), randomBytes(opts.padBytes));
    const packed = await runNpm(['pack', '--pack-destination', dir, '--json', '--ignore-scripts'], {
      cwd: work,
    });
    if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.stdout}\n${packed.stderr}`);
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    return path.join(dir, filename);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
