import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { githubActions } from '../../src/ci/github.ts';
import { gitlabCi } from '../../src/ci/gitlab.ts';
import { audienceVariable } from '../../src/ci/id-token-variables.ts';
import { detectCi } from '../../src/ci/index.ts';
import { plainLog } from '../../src/ci/plain.ts';
import type { ActionError } from '../../src/errors.ts';
import { gitlabCiFile, gitlabProject } from '../../src/oidc.ts';
import { log, outputTo } from '../../src/output.ts';

/** An unsigned JWT: the CI seam only reads claims, the registry verifies. */
const jwt = (claims: Record<string, unknown>) =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;

describe('CI detection', () => {
  it('knows GitHub Actions, GitLab CI/CD, and a machine that is neither', () => {
    assert.equal(detectCi({ GITHUB_ACTIONS: 'true', CI: 'true' }), 'github');
    assert.equal(detectCi({ GITLAB_CI: 'true', CI: 'true' }), 'gitlab');
    assert.equal(detectCi({ CIRCLECI: 'true', CI: 'true' }), 'circleci');
    assert.equal(detectCi({ CI: 'true' }), 'local');
    assert.equal(detectCi({}), 'local');
    assert.equal(detectCi({ GITLAB_CI: 'false' }), 'local');
  });
});

describe('GitLab ID tokens', () => {
  it('names a token variable as the id library does', () => {
    assert.equal(audienceVariable('pypi'), 'PYPI_ID_TOKEN');
    assert.equal(audienceVariable('crates.io'), 'CRATES_IO_ID_TOKEN');
    assert.equal(audienceVariable('npm:registry.npmjs.org'), 'NPM_REGISTRY_NPMJS_ORG_ID_TOKEN');
    assert.equal(audienceVariable('https://www.nuget.org'), 'HTTPS___WWW_NUGET_ORG_ID_TOKEN');
  });

  it("reads the registry's documented variable first, then the audience's", async () => {
    const npmToken = jwt({ aud: 'npm:registry.npmjs.org' });
    const byDocs = gitlabCi({ NPM_ID_TOKEN: npmToken, NPM_REGISTRY_NPMJS_ORG_ID_TOKEN: 'other' });
    assert.equal(await byDocs.idToken('npm:registry.npmjs.org', 'npm'), npmToken);
    const byAudience = gitlabCi({ NPM_REGISTRY_NPMJS_ORG_ID_TOKEN: npmToken });
    assert.equal(await byAudience.idToken('npm:registry.npmjs.org', 'npm'), npmToken);
  });

  it('refuses a token of another audience with the YAML to set', async () => {
    const ci = gitlabCi({ NUGET_ID_TOKEN: jwt({ aud: 'nuget' }) });
    await assert.rejects(
      ci.idToken('https://www.nuget.org', 'nuget'),
      (err: ActionError) =>
        err.message === "NUGET_ID_TOKEN is an ID token for audience 'nuget', not 'https://www.nuget.org'." &&
        (err.fix ?? '').endsWith('  id_tokens:\n    NUGET_ID_TOKEN:\n      aud: https://www.nuget.org'),
    );
  });

  it('says which variable to add when there is none, also for Sigstore', async () => {
    const ci = gitlabCi({});
    await assert.rejects(
      ci.idToken('crates.io', 'crates-io'),
      (err: ActionError) =>
        /CRATES_IO_ID_TOKEN is not set/.test(err.message) &&
        (err.fix ?? '').includes('    CRATES_IO_ID_TOKEN:\n      aud: crates.io'),
    );
    assert.match(ci.missingIdToken('sigstore', 'sigstore') ?? '', /SIGSTORE_ID_TOKEN:\n {6}aud: sigstore$/);
    assert.equal(
      gitlabCi({ SIGSTORE_ID_TOKEN: jwt({ aud: 'sigstore' }) }).missingIdToken('sigstore', 'sigstore'),
      undefined,
    );
  });

  it('reads the CI file and the project from the claims', () => {
    const claims = {
      project_path: 'group/sub/project',
      ci_config_ref_uri: 'gitlab.com/group/sub/project//ci/release@v1.yml@refs/heads/main',
    };
    assert.equal(gitlabCiFile(claims), 'ci/release@v1.yml');
    assert.deepEqual(gitlabProject(claims), { namespace: 'group/sub', project: 'project' });
    assert.equal(gitlabCiFile({ ci_config_ref_uri: 'nonsense' }), undefined);
  });
});

describe('the plain log', () => {
  it('prints no workflow command and, behind output.ts, no registered secret in any form', async () => {
    const lines: string[] = [];
    outputTo({
      log: plainLog({ debug: true, out: (l) => lines.push(l), err: (l) => lines.push(l) }),
      end: async () => {},
    });
    const secret = 'pypi-AgEIcHlwaS5vcmcCJGE0';
    log.secret(secret);
    log.info(`token ${secret}`);
    log.warning(`basic ${Buffer.from(`__token__:${secret}`).toString('base64')}`);
    log.error('it failed');
    log.notice('note');
    log.debug(`b64 ${Buffer.from(secret).toString('base64')}`);
    await log.group('Plan', async () => log.info('inside'));
    assert.deepEqual(lines, [
      'token ***',
      'WARNING: basic ***',
      'ERROR: it failed',
      'NOTE: note',
      'DEBUG: b64 ***',
      'inside',
    ]);
  });

  it('marks GitLab sections around a group', async () => {
    const lines: string[] = [];
    const log = plainLog({
      debug: false,
      out: (l) => lines.push(l),
      section: { start: (name, title) => `start ${name} ${title}`, end: (name) => `end ${name}` },
    });
    await log.group('PyPI', async () => log.info('inside'));
    log.debug('hidden');
    assert.deepEqual(lines, ['start trusted_publish_1 PyPI', 'inside', 'end trusted_publish_1']);
  });
});

describe("GitHub's token service", () => {
  it('a refusal is shown with its status line on one line, control characters escaped', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', () =>
        socket.end('HTTP/1.1 403 Forbidden \x1b[2J\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const ci = githubActions({
      GITHUB_ACTIONS: 'true',
      GITHUB_EVENT_NAME: 'push',
      ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${port}/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token-of-the-runner',
    });
    try {
      await assert.rejects(ci.idToken('pypi', 'pypi'), (err: ActionError) => {
        assert.match(err.message, /HTTP 403 Forbidden \\x1b\[2J\.$/);
        assert.ok(!err.message.includes('\x1b'), 'no raw escape character');
        return true;
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
