import { log } from '../output.ts';
import type { Credential } from './registry.ts';

/** An expiry as registries word it: Unix seconds, Unix milliseconds or an ISO date. */
function expiryTime(value: unknown): number | undefined {
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value;
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A token a registry just minted, masked before anything else touches it (its header form included). */
export function mintedCredential(
  token: string,
  authorization: (token: string) => string,
  expires: unknown,
): Credential {
  log.secret(token);
  return { token, authorization: authorization(token), expiresAt: expiryTime(expires), trusted: true };
}
