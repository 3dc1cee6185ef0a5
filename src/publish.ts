import { causeLines, claimLines, formLines, plausibleCauses } from './diagnosis.ts';
import { ActionError } from './errors.ts';
import { type Inputs, publishOptions } from './inputs.ts';
import { log } from './log.ts';
import { type Claims, checkTrustedPublishingPossible, decodeClaims, fetchIdToken } from './oidc.ts';
import { planReleases, type Release } from './plan.ts';
import type { Artifact, Credential, PublishOptions } from './registries/registry.ts';
import type { PublishedFile } from './report.ts';

type Env = Record<string, string | undefined>;

/** Mint again when the token has less than this left, so a long release never uploads with a dead one. */
const REFRESH_MARGIN_MS = 2 * 60_000;

export interface PublishOutcome {
  results: PublishedFile[];
  /** Blocks for the step summary: the plan, claims and publisher form values. */
  summary: string[];
  failure?: unknown;
}

function describePlan(releases: Release[], inputs: Inputs): string {
  const lines: string[] = [];
  for (const { target, artifacts } of releases) {
    lines.push(`${target.name} at ${target.url.href}, token exchange at ${target.mintUrl.href}:`);
    for (const a of artifacts) {
      lines.push(`  ${a.file}  ${a.name} ${a.version}  ${a.size} bytes`);
      if (inputs.printHash) lines.push(`    sha256 ${a.sha256}`, `    blake2b-256 ${a.blake2_256}`);
    }
  }
  return lines.join('\n');
}

/** One registry's part of the run: its exchanges (one per scope), uploads and revocations. */
class Session {
  claims: Claims | undefined;
  readonly credentials = new Map<string, Credential>();
  readonly options: PublishOptions;

  constructor(
    readonly release: Release,
    readonly inputs: Inputs,
    readonly env: Env,
    readonly summary: string[],
  ) {
    this.options = publishOptions(inputs);
  }

  /**
   * The claims, the publisher form values and (unless the registry named the cause) the causes the claims
   * leave possible: what makes a trusted publishing failure fixable, added to the error.
   */
  async explainWith(err: unknown, artifacts: Artifact[]): Promise<unknown> {
    if (!(err instanceof ActionError) || !err.aboutPublisher || !this.claims || err.explained) return err;
    err.explained = true;
    const { registry, target } = this.release;
    err.details.push(
      ...claimLines(this.claims),
      ...formLines(registry.publisherForm(this.claims, artifacts, target), target.title),
    );
    if (err.causeProven) return err;
    const names = [...new Set(artifacts.map((a) => a.name))];
    const projects = await Promise.all(
      names.map(async (name) => ({
        name,
        exists: await registry.projectExists?.(target, name).catch(() => undefined),
      })),
    );
    err.details.push(
      ...causeLines(
        plausibleCauses(
          this.claims,
          {
            title: target.title,
            workflowClaim: registry.workflowClaim,
            caseSensitiveNames: registry.caseSensitiveNames ?? false,
            projects,
            newProjectHint: registry.newProjectHint ?? 'register a pending publisher for it.',
            customInstance: Boolean(this.inputs.repositoryUrl || this.inputs.audience),
          },
          err.possibleCauses,
        ),
      ),
    );
    return err;
  }

  async idToken(audience: string): Promise<string> {
    const jwt = await fetchIdToken(audience, this.env);
    this.claims = decodeClaims(jwt);
    return jwt;
  }

  scopeOf(artifact: Artifact): string {
    return this.release.registry.exchangeScope?.(artifact) ?? '';
  }

  async credentialFor(artifact: Artifact): Promise<Credential> {
    const { registry, target, artifacts } = this.release;
    const scope = this.scopeOf(artifact);
    const current = this.credentials.get(scope);
    if (this.inputs.password) {
      const credential = current ?? registry.staticCredential(this.inputs.password, this.options);
      this.credentials.set(scope, credential);
      return credential;
    }
    const expiring = current?.expiresAt !== undefined && current.expiresAt - Date.now() < REFRESH_MARGIN_MS;
    if (current && !expiring) return current;
    if (current) log.info(`The ${target.title} token expires soon; exchanging a new one.`);
    checkTrustedPublishingPossible(this.env);
    const audience = await registry.audience(target);
    let credential: Credential;
    const inScope = artifacts.filter((a) => this.scopeOf(a) === scope);
    try {
      credential = await registry.mint(target, () => this.idToken(audience), inScope, this.options);
    } catch (err) {
      throw await this.explainWith(err, inScope);
    }
    if (current) await this.revoke(current);
    this.credentials.set(scope, credential);
    const expires = credential.expiresAt ? new Date(credential.expiresAt).toISOString() : 'unknown';
    log.info(`Exchanged the OIDC token for a short-lived ${target.title} token (expires ${expires}).`);
    return credential;
  }

