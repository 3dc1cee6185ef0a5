// Sigstore on 127.0.0.1: Fulcio (certificate authority, with its CT log) and Rekor (transparency log) from
// @sigstore/mock, each on its own port, and the trust root that verifies what they issue. Fulcio checks the
// OIDC token the way the public instance does for GitHub Actions (issuer's signature, audience 'sigstore').
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, rekorHandler } from '@sigstore/mock';
import { HashAlgorithm, PublicKeyDetails, type TrustedRoot } from '@sigstore/protobuf-specs';
import { decodeJwt } from 'jose';
import { type Fault, fault, listen, readBody, send, sendJson } from './http.ts';
import { GITLAB_ISSUER, type GitLabIssuer, type Issuer } from './issuer.ts';

export interface Sigstore {
  fulcioUrl: string;
  rekorUrl: string;
  /** Verifies what these instances issued: their CA root, CT log key and Rekor key. */
  trustedRoot: TrustedRoot;
  /** Certificates issued, and the OIDC tokens Fulcio was shown (accepted or not). */
  readonly certificates: number;
  tokens: string[];
  /** Log index of every Rekor entry made, in order. */
  logIndexes: string[];
  /** Consumed one per request before normal handling. */
  faults: { fulcio: Fault[]; rekor: Fault[] };
  close(): Promise<void>;
}

type MockHandler = ReturnType<typeof fulcioHandler>;

/** The claim the mock copies into the certificate's SAN. */
const SAN_CLAIM = 'x-fulcio-san';
const MiB = 1024 * 1024;

const ecKeyPair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Serves one mock handler (a path and a body → answer function) with a fault queue in front. */
function serve(handler: MockHandler, faults: Fault[], before?: (body: string) => Promise<string | Answer>) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://sigstore').pathname;
    if (req.method !== 'POST' || path !== handler.path) {
      req.resume();
      return sendJson(res, 404, { code: 5, message: 'Not Found' });
    }
    if (fault(faults, req, res, { 'content-type': 'application/json' })) return;
    const body = (await readBody(req, MiB))?.toString() ?? '';
    const checked = before ? await before(body) : body;
    const answer = typeof checked === 'string' ? await handler.fn(checked) : checked;
    const text =
      typeof answer.response === 'string' ? answer.response : Buffer.from(answer.response.buffer).toString();
    send(res, answer.statusCode, text, { 'content-type': answer.contentType ?? 'text/plain' });
  };
}

interface Answer {
  statusCode: number;
  response: string;
  contentType?: string;
}

interface ProposedDsse {
  apiVersion?: string;
  kind?: string;
  spec?: { proposedContent?: { envelope?: string; verifiers?: string[] } };
}

interface ProposedHashedRekord {
  apiVersion?: string;
  kind?: string;
  spec?: {
    data?: { hash?: { algorithm?: string; value?: string } };
    signature?: { content?: string; publicKey?: { content?: string } };
  };
}

/**
 * What Rekor logs for a hashedrekord v0.0.1 entry (pkg/types/hashedrekord/v0.0.1/entry.go): the digest, the
 * signature and its key, as proposed. Rekor also checks the signature over the digest, which Node cannot do for
 * a prehashed ECDSA message; the registries' verifiers check it against the artifact itself.
 */
function canonicalHashedRekordEntry(proposed: ProposedHashedRekord): object {
  const { data, signature } = proposed.spec ?? {};
  const hash = data?.hash;
  if (
    proposed.apiVersion !== '0.0.1' ||
    hash?.algorithm !== 'sha256' ||
    !/^[0-9a-f]{64}$/.test(hash.value ?? '') ||
    !signature?.content ||
    !signature.publicKey?.content
  )
    throw new Error('a hashedrekord v0.0.1 entry needs a sha256 digest, a signature and its key');
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: hash.value } },
      signature: { content: signature.content, publicKey: { content: signature.publicKey.content } },
    },
  };
}

/**
 * What Rekor logs for a proposed dsse v0.0.1 entry (pkg/types/dsse/v0.0.1/entry.go): the envelope checked
 * against the verifier, then only the envelope's and payload's hashes and the signatures with their keys. The
 * mock would log the proposal as it came, which no verifier accepts.
 */
