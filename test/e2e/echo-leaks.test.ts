// A registry that echoes the credentials it was sent, in its status line and its body, with forged workflow
// commands on lines of their own, at each stage that reads an answer: the exchange, the upload, the lookup
// before it and the wait after it. On GitHub (the action), GitLab (the command) and a laptop (the command
// with TRUSTED_PUBLISH_PASSWORD), every channel and every file the run writes is scanned for every form of
// every credential, and no line the action printed starts a workflow command it did not write.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Echo, type Stage, startEcho } from '../fakes/echo.ts';
import { type GitLabIssuer, type Issuer, startGitLabIssuer, startIssuer } from '../fakes/issuer.ts';
import { startPyPI } from '../fakes/pypi.ts';
import { startRubyGems } from '../fakes/rubygems.ts';
import { FIXTURES, runAction } from '../helpers/action.ts';
import { runJob } from '../helpers/gitlab-job.ts';
import { mintPyPIToken } from '../helpers/tokens.ts';

const WHEELS = [
  path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz'),
  path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl'),
];
const GEM = path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem');
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

let github: Issuer;
let gitlab: GitLabIssuer;
before(async () => {
  github = await startIssuer();
  gitlab = await startGitLabIssuer();
});
after(async () => {
  await Promise.all([github.close(), gitlab.close()]);
});

/**
 * Every form a secret can be printed in: raw, base64 and base64url (whole, and the part of it inside the
 * Basic credentials of any user), percent- and JSON-escaped.
 */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const inside = [0, 1, 2].flatMap((shift) => {
    const whole = bytes.subarray(shift, shift + Math.floor((bytes.length - shift) / 3) * 3);
    return [whole.toString('base64'), whole.toString('base64url')];
  });
  return [
    secret,
    bytes.toString('base64'),
    bytes.toString('base64url'),
    Buffer.from(`__token__:${secret}`).toString('base64'),
    ...inside,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
  ].filter((form) => form.length >= 8);
}

interface Channels {
  stdout: string;
  stderr: string;
  files: Record<string, string>;
}

/** Where a form of a secret shows, by channel; the runner's own ::add-mask:: lines are where it must be. */
function leaks(run: Channels, secrets: string[]): string[] {
  const found: string[] = [];
  for (const secret of secrets) {
    for (const form of forms(secret)) {
      if (run.stdout.split('\n').some((line) => line.includes(form) && !line.startsWith('::add-mask::')))
        found.push(`stdout: ${form.slice(0, 12)}…`);
      if (run.stderr.includes(form)) found.push(`stderr: ${form.slice(0, 12)}…`);
      for (const [name, text] of Object.entries(run.files))
        if (text.includes(form)) found.push(`${name}: ${form.slice(0, 12)}…`);
    }
  }
  return [...new Set(found)];
}

/**
 * Lines GitHub's runner would read as a command that the action did not write: every line it splits
 * (at CR and LF), leading white space trimmed, starting with `::`, or holding `##[` anywhere. On GitHub the
 * action's own commands (from @actions/core, their message escaped onto one line) are allowed.
 */
function forgedCommands(run: Channels, onGitHub: boolean): string[] {
  const own = /^::(add-mask|error|warning|notice|debug)::/;
  return `${run.stdout}\n${run.stderr}`.split(/\r\n|\r|\n/).filter((line) => {
    const text = line.trimStart();
    if (text.includes('##[')) return true;
    if (!text.startsWith('::')) return false;
    if (!onGitHub || !own.test(text)) return true;
    return text === '::add-mask::Uploaded' || /^::warning::forged|^::error title=/.test(text);
  });
}

type On = 'github' | 'gitlab' | 'local';

/** The PyPI emulator behind an echoing front; `known` are the secrets the job holds before any request. */
async function pypiBehindEcho(known: string[]) {
  const pypi = await startPyPI({ issuer: github, gitlab });
  const echo = await startEcho(
    pypi.origin,
    (req, p) => {
      if (req.method === 'POST' && p === '/_/oidc/mint-token') return 'exchange';
      if (req.method === 'POST' && p === '/legacy/') return 'upload';
      if (req.method === 'GET' && /^\/pypi\/[^/]+\/[^/]+\/json$/.test(p)) return 'lookup';
      if (req.method === 'GET' && p.startsWith('/simple/')) return 'wait';
      return undefined;
    },
    known,
  );
  echo.lookupDigests = WHEELS.map(sha256);
  return {
    echo,
    pypi,
    minted: pypi.minted,
    close: async () => {
      await echo.close();
      await pypi.close();
    },
  };
}

