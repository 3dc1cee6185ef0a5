// npm provenance checked the way registry.npmjs.org checks a publish's `<name>-<version>.sigstore` attachment
// before it stores the version. The registry's code is not public; what it checks is known from its refusals
// (HTTP 422, "Error verifying sigstore provenance bundle: <reason>") that users have reported:
//   - sigstore-js' verification messages, passed through ("error refreshing TUF metadata"),
//   - "Missing SourceRepositoryRef in signing certificate",
//   - "Unsupported GitHub Actions runner environment: "self-hosted". Only "github-hosted" runners are supported
//     when publishing with provenance.",
//   - "Unsupported GitHub Actions source repository visibility: "private". Only public source repositories are
//     supported when publishing with provenance.",
//   - "Failed to validate repository information: package.json: "repository.url" is "<url>", expected to match
//     "https://github.com/<owner>/<repo>" from provenance" (compared with the letter case kept).
// The statement's subject is checked with the texts of libnpmpublish's own verifyProvenance (lib/provenance.js),
// which makes the same check of a --provenance-file bundle. Everything else says "(emulator)".
import { createHash } from 'node:crypto';
import { type Bundle, bundleFromJSON } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { GITHUB_ISSUER, GITLAB_ISSUER, type GitLabPublisher } from './issuer.ts';
import { type Extensions, extensionText, type FulcioExtension, verifyBundle } from './sigstore-verify.ts';

export const PROVENANCE_REFUSAL = 'Error verifying sigstore provenance bundle';
const BUNDLE_MEDIA_TYPE =
  /^application\/vnd\.dev\.sigstore\.bundle(\.v0\.[123]\+json|\+json;version=0\.[123])$/;
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const SLSA_PREDICATE_TYPES = ['https://slsa.dev/provenance/v1', 'https://slsa.dev/provenance/v0.2'];

/** A refusal: the message is the text after "Error verifying sigstore provenance bundle: ". */
export class ProvenanceError extends Error {}

export interface ProvenanceCheck {
  trustedRoot: TrustedRoot;
  /** The package and version being published, and the attached tarball. */
  name: string;
  version: string;
  tarball: Buffer;
  /** package.json's `repository` as published (a string or {url}). */
  repository: unknown;
  /** With a token minted by trusted publishing: the publisher's repository (owner/repo) and workflow file. */
  publisher?: { repository: string; file: string };
  /** With a token minted for a GitLab CI/CD publisher: that publisher. */
  gitlabPublisher?: GitLabPublisher;
}

export interface VerifiedProvenance {
  predicateType: string;
  logIndex: string;
  bundle: Bundle;
}

/** npm-package-arg's toPurl for the default registry, which libnpmpublish names the subject with. */
const npmPurl = (name: string, version: string): string => `pkg:npm/${name.replace(/^@/, '%40')}@${version}`;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The attachment's checks: libnpmpublish sends the bundle's JSON as text, its media type and its length. */
export function provenanceBundleJson(attachment: unknown): Record<string, unknown> {
  if (!isObject(attachment) || typeof attachment.data !== 'string')
    throw new ProvenanceError('the .sigstore attachment has no data (emulator)');
  if (typeof attachment.content_type !== 'string' || !BUNDLE_MEDIA_TYPE.test(attachment.content_type))
    throw new ProvenanceError(
      `the .sigstore attachment's content_type ${JSON.stringify(attachment.content_type)} is not a Sigstore bundle media type (emulator)`,
    );
  if (attachment.length !== attachment.data.length)
    throw new ProvenanceError(
      `the .sigstore attachment's length ${String(attachment.length)} is not that of its data, ${attachment.data.length} (emulator)`,
    );
  let json: unknown;
  try {
    json = JSON.parse(attachment.data);
  } catch (err) {
    throw new ProvenanceError(`Invalid provenance provided: ${(err as Error).message}`);
  }
  if (!isObject(json)) throw new ProvenanceError('Invalid provenance provided: not a JSON object (emulator)');
  if (json.mediaType !== attachment.content_type)
    throw new ProvenanceError(
      `the bundle's mediaType ${JSON.stringify(json.mediaType)} is not the attachment's content_type (emulator)`,
    );
  return json;
}

/** package.json's repository URL as the registry compares it: without `git+` and `.git` (emulator's reading). */
function repositoryUrl(repository: unknown): string {
  const url = typeof repository === 'string' ? repository : isObject(repository) ? repository.url : '';
  return typeof url === 'string' ? url : '';
}
const comparable = (url: string): string =>
  url
    .replace(/^git\+/, '')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');

/**
 * The registry's checks of one provenance bundle (already parsed from the attachment): the bundle verifies
 * against the trust root; its certificate is a GitHub-hosted run of a public repository (and, with trusted
 * publishing, the publisher's workflow); the statement is SLSA provenance of this package's tarball naming the
 * certificate's workflow; package.json names the certificate's repository.
 */
