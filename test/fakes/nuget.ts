/**
 * nuget.org (NuGetGallery) emulator, written from NuGet/NuGetGallery's own sources:
 *   src/NuGetGallery/Controllers/TokenApiController.cs (POST /api/v2/token),
 *   src/NuGetGallery.Services/Authentication/Federated/FederatedCredentialService.cs (GenerateApiKeyAsync),
 *   .../Federated/FederatedCredentialPolicyEvaluator.cs (JWT checks, policy order, disclosable errors),
 *   .../Federated/GitHubTokenPolicyValidator.cs + TokenPolicyValidator.cs + GitHubCriteria.cs (matching),
 *   src/NuGetGallery/Controllers/ApiController.cs (PUT /api/v2/package and /api/v2/symbolpackage),
 *   src/NuGetGallery.Services/Authentication/Providers/ApiKey/ApiKeyAuthenticationHandler.cs (a refused key
 *   with an X-NuGet-ApiKey header always ends as 403), src/NuGetGallery/Services/SymbolPackageService.cs,
 *   src/NuGetGallery/Infrastructure/HttpStatusCodeWithBodyResult.cs (message in the status line and body),
 *   src/NuGetGallery/Strings.resx and NuGetGallery.Services/ServicesStrings.resx (texts).
 * The client side of the exchange is NuGet/login's src/index.ts; of the push, NuGet.Client's
 * PackageUpdateResource.cs (multipart part "package", file "package.nupkg", X-NuGet-ApiKey).
 */
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import Busboy from 'busboy';
import { XMLParser } from 'fast-xml-parser';
import { decodeJwt, errors as joseErrors } from 'jose';
import yauzl from 'yauzl';
import { type Fault, fault, listen, readBody, send, sendJson, visibleOn } from './http.ts';
import { type Claims, GITLAB_ISSUER, type GitLabIssuer, type Issuer } from './issuer.ts';

export type { Fault } from './http.ts';

/** A GitHub Actions trusted publishing policy (FederatedCredentialPolicy with GitHubCriteria). */
export interface NuGetPolicy {
  name: string;
  /** The account that created it: the exchange's `username` must name it. */
  createdBy: string;
  /** The account or organisation whose packages the issued keys may push. */
  packageOwner: string;
  owner: string;
  repository: string;
  /** File name only, e.g. release.yml. */
  workflow: string;
  environment?: string;
  /** Both set: a permanent policy (IDs compared exactly). Both absent: a temporary one, filled in at first use. */
  ownerId?: string;
  repositoryId?: string;
  /** Temporary policies stop matching after this date unless used. */
  validateBy?: Date;
  /** Package ID globs of the policy's scope; '*' is every package of the owner. */
  packages: string[];
  created: Date;
}

/**
 * A GitLab CI/CD trust policy: namespace and project (compared ignoring case, their ids kept at first use),
 * an optional branch and environment (compared exactly). The CI file is not part of it.
 */
export interface NuGetGitLabPolicy {
  name: string;
  createdBy: string;
  packageOwner: string;
  namespace: string;
  project: string;
  ref?: string;
  environment?: string;
  namespaceId?: string;
  projectId?: string;
  packages: string[];
  created: Date;
}

export const defaultGitLabPolicy = (): NuGetGitLabPolicy => ({
  name: 'release-gitlab',
  createdBy: 'octocat',
  packageOwner: 'octo-org',
  namespace: 'octo-group',
  project: 'tp-sample',
  environment: 'release',
  packages: ['*'],
  created: new Date('2025-01-01T00:00:00Z'),
});

export interface NuGetAccount {
  username: string;
  organization?: boolean;
  /** Organisations: the users allowed to act for it. */
  members?: string[];
  locked?: boolean;
  unconfirmed?: boolean;
}

export interface ReceivedPush {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The multipart file part's field and file names, or undefined for a raw body. */
  part?: { field: string; filename: string; contentType: string };
  body: Buffer;
  sha256: string;
  status: number;
  answer: string;
}

export interface StoredVersion {
  id: string;
  /** Normalised. */
  version: string;
  sha256: string;
  symbols?: { sha256: string; validating: boolean };
  /** When it was pushed (ms); the flat container lists it `listingDelayMs` later. */
  pushedAt?: number;
}

export interface StoredPackage {
  /** The ID as first pushed. */
  id: string;
  owner: string;
  /** Key: lower-cased normalised version. */
  versions: Map<string, StoredVersion>;
}

interface ApiKey {
  user: string;
  packageOwner: string;
  packages: string[];
  expires: number;
}

