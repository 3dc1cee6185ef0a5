// Attestations signed with Sigstore, for every registry that takes them: per file, the registry's in-toto
// statement (PyPI: a PEP 740 publish attestation; npm: SLSA provenance) signed as a DSSE envelope, or the file
// itself signed as a message signature (RubyGems), with a Fulcio certificate for this workflow's identity and
// logged in Rekor, as a Sigstore bundle. Each registry sends the bundle in its own form (pypi.ts: PEP 740
// objects; npm.ts: the `.sigstore` attachment; rubygems.ts: the push's `attestations` part). publish.ts
// imports this module dynamically, only when attestations apply: @sigstore/sign and its HTTP stack are most of
// the bundle, and no other run should pay for loading them.
import { BUNDLE_V03_MEDIA_TYPE, type Bundle, bundleToJSON, type SerializedBundle } from '@sigstore/bundle';
import {
  DSSEBundleBuilder,
  FulcioSigner,
  InternalError,
  MessageSignatureBundleBuilder,
  RekorWitness,
} from '@sigstore/sign';
import { ActionError } from '../errors.ts';
import { decodeClaims, PUBLIC_GOOD_REKOR } from '../oidc.ts';
import type { Claims } from '../types.ts';

const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** Per request; @sigstore/sign's own default is no retry at all. */
const SIGSTORE_FETCH = { timeout: 30_000, retry: { retries: 2, minTimeout: 500, factor: 2 } };

/**
 * The bundle with its leaf certificate alone, as v0.3. @sigstore/sign makes a message signature as a v0.2
 * bundle (a certificate chain); sigstore-ruby's Signer makes v0.3, and RubyGems.org refuses anything older
 * ("Must provide at least v0.3 bundles"). The signature and the log entry are the same either way.
 */
function asV03(bundle: Bundle): Bundle {
  const material = bundle.verificationMaterial;
  if (material.content.$case !== 'x509CertificateChain') return bundle;
  const [leaf] = material.content.x509CertificateChain.certificates;
  if (!leaf) return bundle;
  return {
    ...bundle,
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: { ...material, content: { $case: 'certificate', certificate: leaf } },
  };
}

/** One file to attest. */
export interface AttestationRequest {
  /** The file's name, for the log and errors. */
  file: string;
  /**
   * The in-toto statement to sign, built from the claims of the very token Fulcio certifies (so the statement
   * and the certificate name the same workflow run), or why this file gets none.
   */
  statement(claims: Claims): Promise<Buffer | string>;
  /** A DSSE envelope of the statement, or a message signature over the bytes as they are. */
  envelope: 'dsse' | 'message-signature';
}

export interface SignedAttestation {
  file: string;
  /** The Sigstore bundle in its JSON form (bundleToJSON), as sigstore-js' `attest` returns it to npm. */
  bundle: SerializedBundle;
  /** The Rekor entry's log index, for the summary. */
  logIndex: string;
}

export interface SkippedAttestation {
  file: string;
  /** Why the registry takes no attestation for this file. */
  skipped: string;
}

export interface SigningServices {
  fulcioUrl: URL;
  rekorUrl: URL;
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
 * Signs one attestation per request, in order. Every file gets its own signing session: a fresh 'sigstore' JWT
 * (the CI system registers it as a secret) whose claims the registry builds the statement from, an ephemeral key and a Fulcio
 * certificate for that JWT (valid 10 minutes, so a long release never signs with an expired one), and its own
 * Rekor entry.
 */
export async function signAttestations(
  requests: AttestationRequest[],
  services: SigningServices,
  /** A fresh JWT with Fulcio's audience, registered as a secret by the CI system that issued it. */
  sigstoreToken: () => Promise<string>,
): Promise<(SignedAttestation | SkippedAttestation)[]> {
  const results: (SignedAttestation | SkippedAttestation)[] = [];
  for (const { file, statement, envelope } of requests) {
    let bundle: SerializedBundle;
    try {
      const jwt = await sigstoreToken();
      const payload = await statement(decodeClaims(jwt) ?? {});
      if (typeof payload === 'string') {
        results.push({ file, skipped: payload });
        continue;
      }
      const options = {
        signer: new FulcioSigner({
          fulcioBaseURL: baseUrl(services.fulcioUrl),
          // The JWT the statement was built from, and no other: Fulcio certifies the same claims.
          identityProvider: { getToken: async () => jwt },
          ...SIGSTORE_FETCH,
        }),
        witnesses: [new RekorWitness({ rekorBaseURL: baseUrl(services.rekorUrl), ...SIGSTORE_FETCH })],
      };
      // A message signature is a v0.3 bundle with a hashedrekord entry, as sigstore-ruby's Signer#sign makes it.
      bundle = bundleToJSON(
        envelope === 'message-signature'
          ? asV03(await new MessageSignatureBundleBuilder(options).create({ data: payload }))
          : await new DSSEBundleBuilder(options).create({ data: payload, type: IN_TOTO_PAYLOAD_TYPE }),
      );
    } catch (err) {
      throw signingFailure(err, file, services);
    }
    results.push({ file, bundle, logIndex: bundle.verificationMaterial.tlogEntries[0]?.logIndex ?? '?' });
  }
  return results;
}

/**
 * The log and summary lines: each file's transparency-log index (with a search link on the public log).
 * `kind` names one attestation, e.g. 'PEP 740 attestation'.
 */
export function describeAttestations(
  signed: SignedAttestation[],
  kind: string,
  services: SigningServices,
): string {
  const publicLog = baseUrl(services.rekorUrl) === PUBLIC_GOOD_REKOR;
  return [
    `${kind}s, signed with a certificate from ${services.fulcioUrl.origin} and logged in ${services.rekorUrl.origin}:`,
    ...signed.map(
      ({ file, logIndex }) =>
        `  ${file}  transparency log index ${logIndex}${publicLog ? `  https://search.sigstore.dev/?logIndex=${logIndex}` : ''}`,
    ),
  ].join('\n');
}
