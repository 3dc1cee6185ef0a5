import { metadataFormFields } from '../artifacts/core-metadata.ts';
import { blake2File } from '../artifacts/digest.ts';
import { normalizeName, type PythonDistribution, readPythonDistribution } from '../artifacts/python.ts';
import { publishStatement, toPep740 } from '../attestation/pep740.ts';
import { ActionError, unexplainedRefusal } from '../errors.ts';
import {
  exists,
  type HttpResponse,
  jsonBody,
  LOOKUP_DEADLINE_MS,
  MESSAGE_CHARS,
  parseJson,
  RESPONSE_LIMITS,
  refusalCause,
  registryWords,
  send,
} from '../http.ts';
import { multipartBody } from '../multipart.ts';
import { circleciIds, claimText, gitlabCiFile, gitlabProject, workflowFile } from '../oidc.ts';
import { log } from '../output.ts';
import { untrusted } from '../untrusted.ts';
import { mintedCredential } from './credential.ts';
import { type Artifact, afterFirstOf, type Registry, type Target } from './registry.ts';

export interface PythonArtifact extends Artifact, PythonDistribution {}

const INSTANCES: Record<string, { title: string; url: string }> = {
  pypi: { title: 'PyPI', url: 'https://upload.pypi.org/legacy/' },
  testpypi: { title: 'TestPyPI', url: 'https://test.pypi.org/legacy/' },
};

const UPLOAD_TIMEOUT_MS = 120_000;

/** Warehouse serves the OIDC endpoints on the site's origin; only pypi.org uploads to another host. */
function siteOrigin(uploadUrl: URL): string {
  return uploadUrl.hostname === 'upload.pypi.org' ? 'https://pypi.org' : uploadUrl.origin;
}