export interface NuGet {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The NuGetAudience setting the `aud` claim must equal. Mutable. */
  audience: string;
  /** FederatedCredentialConfiguration.EnableTokenApi: false answers 404. */
  tokenApiEnabled: boolean;
  /** BannedGitHubActionsEvents. */
  bannedEvents: string[];
  accounts: Map<string, NuGetAccount>;
  policies: NuGetPolicy[];
  /** GitLab policies, used when `gitlab` was given. Mutable. */
  gitlabPolicies: NuGetGitLabPolicy[];
  keyLifetimeSeconds: number;
  /** The request size limit (maxRequestLength): 250 MB on nuget.org. */
  maxPackageBytes: number;
  /** 'pending' keeps pushed symbol packages validating, so the next push of them meets a 409. */
  symbolValidation: 'instant' | 'pending';
  /** X-NuGet-Warning headers sent with a successful package push. */
  pushWarnings: string[];
  minted: string[];
  /** Every exchange request, faulted ones included (with an empty body and `fault: …` as the answer). */
  exchanges: { headers: http.IncomingHttpHeaders; body: string; status: number; answer: string }[];
  pushes: ReceivedPush[];
  /** Key: lower-cased package ID. */
  packages: Map<string, StoredPackage>;
  /** Every GET, with the credentials it carried (none are due: the read API is public). */
  reads: { path: string; authorization: string | undefined; apiKey: string | string[] | undefined }[];
  /** How long after a push the flat container lists the version. */
  listingDelayMs: number;
  /** How long a push takes to be answered once its body is read (a release that takes a while). */
  pushLatencyMs: number;
  faults: { exchange: Fault[]; push: Fault[]; read: Fault[] };
  addAccount(account: NuGetAccount): void;
  /** Registers an existing package of `owner`, so keys of other owners are refused on it. */
  registerPackage(id: string, owner: string): void;
  close(): Promise<void>;
}

const GITHUB_AUTHORITY = 'token.actions.githubusercontent.com';
const MAX_NUSPEC_BYTES = 1024 * 1024;

// Real texts (resx values and literals of the sources above).
export const API_KEY_NOT_AUTHORIZED =
  'The specified API key is invalid, has expired, or does not have permission to access the specified package.';
const API_KEY_REQUIRED = "An API key must be provided in the 'X-NuGet-ApiKey' header to use this service";
const FAILED_TO_READ =
  'Failed to read the package file. Ensure it is a valid NuGet package with a valid manifest.';
const TOO_LARGE = 'The package file exceeds the size limit. Please try again.';
export const packageExists = (id: string, version: string): string =>
  `A package with ID '${id}' and version '${version}' already exists and cannot be modified.`;
export const SYMBOLS_VALIDATING =
  'It looks like there is another copy of this symbols package pending validation(s). Please wait for the validation(s) to finish before trying to replace the symbols package.';
const symbolsMissingPackage = (id: string, version: string): string =>
  `A package with ID '${id}' and version '${version}' does not exist. Please upload the package before uploading its symbols.`;
const SYMBOLS_NOT_ALLOWED_IN_PUSH =
  'Snupkg upload failed. Please use latest NuGet clients (v 4.9.0 or above) and a V3 endpoint to push Symbol packages. For details, refer https://docs.microsoft.com/nuget/create-packages/symbol-packages-snupkg';
const NOT_SYMBOLS =
  "The uploaded package is not a valid symbols package. The required 'SymbolsPackage' package type is missing.";
const invalidNuspec = (error: string): string =>
  `The NuGet package contains an invalid .nuspec file. The error encountered was: '${error}'. Correct the error and try again.`;
export const noMatchingPolicy = (user: string): string =>
  `No matching trust policy owned by user '${user}' was found.`;
const REPLAYED = 'This bearer token has already been used. A new bearer token must be used for each request.';
const missingClaim = (claim: string): string =>
  `The JSON Web Token is missing the required claim '${claim}'.`;

export const defaultPolicy = (): NuGetPolicy => ({
  name: 'release',
  createdBy: 'octocat',
  packageOwner: 'octo-org',
  owner: 'octo-org',
  repository: 'tp-sample',
  workflow: 'release.yml',
  environment: 'release',
  ownerId: '1234567',
  repositoryId: '7654321',
  packages: ['*'],
  created: new Date('2025-01-01T00:00:00Z'),
});

