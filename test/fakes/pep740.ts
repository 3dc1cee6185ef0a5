// PEP 740 attestations checked the way PyPI checks them: Warehouse's IntegrityService.parse_attestations
// (warehouse/attestations/services.py) around pypi-attestations' Attestation model, to_bundle and verify
// (src/pypi_attestations/_impl.py), with @sigstore/verify in place of sigstore-python. One implementation for the
// PyPI emulator and for the golden test of an attestation PyPI itself accepted, so the emulator's idea of the
// format is held against data this project did not produce.
import { X509Certificate } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import type { Pep740Attestation } from '../../src/attestation/pep740.ts';
import { GITHUB_ISSUER, GITLAB_ISSUER } from './issuer.ts';
import { normalizeName, parseVersion, pyBytesRepr, pyRepr } from './python.ts';
import { type Extensions, extensionText, FULCIO_OIDS, verifyBundle } from './sigstore-verify.ts';

export type { Pep740Attestation } from '../../src/attestation/pep740.ts';

/** A GitHub trusted publisher's attestation identity (pypi-attestations' GitHubPublisher). */
export interface GitHubIdentity {
  /** owner/name. */
  repository: string;
  /** The workflow file name, e.g. release.yml. */
  workflow: string;
}

/** A GitLab trusted publisher's attestation identity (pypi-attestations' GitLabPublisher). */
export interface GitLabIdentity {
  /** namespace/project. */
  project: string;
  /** The top-level pipeline file path, e.g. .gitlab-ci.yml. */
  ciFile: string;
}

export interface VerifyOptions {
  trustedRoot: TrustedRoot;
  /** The distribution's file name as uploaded, and its sha256 (hex). */
  filename: string;
  sha256: string;
  identity: GitHubIdentity | GitLabIdentity;
}

/** pypi-attestations' AttestationError family; the message is what str(e) gives. */
export class AttestationError extends Error {}
/** Attestation.verify's failures: "Verification failed: …". */
export class VerificationError extends AttestationError {
  constructor(message: string) {
    super(`Verification failed: ${message}`);
  }
}
/** Warehouse's AttestationUploadError: the text after "Invalid attestations supplied during upload: ". */
export class AttestationUploadError extends Error {}

const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** pypi-attestations' AttestationType, which Warehouse's SUPPORTED_ATTESTATION_TYPES equals. */
const ATTESTATION_TYPES = ['https://slsa.dev/provenance/v1', 'https://docs.pypi.org/attestations/publish/v1'];
// The Fulcio extensions pypi-attestations' GitHub policy reads.
type GitHubPolicyExtension =
  | 'OIDCIssuerV2'
  | 'OIDCSourceRepositoryURI'
  | 'OIDCSourceRepositoryDigest'
  | 'OIDCSourceRepositoryRef'
  | 'OIDCBuildConfigURI';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Python's base64.b64decode(validate=True): the standard alphabet with padding, nothing else. */
function strictBase64(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
    return undefined;
  return Buffer.from(value, 'base64');
}

/**
 * The pydantic model check of one attestation object (TypeAdapter(list[Attestation])). The text approximates
 * pydantic's: one line naming the field, one saying what is wrong.
 */
export function parseAttestation(value: unknown, index = 0): Pep740Attestation {
  const invalid = (loc: string, problem: string): never => {
    throw new AttestationUploadError(
      `Malformed attestations: 1 validation error for list[Attestation]\n${index}.${loc}\n  ${problem}`,
    );
  };
  if (!isRecord(value)) return invalid('', 'Input should be a valid dictionary or instance of Attestation');
  if (value.version !== 1) invalid('version', 'Input should be 1');
  const material = value.verification_material;
  if (!isRecord(material)) return invalid('verification_material', 'Field required');
  if (!strictBase64(material.certificate))
    invalid('verification_material.certificate', 'Base64 decoding error');
  const entries = material.transparency_entries;
  if (!Array.isArray(entries) || entries.length < 1 || !entries.every(isRecord))
    invalid('verification_material.transparency_entries', 'List should have at least 1 item of dict type');
  const envelope = value.envelope;
  if (!isRecord(envelope)) return invalid('envelope', 'Field required');
  for (const field of ['statement', 'signature']) {
    if (!strictBase64(envelope[field])) invalid(`envelope.${field}`, 'Base64 decoding error');
  }
  return value as unknown as Pep740Attestation;
}

