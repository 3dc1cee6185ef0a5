// PEP 740 for PyPI: the publish attestation's statement, and the attestation object PyPI takes in an upload's
// `attestations` field, made from the Sigstore bundle sign.ts signs. Pure data: pypi.ts loads this
// module with every run, Sigstore's libraries stay out of it.
import type { SerializedBundle } from '@sigstore/bundle';

export const PUBLISH_PREDICATE_TYPE = 'https://docs.pypi.org/attestations/publish/v1';
const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';

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

/**
 * The statement pypi-attestations' `Attestation.sign` builds, byte for byte: sigstore-python's StatementBuilder
 * writes compact JSON in this key order, with a null predicate. `name` is the file name as uploaded.
 */
export function publishStatement(subject: { name: string; sha256: string }): Buffer {
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
export function toPep740(bundle: SerializedBundle): Pep740Attestation {
  const material = bundle.verificationMaterial;
  const certificate =
    material.certificate?.rawBytes ?? material.x509CertificateChain?.certificates[0]?.rawBytes;
  const envelope = bundle.dsseEnvelope;
  if (!certificate) throw new Error('the Sigstore bundle has no signing certificate');
  if (!envelope) throw new Error('the Sigstore bundle holds no DSSE envelope');
  const [signature, ...more] = envelope.signatures;
  if (!signature || more.length > 0)
    throw new Error(`expected exactly one signature, got ${envelope.signatures.length}`);
  return {
    version: 1,
    verification_material: {
      // Both are base64 in the bundle's JSON form already, as PEP 740 wants them.
      certificate,
      transparency_entries: material.tlogEntries as unknown as Record<string, unknown>[],
    },
    envelope: { statement: envelope.payload, signature: signature.sig },
  };
}
