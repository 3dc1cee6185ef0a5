// PEP 740 attestations end to end: the bundled action signs each PyPI file with the mocked Sigstore (Fulcio +
// Rekor on 127.0.0.1) and uploads the attestation with it; the PyPI emulator verifies every one against the
// mock's trust root and the publisher's identity, as Warehouse does, and refuses what does not verify.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type CratesIo, startCratesIo } from '../fakes/crates.ts';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import type { Pep740Attestation } from '../fakes/pep740.ts';
import { type PyPI, partMultiset, type ReceivedUpload, startPyPI } from '../fakes/pypi.ts';
import { type Sigstore, startSigstore } from '../fakes/sigstore.ts';
import { makeWheel } from '../fakes/wheel.ts';
import {
  type ActionRun,
  FIXTURES,
  findLeaks,
  type RunOptions,
  runAction,
  wasMasked,
} from '../helpers/action.ts';
import { tempDir } from '../helpers/temp.ts';
import { mintPyPIToken } from '../helpers/tokens.ts';

const SDIST = path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz');
const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');
const CRATE = path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate');
const UPLOADED = ['tp_sample-0.1.0.tar.gz', 'tp_sample-0.1.0-py3-none-any.whl'];

let issuer: Issuer;
let sigstore: Sigstore;
let pypi: PyPI;

before(async () => {
  issuer = await startIssuer();
  sigstore = await startSigstore({ issuer });
});
after(async () => {
  await pypi?.close();
  await sigstore.close();
  await issuer.close();
});
beforeEach(async () => {
  issuer.claims = defaultClaims();
  await pypi?.close();
  pypi = await startPyPI({ issuer, trustedRoot: sigstore.trustedRoot });
});

/**
 * Runs the action against the emulator and the mocked Sigstore, with a working id-token permission. A loopback
 * index gets attestations only when asked for, so the runs ask.
 */
function run(opts: RunOptions = {}, emulator: PyPI = pypi): Promise<ActionRun> {
  return runAction({
    files: [SDIST, WHEEL],
    oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
    ...opts,
    inputs: {
      attestations: 'true',
      'repository-url': emulator.uploadUrl,
      'fulcio-url': sigstore.fulcioUrl,
      'rekor-url': sigstore.rekorUrl,
      ...opts.inputs,
    },
  });
}

/** No registry token, registry JWT or sigstore JWT anywhere the runner keeps; every sigstore JWT was masked. */
function assertNoLeaks(result: ActionRun, sigstoreJwtsBefore: number): void {
  assert.deepEqual(findLeaks(result, [...pypi.minted, ...issuer.issued]), []);
  for (const jwt of sigstore.tokens.slice(sigstoreJwtsBefore))
    assert.ok(wasMasked(result, jwt), 'JWT masked');
}

const attestationsOf = (upload: ReceivedUpload | undefined): Pep740Attestation[] | undefined => {
  const field = upload?.fields.find(([name]) => name === 'attestations')?.[1];
  return field === undefined ? undefined : JSON.parse(field);
};

const statementOf = (attestation: Pep740Attestation) =>
  JSON.parse(Buffer.from(attestation.envelope.statement, 'base64').toString());

const audiencesSince = (count: number) => issuer.requests.slice(count).map((r) => r.audience);

