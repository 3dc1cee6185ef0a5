import { type CrateSpec, metadataFor, readCrate } from '../artifacts/crate.ts';
import { ActionError, unexplainedRefusal } from '../errors.ts';
import { ownedFileChunks } from '../file-chunks.ts';
import {
  apiUrl,
  exists,
  type HttpResponse,
  jsonBody,
  LOOKUP_DEADLINE_MS,
  MESSAGE_CHARS,
  parseJson,
  type RequestBody,
  refusalCause,
  registryWords,
  send,
} from '../http.ts';
import { claimText, gitlabCiFile, gitlabProject, workflowFile } from '../oidc.ts';
import { log } from '../output.ts';
import type { CauseKind } from '../types.ts';
import { untrusted } from '../untrusted.ts';
import { mintedCredential } from './credential.ts';
import { heldVersion } from './held.ts';
import type { Artifact, Registry, Target } from './registry.ts';

export interface CrateArtifact extends Artifact, CrateSpec {}

const DEFAULT_URL = 'https://crates.io';
const DEFAULT_AUDIENCE = 'crates.io';
/** crates.io does not say when its token expires; it lives 30 minutes from the exchange. */
const TOKEN_LIFETIME_MS = 30 * 60_000;
const PUBLISH_TIMEOUT_MS = 120_000;

const isCratesIo = (target: Target): boolean => target.url.hostname === 'crates.io';

/** Where cargo reads a crate in a sparse index: 1/a, 2/ab, 3/a/abc, ab/cd/abcd… (lower case). */
export function sparseIndexPath(crateName: string): string {
  const name = crateName.toLowerCase();
  if (name.length <= 2) return `${name.length}/${name}`;
  if (name.length === 3) return `3/${name[0]}/${name}`;
  return `${name.slice(0, 2)}/${name.slice(2, 4)}/${name}`;
}

/**
 * The sparse index cargo reads: crates.io's own, else one under the API at `index/` whose config.json names
 * this API (an API base says nothing of where a registry's index lives); undefined when there is none.
 */
async function sparseIndexBase(target: Target): Promise<URL | undefined> {
  if (isCratesIo(target)) return new URL('https://index.crates.io/');
  const base = apiUrl(target.url, 'index/');
  const res = await send({
    method: 'GET',
    url: new URL('config.json', base),
    what: `Reading ${target.title}'s index configuration`,
    attempts: 2,
  }).catch(() => undefined);
  const api = res?.status === 200 ? (parseJson(res) as { api?: unknown } | undefined)?.api : undefined;
  return typeof api === 'string' && new URL(api).href === apiUrl(target.url, '').href ? base : undefined;
}

/** Whether an index file (one JSON line per version) lists the version with the crate's checksum. */
function indexLists(body: string, crate: CrateArtifact): boolean {
  return body.split('\n').some((line) => {
    try {
      const entry = JSON.parse(line) as { vers?: unknown; cksum?: unknown };
      return entry.vers === crate.version && entry.cksum === crate.sha256;
    } catch {
      return false;
    }
  });
}

/** The `detail` of every entry of a crates.io `{"errors": [{"detail": …}]}` body. */
function errorDetails(res: HttpResponse): string[] | undefined {
  const errors = (parseJson(res) as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors)) return undefined;
  return errors.map((e) =>
    untrusted(String((e as { detail?: unknown } | null)?.detail ?? JSON.stringify(e)), MESSAGE_CHARS),
  );
}

/** Whether the answer said why, in crates.io's `errors` or in words a proxy or another server used. */
const explained = (res: HttpResponse): boolean =>
  errorDetails(res) !== undefined || registryWords(res) !== undefined;

const saidBy = (res: HttpResponse): string[] =>
  errorDetails(res) ?? [registryWords(res) ?? `${res.status} ${res.reason}`.trim()];

/** Likely cause and fix per exchange refusal; crates.io's own words name most of them. */
interface Diagnosis {
  cause: string;
  fix: string;
  publisher: boolean;
  /** crates.io's detail names the mismatch itself, so no list of possible causes is added. */
  proven: boolean;
  /** The kinds of cause the detail leaves possible, when it rules some out. */
  possible?: readonly CauseKind[];
}

