import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPTION_NAMES } from '../../src/command-line.ts';
import { wording } from '../../src/wording.ts';

const MESSAGE =
  "Fix: Bump the version; set 'skip-existing: true' when re-running. Leave the 'audience' input empty, check 'repository-url', or give a token in the 'password' input. 'nightly.yml' stays.";

test("the action's messages name inputs as a step sets them, the command's as flags", () => {
  assert.equal(wording.apply(MESSAGE), MESSAGE);
  wording.useFlags(OPTION_NAMES);
  assert.equal(
    wording.apply(MESSAGE),
    "Fix: Bump the version; set --skip-existing true when re-running. Leave --audience empty, check --repository-url, or give a token in --password. 'nightly.yml' stays.",
  );
});
