// trusted-publish publishes itself: the publish release.yml makes, run here. The project's own `npm pack`
// tarball goes up through the bundled action with the release step's inputs and the release job's claims, to
// the npm emulator (trusted publishing; the provenance verified against the mocked Sigstore's trust root, as
// the registry does) and to Verdaccio, a real registry, from which the real `npm install` installs a command
// that runs.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type NpmRegistry, runNpm, startNpm } from '../fakes/npm.ts';
import { type Sigstore, startSigstore } from '../fakes/sigstore.ts';
import { findLeaks, NODE24, runProcess, wasMasked } from '../helpers/action.ts';
import { type PackedProject, packProject } from '../helpers/package.ts';
import {
  publishRelease,
  RELEASE_REPOSITORY,
  releaseClaims,
  releaseInputs,
  releasePublisher,
} from '../helpers/self-release.ts';
import { tempDir } from '../helpers/temp.ts';
import { startVerdaccio, type Verdaccio, verdaccioToken } from '../helpers/verdaccio.ts';

let work: string;
let packed: PackedProject;
let issuer: Issuer;
let sigstore: Sigstore;

before(async () => {
  work = tempDir('tp-self-release-');
  fs.mkdirSync(path.join(work, 'pack'));
  packed = await packProject(path.join(work, 'pack'));
  issuer = await startIssuer({ claims: releaseClaims(packed.version) });
  sigstore = await startSigstore({ issuer });
});
after(async () => {
  await sigstore?.close();
  await issuer?.close();
});

describe('trusted-publish publishes itself (the release job, bundled action on Node 24)', () => {
  it('release.yml publishes to npm with trusted publishing, provenance and waiting', () => {
    assert.deepEqual(releaseInputs(), {
      registry: 'npm',
      'packages-dir': 'release',
      attestations: 'true',
      wait: 'true',
    });
  });

  describe('to the npm emulator', () => {
    let registry: NpmRegistry;
    before(async () => {
      registry = await startNpm({
        issuer,
        publishers: { [packed.name]: [releasePublisher()] },
        trustedRoot: sigstore.trustedRoot,
      });
      // Trusted publishing publishes packages that exist: the first version came from a maintainer.
      registry.addPackage(packed.name, ['0.0.1']);
    });
    after(async () => {
      await registry?.close();
    });

    it('publishes the packed project with verified provenance, and waits until it is installable', async () => {
      const jwtsBefore = issuer.issued.length;
      const result = await publishRelease(packed.tarball, {
        oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
        registryUrl: registry.url,
        fulcioUrl: sigstore.fulcioUrl,
        rekorUrl: sigstore.rekorUrl,
      });
      assert.equal(result.code, 0, result.stdout);
      assert.deepEqual(
        result.published.map((p) => [p.file, p.name, p.version, p.status]),
        [[path.basename(packed.tarball), packed.name, packed.version, 'uploaded']],
      );
      // wait: true polled the packument until the version and its dist-tag were there.
      assert.equal((result.published[0] as { available?: boolean } | undefined)?.available, true);

      // The registry verified the bundle (signature, certificate chain, Rekor entry, subject, repository).
      const provenance = registry.provenance.get(`${packed.name}@${packed.version}`);
      assert.ok(provenance, 'the emulator verified and kept the provenance');
      // The bundle as the action sent it, beside the tarball in the publish document.
      const attachments = registry.documents.find((d) => d.name === packed.name)?.document?._attachments as
        | Record<string, { data: string }>
        | undefined;
      const bundle = JSON.parse(attachments?.[`${packed.name}-${packed.version}.sigstore`]?.data ?? '{}');
      const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
      const sha512 = createHash('sha512').update(fs.readFileSync(packed.tarball)).digest('hex');
      assert.deepEqual(statement.subject, [
        { name: `pkg:npm/${packed.name}@${packed.version}`, digest: { sha512 } },
      ]);
      assert.deepEqual(statement.predicate.buildDefinition.externalParameters.workflow, {
        ref: `refs/tags/v${packed.version}`,
        repository: `https://github.com/${RELEASE_REPOSITORY}`,
        path: '.github/workflows/release.yml',
      });
      const certificate = new X509Certificate(
        Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64'),
      );
      assert.equal(
        certificate.subjectAltName,
        `URI:https://github.com/${RELEASE_REPOSITORY}/.github/workflows/release.yml@refs/tags/v${packed.version}`,
      );
      assert.equal(registry.packuments.get(packed.name)?.['dist-tags'].latest, packed.version);

      assert.deepEqual(findLeaks(result, [...registry.minted, ...issuer.issued]), []);
      for (const secret of [...registry.minted, ...issuer.issued.slice(jwtsBefore)])
        assert.ok(wasMasked(result, secret), 'masked');
    });
  });

  describe('to Verdaccio, then npm install', () => {
    let verdaccio: Verdaccio;
    before(async () => {
      verdaccio = await startVerdaccio(work);
    });
    after(async () => {
      await verdaccio?.stop();
    });

    it('publishes the packed project (with a token: Verdaccio has no trusted publishing), and the installed command runs', async () => {
      const token = await verdaccioToken(verdaccio);
      const result = await publishRelease(packed.tarball, {
        oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
        registryUrl: `${verdaccio.url}/`,
        fulcioUrl: sigstore.fulcioUrl,
        rekorUrl: sigstore.rekorUrl,
        password: token,
      });
      assert.equal(result.code, 0, `${result.stdout}\n${verdaccio.log()}`);
      assert.deepEqual(
        result.published.map((p) => [p.name, p.version, p.status]),
        [[packed.name, packed.version, 'uploaded']],
      );
      // As npm: provenance goes only with trusted publishing, and the log says so.
      assert.match(result.stdout, /Attestations apply only to trusted publishing/);
      assert.ok(wasMasked(result, token));
      assert.deepEqual(findLeaks(result, [token]), []);

      const project = path.join(work, 'consumer');
      fs.mkdirSync(project);
      fs.writeFileSync(
        path.join(project, 'package.json'),
        JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
      );
      const install = await runNpm(
        ['install', `${packed.name}@${packed.version}`, '--registry', `${verdaccio.url}/`],
        { cwd: project },
      );
      assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
      const installed = path.join(project, 'node_modules', packed.name);
      assert.deepEqual(
        fs.readdirSync(path.join(project, 'node_modules')).filter((entry) => !entry.startsWith('.')),
        [packed.name],
        'no dependency came',
      );
      const version = await runProcess([NODE24, path.join(installed, 'dist/cli.js'), '--version'], {
        cwd: project,
        env: { PATH: process.env.PATH ?? '' },
      });
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout, `${packed.version}\n`);
    });
  });
});