  async revoke(credential: Credential): Promise<void> {
    const { registry, target } = this.release;
    if (!registry.revoke || !credential.trusted) return;
    try {
      await registry.revoke(target, credential);
      log.info(`Revoked the short-lived ${target.title} token.`);
    } catch (err) {
      log.warning(
        `Could not revoke the ${target.title} token (it expires by itself): ${(err as Error).message}`,
      );
    }
  }

  /** Attestations go with trusted uploads to registries that take them (PyPI, TestPyPI, npm). */
  attestationsApply(): boolean {
    return (
      this.inputs.attestations && !this.inputs.password && this.release.registry.attestations !== undefined
    );
  }

  /** An explicit 'attestations: true' that cannot take effect is said once, not silently dropped. */
  noticeUnusedAttestations(): void {
    if (!this.inputs.attestationsGiven || !this.inputs.attestations || this.attestationsApply()) return;
    const { target } = this.release;
    log.notice(
      this.inputs.password
        ? `Attestations apply only to trusted publishing: they are signed with the job's OIDC identity for an upload authenticated by a trusted publisher, so the files go up to ${target.title} without them (with the token in 'password').`
        : `Attestations apply only to trusted publishing to PyPI, TestPyPI and npm; ${target.title} gets the files without them.`,
    );
  }

  /**
   * Signs every file's attestation before any exchange, so a signing failure sends nothing. The module is
   * loaded here, not at start-up: runs without attestations never load Sigstore.
   */
  async attest(): Promise<void> {
    const { registry, target, artifacts } = this.release;
    const spec = registry.attestations;
    if (!this.attestationsApply() || !spec) return;
    // A job without an ID token fails here as it would at the exchange, before Sigstore is even loaded.
    checkTrustedPublishingPossible(this.env);
    const { describeAttestations, signAttestations } = await import('./attestations.ts');
    const context = { target, options: this.options, env: this.env };
    const results = await signAttestations(
      artifacts.map((artifact) => ({
        file: spec.subject(artifact),
        statement: (claims: Claims) => spec.statement(artifact, { ...context, claims }),
      })),
      this.inputs,
      this.env,
    );
    const signed = results.flatMap((r) => ('bundle' in r ? [r] : []));
    const skipped = new Map<string, string[]>();
    artifacts.forEach((artifact, i) => {
      const result = results[i];
      if (result && 'bundle' in result) artifact.attestations = [result.bundle];
      else if (result) skipped.set(result.skipped, [...(skipped.get(result.skipped) ?? []), result.file]);
    });
    // A registry's own rule (npm: public repositories and packages only) is no failure; asked for, it is said.
    for (const [reason, files] of skipped) {
      const line = `No ${spec.kind} for ${files.join(', ')}: ${reason}`;
      if (this.inputs.attestationsGiven) log.notice(line);
      else log.info(line);
    }
    if (signed.length === 0) return;
    const block = describeAttestations(signed, spec.kind, this.inputs);
    log.info(block);
    this.summary.push(block);
  }

  async dryRun(): Promise<void> {
    const { registry, target, artifacts } = this.release;
    if (this.inputs.password) {
      log.info(`Dry run: would upload to ${target.title} with the token given in 'password'.`);
      return;
    }
    checkTrustedPublishingPossible(this.env);
    const audience = await registry.audience(target);
    await this.idToken(audience);
    const block = [
      `Dry run for ${target.title}: the OIDC token (audience '${audience}') was fetched; nothing was exchanged or uploaded.`,
      ...claimLines(this.claims),
      ...formLines(registry.publisherForm(this.claims ?? {}, artifacts, target), target.title),
      ...(this.attestationsApply()
        ? [
            `Attestations: each file would get a ${registry.attestations?.kind} signed at ${this.inputs.fulcioUrl.origin} and logged in ${this.inputs.rekorUrl.origin}; none was signed.`,
          ]
        : []),
    ].join('\n');
    log.info(block);
    this.summary.push(block);
  }

