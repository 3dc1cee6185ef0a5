import { type NuGetPackage, readNupkg } from '../artifacts/nupkg.ts';
import { ActionError, unexplainedRefusal } from '../errors.ts';
import {
  type HttpResponse,
  jsonBody,
  LOOKUP_DEADLINE_MS,
  parseJson,
  RESPONSE_LIMITS,
  refusalCause,
  registryWords,
  send,
} from '../http.ts';
import { multipartBody } from '../multipart.ts';
import { claimText, gitlabProject, workflowFile } from '../oidc.ts';
import { log } from '../output.ts';
import { mintedCredential } from './credential.ts';
import { type Artifact, afterFirstOf, type Registry, type Target } from './registry.ts';

export interface NuGetArtifact extends Artifact, NuGetPackage {}

const DEFAULT_URL = 'https://www.nuget.org';
/** NuGet/login's default; nuget.org checks `aud` against it. */
const DEFAULT_AUDIENCE = 'https://www.nuget.org';
/** `dotnet nuget push` waits five minutes: nuget.org checks the whole package before it answers. */
const PUSH_TIMEOUT_MS = 300_000;

/** nuget.org serves its read API (the service index) from api.nuget.org; another server from its own origin. */
function serviceIndexUrl(target: Target): URL {
  return target.url.hostname === 'www.nuget.org'
    ? new URL('https://api.nuget.org/v3/index.json')
    : new URL('/v3/index.json', target.url.origin);
}

/** The flat container's base (the service index's PackageBaseAddress resource); undefined when unknown. */
async function packageBaseAddress(target: Target): Promise<URL | undefined> {
  const url = serviceIndexUrl(target);
  const res = await send({
    method: 'GET',
    url,
    what: `Reading ${target.title}'s service index`,
    attempts: 2,
  });
  const resources = (parseJson(res) as { resources?: unknown } | undefined)?.resources;
  if (res.status !== 200 || !Array.isArray(resources)) return undefined;
  const base = resources.find((r) => String(r?.['@type']).startsWith('PackageBaseAddress/3.0.0'))?.['@id'];
  return typeof base === 'string' ? new URL(base.endsWith('/') ? base : `${base}/`, url) : undefined;
}

const flatContainerUrl = (base: URL, id: string): URL =>
  new URL(`${encodeURIComponent(id.toLowerCase())}/index.json`, base);

/** The versions a flat container answer lists (lower-case, normalized); undefined when it is no such answer. */
function versionsIn(res: HttpResponse): string[] | undefined {
  const versions = (parseJson(res) as { versions?: unknown } | undefined)?.versions;
  return res.status === 200 && Array.isArray(versions) ? versions.map(String) : undefined;
}

async function listedVersions(target: Target, base: URL, id: string): Promise<string[] | undefined> {
  const url = flatContainerUrl(base, id);
  const res = await send({
    method: 'GET',
    url,
    what: `Looking up ${id} on ${target.title}`,
    attempts: 2,
    deadlineMs: LOOKUP_DEADLINE_MS,
    maxResponseBytes: RESPONSE_LIMITS.index,
  });
  return res.status === 404 ? [] : versionsIn(res);
}

const REBUILD = 'Correct the package (its .nuspec or files) and rebuild it with `dotnet pack`.';

/**
 * The gallery answers errors in the status line (what the NuGet client prints); the body repeats it, and is
 * all a proxy or another server may give.
 */
const serverSaid = (res: HttpResponse): string => registryWords(res) ?? `${res.status} ${res.reason}`.trim();

interface Explanation {
  cause: string;
  fix: string;
  aboutPublisher?: boolean;
}