export function verifyProvenance(json: Record<string, unknown>, check: ProvenanceCheck): VerifiedProvenance {
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    throw new ProvenanceError((err as Error).message);
  }
  if (bundle.content.$case !== 'dsseEnvelope')
    throw new ProvenanceError('the bundle holds no DSSE envelope (emulator)');
  let extensions: Extensions;
  try {
    extensions = verifyBundle(bundle, check.trustedRoot);
  } catch (err) {
    throw new ProvenanceError((err as Error).message);
  }
  const certificate = (name: FulcioExtension, known = false): string => {
    const text = extensionText(extensions, name);
    const extension = name.replace(/^OIDC/, '');
    if (text === undefined)
      throw new ProvenanceError(`Missing ${extension} in signing certificate${known ? '' : ' (emulator)'}`);
    return text;
  };
  const issuer = certificate('OIDCIssuerV2');
  const gitlab = issuer === GITLAB_ISSUER;
  if (issuer !== GITHUB_ISSUER && !gitlab)
    throw new ProvenanceError(
      `Unsupported OIDC issuer: "${issuer}" (emulator: only GitHub Actions and GitLab)`,
    );
  certificate('OIDCSourceRepositoryRef', true);
  const runner = certificate('RunnerEnvironment');
  if (runner !== (gitlab ? 'gitlab-hosted' : 'github-hosted'))
    throw new ProvenanceError(
      gitlab
        ? `Unsupported GitLab CI/CD runner environment: "${runner}". Only "gitlab-hosted" runners are supported when publishing with provenance. (emulator)`
        : `Unsupported GitHub Actions runner environment: "${runner}". Only "github-hosted" runners are supported when publishing with provenance.`,
    );
  const visibility = certificate('SourceRepositoryVisibilityAtSigning');
  if (visibility !== 'public')
    throw new ProvenanceError(
      `Unsupported ${gitlab ? 'GitLab CI/CD' : 'GitHub Actions'} source repository visibility: "${visibility}". Only public source repositories are supported when publishing with provenance.`,
    );
  const sourceRepository = certificate('OIDCSourceRepositoryURI');
  const buildConfig = certificate('OIDCBuildConfigURI');
  // The publisher's workflow: GitHub's under .github/workflows/, GitLab's CI file after the project's `//`.
  const publisher = check.gitlabPublisher
    ? {
        name: `${check.gitlabPublisher.ciFile} @ ${check.gitlabPublisher.namespace}/${check.gitlabPublisher.project}`,
        workflow: `https://gitlab.com/${check.gitlabPublisher.namespace}/${check.gitlabPublisher.project}//${check.gitlabPublisher.ciFile}@`,
      }
    : check.publisher && {
        name: `${check.publisher.file} @ ${check.publisher.repository}`,
        workflow: `https://github.com/${check.publisher.repository}/.github/workflows/${check.publisher.file}@`,
      };
  if (publisher && !buildConfig.startsWith(publisher.workflow))
    throw new ProvenanceError(
      `the signing certificate's workflow ${buildConfig} is not the trusted publisher's (${publisher.name}) (emulator)`,
    );

  // libnpmpublish's extractProvenance and verifyProvenance.
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new ProvenanceError(`payload type ${envelope.payloadType} is not in-toto (emulator)`);
  let statement: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(envelope.payload.toString('utf8'));
    if (!isObject(parsed)) throw new Error('not a JSON object');
    statement = parsed;
  } catch (err) {
    throw new ProvenanceError(`Failed to parse payload from dsseEnvelope: ${(err as Error).message}`);
  }
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  if (!subjects.length) throw new ProvenanceError('No subject found in sigstore bundle payload');
  if (subjects.length > 1)
    throw new ProvenanceError('Found more than one subject in the sigstore bundle payload');
  const subject = isObject(subjects[0]) ? subjects[0] : {};
  const purl = npmPurl(check.name, check.version);
  if (subject.name !== purl)
    throw new ProvenanceError(
      `Provenance subject ${String(subject.name)} does not match the package: ${purl}`,
    );
  const sha512 = createHash('sha512').update(check.tarball).digest('hex');
  if (!isObject(subject.digest) || subject.digest.sha512 !== sha512)
    throw new ProvenanceError('Provenance subject digest does not match the package');
  const predicateType = String(statement.predicateType);
  if (!SLSA_PREDICATE_TYPES.includes(predicateType))
    throw new ProvenanceError(`Unsupported predicate type: ${predicateType} (emulator)`);
  // The statement's workflow is the certificate's: a statement cannot claim another build than the one signed.
  const predicate = isObject(statement.predicate) ? statement.predicate : {};
  const definition = isObject(predicate.buildDefinition) ? predicate.buildDefinition : {};
  const external = isObject(definition.externalParameters) ? definition.externalParameters : {};
  const workflow = isObject(external.workflow) ? external.workflow : {};
  if (predicateType === SLSA_PREDICATE_TYPES[0]) {
    const named = `${String(workflow.repository)}/${String(workflow.path)}@${String(workflow.ref)}`;
    if (named !== buildConfig)
      throw new ProvenanceError(
        `the statement's workflow ${named} is not the signing certificate's ${buildConfig} (emulator)`,
      );
  } else {
    // SLSA v0.2 (npm's GitLab provenance) names the project it was built from.
    const invocation = isObject(predicate.invocation) ? predicate.invocation : {};
    const config = isObject(invocation.configSource) ? invocation.configSource : {};
    if (config.uri !== `git+${sourceRepository}`)
      throw new ProvenanceError(
        `the statement's source ${String(config.uri)} is not the signing certificate's ${sourceRepository} (emulator)`,
      );
  }

  const url = repositoryUrl(check.repository);
  if (comparable(url) !== sourceRepository)
    throw new ProvenanceError(
      `Failed to validate repository information: package.json: "repository.url" is "${url}", expected to match "${sourceRepository}" from provenance`,
    );
  return { predicateType, logIndex: bundle.verificationMaterial.tlogEntries[0]?.logIndex ?? '', bundle };
}