/** NuGetVersion.TryParse + ToNormalizedString, written independently of the action's reader. */
export function normalizedVersion(text: string): string | undefined {
  const m =
    /^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/.exec(
      text.trim(),
    );
  if (!m || m[5]?.split('.').some((l) => /^0\d+$/.test(l))) return undefined;
  const [, major, minor = '0', patch = '0', revision = '0', label] = m;
  const rev = Number(revision) > 0 ? `.${Number(revision)}` : '';
  return `${Number(major)}.${Number(minor)}.${Number(patch)}${rev}${label ? `-${label}` : ''}`;
}

/** NuGetPackagePattern.MatchesPackagePattern: '*' is any run of characters, compared without case. */
const matchesPattern = (id: string, glob: string): boolean =>
  new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(id);

/** .NET's "O" format: seven fractional digits. */
const roundTripDate = (ms: number): string => new Date(ms).toISOString().replace(/Z$/, '0000Z');

/** A status line Node accepts and HttpStatusCodeWithBodyResult would write: one line, at most 512 characters. */
const reasonPhrase = (message: string): string =>
  (message.length > 512 ? `${message.slice(0, 509)}...` : message).replace(/[\r\n]+\s*/g, ' ');

/** HttpStatusCodeWithBodyResult: the message as the reason phrase and the body. */
const withBody = (
  res: http.ServerResponse,
  status: number,
  message: string,
  headers: http.OutgoingHttpHeaders = {},
) => send(res, status, message, headers, reasonPhrase(message));

/** TokenApiController.ErrorJson (+ UnauthorizedJson's challenge for 401). */
function errorJson(res: http.ServerResponse, status: number, error: string): void {
  if (status === 401) res.setHeader('www-authenticate', 'Bearer');
  sendJson(res, status, { error }, reasonPhrase(error));
}

interface ZipContents {
  names: string[];
  nuspecs: string[];
  nuspec?: string;
}

