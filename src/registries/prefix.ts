// prefix.dev, the conda channel host, as its clients speak to it: conda/rattler's rattler_upload
// (src/upload/prefix.rs: the multipart upload and its answers) and rattler_networking (trusted_publishing.rs:
// the exchange), which `rattler-build upload prefix` runs; repodata.json as rattler_conda_types reads it.
import { type CondaSpec, readConda } from '../artifacts/conda.ts';
import { ActionError } from '../errors.ts';
import { apiUrl, type HttpResponse, jsonBody, parseJson, send } from '../http.ts';
import { multipartBody } from '../multipart.ts';
import { claimText, workflowFile } from '../oidc.ts';
import { untrusted } from '../untrusted.ts';
import { mintedCredential } from './credential.ts';
import { heldVersion } from './held.ts';
import type { Artifact, HeldFile, InstallCheck, Registry, Target } from './registry.ts';

export interface CondaArtifact extends Artifact, CondaSpec {
  /** The channel the file goes to (the `channel` input), set when the release is ordered. */
  channel: string;
}

const DEFAULT_URL = 'https://prefix.dev';
/** rattler_networking's audience for prefix.dev and its subdomains; another host's own name is its audience. */
const PREFIX_DEV_AUDIENCE = 'prefix.dev';
/** Absolute on the host, as rattler joins it: a base with a path keeps none of it for the exchange. */
const MINT_PATH = '/api/oidc/mint_token';
/** CEP 27's predicate type, which rattler-build signs and prefix.dev verifies. */
export const CONDA_PUBLISH_PREDICATE = 'https://schemas.conda.org/attestations-publish-1.schema.json';
const UPLOAD_TIMEOUT_MS = 300_000;
/** A channel's repodata.json lists every file of a platform; a big channel's runs to tens of megabytes. */
const REPODATA_MAX_BYTES = 128 * 1024 * 1024;
/** prefix.dev channel names: letters, digits, '-', '_' and '.'; nothing that could leave the URL path. */
const CHANNEL = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const isPrefixDev = (url: URL): boolean =>
  url.hostname === 'prefix.dev' || url.hostname.endsWith('.prefix.dev');

/** Where installers read a channel: repo.prefix.dev for prefix.dev, the server itself for another host. */
function channelBase(target: Target, channel: string): URL {
  return isPrefixDev(target.url)
    ? new URL(`https://repo.prefix.dev/${channel}/`)
    : apiUrl(target.url, `${channel}/`);
}

const repodataUrl = (target: Target, channel: string, subdir: string): URL =>
  new URL(`${subdir}/repodata.json`, channelBase(target, channel));

/** The channel as rattler-build names it in an attestation's `targetChannel`: the server URL joined with it. */
const channelUrl = (target: Target, channel: string): string => apiUrl(target.url, channel).href;

interface RepodataRecord {
  sha256?: unknown;
}

/** The record repodata.json holds for a file: `.conda` files under `packages.conda`, `.tar.bz2` under `packages`. */
function recordOf(repodata: unknown, artifact: CondaArtifact): RepodataRecord | undefined {
  const key = artifact.format === 'conda' ? 'packages.conda' : 'packages';
  const records = (repodata as Record<string, unknown> | undefined)?.[key];
  if (!records || typeof records !== 'object') return undefined;
  const record = (records as Record<string, unknown>)[artifact.file];
  return record && typeof record === 'object' ? (record as RepodataRecord) : undefined;
}

/** A platform's repodata.json, parsed; undefined when it cannot be read (a private channel, a new subdir). */
async function readRepodata(target: Target, channel: string, subdir: string): Promise<unknown> {
  const res = await send({
    method: 'GET',
    url: repodataUrl(target, channel, subdir),
    what: `Reading ${channel}/${subdir}/repodata.json`,
    attempts: 2,
    maxResponseBytes: REPODATA_MAX_BYTES,
  });
  return res.status === 200 ? parseJson(res) : undefined;
}

