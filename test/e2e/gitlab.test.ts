import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CratesIo, startCratesIo } from '../fakes/crates.ts';
import { type GitLabIssuer, type Issuer, startGitLabIssuer, startIssuer } from '../fakes/issuer.ts';
import { type NpmRegistry, packNpm, startNpm } from '../fakes/npm.ts';
import { type NuGet, startNuGet } from '../fakes/nuget.ts';
import { makeNupkg } from '../fakes/nupkg.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { startRubyGems } from '../fakes/rubygems.ts';
import { startSigstore } from '../fakes/sigstore.ts';
import { ROOT } from '../helpers/action.ts';
import { fixtures, using } from '../helpers/emulators.ts';
import { assertNothingSecret, type JobOptions, type JobRun, runJob } from '../helpers/gitlab-job.ts';
import { mintGemKey } from '../helpers/tokens.ts';

const WHEELS = fixtures('pypi', /\.(whl|tar\.gz)$/);
const CRATE = fixtures('crates', /\.crate$/);
const TARBALL = fixtures('npm', /\.tgz$/);
const GEM = fixtures('rubygems', /\.gem$/);

let github: Issuer;
let gitlab: GitLabIssuer;
let work: string;
let NUPKG: string;

before(async () => {
  github = await startIssuer();
  gitlab = await startGitLabIssuer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-e2e-gitlab-'));
  NUPKG = await makeNupkg(work, { id: 'TpSample', version: '0.1.0' });
});
after(async () => {
  await Promise.all([github.close(), gitlab.close()]);
  fs.rmSync(work, { recursive: true, force: true });
});

/** The job, and the leak check over every token the emulator minted and every JWT the job held. */
async function job(minted: () => string[], opts: JobOptions): Promise<JobRun> {
  const run = await runJob(opts);
  assertNothingSecret(run, [...minted(), ...gitlab.issued]);
  return run;
}

const statuses = (run: JobRun) => run.published.map((p) => [p.file, p.status]);
/** GitLab's erase-line code, which frames a section marker. */
const ERASE = '\x1b[0K';
/** The job's log without GitLab's section markers. */
const log = (run: JobRun) => run.stdout.replaceAll(ERASE, '');

