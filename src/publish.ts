import type { CiId } from './ci/ci.ts';
import { CI_TITLES, ci } from './ci/index.ts';
import { causeLines, claimLines, formLines, plausibleCauses } from './diagnosis.ts';
import { ActionError } from './errors.ts';
import { type Inputs, publishOptions } from './inputs.ts';
import { log } from './log.ts';
import { type Claims, decodeClaims, SIGSTORE_AUDIENCE } from './oidc.ts';
import { planReleases, type Release } from './plan.ts';
import type { Artifact, Credential, HeldFile, PublishOptions, Registry } from './registries/registry.ts';
import type { PublishedFile } from './report.ts';
import { Slots } from './slots.ts';
import { waitUntilInstallable } from './wait.ts';

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
  /** Exchanges under way, by scope, so parallel uploads wait for the same one. */
  readonly exchanging = new Map<string, Promise<Credential>>();
  /** Tokens replaced by a fresher one, revoked at the end with the current ones. */
  readonly retired: Credential[] = [];
  /** Files the registry holds already and that are therefore not sent (see findHeld). */
  readonly held = new Map<Artifact, HeldFile>();
  /** The token could not be renewed (one JWT per job), which was said once. */
  renewalRefused = false;

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
    err.details.push(...claimLines(this.claims), ...this.formLines(this.claims, artifacts));
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
            ciFile: ci.ciFile(this.claims, registry.workflowClaim),
            project: ci.project(this.claims),
            // The registries' letter-case rules are about GitHub's owner and repository names.
            caseSensitiveNames: ci.id === 'github' && (registry.caseSensitiveNames ?? false),
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

  formLines(claims: Claims, artifacts: Artifact[]): string[] {
    const { registry, target } = this.release;
    const form = formFor(registry, ci.id);
    return form ? formLines(form(claims, artifacts, target), target.title) : [];
  }

  async idToken(audience: string): Promise<string> {
    const jwt = await ci.idToken(audience, this.release.target.id);
    this.claims = decodeClaims(jwt);
    return jwt;
  }

  /**
   * The ID token for one exchange. Where the job holds one fixed JWT per audience (GitLab), an exchange gets
   * a single attempt: another would send the same JWT, which the registry refuses as already used.
   */
  exchangeIdToken(audience: string): () => Promise<string> {
    let attempts = 0;
    return async () => {
      attempts++;
      if (attempts > 1 && !ci.freshIdTokens) {
        const { title } = this.release.target;
        throw new ActionError(
          `The token exchange at ${title} needs another attempt, which ${ci.title} cannot give it.`,
          {
            cause: `The first attempt got no usable answer (a timeout or a fault of ${title}). ${ci.title} gives a job one ID token per audience, fixed when the job starts, and ${title} refuses a token it has seen, so the exchange is not retried with the same one.`,
            fix: 'Re-run the job: a new job gets a new ID token.',
          },
        );
      }
      return this.idToken(audience);
    };
  }

  /**
   * Refuses, before anything is fetched or sent, a run that cannot get an exchange: on a machine without ID
   * tokens (a dry run there checks the rest), or for a registry that takes no trusted publisher of this CI.
   */
  checkCiAccepted(): void {
    const { registry, target } = this.release;
    if (this.inputs.password) return;
    if (!ci.issuesIdTokens) {
      if (!this.inputs.dryRun) ci.checkIdTokens();
      return;
    }
    if (formFor(registry, ci.id)) return;
    throw new ActionError(
      `${target.title} accepts trusted publishing from ${acceptedCis(registry)} only, not from ${ci.title}.`,
      {
        cause: `${target.title} has no trusted publisher for ${ci.title} jobs, so no exchange of this job's ID token can succeed.`,
        fix: `Give a ${target.title} API key with push rights to this job as a masked, protected CI variable and pass it as the password (TRUSTED_PUBLISH_PASSWORD, or the 'password' input); or publish from ${acceptedCis(registry)}.`,
      },
    );
  }

  /**
   * A CI that gives a job one ID token per audience (GitLab) allows one exchange: a registry that exchanges per
   * package (npm) can publish one package a job. Said before anything is sent.
   */
  checkOneExchange(): void {
    const { target } = this.release;
    if (this.inputs.password || ci.freshIdTokens || !ci.issuesIdTokens) return;
    const scopes = [...new Set(this.toSend().map((a) => this.scopeOf(a)))];
    if (scopes.length <= 1) return;
    throw new ActionError(
      `${target.title} exchanges the ID token once per package, and ${ci.title} gives this job one token: ${scopes.join(', ')} cannot all be published from one job; nothing was sent.`,
      {
        cause: `${ci.title} issues a job's ID tokens once, fixed for the job, and ${target.title} refuses a token it has already exchanged.`,
        fix: 'Publish each package in its own job, each with its own id_tokens:, or pass an API token as the password (TRUSTED_PUBLISH_PASSWORD).',
      },
    );
  }

  scopeOf(artifact: Artifact): string {
    return this.release.registry.exchangeScope?.(artifact) ?? '';
  }

  async credentialFor(artifact: Artifact): Promise<Credential> {
    const { registry } = this.release;
    const scope = this.scopeOf(artifact);
    const current = this.credentials.get(scope);
    if (this.inputs.password) {
      const credential = current ?? registry.staticCredential(this.inputs.password, this.options);
      this.credentials.set(scope, credential);
      return credential;
    }
    const expiring = current?.expiresAt !== undefined && current.expiresAt - Date.now() < REFRESH_MARGIN_MS;
    if (current && !expiring) return current;
    if (current && !ci.freshIdTokens) {
      // A second exchange would send the job's one JWT again, which the registry refuses as used.
      if (!this.renewalRefused) {
        this.renewalRefused = true;
        log.warning(
          `The ${this.release.target.title} token expires soon, and ${ci.title} gives this job no second ID token to exchange: the remaining files go up with it while it lasts (split a very long release into several jobs).`,
        );
      }
      return current;
    }
    // Parallel uploads that find the token expiring share one exchange.
    const pending = this.exchanging.get(scope) ?? this.exchange(scope, current);
    this.exchanging.set(scope, pending);
    return pending.finally(() => this.exchanging.delete(scope));
  }

  async exchange(scope: string, current: Credential | undefined): Promise<Credential> {
    const { registry, target, artifacts } = this.release;
    if (current) log.info(`The ${target.title} token expires soon; exchanging a new one.`);
    ci.checkIdTokens();
    const audience = await registry.audience(target);
    let credential: Credential;
    const inScope = artifacts.filter((a) => this.scopeOf(a) === scope);
    try {
      credential = await registry.mint(target, this.exchangeIdToken(audience), inScope, this.options);
    } catch (err) {
      throw await this.explainWith(err, inScope);
    }
    // Uploads under way may still use the old token: it is revoked with the others at the end.
    if (current) this.retired.push(current);
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

  /**
   * Attestations go with trusted uploads to registries that take them (PyPI, TestPyPI, npm). By default only
   * to an instance that verifies them: elsewhere signing would need the public Sigstore services and would
   * write the workflow's identity into a public log for an index that cannot check it.
   */
  attestationsApply(): boolean {
    const spec = this.release.registry.attestations;
    if (!this.inputs.attestations || this.inputs.password || !spec) return false;
    return this.inputs.attestationsGiven || spec.verifiedBy(this.release.target);
  }

  /** An explicit 'attestations: true' that cannot take effect is said once, not silently dropped. */
  noticeUnusedAttestations(): void {
    const { target, registry } = this.release;
    const spec = registry.attestations;
    if (!this.inputs.attestationsGiven && this.inputs.attestations && spec && !this.inputs.password) {
      if (!this.attestationsApply())
        log.info(
          `No ${spec.kind}s for ${target.url.href}: by default they are made only for ${spec.verifiers}, where they are verified; signing for another index would contact the public Sigstore services and write this workflow's identity into their public log. Set 'attestations: true' to sign anyway (with 'fulcio-url' and 'rekor-url' for a private Sigstore).`,
        );
      return;
    }
    if (!this.inputs.attestationsGiven || !this.inputs.attestations || this.attestationsApply()) return;
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
    const { registry, target } = this.release;
    const artifacts = this.toSend();
    const spec = registry.attestations;
    if (!this.attestationsApply() || !spec || artifacts.length === 0) return;
    // A job without an ID token fails here as it would at the exchange, before Sigstore is even loaded.
    ci.checkIdTokens();
    const missing = ci.missingIdToken(SIGSTORE_AUDIENCE, 'sigstore');
    if (missing) {
      const line = `No ${spec.kind}s for ${target.title}: ${missing}`;
      if (this.inputs.attestationsGiven) log.notice(line);
      else log.info(line);
      return;
    }
    const { describeAttestations, signAttestations } = await import('./attestations.ts');
    const context = { target, options: this.options, env: this.env };
    const results = await signAttestations(
      artifacts.map((artifact) => ({
        file: spec.subject(artifact),
        statement: (claims: Claims) => spec.statement(artifact, { ...context, claims }),
      })),
      this.inputs,
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
    if (!ci.issuesIdTokens) {
      const block = `Dry run for ${target.title}: the files and the plan are valid; no OIDC token was fetched, since ${ci.missingIdToken('', target.id)}.`;
      log.info(block);
      this.summary.push(block);
      return;
    }
    ci.checkIdTokens();
    const audience = await registry.audience(target);
    await this.idToken(audience);
    const block = [
      `Dry run for ${target.title}: the OIDC token (audience '${audience}') was fetched; nothing was exchanged or uploaded.`,
      ...claimLines(this.claims),
      ...this.formLines(this.claims ?? {}, artifacts),
      ...(this.attestationsApply()
        ? [
            `Attestations: each file would get a ${registry.attestations?.kind} signed at ${this.inputs.fulcioUrl.origin} and logged in ${this.inputs.rekorUrl.origin}; none was signed.`,
          ]
        : []),
      ...(await this.waitPlan()),
    ].join('\n');
    log.info(block);
    this.summary.push(block);
  }

  async publish(results: PublishedFile[]): Promise<void> {
    try {
      await this.uploadAll(results);
    } finally {
      for (const credential of [...this.retired, ...this.credentials.values()]) await this.revoke(credential);
    }
  }

  async uploadAll(results: PublishedFile[]): Promise<void> {
    const { target, artifacts } = this.release;
    if (this.inputs.password) {
      log.notice(
        `Publishing to ${target.title} with a long-lived token. Trusted publishing needs no stored secret: register this workflow as a trusted publisher and drop the 'password' input.`,
      );
    }
    const first = this.toSend()[0];
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
    const entries = await this.uploadInParallel();
    results.push(...artifacts.map((a) => entries.get(a) as PublishedFile));
  }

  /**
   * Uploads at most `max-parallel` files at once; a file starts once those it must follow are through (the
   * first file of a release, a crate's dependencies in the index). A failure stops the files of its release
   * that have not started, lets those under way finish, and every file ends with exactly one entry.
   */
  async uploadInParallel(): Promise<Map<Artifact, PublishedFile>> {
    const { registry, artifacts } = this.release;
    const slots = new Slots(this.inputs.maxParallel);
    const broken = new Set<string>();
    const entries = new Map<Artifact, PublishedFile>();
    /** Per file: undefined once dependents may start, else why they may not. */
    const passed = new Map<Artifact, Promise<string | undefined>>();
    for (const artifact of artifacts) {
      const release = `${artifact.name} ${artifact.version}`;
      const publishing = (async (): Promise<PublishedFile> => {
        const held = this.held.get(artifact);
        if (held) {
          log.info(`Skipped ${artifact.file}: ${this.heldMessage(artifact, held)}`);
          return { ...this.entry(artifact), status: 'skipped' };
        }
        const blocked = await Promise.all(
          (registry.mustFollow?.(artifact, artifacts) ?? []).map((before) => passed.get(before)),
        );
        const reason = blocked.find((r) => r !== undefined);
        if (reason) return { ...this.entry(artifact), status: 'failed', error: `not attempted: ${reason}` };
        return slots.run(async () =>
          broken.has(release)
            ? {
                ...this.entry(artifact),
                status: 'failed',
                error: 'not attempted: another file of this release failed',
              }
            : this.uploadOne(artifact, broken),
        );
      })();
      passed.set(
        artifact,
        publishing.then((entry) => {
          entries.set(artifact, entry);
          return this.passedFor(artifact, entry);
        }),
      );
    }
    await Promise.all(passed.values());
    return entries;
  }

  async uploadOne(artifact: Artifact, broken: Set<string>): Promise<PublishedFile> {
    const { registry, target, artifacts } = this.release;
    const entry = this.entry(artifact);
    try {
      const credential = await this.credentialFor(artifact);
      const outcome = await registry.upload(target, credential, artifact, this.options);
      log.info(
        `${outcome.status === 'uploaded' ? 'Uploaded' : 'Skipped'} ${artifact.file}: ${outcome.message}`,
      );
      return { ...entry, status: outcome.status };
    } catch (err) {
      broken.add(`${artifact.name} ${artifact.version}`);
      const explained = await this.explainWith(
        err,
        artifacts.filter((a) => a.name === artifact.name),
      );
      const message = explained instanceof Error ? explained.message : String(explained);
      log.error(explained instanceof ActionError ? explained.explain() : message);
      return { ...entry, status: 'failed', error: message };
    }
  }

  /** Whether the files that must follow this one may start: it went through and, where needed, is indexed. */
  async passedFor(artifact: Artifact, entry: PublishedFile): Promise<string | undefined> {
    const { registry, target, artifacts } = this.release;
    if (entry.status === 'failed') return `${artifact.file}, which must go first, failed`;
    const followers = artifacts.some((a) => registry.mustFollow?.(a, artifacts).includes(artifact));
    if (!registry.followsIndex || entry.status !== 'uploaded' || !followers) return undefined;
    const checks = await registry.installChecks(target, [artifact], this.options, new Set([artifact]));
    const seen = await waitUntilInstallable(target.title, checks, this.inputs.waitTimeoutMs);
    return [...seen.values()].every((s) => s !== undefined)
      ? undefined
      : `${artifact.name} ${artifact.version}, which it depends on, is not in ${target.title}'s index after ${this.inputs.waitTimeoutMs / 1000} s`;
  }

  /**
   * Looks up what the registry holds of the release before anything is sent. Same bytes are skipped, with or
   * without skip-existing (a re-run of a release whose job died half-way sends only the rest); where the
   * registry gives no digest, only skip-existing skips. Returns the files it holds with other content: no
   * upload of them could succeed, so the run stops before anything is sent.
   */
  async findHeld(): Promise<string[]> {
    const { registry, target, artifacts } = this.release;
    if (!registry.held) return [];
    // A read that cannot be made (a firewalled read host, a dropped connection) decides nothing: each upload's
    // own answer does, as before there was a lookup.
    const found = await registry.held(target, artifacts).catch((err: unknown) => {
      if (!(err instanceof ActionError)) throw err;
      log.warning(
        `Could not look up what ${target.title} already holds (${err.message}); every file is sent, and the registry's answer says whether it was there.`,
      );
      return [];
    });
    const conflicts: string[] = [];
    artifacts.forEach((artifact, i) => {
      const held = found[i];
      if (held?.same === false) {
        conflicts.push(
          `${artifact.file}: ${target.title} already holds ${held.file} for ${artifact.name} ${artifact.version}, with other content (${held.url}).`,
        );
      } else if (held && (held.same || this.options.skipExisting)) {
        this.held.set(artifact, held);
      }
    });
    return conflicts;
  }

  heldMessage(artifact: Artifact, held: HeldFile): string {
    const { title } = this.release.target;
    if (held.same === undefined) return `${artifact.name} ${artifact.version} already exists on ${title}`;
    const under = held.file === artifact.file ? '' : ` (as ${held.file})`;
    return `already on ${title} with the same sha256${under}`;
  }

  toSend(): Artifact[] {
    return this.release.artifacts.filter((a) => !this.held.has(a));
  }

  async waitPlan(): Promise<string[]> {
    if (!this.inputs.wait) return [];
    const { registry, target, artifacts } = this.release;
    const checks = await registry.installChecks(target, artifacts, this.options, new Set(artifacts));
    return [
      `Would wait up to ${this.inputs.waitTimeoutMs / 1000} s until installable, polling:`,
      ...checks.map((c) => `  ${c.what}: ${c.url.href}`),
    ];
  }

  /** Waits until every version this run uploaded or found there can be installed; marks their entries. */
  async waitUntilInstallable(results: PublishedFile[]): Promise<string[]> {
    const { registry, target, artifacts } = this.release;
    const entries = new Map(results.filter((r) => r.registry === target.id).map((r) => [r.file, r]));
    const done = artifacts.filter((a) => ['uploaded', 'skipped'].includes(entries.get(a.file)?.status ?? ''));
    if (done.length === 0) return [];
    const uploaded = new Set(done.filter((a) => entries.get(a.file)?.status === 'uploaded'));
    const checks = await registry.installChecks(target, done, this.options, uploaded);
    const availability = await waitUntilInstallable(target.title, checks, this.inputs.waitTimeoutMs);
    const missing: string[] = [];
    for (const [check, seconds] of availability) {
      for (const file of check.files) {
        const entry = entries.get(file);
        if (!entry) continue;
        entry.available = seconds !== undefined;
        if (seconds !== undefined) entry.available_after_s = seconds;
      }
      if (seconds === undefined) missing.push(`${check.what}: not yet at ${check.url.href}`);
    }
    return missing;
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

/** The CI systems whose jobs the registry takes as trusted publishers, in words. */
function formFor(registry: Registry, id: CiId) {
  return id === 'local' ? undefined : registry.publisherForms[id];
}

function acceptedCis(registry: Registry): string {
  return Object.keys(registry.publisherForms)
    .map((id) => CI_TITLES[id as CiId])
    .join(' and ');
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

function notInstallable(missing: string[], inputs: Inputs): ActionError {
  return new ActionError(
    `Every file was published, but ${missing.length === 1 ? 'a version is' : `${missing.length} versions are`} not installable yet after ${inputs.waitTimeoutMs / 1000} s.`,
    {
      cause:
        'The registry lists new versions in the index its installers read some time after the upload (a CDN or an index job); it has not caught up yet.',
      fix: "Nothing needs uploading again: re-run the job with 'skip-existing: true' (it sends nothing twice) to wait again, or raise 'wait-timeout'.",
      details: missing,
    },
  );
}

function heldWithOtherContent(conflicts: string[]): ActionError {
  return new ActionError(
    `${conflicts.length === 1 ? 'A file differs' : 'Files differ'} from what the registry already holds; nothing was sent.`,
    {
      cause:
        'These versions were published before with other bytes (a rebuild after the release went out, or a file left from another build). A registry never replaces a published file, and PyPI takes one sdist per release.',
      fix: 'Bump the version and rebuild; or, to finish the release that is there, publish the very files it was built from (download them from the registry or from the first run’s artifacts).',
      details: conflicts,
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
    await log.group('Plan', async () => log.info(plan));
    summary.push(plan);
    for (const artifact of releases.flatMap((r) => r.artifacts)) {
      for (const warning of artifact.warnings) log.warning(warning);
    }
    const sessions = releases.map((release) => new Session(release, inputs, env, summary));
    for (const session of sessions) session.checkCiAccepted();
    if (!inputs.dryRun) {
      const conflicts = (await Promise.all(sessions.map((s) => s.findHeld()))).flat();
      if (conflicts.length > 0) throw heldWithOtherContent(conflicts);
    }
    for (const session of sessions) session.checkOneExchange();
    for (const session of sessions) {
      await log.group(`${session.release.target.title}`, async () => {
        session.noticeUnusedAttestations();
        if (inputs.dryRun) await session.dryRun();
        else await session.publish(results);
      });
    }
    const failure = partialFailure(results);
    if (failure || !inputs.wait || inputs.dryRun) return { results, summary, failure };
    const missing = (await Promise.all(sessions.map((s) => s.waitUntilInstallable(results)))).flat();
    return { results, summary, failure: missing.length > 0 ? notInstallable(missing, inputs) : undefined };
  } catch (failure) {
    return { results, summary, failure };
  }
}