/** Causes and fixes of a refused exchange, keyed on the gallery's own messages (TokenApiController, FederatedCredentialService). */
function explainExchange(
  target: Target,
  user: string,
  said: string,
  status: number,
  reasonShown: boolean,
): Explanation {
  const site = target.url.origin;
  if (/no matching trust policy/i.test(said)) {
    return {
      cause: `No trusted publishing policy created by the ${target.title} account '${user}' matches this workflow. Only policies that account created are searched: 'user' must be the policy's creator, not the organisation that owns the package; and a policy whose repository owner or repository differs is passed over without a reason.`,
      fix: `Sign in to ${site} as the account that created the policy → Trusted Publishing, compare the policy with the values below (case does not matter), and set 'user' to that account's user name.`,
      aboutPublisher: true,
    };
  }
  if (/mismatch for policy|does not start with/i.test(said)) {
    return {
      cause:
        'A policy for this repository exists, but its workflow file or environment differs. NuGet reads the workflow file from job_workflow_ref: inside a reusable workflow that is the called file, and it must live in the same repository.',
      fix: `Edit the policy on ${site} (Trusted Publishing) to the values below, or publish from the workflow and environment the policy names.`,
      aboutPublisher: true,
    };
  }
  if (/policy .* has expired/i.test(said)) {
    return {
      cause:
        'A policy whose repository nuget.org could not look up (a private one) stays temporary until its first use, and lapses unused after 7 days.',
      fix: `Sign in to ${site} → Trusted Publishing, renew the policy, and re-run the job within 7 days.`,
      aboutPublisher: true,
    };
  }
  if (/organization/i.test(said)) {
    return {
      cause: `'${user}' is an organisation. Policies are created by, and keys issued to, a member account; the organisation is the policy's package owner.`,
      fix: "Set 'user' to the nuget.org user name of the organisation member who created the policy.",
      aboutPublisher: true,
    };
  }
  if (/event .* is not allowed/i.test(said)) {
    return {
      cause: 'nuget.org refuses OIDC tokens from workflows triggered by this event.',
      fix: 'Publish from a workflow triggered by a tag push, a release or workflow_dispatch.',
      aboutPublisher: true,
    };
  }
  if (/already been used/i.test(said)) {
    return {
      cause: 'This OIDC token was exchanged once already.',
      fix: 'Re-run the job; every attempt fetches a fresh token.',
    };
  }
  if (/incorrect audience/i.test(said)) {
    return {
      cause: 'The OIDC token was requested for another audience than this instance expects.',
      fix: `Leave 'audience' empty for nuget.org (${DEFAULT_AUDIENCE}); for another instance, set the audience it is configured with.`,
    };
  }
  if (/is deleted|is locked|confirmed email/i.test(said)) {
    return {
      cause: 'nuget.org issues no keys for an account or package owner in this state.',
      fix: `Sort the account out on ${site} (confirm its email address, or have it unlocked), then re-run the job.`,
    };
  }
  if (status === 404) {
    return {
      cause: `${site} has no token endpoint (${target.mintUrl.pathname}): it does not offer trusted publishing.`,
      fix: "Check 'repository-url' (nuget.org: https://www.nuget.org), or give an API key in 'password' for this instance.",
    };
  }
  if (status >= 500) return { cause: 'The registry had a fault.', fix: 'Re-run the job.' };
  return {
    cause: refusalCause('The registry could not verify the OIDC token or read the request', reasonShown),
    fix: "Check 'repository-url' and 'audience'; if it persists, report it as a bug in this action with the log.",
  };
}