function basicAuthorization(user: string, token: string): string {
  const value = `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
  log.secret(value.slice('Basic '.length));
  return value;
}

interface MintError {
  code?: string;
  description?: string;
}

const MINT_CAUSES: Record<string, { cause: string; fix: string }> = {
  'invalid-publisher': {
    cause: 'No trusted publisher registered on the index matches these claims.',
    fix: 'Register a trusted publisher for the project with exactly the values below (Owner is case-sensitive), or correct the workflow file name / environment.',
  },
  'invalid-pending-publisher': {
    cause: 'A pending publisher matched, but the project could not be created from it.',
    fix: 'Check that the project name is still free, or register the publisher on the existing project.',
  },
  'invalid-token': {
    cause: 'The index could not verify the OIDC token (audience, signature or expiry).',
    fix: "Leave the 'audience' input empty so the action asks the index, and check 'repository-url' points at the index you registered the publisher on.",
  },
  'invalid-reuse-token': {
    cause: 'This OIDC token was already used once.',
    fix: 'Re-run the job; every exchange gets a fresh token.',
  },
  'not-enabled': {
    cause: 'Trusted publishing is disabled on this index.',
    fix: "Use a long-lived API token through the 'password' input until it is enabled again.",
  },
  'invalid-payload': {
    cause: 'The index could not read the exchange request.',
    fix: 'Report this as a bug in this action, with the log.',
  },
};

async function formBody(artifact: PythonArtifact) {
  const fields: [string, string][] = [
    [':action', 'file_upload'],
    ['protocol_version', '1'],
    // twine sends pkg_resources' safe_name; Warehouse normalises it anyway.
    ['name', artifact.name.replace(/[^A-Za-z0-9.]+/g, '-')],
    ['version', artifact.version],
    ['filetype', artifact.filetype],
    ['pyversion', artifact.pyversion],
    ...metadataFormFields(artifact.metadata),
    ['comment', ''],
    ['sha256_digest', artifact.sha256],
  ];
  // As twine sends it. Hashed here, not in planning: one file's hashing overlaps the others' uploads.
  fields.push(['blake2_256_digest', await blake2File(artifact.path)]);
  // PEP 740: a JSON array of attestation objects; Warehouse refuses an empty one, so none means no field.
  if (artifact.attestations?.length)
    fields.push(['attestations', JSON.stringify(artifact.attestations.map(toPep740))]);
  return multipartBody(fields, {
    field: 'content',
    filename: artifact.uploadName,
    path: artifact.path,
    size: artifact.size,
    contentType: 'application/octet-stream',
  });
}

interface ReleaseFile {
  filename?: unknown;
  packagetype?: unknown;
  url?: unknown;
  digests?: { sha256?: unknown };
}

/** The files of one release, from Warehouse's JSON API; undefined when the release or the API is not there. */
async function releaseFiles(
  target: Target,
  name: string,
  version: string,
): Promise<ReleaseFile[] | undefined> {
  const path = `/pypi/${encodeURIComponent(normalizeName(name))}/${encodeURIComponent(version)}/json`;
  const res = await send({
    method: 'GET',
    url: new URL(path, siteOrigin(target.url)),
    what: `Looking up ${name} ${version} on ${target.title}`,
    attempts: 2,
    deadlineMs: LOOKUP_DEADLINE_MS,
    // One release's answer carries its description: a long README, not only the file list.
    maxResponseBytes: RESPONSE_LIMITS.index,
  });
  const urls = res.status === 200 ? (parseJson(res) as { urls?: unknown } | undefined)?.urls : undefined;
  return Array.isArray(urls) ? urls : undefined;
}

/**
 * The stored file that stands for ours: the same bytes under any name (Warehouse counts those as the same
 * file), else the same name, else for an sdist the release's sdist, which may carry its pre-PEP 625 name.
 */
function heldAs(artifact: PythonArtifact, files: ReleaseFile[]): ReleaseFile | undefined {
  return (
    files.find((f) => f.digests?.sha256 === artifact.sha256) ??
    files.find((f) => f.filename === artifact.uploadName) ??
    (artifact.filetype === 'sdist' ? files.find((f) => f.packagetype === 'sdist') : undefined)
  );
}

const alreadyExists = (res: HttpResponse): boolean =>
  (res.status === 400 || res.status === 409) && /already exists/i.test(`${res.reason} ${res.body}`);

function uploadFailure(target: Target, artifact: PythonArtifact, res: HttpResponse): ActionError {
  // Warehouse says why in the status line; a proxy or another index may say it only in the body.
  const words = registryWords(res);
  const said = `${res.status} ${words ?? res.reason}`.trim();
  const message = `${target.title} refused ${artifact.file}: ${said}`;
  if (alreadyExists(res)) {
    return new ActionError(message, {
      cause: `${artifact.name} ${artifact.version} already has a file named ${artifact.file} with other content.`,
      fix: "Bump the version and rebuild; set 'skip-existing: true' if re-running a release that partly went through.",
    });
  }
  // Warehouse (forklift/legacy.py, since 2026-07): "Uploading new files to releases older than 14 days is not
  // allowed." A file the release already holds is answered "File already exists" first, so skip-existing holds.
  const closedAfter = /releases older than (\d+) days is not allowed/i.exec(said)?.[1];
  if (closedAfter) {
    return new ActionError(message, {
      cause: `${artifact.name} ${artifact.version} was created on ${target.title} more than ${closedAfter} days ago, and ${target.title} takes no new files for a release that old (a re-run of an old release, or a version that was not bumped).`,
      fix: `Bump the version and rebuild, to publish these files as a new release; if they are on ${target.title} already (a re-run), set 'skip-existing: true': files it holds are skipped, not sent.`,
      causeProven: true,
    });
  }
  // Warehouse: "Invalid API Token: OIDC scoped token is not valid for project 'x'".
  if (res.status === 403 && /not valid for project|isn't allowed to upload|not allowed/i.test(said)) {
    return new ActionError(message, {
      cause: `The trusted publisher that minted the token is not registered for project '${artifact.name}'.`,
      fix: `On ${target.title}, open project '${artifact.name}' → Publishing and add this repository's publisher (or a pending publisher for a new project).`,
      aboutPublisher: true,
      causeProven: true,
    });
  }
  if (res.status === 403) {
    return new ActionError(message, {
      cause: 'The token was refused: it expired, was revoked, or belongs to another index.',
      fix: "Check that 'repository-url' and the index the publisher is registered on are the same.",
    });
  }
  if (/Invalid attestations supplied/i.test(said)) {
    // pypi-attestations checks the certificate's Build Config URI, which Fulcio takes from workflow_ref (the
    // workflow the run started from), against the publisher's workflow file, which the exchange matched
    // against job_workflow_ref: inside a reusable workflow the two differ (pypi/warehouse#11096).
    const publisher = /does not match expected Trusted Publisher/i.test(said);
    return new ActionError(message, {
      cause: publisher
        ? "The attestation's certificate names the workflow the run started from (workflow_ref), which is not the publisher's workflow file: this step runs inside a reusable workflow, or the publisher names another file."
        : 'The index could not verify the attestation; its reason is above.',
      fix: publisher
        ? "Run this step in the workflow file registered as the publisher (not in a reusable workflow it calls), or set 'attestations: false'."
        : "Set 'attestations: false' to publish without attestations, and report this with the log.",
      aboutPublisher: publisher,
      causeProven: publisher,
    });
  }
  if (res.status === 413 || /too large/i.test(said)) {
    return new ActionError(message, {
      cause: `The file is ${artifact.size} bytes, over the index's limit (100 MiB by default).`,
      fix: 'Ask the index admins to raise the project’s file size limit, or make the file smaller.',
    });
  }
  return unexplainedRefusal(message, res.status, 'The index', {
    cause: refusalCause('The index rejected the upload', words !== undefined),
    fix: 'Correct the package metadata or the file and rebuild.',
  });
}

