// `npm run bench`: the bundled action against the reference clients, side by side in one run, against the
// local emulators. Whole processes are measured (wall time here; CPU time and peak RSS from GNU time), so
// start-up, module loading and exit count as they do on a runner. Writes bench/results.json and
// bench/RESULTS.md.
//
// BENCH_BIG=0 skips the 1 GiB wheel; BENCH_REPS sets the repetitions of the small cases (default 7).
// TP_DIST selects the build measured (default: the committed dist/).
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Issuer, startIssuer } from '../test/fakes/issuer.ts';
import { type PyPI, startPyPI } from '../test/fakes/pypi.ts';
import { startRubyGems } from '../test/fakes/rubygems.ts';
import { makeWheel } from '../test/fakes/wheel.ts';
import { FIXTURES, NODE24, ROOT, runAction } from '../test/helpers/action.ts';
import { mintGemKey, mintPyPIToken } from '../test/helpers/tokens.ts';

const MiB = 1024 * 1024;
const REPS = Math.max(1, Math.min(50, Math.floor(Number(process.env.BENCH_REPS ?? 7)) || 7));
const BIG_REPS = 3;
const BIG = process.env.BENCH_BIG !== '0';
const RELEASE_FILES = 20;
const BIG_RELEASE_FILES = 40;
/** What the emulator with latency takes to answer each upload, as a real index's processing does. */
const LATENCY_MS = 150;
/** The action's default max-parallel. */
const PARALLEL = 4;
const TIME = '/usr/bin/time';
/** No reference client gets more than this; a hung one fails the bench instead of stalling it. */
const PROCESS_TIMEOUT_MS = 180_000;

interface Sample {
  /** Wall time. */
  ms: number;
  /** User + system CPU time: less disturbed than wall time when the machine is busy. */
  cpuMs: number;
  rssKiB: number;
}

interface Stats {
  median: number;
  min: number;
  max: number;
}

interface Side {
  label: string;
  samples: Sample[];
  ms: Stats;
  cpuMs: Stats;
  rssMiB: Stats;
}

interface Case {
  id: string;
  title: string;
  ours: Side;
  theirs: Side;
  /** Median wall time, ours over theirs. */
  ratio: number;
  /** Median CPU time, ours over theirs: what the wall-time ratio would be on an idle machine, roughly. */
  cpuRatio: number;
  /** The ratio must be at most this; none for comparisons that are only reported. */
  target?: number;
  met?: boolean;
}

interface Check {
  id: string;
  title: string;
  value: number;
  unit: string;
  max: number;
  met: boolean;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-bench-'));
const home = path.join(tmp, 'home');
fs.mkdirSync(home);
let measured = 0;

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted.at(-1) ?? 0 };
}

function side(label: string, samples: Sample[]): Side {
  return {
    label,
    samples,
    ms: stats(samples.map((s) => s.ms)),
    cpuMs: stats(samples.map((s) => s.cpuMs)),
    rssMiB: stats(samples.map((s) => s.rssKiB / 1024)),
  };
}

/** A fresh file for GNU time's report: peak RSS (KiB), user and system CPU seconds. */
function timeWrapper(): { wrapper: string[]; report: () => Omit<Sample, 'ms'> } {
  const file = path.join(tmp, `time-${measured++}.txt`);
  return {
    wrapper: [TIME, '-f', '%M %U %S', '-o', file],
    report: () => {
      const line = fs.readFileSync(file, 'utf8').trim().split('\n').at(-1) ?? '';
      const [rssKiB = 0, user = 0, system = 0] = line.split(' ').map(Number);
      if (!(rssKiB > 0)) throw new Error(`GNU time reported no peak RSS: ${line}`);
      return { rssKiB, cpuMs: (user + system) * 1000 };
    },
  };
}

/**
 * Runs one process under GNU time, asynchronously (the emulators answer from this event loop), in its own
 * process group so a timeout kills the whole tree. Fails on a non-zero exit: a failed run is no sample.
 */
