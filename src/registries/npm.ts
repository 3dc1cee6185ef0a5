import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { SerializedBundle } from '@sigstore/bundle';
import {
  chooseDistTag,
  compareSemver,
  distTagProblem,
  escapeName,
  type NpmPackage,
  parseSemver,
  prereleaseProblem,
  readNpmPackage,
  type SemVer,
} from '../artifacts/npm-package.ts';
import { gitlabProvenanceStatement, provenanceStatement } from '../attestation/npm-provenance.ts';
import { ActionError, unexplainedRefusal } from '../errors.ts';
import { fileChunks } from '../file-chunks.ts';
import {
  apiUrl,
  exists,
  type HttpResponse,
  headerValue,
  LOOKUP_DEADLINE_MS,
  MESSAGE_CHARS,
  parseJson,
  RESPONSE_LIMITS,
  refusalCause,
  registryWords,
  send,
  TooLargeError,
} from '../http.ts';
import { circleciIds, claimText, decodeClaims, gitlabCiFile, gitlabProject, workflowFile } from '../oidc.ts';
import type { Claims } from '../types.ts';
import { untrusted } from '../untrusted.ts';
import { mintedCredential } from './credential.ts';
import { heldVersion } from './held.ts';
import type { Artifact, Credential, Registry, Target } from './registry.ts';

export interface NpmArtifact extends Artifact, NpmPackage {}

const DEFAULT_URL = 'https://registry.npmjs.org/';
const PUBLISH_TIMEOUT_MS = 120_000;
/** What npm sends for a packument (pacote): the abbreviated form first, it is far smaller. */
const INSTALL_PACKUMENT = 'application/vnd.npm.install-v1+json';
const PACKUMENT_ACCEPT = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*';

const isPublicRegistry = (target: Target): boolean => target.url.hostname === 'registry.npmjs.org';

/**
 * The registry's own words: npm puts them in `error` (publish) or `message` (token exchange), a proxy in its
 * page; undefined when it said nothing but the status.
 */
function registryText(res: HttpResponse): string | undefined {
  const body = parseJson(res) as { error?: unknown; message?: unknown; reason?: unknown } | undefined;
  const said = [body?.error, body?.message, body?.reason].find((v) => typeof v === 'string' && v);
  const text = typeof said === 'string' ? untrusted(said, MESSAGE_CHARS) : registryWords(res);
  // npm explains expired or revoked tokens only in this header.
  const notice = headerValue(res.headers['npm-notice']);
  return notice ? `${text ?? res.reason} (npm notice: ${untrusted(notice, MESSAGE_CHARS)})` : text;
}

/** The registry's words, or the status line when it gave none. */
const registrySaid = (res: HttpResponse): string => registryText(res) ?? `${res.status} ${res.reason}`.trim();

interface Packument {
  versions?: Record<string, { deprecated?: unknown; dist?: { shasum?: unknown } } | undefined>;
  'dist-tags'?: Record<string, unknown>;
}

/**
 * The package's packument; 'absent' when the registry has no such package, undefined when it did not say.
 * Without a credential it is read as anyone reads it (a restricted package is then absent).
 */
async function packument(
  target: Target,
  credential: Credential | undefined,
  pkg: NpmArtifact,
  deadlineMs?: number,
): Promise<Packument | 'absent' | undefined> {
  const res = await send({
    method: 'GET',
    url: apiUrl(target.url, escapeName(pkg.name)),
    what: `Looking up ${pkg.name} on ${target.title}`,
    headers: {
      accept: PACKUMENT_ACCEPT,
      ...(credential ? { authorization: credential.authorization } : {}),
    },
    maxResponseBytes: RESPONSE_LIMITS.listing,
    ...(deadlineMs ? { deadlineMs } : {}),
  });
  if (res.status === 404) return 'absent';
  if (res.status !== 200) return undefined;
  const doc = parseJson(res) as Packument | undefined;
  return doc && typeof doc === 'object' ? doc : undefined;
}

/** The packument before a publish; one past the ceiling is not read: then, like npm, go on without it. */
const packumentBeforePublish = (target: Target, credential: Credential, pkg: NpmArtifact) =>
  packument(target, credential, pkg).catch((err: unknown) => {
    if (err instanceof TooLargeError) return undefined;
    throw err;
  });

