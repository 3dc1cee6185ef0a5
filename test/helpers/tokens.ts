// Credentials minted by the emulators themselves for the issuer's default claims: what the reference clients
// (twine, gem push) are given, so they talk to the same emulator the action does.
import type { Issuer } from '../fakes/issuer.ts';
import type { PyPI } from '../fakes/pypi.ts';
import type { RubyGems } from '../fakes/rubygems.ts';

async function idToken(issuer: Issuer, audience: string): Promise<string> {
  const res = await fetch(`${issuer.requestUrl}&audience=${encodeURIComponent(audience)}`, {
    headers: { authorization: `bearer ${issuer.requestToken}` },
  });
  return ((await res.json()) as { value: string }).value;
}

/** A PyPI API token, as twine's password. */
export async function mintPyPIToken(issuer: Issuer, pypi: PyPI): Promise<string> {
  const res = await fetch(`${pypi.origin}/_/oidc/mint-token`, {
    method: 'POST',
    body: JSON.stringify({ token: await idToken(issuer, pypi.audience) }),
  });
  const { token } = (await res.json()) as { token?: string };
  if (res.status !== 200 || !token) throw new Error(`the PyPI emulator minted no token (HTTP ${res.status})`);
  return token;
}

/** A RubyGems API key, as GEM_HOST_API_KEY. */
export async function mintGemKey(issuer: Issuer, rg: RubyGems): Promise<string> {
  const res = await fetch(`${rg.url}/api/v1/oidc/trusted_publisher/exchange_token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ jwt: await idToken(issuer, rg.audience) }),
  });
  const key = ((await res.json()) as { rubygems_api_key?: string }).rubygems_api_key;
  if (res.status !== 201 || !key) throw new Error(`the RubyGems emulator minted no key (HTTP ${res.status})`);
  return key;
}