/** The sha256 the channel lists for the file: undefined when not listed, '' when listed without one. */
async function listedSha256(target: Target, artifact: CondaArtifact): Promise<string | undefined> {
  const record = recordOf(await readRepodata(target, artifact.channel, artifact.subdir), artifact);
  if (!record) return undefined;
  return typeof record.sha256 === 'string' ? record.sha256 : '';
}

/** The files of a release by platform folder: one repodata.json serves each. */
function bySubdir(artifacts: CondaArtifact[]): Map<string, CondaArtifact[]> {
  const groups = new Map<string, CondaArtifact[]>();
  for (const a of artifacts) groups.set(a.subdir, [...(groups.get(a.subdir) ?? []), a]);
  return groups;
}

/** The server's words: the first line of its answer, bounded. */
function said(res: HttpResponse): string {
  const line = res.body.trim().split('\n')[0]?.trim() ?? '';
  return untrusted(line || `${res.status} ${res.reason}`, 512);
}

const SETTINGS = (target: Target, channel: string) =>
  `On ${target.url.host}, open channel '${channel}' → Settings → Trusted Publishers`;

function uploadFailure(target: Target, artifact: CondaArtifact, res: HttpResponse): ActionError {
  const message = `${target.title} refused ${artifact.file} (HTTP ${res.status}): ${said(res)}`;
  const where = `channel '${artifact.channel}'`;
  switch (res.status) {
    case 409:
      return new ActionError(message, {
        cause: `${where} already holds a file named ${artifact.file}; a channel never replaces a file silently.`,
        fix: "Bump the build number (or version) and build again; set 'skip-existing: true' when re-running a release that partly went through.",
      });
    case 401:
      return new ActionError(message, {
        cause:
          'The token was refused: the short-lived token expired, or the API key given as password is invalid or expired.',
        fix: 'Re-run the job; for an API key, create a new one in your prefix.dev account settings.',
      });
    case 403:
      return new ActionError(message, {
        cause: `The token may not upload to ${where}: the publisher or API key belongs to another channel, or a setting of the channel refuses this upload (the reason above).`,
        fix: `${SETTINGS(target, artifact.channel)}: check that this workflow is registered there; for an API key, check that its account may write to the channel.`,
      });
    case 404:
      return new ActionError(message, {
        cause: `${target.url.host} has no ${where}.`,
        fix: "Check the 'channel' input (the name in the channel's address, https://prefix.dev/channels/<name>), or create the channel first.",
      });
    case 413:
      return new ActionError(message, {
        cause: `The package (${artifact.size} bytes) is over the server's size limit.`,
        fix: 'Make the package smaller (split it into outputs), or ask the server admins for a higher limit.',
      });
    default:
      return new ActionError(message, {
        cause:
          res.status >= 500
            ? 'The server had a fault.'
            : 'The server refused the package; its reason is above.',
        fix: res.status >= 500 ? 'Re-run the job.' : 'Correct the recipe and build the package again.',
      });
  }
}

