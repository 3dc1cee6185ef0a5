import { CLEANUP_REQUEST_MS } from '../cancel.ts';
import { ActionError } from '../errors.ts';
import { cutBy } from '../http.ts';
import { decodeClaims } from '../oidc.ts';
import { log } from '../output.ts';
import type { Artifact, Credential } from '../registries/registry.ts';
import type { Claims } from '../types.ts';
import { attestationsApply } from './attest.ts';
import type { Part } from './part.ts';
import { explainPublisherFailure } from './publisher.ts';

/**
 * Mint again once a token has less than this part of its lifetime left, and at most REFRESH_MARGIN_MS, so a
 * long release never uploads with a dead token and a short-lived one is not exchanged anew for every file.
 */
const REFRESH_FRACTION = 0.5;
const REFRESH_MARGIN_MS = 2 * 60_000;

/** When a token should be replaced: relative to its lifetime, measured from when its exchange was sent. */
function refreshAt(credential: Credential, requestedAt: number): number | undefined {
  if (credential.expiresAt === undefined) return undefined;
  const lifetime = credential.expiresAt - requestedAt;
  return credential.expiresAt - Math.min(REFRESH_MARGIN_MS, lifetime * REFRESH_FRACTION);
}

/** The exchange a file's token comes from: one per package where the registry scopes tokens so (npm). */
export function exchangeScope(part: Part, artifact: Artifact): string {
  return part.release.registry.exchangeScope?.(artifact) ?? '';
}

/**
 * One registry's tokens: exchanged once per scope, shared by parallel uploads, exchanged again before they
 * expire where the CI system gives a new JWT, and revoked at the end. Where the job holds one fixed JWT per
 * audience (GitLab), each exchange gets a single attempt and no renewal.
 */
export class Credentials {
  /** The claims of the last JWT fetched, for explaining a publisher mismatch. */
  claims: Claims | undefined;
  private readonly current = new Map<string, Credential>();
  /** When each minted token is due for replacement (see refreshAt). */
  private readonly refreshAt = new Map<Credential, number | undefined>();
  /** Exchanges under way, by scope, so parallel uploads wait for the same one. */
  private readonly exchanging = new Map<string, Promise<Credential>>();
  /** Tokens replaced by a fresher one, revoked at the end with the current ones. */
  private readonly retired: Credential[] = [];
  /** The token could not be renewed (one JWT per job), which was said once. */
  private renewalRefused = false;
  /** The first exchange's audience and JWT, asked for early (see prepare); taken by that exchange only. */
  private early: { audience: Promise<string>; jwt: Promise<string> } | undefined;

  constructor(private readonly part: Part) {}

  /**
   * Asks for the first exchange's audience and ID token while the lookup of what the registry holds runs: both
   * are round trips on the way to the first upload (a token service answers in 100 ms or more), and neither
   * sends the registry anything that counts, the JWT is only held. When the lookup finds every file there, they
   * go unused; a failure to get them is raised only by the exchange that needs them. Not where attestations
   * are signed first: no JWT for the registry is asked for before they are.
   */
  prepare(): void {
    const { release, inputs, ci } = this.part;
    // npm exchanges per package; a token given as password needs no exchange.
    if (inputs.password || !ci.issuesIdTokens || release.registry.exchangeScope) return;
    if (attestationsApply(this.part)) return;
    const audience = release.registry.audience(release.target);
    const jwt = audience.then((aud) => this.idToken(aud));
    // Held for the exchange: a rejection nobody awaits yet must not end the process.
    for (const pending of [audience, jwt]) pending.catch(() => undefined);
    this.early = { audience, jwt };
  }

  /** A JWT for this audience; its claims are kept for the diagnosis. */
  async idToken(audience: string): Promise<string> {
    const jwt = await this.part.ci.idToken(audience, this.part.release.target.id);
    this.claims = decodeClaims(jwt);
    return jwt;
  }

  /** The claims and form values, and the causes they leave possible, added to a publisher failure. */
  explain(err: unknown, artifacts: Artifact[]): Promise<unknown> {
    return explainPublisherFailure(err, this.part, this.claims, artifacts);
  }