describe('GitLab CI/CD: PyPI (bundled command)', () => {
  const pypiJob = (pypi: PyPI, opts: JobOptions) =>
    job(() => pypi.minted, {
      files: WHEELS,
      ...opts,
      args: ['--repository-url', pypi.uploadUrl, ...(opts.args ?? [])],
    });

  it('publishes with PYPI_ID_TOKEN: sections, a summary table, --output and --dotenv, no secret', () =>
    using(startPyPI({ issuer: github, gitlab }), async (pypi) => {
      const run = await pypiJob(pypi, { idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') } });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      // The command names inputs as its flags.
      assert.match(
        run.stdout,
        /Set --attestations true to sign anyway \(with --fulcio-url and --rekor-url for a private Sigstore\)/,
      );
      assert.deepEqual(
        statuses(run).map(([, s]) => s),
        ['uploaded', 'uploaded'],
      );
      assert.equal(pypi.files.size, 2);
      const lines = run.stdout.split('\n');
      assert.ok(
        lines.some((l) => /^section_start:\d+:trusted_publish_\d+\rPyPI$/.test(l.replaceAll(ERASE, ''))),
      );
      assert.ok(lines.some((l) => l.startsWith(`${ERASE}section_end:`) && l.endsWith(`\r${ERASE}`)));
      assert.match(
        log(run),
        /File +Registry +Name +Version +sha256 +Status +URL\n(.*\n)?tp_sample-0\.1\.0-py3-none-any\.whl +pypi +tp-sample +0\.1\.0 +\w{16}… +uploaded/,
      );
      // The dotenv report holds compact variables (GitLab limits it to 5 KiB); the JSON is --output's.
      assert.equal(
        run.dotenv,
        [
          'TRUSTED_PUBLISH_UPLOADED=2',
          'TRUSTED_PUBLISH_SKIPPED=0',
          'TRUSTED_PUBLISH_FAILED=0',
          'TRUSTED_PUBLISH_RELEASES=tp-sample@0.1.0',
          'TRUSTED_PUBLISH_RELEASE_COUNT=1',
          '',
        ].join('\n'),
      );
      assert.doesNotMatch(run.stderr, /ERROR/);
    }));

  it('refuses a token for another audience before the exchange, with the id_tokens: YAML', () =>
    using(startPyPI({ issuer: github, gitlab }), async (pypi) => {
      const run = await pypiJob(pypi, { idTokens: { PYPI_ID_TOKEN: await gitlab.token('testpypi') } });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^ERROR: PYPI_ID_TOKEN is an ID token for audience 'testpypi', not 'pypi'\./m);
      assert.ok(run.stderr.includes('  id_tokens:\n    PYPI_ID_TOKEN:\n      aud: pypi'), run.stderr);
      assert.equal(pypi.mintRequests, 0);
      assert.deepEqual(
        statuses(run).map(([, s]) => s),
        ['failed', 'failed'],
      );
    }));

  it('says which variable to declare when the job has none', () =>
    using(startPyPI({ issuer: github, gitlab }), async (pypi) => {
      const run = await pypiJob(pypi, {});
      assert.equal(run.code, 1);
      assert.match(run.stderr, /no ID token for audience 'pypi': PYPI_ID_TOKEN is not set/);
      assert.ok(
        run.stderr.includes(
          'Add to the publishing job in .gitlab-ci.yml:\n  id_tokens:\n    PYPI_ID_TOKEN:\n      aud: pypi',
        ),
      );
      assert.match(run.stderr, /Nothing was uploaded\./);
      assert.equal(pypi.mintRequests, 0);
    }));

  it('names the pipeline file of ci_config_ref_uri when the publisher registered another one', () =>
    using(startPyPI({ issuer: github, gitlab }), async (pypi) => {
      const token = await gitlab.token('pypi', {
        ci_config_ref_uri: 'gitlab.com/octo-group/tp-sample//ci/release.yml@refs/tags/v0.1.0',
      });
      const run = await pypiJob(pypi, { idTokens: { PYPI_ID_TOKEN: token } });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /Publisher with matching claims was not found/);
      assert.match(
        run.stderr,
        /ci_config_ref_uri: gitlab\.com\/octo-group\/tp-sample\/\/ci\/release\.yml@refs\/tags\/v0\.1\.0/,
      );
      assert.match(run.stderr, /Top-level pipeline file path: ci\/release\.yml/);
      assert.match(run.stderr, /Namespace: octo-group\n {2}Project name: tp-sample/);
      assert.match(run.stderr, /The publisher must name the workflow file 'ci\/release\.yml' exactly/);
      assert.equal(pypi.mintRequests, 1);
    }));

  it('compares the environment with its letter case', () =>
    using(startPyPI({ issuer: github, gitlab }), async (pypi) => {
      pypi.gitlabPublisher.environment = 'Release';
      const run = await pypiJob(pypi, { idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') } });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /environment: release/);
      assert.match(run.stderr, /Environment name \(compared with its letter case\): release/);
      assert.equal(pypi.files.size, 0);
    }));

  it('tries an exchange once: the job cannot get a second JWT', () =>
    using(startPyPI({ issuer: github, gitlab }), async (pypi) => {
      pypi.faults.mint.push(503);
      const run = await pypiJob(pypi, { idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') } });
      assert.equal(run.code, 1);
      assert.equal(pypi.mintRequests, 1);
      assert.match(run.stderr, /needs another attempt, which GitLab CI\/CD cannot give it/);
      assert.match(run.stderr, /Re-run the job: a new job gets a new ID token\./);
    }));

  it('signs PEP 740 attestations with SIGSTORE_ID_TOKEN, which PyPI verifies against the GitLab publisher', async () => {
    const sigstore = await startSigstore({ issuer: github, gitlab });
    try {
      await using(startPyPI({ issuer: github, gitlab, trustedRoot: sigstore.trustedRoot }), async (pypi) => {
        const run = await pypiJob(pypi, {
          args: [
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
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.deepEqual([...pypi.provenance.keys()].sort(), [
          'tp_sample-0.1.0-py3-none-any.whl',
          'tp_sample-0.1.0.tar.gz',
        ]);
        // One JWT for the job's whole release: Fulcio is shown the same token for each file.
        assert.equal(new Set(sigstore.tokens).size, 1);
        assert.match(run.stdout, /PEP 740 attestations, signed with a certificate from/);
      });
    } finally {
      await sigstore.close();
    }
  });

  it('publishes without attestations when SIGSTORE_ID_TOKEN is missing, and says how to add it', () =>
    using(startPyPI({ issuer: github, gitlab }), async (pypi) => {
      const run = await pypiJob(pypi, {
        args: ['--attestations', 'true'],
        idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') },
      });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(
        run.stdout.includes('NOTE: No PEP 740 attestations for PyPI (127.0.0.1:') ||
          /NOTE: No PEP 740 attestations for .*SIGSTORE_ID_TOKEN is not set/.test(run.stdout),
        run.stdout,
      );
      assert.ok(run.stdout.includes('  id_tokens:\n    SIGSTORE_ID_TOKEN:\n      aud: sigstore'));
      assert.equal(pypi.provenance.size, 0);
    }));

  it('shows the claims and the GitLab form values in a dry run, and exchanges nothing', () =>
    using(startPyPI({ issuer: github, gitlab }), async (pypi) => {
      const run = await pypiJob(pypi, {
        args: ['--dry-run'],
        idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') },
      });
      assert.equal(run.code, 0, run.stderr);
      for (const line of [
        '  project_path: octo-group/tp-sample',
        '  namespace_path: octo-group',
        '  ci_config_ref_uri: gitlab.com/octo-group/tp-sample//.gitlab-ci.yml@refs/tags/v0.1.0',
        '  ref: v0.1.0',
        '  environment: release',
        '  Top-level pipeline file path: .gitlab-ci.yml',
      ])
        assert.ok(run.stdout.includes(line), line);
      assert.equal(pypi.mintRequests, 0);
    }));
});

describe('GitLab CI/CD: npm (bundled command)', () => {
  const npmJob = async (npm: NpmRegistry, opts: JobOptions) => {
    npm.addPackage('tp-sample', ['0.0.1']);
    return job(() => npm.minted, {
      files: TARBALL,
      ...opts,
      // The fixture's package.json names a GitHub repository; provenance is not what these tests are about.
      args: ['--repository-url', npm.url, '--attestations', 'false', ...(opts.args ?? [])],
    });
  };
  const publisher = { namespace: 'octo-group', project: 'tp-sample', ciFile: '.gitlab-ci.yml' };

  it('publishes with NPM_ID_TOKEN', () =>
    using(
      startNpm({ issuer: github, gitlab, gitlabPublishers: { 'tp-sample': [publisher] } }),
      async (npm) => {
        const run = await npmJob(npm, { idTokens: { NPM_ID_TOKEN: await gitlab.token(npm.audience) } });
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.deepEqual(statuses(run), [['tp-sample-0.1.0.tgz', 'uploaded']]);
      },
    ));

  it("takes the id library's <AUDIENCE>_ID_TOKEN too", () =>
    using(
      startNpm({ issuer: github, gitlab, gitlabPublishers: { 'tp-sample': [publisher] } }),
      async (npm) => {
        assert.equal(npm.audience, 'npm:127.0.0.1');
        const run = await npmJob(npm, {
          idTokens: { NPM_127_0_0_1_ID_TOKEN: await gitlab.token(npm.audience) },
        });
        assert.equal(run.code, 0, run.stdout + run.stderr);
      },
    ));

  it('refuses a token for the public registry when publishing elsewhere', () =>
    using(
      startNpm({ issuer: github, gitlab, gitlabPublishers: { 'tp-sample': [publisher] } }),
      async (npm) => {
        const run = await npmJob(npm, {
          idTokens: { NPM_ID_TOKEN: await gitlab.token('npm:registry.npmjs.org') },
        });
        assert.equal(run.code, 1);
        assert.ok(run.stderr.includes('    NPM_ID_TOKEN:\n      aud: npm:127.0.0.1'), run.stderr);
        assert.equal(npm.exchanges.length, 0);
      },
    ));

  it('refuses two packages in one job before anything is sent: the job has one NPM_ID_TOKEN, npm exchanges per package', () =>
    using(
      startNpm({
        issuer: github,
        gitlab,
        gitlabPublishers: { 'tp-sample': [publisher], 'tp-other': [publisher] },
      }),
      async (npm) => {
        npm.addPackage('tp-other', ['0.0.1']);
        const other = await packNpm(fs.mkdtempSync(path.join(work, 'npm-')), {
          name: 'tp-other',
          version: '1.0.0',
        });
        const run = await npmJob(npm, {
          files: [...TARBALL, other],
          idTokens: { NPM_ID_TOKEN: await gitlab.token(npm.audience) },
        });
        assert.equal(run.code, 1);
        assert.match(
          run.stderr,
          /exchanges the ID token once per package, and GitLab CI\/CD gives this job one token: tp-other, tp-sample cannot all be published from one job; nothing was sent\./,
        );
        assert.match(run.stderr, /Publish each package in its own job/);
        assert.equal(npm.exchanges.length, 0);
        assert.equal(npm.documents.length, 0);
      },
    ));

  it('matches the environment exactly, and shows the form values', () =>
    using(
      startNpm({
        issuer: github,
        gitlab,
        gitlabPublishers: { 'tp-sample': [{ ...publisher, environment: 'Release' }] },
      }),
      async (npm) => {
        const run = await npmJob(npm, { idTokens: { NPM_ID_TOKEN: await gitlab.token(npm.audience) } });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /refused the token exchange for 'tp-sample' \(HTTP 404\)/);
        assert.match(
          run.stderr,
          /Publisher: GitLab CI\/CD\n {2}Namespace: octo-group\n {2}Project name: tp-sample\n {2}Top-level CI file path: \.gitlab-ci\.yml\n {2}Environment name: release/,
        );
      },
    ));
});

describe('GitLab CI/CD: npm provenance (bundled command)', () => {
  const publisher = { namespace: 'octo-group', project: 'tp-sample', ciFile: '.gitlab-ci.yml' };

  /** A public project's job publishing a package whose repository is that project, signed as npm does. */
  async function provenanceJob(claims: Record<string, string> = {}) {
    const sigstore = await startSigstore({ issuer: github, gitlab });
    const npm = await startNpm({
      issuer: github,
      gitlab,
      gitlabPublishers: { 'tp-sample': [publisher] },
      trustedRoot: sigstore.trustedRoot,
    });
    try {
      npm.addPackage('tp-sample', ['0.0.1']);
      const tarball = await packNpm(fs.mkdtempSync(path.join(work, 'npm-')), {
        name: 'tp-sample',
        version: '0.2.0',
        repository: 'git+https://gitlab.com/octo-group/tp-sample.git',
      });
      const run = await job(() => npm.minted, {
        files: [tarball],
        args: [
          '--repository-url',
          npm.url,
          '--attestations',
          'true',
          '--fulcio-url',
          sigstore.fulcioUrl,
          '--rekor-url',
          sigstore.rekorUrl,
        ],
        idTokens: {
          NPM_ID_TOKEN: await gitlab.token(npm.audience, claims),
          SIGSTORE_ID_TOKEN: await gitlab.token('sigstore', claims),
        },
      });
      return { run, provenance: npm.provenance, certificates: sigstore.certificates };
    } finally {
      await npm.close();
      await sigstore.close();
    }
  }

  it("attaches SLSA provenance signed with SIGSTORE_ID_TOKEN, which the registry verifies against the job's project", async () => {
    const { run, provenance } = await provenanceJob();
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const verified = provenance.get('tp-sample@0.2.0');
    assert.ok(verified, 'the registry verified and kept the provenance');
    assert.equal(verified.predicateType, 'https://slsa.dev/provenance/v0.2');
    const envelope =
      verified.bundle.content.$case === 'dsseEnvelope' ? verified.bundle.content.dsseEnvelope : undefined;
    const statement = JSON.parse(envelope?.payload.toString('utf8') ?? '{}');
    assert.equal(statement.predicate.buildType, 'https://github.com/npm/cli/gitlab/v0alpha1');
    assert.equal(
      statement.predicate.invocation.configSource.uri,
      'git+https://gitlab.com/octo-group/tp-sample',
    );
    assert.equal(statement.predicate.invocation.parameters.CI_PROJECT_PATH, 'octo-group/tp-sample');
    assert.match(run.stdout + run.stderr, /transparency log index/);
  });

  it('signs none for a private project, and says why', async () => {
    const { run, provenance, certificates } = await provenanceJob({ project_visibility: 'private' });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(provenance.size, 0);
    assert.equal(certificates, 0, 'nothing signed');
    assert.match(
      run.stdout + run.stderr,
      /npm takes provenance only from public projects, and octo-group\/tp-sample is private\./,
    );
  });
});

describe('GitLab CI/CD: crates.io (bundled command)', () => {
  const crateJob = (cio: CratesIo, opts: JobOptions) =>
    job(() => cio.minted, {
      files: CRATE,
      ...opts,
      args: ['--repository-url', cio.url, ...(opts.args ?? [])],
    });

  it('publishes with CRATES_IO_ID_TOKEN and revokes the token; the environment ignores case', () =>
    using(startCratesIo({ issuer: github, gitlab }), async (cio) => {
      const config = cio.gitlabConfigs[0];
      if (config) config.environment = 'RELEASE';
      const run = await crateJob(cio, { idTokens: { CRATES_IO_ID_TOKEN: await gitlab.token('crates.io') } });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(statuses(run), [['tp-sample-0.1.0.crate', 'uploaded']]);
      assert.equal(cio.revocations.length, 1);
      assert.equal(config?.namespaceId, '4242');
    }));

  it('compares the workflow file path with its letter case', () =>
    using(startCratesIo({ issuer: github, gitlab }), async (cio) => {
      const config = cio.gitlabConfigs[0];
      if (config) config.ciFile = '.GitLab-ci.yml';
      const run = await crateJob(cio, { idTokens: { CRATES_IO_ID_TOKEN: await gitlab.token('crates.io') } });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /does not match the workflow filepath `\.gitlab-ci\.yml` in the JWT/);
      assert.match(run.stderr, /Workflow file path \(compared with its letter case\): \.gitlab-ci\.yml/);
    }));
});

describe('GitLab CI/CD: NuGet (bundled command)', () => {
  const nugetJob = (ng: NuGet, opts: JobOptions) =>
    job(() => ng.minted, {
      files: [NUPKG],
      ...opts,
      args: ['--repository-url', ng.url, '--user', 'octocat', ...(opts.args ?? [])],
    });

  it('publishes with NUGET_ID_TOKEN whatever the CI file is', () =>
    using(startNuGet({ issuer: github, gitlab }), async (ng) => {
      const token = await gitlab.token('https://www.nuget.org', {
        ci_config_ref_uri: 'gitlab.com/octo-group/tp-sample//ci/nuget.yml@refs/tags/v0.1.0',
      });
      const run = await nugetJob(ng, { idTokens: { NUGET_ID_TOKEN: token } });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(statuses(run), [['TpSample.0.1.0.nupkg', 'uploaded']]);
    }));

  it('names the environment mismatch and the GitLab policy values', () =>
    using(startNuGet({ issuer: github, gitlab }), async (ng) => {
      const policy = ng.gitlabPolicies[0];
      if (policy) policy.environment = 'Release';
      const run = await nugetJob(ng, {
        idTokens: { NUGET_ID_TOKEN: await gitlab.token('https://www.nuget.org') },
      });
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /Environment mismatch for policy 'release-gitlab': expected 'Release', actual 'release'/,
      );
      assert.match(
        run.stderr,
        /Namespace: octo-group\n {2}Project: tp-sample\n {2}Ref \(optional\): leave empty: this job runs for tag 'v0\.1\.0', not a branch/,
      );
    }));
});

describe('GitLab CI/CD: RubyGems and the command elsewhere', () => {
  it('refuses RubyGems.org from GitLab before anything is sent, with the password alternative', () =>
    using(startRubyGems({ issuer: github }), async (rg) => {
      const run = await job(() => rg.minted, {
        files: GEM,
        args: ['--repository-url', rg.url],
        idTokens: { RUBYGEMS_ORG_ID_TOKEN: await gitlab.token('rubygems.org') },
      });
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /accepts trusted publishing from GitHub Actions only, not from GitLab CI\/CD\./,
      );
      assert.match(run.stderr, /TRUSTED_PUBLISH_PASSWORD/);
      assert.equal(rg.minted.length, 0);
    }));

  it('publishes a gem from GitLab with an API key in TRUSTED_PUBLISH_PASSWORD, never printing it', () =>
    using(startRubyGems({ issuer: github }), async (rg) => {
      const key = await mintGemKey(github, rg);
      const run = await job(() => rg.minted, {
        files: GEM,
        args: ['--repository-url', rg.url],
        env: { TRUSTED_PUBLISH_PASSWORD: key },
      });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(statuses(run), [['tp_sample-0.1.0.gem', 'uploaded']]);
      assert.match(run.stdout, /NOTE: Publishing to RubyGems \(127\.0\.0\.1:\d+\) with a long-lived token/);
    }));

  it('checks the files and the plan on a laptop with --dry-run, and refuses to publish there', async () => {
    const dry = await runJob({ on: 'local', files: WHEELS, args: ['--dry-run'] });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /Dry run for PyPI: the files and the plan are valid; no OIDC token was fetched/);
    const real = await runJob({ on: 'local', files: WHEELS });
    assert.equal(real.code, 1);
    assert.match(real.stderr, /^ERROR: No OIDC identity: trusted publishing needs the ID token of a CI job/m);
    for (const run of [dry, real]) assertNothingSecret(run, []);
  });

  it('prints its help (-h too) and its version, and refuses an unknown option with exit status 2', async () => {
    const help = await runJob({ on: 'local', args: ['--help'] });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: trusted-publish \[options\]/);
    for (const flag of [
      '--packages-dir',
      '--repository-url',
      '--skip-existing',
      '--dry-run',
      '--output',
      '--dotenv',
    ])
      assert.ok(help.stdout.includes(`  ${flag}`), flag);
    const short = await runJob({ on: 'local', args: ['-h'] });
    assert.equal(short.code, 0);
    assert.equal(short.stdout, help.stdout);
    const version = await runJob({ on: 'local', args: ['--version'] });
    assert.equal(version.code, 0);
    assert.equal(
      version.stdout,
      `${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}\n`,
    );
    const wrong = await runJob({ on: 'local', args: ['--repository', 'x'] });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^ERROR: The command line cannot be read: .*--repository/m);
  });
});