export const prefix: Registry<CondaArtifact> = {
  // The form asks for the workflow file, as PyPI's does; prefix.dev's server is not public, so the claim it reads
  // is taken to be PyPI's (the called file of a reusable workflow).
  workflowClaim: 'job_workflow_ref',
  newProjectHint:
    'a trusted publisher belongs to a channel: create the channel on prefix.dev first, then add the publisher under its Settings → Trusted Publishers.',

  target(id, repositoryUrl, audience) {
    const url = repositoryUrl ?? new URL(DEFAULT_URL);
    return {
      id,
      name: 'prefix.dev',
      title: url.hostname === 'prefix.dev' ? 'prefix.dev' : `prefix.dev (${url.host})`,
      url,
      mintUrl: new URL(MINT_PATH, url),
      audience,
    };
  },

  validate(_target, { channel }) {
    if (!channel) {
      throw new ActionError('Publishing conda packages needs the channel they go to.', {
        cause: 'prefix.dev keeps packages in channels, and publishers and API keys are given per channel.',
        fix: "Set 'channel: <name>' (the name in https://prefix.dev/channels/<name>).",
      });
    }
    if (!CHANNEL.test(channel)) {
      throw new ActionError(`The channel '${channel}' is not a channel name.`, {
        fix: "Set 'channel' to the channel's name alone (letters, digits, '-', '_', '.'), not its URL.",
      });
    }
  },

  async inspect(path) {
    return { ...(await readConda(path)), channel: '' };
  },
  // A .conda's members are stored, not deflated, and zstd frames need not carry a checksum, so a damaged
  // info/index.json could read as another package's.
  intactBeforeInspect: true,

  order(artifacts, { channel }) {
    // Each file is its own record in the channel: no file waits for another.
    return artifacts.map((artifact) => ({ ...artifact, channel }));
  },

  attestations: {
    kind: 'CEP 27 publish attestation',
    // prefix.dev verifies them against the file and its publisher; another server may not know them.
    verifiedBy: (target) => isPrefixDev(target.url),
    verifiers: 'prefix.dev',
    subject: (artifact) => artifact.file,
    statement: async (artifact, { target }) =>
      Buffer.from(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v1',
          subject: [{ name: artifact.file, digest: { sha256: artifact.sha256 } }],
          predicateType: CONDA_PUBLISH_PREDICATE,
          predicate: { targetChannel: channelUrl(target, artifact.channel) },
        }),
      ),
  },

  async audience(target) {
    if (target.audience) return target.audience;
    return isPrefixDev(target.url) ? PREFIX_DEV_AUDIENCE : target.url.hostname;
  },

  async mint(target, idToken, artifacts) {
    const res = await send({
      method: 'POST',
      url: target.mintUrl,
      what: `Exchanging the OIDC token at ${target.title}`,
      body: async () => jsonBody({ token: await idToken() }),
    });
    if (res.status >= 200 && res.status < 300) {
      // The answer's body is the token itself (rattler takes it whole as the Bearer token).
      const token = res.body.trim();
      if (/^[\x21-\x7e]{16,8192}$/.test(token))
        return mintedCredential(token, (t) => `Bearer ${t}`, undefined);
      throw new ActionError(
        `${target.title} answered the exchange with something that is not a token (HTTP ${res.status}).`,
        {
          cause: "'repository-url' points at a server that is not prefix.dev (a proxy's or login page, say).",
          fix: "Check 'repository-url' (prefix.dev's is https://prefix.dev).",
        },
      );
    }
    if (res.status === 404 || res.status === 405) {
      throw new ActionError(
        `${target.url.origin} has no trusted publishing endpoint (${target.mintUrl} answered ${res.status}).`,
        {
          cause: "'repository-url' points at a server without prefix.dev's trusted publishing.",
          fix: "Check 'repository-url'; for such a server give an API key in the 'password' input.",
        },
      );
    }
    if (res.status >= 500) {
      throw new ActionError(`${target.title} failed the token exchange (HTTP ${res.status}): ${said(res)}`, {
        cause: 'The server had a fault.',
        fix: 'Re-run the job.',
      });
    }
    const channel = artifacts[0]?.channel ?? '';
    throw new ActionError(`${target.title} refused the token exchange (HTTP ${res.status}): ${said(res)}`, {
      cause: `No trusted publisher of ${target.url.host} matches this workflow, or the OIDC token's audience is not '${PREFIX_DEV_AUDIENCE}'. prefix.dev's answer does not say which value differs.`,
      fix: `${SETTINGS(target, channel)} → add a publisher with exactly the values below (only GitHub Actions can be a publisher).`,
      aboutPublisher: true,
      // The form has no environment: a job's environment never decides.
      possibleCauses: ['missing-project', 'reusable-workflow', 'workflow-file', 'case', 'instance'],
    });
  },

  staticCredential(token) {
    // An API key goes as a Bearer token too (PREFIX_API_KEY in rattler-build).
    return { token, authorization: `Bearer ${token}`, expiresAt: undefined, trusted: false };
  },

  async held(target, artifacts) {
    const found = new Map<CondaArtifact, HeldFile | undefined>();
    await Promise.all(
      [...bySubdir(artifacts)].map(async ([subdir, files]) => {
        const repodata = await readRepodata(target, files[0]?.channel ?? '', subdir).catch(() => undefined);
        for (const artifact of files) {
          const record = recordOf(repodata, artifact);
          const sha256 = record ? (typeof record.sha256 === 'string' ? record.sha256 : '') : undefined;
          found.set(
            artifact,
            heldVersion(sha256, artifact.sha256, artifact.file, this.fileUrl(target, artifact)),
          );
        }
      }),
    );
    return artifacts.map((a) => found.get(a));
  },

  async upload(target, credential, artifact, { skipExisting }) {
    const attestation = artifact.attestations?.[0];
    const res = await send({
      method: 'POST',
      url: apiUrl(target.url, `api/v1/upload/${artifact.channel}`),
      what: `Uploading ${artifact.file} to ${target.title}`,
      headers: { authorization: credential.authorization },
      timeoutMs: UPLOAD_TIMEOUT_MS,
      // As rattler's create_upload_form: the file part carries its name and digest in headers of its own,
      // then an optional `attestation` part holds the Sigstore bundle as JSON text.
      body: () =>
        multipartBody(
          [],
          {
            field: 'file',
            filename: artifact.file,
            path: artifact.path,
            size: artifact.size,
            contentType: 'application/octet-stream',
            headers: {
              'Content-Length': String(artifact.size),
              'X-File-Name': artifact.file,
              'X-File-SHA256': artifact.sha256,
            },
          },
          attestation ? [['attestation', JSON.stringify(attestation)]] : [],
        ),
    });
    const where = `${artifact.channel}/${artifact.subdir}`;
    if (res.status >= 200 && res.status < 300) return { status: 'uploaded', message: `uploaded to ${where}` };
    if (res.status === 409) {
      if (skipExisting) return { status: 'skipped', message: `${artifact.file} is already in ${where}` };
      // An attempt that timed out may have gone through: the same bytes listed mean our upload landed.
      if (res.retried && (await listedSha256(target, artifact)) === artifact.sha256)
        return { status: 'uploaded', message: `uploaded to ${where} (confirmed after a retry)` };
    }
    throw uploadFailure(target, artifact, res);
  },

  async installChecks(target, artifacts) {
    return [...bySubdir(artifacts)].map(([subdir, files]): InstallCheck => {
      const channel = files[0]?.channel ?? '';
      return {
        what: `${[...new Set(files.map((f) => `${f.name} ${f.version}`))].join(', ')} (${channel}/${subdir})`,
        url: repodataUrl(target, channel, subdir),
        shows: (res) => {
          const repodata = parseJson(res);
          return files.every((f) => recordOf(repodata, f)?.sha256 === f.sha256);
        },
        files: files.map((f) => f.file),
      };
    });
  },

  fileUrl(target, artifact) {
    return new URL(`${artifact.subdir}/${artifact.file}`, channelBase(target, artifact.channel)).href;
  },

  publisherForms: {
    // prefix.dev's form: "At this stage only GitHub Actions is supported as a trusted publisher."
    github(claims, artifacts) {
      const repository = claimText(claims, 'repository') ?? '';
      const owner = claimText(claims, 'repository_owner') ?? '';
      return [
        { label: 'Channel (its Settings → Trusted Publishers)', value: artifacts[0]?.channel ?? '' },
        { label: 'GitHub Username or Organization Name', value: owner },
        { label: 'Repository Name', value: repository.slice(owner.length + 1) },
        {
          label: 'Name of the Workflow File',
          value: workflowFile(claimText(claims, 'job_workflow_ref')) ?? '',
        },
      ];
    },
  },
};