function pushFailure(target: Target, pkg: NuGetArtifact, res: HttpResponse, trusted: boolean): ActionError {
  const said = serverSaid(res);
  const message = `${target.title} refused ${pkg.file} (HTTP ${res.status}): ${said}`;
  const release = `${pkg.id} ${pkg.version}`;
  const site = target.url.origin;
  if (res.status === 409 && /reserved/i.test(said)) {
    return new ActionError(message, {
      cause: `The ID prefix of '${pkg.id}' is reserved for another owner.`,
      fix: 'Choose a package ID outside the reserved prefix, or ask the prefix owner to add the policy’s package owner to it.',
      aboutPublisher: true,
    });
  }
  if (res.status === 409 && pkg.symbols) {
    return new ActionError(message, {
      cause: `Another symbol package of ${release} is still being validated (pushed by an earlier run).`,
      fix: "Wait for nuget.org to finish validating it and re-run, or set 'skip-existing: true' to keep that copy.",
    });
  }
  if (res.status === 409) {
    return new ActionError(message, {
      cause:
        `${release} is already on ${target.title}; a NuGet version can never be pushed again, not even after it is deleted or unlisted.` +
        (res.retried
          ? ' An earlier attempt of this push timed out and may be the one that went through.'
          : ''),
      fix: "Bump the version and rebuild; set 'skip-existing: true' when re-running a release that partly went through.",
    });
  }
  if ((res.status === 401 || res.status === 403) && !trusted) {
    return new ActionError(message, {
      cause: `The API key given in 'password' is invalid, expired, or not scoped to push '${pkg.id}'.`,
      fix: `Create a key with the Push scope for '${pkg.id}' on ${site} (API Keys), or better, use trusted publishing.`,
    });
  }
  if (res.status === 401 || res.status === 403) {
    return new ActionError(message, {
      cause: `The short-lived API key may not push '${pkg.id}': the trusted publishing policy that issued it does not cover this package (its Package Owner does not own '${pkg.id}', or the policy's package scope leaves it out), or the key expired.`,
      fix: `On ${site}, sign in as the policy's creator → Trusted Publishing and set the policy's Package Owner to the account or organisation that owns '${pkg.id}'.`,
      aboutPublisher: true,
    });
  }
  if (res.status === 404 && pkg.symbols) {
    return new ActionError(message, {
      cause: `${release} is not on ${target.title}: a symbol package can only follow its package.`,
      fix: `Put ${pkg.id}.${pkg.version}.nupkg in packages-dir beside the .snupkg; this action pushes it first.`,
    });
  }
  if (res.status === 413) {
    return new ActionError(message, {
      cause: `The file is ${pkg.size} bytes, over the registry's limit (250 MB on nuget.org).`,
      fix: 'Make the package smaller (move large assets out of it).',
    });
  }
  return unexplainedRefusal(message, res.status, 'The registry', {
    cause: refusalCause('The registry refused the package', registryWords(res) !== undefined),
    fix: REBUILD,
  });
}

