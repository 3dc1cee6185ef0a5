// PEP 740 attestations for PyPI: per file, an in-toto statement signed as a DSSE envelope with a Sigstore
// (Fulcio) certificate for this workflow's GitHub identity, logged in Rekor, then converted to the attestation
// object PyPI takes in the upload's `attestations` field. publish.ts imports this module dynamically, only
// when attestations apply: @sigstore/sign and its HTTP stack are most of the bundle, and no other run should
// pay for loading them.
import { type BundleWithDsseEnvelope, bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, InternalError, RekorWitness } from '@sigstore/sign';
import { ActionError } from './errors.ts';
import { PUBLIC_GOOD_REKOR } from './inputs.ts';
import { fetchIdToken } from './oidc.ts';

type Env = Record<string, string | undefined>;

export const PUBLISH_PREDICATE_TYPE = 'https://docs.pypi.org/attestations/publish/v1';
const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** The audience Fulcio requires of an OIDC token. */
const SIGSTORE_AUDIENCE = 'sigstore';
/** Per request; @sigstore/sign's own default is no retry at all. */
const SIGSTORE_FETCH = { timeout: 30_000, retry: { retries: 2, minTimeout: 500, factor: 2 } };

/** What an attestation vouches for: the file name as uploaded and its sha256. */
export interface AttestationSubject {
  name: string;
  sha256: string;
}

/** PEP 740's attestation object, as pypi-attestations' `Attestation` model serializes it. */
export interface Pep740Attestation {
  version: 1;
  verification_material: {
    /** base64 of the DER leaf certificate. */
    certificate: string;
    /** The Rekor entries, in the protobuf-JSON form of a sigstore bundle's tlogEntries. */
    transparency_entries: Record<string, unknown>[];
  };
  envelope: {
    /** base64 of the in-toto statement (the DSSE payload). */
    statement: string;
    /** base64 of the DSSE signature. */
    signature: string;
  };
}

export interface SignedAttestation {
  subject: AttestationSubject;
  attestation: Pep740Attestation;
  /** The Rekor entry's log index, for the summary. */
  logIndex: string;
}

export interface SigningServices {
  fulcioUrl: URL;
  rekorUrl: URL;
}

/**
 * The statement pypi-attestations' `Attestation.sign` builds, byte for byte: sigstore-python's StatementBuilder
 * writes compact JSON in this key order, with a null predicate.
 */
export function publishStatement(subject: AttestationSubject): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: IN_TOTO_STATEMENT_TYPE,
      subject: [{ name: subject.name, digest: { sha256: subject.sha256 } }],
      predicateType: PUBLISH_PREDICATE_TYPE,
      predicate: null,
    }),
  );
}

/** pypi-attestations' `Attestation.from_bundle`: the leaf certificate, the tlog entries, payload and signature. */
export function toPep740(bundle: BundleWithDsseEnvelope): Pep740Attestation {
  const material = bundle.verificationMaterial.content;
  const certificate =
    material.$case === 'certificate'
      ? material.certificate.rawBytes
      : material.$case === 'x509CertificateChain'
        ? material.x509CertificateChain.certificates[0]?.rawBytes
        : undefined;
  const envelope = bundle.content.dsseEnvelope;
  const [signature, ...more] = envelope.signatures;
  if (!certificate) throw new Error('the Sigstore bundle has no signing certificate');
  if (!signature || more.length > 0)
    throw new Error(`expected exactly one signature, got ${envelope.signatures.length}`);
  return {
    version: 1,
    verification_material: {
      certificate: certificate.toString('base64'),
      transparency_entries: bundleToJSON(bundle).verificationMaterial.tlogEntries as unknown as Record<
        string,
        unknown
      >[],
    },
    envelope: {
      statement: envelope.payload.toString('base64'),
      signature: signature.sig.toString('base64'),
    },
  };
}

const baseUrl = (url: URL): string => url.href.replace(/\/+$/, '');