/** A distribution file name as `packaging` parses it, in a form equal for equal parses (_check_dist_filename). */
function parsedDistName(filename: string): string {
  if (filename.endsWith('.whl')) {
    const stem = filename.slice(0, -'.whl'.length);
    const dashes = stem.split('-').length - 1;
    if (dashes !== 4 && dashes !== 5)
      throw new Error(`Invalid wheel filename (wrong number of parts): ${pyRepr(stem)}`);
    const [name = '', version = '', ...rest] = stem.split('-');
    if (name.includes('__') || !/^[\w.]*$/u.test(name))
      throw new Error(`Invalid project name: ${pyRepr(stem)}`);
    const parsed = parseVersion(version);
    if (!parsed) throw new Error(`Invalid wheel filename (invalid version): ${pyRepr(stem)}`);
    const build = dashes === 5 ? rest.shift() : '';
    const buildMatch = build === '' ? [] : /^(\d+)(.*)$/.exec(build ?? '');
    if (!buildMatch) throw new Error(`Invalid build number: ${build} in ${pyRepr(stem)}`);
    // parse_tag expands compressed tag sets; the result is a frozenset, so order does not count.
    const [interpreters = '', abis = '', platforms = ''] = rest;
    const tags = interpreters
      .split('.')
      .flatMap((i) => abis.split('.').flatMap((a) => platforms.split('.').map((p) => `${i}-${a}-${p}`)));
    const buildKey = buildMatch.length ? `${Number(buildMatch[1])}${buildMatch[2]}` : '';
    return `wheel ${normalizeName(name)} ${parsed.key} ${buildKey} ${[...new Set(tags)].sort().join(' ')}`;
  }
  if (filename.endsWith('.tar.gz') || filename.endsWith('.zip')) {
    const stem = filename.replace(/\.(tar\.gz|zip)$/, '');
    const dash = stem.lastIndexOf('-');
    if (dash < 0) throw new Error(`Invalid sdist filename: ${pyRepr(filename)}`);
    const parsed = parseVersion(stem.slice(dash + 1));
    if (!parsed) throw new Error(`Invalid sdist filename (invalid version): ${pyRepr(filename)}`);
    return `sdist ${normalizeName(stem.slice(0, dash))} ${parsed.key}`;
  }
  throw new Error(`unknown distribution format: ${filename}`);
}

/** Attestation.to_bundle: a sigstore bundle of the certificate, the first log entry and the DSSE envelope. */
function toBundle(attestation: Pep740Attestation) {
  const certificate = attestation.verification_material.certificate;
  try {
    new X509Certificate(Buffer.from(certificate, 'base64'));
  } catch {
    throw new AttestationError('invalid X.509 certificate');
  }
  try {
    return bundleFromJSON({
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: {
        certificate: { rawBytes: certificate },
        tlogEntries: [attestation.verification_material.transparency_entries[0]],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
      dsseEnvelope: {
        payload: attestation.envelope.statement,
        payloadType: IN_TOTO_PAYLOAD_TYPE,
        signatures: [{ sig: attestation.envelope.signature, keyid: '' }],
      },
    });
  } catch {
    throw new AttestationError('invalid transparency log entry');
  }
}

/**
 * pypi-attestations' _GitHubTrustedPublisherPolicy: GitHub's issuer, the publisher's repository, and a Build
 * Config URI (from the token's workflow_ref) naming the publisher's workflow at the certificate's ref or sha.
 */
function checkIdentity(extensions: Extensions, identity: GitHubIdentity | GitLabIdentity): void {
  const value = (name: GitHubPolicyExtension): string => {
    const text = extensionText(extensions, name);
    if (text === undefined)
      throw new VerificationError(`Certificate does not contain ${name} (${FULCIO_OIDS[name]}) extension`);
    return text;
  };
  // _GitLabTrustedPublisherPolicy: the same checks with gitlab.com's issuer and `<project>//<file>` as config.
  const gitlab = 'ciFile' in identity;
  const repository = gitlab ? identity.project : identity.repository;
  const host = gitlab ? 'https://gitlab.com' : 'https://github.com';
  for (const [name, expected] of [
    ['OIDCIssuerV2', gitlab ? GITLAB_ISSUER : GITHUB_ISSUER],
    ['OIDCSourceRepositoryURI', `${host}/${repository}`],
  ] as const) {
    const got = value(name);
    if (got !== expected)
      throw new VerificationError(`Certificate's ${name} does not match (got ${got}, expected ${expected})`);
  }
  const buildConfigUri = value('OIDCBuildConfigURI');
  const suffixes = [value('OIDCSourceRepositoryDigest'), value('OIDCSourceRepositoryRef')];
  const file = gitlab ? identity.ciFile : identity.workflow;
  const slug = gitlab ? `${host}/${repository}//${file}` : `${host}/${repository}/.github/workflows/${file}`;
  if (suffixes.some((suffix) => buildConfigUri === `${slug}@${suffix}`)) return;
  // Warehouse prints the cryptography Extension object's repr, DER bytes included.
  const oid = `<ObjectIdentifier(oid=${FULCIO_OIDS.OIDCBuildConfigURI}, name=Unknown OID)>`;
  const der = pyBytesRepr(extensions.get(FULCIO_OIDS.OIDCBuildConfigURI) ?? Buffer.alloc(0));
  throw new VerificationError(
    `Certificate's Build Config URI (<Extension(oid=${oid}, critical=False, value=<UnrecognizedExtension(oid=${oid}, value=${der})>)>) does not match expected Trusted Publisher (${file} @ ${repository})`,
  );
}

/**
 * Attestation.verify against a trust root: signature, certificate chain, SCT and transparency log entry
 * (@sigstore/verify), the publisher identity, then the statement: one subject with the distribution's name and
 * sha256, and a known predicate type. Throws AttestationError; returns the predicate type and the log index.
 */
export function verifyAttestation(
  attestation: Pep740Attestation,
  opts: VerifyOptions,
): { predicateType: string; logIndex: string } {
  const bundle = toBundle(attestation);
  let extensions: Extensions;
  try {
    extensions = verifyBundle(bundle, opts.trustedRoot);
  } catch (err) {
    throw new VerificationError((err as Error).message);
  }
  checkIdentity(extensions, opts.identity);

  const payload = Buffer.from(attestation.envelope.statement, 'base64').toString('utf8');
  let statement: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(payload);
    if (!isRecord(parsed)) throw new Error('Input should be an object');
    if (parsed._type !== IN_TOTO_STATEMENT_V1) throw new Error(`_type should be '${IN_TOTO_STATEMENT_V1}'`);
    if (!Array.isArray(parsed.subject) || !parsed.subject.every(isRecord))
      throw new Error('subject should be a list of subjects');
    if (typeof parsed.predicateType !== 'string') throw new Error('predicateType should be a string');
    statement = parsed;
  } catch (err) {
    throw new VerificationError(`invalid statement: ${(err as Error).message}`);
  }
  const subjects = statement.subject as Record<string, unknown>[];
  const [subject] = subjects;
  if (subjects.length !== 1 || !subject)
    throw new VerificationError('too many subjects in statement (must be exactly one)');
  const name = typeof subject.name === 'string' ? subject.name : '';
  if (!name) throw new VerificationError('invalid subject: missing name');
  let subjectName: string;
  try {
    subjectName = parsedDistName(name);
  } catch (err) {
    throw new VerificationError(`invalid subject: ${(err as Error).message}`);
  }
  // pypi-attestations compares parsed names (since 0.0.22 not "ultranormalized" ones): tag order may differ.
  if (subjectName !== parsedDistName(opts.filename))
    throw new VerificationError(`subject does not match distribution name: ${name} != ${opts.filename}`);
  const digest = isRecord(subject.digest) ? subject.digest.sha256 : undefined;
  if (digest !== opts.sha256) throw new VerificationError('subject does not match distribution digest');
  const predicateType = String(statement.predicateType);
  if (!ATTESTATION_TYPES.includes(predicateType))
    throw new VerificationError(`unknown attestation type: ${predicateType}`);
  return { predicateType, logIndex: bundle.verificationMaterial.tlogEntries[0]?.logIndex ?? '' };
}