/** The member names and the root .nuspec of a zip held in memory (as PackageArchiveReader finds it). */
function readZip(data: Buffer): Promise<ZipContents> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(data, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('not a zip'));
      const contents: ZipContents = { names: [], nuspecs: [] };
      zip.on('error', reject);
      zip.on('end', () => resolve(contents));
      zip.on('entry', (entry: yauzl.Entry) => {
        contents.names.push(entry.fileName);
        const root = !entry.fileName.includes('/') && entry.fileName.toLowerCase().endsWith('.nuspec');
        if (!root) return zip.readEntry();
        contents.nuspecs.push(entry.fileName);
        if (entry.uncompressedSize > MAX_NUSPEC_BYTES) return reject(new Error('nuspec too large'));
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('unreadable'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            contents.nuspec = Buffer.concat(chunks).toString('utf8');
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

interface Manifest {
  id: string;
  version: string;
  symbols: boolean;
  authors: string;
}

/** SymbolPackageService.AllowedExtensions and its "at least one .pdb" rule. */
const SYMBOL_EXTENSIONS = new Set(['.pdb', '.nuspec', '.xml', '.psmdcp', '.rels', '.p7s']);
function symbolFilesProblem(names: string[]): string | undefined {
  const extensions = names
    .map((n) => n.split('/').pop() ?? '')
    .filter((base) => base.lastIndexOf('.') > 0)
    .map((base) => base.slice(base.lastIndexOf('.')));
  if (extensions.some((e) => !SYMBOL_EXTENSIONS.has(e))) {
    return "Invalid file found in the uploaded package. Symbols packages should only contain '.pdb' files.";
  }
  return extensions.includes('.pdb') ? undefined : 'The package does not contain any symbol (.pdb) files.';
}

class Invalid extends Error {}

/** NuspecReader + ManifestValidator, reduced to the fields a push depends on. */
function readManifest(contents: ZipContents): Manifest {
  if (contents.nuspecs.length !== 1 || contents.nuspec === undefined) throw new Invalid(FAILED_TO_READ);
  let doc: { package?: { metadata?: Record<string, unknown> } };
  try {
    doc = new XMLParser({
      ignoreAttributes: false,
      removeNSPrefix: true,
      parseTagValue: false,
      processEntities: false,
      isArray: (name) => name === 'packageType',
    }).parse(contents.nuspec, true);
  } catch {
    throw new Invalid(FAILED_TO_READ);
  }
  const metadata = doc.package?.metadata;
  const field = (name: string): string => {
    const value = metadata?.[name];
    return typeof value === 'string' ? value.trim() : '';
  };
  const id = field('id');
  const version = normalizedVersion(field('version'));
  if (!id) throw new Invalid(invalidNuspec('Id is required.'));
  if (!/^[A-Za-z0-9_]+([.-][A-Za-z0-9_]+)*$/.test(id) || id.length > 100) {
    throw new Invalid(invalidNuspec(`The package ID '${id}' contains invalid characters.`));
  }
  if (!version) throw new Invalid(invalidNuspec(`'${field('version')}' is not a valid version string.`));
  const types =
    (metadata?.packageTypes as { packageType?: Record<string, unknown>[] } | undefined)?.packageType ?? [];
  const symbols = types.some((t) => String(t['@_name']).toLowerCase() === 'symbolspackage');
  return { id, version, symbols, authors: field('authors') };
}

const claimString = (claims: Claims, name: string): string | undefined => {
  const value = claims[name];
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
};

export async function startNuGet(opts: {
  issuer: Issuer;
  audience?: string;
  policies?: NuGetPolicy[];
  /** GitLab's issuer, whose tokens the emulator then takes too. */
  gitlab?: GitLabIssuer;
}): Promise<NuGet> {
  const keys = new Map<string, ApiKey>();
  const usedJtis = new Set<string>();
  const account = (name: string): NuGetAccount | undefined => ng.accounts.get(name.toLowerCase());

  /** FederatedCredentialPolicyEvaluator.ValidateJwtByIssuerAsync: the user-facing reason, or the claims. */
  async function validateJwt(jwt: string): Promise<string | Claims> {
    let claims: Claims;
    try {
      claims = decodeJwt(jwt);
    } catch {
      return 'The bearer token could not be parsed as a JSON web token.';
    }
    const audiences = claims.aud === undefined ? [] : [claims.aud].flat();
    if (audiences.length !== 1) return 'The JSON web token must have exactly one aud claim value.';
    if (typeof audiences[0] !== 'string' || !audiences[0].trim())
      return 'The JSON web token must have an aud claim.';
    if (typeof claims.iss !== 'string' || !claims.iss.trim())
      return 'The JSON web token must have an iss claim.';
    let issuerUrl: URL;
    try {
      issuerUrl = new URL(claims.iss);
    } catch {
      return 'The JSON web token iss claim must be a valid HTTPS URL.';
    }
    if (issuerUrl.protocol !== 'https:') return 'The JSON web token iss claim must be a valid HTTPS URL.';
    const gitlab = claims.iss === GITLAB_ISSUER ? opts.gitlab : undefined;
    if (issuerUrl.host.toLowerCase() !== GITHUB_AUTHORITY && !gitlab)
      return 'The JSON web token iss claim is not supported.';
    if (typeof claims.jti !== 'string' || !claims.jti.trim())
      return 'The JSON web token must have a jti claim.';
    try {
      return await (gitlab ?? opts.issuer).verify(jwt, ng.audience);
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return 'The JSON web token has expired.';
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'nbf') {
        return 'The JSON web token is not yet valid.';
      }
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') {
        return 'The JSON web token has an incorrect audience.';
      }
      // SecurityTokenSignatureKeyNotFoundException is a SecurityTokenInvalidSignatureException in .NET.
      if (
        err instanceof joseErrors.JWSSignatureVerificationFailed ||
        err instanceof joseErrors.JWKSNoMatchingKey
      ) {
        return 'The JSON web token has an invalid signature.';
      }
      return 'The JSON web token could not be validated.';
    }
  }

  /** GitHubTokenPolicyValidator.EvaluatePolicyAsync: undefined on a match, else the error and whether it may be shown. */
  function evaluate(p: NuGetPolicy, claims: Claims): { error: string; disclosable: boolean } | undefined {
    const claimValues: Record<string, string> = {};
    for (const claim of [
      'repository',
      'repository_owner',
      'repository_owner_id',
      'repository_id',
      'event_name',
    ]) {
      const value = claimString(claims, claim);
      if (value === undefined) return { error: missingClaim(claim), disclosable: true };
      claimValues[claim] = value;
    }
    const mismatch = (claim: string) => ({
      error: `The JSON Web Token claim '${claim}' has value '${claimValues[claim]}' which does not match the policy.`,
      disclosable: false,
    });
    const same = (a: string | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();
    if (!same(claimValues.repository_owner, p.owner)) return mismatch('repository_owner');
    if (!same(claimValues.repository, `${p.owner}/${p.repository}`)) return mismatch('repository');
    if (p.ownerId === undefined || p.repositoryId === undefined) {
      if (!p.validateBy || Date.now() > p.validateBy.getTime()) {
        return {
          error: `The policy '${p.name}' has expired. Sign in and renew the trust policy on the Trusted Publishing page.`,
          disclosable: true,
        };
      }
      // First use of a temporary policy records the repository's IDs for good.
      p.ownerId = claimValues.repository_owner_id;
      p.repositoryId = claimValues.repository_id;
      p.validateBy = undefined;
    } else {
      if (claimValues.repository_owner_id !== p.ownerId) return mismatch('repository_owner_id');
      if (claimValues.repository_id !== p.repositoryId) return mismatch('repository_id');
    }
    const event = claimValues.event_name ?? '';
    if (ng.bannedEvents.some((e) => same(e, event))) {
      return { error: `The GitHub Actions event '${event}' is not allowed.`, disclosable: true };
    }
    const workflowRef = claimString(claims, 'job_workflow_ref');
    if (workflowRef === undefined) return { error: missingClaim('job_workflow_ref'), disclosable: true };
    const prefix = `${p.owner}/${p.repository}/.github/workflows/`;
    const at = prefix.length < workflowRef.length ? workflowRef.indexOf('@', prefix.length) : -1;
    if (at < 0 || !workflowRef.toLowerCase().startsWith(prefix.toLowerCase())) {
      return {
        error: `Claim 'job_workflow_ref' has value '${workflowRef}' which does not start with ${prefix}.`,
        disclosable: true,
      };
    }
    const workflow = workflowRef.slice(prefix.length, at);
    if (!same(workflow, p.workflow)) {
      return {
        error: `Workflow mismatch for policy '${p.name}': expected '${p.workflow}', actual '${workflow}'`,
        disclosable: true,
      };
    }
    if (p.environment?.trim()) {
      const environment = claimString(claims, 'environment') ?? '';
      if (!same(environment, p.environment)) {
        return {
          error: `Environment mismatch for policy '${p.name}': expected '${p.environment}', actual '${environment}'`,
          disclosable: true,
        };
      }
    }
    return undefined;
  }

  /** The GitLab policy validator: undefined on a match, else the error and whether it may be shown. */
  function evaluateGitLab(
    p: NuGetGitLabPolicy,
    claims: Claims,
  ): { error: string; disclosable: boolean } | undefined {
    const values: Record<string, string> = {};
    for (const claim of ['namespace_path', 'namespace_id', 'project_path', 'project_id', 'ref', 'ref_type']) {
      const value = claimString(claims, claim);
      if (value === undefined) return { error: missingClaim(claim), disclosable: true };
      values[claim] = value;
    }
    const mismatch = (claim: string) => ({
      error: `The JSON Web Token claim '${claim}' has value '${values[claim]}' which does not match the policy.`,
      disclosable: false,
    });
    const same = (a: string | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();
    if (!same(values.namespace_path, p.namespace)) return mismatch('namespace_path');
    if (!same(values.project_path, `${p.namespace}/${p.project}`)) return mismatch('project_path');
    if (p.namespaceId !== undefined && values.namespace_id !== p.namespaceId) return mismatch('namespace_id');
    if (p.projectId !== undefined && values.project_id !== p.projectId) return mismatch('project_id');
    if (p.ref && (values.ref_type !== 'branch' || values.ref !== p.ref)) {
      return {
        error: `Ref mismatch for policy '${p.name}': expected '${p.ref}', actual '${values.ref}'`,
        disclosable: true,
      };
    }
    if (p.environment?.trim()) {
      const environment = claimString(claims, 'environment') ?? '';
      if (environment !== p.environment) {
        return {
          error: `Environment mismatch for policy '${p.name}': expected '${p.environment}', actual '${environment}'`,
          disclosable: true,
        };
      }
    }
    p.namespaceId ??= values.namespace_id;
    p.projectId ??= values.project_id;
    return undefined;
  }

  /** GetUserStateError. */
  function stateError(a: NuGetAccount): string | undefined {
    const kind = a.organization ? 'organization' : 'user';
    if (a.locked) return `The ${kind} '${a.username}' is locked.`;
    if (a.unconfirmed) return `The ${kind} '${a.username}' does not have a confirmed email address.`;
    return undefined;
  }

  /** FederatedCredentialService.GenerateApiKeyAsync: [status, error] or the new key. */
  async function generateApiKey(
    username: string,
    jwt: string,
  ): Promise<[number, string] | { key: string; expires: number }> {
    const user = account(username);
    if (!user) return [401, noMatchingPolicy(username)];
    const validated = await validateJwt(jwt);
    if (typeof validated === 'string') return [401, validated];
    const claims = validated;
    const fromGitLab = claims.iss === GITLAB_ISSUER;
    const policies: (NuGetPolicy | NuGetGitLabPolicy)[] = fromGitLab ? ng.gitlabPolicies : ng.policies;
    const mine = policies
      .filter((p) => p.createdBy.toLowerCase() === user.username.toLowerCase())
      .sort((a, b) => a.created.getTime() - b.created.getTime());
    let disclosed = '';
    let matched: NuGetPolicy | NuGetGitLabPolicy | undefined;
    for (const p of mine) {
      const failure = 'namespace' in p ? evaluateGitLab(p, claims) : evaluate(p as NuGetPolicy, claims);
      if (!failure) {
        matched = p;
        break;
      }
      if (!failure.disclosable) continue;
      if (disclosed) disclosed += disclosed.endsWith('.') ? ' ' : '. ';
      disclosed += failure.error;
    }
    if (!matched) return [401, disclosed || noMatchingPolicy(username)];
    if (user.organization) {
      return [
        400,
        "Generating fetching tokens directly for organizations is not supported. The trust policy is created on the profile of one of the organization's administrators and is scoped to the organization in the policy.",
      ];
    }
    const userError = stateError(user);
    if (userError) return [400, userError];
    const owner = account(matched.packageOwner);
    if (!owner) return [400, 'The package owner of the match trust policy not longer exists.'];
    const ownerError = stateError(owner);
    if (ownerError) return [400, ownerError];
    const mayActForOwner =
      owner.username.toLowerCase() === user.username.toLowerCase() ||
      (owner.members ?? []).some((m) => m.toLowerCase() === user.username.toLowerCase());
    if (!mayActForOwner) {
      return [
        400,
        `The scopes on the generated API key are not valid. Confirm that you still have permissions to operate on behalf of package owner '${owner.username}'.`,
      ];
    }
    // The token's identifier is stored with a unique index: a second exchange of the same JWT fails.
    const jti = String(claims.jti);
    if (usedJtis.has(jti)) return [401, REPLAYED];
    usedJtis.add(jti);
    // ApiKeyV4's look: 'oy2' and 43 lower-case base-32 characters.
    const key = `oy2${Array.from(randomBytes(43), (b) => 'abcdefghijklmnopqrstuvwxyz234567'[b % 32]).join('')}`;
    const expires = Date.now() + ng.keyLifetimeSeconds * 1000;
    keys.set(key, { user: user.username, packageOwner: owner.username, packages: matched.packages, expires });
    ng.minted.push(key);
    return { key, expires };
  }

  async function exchange(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const bodyBytes = (await readBody(req, 1024 * 1024)) ?? Buffer.alloc(0);
    const record = { headers: req.headers, body: bodyBytes.toString('utf8'), status: 0, answer: '' };
    ng.exchanges.push(record);
    const answer = (status: number, error: string) => {
      record.status = status;
      record.answer = error;
      errorJson(res, status, error);
    };
    if (!ng.tokenApiEnabled) {
      record.status = 404;
      return send(res, 404, 'Not Found');
    }
    const authorizations = req.headersDistinct.authorization ?? [];
    if (authorizations.length === 0) return answer(401, 'The Authorization header is missing.');
    if (authorizations.length > 1) return answer(401, 'Only one Authorization header is allowed.');
    const authorization = authorizations[0] ?? '';
    if (!authorization.toLowerCase().startsWith('bearer ')) {
      return answer(401, "The Authorization header value must start with 'Bearer '.");
    }
    const bearer = authorization.slice('Bearer '.length).trim();
    if (!bearer) return answer(401, 'The bearer token is missing from the Authorization header.');
    const mediaType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (mediaType !== 'application/json') {
      return answer(415, "The request must have a Content-Type of 'application/json'.");
    }
    if (!req.headers['user-agent']?.trim()) return answer(400, 'A User-Agent header is required.');
    // MVC model binding: property names without case; an unreadable body binds nothing.
    let fields: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(record.body);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        fields = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k.toLowerCase(), v]));
      }
    } catch {
      fields = {};
    }
    const username = typeof fields.username === 'string' ? fields.username : '';
    if (!username.trim()) return answer(400, 'The username property in the request body is required.');
    if (fields.tokentype !== 'ApiKey') {
      return answer(400, "The tokenType property in the request body is required and must set to 'ApiKey'.");
    }
    const result = await generateApiKey(username, bearer);
    if (Array.isArray(result)) return answer(result[0], result[1]);
    record.status = 200;
    sendJson(res, 200, { tokenType: 'ApiKey', expires: roundTripDate(result.expires), apiKey: result.key });
  }

  /** The package bytes: the first multipart file part (Request.Files[0]), else the raw body. */
  async function packageFrom(
    req: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ data: Buffer; part?: ReceivedPush['part'] }> {
    if (!/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) return { data: body };
    return new Promise((resolve, reject) => {
      let first: { data: Buffer; part: NonNullable<ReceivedPush['part']> } | undefined;
      const parser = Busboy({ headers: req.headers });
      parser.on('file', (field, stream, info) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          first ??= {
            data: Buffer.concat(chunks),
            part: { field, filename: info.filename ?? '', contentType: info.mimeType },
          };
        });
      });
      parser.on('error', reject);
      parser.on('close', () => resolve(first ?? { data: Buffer.alloc(0) }));
      parser.end(body);
    });
  }

  /** ApiKeyAuthenticationHandler + ApiAuthorize: the key's record, or the answer already sent. */
  function authenticate(req: http.IncomingMessage, res: http.ServerResponse): ApiKey | undefined {
    const header = req.headers['x-nuget-apikey'];
    const value = Array.isArray(header) ? header[0] : header;
    if (!value) {
      withBody(res, 401, API_KEY_REQUIRED, {
        'www-authenticate': `ApiKey realm="${req.headers.host ?? ''}"`,
      });
      return undefined;
    }
    const key = keys.get(value);
    if (!key || key.expires <= Date.now()) {
      withBody(res, 403, API_KEY_NOT_AUTHORIZED);
      return undefined;
    }
    return key;
  }

  /** ApiScopeEvaluator for push: the key's subjects must match, and an existing ID must belong to its owner. */
  const mayPush = (key: ApiKey, id: string): boolean => {
    const existing = ng.packages.get(id.toLowerCase());
    if (existing && existing.owner.toLowerCase() !== key.packageOwner.toLowerCase()) return false;
    return key.packages.some((glob) => matchesPattern(id, glob));
  };

  async function push(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    symbolsEndpoint: boolean,
  ): Promise<void> {
    const key = authenticate(req, res);
    if (!key) {
      req.resume();
      return;
    }
    const raw = await readBody(req, ng.maxPackageBytes);
    if (ng.pushLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, ng.pushLatencyMs));
    const record: ReceivedPush = {
      path: req.url ?? '',
      headers: req.headers,
      body: Buffer.alloc(0),
      sha256: '',
      status: 0,
      answer: '',
    };
    ng.pushes.push(record);
    const answer = (status: number, message: string, headers: http.OutgoingHttpHeaders = {}) => {
      record.status = status;
      record.answer = message;
      if (message) withBody(res, status, message, headers);
      else send(res, status, '', headers);
    };
    if (!raw) return answer(413, TOO_LARGE);
    const { data, part } = await packageFrom(req, raw);
    record.body = data;
    record.part = part;
    record.sha256 = createHash('sha256').update(data).digest('hex');
    let contents: ZipContents;
    let manifest: Manifest;
    try {
      contents = await readZip(data);
      manifest = readManifest(contents);
    } catch (err) {
      return answer(400, err instanceof Invalid ? err.message : FAILED_TO_READ);
    }
    const stored = ng.packages.get(manifest.id.toLowerCase());
    const versionKey = manifest.version.toLowerCase();
    if (symbolsEndpoint) {
      const version = stored?.versions.get(versionKey);
      if (!stored || !version) return answer(404, symbolsMissingPackage(manifest.id, manifest.version));
      if (version.symbols?.validating) return answer(409, SYMBOLS_VALIDATING);
      if (!manifest.symbols) return answer(400, NOT_SYMBOLS);
      if (manifest.authors) {
        return answer(
          400,
          "Invalid metadata items specified in nuspec. Please remove 'Authors' from the nuspec.",
        );
      }
      const filesProblem = symbolFilesProblem(contents.names);
      if (filesProblem) return answer(400, filesProblem);
      if (!mayPush(key, stored.id)) return answer(403, API_KEY_NOT_AUTHORIZED);
      version.symbols = { sha256: record.sha256, validating: ng.symbolValidation === 'pending' };
      return answer(201, '');
    }
    if (manifest.symbols) return answer(400, SYMBOLS_NOT_ALLOWED_IN_PUSH);
    // Push answers 401 here, which the API key handler turns into this 403 because a key was sent.
    if (!mayPush(key, manifest.id)) return answer(403, API_KEY_NOT_AUTHORIZED);
    if (stored?.versions.has(versionKey)) return answer(409, packageExists(manifest.id, manifest.version));
    const entry = stored ?? { id: manifest.id, owner: key.packageOwner, versions: new Map() };
    entry.versions.set(versionKey, {
      id: manifest.id,
      version: manifest.version,
      sha256: record.sha256,
      pushedAt: Date.now(),
    });
    ng.packages.set(manifest.id.toLowerCase(), entry);
    answer(201, '', ng.pushWarnings.length > 0 ? { 'x-nuget-warning': ng.pushWarnings } : {});
  }

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://nuget');
    if (req.method === 'POST' && url.pathname.toLowerCase() === '/api/v2/token') {
      const next = ng.faults.exchange[0];
      if (fault(ng.faults.exchange, req, res)) {
        ng.exchanges.push({
          headers: req.headers,
          body: '',
          status: typeof next === 'number' ? next : 0,
          answer: `fault: ${next}`,
        });
        return;
      }
      return exchange(req, res);
    }
    const packagePush = url.pathname.toLowerCase() === '/api/v2/package';
    const symbolsPush = url.pathname.toLowerCase() === '/api/v2/symbolpackage';
    if ((req.method === 'PUT' || (req.method === 'POST' && packagePush)) && (packagePush || symbolsPush)) {
      if (fault(ng.faults.push, req, res)) return;
      return push(req, res, symbolsPush);
    }
    req.resume();
    if (req.method === 'GET') return read(url.pathname, req, res);
    send(res, 404, 'Not Found');
  });

  /** The read API NuGet clients use: the service index and the flat container's version list. */
  function read(path: string, req: http.IncomingMessage, res: http.ServerResponse) {
    ng.reads.push({ path, authorization: req.headers.authorization, apiKey: req.headers['x-nuget-apikey'] });
    if (fault(ng.faults.read, req, res)) return;
    if (path === '/v3/index.json') {
      return sendJson(res, 200, {
        version: '3.0.0',
        resources: [{ '@id': `${server.origin}/v3-flatcontainer/`, '@type': 'PackageBaseAddress/3.0.0' }],
      });
    }
    const versions = /^\/v3-flatcontainer\/([^/]+)\/index\.json$/.exec(path);
    const stored = versions?.[1] ? ng.packages.get(decodeURIComponent(versions[1])) : undefined;
    // Validation and indexing take minutes on nuget.org: a pushed version is listed `listingDelayMs` later.
    const listed = [...(stored?.versions ?? [])].filter(([, v]) =>
      visibleOn(v.pushedAt ?? 0, ng.listingDelayMs),
    );
    if (listed.length > 0) return sendJson(res, 200, { versions: listed.map(([key]) => key) });
    send(res, 404, '<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code></Error>');
  }

  const ng: NuGet = {
    url: server.origin,
    audience: opts.audience ?? 'https://www.nuget.org',
    tokenApiEnabled: true,
    bannedEvents: [],
    accounts: new Map(),
    policies: opts.policies ?? [defaultPolicy()],
    gitlabPolicies: [defaultGitLabPolicy()],
    keyLifetimeSeconds: 3600,
    maxPackageBytes: 250 * 1024 * 1024,
    symbolValidation: 'instant',
    pushWarnings: [],
    minted: [],
    exchanges: [],
    pushes: [],
    packages: new Map(),
    reads: [],
    listingDelayMs: 0,
    pushLatencyMs: 0,
    faults: { exchange: [], push: [], read: [] },
    addAccount(a) {
      ng.accounts.set(a.username.toLowerCase(), a);
    },
    registerPackage(id, owner) {
      ng.packages.set(id.toLowerCase(), { id, owner, versions: new Map() });
    },
    close: server.close,
  };
  ng.addAccount({ username: 'octocat' });
  ng.addAccount({ username: 'octo-org', organization: true, members: ['octocat'] });
  ng.addAccount({ username: 'someone-else' });
  return ng;
}

/** A JWT from the fake GitHub issuer for its claims with `overrides` (undefined removes a claim), fetched as the runner does. */
export async function issueJwt(issuer: Issuer, audience: string, overrides: Claims = {}): Promise<string> {
  const saved = issuer.claims;
  issuer.claims = { ...saved, ...overrides };
  try {
    const res = await fetch(`${issuer.requestUrl}&audience=${encodeURIComponent(audience)}`, {
      headers: { authorization: `bearer ${issuer.requestToken}` },
    });
    return ((await res.json()) as { value: string }).value;
  } finally {
    issuer.claims = saved;
  }
}
