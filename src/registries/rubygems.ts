import fs from 'node:fs';
import { type GemSpec, readGem } from '../artifacts/gem.ts';
import { ActionError, unexplainedRefusal } from '../errors.ts';
import { fileChunks } from '../file-chunks.ts';
import {
  apiUrl,
  bodyExcerpt,
  exists,
  type HttpResponse,
  jsonBody,
  LOOKUP_DEADLINE_MS,
  parseJson,
  type RequestBody,
  refusalCause,
  registryWords,
  send,
  statusReason,
} from '../http.ts';
import { multipartBody } from '../multipart.ts';
import { claimText, workflowFile } from '../oidc.ts';
import { mintedCredential } from './credential.ts';
import { heldVersion } from './held.ts';
import { type Artifact, afterFirstOf, type Registry, type Target } from './registry.ts';

export interface GemArtifact extends Artifact, GemSpec {}

const DEFAULT_URL = 'https://rubygems.org';
const DEFAULT_AUDIENCE = 'rubygems.org';
const PUSH_TIMEOUT_MS = 120_000;

function versionSlug(gem: GemSpec): string {
  return gem.platform === 'ruby' ? gem.version : `${gem.version}-${gem.platform}`;
}

/** The registry's record of one version, or undefined when it has none (yanked versions look absent too). */
async function publishedSha256(target: Target, gem: GemArtifact): Promise<string | undefined> {
  const url = apiUrl(
    target.url,
    `api/v2/rubygems/${encodeURIComponent(gem.name)}/versions/${encodeURIComponent(gem.version)}.json`,
  );
  url.searchParams.set('platform', gem.platform);
  const res = await send({
    method: 'GET',
    url,
    what: `Looking up ${gem.name} ${versionSlug(gem)}`,
    deadlineMs: LOOKUP_DEADLINE_MS,
  });
  if (res.status !== 200) return undefined;
  const sha = (parseJson(res) as { sha?: unknown } | undefined)?.sha;
  return typeof sha === 'string' ? sha : '';
}

/** Whether the server has Bundler's compact index; Bundler itself asks for /versions by ranges like this. */
async function hasCompactIndex(target: Target): Promise<boolean> {
  const res = await send({
    method: 'GET',
    url: apiUrl(target.url, 'versions'),
    headers: { range: 'bytes=0-0' },
    what: `Looking for ${target.title}'s compact index`,
    attempts: 2,
  }).catch(() => undefined);
  return res?.status === 200 || res?.status === 206;
}

/** A gem version as Bundler's compact index lists it: `VERSION[-PLATFORM] deps|checksum:SHA256,…`. */
function compactIndexLists(body: string, gem: GemArtifact): boolean {
  return body.split('\n').some((line) => {
    const [version, rest = ''] = line.split(' ', 2);
    return version === versionSlug(gem) && new RegExp(`checksum:${gem.sha256}\\b`).test(rest);
  });
}

function versionsJsonLists(body: unknown, gem: GemArtifact): boolean {
  return (
    Array.isArray(body) &&
    body.some(
      (v) => v?.number === gem.version && (v?.platform ?? 'ruby') === gem.platform && v?.sha === gem.sha256,
    )
  );
}

/**
 * The gem as `gem push` sends it: the bytes alone, or with attestations a multipart form of the gem and an
 * `attestations` part holding a JSON list of Sigstore bundles (push_command.rb, rubygems_controller.rb#create).
 */
function pushBody(gem: GemArtifact): RequestBody {
  if (!gem.attestations?.length)
    return { length: gem.size, data: fileChunks(gem.path), contentType: 'application/octet-stream' };
  return multipartBody(
    [],
    {
      field: 'gem',
      filename: gem.file,
      path: gem.path,
      size: gem.size,
      contentType: 'application/octet-stream',
    },
    [['attestations', JSON.stringify(gem.attestations), 'application/json']],
  );
}