/**
 * npm 11's guard: without an explicit tag, a version lower than the highest published release would move
 * `latest` backwards. Prereleases and deprecated versions do not count, as in npm.
 */
function latestGoesBack(doc: Packument, pkg: NpmArtifact): string | undefined {
  const ours = parseSemver(pkg.version);
  let highest: { text: string; semver: SemVer } | undefined;
  for (const [text, manifest] of Object.entries(doc.versions ?? {})) {
    const semver = parseSemver(text);
    if (!ours || !semver || semver.prerelease.length || manifest?.deprecated) continue;
    if (compareSemver(semver, highest?.semver ?? ours) > 0) highest = { text, semver };
  }
  return highest?.text;
}

/** Orders versions by SemVer precedence; inspect() has made sure every version parses. */
function byVersion(a: string, b: string): number {
  const [x, y] = [parseSemver(a), parseSemver(b)];
  return x && y ? compareSemver(x, y) : a.localeCompare(b);
}

function existsError(target: Target, pkg: NpmArtifact, said: string): ActionError {
  return new ActionError(
    `${target.title} refused ${pkg.file}: ${pkg.name}@${pkg.version} is already published (${said})`,
    {
      cause:
        'npm versions are immutable: a version that was published once (even if unpublished later) can never be published again.',
      fix: "Bump the version in package.json and rebuild with `npm pack`; set 'skip-existing: true' when re-running a release that partly went through.",
    },
  );
}

/** npm's 403 "You cannot publish over…"; Verdaccio answers 409 "this package is already present". */
const alreadyPublished = (res: HttpResponse): boolean =>
  (res.status === 403 || res.status === 409) &&
  /cannot publish over|already present/i.test(registrySaid(res));

/** The trusted publisher matched, but its allowed actions leave out publishing (stage: staging). */
function actionDenied(message: string, pkg: NpmArtifact, stage: boolean): ActionError {
  const settings = `on npmjs.com open '${pkg.name}' → Settings → Trusted Publisher`;
  return new ActionError(message, {
    cause: stage
      ? `The trusted publisher matched, but its allowed actions do not include \`npm stage publish\`: it may only publish '${pkg.name}' directly.`
      : `The trusted publisher matched, but its allowed actions do not include \`npm publish\`: it may only stage versions of '${pkg.name}' (\`npm stage publish\`), which a maintainer then approves.`,
    fix: stage
      ? `Drop 'stage' to publish directly; or, to stage, ${settings} and allow \`npm stage publish\` (npm trust github ${pkg.name} --allow-stage-publish ...).`
      : `Set 'stage: true' to stage the version for a maintainer's approval; or, to publish directly, ${settings} and allow \`npm publish\` (check too that Publishing access lets trusted publishers publish).`,
    aboutPublisher: true,
    causeProven: true,
  });
}

/** How a maintainer approves a stage: on npmjs.com, or with npm's command (pointed at this registry). */
function approveHow(target: Target, stageId: string): string {
  const command = `npm stage approve ${stageId}${isPublicRegistry(target) ? '' : ` --registry ${target.url.href}`}`;
  return isPublicRegistry(target)
    ? `${command}, or Approve in the Staged Packages tab on npmjs.com`
    : command;
}

/** npm stage publish POSTs the publish document here (libnpmpublish); npm publish PUTs it to the packument. */
function uploadRequest(
  target: Target,
  pkg: NpmArtifact,
  stage: boolean,
): { method: 'POST' | 'PUT'; url: URL } {
  return stage
    ? { method: 'POST', url: apiUrl(target.url, `-/stage/package/${escapeName(pkg.name)}`) }
    : { method: 'PUT', url: apiUrl(target.url, escapeName(pkg.name)) };
}