/**
 * crates.io's details that name the mismatching value itself, in the order they are told apart: the words,
 * the likely cause, and the fix given the crate's settings page.
 */
const NAMED_MISMATCHES: [string, string, (settings: string) => string][] = [
  [
    'does not match the repository owner ID',
    'The publisher was registered when the repository owner had another GitHub account id (the owner was renamed, deleted or re-created).',
    (settings) =>
      `${settings}: delete the publisher and add it again, so crates.io records the current owner id.`,
  ],
  [
    'does not match the namespace ID',
    'The publisher was registered for a GitLab namespace with another id (the group was deleted and re-created, or the project moved).',
    (settings) =>
      `${settings}: delete the publisher and add it again, so crates.io records the current namespace id.`,
  ],
  [
    'does not match the workflow filepath',
    'crates.io compares the CI file path exactly, letter case included, with the path between // and @ in ci_config_ref_uri: the top-level pipeline file, not an included one.',
    (settings) => `${settings}: register the file path shown below, or publish from the registered file.`,
  ],
  [
    'does not match the workflow filename',
    'crates.io compares the workflow file name exactly, and takes it from workflow_ref: inside a reusable workflow that is the calling workflow, not the called one.',
    (settings) =>
      `${settings}: register the workflow file named in workflow_ref below, or publish from the registered workflow.`,
  ],
  [
    'environment',
    'The publisher names an environment, and this job runs in another one or in none (a publisher without an environment accepts any job; names are compared ignoring case).',
    () => "Set the job's 'environment:' to the publisher's, or change the publisher's environment.",
  ],
];

function exchangeDiagnosis(detail: string, target: Target, reasonShown: boolean): Diagnosis {
  const settings = `On ${target.url.host}, open the crate → Settings → Trusted Publishing`;
  if (detail === 'Failed to decode JWT') {
    return {
      cause:
        "crates.io could not verify the OIDC token: its audience is not the one crates.io expects ('crates.io'), it expired, or its signature does not check out. crates.io words all of these the same way.",
      fix: "Leave the 'audience' input empty for crates.io (a private instance may expect another audience), and re-run the job.",
      publisher: false,
      proven: false,
    };
  }
  if (detail.startsWith('No Trusted Publishing config found')) {
    return {
      cause:
        'No crate on this registry has a trusted publisher for this repository (owner and name are compared ignoring case), or the crate does not exist yet.',
      fix: `${settings} → Add, with the values below. A publisher can only be added to a crate that already exists.`,
      publisher: true,
      proven: false,
      // No config for the repository at all: the workflow and environment were never compared.
      possible: ['missing-project', 'instance'],
    };
  }
  const named = NAMED_MISMATCHES.find(([words]) => detail.includes(words));
  if (named) return { cause: named[1], fix: named[2](settings), publisher: true, proven: true };
  if (detail.includes('event trigger')) {
    return {
      cause: 'crates.io refuses OIDC tokens of workflows triggered by pull_request_target or workflow_run.',
      fix: 'Publish from a workflow triggered by push (tags), release or workflow_dispatch.',
      publisher: false,
      proven: true,
    };
  }
  if (detail === 'JWT has already been used') {
    return {
      cause: 'The OIDC token was already exchanged once; crates.io accepts each token (jti) once.',
      fix: 'Re-run the job: every exchange asks GitHub for a fresh token.',
      publisher: false,
      proven: true,
    };
  }
  return {
    cause: refusalCause('The registry could not use the OIDC token', reasonShown),
    fix: "Check 'repository-url' and 'audience'.",
    publisher: true,
    proven: false,
  };
}