async function measure(argv: string[], env: Record<string, string> = {}): Promise<Sample> {
  const { wrapper, report } = timeWrapper();
  const [command = TIME, ...args] = [...wrapper, ...argv];
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: tmp,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), PROCESS_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = performance.now() - started;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}:\n${stderr}`);
  return { ms, ...report() };
}

/** A hard link where the file system allows one (no copy of a 1 GiB file per run), else a copy. */
function place(file: string, dir: string, name = path.basename(file)): string {
  const target = path.join(dir, name);
  try {
    fs.linkSync(file, target);
  } catch {
    fs.copyFileSync(file, target);
  }
  return target;
}

/** The bundled action on Node 24 with the runner's environment; its files are linked into the workspace. */
async function action(issuer: Issuer, files: string[], inputs: Record<string, string>): Promise<Sample> {
  const { wrapper, report } = timeWrapper();
  const run = await runAction({
    prepare: (workspace) => {
      for (const file of files) place(file, path.join(workspace, 'dist'));
    },
    inputs,
    oidc: { requestUrl: issuer.requestUrl, requestToken: issuer.requestToken },
    wrapper,
  });
  const uploaded = run.published.filter((p) => p.status === 'uploaded').length;
  const expected = inputs['dry-run'] === 'true' ? 0 : files.length;
  if (run.code !== 0 || uploaded !== expected) {
    throw new Error(`the action failed (exit ${run.code}, ${uploaded} uploaded):\n${run.stdout}`);
  }
  return { ms: run.ms, ...report() };
}

/**
 * The action's inputs for a PyPI emulator. Without attestations, as twine uploads by default (and signing
 * would reach Sigstore, off this machine).
 */
const toPyPI = (pypi: PyPI, extra: Record<string, string> = {}) => ({
  'repository-url': pypi.uploadUrl,
  attestations: 'false',
  ...extra,
});

const twine = (...args: string[]) =>
  measure(['/usr/bin/twine', ...args], { TWINE_NON_INTERACTIVE: '1', NO_PROXY: '127.0.0.1' });

const twineUpload = (pypi: PyPI, token: string, files: string[]) =>
  twine(
    'upload',
    '--repository-url',
    pypi.uploadUrl,
    '-u',
    '__token__',
    '-p',
    token,
    '--non-interactive',
    '--disable-progress-bar',
    ...files,
  );

/**
 * Runs every side once untimed (warm caches, and a failure shows before the long part), then `reps` rounds,
 * rotating which side goes first so drift over the run is shared out evenly.
 */
async function sideBySide(
  title: string,
  runs: Record<string, () => Promise<Sample>>,
  reps: number,
): Promise<Record<string, Sample[]>> {
  const names = Object.keys(runs);
  const samples: Record<string, Sample[]> = Object.fromEntries(names.map((n) => [n, []]));
  process.stdout.write(`${title}: `);
  for (const name of names) await runs[name]?.();
  for (let round = 0; round < reps; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length] ?? '';
      const sample = await runs[name]?.();
      if (sample) samples[name]?.push(sample);
    }
    process.stdout.write('.');
  }
  process.stdout.write('\n');
  return samples;
}

function compare(
  id: string,
  title: string,
  ours: [string, Sample[]],
  theirs: [string, Sample[]],
  target?: number,
): Case {
  const a = side(...ours);
  const b = side(...theirs);
  const ratio = a.ms.median / b.ms.median;
  return {
    id,
    title,
    ours: a,
    theirs: b,
    ratio,
    cpuRatio: a.cpuMs.median / b.cpuMs.median,
    ...(target === undefined ? {} : { target, met: ratio <= target }),
  };
}

async function version(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { timeout: 30_000 });
    return (stdout || stderr).trim().split('\n')[0] ?? '';
  } catch (err) {
    return `unavailable (${(err as Error).message.split('\n')[0]})`;
  }
}

const loadNow = () => os.loadavg()[0]?.toFixed(2) ?? '?';

async function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    benchNode: process.version,
    actionNode: await version(NODE24, ['--version']),
    twine: await version('/usr/bin/twine', ['--version']),
    gem: await version('gem', ['--version']),
    ruby: await version('ruby', ['--version']),
    curl: await version('curl', ['--version']),
    python: await version('python3', ['--version']),
    /** Relative to the repository, so the results name no folder of the machine they were measured on. */
    dist: path.relative(ROOT, process.env.TP_DIST ?? path.join(ROOT, 'dist')) || '.',
    /** Other work on the machine disturbs wall times; the 1-minute load average says how much. */
    loadBefore: loadNow(),
  };
}

// ---- the cases -------------------------------------------------------------------------------------------

/**
 * The project's fixtures, the sdist under its PEP 625 name: the emulator, like PyPI, refuses twine's upload of
 * the legacy one.
 */
function stageFixtures(): { pypi: string[]; gem: string } {
  const dir = path.join(tmp, 'fixtures');
  fs.mkdirSync(dir);
  return {
    pypi: [
      place(path.join(FIXTURES, 'pypi/tp-sample-0.1.0.tar.gz'), dir, 'tp_sample-0.1.0.tar.gz'),
      place(path.join(FIXTURES, 'pypi/tp_sample-0.1.0-py3-none-any.whl'), dir),
    ],
    gem: place(path.join(FIXTURES, 'rubygems/tp_sample-0.1.0.gem'), dir),
  };
}

async function dryRunCases(issuer: Issuer, pypi: PyPI, pypiFixtures: string[]): Promise<Case[]> {
  const s = await sideBySide(
    'dry-run',
    {
      ours: () => action(issuer, pypiFixtures, toPyPI(pypi, { 'dry-run': 'true' })),
      twineCheck: () => twine('check', ...pypiFixtures),
      node: () => measure([NODE24, '-e', '0']),
    },
    REPS,
  );
  return [
    compare(
      'dry-run',
      'dry-run (validation, OIDC token, plan) of the PyPI fixtures vs `twine check`',
      ['action dry-run', s.ours ?? []],
      ['twine check', s.twineCheck ?? []],
      0.5,
    ),
    compare(
      'dry-run-vs-node',
      'dry-run vs bare `node -e 0` on the same Node 24 (the floor of any Node action)',
      ['action dry-run', s.ours ?? []],
      ['node -e 0', s.node ?? []],
    ),
  ];
}

async function pypiCase(
  issuer: Issuer,
  pypi: PyPI,
  id: string,
  title: string,
  files: string[],
  target?: number,
): Promise<Case> {
  const token = await mintPyPIToken(issuer, pypi);
  // Every run meets an empty index: the action would otherwise find the release there and send nothing.
  const fresh = <T>(run: () => Promise<T>) => {
    pypi.files.clear();
    return run();
  };
  const s = await sideBySide(
    id,
    {
      ours: () => fresh(() => action(issuer, files, toPyPI(pypi))),
      twine: () => fresh(() => twineUpload(pypi, token, files)),
    },
    REPS,
  );
  return compare(id, title, ['action', s.ours ?? []], ['twine upload', s.twine ?? []], target);
}

/**
 * How close the big release with latency came to the least it could take: the fixed cost (the fixtures case:
 * start, OIDC, audience, exchange) plus 41 uploads of 150 ms, four at a time.
 */
function floorCheck(cases: Case[]): Check[] {
  const fixed = cases.find((c) => c.id === 'pypi-fixtures')?.ours.ms.median;
  const big = cases.find((c) => c.id === `release-${BIG_RELEASE_FILES + 1}-latency`)?.ours.ms.median;
  if (fixed === undefined || big === undefined) return [];
  const floor = fixed + ((BIG_RELEASE_FILES + 1) * LATENCY_MS) / PARALLEL;
  return [
    {
      id: 'release-41-floor',
      title: `the ${BIG_RELEASE_FILES} wheels + sdist release with ${LATENCY_MS} ms per upload: action's median over the floor (${Math.round(fixed)} ms fixed + 41 × ${LATENCY_MS} ms / ${PARALLEL} = ${Math.round(floor)} ms; the sdist goes alone first, so one more ${LATENCY_MS} ms is unavoidable)`,
      value: big / floor,
      unit: '×',
      max: 1.5,
      met: big / floor <= 1.5,
    },
  ];
}