function publishFailure(
  target: Target,
  credential: Credential,
  pkg: NpmArtifact,
  res: HttpResponse,
  stage: boolean,
): ActionError {
  const said = registrySaid(res);
  const message = `${target.title} refused ${pkg.file} (HTTP ${res.status}): ${said}`;
  if (alreadyPublished(res)) return existsError(target, pkg, said);
  // "OIDC permission denied for this action": the publisher's allowed actions (npm trust --allow-publish,
  // --allow-stage-publish) leave out the one this upload asked for.
  if (/OIDC permission denied/i.test(said)) return actionDenied(message, pkg, stage);
  // The registry verifies the provenance bundle before it stores anything: 422 "Error verifying sigstore
  // provenance bundle: <reason>".
  if (/Error verifying sigstore provenance bundle/i.test(said)) {
    const expected = /expected to match "([^"]+)" from provenance/.exec(said)?.[1];
    return new ActionError(message, {
      cause: expected
        ? "npm compares package.json's repository.url with the repository the provenance names (the one this workflow runs in), and they differ."
        : 'The registry could not verify the provenance attestation; its reason is above.',
      fix: expected
        ? `Set "repository": {"type": "git", "url": "git+${expected}.git"} in package.json and rebuild with \`npm pack\`; or set 'attestations: false' to publish without provenance.`
        : "Set 'attestations: false' to publish without provenance, and report this with the log.",
    });
  }
  if (res.status === 413) {
    return new ActionError(message, {
      cause: `The publish document (the ${pkg.size}-byte tarball, base64-encoded) is over the registry's size limit.`,
      fix: 'Leave build output, tests and fixtures out of the package ("files" in package.json, or .npmignore).',
    });
  }
  if (res.status === 401 || res.status === 403 || res.status === 404) {
    return new ActionError(message, {
      cause: credential.trusted
        ? `The short-lived token was refused for '${pkg.name}': it expired, or it was minted for another package.`
        : `The token given in 'password' cannot publish '${pkg.name}': it expired or was revoked, it is read-only, or its account is not a maintainer (npm answers 404 for packages a token cannot see).`,
      fix: credential.trusted
        ? 'Re-run the job; if it persists, check the trusted publisher registered for this package.'
        : 'Create a granular access token with read and write access to this package, or switch to trusted publishing.',
      aboutPublisher: credential.trusted,
    });
  }
  return unexplainedRefusal(message, res.status, 'The registry', {
    cause: refusalCause('The registry could not accept the package', registryText(res) !== undefined),
    fix: 'Correct package.json and rebuild with `npm pack`.',
  });
}

/**
 * The document `npm publish` PUTs (libnpmpublish's buildMetadata): package.json as npm normalises it (README
 * included) plus `_id` and `dist`, one dist-tag, the tarball base64-encoded under its scoped name and, with provenance, the
 * Sigstore bundle as `<name>-<version>.sigstore`.
 */
export function publishDocument(
  pkg: NpmPackage,
  tarball: Buffer,
  registry: URL,
  tag: string,
  access: string,
  provenance?: SerializedBundle,
): Record<string, unknown> {
  const fileName = `${pkg.name}-${pkg.version}.tgz`;
  const manifest = pkg.manifest;
  const existingDist = manifest.dist && typeof manifest.dist === 'object' ? manifest.dist : {};
  const version = {
    ...manifest,
    _id: `${pkg.name}@${pkg.version}`,
    dist: {
      ...existingDist,
      integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
      shasum: createHash('sha1').update(tarball).digest('hex'),
      tarball: apiUrl(registry, `${pkg.name}/-/${fileName}`).href,
    },
  };
  return {
    _id: pkg.name,
    name: pkg.name,
    description: manifest.description,
    'dist-tags': { [tag]: pkg.version },
    versions: { [pkg.version]: version },
    // npm sends `null` when no access was asked for; leaving it out means the same: the registry's default.
    ...(access ? { access } : {}),
    _attachments: {
      [fileName]: {
        content_type: 'application/octet-stream',
        data: tarball.toString('base64'),
        length: tarball.length,
      },
      ...(provenance ? { [`${pkg.name}-${pkg.version}.sigstore`]: provenanceAttachment(provenance) } : {}),
    },
  };
}

/** libnpmpublish: the bundle's JSON as text (not base64), its media type, and the text's length. */
function provenanceAttachment(bundle: SerializedBundle) {
  const data = JSON.stringify(bundle);
  return { content_type: bundle.mediaType, data, length: data.length };
}

/** The tarball's digest (hex), from the file read again and checked to be the one that was validated. */
async function tarballDigest(pkg: NpmArtifact, algorithm: 'sha1' | 'sha512'): Promise<string> {
  const [sha256, digest] = [createHash('sha256'), createHash(algorithm)];
  for await (const chunk of fileChunks(pkg.path)) {
    sha256.update(chunk);
    digest.update(chunk);
  }
  if (sha256.digest('hex') !== pkg.sha256) throw changedError(pkg);
  return digest.digest('hex');
}