function publishFailure(
  target: Target,
  crate: CrateArtifact,
  res: HttpResponse,
  details: string[],
): ActionError {
  const status = res.status === 200 ? 'HTTP 200 with errors' : `HTTP ${res.status}`;
  const message = `${target.title} refused ${crate.file} (${status}): ${details.join('\n')}`;
  const said = details.join(' ');
  const release = `${crate.name} ${crate.version}`;
  if (/is already uploaded|already exists/.test(said)) {
    return new ActionError(message, {
      cause: `${release} was already published; crates.io never replaces a version (yanked versions included).`,
      fix: "Bump the version in Cargo.toml and run `cargo package` again; set 'skip-existing: true' when re-running a release that partly went through.",
    });
  }
  if (said.includes('do not support creating new crates')) {
    return new ActionError(message, {
      cause: `Crate '${crate.name}' does not exist on ${target.url.host} yet, and trusted publishing only publishes new versions of existing crates.`,
      fix: `Publish the first version by hand (\`cargo publish\` with an API token), then add this workflow under the crate's Settings → Trusted Publishing with the values below.`,
      aboutPublisher: true,
      causeProven: true,
    });
  }
  if (said.includes('not valid for crate')) {
    return new ActionError(message, {
      cause: `The workflow matched trusted publishers of other crates of this repository, but crate '${crate.name}' has none for it.`,
      fix: `On ${target.url.host}, open crate '${crate.name}' → Settings → Trusted Publishing and add this workflow with the values below.`,
      aboutPublisher: true,
      causeProven: true,
    });
  }
  if (res.status === 401 || res.status === 403) {
    return new ActionError(message, {
      cause:
        'The token was refused: it expired or was revoked, or (for a token given as password) it lacks the publish-update scope for this crate.',
      fix: 'Re-run the job; for an API token, check its scopes and expiry on the registry.',
      tokenRefused: true,
    });
  }
  if (res.status === 413) {
    return new ActionError(message, {
      cause: `The crate (${crate.size} bytes) or its metadata (README included) is over the registry's limit (crates.io: 10 MB crate, 1 MB metadata).`,
      fix: 'Exclude files from the package (`exclude` / `include` in Cargo.toml), or ask the registry admins for a higher limit.',
    });
  }
  return unexplainedRefusal(message, res.status, 'The registry', {
    cause: refusalCause('The registry refused the crate', res.status === 200 || explained(res)),
    fix: 'Correct Cargo.toml and run `cargo package` again.',
  });
}

/** crates.io's publish body: u32 LE length, metadata JSON, u32 LE length, the .crate bytes (streamed). */
function publishBody(crate: CrateArtifact, json: Buffer): RequestBody {
  const head = Buffer.alloc(4 + json.length + 4);
  head.writeUInt32LE(json.length, 0);
  json.copy(head, 4);
  head.writeUInt32LE(crate.size, 4 + json.length);
  async function* data(): AsyncIterable<Uint8Array> {
    yield head;
    yield* ownedFileChunks(crate.path);
  }
  // cargo sends no Content-Type for this body either.
  return { length: head.length + crate.size, data: data() };
}

/** The registry's checksum of a published version, or undefined when it has none (or cannot say). */
async function publishedChecksum(target: Target, crate: CrateArtifact): Promise<string | undefined> {
  const url = apiUrl(
    target.url,
    `api/v1/crates/${encodeURIComponent(crate.name)}/${encodeURIComponent(crate.version)}`,
  );
  const res = await send({
    method: 'GET',
    url,
    what: `Looking up ${crate.name} ${crate.version}`,
    deadlineMs: LOOKUP_DEADLINE_MS,
  });
  if (res.status !== 200) return undefined;
  const checksum = (parseJson(res) as { version?: { checksum?: unknown } } | undefined)?.version?.checksum;
  return typeof checksum === 'string' ? checksum : '';
}

/** The crates of a release that `crate` depends on (by package name, any kind). */
const dependsOn = (crate: CrateArtifact, others: CrateArtifact[]): CrateArtifact[] =>
  others.filter((o) => o !== crate && crate.metadata.deps.some((d) => d.name === o.name));

