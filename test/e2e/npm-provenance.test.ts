// npm provenance end to end: the bundled action signs SLSA provenance for each tarball with the mocked Sigstore
// (Fulcio + Rekor on 127.0.0.1) and attaches the bundle to the publish document as `npm publish --provenance`
// does; the npm emulator verifies it against the mock's trust root as the registry does (npm-provenance.ts) and
// refuses what does not verify.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type Claims, defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import {
  defaultPublisher,
  type NpmRegistry,
  packNpm,
  type ReceivedDocument,
  startNpm,
} from '../fakes/npm.ts';
import { ProvenanceError, provenanceBundleJson, verifyProvenance } from '../fakes/npm-provenance.ts';
import { type Sigstore, startSigstore } from '../fakes/sigstore.ts';
import {
  type ActionRun,
  FIXTURES,
  findLeaks,
  type RunOptions,
  randomToken,
  runAction,
  wasMasked,
} from '../helpers/action.ts';

const FIXTURE = path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz');
const SCOPED = '@octo-org/tp-scoped';
/** The fixture's package.json names this repository: the registry wants provenance from it. */
const REPOSITORY = 'example-org/tp-sample';
const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';

let issuer: Issuer;
let sigstore: Sigstore;
let registry: NpmRegistry;
let tmp: string;
let scoped: string;

/** GitHub's claims for a release run of example-org/tp-sample. */
function exampleClaims(): Claims {
  const claims = defaultClaims();
  for (const key of ['sub', 'repository', 'repository_owner', 'workflow_ref', 'job_workflow_ref'])
    claims[key] = String(claims[key]).replace('octo-org', 'example-org');
  return claims;
}

before(async () => {
  issuer = await startIssuer();
  sigstore = await startSigstore({ issuer });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-npm-provenance-'));
  scoped = await packNpm(tmp, {
    name: SCOPED,
    version: '1.2.0',
    publishConfig: { access: 'public' },
    repository: `git+https://github.com/${REPOSITORY}.git`,
  });
});
after(async () => {
  await registry?.close();
  await sigstore.close();
  await issuer.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});
beforeEach(async () => {
  await registry?.close();
  issuer.claims = exampleClaims();
  const publisher = { ...defaultPublisher(), repository: REPOSITORY };
  registry = await startNpm({
    issuer,
    publishers: { 'tp-sample': [publisher], [SCOPED]: [publisher] },
    trustedRoot: sigstore.trustedRoot,
  });
  registry.addPackage('tp-sample', ['0.0.1']);
  registry.addPackage(SCOPED, ['1.0.0']);
});

/** The runner's variables npm reads, set apart from the claims where they may differ (see provenanceStatement). */
const RUNNER_ENV = { GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '999', RUNNER_ENVIRONMENT: 'x' };

/** A registry on loopback gets provenance only when asked for (only registry.npmjs.org by default): the runs ask. */
function run(opts: RunOptions = {}): Promise<ActionRun> {
  return runAction({
    files: [FIXTURE, scoped],
    oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
    ...opts,
    env: { ...RUNNER_ENV, ...opts.env },
    inputs: {
      attestations: 'true',
      'repository-url': registry.url,
      'fulcio-url': sigstore.fulcioUrl,
      'rekor-url': sigstore.rekorUrl,
      ...opts.inputs,
    },
  });
}

/** No registry token or JWT (the 'sigstore' ones included) anywhere the runner keeps; every one masked. */
function assertNoLeaks(result: ActionRun, jwtsBefore: number, mintedBefore: number): void {
  assert.deepEqual(findLeaks(result, [...registry.minted, ...issuer.issued]), []);
  for (const secret of [...issuer.issued.slice(jwtsBefore), ...registry.minted.slice(mintedBefore)])
    assert.ok(wasMasked(result, secret), 'masked');
}

/** The package's publish document: packages go up in parallel, in either order. */
const documentOf = (name: string) => registry.documents.find((d) => d.name === name);

const attachmentsOf = (doc: ReceivedDocument | undefined) =>
  (doc?.document?._attachments ?? {}) as Record<
    string,
    { content_type: string; data: string; length: number }
  >;

const audiencesSince = (count: number) => issuer.requests.slice(count).map((r) => r.audience);

const sha512 = (file: string) => createHash('sha512').update(fs.readFileSync(file)).digest('hex');

/**
 * libnpmpublish's statement for a GitHub Actions run (lib/provenance.js, lib/publish.js), written out here from
 * the claims: the test holds the format, not the code under test.
 */