/** Runs the release against the front on one CI system; returns every channel and every secret of the run. */
async function release(on: On, stage: Stage) {
  const jwt = on === 'gitlab' ? await gitlab.token('pypi') : undefined;
  const front = await pypiBehindEcho(jwt ? [jwt] : []);
  // On a laptop: a token the index takes, as a long-lived one would be.
  const password = on === 'local' ? await mintPyPIToken(github, front.pypi) : undefined;
  if (password) front.echo.seen.add(password);
  const known = [password, jwt].filter((s): s is string => s !== undefined);
  front.echo.hostile.add(stage);
  const waiting: Record<string, string> = stage === 'wait' ? { wait: 'true', 'wait-timeout': '3' } : {};
  try {
    if (on === 'github') {
      const run = await runAction({
        files: WHEELS,
        oidc: { requestUrl: github.requestUrl, requestToken: github.requestToken },
        inputs: { 'repository-url': `${front.echo.origin}/legacy/`, verbose: 'true', ...waiting },
        env: { RUNNER_DEBUG: '1' },
      });
      return { run, onGitHub: true, secrets: [...front.echo.seen, ...front.minted, ...github.issued] };
    }
    const run = await runJob({
      on: on === 'gitlab' ? 'gitlab' : 'local',
      files: WHEELS,
      args: [
        '--repository-url',
        `${front.echo.origin}/legacy/`,
        '--verbose',
        ...(stage === 'wait' ? ['--wait', '--wait-timeout', '3'] : []),
      ],
      ...(jwt ? { idTokens: { PYPI_ID_TOKEN: jwt } } : {}),
      env: {
        ...(password ? { TRUSTED_PUBLISH_PASSWORD: password, TRUSTED_PUBLISH_DEBUG: 'true' } : {}),
        ...(on === 'gitlab' ? { CI_DEBUG_TRACE: 'true' } : {}),
      },
    });
    return { run, onGitHub: false, secrets: [...front.echo.seen, ...front.minted, ...known] };
  } finally {
    await front.close();
  }
}

const STAGES: Record<On, Stage[]> = {
  github: ['exchange', 'upload', 'lookup', 'wait'],
  gitlab: ['exchange', 'upload', 'lookup', 'wait'],
  // A password is sent as it is: no exchange.
  local: ['upload', 'lookup', 'wait'],
};

describe('a registry that echoes credentials and forges workflow commands', () => {
  for (const on of ['github', 'gitlab', 'local'] as const) {
    for (const stage of STAGES[on]) {
      it(`${on}: the ${stage} answer leaves no secret in any channel or file, and starts no command`, async () => {
        const { run, onGitHub, secrets } = await release(on, stage);
        const all = `${run.stdout}\n${run.stderr}`;
        assert.ok(secrets.length > 0, 'the run held secrets');
        assert.ok(Object.keys(run.files).length > 0, 'the run wrote its files');
        assert.deepEqual(leaks(run, secrets), []);
        assert.deepEqual(forgedCommands(run, onGitHub), []);
        // The run met the hostile answer.
        if (stage === 'lookup') {
          assert.equal(run.code, 0, all);
          assert.match(all, /Skipped tp_sample-0\.1\.0-py3-none-any\.whl: .*\(as x\.whl ::set-output/);
        } else {
          assert.equal(run.code, 1, all);
          assert.match(all, stage === 'wait' ? /not yet|not installable|not visible/i : /Echo: |\*\*\*/);
        }
      });
    }
  }
});

describe('RubyGems: the push answer and the exchange error', () => {
  for (const stage of ['exchange', 'upload'] as const) {
    it(`github: a hostile ${stage} answer is shown on one line, without secrets`, async () => {
      const rubygems = await startRubyGems({ issuer: github });
      const echo: Echo = await startEcho(rubygems.url, (req, p) => {
        if (req.method === 'POST' && p.startsWith('/api/v1/oidc/trusted_publisher/exchange_token'))
          return 'exchange';
        if (req.method === 'POST' && /^\/api\/v1\/gems/.test(p)) return 'upload';
        return undefined;
      });
      echo.hostile.add(stage);
      try {
        const run = await runAction({
          files: [GEM],
          oidc: { requestUrl: github.requestUrl, requestToken: github.requestToken },
          inputs: { 'repository-url': echo.origin, verbose: 'true' },
          env: { RUNNER_DEBUG: '1' },
        });
        assert.equal(run.code, stage === 'upload' ? 0 : 1, run.stdout);
        if (stage === 'upload') assert.match(run.stdout, /^Uploaded tp_sample-0\.1\.0\.gem: Echo: .*\*\*\*/m);
        const secrets = [...echo.seen, ...rubygems.minted, ...github.issued];
        assert.ok(secrets.length > 0);
        assert.deepEqual(leaks(run, secrets), []);
        assert.deepEqual(forgedCommands(run, true), []);
      } finally {
        await echo.close();
        await rubygems.close();
      }
    });
  }
});