/** A Sigstore client failure as the user can act on it; the JWT never appears in it. */
function signingFailure(err: unknown, file: string, services: SigningServices): ActionError {
  if (err instanceof ActionError) return err;
  if (!(err instanceof InternalError)) {
    return new ActionError(`Could not sign the attestation for ${file}: ${(err as Error).message}`, {
      fix: "Re-run the job; set 'attestations: false' to publish without attestations.",
    });
  }
  // Our identity provider's own error (GitHub refused the token) is already explained.
  if (err.cause instanceof ActionError) return err.cause;
  const cause = err.cause as { statusCode?: unknown; message?: unknown } | undefined;
  const status = cause?.statusCode;
  const transient = typeof status !== 'number' || status >= 500 || status === 429 || status === 408;
  // The service's own words ("(400) …") or the connection error; an IDENTITY_TOKEN_PARSE_ERROR message would
  // quote the token itself, so those codes show none.
  const words = typeof cause?.message === 'string' ? cause.message : err.message;
  const said = err.code.startsWith('IDENTITY_TOKEN') ? '' : ` ${words.replace(/\.$/, '')}.`;
  const retry =
    "Re-run the job (nothing was sent to the index); if it keeps failing, set 'attestations: false' to publish without attestations.";
  if (err.code === 'CA_CREATE_SIGNING_CERTIFICATE_ERROR') {
    return new ActionError(
      `Fulcio (${services.fulcioUrl.origin}) did not issue a signing certificate for ${file}:${said}`,
      transient
        ? { cause: 'Fulcio could not be reached or had a fault.', fix: retry }
        : {
            cause:
              "Fulcio refused this job's GitHub OIDC token (audience 'sigstore'): it accepts only tokens of the issuers it trusts, unexpired and correctly signed.",
            fix: "Leave 'fulcio-url' at a Fulcio that trusts GitHub Actions tokens (the default, https://fulcio.sigstore.dev, does) and re-run; or set 'attestations: false'.",
          },
    );
  }
  if (err.code === 'TLOG_CREATE_ENTRY_ERROR' || err.code === 'TLOG_FETCH_ENTRY_ERROR') {
    return new ActionError(
      `Rekor (${services.rekorUrl.origin}) did not log the attestation for ${file}:${said}`,
      {
        cause: transient
          ? 'The transparency log could not be reached or had a fault.'
          : 'The transparency log refused the entry.',
        fix: transient
          ? retry
          : "Check 'rekor-url'; set 'attestations: false' to publish without attestations.",
      },
    );
  }
  return new ActionError(`Could not sign the attestation for ${file}:${said}`, {
    cause: 'The GitHub OIDC token for Sigstore could not be read.',
    fix: retry,
  });
}

/**
 * Signs one PEP 740 publish attestation per subject, in order. Every file gets its own signing session: a
 * fresh 'sigstore' JWT (fetchIdToken masks it), an ephemeral key and a Fulcio certificate (valid 10 minutes,
 * so a long release never signs with an expired one), and its own Rekor entry.
 */
export async function signAttestations(
  subjects: AttestationSubject[],
  services: SigningServices,
  env: Env,
): Promise<SignedAttestation[]> {
  const builder = new DSSEBundleBuilder({
    signer: new FulcioSigner({
      fulcioBaseURL: baseUrl(services.fulcioUrl),
      identityProvider: { getToken: () => fetchIdToken(SIGSTORE_AUDIENCE, env) },
      ...SIGSTORE_FETCH,
    }),
    witnesses: [new RekorWitness({ rekorBaseURL: baseUrl(services.rekorUrl), ...SIGSTORE_FETCH })],
  });
  const signed: SignedAttestation[] = [];
  for (const subject of subjects) {
    let bundle: BundleWithDsseEnvelope;
    try {
      bundle = await builder.create({ data: publishStatement(subject), type: IN_TOTO_PAYLOAD_TYPE });
    } catch (err) {
      throw signingFailure(err, subject.name, services);
    }
    const attestation = toPep740(bundle);
    signed.push({
      subject,
      attestation,
      logIndex: bundle.verificationMaterial.tlogEntries[0]?.logIndex ?? '?',
    });
  }
  return signed;
}

/** The log and summary lines: each file's transparency-log index (with a search link on the public log). */
export function describeAttestations(signed: SignedAttestation[], services: SigningServices): string {
  const publicLog = baseUrl(services.rekorUrl) === PUBLIC_GOOD_REKOR;
  return [
    `PEP 740 attestations, signed with a certificate from ${services.fulcioUrl.origin} and logged in ${services.rekorUrl.origin}:`,
    ...signed.map(
      ({ subject, logIndex }) =>
        `  ${subject.name}  transparency log index ${logIndex}${publicLog ? `  https://search.sigstore.dev/?logIndex=${logIndex}` : ''}`,
    ),
  ].join('\n');
}