function npmStatement(purl: string, digest: string, c: Claims) {
  const server = 'https://github.com';
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: purl, digest: { sha512: digest } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: {
        buildType: 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1',
        externalParameters: {
          workflow: {
            ref: 'refs/tags/v0.1.0',
            repository: `${server}/${REPOSITORY}`,
            path: '.github/workflows/release.yml',
          },
        },
        internalParameters: {
          github: {
            event_name: c.event_name,
            repository_id: c.repository_id,
            repository_owner_id: c.repository_owner_id,
          },
        },
        resolvedDependencies: [{ uri: `git+${server}/${REPOSITORY}@${c.ref}`, digest: { gitCommit: c.sha } }],
      },
      runDetails: {
        builder: { id: `https://github.com/actions/runner/${c.runner_environment}` },
        metadata: {
          invocationId: `${server}/${REPOSITORY}/actions/runs/${c.run_id}/attempts/${c.run_attempt}`,
        },
      },
    },
  };
}

describe('npm provenance (bundled action on Node 24, mocked Sigstore)', () => {
  it('attaches SLSA provenance to both packages, signed before any exchange; the emulator verified each', async () => {
    const [requestsBefore, jwtsBefore, logBefore] = [
      issuer.requests.length,
      issuer.issued.length,
      sigstore.logIndexes.length,
    ];
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(
      result.published.map((p) => [p.file, p.status]),
      [
        ['octo-org-tp-scoped-1.2.0.tgz', 'uploaded'],
        ['tp-sample-0.1.0.tgz', 'uploaded'],
      ],
    );
    assert.deepEqual([...registry.provenance.keys()].sort(), [`${SCOPED}@1.2.0`, 'tp-sample@0.1.0']);
    // One signing session per tarball (a fresh 'sigstore' JWT each), both before the first exchange.
    assert.deepEqual(audiencesSince(requestsBefore), [
      'sigstore',
      'sigstore',
      'npm:127.0.0.1',
      'npm:127.0.0.1',
    ]);

    for (const [doc, name, file, purl] of [
      [documentOf(SCOPED), SCOPED, scoped, 'pkg:npm/%40octo-org/tp-scoped@1.2.0'],
      [documentOf('tp-sample'), 'tp-sample', FIXTURE, 'pkg:npm/tp-sample@0.1.0'],
    ] as const) {
      const version = name === SCOPED ? '1.2.0' : '0.1.0';
      const attachments = attachmentsOf(doc);
      // libnpmpublish's keys, in its order: the tarball, then the bundle.
      assert.deepEqual(Object.keys(attachments), [`${name}-${version}.tgz`, `${name}-${version}.sigstore`]);
      const attachment = attachments[`${name}-${version}.sigstore`];
      assert.ok(attachment);
      const bundle = JSON.parse(attachment.data);
      assert.equal(attachment.content_type, BUNDLE_V03);
      assert.equal(bundle.mediaType, BUNDLE_V03);
      assert.equal(attachment.length, attachment.data.length);
      // The bundle's own JSON, as sigstore-js' attest returns it and npm stringifies it.
      assert.equal(attachment.data, JSON.stringify(bundle));
      assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
      assert.deepEqual(bundle.verificationMaterial.tlogEntries[0].kindVersion, {
        kind: 'dsse',
        version: '0.0.1',
      });
      // The statement, byte for byte as npm writes it: from the claims, not from the runner's variables above.
      assert.equal(
        Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString(),
        JSON.stringify(npmStatement(purl, sha512(file), issuer.claims)),
      );
      // Fulcio names the workflow in the SAN, as the public instance does for GitHub Actions.
      const certificate = new X509Certificate(
        Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64'),
      );
      assert.equal(certificate.subjectAltName, `URI:https://github.com/${issuer.claims.job_workflow_ref}`);
      const dist = registry.packuments.get(name)?.versions[version]?.dist as Record<string, unknown>;
      assert.deepEqual(dist.attestations, {
        url: `${registry.url}/-/npm/v1/attestations/${name}@${version}`,
        provenance: { predicateType: 'https://slsa.dev/provenance/v1' },
      });
    }

    // The log and the summary name each bundle's transparency log index.
    const indexes = sigstore.logIndexes.slice(logBefore);
    assert.equal(indexes.length, 2);
    // (Signed in plan order; the packages then go up in parallel, so the registry may store them in either.)
    assert.deepEqual([...registry.provenance.values()].map((p) => p.logIndex).sort(), [...indexes].sort());
    for (const [i, file] of ['octo-org-tp-scoped-1.2.0.tgz', 'tp-sample-0.1.0.tgz'].entries()) {
      const line = new RegExp(`${file.replace(/\./g, '\\.')}\\s+transparency log index ${indexes[i]}`);
      assert.match(result.stdout, line);
      assert.match(result.summary, line);
    }
    assert.match(
      result.summary,
      /SLSA provenance attestations, signed with a certificate from http:\/\/127\.0\.0\.1/,
    );
    assertNoLeaks(result, jwtsBefore, 0);
  });

  it("with 'attestations: false' signs nothing and sends no .sigstore attachment", async () => {
    const [certificatesBefore, requestsBefore] = [sigstore.certificates, issuer.requests.length];
    const result = await run({ inputs: { attestations: 'false' } });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(sigstore.certificates, certificatesBefore, 'no certificate asked for');
    assert.deepEqual(audiencesSince(requestsBefore), ['npm:127.0.0.1', 'npm:127.0.0.1']);
    assert.deepEqual(
      [SCOPED, 'tp-sample'].map((name) => Object.keys(attachmentsOf(documentOf(name)))),
      [[`${SCOPED}-1.2.0.tgz`], ['tp-sample-0.1.0.tgz']],
    );
    assert.equal(registry.provenance.size, 0);
    assert.doesNotMatch(result.summary, /transparency log/);
  });

  it('the verification refuses a bundle for other content, and one whose statement was changed', async () => {
    assert.equal((await run({ files: [FIXTURE] })).code, 0);
    const attachment = attachmentsOf(registry.documents[0])['tp-sample-0.1.0.sigstore'];
    const genuine = provenanceBundleJson(attachment);
    const check = {
      trustedRoot: sigstore.trustedRoot,
      name: 'tp-sample',
      version: '0.1.0',
      tarball: fs.readFileSync(FIXTURE),
      repository: { type: 'git', url: `git+https://github.com/${REPOSITORY}.git` },
      publisher: { repository: REPOSITORY, file: 'release.yml' },
    };
    assert.equal(verifyProvenance(genuine, check).predicateType, 'https://slsa.dev/provenance/v1');

    // Another build of tp-sample 0.1.0: the validly signed bundle does not name its bytes.
    const other = await packNpm(fs.mkdtempSync(path.join(tmp, 'other-')), {
      name: 'tp-sample',
      version: '0.1.0',
      padBytes: 64,
    });
    assert.throws(
      () => verifyProvenance(genuine, { ...check, tarball: fs.readFileSync(other) }),
      new ProvenanceError('Provenance subject digest does not match the package'),
    );
    // The subject's digest rewritten to the other build's: the signature no longer covers the statement.
    const statement = JSON.parse(
      Buffer.from((genuine.dsseEnvelope as { payload: string }).payload, 'base64').toString(),
    );
    statement.subject[0].digest.sha512 = sha512(other);
    const tampered = {
      ...genuine,
      dsseEnvelope: {
        ...(genuine.dsseEnvelope as object),
        payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
      },
    };
    assert.throws(
      () => verifyProvenance(tampered, { ...check, tarball: fs.readFileSync(other) }),
      // @sigstore/verify's words, which the registry passes on: the Rekor entry holds the signed payload's hash.
      new ProvenanceError('DSSE payload hash mismatch'),
    );
    // Signed by another workflow than the trusted publisher's.
    assert.throws(
      () =>
        verifyProvenance(genuine, { ...check, publisher: { repository: REPOSITORY, file: 'nightly.yml' } }),
      new ProvenanceError(
        `the signing certificate's workflow https://github.com/${REPOSITORY}/.github/workflows/release.yml@refs/tags/v0.1.0 is not the trusted publisher's (nightly.yml @ ${REPOSITORY}) (emulator)`,
      ),
    );
    // Another package's name under the same signature is refused too.
    assert.throws(
      () => verifyProvenance(genuine, { ...check, name: 'tp-other' }),
      new ProvenanceError(
        'Provenance subject pkg:npm/tp-sample@0.1.0 does not match the package: pkg:npm/tp-other@0.1.0',
      ),
    );
  });

  it('a bundle changed in transit is refused with the registry’s words; the action says how to go on', async () => {
    registry.tamperProvenance = (bundle) => {
      const envelope = bundle.dsseEnvelope as { payload: string };
      const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
      const digest: string = statement.subject[0].digest.sha512;
      statement.subject[0].digest.sha512 = `${digest[0] === '0' ? '1' : '0'}${digest.slice(1)}`;
      return {
        ...bundle,
        dsseEnvelope: { ...envelope, payload: Buffer.from(JSON.stringify(statement)).toString('base64') },
      };
    };
    const jwtsBefore = issuer.issued.length;
    const mintedBefore = registry.minted.length;
    const result = await run({ files: [FIXTURE] });
    assert.equal(result.code, 1);
    assert.deepEqual(
      registry.documents.map((d) => d.status),
      [422],
    );
    assert.equal(registry.tarballs.size, 0, 'nothing stored');
    assert.match(
      result.stdout,
      /refused tp-sample-0\.1\.0\.tgz \(HTTP 422\): Error verifying sigstore provenance bundle: DSSE payload hash mismatch/,
    );
    assert.match(result.stdout, /Set 'attestations: false' to publish without provenance/);
    assert.equal(result.published[0]?.status, 'failed');
    assertNoLeaks(result, jwtsBefore, mintedBefore);
  });

  it("refuses provenance whose repository is not package.json's, and the action names the fix", async () => {
    // The run is octo-org/tp-sample's, the fixture names example-org/tp-sample.
    issuer.claims = defaultClaims();
    registry.publishers.set('tp-sample', [defaultPublisher()]);
    const [jwtsBefore, mintedBefore] = [issuer.issued.length, registry.minted.length];
    const result = await run({ files: [FIXTURE] });
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /Error verifying sigstore provenance bundle: Failed to validate repository information: package\.json: "repository\.url" is "git\+https:\/\/github\.com\/example-org\/tp-sample\.git", expected to match "https:\/\/github\.com\/octo-org\/tp-sample" from provenance/,
    );
    assert.match(
      result.stdout,
      /Set "repository": \{"type": "git", "url": "git\+https:\/\/github\.com\/octo-org\/tp-sample\.git"\} in package\.json/,
    );
    assert.equal(registry.tarballs.size, 0);
    assertNoLeaks(result, jwtsBefore, mintedBefore);
  });

  it('signs none for a private repository or a restricted package, as npm, and says so', async () => {
    issuer.claims.repository_visibility = 'private';
    const [certificatesBefore, jwtsBefore] = [sigstore.certificates, issuer.issued.length];
    const privateRepository = await run();
    assert.equal(privateRepository.code, 0, privateRepository.stdout);
    assert.equal(sigstore.certificates, certificatesBefore, 'nothing signed');
    assert.ok(registry.documents.every((d) => Object.keys(attachmentsOf(d)).length === 1));
    assert.match(
      privateRepository.stdout,
      /::notice::No SLSA provenance attestation for octo-org-tp-scoped-1\.2\.0\.tgz, tp-sample-0\.1\.0\.tgz: npm takes provenance only from public repositories, and example-org\/tp-sample is private\./,
    );
    assertNoLeaks(privateRepository, jwtsBefore, 0);

    // A public repository, but the scoped package is private on the registry: only the fixture gets one.
    issuer.claims.repository_visibility = 'public';
    // Both packages afresh (the run above published them), the scoped one restricted.
    registry.addPackage(SCOPED, ['1.0.0'], { restricted: true });
    registry.addPackage('tp-sample', ['0.0.1']);
    const explicit = await run({ inputs: { attestations: 'true' } });
    assert.equal(explicit.code, 0, explicit.stdout);
    assert.match(
      explicit.stdout,
      /::notice::No SLSA provenance attestation for octo-org-tp-scoped-1\.2\.0\.tgz: npm takes provenance only for public packages, and npm \(127\.0\.0\.1:\d+\) shows no @octo-org\/tp-scoped without credentials\./,
    );
    assert.deepEqual([...registry.provenance.keys()], ['tp-sample@0.1.0']);
  });

  it('by default a registry other than registry.npmjs.org gets none, and the log says why once', async () => {
    const [certificatesBefore, requestsBefore] = [sigstore.certificates, issuer.requests.length];
    const result = await run({ inputs: { attestations: '' } });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(sigstore.certificates, certificatesBefore, 'nothing signed');
    assert.ok(issuer.requests.slice(requestsBefore).every((r) => r.audience !== 'sigstore'));
    assert.ok(registry.documents.every((d) => Object.keys(attachmentsOf(d)).length === 1));
    const why = result.stdout.match(
      /No SLSA provenance attestations for http:\/\/127\.0\.0\.1:\d+\/: by default they are made only for registry\.npmjs\.org/g,
    );
    assert.equal(why?.length, 1);
  });

  it("never signs with a token in 'password'; an explicit 'attestations: true' gets a notice", async () => {
    const token = randomToken('npm_');
    registry.addToken(token, '*');
    const certificatesBefore = sigstore.certificates;
    const result = await run({ oidc: undefined, inputs: { password: token, attestations: 'true' } });
    assert.equal(result.code, 0, result.stdout);
    assert.match(
      result.stdout,
      /::notice::Attestations apply only to trusted publishing: .* so the files go up to npm \(127\.0\.0\.1:\d+\) without them/,
    );
    assert.equal(sigstore.certificates, certificatesBefore);
    assert.ok(registry.documents.every((d) => Object.keys(attachmentsOf(d)).length === 1));
    assert.deepEqual(findLeaks(result, [token]), []);
  });
});
