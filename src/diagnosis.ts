import { circleciClaim, circleciIds, claimText, workflowFile } from './oidc.ts';
import type { FormValue } from './registries/registry.ts';
import type { CauseKind, Claims } from './types.ts';

/** The claims a registry matched the publisher on (`shown`: the CI system's), MISSING where the token has none. */
export function claimLines(claims: Claims | undefined, shown: readonly string[]): string[] {
  if (!claims) return [];
  const shownValue = (name: string): string => {
    const value = claims[name];
    // CircleCI's claims include a boolean (ssh-rerun) and a list (context-ids).
    if (typeof value === 'boolean' || Array.isArray(value)) return JSON.stringify(value);
    return claimText(claims, name) ?? 'MISSING';
  };
  return ['Claims in the OIDC token:', ...shown.map((c) => `  ${c}: ${shownValue(c)}`)];
}

export function formLines(values: FormValue[], title: string): string[] {
  return [
    `Values for the ${title} trusted publisher form:`,
    ...values.map((v) => `  ${v.label}: ${v.value}`),
  ];
}

/** What is known about a publisher mismatch besides the claims. */
export interface PublisherFacts {
  title: string;
  /** The claim the registry reads the workflow file from, on GitHub. */
  workflowClaim: 'job_workflow_ref' | 'workflow_ref';
  /** The CI file the registry matches, and the repository or project, as the claims name them. */
  ciFile: string | undefined;
  project: string | undefined;
  /** Owner and repository compared letter case and all. */
  caseSensitiveNames: boolean;
  /** Per project: false when the registry says it does not exist, undefined when it could not be asked. */
  projects: { name: string; exists: boolean | undefined }[];
  /** How a publisher is registered for a project that does not exist yet. */
  newProjectHint: string;
  /** repository-url or audience point somewhere other than the public instance. */
  customInstance: boolean;
}

/** `owner/repo/.github/workflows/file@ref` → `owner/repo`. */
const refRepository = (ref: string | undefined): string | undefined => ref?.split('/.github/')[0];

/** The dash/underscore and .yml/.yaml twins users register by mistake. */
function lookalikes(file: string): string[] {
  const twins = new Set<string>();
  if (file.includes('-')) twins.add(file.replace(/-/g, '_'));
  if (file.includes('_')) twins.add(file.replace(/_/g, '-'));
  twins.add(file.endsWith('.yml') ? `${file.slice(0, -4)}.yaml` : `${file.replace(/\.yaml$/, '')}.yml`);
  return [...twins].filter((twin) => twin !== file);
}

/**
 * The causes of a publisher mismatch that the claims leave possible, most likely first. Causes the claims
 * rule out (a reusable workflow when there is none, a missing environment when the job has one), and kinds
 * the registry's answer rules out (`only`), are left out.
 */
export function plausibleCauses(
  claims: Claims,
  facts: PublisherFacts,
  only?: readonly CauseKind[],
): string[] {
  const found: [CauseKind, string][] = [];
  const causes: Causes = { push: (kind, text) => found.push([kind, text]) };
  const { title } = facts;
  const missing = facts.projects.filter((p) => p.exists === false).map((p) => p.name);
  if (missing.length > 0) {
    causes.push(
      'missing-project',
      `${missing.join(', ')} does not exist on ${title} yet, and a publisher can only be added to an existing project: ${facts.newProjectHint}`,
    );
  }
  if (claimText(claims, circleciClaim('org-id')) !== undefined) circleciCauses(claims, facts, causes);
  else workflowCauses(claims, facts, causes);
  if (facts.customInstance) {
    causes.push(
      'instance',
      `The publisher may be registered on another instance than the one 'repository-url' names (test and production instances keep separate publishers), or 'audience' is wrong.`,
    );
  }
  return found.filter(([kind]) => !only || only.includes(kind)).map(([, text]) => text);
}

interface Causes {
  push(kind: CauseKind, text: string): void;
}

/** A CircleCI publisher is three IDs, and optional restrictions the job's claims must meet. */
function circleciCauses(claims: Claims, { title }: PublisherFacts, causes: Causes): void {
  const ids = circleciIds(claims);
  causes.push(
    'circleci-ids',
    `The publisher must name this job's organization ID '${ids.org}', project ID '${ids.project}' and pipeline definition ID '${ids.pipelineDefinition}' exactly (the pipeline definition is the pipeline's entry under Project Settings → Pipelines: another pipeline of the same project has another ID).`,
  );
  causes.push(
    'circleci-restrictions',
    `A ${title} publisher with a context, VCS origin or VCS ref set takes only jobs that carry it: this job has ${ids.contexts.length ? `context IDs ${ids.contexts.join(', ')}` : 'no context'}, VCS origin '${ids.vcsOrigin || 'none'}' and VCS ref '${ids.vcsRef || 'none'}'.`,
  );
}

/** A GitHub or GitLab publisher names a workflow (CI) file, and optionally an environment. */
function workflowCauses(claims: Claims, facts: PublisherFacts, causes: Causes): void {
  const { title } = facts;
  const jobRef = claimText(claims, 'job_workflow_ref');
  const callerRef = claimText(claims, 'workflow_ref');
  const file = facts.ciFile ?? '?';
  if (jobRef && callerRef && jobRef.split('@')[0] !== callerRef.split('@')[0]) {
    const called = workflowFile(jobRef);
    const caller = workflowFile(callerRef);
    const calledRepo = refRepository(jobRef);
    causes.push(
      'reusable-workflow',
      facts.workflowClaim === 'job_workflow_ref'
        ? `This job runs a reusable workflow. ${title} matches the called file '${called}' (job_workflow_ref), not the caller '${caller}': register '${called}'${calledRepo !== refRepository(callerRef) ? ` of repository ${calledRepo}` : ''}.`
        : `This job runs a reusable workflow. ${title} matches the caller '${caller}' (workflow_ref), not the called '${called}': register '${caller}'.`,
    );
  }
  const environment = claimText(claims, 'environment');
  causes.push(
    'environment',
    environment
      ? `The job runs in environment '${environment}': the publisher's environment must be '${environment}' (or empty, to allow any).`
      : "The job has no 'environment:', so a publisher registered with an environment never matches: add the environment to the job, or clear it on the publisher.",
  );
  const twins = lookalikes(file);
  causes.push(
    'workflow-file',
    `The publisher must name the workflow file '${file}' exactly${twins.length ? ` (not ${twins.map((t) => `'${t}'`).join(' or ')})` : ''}.`,
  );
  const repository = facts.project ?? '';
  if (facts.caseSensitiveNames && /[A-Z]/.test(repository)) {
    causes.push(
      'case',
      `${title} compares names with their letter case: owner and repository must be '${repository}' exactly, not '${repository.toLowerCase()}'.`,
    );
  }
}

export function causeLines(causes: string[]): string[] {
  if (causes.length === 0) return [];
  return ['Possible causes, most likely first:', ...causes.map((c, i) => `  ${i + 1}. ${c}`)];
}