/** A fresh emulator for every push: a version can be pushed only once. */
async function gemCase(issuer: Issuer, gemFixture: string): Promise<Case> {
  const withEmulator = async (push: (url: string, key: string) => Promise<Sample>) => {
    const rg = await startRubyGems({ issuer });
    try {
      return await push(rg.url, await mintGemKey(issuer, rg));
    } finally {
      await rg.close();
    }
  };
  const s = await sideBySide(
    'gem',
    {
      ours: () => withEmulator((url) => action(issuer, [gemFixture], { 'repository-url': url })),
      gemPush: () =>
        withEmulator((url, key) =>
          measure(['gem', 'push', '--host', url, gemFixture], { GEM_HOST_API_KEY: key }),
        ),
    },
    REPS,
  );
  return compare(
    'gem',
    'publish the fixture gem: whole action (OIDC, exchange, push) vs `gem push` with a key',
    ['action', s.ours ?? []],
    ['gem push', s.gemPush ?? []],
    0.85,
  );
}

/** `count` wheels of one release, one per Python tag. */
async function releaseFiles(count: number, version = '0.3.0'): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(tmp, 'release-'));
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    files.push(await makeWheel(dir, { name: 'tp-sample', version, pyTag: `cp3${i}`, padBytes: 200 * 1024 }));
  }
  return files;
}

