// Runs the bundled action end to end with no account: a local OIDC issuer, a mocked Sigstore (Fulcio + Rekor)
// and emulators of PyPI (verifying PEP 740 attestations), RubyGems, crates.io, npm, NuGet and prefix.dev on 127.0.0.1, the
// project's fixtures (and a generated .nupkg) as the releases, then prints each log as GitHub's log page shows it
// (RUNNER_DEBUG=1 shows debug lines, as step debug logging does).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCratesIo } from '../test/fakes/crates.ts';
import { startIssuer } from '../test/fakes/issuer.ts';
import { defaultPublisher, startNpm } from '../test/fakes/npm.ts';
import { startNuGet } from '../test/fakes/nuget.ts';
import { makeNupkg } from '../test/fakes/nupkg.ts';
import { startPrefixDev } from '../test/fakes/prefix.ts';
import { startPyPI } from '../test/fakes/pypi.ts';
import { startRubyGems } from '../test/fakes/rubygems.ts';
import { startSigstore } from '../test/fakes/sigstore.ts';
import { type ActionRun, FIXTURES, findLeaks, runAction } from '../test/helpers/action.ts';
import { packProject } from '../test/helpers/package.ts';
import { renderRunnerLog } from '../test/helpers/runner-log.ts';
import { publishRelease, releaseClaims, releasePublisher } from '../test/helpers/self-release.ts';

// `npm run sandbox -- --gitlab`: one publish from a GitLab CI/CD job instead (scripts/sandbox-gitlab.ts).
if (process.argv.includes('--gitlab')) {
  await import('./sandbox-gitlab.ts');
  process.exit();
}

const fixtures = (dir: string, pattern: RegExp) =>
  fs
    .readdirSync(path.join(FIXTURES, dir))
    .filter((f) => pattern.test(f))
    .map((f) => path.join(FIXTURES, dir, f));