function canonicalDsseEntry(proposed: ProposedDsse): object {
  const content = proposed.spec?.proposedContent;
  if (proposed.kind !== 'dsse' || proposed.apiVersion !== '0.0.1' || !content?.envelope)
    throw new Error('only dsse v0.0.1 entries are logged here');
  const envelope = JSON.parse(content.envelope) as {
    payload: string;
    payloadType: string;
    signatures: { sig: string }[];
  };
  const payload = Buffer.from(envelope.payload, 'base64');
  const pae = Buffer.concat([
    Buffer.from(
      `DSSEv1 ${Buffer.byteLength(envelope.payloadType)} ${envelope.payloadType} ${payload.length} `,
    ),
    payload,
  ]);
  const verifier = content.verifiers?.[0] ?? '';
  const key = createPublicKey(Buffer.from(verifier, 'base64').toString());
  const signatures = envelope.signatures.map(({ sig }) => {
    if (!verify('sha256', pae, key, Buffer.from(sig, 'base64')))
      throw new Error('all signatures must have a key that verifies it');
    return { signature: sig, verifier };
  });
  const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(content.envelope) },
      payloadHash: { algorithm: 'sha256', value: sha256(payload) },
      signatures: signatures.sort((a, b) => (a.signature < b.signature ? -1 : 1)),
    },
  };
}

/** Fulcio's certificate extensions for a gitlab.com job (pkg/identity/gitlabcom), by OID, from its claims. */
function gitlabExtensions(claims: Record<string, unknown>): { oid: string; value: string }[] {
  const claim = (name: string) => String(claims[name] ?? '');
  const project = `https://gitlab.com/${claim('project_path')}`;
  const values: [string, string][] = [
    ['1.3.6.1.4.1.57264.1.8', GITLAB_ISSUER],
    ['1.3.6.1.4.1.57264.1.9', `https://${claim('ci_config_ref_uri')}`],
    ['1.3.6.1.4.1.57264.1.10', claim('ci_config_sha')],
    ['1.3.6.1.4.1.57264.1.11', claim('runner_environment')],
    ['1.3.6.1.4.1.57264.1.12', project],
    ['1.3.6.1.4.1.57264.1.13', claim('sha')],
    ['1.3.6.1.4.1.57264.1.14', claim('ref_path')],
    ['1.3.6.1.4.1.57264.1.15', claim('project_id')],
    ['1.3.6.1.4.1.57264.1.16', `https://gitlab.com/${claim('namespace_path')}`],
    ['1.3.6.1.4.1.57264.1.17', claim('namespace_id')],
    ['1.3.6.1.4.1.57264.1.18', `https://${claim('ci_config_ref_uri')}`],
    ['1.3.6.1.4.1.57264.1.19', claim('ci_config_sha')],
    ['1.3.6.1.4.1.57264.1.20', claim('pipeline_source')],
    ['1.3.6.1.4.1.57264.1.21', `${project}/-/jobs/${claim('job_id')}`],
    ['1.3.6.1.4.1.57264.1.22', claim('project_visibility')],
  ];
  return values.map(([oid, value]) => ({ oid, value }));
}

const pem = (der: ArrayBufferView) =>
  `-----BEGIN CERTIFICATE-----\n${Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')}\n-----END CERTIFICATE-----\n`;

