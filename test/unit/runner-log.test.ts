import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { githubActions } from '../../src/ci/github.ts';
import { renderRunnerLog } from '../helpers/runner-log.ts';

const TOKEN = 'pypi-AgEIcHlwaS5vcmcCJDk0NjQ1';

/** What the action's log module writes to stdout, as the runner would read it. */
function printed(emit: () => void): string {
  const write = process.stdout.write;
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    emit();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

describe('renderRunnerLog', () => {
  it('drops ::add-mask:: lines and shows every masked value, in the forms the runner knows, as ***', () => {
    const basic = Buffer.from(`__token__:${TOKEN}`).toString('base64');
    const out = renderRunnerLog(
      [
        `early ${TOKEN}`,
        `::add-mask::${TOKEN}`,
        `raw ${TOKEN} end`,
        `base64 ${Buffer.from(TOKEN).toString('base64')}`,
        `basic Authorization: Basic ${basic}`,
        `json {"token":${JSON.stringify(`${TOKEN}"`)}}`,
        `url ?t=${encodeURIComponent(`${TOKEN}/`)}`,
      ].join('\n'),
    );
    assert.doesNotMatch(out, /add-mask/);
    assert.doesNotMatch(out, /AgEIcHlwaS5vcmcCJDk0NjQ1|QWdFSWNIbHdhUzV2Y21uQ0pEazBOalEx/);
    assert.equal(
      out,
      [
        'early ***',
        'raw *** end',
        'base64 ***',
        // The base64 shifted by two bytes lines up with the token's third byte in `__token__:<token>`.
        `basic Authorization: Basic ${basic.slice(0, 16)}***`,
        'json {"token":"***\\""}',
        'url ?t=***%2F',
      ].join('\n'),
    );
  });

  it('shows a group as a heading with its lines indented beneath', () => {
    const out = renderRunnerLog(
      ['before', '::group::Claims', 'sub: repo:o/r', '::group::Plan', 'file', '::endgroup::', 'after'].join(
        '\n',
      ),
    );
    assert.equal(out, ['before', '▾ Claims', '  sub: repo:o/r', '▾ Plan', '  file', 'after'].join('\n'));
  });

  it('labels errors, warnings and notices, with or without properties, and undoes their escaping', () => {
    const out = renderRunnerLog(
      [
        '::error::100%25 refused%0Asecond line',
        '::warning file=dist/a.whl,line=1,title=PEP 625%3A name%2C please::renamed',
        '::notice title=Hint::use trusted publishing',
      ].join('\n'),
    );
    assert.equal(
      out,
      ['Error: 100% refused', 'second line', 'Warning: renamed', 'Notice: use trusted publishing'].join('\n'),
    );
  });

  it('hides ::debug:: lines unless step debug logging is on', () => {
    const raw = 'one\n::debug::GET /simple/\ntwo\n';
    assert.equal(renderRunnerLog(raw), 'one\ntwo');
    assert.equal(renderRunnerLog(raw, { debug: true }), 'one\nDebug: GET /simple/\ntwo');
  });

  it('leaves plain lines and commands it does not know as they are', () => {
    const raw = 'a :: b\n::set-env name=X::1\n  ::error::indented is not a command';
    assert.equal(renderRunnerLog(raw), raw);
  });

  it('renders what the action’s log module really prints on GitHub Actions', () => {
    const { log } = githubActions({ GITHUB_ACTIONS: 'true' });
    const raw = printed(() => {
      log.secret(TOKEN);
      log.info(`Exchanged for ${TOKEN}`);
      log.warning('skipped 1 of 2 files (50%)\nsee the summary');
      log.error(`refused: token ${TOKEN} expired`);
      log.debug('debug detail');
    });
    assert.match(raw, /^::add-mask::/);
    assert.equal(
      renderRunnerLog(raw),
      [
        'Exchanged for ***',
        'Warning: skipped 1 of 2 files (50%)',
        'see the summary',
        'Error: refused: token *** expired',
      ].join('\n'),
    );
  });
});