/** The step summary is HTML and Markdown for GitHub's page; a terminal wants plain text. */
function plainSummary(summary: string): string {
  return summary
    .replace(/<\/t[hd]>/g, ' | ')
    .replace(/<\/tr>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function show(title: string, run: ActionRun, secrets: string[]): boolean {
  console.log(`\n===== ${title}: exit code ${run.code} =====`);
  console.log(renderRunnerLog(run.stdout, { debug: process.env.RUNNER_DEBUG === '1' }).trim());
  console.log('\n----- step summary -----');
  console.log(plainSummary(run.summary));
  const leaks = findLeaks(run, secrets);
  console.log(
    leaks.length === 0 ? '\nNo token or JWT appears in any output.' : `\nLEAKS: ${leaks.join(', ')}`,
  );
  return run.code === 0 && leaks.length === 0;
}

const issuer = await startIssuer();
const sigstore = await startSigstore({ issuer });
const pypi = await startPyPI({ issuer, trustedRoot: sigstore.trustedRoot });
const rubygems = await startRubyGems({ issuer });
const crates = await startCratesIo({ issuer });
// The sparse index shows a new version a moment after the publish, as crates.io's index CDN does: the crates.io
// run waits for it (wait: true).
crates.indexDelayMs = 2_000;
const npm = await startNpm({ issuer, publishers: { 'tp-sample': [defaultPublisher()] } });
// Trusted publishing on npm serves packages that exist already: the fixture gets an older release.
npm.addPackage('tp-sample', ['0.0.1']);
const nuget = await startNuGet({ issuer });
const prefix = await startPrefixDev({ issuer });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-sandbox-'));
try {
  const oidc = { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken };
  const python = await runAction({
    files: fixtures('pypi', /\.(whl|tar\.gz)$/),
    inputs: {
      'repository-url': pypi.uploadUrl,
      'print-hash': 'true',
      // A loopback index gets PEP 740 attestations only when asked for; the emulator verifies them.
      attestations: 'true',
      'fulcio-url': sigstore.fulcioUrl,
      'rekor-url': sigstore.rekorUrl,
    },
    oidc,
  });
  const gem = await runAction({
    files: fixtures('rubygems', /\.gem$/),
    inputs: { 'repository-url': rubygems.url },
    oidc,
  });
  const crate = await runAction({
    files: fixtures('crates', /\.crate$/),
    inputs: { 'repository-url': crates.url, wait: 'true' },
    oidc,
  });
  const tarball = await runAction({
    files: fixtures('npm', /\.tgz$/),
    // The fixture's package.json names another repository than the sandbox's claims, which npm would refuse
    // provenance for; provenance has its own suite (test/e2e/npm-provenance.test.ts).
    inputs: { 'repository-url': npm.url, attestations: 'false' },
    oidc,
  });
  const nupkg = await runAction({
    files: [await makeNupkg(work, { id: 'TpSample', version: '0.1.0' })],
    inputs: { 'repository-url': nuget.url, user: 'octocat' },
    oidc,
  });
  const conda = await runAction({
    files: fixtures('conda', /\.(conda|tar\.bz2)$/),
    // A loopback host gets no CEP 27 attestations unless asked for (they go to public Sigstore by default).
    inputs: { 'repository-url': prefix.url, channel: 'tp-channel', attestations: 'false', wait: 'true' },
    oidc,
  });
  // The release (.github/workflows/release.yml): the project's own npm pack, published by this action with the
  // release step's inputs from a job with the release's claims, with provenance the emulator verifies.
  const project = await packProject(work);
  issuer.claims = releaseClaims(project.version);
  const self = await startNpm({
    issuer,
    publishers: { [project.name]: [releasePublisher()] },
    trustedRoot: sigstore.trustedRoot,
  });
  self.addPackage(project.name, ['0.0.1']);
  const release = await publishRelease(project.tarball, {
    oidc,
    registryUrl: self.url,
    fulcioUrl: sigstore.fulcioUrl,
    rekorUrl: sigstore.rekorUrl,
  }).finally(() => self.close());
  const ok = [
    show('PyPI (emulator)', python, [...pypi.minted, ...issuer.issued]),
    show('RubyGems (emulator)', gem, [...rubygems.minted, ...issuer.issued]),
    show('crates.io (emulator)', crate, [...crates.minted, ...issuer.issued]),
    show('npm (emulator)', tarball, [...npm.minted, ...issuer.issued]),
    show('NuGet (emulator)', nupkg, [...nuget.minted, ...issuer.issued]),
    show('prefix.dev (emulator)', conda, [...prefix.minted, ...issuer.issued]),
    show('trusted-publish publishes itself (release.yml, npm emulator)', release, [
      ...self.minted,
      ...issuer.issued,
    ]),
  ].every(Boolean);
  console.log(`\nThe PyPI emulator holds: ${[...pypi.files.keys()].join(', ')}`);
  console.log(`with verified PEP 740 attestations for: ${[...pypi.provenance.keys()].join(', ')}`);
  console.log(`The RubyGems emulator holds: ${[...rubygems.versions.keys()].join(', ')}`);
  const channel = [...(prefix.channels.get('tp-channel')?.values() ?? [])].flatMap((files) => [
    ...files.keys(),
  ]);
  console.log(`The prefix.dev channel tp-channel holds: ${channel.join(', ')}`);
  console.log(`The crates.io token was revoked ${crates.revocations.length} time(s) after the publish.`);
  console.log(
    `trusted-publish ${project.version} is on the npm emulator with verified provenance: ${self.provenance.has(`${project.name}@${project.version}`)}`,
  );
  // For the sandbox's own test (TP_SANDBOX_REPORT=file): what the emulators saw, so the test checks the
  // wire and every secret of the run itself instead of trusting the lines above.
  const report = process.env.TP_SANDBOX_REPORT;
  if (report) {
    const versions = (packuments: Map<string, { versions?: Record<string, unknown> }>) =>
      [...packuments].flatMap(([name, doc]) => Object.keys(doc.versions ?? {}).map((v) => `${name}@${v}`));
    const held = {
      pypi: [...pypi.files.keys()],
      attested: [...pypi.provenance.keys()],
      rubygems: [...rubygems.versions.keys()],
      crates: [...crates.crates.values()].flatMap((c) => [...c.versions.keys()].map((v) => `${c.name}@${v}`)),
      npm: versions(npm.packuments),
      nuget: [...nuget.packages.values()].flatMap((p) => [...p.versions.keys()].map((v) => `${p.id}@${v}`)),
      prefix: channel,
      self: versions(self.packuments),
      selfProvenance: [...self.provenance.keys()],
    };
    const minted = { pypi, rubygems, crates, npm, nuget, prefix, self };
    fs.writeFileSync(
      report,
      JSON.stringify({
        held,
        minted: Object.fromEntries(Object.entries(minted).map(([name, e]) => [name, e.minted])),
        jwts: issuer.issued,
        revocations: crates.revocations,
      }),
    );
  }
  process.exitCode = ok ? 0 : 1;
} finally {
  await Promise.all(
    [pypi, rubygems, crates, npm, nuget, prefix, sigstore, issuer].map((server) => server.close()),
  );
  fs.rmSync(work, { recursive: true, force: true });
}
