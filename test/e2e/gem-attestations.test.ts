// Sigstore attestations for gems end to end: the bundled action signs the gem's own bytes with the mocked
// Sigstore (as `sigstore-cli sign` does for rubygems/release-gem) and pushes the bundle as `gem push
// --attestation` does; the RubyGems emulator verifies it against the gem and the trusted publisher's workflow,
// as Pusher#verify_sigstore does, and refuses what does not verify.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import Busboy from 'busboy';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type ReceivedPush, type RubyGems, startRubyGems } from '../fakes/rubygems.ts';
import { type Sigstore, startSigstore } from '../fakes/sigstore.ts';
import { type ActionRun, FIXTURES, findLeaks, type RunOptions, runAction } from '../helpers/action.ts';

const GEM = path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem');
const GEM_SHA256 = createHash('sha256').update(fs.readFileSync(GEM)).digest();

let issuer: Issuer;
let sigstore: Sigstore;
let rubygems: RubyGems;

before(async () => {
  issuer = await startIssuer();
  sigstore = await startSigstore({ issuer });
});
after(async () => {
  await rubygems?.close();
  await sigstore.close();
  await issuer.close();
});
beforeEach(async () => {
  issuer.claims = defaultClaims();
  await rubygems?.close();
  rubygems = await startRubyGems({ issuer, trustedRoot: sigstore.trustedRoot });
});

/** Pushes the gem with the action, the mocked Sigstore's URLs given; a loopback host signs only when asked. */
function run(opts: RunOptions = {}): Promise<ActionRun> {
  return runAction({
    files: [GEM],
    oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
    ...opts,
    inputs: {
      'repository-url': rubygems.url,
      'fulcio-url': sigstore.fulcioUrl,
      'rekor-url': sigstore.rekorUrl,
      ...opts.inputs,
    },
  });
}

/** The multipart push's parts: the files and the fields with each one's content type. */
function partsOf(push: ReceivedPush): Promise<Map<string, { type: string; data: Buffer }>> {
  return new Promise((resolve, reject) => {
    const parts = new Map<string, { type: string; data: Buffer }>();
    const parser = Busboy({ headers: push.headers });
    parser.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => parts.set(name, { type: info.mimeType, data: Buffer.concat(chunks) }));
    });
    parser.on('field', (name, value, info) =>
      parts.set(name, { type: info.mimeType, data: Buffer.from(value) }),
    );
    parser.on('error', reject);
    parser.on('close', () => resolve(parts));
    parser.end(push.body);
  });
}

describe('Sigstore attestations for gems (bundled action on Node 24, mocked Sigstore)', () => {
  it('pushes the gem with a bundle the emulator verifies against its bytes and the publisher', async () => {
    const [requestsBefore, logBefore] = [issuer.requests.length, sigstore.logIndexes.length];
    const result = await run({ inputs: { attestations: 'true' } });
    assert.equal(result.code, 0, result.stdout);
    // The signing session's token first, then the exchange's.
    assert.deepEqual(
      issuer.requests.slice(requestsBefore).map((r) => r.audience),
      ['sigstore', 'rubygems.org'],
    );
    const [stored] = [...rubygems.versions.values()];
    assert.equal(stored?.attestations?.length, 1, 'verified and kept');

    const [push] = rubygems.pushes;
    assert.ok(push);
    assert.match(String(push.headers['content-type']), /^multipart\/form-data; boundary=/);
    const parts = await partsOf(push);
    assert.deepEqual([...parts.keys()].sort(), ['attestations', 'gem']);
    // In gem push's order: the gem, then the attestations.
    assert.ok(push.body.indexOf('name="gem"') < push.body.indexOf('name="attestations"'));
    assert.equal(parts.get('gem')?.type, 'application/octet-stream');
    assert.deepEqual(parts.get('gem')?.data, fs.readFileSync(GEM));
    assert.equal(parts.get('attestations')?.type, 'application/json');
    const bundles = JSON.parse(parts.get('attestations')?.data.toString() ?? '[]');
    assert.equal(bundles.length, 1);
    const [bundle] = bundles;
    // sigstore-cli's bundle: v0.3, a message signature over the gem's sha256, one certificate, a hashedrekord.
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(bundle.messageSignature.messageDigest.algorithm, 'SHA2_256');
    assert.equal(bundle.messageSignature.messageDigest.digest, GEM_SHA256.toString('base64'));
    assert.deepEqual(bundle.verificationMaterial.tlogEntries[0].kindVersion, {
      kind: 'hashedrekord',
      version: '0.0.1',
    });
    const certificate = new X509Certificate(
      Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64'),
    );
    assert.equal(certificate.subjectAltName, `URI:https://github.com/${issuer.claims.job_workflow_ref}`);

    const [index] = sigstore.logIndexes.slice(logBefore);
    assert.match(result.stdout, new RegExp(`tp_sample-0\\.1\\.0\\.gem\\s+transparency log index ${index}`));
    assert.deepEqual(findLeaks(result, [...rubygems.minted, ...issuer.issued]), []);
  });

  it("with 'attestations: false' signs nothing and pushes the gem's bytes alone", async () => {
    const certificatesBefore = sigstore.certificates;
    const result = await run({ inputs: { attestations: 'false' } });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(sigstore.certificates, certificatesBefore, 'no certificate asked for');
    const [push] = rubygems.pushes;
    assert.equal(push?.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(push?.body, fs.readFileSync(GEM));
    assert.equal([...rubygems.versions.values()][0]?.attestations, undefined);
  });

  it('by default another host than rubygems.org gets none, and the log says why', async () => {
    const [certificatesBefore, requestsBefore] = [sigstore.certificates, issuer.requests.length];
    const result = await run();
    assert.equal(result.code, 0, result.stdout);
    assert.equal(sigstore.certificates, certificatesBefore);
    assert.deepEqual(
      issuer.requests.slice(requestsBefore).map((r) => r.audience),
      ['rubygems.org'],
    );
    assert.equal(rubygems.pushes[0]?.headers['content-type'], 'application/octet-stream');
    assert.match(
      result.stdout,
      /No Sigstore attestations for http:\/\/127\.0\.0\.1:\d+\/: by default they are made only for rubygems\.org/,
    );
  });

  it('a reusable workflow called at another ref than the run: RubyGems refuses the attestation, the action says why', async () => {
    // The exchange takes it (the publisher names the reusable workflow's repository), but SigstorePolicy builds
    // the identity with the ref the certificate records for the run (refs/tags/v0.1.0), while the SAN names
    // the reusable workflow at refs/heads/main.
    await rubygems.close();
    rubygems = await startRubyGems({
      issuer,
      trustedRoot: sigstore.trustedRoot,
      publisher: { workflowRepository: 'octo-org/shared-workflows' },
    });
    issuer.claims = {
      ...defaultClaims(),
      job_workflow_ref: 'octo-org/shared-workflows/.github/workflows/release.yml@refs/heads/main',
    };
    const result = await run({ inputs: { attestations: 'true' } });
    assert.equal(result.code, 1, result.stdout);
    assert.match(
      result.stdout,
      /refused tp_sample-0\.1\.0\.gem \(HTTP 422\): Attestation verification failed:/,
    );
    assert.match(
      result.stdout,
      /Certificate's SANs do not match https:\/\/github\.com\/octo-org\/shared-workflows\/\.github\/workflows\/release\.yml@refs\/tags\/v0\.1\.0/,
    );
    assert.match(result.stdout, /Call the reusable workflow at the run's own ref/);
    assert.equal(rubygems.versions.size, 0, 'nothing stored');
  });
});
