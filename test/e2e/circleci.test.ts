import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCratesIo } from '../fakes/crates.ts';
import {
  type CircleCiIssuer,
  defaultCircleCiPublisher,
  type Issuer,
  startCircleCiIssuer,
  startIssuer,
} from '../fakes/issuer.ts';
import { type NpmRegistry, startNpm } from '../fakes/npm.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { startRubyGems } from '../fakes/rubygems.ts';
import { fixtures, using } from '../helpers/emulators.ts';
import { assertNothingSecret, type JobOptions, type JobRun, runJob } from '../helpers/gitlab-job.ts';

const WHEELS = fixtures('pypi', /\.(whl|tar\.gz)$/);
const TARBALL = fixtures('npm', /\.tgz$/);
const GEM = fixtures('rubygems', /\.gem$/);
const CRATE = fixtures('crates', /\.crate$/);

let github: Issuer;
let circleci: CircleCiIssuer;
let work: string;

before(async () => {
  github = await startIssuer();
  circleci = await startCircleCiIssuer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-e2e-circleci-'));
});
after(async () => {
  await Promise.all([github.close(), circleci.close()]);
  fs.rmSync(work, { recursive: true, force: true });
});

/** A CircleCI job's run step: its default CIRCLE_OIDC_TOKEN always set, and the leak check over every JWT. */
async function job(minted: () => string[], opts: JobOptions): Promise<JobRun> {
  const run = await runJob({
    on: 'circleci',
    ...opts,
    env: { CIRCLE_OIDC_TOKEN: await circleci.token(), ...opts.env },
  });
  assertNothingSecret(run, [...minted(), ...circleci.issued]);
  return run;
}

/**
 * A folder with a `circleci` command that answers `circleci run oidc get --claims <json>` as CircleCI's CLI
 * does, with a token from the fake issuer, and refuses anything else.
 */
function fakeCircleCiCommand(): string {
  const bin = fs.mkdtempSync(path.join(work, 'bin-'));
  const script = [
    '#!/bin/sh',
    'if [ "$1 $2 $3 $4" != "run oidc get --claims" ]; then echo "unknown command: $*" >&2; exit 2; fi',
    `exec "${process.execPath}" -e 'fetch(process.argv[1] + "?claims=" + encodeURIComponent(process.argv[2])).then((r) => r.text()).then((t) => process.stdout.write(t))' "${circleci.commandUrl}" "$5"`,
  ].join('\n');
  fs.writeFileSync(path.join(bin, 'circleci'), `${script}\n`, { mode: 0o755 });
  return bin;
}

const statuses = (run: JobRun) => run.published.map((p) => p.status);

