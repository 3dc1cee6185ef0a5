import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addSecret, formsOf, scrub } from '../../src/secrets.ts';
import { commandSafe, untrusted } from '../../src/untrusted.ts';

describe('the scrubber', () => {
  const token = 'pypi-AgEIcHlwaS5vcmcCJDk2ZTk4Yw+/tail=';
  addSecret(token);

  it('cuts out a secret raw, base64, base64url, as Basic credentials of any user, percent- and JSON-escaped', () => {
    const basic = (user: string) => Buffer.from(`${user}:${token}`).toString('base64');
    const shown = [
      token,
      Buffer.from(token).toString('base64'),
      Buffer.from(token).toString('base64url'),
      basic('__token__'),
      encodeURIComponent(token),
      encodeURIComponent(token).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
      JSON.stringify(token).slice(1, -1),
    ].map((form) => scrub(`said: ${form} (end)`));
    for (const line of shown) assert.equal(line, 'said: *** (end)');
    // Any other user: the secret's part of the base64 is gone; what is left is the user's and an edge.
    for (const user of ['octocat', 'x', 'maintainer1']) {
      const line = scrub(basic(user));
      assert.match(line, /\*\*\*/);
      assert.ok(line.length < basic(user).length - 30, line);
    }
  });

  it('cuts a form that contains another whole, longest first', () => {
    const basic = Buffer.from(`__token__:${token}`).toString('base64');
    assert.equal(scrub(`Basic ${basic}`), 'Basic ***');
  });

  it('leaves values too short to be credentials alone', () => {
    assert.deepEqual(addSecret('ab1'), []);
    assert.equal(scrub('ab1 ab1'), 'ab1 ab1');
    assert.ok(formsOf('abcdef').every((form) => form === 'abcdef' || form.length >= 8));
  });
});

describe('registry text', () => {
  it('is one line, control characters escaped, secrets out, no old-style command', () => {
    const forged = 'x.whl\n::set-output name=published::[]\r::add-mask::Uploaded\u001b[2J ##[error]no';
    assert.equal(
      untrusted(forged),
      'x.whl ::set-output name=published::[] ::add-mask::Uploaded\\x1b[2J #\\x23[error]no',
    );
    assert.equal(untrusted(`Authorization: pypi-AgEIcHlwaS5vcmcCJDk2ZTk4Yw+/tail=`), 'Authorization: ***');
    assert.equal(untrusted('a'.repeat(3000)).length, 2000);
    assert.equal(untrusted('a'.repeat(600), 500).length, 500);
  });

  it('never lets a printed line start a workflow command', () => {
    assert.equal(
      commandSafe('Uploaded x:\n::error::forged\r  ::add-mask::y\nok :: fine'),
      'Uploaded x:\n\\x3a:error::forged\n  \\x3a:add-mask::y\nok :: fine',
    );
  });
});
