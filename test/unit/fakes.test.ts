// The emulators' own negative tests, over real HTTP: each refusal must come with Warehouse's status and text.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, beforeEach, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { blake2b } from 'hash-wasm';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { defaultClaims, type Issuer, startIssuer } from '../fakes/issuer.ts';
import { type PyPI, startPyPI } from '../fakes/pypi.ts';
import { makeWheel, type WheelSpec } from '../fakes/wheel.ts';

let issuer: Issuer;
let dir: string;

before(async () => {
  issuer = await startIssuer();
  dir = await mkdtemp(join(tmpdir(), 'tp-fakes-'));
});
after(async () => {
  await issuer.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  issuer.claims = defaultClaims();
});

async function startRegistry(
  t: TestContext,
  opts: Omit<Parameters<typeof startPyPI>[0], 'issuer'> = {},
): Promise<PyPI> {
  const pypi = await startPyPI({ issuer, ...opts });
  t.after(() => pypi.close());
  return pypi;
}

async function jwt(audience = 'pypi'): Promise<string> {
  const res = await fetch(`${issuer.requestUrl}&audience=${audience}`, {
    headers: { authorization: `bearer ${issuer.requestToken}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { value: string }).value;
}

async function mint(pypi: PyPI, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${pypi.origin}/_/oidc/mint-token`, {
    method: 'POST',
    body: JSON.stringify({ token }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Asserts the exchange fails the way Warehouse words it. */
async function assertMintRefused(
  pypi: PyPI,
  token: string,
  code: string,
  description: string,
): Promise<void> {
  assert.deepEqual(await mint(pypi, token), {
    status: 422,
    body: { message: 'Token request failed', errors: [{ code, description }] },
  });
}

async function apiToken(pypi: PyPI): Promise<string> {
  const { status, body } = await mint(pypi, await jwt());
  assert.equal(status, 200, JSON.stringify(body));
  return String(body.token);
}

interface Dist {
  filename: string;
  data: Buffer;
  fields: [string, string][];
}

/** A file with the form fields twine would send for it. */
async function dist(filename: string, data: Buffer, name = 'tp-sample', version = '0.1.0'): Promise<Dist> {
  const sdist = !filename.endsWith('.whl');
  return {
    filename,
    data,
    fields: [
      [':action', 'file_upload'],
      ['protocol_version', '1'],
      ['name', name],
      ['version', version],
      ['filetype', sdist ? 'sdist' : 'bdist_wheel'],
      ['pyversion', sdist ? '' : 'py3'],
      ['metadata_version', '2.1'],
      ['sha256_digest', createHash('sha256').update(data).digest('hex')],
      ['blake2_256_digest', await blake2b(data, 256)],
    ],
  };
}

async function wheel(spec: Partial<WheelSpec> = {}): Promise<Dist> {
  const path = await makeWheel(dir, { name: 'tp-sample', version: '0.1.0', ...spec });
  return dist(basename(path), await readFile(path), spec.name, spec.version);
}

const sdist = async (filename = 'tp_sample-0.1.0.tar.gz', content = 'sdist bytes'): Promise<Dist> =>
  dist(filename, Buffer.from(content));

const withField = (d: Dist, name: string, value: string): Dist => ({
  ...d,
  fields: [...d.fields.filter(([n]) => n !== name), [name, value]],
});

async function upload(
  pypi: PyPI,
  token: string,
  d: Dist,
  headers: Record<string, string> = {},
): Promise<{ status: number; reason: string; body: string }> {
  const form = new FormData();
  for (const [name, value] of d.fields) form.append(name, value);
  form.append('content', new Blob([d.data], { type: 'application/octet-stream' }), d.filename);
  const res = await fetch(pypi.uploadUrl, {
    method: 'POST',
    body: form,
    headers: { authorization: `Basic ${Buffer.from(`__token__:${token}`).toString('base64')}`, ...headers },
  });
  return { status: res.status, reason: res.statusText, body: await res.text() };
}

async function assertUploadRefused(
  pypi: PyPI,
  token: string,
  d: Dist,
  status: number,
  reason: string,
): Promise<void> {
  const res = await upload(pypi, token, d);
  assert.equal(res.reason, reason);
  assert.equal(res.status, status);
  assert.ok(
    res.body.replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code))).includes(reason),
    res.body,
  );
  assert.equal(pypi.uploads.at(-1)?.status, status);
}

test('issuer: refuses a token request without the right bearer token', async () => {
  const url = `${issuer.requestUrl}&audience=pypi`;
  assert.equal((await fetch(url)).status, 401);
  assert.equal((await fetch(url, { headers: { authorization: 'bearer nope' } })).status, 401);
  assert.equal(
    (await fetch(url, { headers: { authorization: `BEARER ${issuer.requestToken}` } })).status,
    200,
  );
  assert.deepEqual(
    issuer.requests.slice(-3).map(({ audience, authorized }) => ({ audience, authorized })),
    [
      { audience: 'pypi', authorized: false },
      { audience: 'pypi', authorized: false },
      { audience: 'pypi', authorized: true },
    ],
  );
});

test('issuer: RS256 JWT with kid, the requested audience and a fresh jti, verifiable against its JWKS', async () => {
  const [a, b] = [await jwt(), await jwt()];
  assert.deepEqual(issuer.issued.slice(-2), [a, b]);
  assert.equal(decodeProtectedHeader(a).alg, 'RS256');
  assert.ok(decodeProtectedHeader(a).kid);
  const claims = await issuer.verify(a, 'pypi');
  assert.equal(claims.repository, 'octo-org/tp-sample');
  assert.equal(claims.exp, Number(claims.iat) + 300);
  assert.notEqual(claims.jti, decodeJwt(b).jti);
  await assert.rejects(issuer.verify(a, 'testpypi'));
});

test('pypi audience: 200, or 403 when trusted publishing is disabled, 404 when unsupported', async (t) => {
  const pypi = await startRegistry(t, { audience: 'testpypi' });
  const get = async () => {
    const res = await fetch(`${pypi.origin}/_/oidc/audience`);
    return { status: res.status, text: await res.text() };
  };
  assert.deepEqual(await get(), { status: 200, text: '{"audience":"testpypi"}' });
  pypi.audienceStatus = 403;
  assert.deepEqual(await get(), {
    status: 403,
    text: '{"message":"Trusted publishing functionality not enabled"}',
  });
  await assertMintRefused(
    pypi,
    await jwt('testpypi'),
    'not-enabled',
    'github trusted publishing functionality not enabled',
  );
  pypi.audienceStatus = 404;
  assert.equal((await get()).status, 404);
});

test('pypi mint: a good JWT gets a 15-minute token', async (t) => {
  const pypi = await startRegistry(t);
  const { status, body } = await mint(pypi, await jwt());
  assert.equal(status, 200);
  assert.equal(body.success, true);
  assert.match(String(body.token), /^pypi-/);
  assert.ok(Math.abs(Number(body.expires) - (Date.now() / 1000 + 900)) < 5);
  assert.deepEqual(pypi.minted, [body.token]);
});

test('pypi mint: expires is the lifetime set from the mint, to the millisecond', async (t) => {
  // A lifetime set just past the client's refresh margin must stay past it at the mint: whole seconds
  // rounded down took up to a second off, and the first upload found a fresh token expiring.
  const pypi = await startRegistry(t);
  pypi.tokenLifetimeSeconds = 121;
  for (let i = 0; i < 5; i++) {
    const token = await jwt();
    const before = Date.now();
    const { body } = await mint(pypi, token);
    const expiresMs = Number(body.expires) * 1000;
    assert.ok(expiresMs >= before + 121_000, `expires ${body.expires}, minted at ${before}`);
    assert.ok(expiresMs <= Date.now() + 121_000, `expires ${body.expires}: no later than the lifetime`);
    await sleep(137);
  }
});

test('pypi mint: a JWT signed by another key is an invalid token', async (t) => {
  const pypi = await startRegistry(t);
  const good = await jwt();
  const { privateKey } = await generateKeyPair('RS256');
  const forged = await new SignJWT(decodeJwt(good))
    .setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(good).kid })
    .sign(privateKey);
  await assertMintRefused(pypi, forged, 'invalid-token', 'malformed or invalid token');
});

test('pypi mint: wrong audience or an expired JWT is an invalid token', async (t) => {
  const pypi = await startRegistry(t);
  await assertMintRefused(pypi, await jwt('testpypi'), 'invalid-token', 'malformed or invalid token');
  // Beyond Warehouse's 30 s leeway.
  issuer.claims.exp = Math.floor(Date.now() / 1000) - 31;
  await assertMintRefused(pypi, await jwt(), 'invalid-token', 'malformed or invalid token');
});

test('pypi mint: malformed payloads and foreign issuers', async (t) => {
  const pypi = await startRegistry(t);
  await assertMintRefused(pypi, 'not.a.jwt', 'invalid-payload', 'malformed JWT');
  issuer.claims.iss = 'https://gitlab.com';
  await assertMintRefused(pypi, await jwt(), 'invalid-payload', 'unknown trusted publishing issuer');
  const res = await fetch(`${pypi.origin}/_/oidc/mint-token`, { method: 'POST', body: '{}' });
  const body = (await res.json()) as { errors: { code: string; description: string }[] };
  assert.equal(res.status, 422);
  assert.equal(body.errors[0]?.code, 'invalid-payload');
  assert.match(
    body.errors[0]?.description ?? '',
    /^1 validation error for TokenPayload\ntoken\n {2}Field required/,
  );
});

test('pypi mint: a jti is single use, and only a successful exchange burns it', async (t) => {
  const pypi = await startRegistry(t);
  issuer.claims.environment = 'staging';
  const token = await jwt();
  await assertMintRefused(
    pypi,
    token,
    'invalid-publisher',
    'valid token, but no corresponding publisher (Publisher with matching claims was not found)',
  );
  pypi.publisher.environment = 'Staging';
  assert.equal((await mint(pypi, token)).status, 200);
  await assertMintRefused(pypi, token, 'invalid-reuse-token', 'invalid token: already used');
});

const NOT_FOUND =
  'valid token, but no corresponding publisher (Publisher with matching claims was not found)';

test('pypi mint: the publisher lookup is exact on owner and repository name, loose on environment', async (t) => {
  const pypi = await startRegistry(t);
  issuer.claims.repository_owner = 'Octo-Org';
  issuer.claims.repository = 'Octo-Org/tp-sample';
  await assertMintRefused(pypi, await jwt(), 'invalid-publisher', NOT_FOUND);
  // Warehouse's claim check compares repositories case-insensitively, but its SQL lookup by name comes first.
  issuer.claims = { ...defaultClaims(), repository: 'octo-org/TP-Sample' };
  await assertMintRefused(pypi, await jwt(), 'invalid-publisher', NOT_FOUND);
  issuer.claims = { ...defaultClaims(), repository_owner_id: '7654321' };
  await assertMintRefused(pypi, await jwt(), 'invalid-publisher', NOT_FOUND);
  issuer.claims = { ...defaultClaims(), environment: 'RELEASE' };
  assert.equal((await mint(pypi, await jwt())).status, 200);
  issuer.claims = { ...defaultClaims(), environment: undefined };
  await assertMintRefused(pypi, await jwt(), 'invalid-publisher', NOT_FOUND);
  pypi.publisher.environment = undefined;
  assert.equal((await mint(pypi, await jwt())).status, 200);
});

test('pypi mint: the workflow is the one job_workflow_ref names (the called one in a reusable workflow)', async (t) => {
  const pypi = await startRegistry(t);
  issuer.claims.job_workflow_ref = 'octo-org/shared/.github/workflows/pypi.yml@refs/heads/main';
  await assertMintRefused(pypi, await jwt(), 'invalid-publisher', NOT_FOUND);
  issuer.claims.job_workflow_ref = 'octo-org/tp-sample/.github/workflows/release.yml@refs/heads/main';
  await assertMintRefused(
    pypi,
    await jwt(),
    'invalid-publisher',
    'valid token, but no corresponding publisher (The job_workflow_ref claim does not match, expecting one of ' +
      "['octo-org/tp-sample/.github/workflows/release.yml@0123456789abcdef0123456789abcdef01234567', " +
      "'octo-org/tp-sample/.github/workflows/release.yml@refs/tags/v0.1.0'], " +
      "got 'octo-org/tp-sample/.github/workflows/release.yml@refs/heads/main')",
  );
});

test('pypi mint: pull_request_target and missing claims are refused', async (t) => {
  const pypi = await startRegistry(t);
  issuer.claims.event_name = 'pull_request_target';
  await assertMintRefused(
    pypi,
    await jwt(),
    'invalid-publisher',
    "valid token, but no corresponding publisher (Publishing from a workflow invoked via 'pull_request_target' is not supported.)",
  );
  issuer.claims = { ...defaultClaims(), sha: undefined };
  await assertMintRefused(
    pypi,
    await jwt(),
    'invalid-publisher',
    "valid token, but no corresponding publisher (Missing claim 'sha')",
  );
});

test('pypi upload: a token it did not mint is refused', async (t) => {
  const pypi = await startRegistry(t);
  await assertUploadRefused(
    pypi,
    'pypi-nope',
    await wheel(),
    403,
    `Invalid or non-existent authentication information. See ${pypi.origin}/help/#invalid-auth for more information.`,
  );
});

test('pypi upload: the token only covers the publisher projects, and only until it expires', async (t) => {
  const pypi = await startRegistry(t);
  const token = await apiToken(pypi);
  await assertUploadRefused(
    pypi,
    token,
    await wheel({ name: 'other-project' }),
    403,
    "Invalid API Token: OIDC scoped token is not valid for project 'other-project'",
  );
  pypi.tokenLifetimeSeconds = 0;
  await assertUploadRefused(
    pypi,
    await apiToken(pypi),
    await wheel(),
    403,
    'Invalid API Token: token is expired',
  );
});

test('pypi upload: digests must match the content', async (t) => {
  const pypi = await startRegistry(t);
  await assertUploadRefused(
    pypi,
    await apiToken(pypi),
    withField(await wheel(), 'sha256_digest', '0'.repeat(64)),
    400,
    'The digest supplied does not match a digest calculated from the uploaded file.',
  );
});

test("pypi upload: the file name must carry the form's project and version", async (t) => {
  const pypi = await startRegistry(t);
  const token = await apiToken(pypi);
  const w = await wheel();
  await assertUploadRefused(
    pypi,
    token,
    withField(w, 'version', '0.2.0'),
    400,
    "Version in filename should be '0.2.0' not '0.1.0'.",
  );
  await assertUploadRefused(
    pypi,
    token,
    { ...w, filename: 'tp.sample-0.1.0-py3-none-any.whl' },
    400,
    "Filename 'tp.sample-0.1.0-py3-none-any.whl' should contain the normalized project name 'tp_sample', not 'tp.sample'.",
  );
  pypi.publisher.projects.push('other');
  await assertUploadRefused(
    pypi,
    token,
    withField(w, 'name', 'other'),
    400,
    "Start filename for 'other' with 'other'.",
  );
  await assertUploadRefused(
    pypi,
    token,
    await sdist('tp-sample-0.1.0.tar.gz'),
    400,
    "Filename 'tp-sample-0.1.0.tar.gz' is invalid, should be 'tp_sample-0.1.0.tar.gz'.",
  );
  await assertUploadRefused(
    pypi,
    token,
    { ...w, filename: 'tp_sample-0.1.0-cp312-cp312-linux_x86_64.whl' },
    400,
    "Binary wheel 'tp_sample-0.1.0-cp312-cp312-linux_x86_64.whl' has an unsupported platform tag 'linux_x86_64'.",
  );
  assert.equal(pypi.files.size, 0);
});

test('pypi upload: a file name is taken once; the identical file again is fine', async (t) => {
  const pypi = await startRegistry(t);
  const token = await apiToken(pypi);
  const first = await wheel();
  assert.equal((await upload(pypi, token, first)).status, 200);
  assert.equal((await upload(pypi, token, first)).status, 200);
  const other = await wheel({ description: 'changed' });
  await assertUploadRefused(
    pypi,
    token,
    other,
    400,
    `File already exists ('tp_sample-0.1.0-py3-none-any.whl', with blake2_256 hash '${other.fields.find(([n]) => n === 'blake2_256_digest')?.[1]}'). See ${pypi.origin}/help/#file-name-reuse for more information.`,
  );
  assert.equal(
    pypi.files.get(first.filename)?.sha256,
    first.fields.find(([n]) => n === 'sha256_digest')?.[1],
  );
});

test('pypi upload: one sdist per release', async (t) => {
  const pypi = await startRegistry(t);
  const token = await apiToken(pypi);
  assert.equal((await upload(pypi, token, await sdist())).status, 200);
  await assertUploadRefused(
    pypi,
    token,
    await sdist('tp_sample-0.1.0.zip', 'zip'),
    400,
    'Only one sdist may be uploaded per release.',
  );
});

test('pypi upload: form and metadata errors in forklift words', async (t) => {
  const pypi = await startRegistry(t);
  const token = await apiToken(pypi);
  const w = await wheel();
  await assertUploadRefused(
    pypi,
    token,
    withField(w, 'pyversion', ''),
    400,
    'Invalid value for pyversion. Error: Python version is required for binary distribution uploads.',
  );
  await assertUploadRefused(
    pypi,
    token,
    withField(w, 'license_file', 'LICENSE'),
    400,
    'license-file introduced in metadata version 2.4, not 2.1. See https://packaging.python.org/specifications/core-metadata for more information.',
  );
  await assertUploadRefused(
    pypi,
    token,
    withField(w, 'metadata_version', '2.0'),
    400,
    "'2.0' is not a valid metadata version. See https://packaging.python.org/specifications/core-metadata for more information.",
  );
  await assertUploadRefused(
    pypi,
    token,
    { ...w, fields: [...w.fields, ['summary', 'a'], ['summary', 'b']] },
    400,
    "'summary' has invalid data. See https://packaging.python.org/specifications/core-metadata for more information.",
  );
  const res = await upload(pypi, token, { ...w, fields: w.fields.filter(([n]) => n !== ':action') });
  assert.equal(res.status, 404);
});

test('pypi upload: size limit, and the message in the format Accept asks for', async (t) => {
  const pypi = await startRegistry(t, { maxFileSize: 1024 });
  const token = await apiToken(pypi);
  const big = await wheel({ padBytes: 4096 });
  await assertUploadRefused(
    pypi,
    token,
    big,
    400,
    `File too large. Limit for project 'tp-sample' is 0 MB. See ${pypi.origin}/project-management/storage-limits#requesting-a-file-size-limit-increase for more information.`,
  );
  const json = JSON.parse((await upload(pypi, token, big, { accept: 'application/json' })).body) as Record<
    string,
    string
  >;
  assert.equal(json.title, 'Bad Request');
  assert.match(json.code ?? '', /^400 File too large\./);
});

test('pypi upload: a chunked body is refused with 411', async (t) => {
  const pypi = await startRegistry(t);
  const res = await fetch(pypi.uploadUrl, {
    method: 'POST',
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('--x\r\n'));
        controller.close();
      },
    }),
    duplex: 'half',
    headers: { 'content-type': 'multipart/form-data; boundary=x' },
  });
  assert.equal(res.status, 411);
  assert.equal(res.statusText, 'Length Required');
  assert.equal(pypi.uploads.at(-1)?.status, 411);
});