const changedError = (pkg: NpmArtifact): ActionError =>
  new ActionError(`${pkg.file} changed after it was validated; nothing was sent for it.`, {
    cause: 'Another step or process is writing into packages-dir while this action runs.',
    fix: 'Let the build finish before this step, and publish from a folder nothing else writes to.',
  });

/**
 * The JSON body of the publish, from the tarball read again and checked to be the file that was validated.
 * The tarball stays inside this function, so only the body lives on during the upload.
 */
async function documentBody(
  pkg: NpmArtifact,
  target: Target,
  tag: string,
  access: string,
): Promise<{ body: Buffer; shasum: string }> {
  const tarball = await fs.readFile(pkg.path);
  if (createHash('sha256').update(tarball).digest('hex') !== pkg.sha256) throw changedError(pkg);
  const document = publishDocument(pkg, tarball, target.url, tag, access, pkg.attestations?.[0]);
  return {
    body: Buffer.from(JSON.stringify(document)),
    shasum: createHash('sha1').update(tarball).digest('hex'),
  };
}

function mintFailure(
  target: Target,
  pkg: string,
  res: HttpResponse,
  claims: Claims | undefined,
): ActionError {
  const said = registrySaid(res);
  const message = `${target.title} refused the token exchange for '${pkg}' (HTTP ${res.status}): ${said}`;
  const otherRegistry = isPublicRegistry(target)
    ? ''
    : ` ${target.url.host} may not support npm trusted publishing at all (registry.npmjs.org does): then give a token in 'password'.`;
  if (res.status === 404) {
    const selfHosted = claimText(claims, 'runner_environment') === 'self-hosted';
    return new ActionError(message, {
      cause: [
        `npm answers 'package not found' both when '${pkg}' does not exist yet (trusted publishing cannot create a package) and when no trusted publisher of the package matches this workflow:`,
        'organization or user and repository as GitHub spells them, the workflow file named in workflow_ref (for a reusable workflow: the caller), and the environment when the publisher names one.',
        selfHosted
          ? 'This job also runs on a self-hosted runner, which npm trusted publishing does not accept.'
          : '',
      ]
        .filter(Boolean)
        .join(' '),
      fix: `Publish the first version of '${pkg}' another way (npm publish with your account), then on npmjs.com open the package → Settings → Trusted Publisher → GitHub Actions and enter exactly the values below.${otherRegistry}`,
      aboutPublisher: true,
    });
  }
  if (res.status === 401 || res.status === 400) {
    return new ActionError(message, {
      cause: 'The registry could not verify the OIDC token (audience, signature or expiry).',
      fix: `Leave 'audience' empty: npm expects 'npm:${target.url.hostname}', the registry's host name.${otherRegistry}`,
      aboutPublisher: true,
    });
  }
  return new ActionError(message, {
    cause: res.status >= 500 ? 'The registry had a fault.' : 'The registry did not say why.',
    fix: res.status >= 500 ? 'Re-run the job.' : `Check 'repository-url'.${otherRegistry}`,
    aboutPublisher: res.status < 500,
  });
}