export const cratesIo: Registry<CrateArtifact> = {
  workflowClaim: 'workflow_ref',
  // crates.io compares owner, repository and environment ignoring case (the workflow file exactly).
  caseSensitiveNames: false,
  newProjectHint:
    'crates.io has no pending publishers: publish the first version by hand (`cargo publish` with an API token), then add the trusted publisher under the crate’s Settings → Trusted Publishing.',

  async projectExists(target, name) {
    return exists(
      apiUrl(target.url, `api/v1/crates/${encodeURIComponent(name)}`),
      `Looking up crate ${name}`,
    );
  },

  target(id, repositoryUrl, audience) {
    const url = repositoryUrl ?? new URL(DEFAULT_URL);
    return {
      id,
      name: 'crates.io',
      title: url.hostname === 'crates.io' ? 'crates.io' : `crates.io (${url.host})`,
      url,
      mintUrl: apiUrl(url, 'api/v1/trusted_publishing/tokens'),
      audience,
    };
  },

  inspect: (path, { verifyMetadata }) => readCrate(path, verifyMetadata),

  // A crate goes up once the crates it depends on are in the index: crates.io checks dependencies against it.
  mustFollow: dependsOn,
  followsIndex: true,

  order(crates) {
    const seen = new Map<string, string>();
    for (const c of crates) {
      const release = `${c.name} ${c.version}`;
      const other = seen.get(release);
      if (other) {
        throw new ActionError(`Two files for ${release}: ${other} and ${c.file}.`, {
          cause:
            'A version can be published once; the second upload would fail after the first went through.',
          fix: 'Remove the stale one from packages-dir (clean the folder before packaging).',
        });
      }
      seen.set(release, c.file);
    }
    // Dependencies first, as `cargo publish --workspace` does: the registry refuses a dependency it does not know.
    const ordered: CrateArtifact[] = [];
    const pending = [...crates];
    while (pending.length > 0) {
      const ready = pending.findIndex((c) => dependsOn(c, pending).length === 0);
      // A cycle (only possible through dev-dependencies) keeps the given order.
      const [next] = pending.splice(Math.max(ready, 0), 1);
      if (next) ordered.push(next);
    }
    return ordered;
  },

  async audience(target) {
    return target.audience ?? DEFAULT_AUDIENCE;
  },

  async mint(target, idToken) {
    const requestedAt = Date.now();
    const res = await send({
      method: 'POST',
      url: target.mintUrl,
      what: `Exchanging the OIDC token at ${target.title}`,
      headers: { accept: 'application/json' },
      body: async () => jsonBody({ jwt: await idToken() }),
    });
    const token = (parseJson(res) as { token?: unknown } | undefined)?.token;
    if (res.status === 200 && typeof token === 'string' && token) {
      // cargo sends the token as the whole Authorization header, without a scheme.
      return mintedCredential(token, (t) => t, requestedAt + TOKEN_LIFETIME_MS);
    }
    if (res.status === 404 || res.status === 405) {
      throw new ActionError(
        `${target.url.origin} has no trusted publishing endpoint (${target.mintUrl} answered ${res.status}).`,
        {
          cause: "'repository-url' points at a registry without crates.io's trusted publishing API.",
          fix: "Check 'repository-url' (crates.io's is https://crates.io); for such a registry give an API token in the 'password' input.",
        },
      );
    }
    const details = saidBy(res);
    const diagnosis =
      res.status >= 500
        ? { cause: 'The registry had a fault.', fix: 'Re-run the job.', publisher: false, proven: false }
        : exchangeDiagnosis(details[0] ?? '', target, explained(res));
    throw new ActionError(
      [
        `${target.title} refused the token exchange (HTTP ${res.status}):`,
        ...details.map((d) => `  ${d}`),
      ].join('\n'),
      {
        cause: diagnosis.cause,
        fix: diagnosis.fix,
        aboutPublisher: diagnosis.publisher,
        causeProven: diagnosis.proven,
        ...(diagnosis.possible ? { possibleCauses: diagnosis.possible } : {}),
      },
    );
  },

  async revoke(target, credential) {
    const res = await send({
      method: 'DELETE',
      url: target.mintUrl,
      what: `Revoking the ${target.title} token`,
      // The revoke endpoint reads a Bearer token (publishing takes the bare token).
      headers: { authorization: `Bearer ${credential.token}` },
    });
    if (res.status !== 204 && res.status !== 200) {
      throw new Error(`HTTP ${res.status}: ${saidBy(res).join('; ')}`);
    }
  },

  staticCredential(token) {
    return { token, authorization: token, expiresAt: undefined, trusted: false };
  },

  async held(target, crates) {
    return Promise.all(
      crates.map(async (crate) =>
        heldVersion(
          await publishedChecksum(target, crate),
          crate.sha256,
          crate.file,
          this.fileUrl(target, crate),
        ),
      ),
    );
  },

  async upload(target, credential, crate, { skipExisting }) {
    const release = `${crate.name} ${crate.version}`;
    const json = Buffer.from(JSON.stringify(metadataFor(crate.metadata, isCratesIo(target))));
    const res = await send({
      method: 'PUT',
      url: apiUrl(target.url, 'api/v1/crates/new'),
      what: `Publishing ${crate.file} to ${target.title}`,
      headers: { authorization: credential.authorization, accept: 'application/json' },
      timeoutMs: PUBLISH_TIMEOUT_MS,
      body: () => publishBody(crate, json),
    });
    // Registries may answer errors with HTTP 200 and an `errors` array (older crates.io did): check the body.
    const details = errorDetails(res);
    if (res.status === 200 && details === undefined) {
      const warnings = (parseJson(res) as { warnings?: Record<string, unknown> } | undefined)?.warnings ?? {};
      const said = Object.entries(warnings).flatMap(([kind, list]) =>
        Array.isArray(list) ? list.map((w) => untrusted(`${kind.replace(/_/g, ' ')}: ${String(w)}`)) : [],
      );
      for (const warning of said)
        log.warning(`${target.title} accepted ${crate.file} with a warning: ${warning}`);
      return { status: 'uploaded', message: [`published ${release}`, ...said].join('; ') };
    }
    const duplicate = (details ?? []).some((d) => /is already uploaded/.test(d));
    if (duplicate && skipExisting) return { status: 'skipped', message: `${release} already exists` };
    // An attempt that timed out may have gone through: the same bytes there mean our publish landed.
    if (duplicate && res.retried && (await publishedChecksum(target, crate)) === crate.sha256) {
      return { status: 'uploaded', message: `published ${release} (confirmed after a retry)` };
    }
    throw publishFailure(target, crate, res, details ?? saidBy(res));
  },

  async installChecks(target, crates) {
    const index = await sparseIndexBase(target);
    return crates.map((crate) => {
      const what = `${crate.name} ${crate.version}`;
      if (!index) {
        const url = apiUrl(
          target.url,
          `api/v1/crates/${encodeURIComponent(crate.name)}/${encodeURIComponent(crate.version)}`,
        );
        return { what, url, shows: () => true, files: [crate.file] };
      }
      const url = new URL(sparseIndexPath(crate.name), index);
      return { what, url, shows: (res: HttpResponse) => indexLists(res.body, crate), files: [crate.file] };
    });
  },

  fileUrl(target, crate) {
    return apiUrl(target.url, `crates/${crate.name}/${crate.version}`).href;
  },

  publisherForms: {
    github(claims, crates) {
      const repository = claimText(claims, 'repository') ?? '';
      const owner = claimText(claims, 'repository_owner') ?? '';
      return [
        { label: 'Crate', value: [...new Set(crates.map((c) => c.name))].join(', ') },
        { label: 'Publisher', value: 'GitHub' },
        { label: 'Repository owner', value: owner },
        { label: 'Repository name', value: repository.slice(owner.length + 1) },
        { label: 'Workflow filename', value: workflowFile(claimText(claims, 'workflow_ref')) ?? '' },
        { label: 'Environment name (optional)', value: claimText(claims, 'environment') ?? '(leave empty)' },
      ];
    },
    gitlab(claims, crates) {
      const { namespace, project } = gitlabProject(claims);
      return [
        { label: 'Crate', value: [...new Set(crates.map((c) => c.name))].join(', ') },
        { label: 'Publisher', value: 'GitLab' },
        { label: 'Namespace', value: namespace },
        { label: 'Project', value: project },
        { label: 'Workflow file path (compared with its letter case)', value: gitlabCiFile(claims) ?? '' },
        { label: 'Environment name (optional)', value: claimText(claims, 'environment') ?? '(leave empty)' },
      ];
    },
  },
};
