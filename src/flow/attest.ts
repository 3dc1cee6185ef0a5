import { SIGSTORE_AUDIENCE } from '../oidc.ts';
import { log } from '../output.ts';
import type { Claims } from '../types.ts';
import { type Part, toSend } from './part.ts';

/**
 * Attestations go with trusted uploads to registries that take them (PyPI, TestPyPI, npm, RubyGems,
 * prefix.dev). By default only to an instance that verifies them: elsewhere signing would need the public
 * Sigstore services and would write the workflow's identity into a public log for an index that cannot check it.
 */
export function attestationsApply(part: Part): boolean {
  const { release, inputs } = part;
  const spec = release.registry.attestations;
  if (!inputs.attestations || inputs.password || !spec || !part.ci.signsAttestations) return false;
  return inputs.attestationsGiven || spec.verifiedBy(release.target);
}

/** Why a CI's jobs sign none (CircleCI: no registry verifies its identity in an attestation yet). */
const unsignedOnCi = (part: Part, kind: string): string =>
  `No ${kind}s: ${part.release.target.title} takes none signed with a ${part.ci.title} identity yet; the files go up without them.`;

/** An explicit 'attestations: true' that cannot take effect is said once, not silently dropped. */
export function noticeUnusedAttestations(part: Part): void {
  const { release, inputs } = part;
  const { target, registry } = release;
  const spec = registry.attestations;
  if (!inputs.attestationsGiven && inputs.attestations && spec && !inputs.password) {
    if (attestationsApply(part)) return;
    log.info(
      part.ci.signsAttestations
        ? `No ${spec.kind}s for ${target.url.href}: by default they are made only for ${spec.verifiers}, where they are verified; signing for another index would contact the public Sigstore services and write this workflow's identity into their public log. Set 'attestations: true' to sign anyway (with 'fulcio-url' and 'rekor-url' for a private Sigstore).`
        : unsignedOnCi(part, spec.kind),
    );
    return;
  }
  if (!inputs.attestationsGiven || !inputs.attestations || attestationsApply(part)) return;
  log.notice(
    inputs.password
      ? `Attestations apply only to trusted publishing: they are signed with the job's OIDC identity for an upload authenticated by a trusted publisher, so the files go up to ${target.title} without them (with the token in 'password').`
      : spec && !part.ci.signsAttestations
        ? unsignedOnCi(part, spec.kind)
        : `Attestations apply only to trusted publishing to PyPI, TestPyPI, npm, RubyGems and prefix.dev; ${target.title} gets the files without them.`,
  );
}

/**
 * Signs every file's attestation before any exchange, so a signing failure sends nothing; returns the
 * summary's block of what was signed. The signing module is loaded here, not at start-up: runs without
 * attestations never load Sigstore.
 */
export async function attest(part: Part): Promise<string | undefined> {
  const { release, inputs, ci, env } = part;
  const { registry, target, options } = release;
  const artifacts = toSend(part);
  const spec = registry.attestations;
  if (!attestationsApply(part) || !spec || artifacts.length === 0) return undefined;
  // A job without an ID token fails here as it would at the exchange, before Sigstore is even loaded.
  ci.checkIdTokens();
  const say = (line: string) => (inputs.attestationsGiven ? log.notice(line) : log.info(line));
  const missing = ci.missingIdToken(SIGSTORE_AUDIENCE, 'sigstore');
  if (missing) {
    say(`No ${spec.kind}s for ${target.title}: ${missing}`);
    return undefined;
  }
  const { describeAttestations, signAttestations } = await import('../attestation/sign.ts');
  const context = { target, options, env };
  const results = await signAttestations(
    artifacts.map((artifact) => ({
      file: spec.subject(artifact),
      statement: (claims: Claims) => spec.statement(artifact, { ...context, claims }),
      envelope: spec.envelope ?? 'dsse',
    })),
    inputs,
    () => ci.idToken(SIGSTORE_AUDIENCE, 'sigstore'),
  );
  const signed = results.flatMap((r) => ('bundle' in r ? [r] : []));
  const skipped = new Map<string, string[]>();
  artifacts.forEach((artifact, i) => {
    const result = results[i];
    if (result && 'bundle' in result) artifact.attestations = [result.bundle];
    else if (result) skipped.set(result.skipped, [...(skipped.get(result.skipped) ?? []), result.file]);
  });
  // A registry's own rule (npm: public repositories and packages only) is no failure; asked for, it is said.
  for (const [reason, files] of skipped) say(`No ${spec.kind} for ${files.join(', ')}: ${reason}`);
  if (signed.length === 0) return undefined;
  const block = describeAttestations(signed, spec.kind, inputs);
  log.info(block);
  return block;
}
