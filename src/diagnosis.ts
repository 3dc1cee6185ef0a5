import { type Claims, claimText, SHOWN_CLAIMS } from './oidc.ts';
import type { FormValue } from './registries/registry.ts';

/** The claims a registry matched the publisher on, MISSING where the token has none. */
export function claimLines(claims: Claims | undefined): string[] {
  if (!claims) return [];
  return [
    'Claims in the OIDC token:',
    ...SHOWN_CLAIMS.map((c) => `  ${c}: ${claimText(claims, c) ?? 'MISSING'}`),
  ];
}

export function formLines(values: FormValue[], title: string): string[] {
  return [
    `Values for the ${title} trusted publisher form:`,
    ...values.map((v) => `  ${v.label}: ${v.value}`),
  ];
}