test('faults: statuses with Retry-After and connection resets, one per request, then normal service', async (t) => {
  const pypi = await startRegistry(t);
  const token = await apiToken(pypi);
  pypi.retryAfterSeconds = 7;
  pypi.faults.upload.push(429, 'reset');
  pypi.faults.mint.push(503);

  const limited = await fetch(pypi.uploadUrl, { method: 'POST', body: 'x' });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '7');
  await assert.rejects(upload(pypi, token, await wheel({ padBytes: 1 << 20 })));
  const unavailable = await fetch(`${pypi.origin}/_/oidc/mint-token`, { method: 'POST', body: '{}' });
  assert.equal(unavailable.status, 503);
  assert.equal((await upload(pypi, token, await wheel())).status, 200);
  assert.equal(pypi.mintRequests, 2);
  assert.deepEqual(
    pypi.uploads.map((u) => u.status),
    [200],
  );
});

test('faults: a hung request waits until close(), which ends it', async () => {
  const spare = await startIssuer();
  spare.faults.push('hang');
  const hanging = fetch(`${spare.requestUrl}&audience=pypi`, {
    headers: { authorization: `bearer ${spare.requestToken}` },
  });
  for (let i = 0; i < 200 && spare.requests.length === 0; i++) await sleep(10);
  assert.equal(spare.requests.length, 1);
  await spare.close();
  await assert.rejects(hanging);
});