export async function startSigstore(opts: { issuer: Issuer; gitlab?: GitLabIssuer }): Promise<Sigstore> {
  const ctLog = await initializeCTLog(ecKeyPair());
  const ca = await initializeCA(ecKeyPair(), ctLog);
  const faults: Sigstore['faults'] = { fulcio: [], rekor: [] };
  const seen = { certificates: 0, tokens: [] as string[], logIndexes: [] as string[] };

  /**
   * Fulcio's own check of the token (pkg/api: "There was an error processing the identity token"), then the
   * mock. The mock decodes the token without verifying it and copies one claim verbatim into the SAN, while
   * Fulcio's GitHub Actions principal makes the SAN https://github.com/<job_workflow_ref>: the mock gets an
   * unsigned copy of the verified claims with that URI added.
   */
  const checkToken = async (body: string): Promise<string | Answer> => {
    const request = JSON.parse(body) as {
      credentials?: { oidcIdentityToken?: string };
      publicKeyRequest?: { publicKey?: { content?: string } };
    };
    const jwt = request.credentials?.oidcIdentityToken ?? '';
    seen.tokens.push(jwt);
    let claims: Record<string, unknown>;
    let gitlab: GitLabIssuer | undefined;
    try {
      gitlab = decodeJwt(jwt).iss === GITLAB_ISSUER ? opts.gitlab : undefined;
      claims = await (gitlab ?? opts.issuer).verify(jwt, 'sigstore');
    } catch {
      const refusal = { code: 3, message: 'There was an error processing the identity token', details: [] };
      return { statusCode: 400, response: JSON.stringify(refusal), contentType: 'application/json' };
    }
    seen.certificates++;
    // The mock knows GitHub's claims only: a GitLab job's certificate is issued here, as Fulcio makes it.
    if (gitlab) {
      const key = (request.publicKeyRequest?.publicKey?.content ?? '').replace(
        /-{5}(BEGIN|END) [^-]*-{5}|\s/g,
        '',
      );
      const leaf = await ca.issueCertificate({
        publicKey: Buffer.from(key, 'base64'),
        subjectAltName: `https://${String(claims.ci_config_ref_uri)}`,
        extensions: gitlabExtensions(claims),
      });
      const chain = { certificates: [pem(leaf), pem(ca.rootCertificate)] };
      return {
        statusCode: 201,
        response: JSON.stringify({ signedCertificateEmbeddedSct: { chain } }),
        contentType: 'application/json',
      };
    }
    const forMock = { ...claims, [SAN_CLAIM]: `https://github.com/${String(claims.job_workflow_ref)}` };
    const unsigned = `${base64url({ alg: 'none' })}.${base64url(forMock)}.`;
    return JSON.stringify({ ...request, credentials: { oidcIdentityToken: unsigned } });
  };
  const fulcio = await listen(
    serve(fulcioHandler(ca, { subjectClaim: SAN_CLAIM }), faults.fulcio, checkToken),
  );

  // The log's checkpoints name its host, only known once it listens: the handler is bound after that.
  let logHandler: MockHandler | undefined;
  const rekor = await listen((req, res) => {
    if (!logHandler) throw new Error('Rekor is not ready');
    return serve(logHandler, faults.rekor)(req, res);
  });
  const rekorKeys = ecKeyPair();
  const logging = rekorHandler(await initializeTLog(rekor.origin, rekorKeys));
  logHandler = {
    path: logging.path,
    fn: async (body) => {
      let entry: string;
      try {
        const proposed = JSON.parse(body) as ProposedDsse | ProposedHashedRekord;
        entry = JSON.stringify(
          proposed.kind === 'hashedrekord'
            ? canonicalHashedRekordEntry(proposed as ProposedHashedRekord)
            : canonicalDsseEntry(proposed as ProposedDsse),
        );
      } catch (err) {
        return { statusCode: 400, response: JSON.stringify({ code: 400, message: (err as Error).message }) };
      }
      const answer = await logging.fn(entry);
      if (answer.statusCode === 201 && typeof answer.response === 'string') {
        for (const entry of Object.values(
          JSON.parse(answer.response) as Record<string, { logIndex: number }>,
        ))
          seen.logIndexes.push(String(entry.logIndex));
      }
      return answer;
    },
  };

  // Valid from a minute ago: Rekor's integrated time has whole seconds, the clock here has milliseconds.
  const validFor = { start: new Date(Date.now() - 60_000), end: undefined };
  const logInstance = (baseUrl: string, rawBytes: Buffer, keyId: Buffer) => ({
    baseUrl,
    hashAlgorithm: HashAlgorithm.SHA2_256,
    publicKey: { rawBytes, keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, validFor },
    logId: { keyId },
    checkpointKeyId: undefined,
    operator: 'sigstore.mock',
  });
  const rekorKey = rekorKeys.publicKey.export({ format: 'der', type: 'spki' });
  const trustedRoot: TrustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: fulcio.origin,
        certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer) }] },
        validFor,
        operator: 'sigstore.mock',
      },
    ],
    tlogs: [logInstance(rekor.origin, rekorKey, createHash('sha256').update(rekorKey).digest())],
    ctlogs: [logInstance('https://ctfe.sigstore.mock', ctLog.publicKey, Buffer.from(ctLog.logID.buffer))],
    timestampAuthorities: [],
  };
  return {
    fulcioUrl: fulcio.origin,
    rekorUrl: rekor.origin,
    trustedRoot,
    get certificates() {
      return seen.certificates;
    },
    tokens: seen.tokens,
    logIndexes: seen.logIndexes,
    faults,
    close: async () => {
      await Promise.all([fulcio.close(), rekor.close()]);
    },
  };
}