describe('CircleCI: PyPI (bundled command)', () => {
  const pypiJob = (pypi: PyPI, opts: JobOptions) =>
    job(() => pypi.minted, {
      files: WHEELS,
      ...opts,
      args: ['--repository-url', pypi.uploadUrl, ...(opts.args ?? [])],
    });

  it('publishes with PYPI_ID_TOKEN exported by an earlier step, and signs no PEP 740 attestation', () =>
    using(startPyPI({ issuer: github, circleci }), async (pypi) => {
      const run = await pypiJob(pypi, { env: { PYPI_ID_TOKEN: await circleci.token('pypi') } });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(statuses(run), ['uploaded', 'uploaded']);
      assert.equal(pypi.files.size, 2);
      assert.equal(pypi.provenance.size, 0);
      assert.match(run.stdout, /File +Registry +Name +Version/);
      assert.match(
        run.stdout,
        /No PEP 740 attestations: PyPI takes none signed with a CircleCI identity yet/,
      );
      assert.equal(
        run.dotenv,
        'TRUSTED_PUBLISH_UPLOADED=2\nTRUSTED_PUBLISH_SKIPPED=0\nTRUSTED_PUBLISH_FAILED=0\nTRUSTED_PUBLISH_RELEASES=tp-sample@0.1.0\nTRUSTED_PUBLISH_RELEASE_COUNT=1\n',
      );
    }));

  it('asks the circleci command for a token with the audience pypi, and never sends CIRCLE_OIDC_TOKEN', () =>
    using(startPyPI({ issuer: github, circleci }), async (pypi) => {
      const bin = fakeCircleCiCommand();
      const asked = circleci.requested.length;
      const run = await pypiJob(pypi, { env: { PATH: `${bin}${path.delimiter}${process.env.PATH}` } });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(statuses(run), ['uploaded', 'uploaded']);
      assert.deepEqual(circleci.requested.slice(asked), ['pypi']);
    }));

  it('refuses to send the default CIRCLE_OIDC_TOKEN when it is the only token, and says how to get one', () =>
    using(startPyPI({ issuer: github, circleci }), async (pypi) => {
      const run = await pypiJob(pypi, {});
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /no ID token for audience 'pypi', only its default CIRCLE_OIDC_TOKEN, which is not sent/,
      );
      assert.ok(
        run.stderr.includes(
          `echo "export PYPI_ID_TOKEN=\\$(circleci run oidc get --claims '{"aud":"pypi"}')" >> "$BASH_ENV"`,
        ),
        run.stderr,
      );
      assert.equal(pypi.mintRequests, 0);
      assert.match(run.stderr, /Nothing was uploaded\./);
    }));

  it('refuses a re-run with SSH before any exchange, with the reason', () =>
    using(startPyPI({ issuer: github, circleci }), async (pypi) => {
      const ssh = { 'oidc.circleci.com/ssh-rerun': true };
      const run = await pypiJob(pypi, {
        env: {
          CIRCLE_OIDC_TOKEN: await circleci.token(undefined, ssh),
          PYPI_ID_TOKEN: await circleci.token('pypi', ssh),
        },
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^ERROR: Trusted publishing is refused in a CircleCI job re-run with SSH\./m);
      assert.match(run.stderr, /oidc\.circleci\.com\/ssh-rerun: true/);
      assert.match(run.stderr, /Rerun workflow from start/);
      assert.equal(pypi.mintRequests, 0);
      assert.equal(pypi.requests.length, 0, 'nothing was even looked up');
    }));

  it("names the failed check PyPI's emulator gives an SSH re-run token, even when only that token says so", () =>
    using(startPyPI({ issuer: github, circleci }), async (pypi) => {
      // The default token is an ordinary one: the command's own token is checked before it is exchanged.
      const run = await pypiJob(pypi, {
        env: { PYPI_ID_TOKEN: await circleci.token('pypi', { 'oidc.circleci.com/ssh-rerun': true }) },
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /re-run with SSH/);
      assert.equal(pypi.mintRequests, 0);
    }));

  it('diagnoses a publisher registered for another pipeline definition: the claims and the form values', () =>
    using(startPyPI({ issuer: github, circleci }), async (pypi) => {
      pypi.circleciPublisher = {
        ...defaultCircleCiPublisher(),
        pipelineDefinitionId: '00000000-0000-4000-8000-000000000000',
      };
      const claims = circleci.claims;
      const run = await pypiJob(pypi, { env: { PYPI_ID_TOKEN: await circleci.token('pypi') } });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /Publisher with matching claims was not found/);
      assert.match(run.stderr, /Claims in the OIDC token:/);
      assert.match(
        run.stderr,
        new RegExp(
          `oidc\\.circleci\\.com/pipeline-definition-id: ${claims['oidc.circleci.com/pipeline-definition-id']}`,
        ),
      );
      assert.match(run.stderr, /oidc\.circleci\.com\/ssh-rerun: false/);
      assert.match(
        run.stderr,
        /oidc\.circleci\.com\/context-ids: \["7c6b5a49-3827-4160-9f8e-7d6c5b4a3928"\]/,
      );
      assert.match(run.stderr, /Values for the PyPI trusted publisher form:/);
      assert.match(
        run.stderr,
        new RegExp(`  Pipeline Definition ID: ${claims['oidc.circleci.com/pipeline-definition-id']}`),
      );
      assert.match(run.stderr, / {2}VCS Origin \(optional\): empty, or github\.com\/octo-org\/tp-sample/);
      assert.match(
        run.stderr,
        /Possible causes, most likely first:\n {2}1\. The publisher must name this job's organization ID/,
      );
      const causes = run.stderr.slice(run.stderr.indexOf('Possible causes'));
      assert.doesNotMatch(causes, /workflow file|environment/);
    }));

  it('names a VCS ref restriction the job does not meet', () =>
    using(startPyPI({ issuer: github, circleci }), async (pypi) => {
      pypi.circleciPublisher = { ...defaultCircleCiPublisher(), vcsRef: 'refs/heads/main' };
      const run = await pypiJob(pypi, { env: { PYPI_ID_TOKEN: await circleci.token('pypi') } });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /VCS ref 'refs\/tags\/v0\.1\.0'/);
    }));
});