describe('PEP 740 attestations (bundled action on Node 24, mocked Sigstore)', () => {
  it('signs each file before the exchange and the emulator verifies every attestation', async () => {
    const [requestsBefore, jwtsBefore, logBefore] = [
      issuer.requests.length,
      sigstore.tokens.length,
      sigstore.logIndexes.length,
    ];
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual([...pypi.files.keys()], UPLOADED);
    assert.deepEqual([...pypi.provenance.keys()], UPLOADED, 'the emulator verified and kept both');

    // One signing session per file (a fresh 'sigstore' JWT each), all of them before the registry's JWT.
    assert.deepEqual(audiencesSince(requestsBefore), ['sigstore', 'sigstore', 'pypi']);
    assert.equal(new Set(sigstore.tokens.slice(jwtsBefore)).size, 2);

    for (const [i, upload] of pypi.uploads.entries()) {
      const attestations = attestationsOf(upload);
      assert.equal(attestations?.length, 1, 'one attestation object per file');
      const [attestation] = attestations ?? [];
      assert.ok(attestation);
      assert.equal(attestation.version, 1);
      const statement = statementOf(attestation);
      assert.equal(statement.predicateType, 'https://docs.pypi.org/attestations/publish/v1');
      assert.deepEqual(statement.subject, [{ name: UPLOADED[i], digest: { sha256: upload.file?.sha256 } }]);
      // Fulcio names the workflow identity in the SAN, as the public instance does for GitHub Actions.
      const certificate = new X509Certificate(
        Buffer.from(attestation.verification_material.certificate, 'base64'),
      );
      assert.equal(certificate.subjectAltName, `URI:https://github.com/${issuer.claims.job_workflow_ref}`);
      // A Rekor dsse entry in protobuf-JSON form, as pypi-attestations writes transparency_entries.
      assert.deepEqual(attestation.verification_material.transparency_entries[0]?.kindVersion, {
        kind: 'dsse',
        version: '0.0.1',
      });
    }

    // The log and the summary name each attestation's transparency log index.
    const indexes = sigstore.logIndexes.slice(logBefore);
    assert.equal(indexes.length, 2);
    for (const [i, index] of indexes.entries()) {
      const line = new RegExp(`${UPLOADED[i]?.replace(/\./g, '\\.')}\\s+transparency log index ${index}`);
      assert.match(result.stdout, line);
      assert.match(result.summary, line);
    }
    assertNoLeaks(result, jwtsBefore);
  });

  it("with 'attestations: false' signs nothing and sends the same parts without an attestations field", async () => {
    const [certificatesBefore, requestsBefore] = [sigstore.certificates, issuer.requests.length];
    const off = await run({ inputs: { attestations: 'false' } });
    assert.equal(off.code, 0, off.stdout);
    assert.equal(sigstore.certificates, certificatesBefore, 'no certificate asked for');
    assert.deepEqual(audiencesSince(requestsBefore), ['pypi']);
    assert.ok(pypi.uploads.every((u) => attestationsOf(u) === undefined));
    assert.equal(pypi.provenance.size, 0);
    assert.doesNotMatch(off.summary, /transparency log/);

    // Turning attestations on adds one part to each upload and changes no other.
    const on = await startPyPI({ issuer, trustedRoot: sigstore.trustedRoot });
    try {
      assert.equal((await run({}, on)).code, 0);
      for (const [i, upload] of on.uploads.entries()) {
        const parts = partMultiset(upload);
        const withoutAttestations = parts.filter((p) => !p.startsWith('attestations='));
        assert.equal(parts.length - withoutAttestations.length, 1);
        assert.deepEqual(withoutAttestations, partMultiset(pypi.uploads[i] as ReceivedUpload));
      }
    } finally {
      await on.close();
    }
  });

  it('refuses an attestation changed in transit (subject digest flipped): nothing is stored', async () => {
    pypi.tamperAttestations = (field) => {
      const attestations = JSON.parse(field) as Pep740Attestation[];
      for (const attestation of attestations) {
        const statement = statementOf(attestation);
        const digest: string = statement.subject[0].digest.sha256;
        statement.subject[0].digest.sha256 = `${digest[0] === '0' ? '1' : '0'}${digest.slice(1)}`;
        attestation.envelope.statement = Buffer.from(JSON.stringify(statement)).toString('base64');
      }
      return JSON.stringify(attestations);
    };
    const result = await run();
    assert.equal(result.code, 1);
    assert.deepEqual(
      pypi.uploads.map((u) => u.status),
      [400],
    );
    assert.equal(pypi.files.size, 0);
    assert.match(
      result.stdout,
      /Invalid attestations supplied during upload: Could not verify the uploaded artifact using the included attestation: Verification failed: DSSE payload hash mismatch/,
    );
    assert.match(result.stdout, /Set 'attestations: false'/);
    assert.deepEqual(
      result.published.map((p) => p.status),
      ['failed', 'failed'],
    );
    assert.deepEqual(findLeaks(result, [...pypi.minted, ...issuer.issued]), []);
  });

  it('refuses a validly signed attestation for other content under the same file name (wrong digest)', async () => {
    // A real attestation of the fixture wheel...
    assert.equal((await run({ files: [WHEEL] })).code, 0);
    const genuine = pypi.uploads[0]?.fields.find(([name]) => name === 'attestations')?.[1] ?? '';
    // ...replayed with another build of tp_sample-0.1.0-py3-none-any.whl on a fresh index.
    const other = await makeWheel(tempDir('tp-attest-'), {
      name: 'tp-sample',
      version: '0.1.0',
      description: 'another build',
    });
    const fresh = await startPyPI({ issuer, trustedRoot: sigstore.trustedRoot });
    fresh.tamperAttestations = () => genuine;
    try {
      const result = await run({ files: [other] }, fresh);
      assert.equal(result.code, 1);
      assert.equal(fresh.files.size, 0);
      assert.match(
        result.stdout,
        /Invalid attestations supplied during upload: Could not verify the uploaded artifact using the included attestation: Verification failed: subject does not match distribution digest/,
      );
    } finally {
      await fresh.close();
    }
  });

  it('inside a reusable workflow PyPI refuses the attestation: the action says why and how to fix it', async () => {
    // The run started from ci.yml, which calls release.yml: the publisher (and the exchange) name release.yml,
    // Fulcio's Build Config URI names ci.yml.
    issuer.claims.workflow_ref = 'octo-org/tp-sample/.github/workflows/ci.yml@refs/tags/v0.1.0';
    const result = await run();
    assert.equal(result.code, 1);
    assert.equal(pypi.minted.length, 1, 'the exchange itself matched the called workflow');
    assert.equal(pypi.files.size, 0);
    assert.match(
      result.stdout,
      /Certificate's Build Config URI \(.*ci\.yml@refs\/tags\/v0\.1\.0.*\) does not match expected Trusted Publisher \(release\.yml @ octo-org\/tp-sample\)/,
    );
    assert.match(result.stdout, /reusable workflow/);
    assert.match(result.stdout, /workflow_ref: octo-org\/tp-sample\/\.github\/workflows\/ci\.yml/);
    assert.match(result.stdout, /set 'attestations: false'/);
    assert.deepEqual(findLeaks(result, [...pypi.minted, ...issuer.issued]), []);
  });

  it('a signing failure sends nothing: Rekor down means no exchange and no upload', async () => {
    sigstore.faults.rekor.push(503, 503, 503);
    const requestsBefore = issuer.requests.length;
    const result = await run();
    assert.equal(result.code, 1);
    assert.equal(pypi.mintRequests, 0);
    assert.equal(pypi.uploads.length, 0);
    assert.ok(!audiencesSince(requestsBefore).includes('pypi'), 'no JWT for the registry was even asked for');
    assert.match(
      result.stdout,
      /Rekor \(http:\/\/127\.0\.0\.1:\d+\) did not log the attestation for tp_sample-0\.1\.0\.tar\.gz/,
    );
    assert.match(result.stdout, /set 'attestations: false' to publish without attestations/);
    assert.match(result.summary, /Nothing was uploaded/);
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status]),
      [
        ['tp-sample-0.1.0.tar.gz', 'failed'],
        ['tp_sample-0.1.0-py3-none-any.whl', 'failed'],
      ],
    );
    assert.equal(sigstore.faults.rekor.length, 0, 'retried twice before giving up');
    assert.deepEqual(findLeaks(result, issuer.issued), []);
  });

  it('Fulcio refusing the token is explained, and nothing is sent', async () => {
    // A Fulcio that trusts another issuer: this job's tokens fail its signature check.
    const stranger = await startIssuer();
    const foreign = await startSigstore({ issuer: stranger });
    try {
      const jwtsBefore = foreign.tokens.length;
      const result = await run({ inputs: { 'fulcio-url': foreign.fulcioUrl } });
      assert.equal(result.code, 1);
      assert.equal(foreign.certificates, 0);
      assert.equal(pypi.mintRequests, 0);
      assert.match(
        result.stdout,
        /Fulcio \(http:\/\/127\.0\.0\.1:\d+\) did not issue a signing certificate for tp_sample-0\.1\.0\.tar\.gz: \(400\) There was an error processing the identity token/,
      );
      assert.match(result.stdout, /Leave 'fulcio-url' at a Fulcio that trusts GitHub Actions tokens/);
      assert.deepEqual(findLeaks(result, [...issuer.issued, ...foreign.tokens.slice(jwtsBefore)]), []);
    } finally {
      await foreign.close();
      await stranger.close();
    }
  });

  it('an emulator without a trust root ignores attestations, as Warehouse with PEP 740 disabled does', async () => {
    const plain = await startPyPI({ issuer });
    try {
      const result = await run({}, plain);
      assert.equal(result.code, 0, result.stdout);
      assert.equal(plain.files.size, 2);
      assert.ok(
        plain.uploads.every((u) => attestationsOf(u)?.length === 1),
        'sent',
      );
      assert.equal(plain.provenance.size, 0, 'not verified, not kept');
    } finally {
      await plain.close();
    }
  });

  it("explains an explicit 'attestations: true' that cannot apply; the default says nothing", async () => {
    // crates.io takes no attestations (RubyGems, which this test used before, now does).
    const crates: CratesIo = await startCratesIo({ issuer });
    try {
      const crate = await run({
        files: [CRATE],
        inputs: { attestations: 'true', 'repository-url': crates.url },
      });
      assert.equal(crate.code, 0, crate.stdout);
      assert.match(
        crate.stdout,
        /::notice::Attestations apply only to trusted publishing to PyPI, TestPyPI, npm, RubyGems and prefix\.dev; crates\.io \(127\.0\.0\.1:\d+\) gets the files without them\./,
      );
      const quiet = await run({
        files: [CRATE],
        inputs: { attestations: '', 'repository-url': crates.url, 'dry-run': 'true' },
      });
      assert.equal(quiet.code, 0, quiet.stdout);
      assert.doesNotMatch(quiet.stdout, /Attestations apply only/);
    } finally {
      await crates.close();
    }

    const certificatesBefore = sigstore.certificates;
    const password = await mintPyPIToken(issuer, pypi);
    const withPassword = await run({ inputs: { attestations: 'true', password } });
    assert.equal(withPassword.code, 0, withPassword.stdout);
    assert.match(
      withPassword.stdout,
      /::notice::Attestations apply only to trusted publishing: .* so the files go up to PyPI without them \(with the token in 'password'\)\./,
    );
    assert.equal(sigstore.certificates, certificatesBefore, 'nothing signed');
    assert.ok(pypi.uploads.every((u) => attestationsOf(u) === undefined));
  });

  it('by default an index other than pypi.org and test.pypi.org gets none: no Sigstore token, no Fulcio, no Rekor', async () => {
    const [issued, certificates] = [issuer.requests.length, sigstore.certificates];
    const result = await run({ inputs: { attestations: '' } });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(audiencesSince(issued), ['pypi'], 'no token with the sigstore audience was asked for');
    assert.equal(sigstore.certificates, certificates, 'Fulcio was not contacted');
    assert.ok(pypi.uploads.every((u) => attestationsOf(u) === undefined));
    const why = result.stdout.match(
      /No PEP 740 attestations for http:\/\/127\.0\.0\.1:\d+\/legacy\/: by default they are made only for pypi\.org and test\.pypi\.org, where they are verified/g,
    );
    assert.equal(why?.length, 1, 'said once');
    assert.match(result.stdout, /Set 'attestations: true' to sign anyway/);
    assert.doesNotMatch(
      result.stdout,
      /::(notice|warning)::.*attestation/i,
      'an info line, not an annotation',
    );
  });

  it('a dry run says attestations would be signed, and signs none', async () => {
    const certificatesBefore = sigstore.certificates;
    const result = await run({ inputs: { 'dry-run': 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.match(
      result.stdout,
      /Attestations: each file would get a PEP 740 attestation signed at http:\/\/127\.0\.0\.1/,
    );
    assert.equal(sigstore.certificates, certificatesBefore);
  });
});
