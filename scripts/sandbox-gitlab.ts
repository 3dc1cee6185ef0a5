// `npm run sandbox -- --gitlab`: one publish from a GitLab CI/CD job with no account. The bundled command runs
// with a gitlab.com job's variables (GITLAB_CI, CI_PROJECT_DIR, PYPI_ID_TOKEN and SIGSTORE_ID_TOKEN from
// `id_tokens:`) against the PyPI emulator, which verifies the JWT against a local gitlab.com issuer, matches its
// GitLab publisher and verifies the PEP 740 attestations signed by the mocked Sigstore.
import fs from 'node:fs';
import path from 'node:path';
import { startGitLabIssuer, startIssuer } from '../test/fakes/issuer.ts';
import { startPyPI } from '../test/fakes/pypi.ts';
import { startSigstore } from '../test/fakes/sigstore.ts';
import { FIXTURES, findLeaks } from '../test/helpers/action.ts';
import { runJob } from '../test/helpers/gitlab-job.ts';

const github = await startIssuer();
const gitlab = await startGitLabIssuer();
const sigstore = await startSigstore({ issuer: github, gitlab });
const pypi = await startPyPI({ issuer: github, gitlab, trustedRoot: sigstore.trustedRoot });
try {
  const run = await runJob({
    files: fs
      .readdirSync(path.join(FIXTURES, 'pypi'))
      .filter((f) => /\.(whl|tar\.gz)$/.test(f))
      .map((f) => path.join(FIXTURES, 'pypi', f)),
    // A loopback index gets attestations only when asked for; the emulator verifies them.
    args: [
      '--repository-url',
      pypi.uploadUrl,
      '--attestations',
      'true',
      '--fulcio-url',
      sigstore.fulcioUrl,
      '--rekor-url',
      sigstore.rekorUrl,
    ],
    idTokens: {
      PYPI_ID_TOKEN: await gitlab.token('pypi'),
      SIGSTORE_ID_TOKEN: await gitlab.token('sigstore'),
    },
  });
  console.log(`===== PyPI (emulator) from a GitLab CI/CD job: exit code ${run.code} =====`);
  console.log('.gitlab-ci.yml of the job:');
  console.log(
    '  publish:\n    stage: deploy\n    environment: release\n    rules: [{ if: $CI_COMMIT_TAG }]\n    id_tokens:\n      PYPI_ID_TOKEN:\n        aud: pypi\n      SIGSTORE_ID_TOKEN:\n        aud: sigstore\n    script: npx trusted-publish',
  );
  console.log('\n----- job log (GitLab folds each section) -----');
  // A terminal shows GitLab's section markers as noise: they are drawn instead.
  console.log(
    (run.stdout + run.stderr)
      .replaceAll('\x1b[0K', '')
      .replace(/section_start:\d+:\w+\r(.*)/g, '▼ $1')
      .replace(/section_end:\d+:\w+\r/g, '▲')
      .trim(),
  );
  console.log(`\n----- --dotenv file -----\n${run.dotenv.trim()}`);
  const leaks = findLeaks(run, [...pypi.minted, ...gitlab.issued]);
  const commands = run.stdout.split('\n').filter((line) => line.startsWith('::'));
  console.log(
    leaks.length + commands.length === 0
      ? '\nNo token or JWT appears in any output, and no line is a GitHub workflow command.'
      : `\nLEAKS: ${[...leaks, ...commands].join(', ')}`,
  );
  console.log(`The PyPI emulator holds: ${[...pypi.files.keys()].join(', ')}`);
  console.log(`with verified PEP 740 attestations for: ${[...pypi.provenance.keys()].join(', ')}`);
  process.exitCode = run.code === 0 && leaks.length + commands.length === 0 ? 0 : 1;
} finally {
  await Promise.all([pypi, sigstore, github, gitlab].map((server) => server.close()));
}
