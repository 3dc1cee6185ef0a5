// Sigstore bundle verification as the registries' emulators need it: @sigstore/verify against a trust root
// (signature, certificate chain, SCT, transparency log entry), then the Fulcio certificate extensions that name
// the workflow run. Shared by the PyPI (PEP 740) and npm (provenance) checks.
import type { Bundle } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';

/** Fulcio's certificate extensions (fulcio docs/oid-info.md), named as sigstore-python's policy classes are. */
export const FULCIO_OIDS = {
  OIDCIssuerV2: '1.3.6.1.4.1.57264.1.8',
  RunnerEnvironment: '1.3.6.1.4.1.57264.1.11',
  OIDCSourceRepositoryURI: '1.3.6.1.4.1.57264.1.12',
  OIDCSourceRepositoryDigest: '1.3.6.1.4.1.57264.1.13',
  OIDCSourceRepositoryRef: '1.3.6.1.4.1.57264.1.14',
  OIDCBuildConfigURI: '1.3.6.1.4.1.57264.1.18',
  SourceRepositoryVisibilityAtSigning: '1.3.6.1.4.1.57264.1.22',
} as const;

export type FulcioExtension = keyof typeof FULCIO_OIDS;

/** The certificate's extensions by OID, DER values as they are. */
export type Extensions = Map<string, Buffer>;

/**
 * Verifies the bundle against the trust root and returns its certificate's extensions. Throws @sigstore/verify's
 * error, whose message the registries quote.
 */
export function verifyBundle(bundle: Bundle, trustedRoot: TrustedRoot): Extensions {
  return verifySigner(bundle, trustedRoot).extensions;
}

/**
 * As verifyBundle, for a bundle of either content: a message signature is verified against `artifact`, the
 * signed bytes. Returns the certificate's extensions and its SAN.
 */
export function verifySigner(
  bundle: Bundle,
  trustedRoot: TrustedRoot,
  artifact?: Buffer,
): { extensions: Extensions; subjectAlternativeName: string | undefined } {
  const signer = new Verifier(toTrustMaterial(trustedRoot)).verify(toSignedEntity(bundle, artifact));
  return {
    extensions: new Map(
      (signer.identity?.oids ?? []).map(({ oid, value }) => [oid?.id.join('.') ?? '', value] as const),
    ),
    subjectAlternativeName: signer.identity?.subjectAlternativeName,
  };
}

/** The DER UTF8String a Fulcio v2 extension holds, decoded (pyasn1's der_decode(value, UTF8String)). */
export function utf8String(der: Buffer): string | undefined {
  if (der[0] !== 0x0c || der.length < 2) return undefined;
  const first = der[1] ?? 0;
  const lengthBytes = first < 0x80 ? 0 : first & 0x7f;
  const length = lengthBytes === 0 ? first : der.subarray(2, 2 + lengthBytes).readUIntBE(0, lengthBytes);
  const start = 2 + lengthBytes;
  return der.length === start + length ? der.subarray(start).toString('utf8') : undefined;
}

/** A v2 extension's text; undefined when the certificate lacks it or it is not a UTF8String. */
export function extensionText(extensions: Extensions, name: FulcioExtension): string | undefined {
  const raw = extensions.get(FULCIO_OIDS[name]);
  return raw && utf8String(raw);
}