  async for(artifact: Artifact): Promise<Credential> {
    const { release, inputs, ci } = this.part;
    const scope = exchangeScope(this.part, artifact);
    const current = this.current.get(scope);
    if (inputs.password) {
      const credential = current ?? release.registry.staticCredential(inputs.password, release.options);
      this.current.set(scope, credential);
      return credential;
    }
    const due = current ? this.refreshAt.get(current) : undefined;
    const expiring = due !== undefined && Date.now() >= due;
    if (current && !expiring) return current;
    if (current && !ci.freshIdTokens) {
      // A second exchange would send the job's one JWT again, which the registry refuses as used.
      if (!this.renewalRefused) {
        this.renewalRefused = true;
        log.warning(
          `The ${release.target.title} token expires soon, and ${ci.title} gives this job no second ID token to exchange: the remaining files go up with it while it lasts (split a very long release into several jobs).`,
        );
      }
      return current;
    }
    return this.sharedExchange(scope, current, `The ${release.target.title} token expires soon`);
  }

  /**
   * A fresh token for a file whose upload the registry refused with `refused` (expired or revoked early);
   * undefined where none can be had: a token given as password, or one JWT per job.
   */
  async renew(artifact: Artifact, refused: Credential): Promise<Credential | undefined> {
    const { inputs, ci, release } = this.part;
    if (inputs.password || !refused.trusted || !ci.freshIdTokens) return undefined;
    const scope = exchangeScope(this.part, artifact);
    const current = this.current.get(scope);
    // Another upload met the same refusal and renewed it already.
    if (current && current !== refused) return current;
    return this.sharedExchange(scope, current, `${release.target.title} refused its token as expired`);
  }

  /** Parallel uploads that need a new token share one exchange. */
  private sharedExchange(scope: string, current: Credential | undefined, why: string): Promise<Credential> {
    const pending = this.exchanging.get(scope) ?? this.exchange(scope, current, why);
    this.exchanging.set(scope, pending);
    return pending.finally(() => this.exchanging.delete(scope));
  }

  /**
   * Revokes every token this run minted, replaced ones included; one that cannot be revoked expires. In a
   * cancelled run they are revoked at once, all within CLEANUP_REQUEST_MS, before the runner kills the process.
   */
  async revokeAll(): Promise<void> {
    const minted = [...this.retired, ...this.current.values()];
    const deadline = this.part.cancel.stopped ? AbortSignal.timeout(CLEANUP_REQUEST_MS) : undefined;
    await cutBy(deadline, () => Promise.all(minted.map((credential) => this.revoke(credential))));
  }

  private async exchange(scope: string, current: Credential | undefined, why: string): Promise<Credential> {
    const { registry, target, artifacts, options } = this.part.release;
    if (current) log.info(`${why}; exchanging a new one.`);
    this.part.ci.checkIdTokens();
    const early = this.early;
    this.early = undefined;
    const audience = await (early?.audience ?? registry.audience(target));
    let credential: Credential;
    const inScope = artifacts.filter((a) => exchangeScope(this.part, a) === scope);
    const requestedAt = Date.now();
    try {
      credential = await registry.mint(target, this.exchangeIdToken(audience, early?.jwt), inScope, options);
    } catch (err) {
      throw await this.explain(err, inScope);
    }
    // Uploads under way may still use the old token: it is revoked with the others at the end.
    if (current) this.retired.push(current);
    this.current.set(scope, credential);
    this.refreshAt.set(credential, refreshAt(credential, requestedAt));
    const expires = credential.expiresAt ? new Date(credential.expiresAt).toISOString() : 'unknown';
    log.info(`Exchanged the OIDC token for a short-lived ${target.title} token (expires ${expires}).`);
    return credential;
  }

  /**
   * The ID token for one exchange. Where the job holds one fixed JWT per audience (GitLab), an exchange gets
   * a single attempt: another would send the same JWT, which the registry refuses as already used.
   */
  private exchangeIdToken(audience: string, early?: Promise<string>): () => Promise<string> {
    const { ci, release } = this.part;
    let attempts = 0;
    return async () => {
      attempts++;
      if (attempts === 1 && early) return early;
      if (attempts > 1 && !ci.freshIdTokens) {
        const { title } = release.target;
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

  private async revoke(credential: Credential): Promise<void> {
    const { registry, target } = this.part.release;
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
}