const SIZES = [
  { id: '10MiB', bytes: 10 * MiB, big: false },
  { id: '100MiB', bytes: 100 * MiB, big: false },
  { id: '1GiB', bytes: 1024 * MiB, big: true },
];

/**
 * One big wheel into the sink (nothing checked server-side): the action against the least any client must
 * do, both digests then the same multipart upload with curl.
 */
async function bigCases(issuer: Issuer, sink: PyPI): Promise<Case[]> {
  const token = await mintPyPIToken(issuer, sink);
  const cases: Case[] = [];
  for (const size of SIZES.filter((s) => BIG || !s.big)) {
    const dir = path.join(tmp, `big-${size.id}`);
    fs.mkdirSync(dir);
    const wheel = await makeWheel(dir, { name: 'tp-sample', version: '0.4.0', padBytes: size.bytes });
    const s = await sideBySide(
      `wheel ${size.id}`,
      {
        ours: () => action(issuer, [wheel], toPyPI(sink)),
        reference: () =>
          measure([
            'sh',
            '-c',
            'sha256sum "$1" >/dev/null && b2sum -l 256 "$1" >/dev/null && ' +
              'exec curl -sS --fail -o /dev/null -u "__token__:$3" -F "content=@$1" "$2"',
            'reference',
            wheel,
            sink.uploadUrl,
            token,
          ]),
      },
      BIG_REPS,
    );
    cases.push(
      compare(
        `wheel-${size.id}`,
        `one ${size.id} wheel to the sink emulator vs sha256sum + b2sum -l 256 + curl -F`,
        ['action', s.ours ?? []],
        ['digests then curl', s.reference ?? []],
        size.big ? 1.0 : undefined,
      ),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return cases;
}

/** Four 1 GiB wheels of one release at once (max-parallel 4): each upload streams from disk. */
async function parallelBigCheck(issuer: Issuer, sink: PyPI): Promise<Check[]> {
  if (!BIG) return [];
  const dir = fs.mkdtempSync(path.join(tmp, 'parallel-big-'));
  try {
    const wheels: string[] = [];
    for (const pyTag of ['cp310', 'cp311', 'cp312', 'cp313', 'cp314']) {
      wheels.push(await makeWheel(dir, { name: 'tp-sample', version: '0.5.0', pyTag, padBytes: 1024 * MiB }));
    }
    process.stdout.write('4 parallel 1GiB wheels: ');
    const samples: Sample[] = [];
    for (let i = 0; i < BIG_REPS; i++) {
      samples.push(await action(issuer, wheels, toPyPI(sink, { 'max-parallel': '4' })));
      process.stdout.write('.');
    }
    process.stdout.write('\n');
    const rss = stats(samples.map((s) => s.rssKiB / 1024)).median;
    return [
      {
        id: 'rss-4x1GiB',
        title: 'peak RSS of the action, five 1 GiB wheels of one release, four uploading at once',
        value: rss,
        unit: 'MiB',
        max: 120,
        met: rss <= 120,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function rssChecks(cases: Case[]): Check[] {
  const rss = (id: string) => cases.find((c) => c.id === id)?.ours.rssMiB.median;
  const [small, large] = [rss('wheel-10MiB'), rss('wheel-1GiB')];
  if (small === undefined || large === undefined) return [];
  return [
    {
      id: 'rss-growth',
      title: 'peak RSS of the action, 1 GiB wheel minus 10 MiB wheel',
      value: large - small,
      unit: 'MiB',
      max: 10,
      met: large - small <= 10,
    },
    {
      id: 'rss-1GiB',
      title: 'peak RSS of the action, 1 GiB wheel',
      value: large,
      unit: 'MiB',
      max: 80,
      met: large <= 80,
    },
  ];
}

// ---- report ----------------------------------------------------------------------------------------------

const fmtMs = (s: Stats) => `${Math.round(s.median)} ms (${Math.round(s.min)}–${Math.round(s.max)})`;
const fmtSide = (s: Side) =>
  `${s.label}: ${fmtMs(s.ms)}, CPU ${Math.round(s.cpuMs.median)} ms, ${s.rssMiB.median.toFixed(1)} MiB`;
const yesNo = (met: boolean | undefined) => (met === undefined ? '—' : met ? 'yes' : '**no**');

function markdown(info: Awaited<ReturnType<typeof machine>>, cases: Case[], checks: Check[]): string {
  const rows = [
    '| case | ours | theirs | ratio | CPU ratio | target | met? |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...cases.map(
      (c) =>
        `| ${c.title} | ${fmtSide(c.ours)} | ${fmtSide(c.theirs)} | ${c.ratio.toFixed(2)}× | ${c.cpuRatio.toFixed(2)}× | ${c.target === undefined ? '—' : `≤ ${c.target}×`} | ${yesNo(c.met)} |`,
    ),
    ...checks.map(
      (c) =>
        `| ${c.title} | ${c.value.toFixed(1)} ${c.unit} | — | — | — | ≤ ${c.max} ${c.unit} | ${yesNo(c.met)} |`,
    ),
  ];
  return [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` (scripts/bench.ts) on ${new Date().toISOString().slice(0, 10)}: ${info.cpu}, ${info.cores} cores, ${info.os}; the action on Node ${info.actionNode}, ${info.twine.split(' (')[0]}, gem ${info.gem}.`,
    'Whole processes against the local emulators: wall time median (min–max) over the repetitions, CPU time (user + system) and peak RSS medians (GNU time).',
    `Ratio = median wall time, ours / theirs (the targets apply to it); CPU ratio = median CPU time, ours / theirs, less disturbed by other load. ${REPS} repetitions per case, ${BIG_REPS} for the big wheels. Load average ${info.loadBefore} before, ${loadNow()} after. Raw samples: results.json.`,
    '',
    ...rows,
    '',
  ].join('\n');
}

function printTable(cases: Case[], checks: Check[]): void {
  console.log('');
  for (const c of cases) {
    console.log(
      `${c.id.padEnd(16)} ${c.ratio.toFixed(2).padStart(5)}× (CPU ${c.cpuRatio.toFixed(2)}×)  target ${c.target ?? '—'}  ${yesNo(c.met)}`,
    );
    console.log(`    ${fmtSide(c.ours)}\n    ${fmtSide(c.theirs)}`);
  }
  for (const c of checks) {
    console.log(`${c.id.padEnd(16)} ${c.value.toFixed(1)} ${c.unit}  target ≤ ${c.max}  ${yesNo(c.met)}`);
  }
}

const servers: { close(): Promise<void> }[] = [];
try {
  const issuer = await startIssuer();
  servers.push(issuer);
  const pypi = await startPyPI({ issuer });
  servers.push(pypi);
  const slow = await startPyPI({ issuer });
  servers.push(slow);
  slow.uploadLatencyMs = LATENCY_MS;
  const sink = await startPyPI({ issuer, maxFileSize: 2048 * MiB });
  servers.push(sink);
  sink.sink = true;
  const fixtures = stageFixtures();
  const info = await machine();
  const started = performance.now();
  const cases: Case[] = [
    ...(await dryRunCases(issuer, pypi, fixtures.pypi)),
    await pypiCase(
      issuer,
      pypi,
      'pypi-fixtures',
      'publish the PyPI fixtures (sdist + wheel): whole action (OIDC, audience, mint, 2 uploads) vs `twine upload` with a token',
      fixtures.pypi,
      0.65,
    ),
    await gemCase(issuer, fixtures.gem),
    await pypiCase(
      issuer,
      pypi,
      'release-20',
      `a ${RELEASE_FILES}-wheel release: whole action vs \`twine upload\` with a token`,
      await releaseFiles(RELEASE_FILES),
      0.5,
    ),
    await pypiCase(
      issuer,
      slow,
      'release-20-latency',
      `a ${RELEASE_FILES}-wheel release, the index answering each upload after ${LATENCY_MS} ms: whole action vs \`twine upload\``,
      await releaseFiles(RELEASE_FILES),
      0.3,
    ),
    await pypiCase(
      issuer,
      slow,
      `release-${BIG_RELEASE_FILES + 1}-latency`,
      `a ${BIG_RELEASE_FILES}-wheel + sdist release, ${LATENCY_MS} ms per upload: whole action vs \`twine upload\``,
      // The fixture sdist and 40 wheels of its version: one release.
      [
        fixtures.pypi.find((f) => f.endsWith('.tar.gz')) ?? '',
        ...(await releaseFiles(BIG_RELEASE_FILES, '0.1.0')),
      ],
    ),
    ...(await bigCases(issuer, sink)),
  ];
  const checks = [...floorCheck(cases), ...rssChecks(cases), ...(await parallelBigCheck(issuer, sink))];
  printTable(cases, checks);
  const outDir = path.join(ROOT, 'bench');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(
    path.join(outDir, 'results.json'),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: info,
        repetitions: { small: REPS, big: BIG_REPS, bigWheel: BIG },
        seconds: Math.round((performance.now() - started) / 1000),
        loadAfter: loadNow(),
        cases,
        checks,
      },
      null,
      2,
    )}\n`,
  );
  fs.writeFileSync(path.join(outDir, 'RESULTS.md'), markdown(info, cases, checks));
  console.log(
    `\nWrote bench/results.json and bench/RESULTS.md in ${Math.round((performance.now() - started) / 1000)} s.`,
  );
} finally {
  await Promise.all(servers.map((s) => s.close()));
  fs.rmSync(tmp, { recursive: true, force: true });
}
