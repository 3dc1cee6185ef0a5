/**
 * The publish .github/workflows/release.yml makes, run here: the project's own packed tarball, published by the
 * bundled action with the inputs the release step gives it, from a job with the release's claims.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { type Claims, defaultClaims } from '../fakes/issuer.ts';
import type { NpmPublisher } from '../fakes/npm.ts';
import { type ActionRun, ROOT, runAction } from './action.ts';

/** The repository package.json's repository.url names, which npm compares with the provenance. */
export const RELEASE_REPOSITORY = 'trusted-publish/trusted-publish';

interface ReleaseWorkflow {
  jobs: Record<string, { environment?: string; steps?: { uses?: string; with?: Record<string, unknown> }[] }>;
}

const release = parse(
  fs.readFileSync(path.join(ROOT, '.github/workflows/release.yml'), 'utf8'),
) as ReleaseWorkflow;
const publishJob = release.jobs.publish;

/** The `with:` of release.yml's step that runs this action (`uses: ./`), as the runner passes inputs. */
export function releaseInputs(): Record<string, string> {
  const step = publishJob?.steps?.find((s) => s.uses === './');
  if (!step) throw new Error("release.yml's publish job has no step that uses './'");
  return Object.fromEntries(Object.entries(step.with ?? {}).map(([name, value]) => [name, String(value)]));
}

/** GitHub's claims in release.yml's publish job for the tag v<version>. */
export function releaseClaims(version: string): Claims {
  const ref = `refs/tags/v${version}`;
  const workflowRef = `${RELEASE_REPOSITORY}/.github/workflows/release.yml@${ref}`;
  const environment = publishJob?.environment ?? '';
  return {
    ...defaultClaims(),
    sub: `repo:${RELEASE_REPOSITORY}:environment:${environment}`,
    repository: RELEASE_REPOSITORY,
    repository_owner: RELEASE_REPOSITORY.split('/')[0] ?? '',
    workflow: 'Release',
    workflow_ref: workflowRef,
    job_workflow_ref: workflowRef,
    ref,
    environment,
  };
}

/** npm's trusted publisher for the package, as its settings page holds it. */
export const releasePublisher = (): NpmPublisher => ({
  repository: RELEASE_REPOSITORY,
  file: 'release.yml',
  environment: publishJob?.environment,
});

export interface ReleaseTargets {
  oidc: { requestUrl: string; requestToken: string };
  /** The registry in place of registry.npmjs.org. */
  registryUrl: string;
  /** Sigstore in place of the public-good instance. */
  fulcioUrl: string;
  rekorUrl: string;
  /** A token for a registry without trusted publishing (then no provenance is made, as npm does). */
  password?: string;
}

/** Runs the release's publish step with the bundled action: the tarball goes up from packages-dir. */
export function publishRelease(tarball: string, to: ReleaseTargets): Promise<ActionRun> {
  return runAction({
    files: [tarball],
    oidc: to.oidc,
    // The runner's variables npm's provenance reads besides the claims.
    env: { GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '1', RUNNER_ENVIRONMENT: 'github-hosted' },
    inputs: {
      ...releaseInputs(),
      'repository-url': to.registryUrl,
      'fulcio-url': to.fulcioUrl,
      'rekor-url': to.rekorUrl,
      ...(to.password ? { password: to.password } : {}),
    },
  });
}