function pushFailure(target: Target, gem: GemArtifact, res: HttpResponse): ActionError {
  // RubyGems answers in a text body; a proxy may say it only in its status line.
  const words = bodyExcerpt(res) ?? statusReason(res);
  const said = words ?? `${res.status} ${res.reason}`.trim();
  const message = `${target.title} refused ${gem.file} (HTTP ${res.status}): ${said}`;
  if (res.status === 409) {
    return new ActionError(message, {
      cause: `${gem.name} ${versionSlug(gem)} was already pushed (or pushed and yanked); versions cannot be pushed twice.`,
      fix: "Bump the version in the gemspec and rebuild; set 'skip-existing: true' when re-running a release that partly went through.",
    });
  }
  if (res.status === 403 && /not allowed to push/i.test(said)) {
    return new ActionError(message, {
      cause: `The trusted publisher is not registered for gem '${gem.name}' (the token is scoped to the gems whose publisher matched).`,
      fix: `On ${target.url.host}, open gem '${gem.name}' → Trusted publishers and add this workflow (a pending publisher for a gem that does not exist yet).`,
      aboutPublisher: true,
      causeProven: true,
    });
  }
  // Pusher#verify_sigstore: 422 "Attestation verification failed:\n<reason>" (or "Error verifying sigstore
  // attestation"), checked against the trusted publisher's workflow.
  if (res.status === 422 && /attestation|v0\.3 bundles/i.test(said)) {
    return new ActionError(`${message} ${res.body.trim().split('\n').slice(1).join(' ')}`.trim(), {
      cause: `${target.title} verifies the attestation's certificate against the trusted publisher: it must name the registered workflow file at the ref the run is for (https://github.com/<workflow repository>/.github/workflows/<file>@<the run's ref>). A reusable workflow called at another ref (@main from a tag run) or a certificate for another file fails, as does a bundle older than v0.3.`,
      fix: "Call the reusable workflow at the run's own ref, or run this step in the registered workflow; or set 'attestations: false' to push without an attestation.",
      aboutPublisher: true,
      causeProven: true,
    });
  }
  if (res.status === 401 || res.status === 403) {
    return new ActionError(message, {
      cause: 'The API key was refused: it expired, or lacks the push_rubygem scope for this gem.',
      fix: 'Re-run the job; if it persists, check the trusted publisher registered for this gem.',
      aboutPublisher: true,
    });
  }
  return unexplainedRefusal(message, res.status, 'The registry', {
    cause: refusalCause('The registry could not process the gem', words !== undefined),
    fix: 'Check the gemspec and rebuild with `gem build`.',
  });
}