/**
 * Warehouse's parse_attestations for an upload's `attestations` field: the model check of every object, then
 * the limits, then each verified, one per predicate type. Throws AttestationUploadError with Warehouse's text.
 */
export function checkUploadAttestations(field: string, opts: VerifyOptions): Pep740Attestation[] {
  let list: unknown;
  try {
    list = JSON.parse(field);
  } catch (err) {
    throw new AttestationUploadError(
      `Malformed attestations: 1 validation error for list[Attestation]\n  Invalid JSON: ${(err as Error).message} [type=json_invalid, input_type=str]`,
    );
  }
  if (!Array.isArray(list)) {
    throw new AttestationUploadError(
      'Malformed attestations: 1 validation error for list[Attestation]\n  Input should be a valid list [type=list_type]',
    );
  }
  const attestations = list.map((value, i) => parseAttestation(value, i));
  if (attestations.length === 0)
    throw new AttestationUploadError('Malformed attestations: an empty attestation set is not permitted');
  if (attestations.length > ATTESTATION_TYPES.length) {
    throw new AttestationUploadError(
      `A maximum of ${ATTESTATION_TYPES.length} attestations per file are supported`,
    );
  }
  const seen = new Set<string>();
  for (const attestation of attestations) {
    let predicateType: string;
    try {
      ({ predicateType } = verifyAttestation(attestation, opts));
    } catch (err) {
      if (err instanceof VerificationError) {
        throw new AttestationUploadError(
          `Could not verify the uploaded artifact using the included attestation: ${err.message}`,
        );
      }
      throw new AttestationUploadError(
        `Unknown error while trying to verify included attestations: ${(err as Error).message}`,
      );
    }
    if (seen.has(predicateType)) {
      throw new AttestationUploadError(
        `Multiple attestations for the same file with the same predicate type (${predicateType}) are not supported`,
      );
    }
    seen.add(predicateType);
  }
  return attestations;
}
