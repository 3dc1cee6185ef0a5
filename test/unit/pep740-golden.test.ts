// The attestation format against data this project did not produce: a publish attestation made by
// pypi-attestations in a real release (see test/data/pep740/README.md) goes through the verifier the PyPI
// emulator uses, offline, against the public-good Sigstore trust root; changed copies are refused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  AttestationError,
  checkUploadAttestations,
  type Pep740Attestation,
  parseAttestation,
  type VerifyOptions,
  verifyAttestation,
} from '../fakes/pep740.ts';

const DATA = path.join(import.meta.dirname, '../data/pep740');
const ATTESTATION = fs.readFileSync(
  path.join(DATA, 'pypi_attestations-0.0.19.tar.gz.publish.attestation'),
  'utf8',
);

/** The public-good trusted_root.json that @sigstore/tuf ships as its seed: no network needed. */
function publicGoodRoot(): TrustedRoot {
  const seeds = createRequire(import.meta.url)('@sigstore/tuf/seeds.json') as Record<
    string,
    { targets: Record<string, string> }
  >;
  const target = seeds['https://tuf-repo-cdn.sigstore.dev']?.targets['trusted_root.json'] ?? '';
  return TrustedRoot.fromJSON(JSON.parse(Buffer.from(target, 'base64').toString('utf8')));
}

const OPTIONS: VerifyOptions = {
  trustedRoot: publicGoodRoot(),
  filename: 'pypi_attestations-0.0.19.tar.gz',
  sha256: '9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3',
  identity: { repository: 'trailofbits/pypi-attestations', workflow: 'release.yml' },
};

const golden = (): Pep740Attestation => parseAttestation(JSON.parse(ATTESTATION));

/** A copy with the statement's JSON changed and re-encoded (the signature is left as it was). */
function withStatement(change: (statement: Record<string, unknown>) => void): Pep740Attestation {
  const copy = golden();
  const statement = JSON.parse(Buffer.from(copy.envelope.statement, 'base64').toString());
  change(statement);
  copy.envelope.statement = Buffer.from(JSON.stringify(statement)).toString('base64');
  return copy;
}

describe('PEP 740 golden attestation (pypi-attestations 0.0.19, public-good Sigstore)', () => {
  it('parses and verifies with the identity that made it', () => {
    assert.deepEqual(verifyAttestation(golden(), OPTIONS), {
      predicateType: 'https://docs.pypi.org/attestations/publish/v1',
      logIndex: '153454663',
    });
    assert.equal(checkUploadAttestations(`[${ATTESTATION}]`, OPTIONS).length, 1);
  });

  it('is the shape this action produces: version 1, base64 certificate, protobuf-JSON log entry, envelope', () => {
    const raw = JSON.parse(ATTESTATION);
    assert.deepEqual(Object.keys(raw).sort(), ['envelope', 'verification_material', 'version']);
    assert.deepEqual(Object.keys(raw.envelope).sort(), ['signature', 'statement']);
    assert.deepEqual(Object.keys(raw.verification_material).sort(), ['certificate', 'transparency_entries']);
    assert.deepEqual(Object.keys(raw.verification_material.transparency_entries[0]).sort(), [
      'canonicalizedBody',
      'inclusionPromise',
      'inclusionProof',
      'integratedTime',
      'kindVersion',
      'logId',
      'logIndex',
    ]);
    const statement = Buffer.from(raw.envelope.statement, 'base64').toString();
    assert.equal(
      statement,
      '{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"pypi_attestations-0.0.19.tar.gz","digest":{"sha256":"9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3"}}],"predicateType":"https://docs.pypi.org/attestations/publish/v1","predicate":null}',
    );
  });

  it('refuses another file digest, naming the mismatch', () => {
    assert.throws(
      () => verifyAttestation(golden(), { ...OPTIONS, sha256: 'b'.repeat(64) }),
      (err: Error) =>
        err instanceof AttestationError &&
        err.message === 'Verification failed: subject does not match distribution digest',
    );
  });

  it('refuses another file name, and compares names as packaging parses them', () => {
    assert.throws(
      () => verifyAttestation(golden(), { ...OPTIONS, filename: 'pypi_attestations-0.0.20.tar.gz' }),
      /subject does not match distribution name: pypi_attestations-0\.0\.19\.tar\.gz != pypi_attestations-0\.0\.20\.tar\.gz/,
    );
    // The same distribution spelt another way (PEP 503 name, PEP 440 version) is the same subject.
    assert.equal(
      verifyAttestation(golden(), { ...OPTIONS, filename: 'PyPI.Attestations-0.0.19.0.tar.gz' }).logIndex,
      '153454663',
    );
  });

  it('refuses another trusted publisher: workflow or repository', () => {
    assert.throws(
      () =>
        verifyAttestation(golden(), {
          ...OPTIONS,
          identity: { ...OPTIONS.identity, workflow: 'publish.yml' },
        }),
      /Build Config URI .*release\.yml@refs\/tags\/v0\.0\.19.* does not match expected Trusted Publisher \(publish\.yml @ trailofbits\/pypi-attestations\)/,
    );
    assert.throws(
      () =>
        verifyAttestation(golden(), {
          ...OPTIONS,
          identity: { ...OPTIONS.identity, repository: 'octo/fork' },
        }),
      /Certificate's OIDCSourceRepositoryURI does not match \(got https:\/\/github\.com\/trailofbits\/pypi-attestations, expected https:\/\/github\.com\/octo\/fork\)/,
    );
  });

  it('refuses a statement changed after signing (its digest flipped), on the signature', () => {
    const tampered = withStatement((statement) => {
      const [subject] = statement.subject as { digest: { sha256: string } }[];
      if (subject) subject.digest.sha256 = OPTIONS.sha256.replace(/^9/, '8');
    });
    assert.throws(() => verifyAttestation(tampered, OPTIONS), {
      message: 'Verification failed: DSSE payload hash mismatch',
    });
    assert.throws(
      () => checkUploadAttestations(JSON.stringify([tampered]), OPTIONS),
      /^Error: Could not verify the uploaded artifact using the included attestation: Verification failed: DSSE payload hash mismatch$/,
    );
  });

  it('refuses it against a trust root it was not signed under', () => {
    const empty = TrustedRoot.fromJSON({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    });
    assert.throws(
      () => verifyAttestation(golden(), { ...OPTIONS, trustedRoot: empty }),
      /Verification failed/,
    );
  });

  it('gives Warehouse’s texts for malformed, empty and too many attestations', () => {
    assert.throws(() => checkUploadAttestations('[]', OPTIONS), {
      message: 'Malformed attestations: an empty attestation set is not permitted',
    });
    assert.throws(() => checkUploadAttestations(`[${ATTESTATION},${ATTESTATION},${ATTESTATION}]`, OPTIONS), {
      message: 'A maximum of 2 attestations per file are supported',
    });
    assert.throws(
      () => checkUploadAttestations(`[${ATTESTATION},${ATTESTATION}]`, OPTIONS),
      /Multiple attestations for the same file with the same predicate type \(https:\/\/docs\.pypi\.org\/attestations\/publish\/v1\) are not supported/,
    );
    assert.throws(
      () => checkUploadAttestations('[{"version": 2}]', OPTIONS),
      /^Error: Malformed attestations: /,
    );
    const badCertificate = { ...JSON.parse(ATTESTATION) };
    badCertificate.verification_material.certificate = Buffer.from('not a certificate').toString('base64');
    assert.throws(() => checkUploadAttestations(JSON.stringify([badCertificate]), OPTIONS), {
      message: 'Unknown error while trying to verify included attestations: invalid X.509 certificate',
    });
  });
});
