// RubyGems.org's check of the Sigstore bundles a push carries (app/models/pusher.rb#verify_sigstore, with
// OIDC::TrustedPublisher::GitHubAction::SigstorePolicy): only a trusted publisher's key may push them; each is a
// bundle verified offline against the gem's own bytes and the public-good trust root (here the local one), its
// certificate must name the publisher's workflow at the ref the certificate records, issued for GitHub Actions,
// and it must be a v0.3 bundle or later.
import { bundleFromJSON } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { GITHUB_ISSUER } from './issuer.ts';
import { extensionText, verifySigner } from './sigstore-verify.ts';

/** The publisher a bundle is verified against: its repository (or the reusable workflow's) and workflow file. */
export interface GemAttestationPolicy {
  workflowRepository: string;
  workflow: string;
}

/** A refusal as Pusher#notify makes it: the status and the text. */
export class GemAttestationError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const V03 =
  /^application\/vnd\.dev\.sigstore\.bundle\.v0\.([3-9]|\d{2,})\+json$|^application\/vnd\.dev\.sigstore\.bundle\+json;version=0\.([3-9]|\d{2,})$/;

/** Verifies every bundle; returns them as stored (Attestation#body), or throws what the server answers. */
export function verifyGemAttestations(
  attestations: unknown[],
  opts: { gem: Buffer; trustedRoot: TrustedRoot; policy: GemAttestationPolicy; trusted: boolean },
): unknown[] {
  if (attestations.length === 0) return [];
  if (!opts.trusted)
    throw new GemAttestationError(400, 'Pushing with an attestation requires trusted publishing');
  return attestations.map((json) => {
    let signer: ReturnType<typeof verifySigner>;
    try {
      signer = verifySigner(bundleFromJSON(json), opts.trustedRoot, opts.gem);
    } catch (err) {
      throw new GemAttestationError(
        422,
        `Error verifying sigstore attestation:\n${(err as Error).message}\n`,
      );
    }
    // SigstorePolicy: the identity is the workflow at the ref the certificate itself records (1.3.6.1.4.1.57264.1.14).
    const ref = extensionText(signer.extensions, 'OIDCSourceRepositoryRef') ?? '';
    const identity = `https://github.com/${opts.policy.workflowRepository}/.github/workflows/${opts.policy.workflow}@${ref}`;
    const issuer = extensionText(signer.extensions, 'OIDCIssuerV2');
    if (signer.subjectAlternativeName !== identity || issuer !== GITHUB_ISSUER) {
      throw new GemAttestationError(
        422,
        `Attestation verification failed:\nCertificate's SANs do not match ${identity}; actual SANs: ${signer.subjectAlternativeName} (issuer ${issuer})`,
      );
    }
    const mediaType = (json as { mediaType?: unknown }).mediaType;
    if (typeof mediaType !== 'string' || !V03.test(mediaType))
      throw new GemAttestationError(422, 'Must provide at least v0.3 bundles');
    return json;
  });
}