describe('CircleCI: npm (bundled command)', () => {
  const publisher = {
    orgId: defaultCircleCiPublisher().orgId,
    projectId: defaultCircleCiPublisher().projectId,
    pipelineDefinitionId: defaultCircleCiPublisher().pipelineDefinitionId,
    vcsOrigin: 'github.com/octo-org/tp-sample',
  };
  const npmJob = async (npm: NpmRegistry, opts: JobOptions) => {
    npm.addPackage('tp-sample', ['0.0.1']);
    return job(() => npm.minted, { files: TARBALL, ...opts, args: ['--repository-url', npm.url] });
  };

  it('publishes with NPM_ID_TOKEN, without provenance', () =>
    using(
      startNpm({ issuer: github, circleci, circleciPublishers: { 'tp-sample': [publisher] } }),
      async (npm) => {
        const run = await npmJob(npm, { env: { NPM_ID_TOKEN: await circleci.token(npm.audience) } });
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.deepEqual(statuses(run), ['uploaded']);
        assert.match(
          run.stdout,
          /No SLSA provenance attestations: npm .* takes none signed with a CircleCI identity yet/,
        );
      },
    ));

  it("asks the circleci command for npm's audience", () =>
    using(
      startNpm({ issuer: github, circleci, circleciPublishers: { 'tp-sample': [publisher] } }),
      async (npm) => {
        const bin = fakeCircleCiCommand();
        const asked = circleci.requested.length;
        const run = await npmJob(npm, { env: { PATH: `${bin}${path.delimiter}${process.env.PATH}` } });
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.deepEqual(circleci.requested.slice(asked), [npm.audience]);
      },
    ));

  it('shows the claims and the npm form values when the VCS origin differs', () =>
    using(
      startNpm({
        issuer: github,
        circleci,
        circleciPublishers: { 'tp-sample': [{ ...publisher, vcsOrigin: 'github.com/octo-org/other' }] },
      }),
      async (npm) => {
        const run = await npmJob(npm, { env: { NPM_ID_TOKEN: await circleci.token(npm.audience) } });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /oidc\.circleci\.com\/vcs-origin: github\.com\/octo-org\/tp-sample/);
        assert.match(run.stderr, / {2}Publisher: CircleCI\n {2}Organization ID: /);
        assert.match(run.stderr, / {2}VCS origin: github\.com\/octo-org\/tp-sample/);
      },
    ));
});

describe('CircleCI: registries without CircleCI publishers', () => {
  it('refuses RubyGems.org before anything is sent, with the password alternative', () =>
    using(startRubyGems({ issuer: github }), async (rg) => {
      const run = await job(() => rg.minted, {
        files: GEM,
        args: ['--repository-url', rg.url],
        env: { PATH: `${fakeCircleCiCommand()}${path.delimiter}${process.env.PATH}` },
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /accepts trusted publishing from GitHub Actions only, not from CircleCI\./);
      assert.match(run.stderr, /TRUSTED_PUBLISH_PASSWORD/);
      assert.equal(rg.minted.length, 0);
    }));

  it('refuses crates.io before anything is sent', () =>
    using(startCratesIo({ issuer: github }), async (crates) => {
      const run = await job(() => crates.minted, {
        files: CRATE,
        args: ['--repository-url', crates.url],
        env: { CRATES_IO_ID_TOKEN: await circleci.token('crates.io') },
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /not from CircleCI\./);
      assert.equal(crates.minted.length, 0);
    }));
});