export const rubygems: Registry<GemArtifact> = {
  workflowClaim: 'job_workflow_ref',
  caseSensitiveNames: true,
  newProjectHint:
    'add a pending trusted publisher (your profile → Pending trusted publishers) with the gem name and the values below; the first push creates the gem.',

  async projectExists(target, name) {
    return exists(
      apiUrl(target.url, `api/v1/gems/${encodeURIComponent(name)}.json`),
      `Looking up gem ${name}`,
    );
  },

  target(id, repositoryUrl, audience) {
    const url = repositoryUrl ?? new URL(DEFAULT_URL);
    return {
      id,
      name: 'RubyGems',
      title: url.host === 'rubygems.org' ? 'RubyGems.org' : `RubyGems (${url.host})`,
      url,
      mintUrl: apiUrl(url, 'api/v1/oidc/trusted_publisher/exchange_token'),
      audience,
    };
  },

  inspect: (path) => readGem(path),

  order: (artifacts) => artifacts,

  attestations: {
    kind: 'Sigstore attestation',
    // rubygems/release-gem signs pushes to https://rubygems.org only, the host that verifies them.
    verifiedBy: (target) => target.url.hostname === 'rubygems.org',
    verifiers: 'rubygems.org',
    subject: (gem) => gem.file,
    // No statement: `sigstore-cli sign <gem>` signs the gem's bytes, and Pusher#verify_sigstore verifies the
    // bundle against them.
    envelope: 'message-signature',
    statement: (gem) => fs.promises.readFile(gem.path),
  },

  // The first push of a name creates the gem; its other platforms follow it.
  mustFollow: afterFirstOf((gem) => gem.name),

  async audience(target) {
    return target.audience ?? DEFAULT_AUDIENCE;
  },

  async mint(target, idToken) {
    const res = await send({
      method: 'POST',
      url: target.mintUrl,
      what: `Exchanging the OIDC token at ${target.title}`,
      // Without it, errors come back as an HTML page.
      headers: { accept: 'application/json' },
      body: async () => jsonBody({ jwt: await idToken() }),
    });
    const answer = parseJson(res) as
      | { rubygems_api_key?: unknown; expires_at?: unknown; error?: unknown }
      | undefined;
    if ((res.status === 200 || res.status === 201) && typeof answer?.rubygems_api_key === 'string') {
      return mintedCredential(answer.rubygems_api_key, (key) => key, answer.expires_at);
    }
    if (res.status === 404) {
      throw new ActionError(`${target.title} found no trusted publisher for this workflow (HTTP 404).`, {
        cause:
          'RubyGems answers 404 with no reason for every mismatch: no publisher registered for this repository, a different workflow file name or environment, owner/repository spelled with other case, or a wrong audience.',
        fix: `On ${target.url.host}, add a trusted publisher (gem → Trusted publishers, or a pending publisher for a new gem) with exactly the values below; comparisons are case-sensitive.`,
        aboutPublisher: true,
      });
    }
    const reason = registryWords(res) ?? `${res.status} ${res.reason}`.trim();
    throw new ActionError(`${target.title} refused the token exchange (HTTP ${res.status}): ${reason}`, {
      cause: res.status >= 500 ? 'The registry had a fault.' : 'The registry could not use the OIDC token.',
      fix: "Check 'repository-url' and 'audience' (rubygems.org expects the audience 'rubygems.org').",
      aboutPublisher: res.status < 500,
    });
  },

  staticCredential(token) {
    return { token, authorization: token, expiresAt: undefined, trusted: false };
  },

  async held(target, gems) {
    return Promise.all(
      gems.map(async (gem) =>
        heldVersion(await publishedSha256(target, gem), gem.sha256, gem.file, this.fileUrl(target, gem)),
      ),
    );
  },

  async upload(target, credential, gem, { skipExisting }) {
    const res = await send({
      method: 'POST',
      url: apiUrl(target.url, 'api/v1/gems'),
      what: `Pushing ${gem.file} to ${target.title}`,
      headers: { authorization: credential.authorization },
      timeoutMs: PUSH_TIMEOUT_MS,
      body: () => pushBody(gem),
    });
    if (res.status === 200 || res.status === 201) return { status: 'uploaded', message: res.body.trim() };
    if (res.status === 409) {
      if (skipExisting)
        return { status: 'skipped', message: `${gem.name} ${versionSlug(gem)} already exists` };
      // An attempt that timed out may have gone through: the same bytes there mean our push landed.
      if (res.retried && (await publishedSha256(target, gem)) === gem.sha256) {
        return { status: 'uploaded', message: 'pushed (confirmed after a retry)' };
      }
    }
    throw pushFailure(target, gem, res);
  },

  async installChecks(target, gems) {
    // What Bundler reads; a server without a compact index is read through its versions JSON API.
    const compact = await hasCompactIndex(target);
    return gems.map((gem) => ({
      what: `${gem.name} ${versionSlug(gem)}`,
      url: apiUrl(
        target.url,
        compact
          ? `info/${encodeURIComponent(gem.name)}`
          : `api/v1/versions/${encodeURIComponent(gem.name)}.json`,
      ),
      shows: (res) => (compact ? compactIndexLists(res.body, gem) : versionsJsonLists(parseJson(res), gem)),
      files: [gem.file],
    }));
  },

  fileUrl(target, gem) {
    return apiUrl(target.url, `gems/${gem.name}/versions/${versionSlug(gem)}`).href;
  },

  // RubyGems.org takes trusted publishers from GitHub Actions only (GitLab support is an open pull request;
  // its sources name no CircleCI publisher).
  publisherForms: {
    github(claims, gems) {
      const repository = claimText(claims, 'repository') ?? '';
      const owner = claimText(claims, 'repository_owner') ?? '';
      return [
        { label: 'Gem name', value: [...new Set(gems.map((g) => g.name))].join(', ') },
        { label: 'Repository owner', value: owner },
        { label: 'Repository name', value: repository.slice(owner.length + 1) },
        { label: 'Workflow filename', value: workflowFile(claimText(claims, 'job_workflow_ref')) ?? '' },
        { label: 'Environment', value: claimText(claims, 'environment') ?? '(leave empty)' },
      ];
    },
  },
};