export const pypi: Registry<PythonArtifact> = {
  workflowClaim: 'job_workflow_ref',
  // Warehouse looks publishers up by exact owner and repository name.
  caseSensitiveNames: true,
  newProjectHint:
    'register a pending publisher under your account → Publishing (the pre-filled link below opens it); the first upload creates the project.',

  async projectExists(target, name) {
    const url = new URL(`/pypi/${encodeURIComponent(normalizeName(name))}/json`, siteOrigin(target.url));
    return exists(url, `Looking up project ${name}`);
  },

  target(id, repositoryUrl, audience) {
    const instance = INSTANCES[id] ?? INSTANCES.pypi;
    const url = repositoryUrl ?? new URL(instance?.url ?? '');
    const name = instance?.title ?? 'PyPI';
    return {
      id,
      name,
      title: name,
      url,
      mintUrl: new URL('/_/oidc/mint-token', siteOrigin(url)),
      audience,
    };
  },

  inspect: (path, { verifyMetadata }) => readPythonDistribution(path, verifyMetadata),
  sendsBlake2: true,

  order(artifacts) {
    const sdists = new Map<string, string>();
    for (const a of artifacts) {
      if (a.filetype !== 'sdist') continue;
      const release = `${normalizeName(a.name)} ${a.version}`;
      const other = sdists.get(release);
      if (other) {
        throw new ActionError(`Two sdists for ${a.name} ${a.version}: ${other} and ${a.file}.`, {
          cause:
            'PyPI accepts only one sdist per release; the second upload would fail after the first went through.',
          fix: 'Remove the stale one from packages-dir (clean the folder before building).',
        });
      }
      sdists.set(release, a.file);
    }
    // sdist first, as twine does: a release is then never wheels-only because of a late failure.
    return [...artifacts].sort((a, b) => Number(a.filetype !== 'sdist') - Number(b.filetype !== 'sdist'));
  },

  // The first file of a release creates it: Warehouse may race on two first uploads at once.
  mustFollow: afterFirstOf((a) => `${normalizeName(a.name)} ${a.version}`),

  attestations: {
    kind: 'PEP 740 attestation',
    // As gh-action-pypi-publish: another index cannot verify them.
    verifiedBy: (target) => ['upload.pypi.org', 'pypi.org', 'test.pypi.org'].includes(target.url.hostname),
    verifiers: 'pypi.org and test.pypi.org',
    // The name PyPI stores the file under, which pypi-attestations compares the subject with.
    subject: (artifact) => artifact.uploadName,
    statement: async (artifact) => publishStatement({ name: artifact.uploadName, sha256: artifact.sha256 }),
  },

  async audience(target) {
    if (target.audience) return target.audience;
    const url = new URL('/_/oidc/audience', siteOrigin(target.url));
    const res = await send({ method: 'GET', url, what: `Asking ${target.title} for its OIDC audience` });
    const audience = (parseJson(res) as { audience?: unknown } | undefined)?.audience;
    if (res.status === 200 && typeof audience === 'string' && audience) return audience;
    if (res.status === 403) {
      throw new ActionError(`${target.title} has trusted publishing disabled (${url} answered 403).`, {
        fix: "Wait for it to be enabled again, or give a long-lived API token in the 'password' input.",
      });
    }
    throw new ActionError(
      `${url.origin} does not support trusted publishing (${url} answered ${res.status}).`,
      {
        cause: "'repository-url' points at an index without Warehouse's OIDC endpoints.",
        fix: "Check 'repository-url'; for such an index, give an API token in the 'password' input.",
      },
    );
  },

  async mint(target, idToken) {
    const res = await send({
      method: 'POST',
      url: target.mintUrl,
      what: `Exchanging the OIDC token at ${target.title}`,
      headers: { accept: 'application/json' },
      body: async () => jsonBody({ token: await idToken() }),
    });
    const answer = parseJson(res) as { token?: unknown; expires?: unknown; errors?: MintError[] } | undefined;
    if (res.status === 200 && typeof answer?.token === 'string') {
      return mintedCredential(
        answer.token,
        (token) => basicAuthorization('__token__', token),
        answer.expires,
      );
    }
    const errors = answer?.errors ?? [];
    const first = errors[0];
    const known = MINT_CAUSES[first?.code ?? ''];
    // "no corresponding publisher (Publisher with matching claims was not found)" names no check;
    // any other answer (a failed claim check, a bad audience, a reused token) is the cause itself.
    const unexplained = first?.code === 'invalid-publisher' && /not found/i.test(first.description ?? '');
    throw new ActionError(
      [
        `${target.title} refused the token exchange (HTTP ${res.status} ${untrusted(res.reason)}).`,
        ...(errors.length > 0
          ? errors.map(
              (e) => `  [${untrusted(e.code ?? '?')}] ${untrusted(e.description ?? '', MESSAGE_CHARS)}`,
            )
          : [registryWords(res)].filter((w) => w !== undefined).map((w) => `  ${w}`)),
      ].join('\n'),
      {
        cause:
          first?.code === 'invalid-publisher' && !unexplained
            ? `The index names the failed check: ${untrusted(first.description ?? '')}`
            : (known?.cause ?? 'The index did not say why.'),
        fix: known?.fix ?? "Check 'repository-url'.",
        aboutPublisher: true,
        causeProven: !unexplained && errors.length > 0,
      },
    );
  },

  staticCredential(token, { user }) {
    return {
      token,
      authorization: basicAuthorization(user || '__token__', token),
      expiresAt: undefined,
      trusted: false,
    };
  },

  async held(target, artifacts) {
    const releases = new Map<string, Promise<ReleaseFile[] | undefined>>();
    return Promise.all(
      artifacts.map(async (artifact) => {
        const key = `${normalizeName(artifact.name)} ${artifact.version}`;
        if (!releases.has(key)) releases.set(key, releaseFiles(target, artifact.name, artifact.version));
        const stored = heldAs(artifact, (await releases.get(key)) ?? []);
        if (typeof stored?.filename !== 'string') return undefined;
        const digest = stored.digests?.sha256;
        return {
          file: stored.filename,
          same: digest === artifact.sha256,
          url: typeof stored.url === 'string' ? stored.url : this.fileUrl(target, artifact),
          ...(typeof digest === 'string' && {
            digests: { algorithm: 'sha256', ours: artifact.sha256, stored: digest },
          }),
        };
      }),
    );
  },

  async upload(target, credential, artifact, { skipExisting }) {
    const res = await send({
      method: 'POST',
      url: target.url,
      what: `Uploading ${artifact.file} to ${target.title}`,
      headers: { authorization: credential.authorization },
      timeoutMs: UPLOAD_TIMEOUT_MS,
      body: () => formBody(artifact),
    });
    // PyPI answers success with an HTML page; its status line is the useful part.
    if (res.status === 200) return { status: 'uploaded', message: `${res.status} ${res.reason}`.trim() };
    if (skipExisting && alreadyExists(res))
      return { status: 'skipped', message: `already exists: ${res.reason}` };
    throw uploadFailure(target, artifact, res);
  },

  async installChecks(target, artifacts) {
    const releases = Map.groupBy(artifacts, (a) => `${normalizeName(a.name)} ${a.version}`);
    return [...releases.values()].map((files) => {
      const [first] = files as [PythonArtifact];
      const project = normalizeName(first.name);
      return {
        what: `${first.name} ${first.version}`,
        // PEP 691's JSON form of the page pip reads; max-age=0 as pip sends, past a stale CDN copy.
        url: new URL(`/simple/${project}/`, siteOrigin(target.url)),
        headers: { accept: 'application/vnd.pypi.simple.v1+json', 'cache-control': 'max-age=0' },
        // By digest, not name: a file found there under its pre-PEP 625 name counts too.
        shows: (res) => {
          const listed = (parseJson(res) as { files?: { hashes?: { sha256?: unknown } }[] } | undefined)
            ?.files;
          const digests = new Set((Array.isArray(listed) ? listed : []).map((f) => f?.hashes?.sha256));
          return files.every((a) => digests.has(a.sha256));
        },
        files: files.map((a) => a.file),
      };
    });
  },

  fileUrl(target, artifact) {
    const site = siteOrigin(target.url);
    return `${site}/project/${normalizeName(artifact.name)}/${artifact.version}/`;
  },

  publisherForms: {
    github(claims, artifacts, target) {
      const repository = claimText(claims, 'repository') ?? '';
      const owner = claimText(claims, 'repository_owner') ?? '';
      const workflow = workflowFile(claimText(claims, 'job_workflow_ref')) ?? '';
      const environment = claimText(claims, 'environment') ?? '';
      const projects = [...new Set(artifacts.map((a) => a.name))];
      const prefill = new URLSearchParams({
        provider: 'github',
        owner,
        repository: repository.slice(owner.length + 1),
        workflow_filename: workflow,
        environment,
      });
      const site = siteOrigin(target.url);
      const pending = new URLSearchParams({
        ...Object.fromEntries(prefill),
        project_name: projects[0] ?? '',
      });
      return [
        { label: 'PyPI Project Name', value: projects.join(', ') },
        { label: 'Owner', value: owner },
        { label: 'Repository name', value: repository.slice(owner.length + 1) },
        { label: 'Workflow name', value: workflow },
        { label: 'Environment name', value: environment || '(leave empty)' },
        ...projects.map((p) => ({
          label: `Pre-filled form for ${p}`,
          value: `${site}/manage/project/${normalizeName(p)}/settings/publishing/?${prefill}`,
        })),
        {
          label: 'Pre-filled pending publisher (new project)',
          value: `${site}/manage/account/publishing/?${pending}`,
        },
      ];
    },
    gitlab(claims, artifacts) {
      const { namespace, project } = gitlabProject(claims);
      return [
        { label: 'PyPI Project Name', value: [...new Set(artifacts.map((a) => a.name))].join(', ') },
        { label: 'Namespace', value: namespace },
        { label: 'Project name', value: project },
        { label: 'Top-level pipeline file path', value: gitlabCiFile(claims) ?? '' },
        {
          label: 'Environment name (compared with its letter case)',
          value: claimText(claims, 'environment') || '(leave empty)',
        },
      ];
    },
    // Warehouse's CircleCI publisher: three IDs required; a context, VCS origin and ref optional, each
    // restricting the publisher to jobs whose claims carry it.
    circleci(claims, artifacts) {
      const ids = circleciIds(claims);
      return [
        { label: 'PyPI Project Name', value: [...new Set(artifacts.map((a) => a.name))].join(', ') },
        { label: 'Organization ID', value: ids.org },
        { label: 'Project ID', value: ids.project },
        { label: 'Pipeline Definition ID', value: ids.pipelineDefinition },
        {
          label: 'Context ID (optional)',
          value: ids.contexts.length ? `empty, or one of ${ids.contexts.join(', ')}` : '(leave empty)',
        },
        {
          label: 'VCS Origin (optional)',
          value: ids.vcsOrigin ? `empty, or ${ids.vcsOrigin}` : '(leave empty)',
        },
        { label: 'VCS Ref (optional)', value: ids.vcsRef ? `empty, or ${ids.vcsRef}` : '(leave empty)' },
      ];
    },
  },
};
