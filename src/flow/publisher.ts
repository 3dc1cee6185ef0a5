import { CI_TITLES, type CiId } from '../ci/ci.ts';
import { causeLines, claimLines, formLines, plausibleCauses } from '../diagnosis.ts';
import { ActionError } from '../errors.ts';
import type { Artifact, Registry } from '../registries/registry.ts';
import type { Claims } from '../types.ts';
import type { Part } from './part.ts';

/** The registry's trusted publisher form for jobs of this CI system; undefined where it takes none. */
export function formFor(registry: Registry, id: CiId) {
  return id === 'local' ? undefined : registry.publisherForms[id];
}

/** The CI systems whose jobs the registry takes as trusted publishers, in words. */
export function acceptedCis(registry: Registry): string {
  return Object.keys(registry.publisherForms)
    .map((id) => CI_TITLES[id as CiId])
    .join(' and ');
}

/** The claims, then the values to enter in the registry's publisher form for them. */
export function publisherLines(part: Part, claims: Claims | undefined, artifacts: Artifact[]): string[] {
  const { registry, target } = part.release;
  const form = formFor(registry, part.ci.id);
  return [
    ...claimLines(claims, part.ci.shownClaims),
    ...(form ? formLines(form(claims ?? {}, artifacts, target), target.title) : []),
  ];
}

/**
 * The claims, the publisher form values and (unless the registry named the cause) the causes the claims
 * leave possible: what makes a trusted publishing failure fixable, added to the error.
 */
export async function explainPublisherFailure(
  err: unknown,
  part: Part,
  claims: Claims | undefined,
  artifacts: Artifact[],
): Promise<unknown> {
  if (!(err instanceof ActionError) || !err.aboutPublisher || !claims || err.explained) return err;
  err.explained = true;
  const { release, inputs, ci } = part;
  const { registry, target } = release;
  err.details.push(...publisherLines(part, claims, artifacts));
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
        claims,
        {
          title: target.title,
          workflowClaim: registry.workflowClaim,
          ciFile: ci.ciFile(claims, registry.workflowClaim),
          project: ci.project(claims),
          // The registries' letter-case rules are about GitHub's owner and repository names.
          caseSensitiveNames: ci.id === 'github' && (registry.caseSensitiveNames ?? false),
          projects,
          newProjectHint: registry.newProjectHint ?? 'register a pending publisher for it.',
          customInstance: Boolean(inputs.repositoryUrl || inputs.audience),
        },
        err.possibleCauses,
      ),
    ),
  );
  return err;
}