  async publish(results: PublishedFile[]): Promise<void> {
    try {
      await this.uploadAll(results);
    } finally {
      for (const credential of this.credentials.values()) await this.revoke(credential);
    }
  }

  async uploadAll(results: PublishedFile[]): Promise<void> {
    const { registry, target, artifacts } = this.release;
    if (this.inputs.password) {
      log.notice(
        `Publishing to ${target.title} with a long-lived token. Trusted publishing needs no stored secret: register this workflow as a trusted publisher and drop the 'password' input.`,
      );
    }
    const first = artifacts[0];
    try {
      await this.attest();
      if (first && !this.exchangeIsPerPackage()) await this.credentialFor(first);
    } catch (err) {
      // Without attestations or a token nothing can go through: every file is reported with the one reason.
      const reason = err instanceof Error ? err.message : String(err);
      for (const artifact of artifacts)
        results.push({ ...this.entry(artifact), status: 'failed', error: reason });
      throw err;
    }
    const brokenReleases = new Set<string>();
    for (const artifact of artifacts) {
      const entry = this.entry(artifact);
      const release = `${artifact.name} ${artifact.version}`;
      if (brokenReleases.has(release)) {
        results.push({
          ...entry,
          status: 'failed',
          error: 'not attempted: an earlier file of this release failed',
        });
        continue;
      }
      try {
        const credential = await this.credentialFor(artifact);
        const outcome = await registry.upload(target, credential, artifact, this.options);
        log.info(
          `${outcome.status === 'uploaded' ? 'Uploaded' : 'Skipped'} ${artifact.file}: ${outcome.message}`,
        );
        results.push({ ...entry, status: outcome.status });
      } catch (err) {
        const explained = await this.explainWith(
          err,
          artifacts.filter((a) => a.name === artifact.name),
        );
        const message = explained instanceof Error ? explained.message : String(explained);
        results.push({ ...entry, status: 'failed', error: message });
        brokenReleases.add(release);
        log.error(explained instanceof ActionError ? explained.explain() : message);
      }
    }
  }

  exchangeIsPerPackage(): boolean {
    return this.release.registry.exchangeScope !== undefined;
  }

  entry(artifact: Artifact): Omit<PublishedFile, 'status'> {
    const { registry, target } = this.release;
    return {
      file: artifact.file,
      registry: target.id,
      name: artifact.name,
      version: artifact.version,
      sha256: artifact.sha256,
      url: registry.fileUrl(target, artifact),
    };
  }
}

function partialFailure(results: PublishedFile[]): ActionError | undefined {
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length === 0) return undefined;
  const done = results.filter((r) => r.status !== 'failed').map((r) => `${r.file} (${r.status})`);
  return new ActionError(
    `${failed.length} of ${results.length} files were not published: ${failed.map((r) => r.file).join(', ')}.`,
    {
      details: [
        done.length ? `Went through: ${done.join(', ')}.` : 'Nothing went through.',
        ...failed.map((r) => `${r.file}: ${r.error}`),
      ],
    },
  );
}

/** The whole flow: validate everything, then per registry exchange once (per scope) and upload every file. */
export async function publish(inputs: Inputs, env: Env = process.env): Promise<PublishOutcome> {
  const results: PublishedFile[] = [];
  const summary: string[] = [];
  try {
    const releases = await planReleases(inputs);
    const plan = describePlan(releases, inputs);
    log.info(plan);
    summary.push(plan);
    for (const artifact of releases.flatMap((r) => r.artifacts)) {
      for (const warning of artifact.warnings) log.warning(warning);
    }
    for (const release of releases) {
      const session = new Session(release, inputs, env, summary);
      session.noticeUnusedAttestations();
      if (inputs.dryRun) await session.dryRun();
      else await session.publish(results);
    }
    return { results, summary, failure: partialFailure(results) };
  } catch (failure) {
    return { results, summary, failure };
  }
}
