// Runs the bundled action end to end with no account: a local OIDC issuer, a PyPI emulator (verifying PEP 740
// attestations), a mocked Sigstore (Fulcio + Rekor) and a RubyGems emulator on 127.0.0.1, the shared fixtures as
// the release, then prints what the runner shows.
import fs from 'node:fs';
import path from 'node:path';
import { startIssuer } from '../test/fakes/issuer.ts';
import { startPyPI } from '../test/fakes/pypi.ts';
import { startRubyGems } from '../test/fakes/rubygems.ts';
import { startSigstore } from '../test/fakes/sigstore.ts';
import { type ActionRun, FIXTURES, findLeaks, runAction } from '../test/helpers/action.ts';

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
  console.log(run.stdout.trim());
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
try {
  const oidc = { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken };
  const python = await runAction({
    files: fixtures('pypi', /\.(whl|tar\.gz)$/),
    inputs: {
      'repository-url': pypi.uploadUrl,
      'print-hash': 'true',
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
  const ok = [
    show('PyPI (emulator)', python, [...pypi.minted, ...issuer.issued]),
    show('RubyGems (emulator)', gem, [...rubygems.minted, ...issuer.issued]),
  ].every(Boolean);
  console.log(`\nThe PyPI emulator holds: ${[...pypi.files.keys()].join(', ')}`);
  console.log(`with verified PEP 740 attestations for: ${[...pypi.provenance.keys()].join(', ')}`);
  console.log(`The RubyGems emulator holds: ${[...rubygems.versions.keys()].join(', ')}`);
  process.exitCode = ok ? 0 : 1;
} finally {
  await Promise.all([pypi.close(), rubygems.close(), sigstore.close(), issuer.close()]);
}
