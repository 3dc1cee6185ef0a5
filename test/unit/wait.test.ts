// The polling loop on a virtual clock: back-off, Retry-After, the progress line, the deadline.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { log } from '../../src/output.ts';
import type { InstallCheck } from '../../src/registries/registry.ts';
import { clock, waitUntilInstallable } from '../../src/wait.ts';
import { type Listening, listen, send } from '../fakes/http.ts';

let server: Listening;
/** Answers, one per request: a status, or a status with Retry-After seconds; then 200 'listed'. */
let answers: (number | [number, string])[] = [];
let requests = 0;
let now = 0;
const sleeps: number[] = [];
const lines: string[] = [];
const real = { ...clock };
const info = log.info;

before(async () => {
  server = await listen((req, res) => {
    requests++;
    req.resume();
    const next = answers.shift();
    if (next === undefined) return send(res, 200, 'listed');
    const [status, retryAfter] = Array.isArray(next) ? next : [next, undefined];
    send(res, status, 'not yet', retryAfter === undefined ? {} : { 'retry-after': retryAfter });
  });
  clock.now = () => now;
  clock.sleep = async (ms) => {
    sleeps.push(ms);
    now += ms;
  };
  log.info = (line) => lines.push(line);
});
afterEach(() => {
  [answers, requests, now] = [[], 0, 0];
  sleeps.length = 0;
  lines.length = 0;
});
after(async () => {
  Object.assign(clock, real);
  log.info = info;
  await server.close();
});

const check = (what: string): InstallCheck => ({
  what,
  url: new URL(`${server.origin}/simple/x/`),
  shows: (res) => res.body === 'listed',
  files: [`${what}.whl`],
});

test('backs off from 1 s doubling to 15 s, honours Retry-After, and reports when the version showed', async () => {
  answers = [404, 404, 404, 503, [429, '7'], 404, 404];
  const c = check('x 1.0');
  const availability = await waitUntilInstallable('PyPI', [c], 600_000);
  assert.deepEqual(sleeps, [1000, 2000, 4000, 8000, 7000, 15000, 15000]);
  assert.equal(availability.get(c), 52);
  assert.equal(requests, 8);
  assert.ok(lines.includes('x 1.0 is installable from PyPI (after 52 s).'));
  // A progress line at most every 15 s of waiting.
  assert.deepEqual(
    lines.filter((l) => l.startsWith('Waiting')),
    ['Waiting for x 1.0 on PyPI: 15 s', 'Waiting for x 1.0 on PyPI: 37 s'],
  );
});

test('stops at the deadline with the version not there, never sleeping past it', async () => {
  answers = Array.from({ length: 100 }, () => 404);
  const c = check('x 2.0');
  const availability = await waitUntilInstallable('PyPI', [c], 10_000);
  assert.equal(availability.get(c), undefined);
  assert.equal(now, 10_000);
  assert.deepEqual(sleeps, [1000, 2000, 4000, 3000]);
});
