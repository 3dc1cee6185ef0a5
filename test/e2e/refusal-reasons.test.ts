// A refusal shows the registry's own words wherever they are: the status line when it says more than the
// standard phrase, else the body (text, an HTML error page reduced to its text, a JSON message), on one line
// with control characters escaped. "Its reason is above" is printed only where a reason was shown.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCratesIo } from '../fakes/crates.ts';
import type { Fault } from '../fakes/http.ts';
import { type GitLabIssuer, type Issuer, startGitLabIssuer, startIssuer } from '../fakes/issuer.ts';
import { defaultPublisher, startNpm } from '../fakes/npm.ts';
import { startNuGet } from '../fakes/nuget.ts';
import { makeNupkg } from '../fakes/nupkg.ts';
import { startPyPI } from '../fakes/pypi.ts';
import { startRubyGems } from '../fakes/rubygems.ts';
import { type ActionRun, FIXTURES, findLeaks, runAction } from '../helpers/action.ts';
import { assertNothingSecret, runJob } from '../helpers/gitlab-job.ts';

const WORDS = 'Invalid distribution file.';
const BODIES = {
  text: { status: 400, body: `${WORDS}\n` },
  html: {
    status: 400,
    contentType: 'text/html',
    body: `<html>\r\n<head><title>400 Bad Request</title><style>p{}</style></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<p>${WORDS.replace('.', '&#46;')}</p>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
  },
  json: {
    status: 400,
    contentType: 'application/json',
    body: JSON.stringify({ errors: [{ detail: WORDS }] }),
  },
  // A newline in registry words must never start a line the runner reads as a command.
  injected: { status: 400, body: `${WORDS}\n::error title=Forged::forged\n` },
  // Markup in plain-text words is text: in the step summary too, which GitHub renders as HTML.
  markup: { status: 400, body: `${WORDS} </code></pre><img src=x onerror=alert(1)> & <b>more</b>\n` },
  empty: { status: 400, body: '' },
} satisfies Record<string, Fault>;

interface Emulator {
  url: string;
  minted: string[];
  uploadFaults: Fault[];
  close(): Promise<void>;
}

interface Case {
  registry: string;
  files: () => string[];
  inputs?: Record<string, string>;
  start: () => Promise<Emulator>;
}

let issuer: Issuer;
let gitlab: GitLabIssuer;
let work: string;
let nupkg: string;

before(async () => {
  issuer = await startIssuer();
  gitlab = await startGitLabIssuer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-reasons-'));
  nupkg = await makeNupkg(work, { id: 'TpSample', version: '0.1.0' });
});
after(async () => {
  await Promise.all([issuer.close(), gitlab.close()]);
  fs.rmSync(work, { recursive: true, force: true });
});

const WHEEL = path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl');

const PYPI: Case = {
  registry: 'pypi',
  files: () => [WHEEL],
  inputs: { attestations: 'false' },
  start: async () => {
    const e = await startPyPI({ issuer, gitlab });
    return { url: e.uploadUrl, minted: e.minted, uploadFaults: e.faults.upload, close: e.close };
  },
};

const CASES: Case[] = [
  PYPI,
  {
    registry: 'rubygems',
    files: () => [path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem')],
    start: async () => {
      const e = await startRubyGems({ issuer });
      return { url: e.url, minted: e.minted, uploadFaults: e.faults.push, close: e.close };
    },
  },
  {
    registry: 'crates-io',
    files: () => [path.join(FIXTURES, 'crates/tp-sample-0.1.0.crate')],
    start: async () => {
      const e = await startCratesIo({ issuer });
      return { url: e.url, minted: e.minted, uploadFaults: e.faults.publish, close: e.close };
    },
  },
  {
    registry: 'npm',
    files: () => [path.join(FIXTURES, 'npm/tp-sample-0.1.0.tgz')],
    inputs: { attestations: 'false' },
    start: async () => {
      const e = await startNpm({ issuer, publishers: { 'tp-sample': [defaultPublisher()] } });
      e.addPackage('tp-sample', ['0.0.1']);
      return { url: e.url, minted: e.minted, uploadFaults: e.faults.publish, close: e.close };
    },
  },
  {
    registry: 'nuget',
    files: () => [nupkg],
    inputs: { user: 'octocat' },
    start: async () => {
      const e = await startNuGet({ issuer });
      return { url: e.url, minted: e.minted, uploadFaults: e.faults.push, close: e.close };
    },
  },
];

async function refused(c: Case, fault: Fault): Promise<{ result: ActionRun; emulator: Emulator }> {
  const emulator = await c.start();
  try {
    emulator.uploadFaults.push(fault);
    const result = await runAction({
      files: c.files(),
      oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
      inputs: { 'repository-url': emulator.url, ...c.inputs },
    });
    assert.equal(emulator.uploadFaults.length, 0, 'the refusal was met');
    assert.equal(result.code, 1, result.stdout);
    assert.deepEqual(findLeaks(result, [...emulator.minted, ...issuer.issued]), []);
    return { result, emulator };
  } finally {
    await emulator.close();
  }
}

/** The error annotation's text, its lines unescaped (the runner shows %0A as a new line). */
const errorText = (result: ActionRun): string =>
  result.stdout
    .split('\n')
    .filter((l) => l.startsWith('::error'))
    .join('\n')
    .replaceAll('%0A', '\n');

describe("refusals show the registry's words (bundled action on Node 24)", () => {
  for (const c of CASES) {
    for (const kind of ['text', 'html', 'json'] as const) {
      it(`${c.registry}: a plain 400 whose reason is only in a ${kind} body shows it`, async () => {
        const { result } = await refused(c, BODIES[kind]);
        const text = errorText(result);
        assert.ok(text.includes(WORDS), text);
        assert.doesNotMatch(text, /<p>|<html>|&#46;|\{"errors"/, 'HTML reduced to text, JSON to its message');
        assert.match(text, /its reason is above/);
        assert.ok((result.published[0]?.error ?? '').includes(WORDS), 'the published entry has the words');
      });
    }
  }

  it('pypi: a reason with a newline is shown on one line, and starts no workflow command', async () => {
    const { result } = await refused(PYPI, BODIES.injected);
    assert.ok(errorText(result).includes(`${WORDS} ::error title=Forged::forged`), result.stdout);
    assert.deepEqual(
      result.stdout.split('\n').filter((l) => l.startsWith('::error title=Forged')),
      [],
    );
  });

  it('pypi: markup in the reason is shown as text in the step summary, not rendered', async () => {
    const { result } = await refused(PYPI, BODIES.markup);
    assert.ok(
      result.summary.includes(
        `${WORDS} &lt;/code&gt;&lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;more&lt;/b&gt;`,
      ),
      result.summary,
    );
    assert.doesNotMatch(result.summary, /<img|<b>/);
  });

  for (const c of CASES) {
    it(`${c.registry}: a refusal that says nothing but its status never claims a reason is above`, async () => {
      const { result } = await refused(c, BODIES.empty);
      const text = errorText(result);
      assert.match(text, /400/);
      assert.doesNotMatch(text, /its reason is above/);
    });
  }

  it('command on GitLab: an HTML error page is reduced to its words', async () => {
    const pypi = await startPyPI({ issuer, gitlab });
    try {
      pypi.faults.upload.push(BODIES.html);
      const run = await runJob({
        files: [WHEEL],
        idTokens: { PYPI_ID_TOKEN: await gitlab.token('pypi') },
        args: ['--repository-url', pypi.uploadUrl],
      });
      assert.equal(run.code, 1, run.stdout);
      assert.match(
        run.stderr,
        /PyPI refused tp_sample-0\.1\.0-py3-none-any\.whl: 400 .*Invalid distribution file\./,
      );
      assert.match(run.stderr, /its reason is above/);
      assert.ok((run.published[0]?.error ?? '').includes(WORDS));
      assertNothingSecret(run, [...pypi.minted, ...gitlab.issued]);
    } finally {
      await pypi.close();
    }
  });
});
