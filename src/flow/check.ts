import { ActionError } from '../errors.ts';
import { log } from '../output.ts';
import { Credentials, exchangeScope } from './credentials.ts';
import type { Part } from './part.ts';
import { publisherLines } from './publisher.ts';

/**
 * The publisher check (the `check` input), before release day: at every registry the files name, the ID
 * token is exchanged as a release would exchange it, which proves a trusted publisher matches; every token
 * is revoked where the registry can, and nothing is uploaded. Each registry is tried; the failures come back
 * together, each with its usual diagnosis (claims, form values, causes).
 */
export async function checkPublishers(parts: Part[], summary: string[]): Promise<unknown> {
  const failures: ActionError[] = [];
  for (const part of parts) {
    await log.group(`Publisher check: ${part.release.target.title}`, async () => {
      try {
        summary.push(await checkPublisher(part));
      } catch (err) {
        if (!(err instanceof ActionError)) throw err;
        failures.push(err);
      }
    });
  }
  const [first] = failures;
  if (failures.length <= 1) return first;
  return new ActionError(
    `The publisher check failed at ${failures.length} registries: ${parts.length - failures.length} of ${parts.length} exchanges succeeded.`,
    { details: failures.map((f) => f.explain()) },
  );
}

/** One registry: one exchange per scope (npm: per package), then every token revoked. */
async function checkPublisher(part: Part): Promise<string> {
  const { registry, target, artifacts } = part.release;
  part.ci.checkIdTokens();
  const scopes = Map.groupBy(artifacts, (a) => exchangeScope(part, a));
  const credentials = new Credentials(part);
  try {
    for (const [first] of scopes.values()) if (first) await credentials.for(first);
  } finally {
    await credentials.revokeAll();
  }
  const packages = [...scopes.keys()].filter(Boolean);
  const block = [
    `Publisher check for ${target.title}: the token exchange succeeded${packages.length ? ` for ${packages.join(', ')}` : ''}, so the trusted publisher matches this job; nothing was uploaded.`,
    registry.revoke
      ? 'The short-lived token was revoked.'
      : `${target.title} cannot revoke the short-lived token: it expires by itself, unused.`,
    ...publisherLines(part, credentials.claims, artifacts),
  ].join('\n');
  log.info(block);
  return block;
}
