import { log } from '../output.ts';
import { attestationsApply } from './attest.ts';
import { Credentials } from './credentials.ts';
import { waitPlan } from './installable.ts';
import type { Part } from './part.ts';
import { publisherLines } from './publisher.ts';

/**
 * What a real run would do, as far as it can be known without sending anything: the ID token is fetched
 * (never exchanged) to show its claims and the publisher form values. Returns the summary's block.
 */
export async function dryRun(part: Part): Promise<string | undefined> {
  const { release, inputs, ci } = part;
  const { registry, target, artifacts, options } = release;
  const routes = registry.uploadRoute
    ? artifacts.map((a) => `  ${a.file}: ${registry.uploadRoute?.(target, a, options)}`)
    : [];
  if (inputs.password) {
    log.info(
      [`Dry run: would upload to ${target.title} with the token given in 'password'.`, ...routes].join('\n'),
    );
    return undefined;
  }
  let block: string;
  if (!ci.issuesIdTokens) {
    block = [
      `Dry run for ${target.title}: the files and the plan are valid; no OIDC token was fetched, since ${ci.missingIdToken('', target.id)}.`,
      ...(routes.length ? ['Would send:', ...routes] : []),
    ].join('\n');
  } else {
    ci.checkIdTokens();
    const audience = await registry.audience(target);
    const credentials = new Credentials(part);
    await credentials.idToken(audience);
    block = [
      `Dry run for ${target.title}: the OIDC token (audience '${audience}') was fetched; nothing was exchanged or uploaded.`,
      ...publisherLines(part, credentials.claims, artifacts),
      ...(routes.length ? ['Would send:', ...routes] : []),
      ...(attestationsApply(part)
        ? [
            `Attestations: each file would get a ${registry.attestations?.kind} signed at ${inputs.fulcioUrl.origin} and logged in ${inputs.rekorUrl.origin}; none was signed.`,
          ]
        : []),
      ...(await waitPlan(part)),
    ].join('\n');
  }
  log.info(block);
  return block;
}