export const npm: Registry<NpmArtifact> = {
  workflowClaim: 'workflow_ref',
  // npm does not document it; matching exactly is the safe assumption (the emulator does the same).
  caseSensitiveNames: true,
  newProjectHint:
    "npm has no pending publishers: publish the first version another way (npm publish from a maintainer's account, or this action with a token in 'password'), then add the trusted publisher in the package's Settings.",

  async projectExists(target, name) {
    return exists(apiUrl(target.url, escapeName(name)), `Looking up ${name}`, { accept: PACKUMENT_ACCEPT });
  },

  target(id, repositoryUrl, audience) {
    const url = repositoryUrl ?? new URL(DEFAULT_URL);
    return {
      id,
      name: 'npm',
      title: url.hostname === 'registry.npmjs.org' ? 'npm' : `npm (${url.host})`,
      url,
      // npm's client exchanges at the registry origin's root, whatever path the registry URL has.
      mintUrl: new URL('/-/npm/v1/oidc/token/exchange/package/', url),
      audience,
    };
  },

  validate(_target, options) {
    if (options.access && options.access !== 'public' && options.access !== 'restricted') {
      throw new ActionError(`Input 'access' must be public or restricted, not '${options.access}'.`, {
        fix: "Set 'access: public' or 'access: restricted', or leave it out to use publishConfig.access or npm's default.",
      });
    }
    const problem = options.tag ? distTagProblem(options.tag) : undefined;
    if (problem) {
      throw new ActionError(`Input 'tag': ${problem}`, { fix: "Use a name such as 'next' or 'beta'." });
    }
  },

  inspect: (path) => readNpmPackage(path),

  order(artifacts, options) {
    const problems: string[] = [];
    const seen = new Map<string, string>();
    for (const a of artifacts) {
      const id = `${a.name}@${a.version}`;
      const other = seen.get(id);
      if (other) problems.push(`${other} and ${a.file} are both ${id}: a version can be published once.`);
      seen.set(id, a.file);
      const prerelease = prereleaseProblem(a, options.tag);
      if (prerelease) problems.push(`${a.file}: ${prerelease}`);
      // libnpmpublish: "Can't restrict access to unscoped packages."
      if (!a.scoped && (options.access || a.configAccess) === 'restricted') {
        problems.push(
          `${a.file}: ${a.name} is unscoped, and npm cannot restrict access to unscoped packages.`,
        );
      }
    }
    if (problems.length) {
      throw new ActionError(
        `${problems.length === 1 ? 'A package' : 'Packages'} cannot be published as asked; nothing was sent.\n${problems.join('\n')}`,
        {
          fix: "Give a dist-tag for prereleases ('tag: next'), drop 'access: restricted' for unscoped packages, and remove duplicate tarballs from packages-dir.",
        },
      );
    }
    // Per package, lowest version first: with one tag for all, the highest ends up holding it.
    return [...artifacts].sort((a, b) => a.name.localeCompare(b.name) || byVersion(a.version, b.version));
  },

  exchangeScope: (artifact) => artifact.name,
  // A package's versions go up in order (the dist-tag each moves must end on the last); packages in parallel.
  mustFollow(pkg, ordered) {
    const previous = ordered.slice(0, ordered.indexOf(pkg)).findLast((p) => p.name === pkg.name);
    return previous ? [previous] : [];
  },

  attestations: {
    kind: 'SLSA provenance attestation',
    // npm makes provenance by itself only when publishing to the public registry, which verifies it.
    verifiedBy: isPublicRegistry,
    verifiers: 'registry.npmjs.org',
    subject: (pkg) => pkg.file,
    async statement(pkg, { target, options, claims, env }) {
      // When npm makes provenance by itself with trusted publishing (lib/utils/oidc.js): a public repository and
      // a package the registry shows as public; the registry refuses provenance from private repositories.
      // npm makes SLSA provenance from a GitHub Actions run or a gitlab.com job; the claims say which.
      const gitlab = claimText(claims, 'project_path') !== undefined;
      const repository = claimText(claims, gitlab ? 'project_path' : 'repository') ?? 'this repository';
      const visibility = claimText(claims, gitlab ? 'project_visibility' : 'repository_visibility');
      if (visibility !== 'public')
        return `npm takes provenance only from public ${gitlab ? 'projects' : 'repositories'}, and ${repository} is ${visibility ?? 'of unknown visibility'}.`;
      if (gitlab && claimText(claims, 'runner_environment') !== 'gitlab-hosted')
        return `npm takes provenance from GitLab only on gitlab.com's hosted runners, and this job ran on a ${claimText(claims, 'runner_environment') ?? 'runner of unknown kind'}.`;
      if ((options.access || pkg.configAccess) === 'restricted')
        return `npm takes provenance only for public packages, and ${pkg.name} is published with access 'restricted'.`;
      // npm asks /-/package/<name>/visibility with the minted token; before any exchange, a packument anyone
      // can read says the same: trusted publishing only publishes packages that exist.
      const visible = await npm.projectExists?.(target, pkg.name).catch(() => undefined);
      if (visible !== true) {
        return visible === false
          ? `npm takes provenance only for public packages, and ${target.title} shows no ${pkg.name} without credentials.`
          : `${target.title} did not say whether ${pkg.name} is public, which npm requires for provenance.`;
      }
      const statement = gitlab ? gitlabProvenanceStatement : provenanceStatement;
      return statement(pkg, await tarballDigest(pkg, 'sha512'), claims, env);
    },
  },

  async audience(target) {
    // npm's client asks GitHub for `npm:` + the registry URL's hostname (no port).
    return target.audience ?? `npm:${target.url.hostname}`;
  },

  async mint(target, idToken, artifacts) {
    const name = artifacts[0]?.name ?? '';
    let claims: Claims | undefined;
    const res = await send({
      method: 'POST',
      url: new URL(escapeName(name), target.mintUrl),
      what: `Exchanging the OIDC token for '${name}' at ${target.title}`,
      headers: { accept: 'application/json' },
      // The JWT travels in the Authorization header, fresh for every attempt.
      attemptHeaders: async () => {
        const jwt = await idToken();
        claims = decodeClaims(jwt);
        return { authorization: `Bearer ${jwt}` };
      },
      body: () => ({ data: new Uint8Array(0), length: 0 }),
    });
    const answer = parseJson(res) as { token?: unknown; expires?: unknown } | undefined;
    if ((res.status === 201 || res.status === 200) && typeof answer?.token === 'string' && answer.token) {
      return mintedCredential(answer.token, (token) => `Bearer ${token}`, answer.expires);
    }
    throw mintFailure(target, name, res, claims);
  },

  staticCredential(token) {
    // The password input was masked when it was read; the header only prefixes it.
    return { token, authorization: `Bearer ${token}`, expiresAt: undefined, trusted: false };
  },

  async held(target, pkgs) {
    return Promise.all(
      pkgs.map(async (pkg) => {
        const doc = await packument(target, undefined, pkg, LOOKUP_DEADLINE_MS);
        const published = typeof doc === 'object' ? doc.versions?.[pkg.version] : undefined;
        if (!published) return undefined;
        const stored = typeof published.dist?.shasum === 'string' ? published.dist.shasum : '';
        return heldVersion(
          stored,
          await tarballDigest(pkg, 'sha1'),
          pkg.file,
          this.fileUrl(target, pkg),
          'sha1',
        );
      }),
    );
  },

  async upload(target, credential, pkg, options) {
    const { tag, explicit } = chooseDistTag(pkg, options.tag);
    const existing = await packumentBeforePublish(target, credential, pkg);
    const published = typeof existing === 'object' ? existing.versions?.[pkg.version] : undefined;
    if (published) {
      if (options.skipExisting)
        return { status: 'skipped', message: `${pkg.name}@${pkg.version} already exists` };
      throw existsError(
        target,
        pkg,
        `You cannot publish over the previously published versions: ${pkg.version}.`,
      );
    }
    const higher = typeof existing === 'object' && !explicit ? latestGoesBack(existing, pkg) : undefined;
    if (higher) {
      throw new ActionError(
        `${pkg.name}@${pkg.version} would move 'latest' back from ${higher}; nothing was sent for ${pkg.file}.`,
        {
          cause: `npm refuses this too: "Cannot implicitly apply the "latest" tag because previously published version ${higher} is higher than the new version ${pkg.version}."`,
          fix: "Give this release its own dist-tag (e.g. 'tag: v1-maintenance'), or bump the version above the latest release.",
        },
      );
    }
    const { body, shasum } = await documentBody(pkg, target, tag, options.access || pkg.configAccess);
    const res = await send({
      ...uploadRequest(target, pkg, options.stage),
      what: `${options.stage ? 'Staging' : 'Publishing'} ${pkg.file} to ${target.title}`,
      headers: { authorization: credential.authorization },
      timeoutMs: PUBLISH_TIMEOUT_MS,
      body: () => ({ data: body, length: body.length, contentType: 'application/json' }),
    });
    if (res.status >= 200 && res.status < 300 && options.stage) {
      const stageId = (parseJson(res) as { stageId?: unknown } | undefined)?.stageId;
      // The id is a UUID (npm validates it before approving); anything else is shown as the registry sent it.
      const id = typeof stageId === 'string' && stageId ? stageId : '(the registry gave no stage id)';
      return {
        status: 'staged',
        message: `${pkg.name}@${pkg.version} staged with tag ${tag} (stage ${id}); it is installable once a maintainer approves it: ${approveHow(target, id)}`,
        stage: { id, approve: approveHow(target, id) },
      };
    }
    if (res.status >= 200 && res.status < 300) {
      return { status: 'uploaded', message: `${pkg.name}@${pkg.version} published with tag ${tag}` };
    }
    if (alreadyPublished(res)) {
      if (options.skipExisting)
        return { status: 'skipped', message: `${pkg.name}@${pkg.version} already exists` };
      // An attempt that timed out may have gone through: our own bytes there mean our publish landed.
      const after = res.retried ? await packumentBeforePublish(target, credential, pkg) : undefined;
      if (typeof after === 'object' && after.versions?.[pkg.version]?.dist?.shasum === shasum) {
        return { status: 'uploaded', message: 'published (confirmed after a retry)' };
      }
    }
    throw publishFailure(target, credential, pkg, res, options.stage);
  },

  stages: true,

  uploadRoute(target, pkg, { stage }) {
    const { method, url } = uploadRequest(target, pkg, stage);
    return `${method} ${url.href} (${stage ? 'npm stage publish: installable once a maintainer approves it' : 'npm publish'})`;
  },

  async installChecks(target, pkgs, options, uploaded) {
    return Promise.all(
      pkgs.map(async (pkg) => {
        const shasum = await tarballDigest(pkg, 'sha1');
        // A version found there may since have lost the tag to a newer one: only a new upload must hold it.
        const tag = uploaded.has(pkg) ? chooseDistTag(pkg, options.tag).tag : undefined;
        return {
          what: `${pkg.name}@${pkg.version}${tag ? ` (tag ${tag})` : ''}${options.stage && uploaded.has(pkg) ? ', staged: awaiting approval' : ''}`,
          url: apiUrl(target.url, escapeName(pkg.name)),
          // The abbreviated packument npm install reads.
          headers: { accept: INSTALL_PACKUMENT },
          shows: (res: HttpResponse) => {
            const doc = parseJson(res) as Packument | undefined;
            const listed = doc?.versions?.[pkg.version]?.dist?.shasum === shasum;
            return listed && (tag === undefined || doc?.['dist-tags']?.[tag] === pkg.version);
          },
          files: [pkg.file],
        };
      }),
    );
  },

  fileUrl(target, pkg) {
    if (isPublicRegistry(target)) return `https://www.npmjs.com/package/${pkg.name}/v/${pkg.version}`;
    return apiUrl(target.url, pkg.name).href;
  },

  publisherForms: {
    github(claims, artifacts) {
      const repository = claimText(claims, 'repository') ?? '';
      const owner = claimText(claims, 'repository_owner') ?? '';
      return [
        { label: 'Package', value: [...new Set(artifacts.map((a) => a.name))].join(', ') },
        { label: 'Publisher', value: 'GitHub Actions' },
        { label: 'Organization or user', value: owner },
        { label: 'Repository', value: repository.slice(owner.length + 1) },
        { label: 'Workflow filename', value: workflowFile(claimText(claims, 'workflow_ref')) ?? '' },
        { label: 'Environment name', value: claimText(claims, 'environment') ?? '(leave empty)' },
      ];
    },
    gitlab(claims, artifacts) {
      const { namespace, project } = gitlabProject(claims);
      return [
        { label: 'Package', value: [...new Set(artifacts.map((a) => a.name))].join(', ') },
        { label: 'Publisher', value: 'GitLab CI/CD' },
        { label: 'Namespace', value: namespace },
        { label: 'Project name', value: project },
        { label: 'Top-level CI file path', value: gitlabCiFile(claims) ?? '' },
        { label: 'Environment name', value: claimText(claims, 'environment') ?? '(leave empty)' },
      ];
    },
    circleci(claims, artifacts) {
      const ids = circleciIds(claims);
      return [
        { label: 'Package', value: [...new Set(artifacts.map((a) => a.name))].join(', ') },
        { label: 'Publisher', value: 'CircleCI' },
        { label: 'Organization ID', value: ids.org },
        { label: 'Project ID', value: ids.project },
        { label: 'Pipeline definition ID', value: ids.pipelineDefinition },
        { label: 'VCS origin', value: ids.vcsOrigin },
      ];
    },
  },
};
