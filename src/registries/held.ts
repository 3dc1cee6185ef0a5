import type { HeldFile } from './registry.ts';

/**
 * A version lookup's answer as a held file: undefined when the version is not there, `same` undefined when
 * the registry listed it without a digest.
 */
export function heldVersion(
  storedDigest: string | undefined,
  ourDigest: string,
  file: string,
  url: string,
  algorithm = 'sha256',
): HeldFile | undefined {
  if (storedDigest === undefined) return undefined;
  if (storedDigest === '') return { file, same: undefined, url };
  return {
    file,
    same: storedDigest === ourDigest,
    url,
    digests: { algorithm, ours: ourDigest, stored: storedDigest },
  };
}