export const nuget: Registry<NuGetArtifact> = {
  workflowClaim: 'job_workflow_ref',

  target(id, repositoryUrl, audience) {
    const url = repositoryUrl ?? new URL(DEFAULT_URL);
    return {
      id,
      name: 'NuGet',
      title: url.host === 'www.nuget.org' ? 'NuGet.org' : `NuGet (${url.host})`,
      url,
      // The gallery serves every endpoint at its root, whatever path repository-url was given with.
      mintUrl: new URL('/api/v2/token', url.origin),
      audience,
    };
  },

  validate(target, { user }, trusted) {
    if (target.url.hostname === 'api.nuget.org') {
      throw new ActionError(
        "Input 'repository-url' points at api.nuget.org, the package source that restores read from.",
        {
          cause:
            'Keys are issued and packages pushed by the gallery, www.nuget.org (dotnet nuget push finds it through api.nuget.org’s service index).',
          fix: "Leave 'repository-url' empty, or set it to https://www.nuget.org.",
        },
      );
    }
    if (trusted && !user) {
      throw new ActionError(`Trusted publishing to ${target.title} needs the 'user' input.`, {
        cause: `${target.title} issues the key to the account that created the trusted publishing policy, and asks for its user name: the policy's creator, not the organisation that owns the package.`,
        fix: "Add to the step's 'with:' block:\n  user: <nuget.org user name of the policy's creator>",
      });
    }
  },

  async inspect(path) {
    const pkg = await readNupkg(path);
    return { name: pkg.id, ...pkg };
  },

  order(artifacts) {
    const seen = new Map<string, string>();
    for (const a of artifacts) {
      // IDs and versions compare without case on nuget.org: a second file would meet a 409 after the first.
      const key = `${a.id} ${a.version} ${a.symbols}`.toLowerCase();
      const other = seen.get(key);
      if (other) {
        throw new ActionError(
          `Two ${a.symbols ? 'symbol packages' : 'packages'} of ${a.id} ${a.version}: ${other} and ${a.file}.`,
          {
            fix: 'Remove the stale one from packages-dir (clean the folder before packing).',
          },
        );
      }
      seen.set(key, a.file);
    }
    // The symbol endpoint only takes symbols of a package that is already there.
    return [...artifacts].sort((a, b) => Number(a.symbols) - Number(b.symbols));
  },

  // The first push of an ID creates the package; its symbols and other versions follow it.
  mustFollow: afterFirstOf((pkg) => pkg.id.toLowerCase()),

  async audience(target) {
    return target.audience ?? DEFAULT_AUDIENCE;
  },

  async mint(target, idToken, _artifacts, { user }) {
    const res = await send({
      method: 'POST',
      url: target.mintUrl,
      what: `Exchanging the OIDC token at ${target.title}`,
      headers: { accept: 'application/json' },
      // The JWT travels in the Authorization header, fresh for every attempt.
      attemptHeaders: async () => ({ authorization: `Bearer ${await idToken()}` }),
      body: () => jsonBody({ username: user, tokenType: 'ApiKey' }),
    });
    const answer = parseJson(res) as { apiKey?: unknown; expires?: unknown } | undefined;
    if (res.status === 200 && typeof answer?.apiKey === 'string' && answer.apiKey) {
      return mintedCredential(answer.apiKey, (key) => key, answer.expires);
    }
    if (res.status === 200) {
      throw new ActionError(`${target.title} answered the token exchange without an "apiKey".`, {
        cause: `${target.mintUrl.href} is not a NuGet token endpoint, or it changed its answer.`,
        fix: "Check 'repository-url'; if it is right, report this as a bug in this action with the log.",
      });
    }
    const said = serverSaid(res);
    throw new ActionError(
      `${target.title} refused the token exchange for user '${user}' (HTTP ${res.status}): ${said}`,
      explainExchange(target, user, said, res.status, registryWords(res) !== undefined),
    );
  },

  staticCredential(token) {
    return { token, authorization: token, expiresAt: undefined, trusted: false };
  },

  async held(target, pkgs) {
    // Symbol packages are not listed; their push answers 409 when one is there. Nothing to read, no request.
    const packages = pkgs.filter((pkg) => !pkg.symbols);
    const base = packages.length > 0 ? await packageBaseAddress(target) : undefined;
    const versions = new Map<string, Promise<string[] | undefined>>();
    return Promise.all(
      pkgs.map(async (pkg) => {
        if (!base || pkg.symbols) return undefined;
        const id = pkg.id.toLowerCase();
        if (!versions.has(id)) versions.set(id, listedVersions(target, base, pkg.id));
        if (!(await versions.get(id))?.includes(pkg.version.toLowerCase())) return undefined;
        // nuget.org signs what it stores, so its bytes never equal the pushed file's: existence is all it says.
        return { file: pkg.file, same: undefined, url: this.fileUrl(target, pkg) };
      }),
    );
  },

  async upload(target, credential, pkg, { skipExisting }) {
    const res = await send({
      method: 'PUT',
      url: new URL(pkg.symbols ? '/api/v2/symbolpackage' : '/api/v2/package', target.url.origin),
      what: `Pushing ${pkg.file} to ${target.title}`,
      headers: { 'x-nuget-apikey': credential.authorization },
      timeoutMs: PUSH_TIMEOUT_MS,
      // The field and file names the NuGet client sends; the gallery takes the first file part whatever its name.
      body: () =>
        multipartBody([], {
          field: 'package',
          filename: 'package.nupkg',
          path: pkg.path,
          size: pkg.size,
          contentType: 'application/octet-stream',
        }),
    });
    if (res.status === 200 || res.status === 201 || res.status === 202) {
      const warning = res.headers['x-nuget-warning'];
      for (const text of [warning ?? []].flat()) log.warning(`${target.title} on ${pkg.file}: ${text}`);
      return {
        status: 'uploaded',
        message: `accepted (HTTP ${res.status}); ${target.title} validates it before listing it, usually within minutes`,
      };
    }
    if (res.status === 409 && skipExisting && !/reserved/i.test(serverSaid(res))) {
      return {
        status: 'skipped',
        message: pkg.symbols
          ? `a symbol package of ${pkg.id} ${pkg.version} is already there (being validated)`
          : `${pkg.id} ${pkg.version} already exists`,
      };
    }
    throw pushFailure(target, pkg, res, credential.trusted);
  },

  async installChecks(target, pkgs) {
    const base = await packageBaseAddress(target);
    if (!base) {
      throw new ActionError(
        `Cannot wait for ${target.title}: ${serviceIndexUrl(target)} lists no package base address.`,
        {
          cause:
            'The server has no NuGet v3 service index with a PackageBaseAddress resource, which installers read.',
          fix: "Set 'wait: false' for this server.",
        },
      );
    }
    const releases = Map.groupBy(pkgs, (pkg) => `${pkg.id} ${pkg.version}`.toLowerCase());
    return [...releases.values()].map((files) => {
      const [{ id, version }] = files as [NuGetArtifact];
      return {
        what: `${id} ${version}`,
        // The flat container `dotnet restore` reads; symbol packages are not listed, they go with their package.
        url: flatContainerUrl(base, id),
        shows: (res: HttpResponse) => versionsIn(res)?.includes(version.toLowerCase()) ?? false,
        files: files.map((pkg) => pkg.file),
      };
    });
  },

  fileUrl(target, pkg) {
    return new URL(
      `/packages/${encodeURIComponent(pkg.id)}/${encodeURIComponent(pkg.version)}`,
      target.url.origin,
    ).href;
  },

  publisherForms: {
    github(claims, packages) {
      const repository = claimText(claims, 'repository') ?? '';
      const owner = claimText(claims, 'repository_owner') ?? '';
      const jobWorkflowRef = claimText(claims, 'job_workflow_ref') ?? '';
      const file = workflowFile(jobWorkflowRef) ?? '';
      // nuget.org only matches a job_workflow_ref under the repository's own .github/workflows/.
      const elsewhere =
        jobWorkflowRef !== '' &&
        !jobWorkflowRef.toLowerCase().startsWith(`${repository.toLowerCase()}/.github/workflows/`);
      const ids = [...new Set(packages.map((p) => p.id))].join(', ');
      return [
        { label: 'Policy Name', value: `any name, e.g. ${file.replace(/\.ya?ml$/, '') || 'release'}` },
        { label: 'Package Owner', value: `the account or organisation that owns ${ids}` },
        { label: 'Repository Owner', value: owner },
        { label: 'Repository', value: repository.slice(owner.length + 1) },
        {
          label: 'Workflow File',
          value: elsewhere
            ? `${file} — but it lives outside ${repository}, which nuget.org never matches: publish from a workflow of ${repository}`
            : file,
        },
        { label: 'Environment', value: claimText(claims, 'environment') ?? '(leave empty)' },
        { label: "and this action's 'user' input", value: "the nuget.org user name of the policy's creator" },
      ];
    },
    gitlab(claims, packages) {
      const { namespace, project } = gitlabProject(claims);
      const ref = claimText(claims, 'ref') ?? '';
      const ids = [...new Set(packages.map((p) => p.id))].join(', ');
      return [
        { label: 'Policy Name', value: 'any name, e.g. release' },
        { label: 'Package Owner', value: `the account or organisation that owns ${ids}` },
        { label: 'Namespace', value: namespace },
        { label: 'Project', value: project },
        {
          label: 'Ref (optional)',
          value:
            claimText(claims, 'ref_type') === 'branch'
              ? `${ref}, or empty for any`
              : `leave empty: this job runs for ${claimText(claims, 'ref_type') ?? 'ref'} '${ref}', not a branch`,
        },
        { label: 'Environment (optional)', value: claimText(claims, 'environment') ?? '(leave empty)' },
        { label: "and the 'user' option", value: "the nuget.org user name of the policy's creator" },
      ];
    },
  },
};
