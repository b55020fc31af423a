#!/usr/bin/env node
// npm run bench [-- --runs 5 --shape mixed,lossy --big --timeout 300]
//
// Times sockstat on real captures the project records itself (bench/record/<shape>.sh, in
// network namespaces of their own, into bench/data/; recorded when missing, reused when
// present) and on the generated capture (npm run gen). Per capture, side by side and taken
// in turns: bare pcap-parser iteration, sockstat --stats json, --json and --payloads (to
// /dev/null), tshark -q -z io,stat,0 when installed, and --stats json on the first 25% and
// 50% of the packets (bench/cut.mjs) for the growth. Prints markdown tables: medians,
// packets/s, MB/s, peak RSS, ratios to bare.
//
//   --runs N         runs of each command per capture (default 5; the median is reported)
//   --size SIZE      every capture at this size (default 200MB, lossy 20MB)
//   --shape A,B      only these captures (mixed, short, ws-firehose, sse-fanout, lossy, generated)
//   --timeout S      a run longer than S seconds is stopped and reported as "> S s" (default 300)
//   --big            also 1 GB captures of mixed, ws-firehose, lossy and generated, for memory
//   --big-size SIZE  the size of those (default 1000MB)
//   --big-runs N     runs per command on them (default 1)
//   --record         only record the missing captures
//   --no-tshark      leave tshark out
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const known = new Set(['--runs', '--shape', '--timeout', '--big', '--big-size', '--big-runs', '--record', '--no-tshark', '--size']);
for (const a of args) if (a.startsWith('--') && !known.has(a)) fail(`unknown option ${a}`);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const runs = Number(opt('--runs', '5'));
const timeout = Number(opt('--timeout', '300'));
const bigSize = opt('--big-size', '1000MB');
const bigRuns = Number(opt('--big-runs', '1'));
const SHAPES = { mixed: '200MB', short: '200MB', 'ws-firehose': '200MB', 'sse-fanout': '200MB', lossy: '20MB', generated: '200MB' };
if (opt('--size')) for (const s of Object.keys(SHAPES)) SHAPES[s] = opt('--size');
const BIG = ['mixed', 'ws-firehose', 'lossy', 'generated'];
const chosen = opt('--shape', Object.keys(SHAPES).join(',')).split(',');
for (const s of chosen) if (!(s in SHAPES)) fail(`unknown shape ${s} (known: ${Object.keys(SHAPES).join(', ')})`);
const data = join(root, 'bench/data');
const out = join(root, 'bench/out');
mkdirSync(data, { recursive: true });
mkdirSync(join(out, 'cut'), { recursive: true });
const tshark = !args.includes('--no-tshark') && spawnSync('tshark', ['-v']).status === 0;
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

/** The capture of a shape at a size: recorded (or generated) when missing. */
function capture(shape, size) {
  const file = join(data, `${shape}-${size}.pcap`);
  if (existsSync(file)) return file;
  if (shape === 'generated') {
    const r = spawnSync(process.execPath, [join(root, 'dist/synth/generate.js'), '--size', size, '--seed', '1', file], { stdio: 'inherit' });
    if (r.status !== 0) fail(`generating ${file} failed`);
    return file;
  }
  // A recording fails when tcpdump drops a packet; on a busy machine once is bad luck.
  for (let attempt = 1; attempt <= 2; attempt++) {
    process.stderr.write(`recording ${file} (bench/record/${shape}.sh, attempt ${attempt})\n`);
    const env = { ...process.env, SIZE: size, OUT: file };
    if (parseSize(size) > 500e6) env.TIMEOUT ??= '3600';
    const r = spawnSync('bash', [join(root, `bench/record/${shape}.sh`)], { stdio: ['ignore', 'inherit', 'inherit'], env });
    if (r.status === 0 && existsSync(file)) return file;
  }
  fail(`recording ${file} failed twice`);
}

function parseSize(s) {
  const m = /^(\d+)([KMG]?)B?$/i.exec(s);
  if (!m) fail(`not a size: ${s}`);
  return Number(m[1]) * { '': 1, K: 1e3, M: 1e6, G: 1e9 }[m[2].toUpperCase()];
}

/** The first `fraction` of the packets of `file`, cut once and kept while the source is older. */
function prefix(file, packets, fraction) {
  const cut = join(out, 'cut', `${basename(file, '.pcap')}-${Math.round(fraction * 100)}.pcap`);
  if (!existsSync(cut) || statSync(cut).mtimeMs < statSync(file).mtimeMs) {
    const r = spawnSync(process.execPath, [join(root, 'bench/cut.mjs'), file, cut, String(Math.round(packets * fraction))], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) fail(`cutting ${file} failed`);
  }
  return cut;
}

const rssFile = join(out, '.maxrss');
/** One timed run: seconds, peak RSS in MB (NaN when unknown), stdout when asked for. */
function once(spec, keepStdout) {
  if (existsSync(rssFile)) unlinkSync(rssFile);
  let [cmd, argv] = [spec.cmd, spec.argv];
  if (spec.viaTime) [cmd, argv] = [gnuTime, ['-f', '%M', '-o', rssFile, spec.cmd, ...spec.argv]];
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, {
    stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'],
    env: { ...process.env, BENCH_RSS_FILE: rssFile },
    maxBuffer: 1 << 30,
    timeout: timeout * 1000,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
  });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGKILL') return { timedOut: true, seconds };
  if (r.status !== 0) return { failed: `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''}`, seconds };
  const rss = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024 : NaN;
  return { seconds, rss, stdout: r.stdout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Runs the commands in turns (one run of each per round) rather than one after the other:
 * on a shared machine the speed drifts over a minute, and the ratios are only fair when
 * every command sees the same drift. A command that timed out or failed is not run again.
 */
function measureTogether(specs, n) {
  const results = specs.map(() => ({ runs: [], stdout: null, timedOut: false, failed: null }));
  for (let round = 0; round < n; round++) {
    specs.forEach((spec, i) => {
      const res = results[i];
      if (res.timedOut || res.failed) return;
      const r = once(spec, spec.keepStdout && res.stdout === null);
      if (r.timedOut) {
        res.timedOut = true;
        process.stderr.write(`  ${spec.label}: stopped after ${timeout} s\n`);
      } else if (r.failed) {
        res.failed = r.failed;
        process.stderr.write(`  ${spec.label}: failed (${r.failed})\n`);
      } else {
        res.runs.push(r);
        if (r.stdout) res.stdout = r.stdout;
      }
      process.stderr.write(`  round ${round + 1}/${n} ${spec.label}: ${r.seconds.toFixed(2)} s\n`);
    });
  }
  return specs.map((spec, i) => {
    const res = results[i];
    const ok = res.runs.length > 0 && !res.timedOut && !res.failed;
    return {
      label: spec.label,
      key: spec.key,
      seconds: ok ? median(res.runs.map((r) => r.seconds)) : NaN,
      rss: ok ? Math.max(...res.runs.map((r) => r.rss)) : NaN,
      n: res.runs.length,
      timedOut: res.timedOut,
      failed: res.failed,
      stdout: res.stdout,
    };
  });
}

const node = (script, ...rest) => ({ cmd: process.execPath, argv: ['-r', join(root, 'bench/maxrss.cjs'), join(root, script), ...rest] });
const sockstat = (...rest) => node('bin/sockstat', ...rest);

function describe(shape, file) {
  const bare = spawnSync(process.execPath, [join(root, 'bench/bare.mjs'), file], { encoding: 'utf8' });
  if (bare.status !== 0) fail(`pcap-parser cannot read ${file}`);
  const [packets] = bare.stdout.trim().split(' ').map(Number);
  const infoFile = `${file}.json`;
  const info = existsSync(infoFile) ? JSON.parse(readFileSync(infoFile, 'utf8')) : null;
  return { shape, file, mb: statSync(file).size / 1e6, packets, info };
}

// Record (or generate) everything first: a recording's load must not share the machine
// with a timed run.
const captures = chosen.map((s) => ({ shape: s, file: capture(s, SHAPES[s]) }));
const bigCaptures = args.includes('--big') ? BIG.filter((s) => chosen.includes(s)).map((s) => ({ shape: s, file: capture(s, bigSize) })) : [];
if (args.includes('--record')) {
  for (const c of [...captures, ...bigCaptures]) console.log(c.file);
  process.exit(0);
}

const commit = spawnSync('git', ['-C', root, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout.trim();
console.log(`machine: ${cpus().length} x ${cpus()[0].model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, commit ${commit}, ${new Date().toISOString().slice(0, 16)}Z`);
console.log(`median of ${runs} runs per command, taken in turns; runs over ${timeout} s stopped\n`);

const results = [];
for (const { shape, file } of captures) {
  const c = describe(shape, file);
  process.stderr.write(`${basename(file)}: ${c.mb.toFixed(1)} MB, ${c.packets} packets\n`);
  const specs = [
    { key: 'bare', label: 'pcap-parser iteration (bare)', ...node('bench/bare.mjs', file) },
    { key: 'stats', label: '`sockstat --stats json`', keepStdout: true, ...sockstat('--stats', 'json', file) },
    { key: 'json', label: '`sockstat --json > /dev/null`', ...sockstat('--json', file) },
    { key: 'payloads', label: '`sockstat --payloads > /dev/null`', ...sockstat('--payloads', file) },
  ];
  if (tshark) specs.push({ key: 'tshark', label: '`tshark -q -z io,stat,0`', cmd: 'tshark', argv: ['-r', file, '-q', '-z', 'io,stat,0'], viaTime: gnuTime !== null });
  specs.push({ key: 'q1', label: '`--stats json`, first 25%', ...sockstat('--stats', 'json', prefix(file, c.packets, 0.25)) });
  specs.push({ key: 'half', label: '`--stats json`, first 50%', ...sockstat('--stats', 'json', prefix(file, c.packets, 0.5)) });
  c.rows = measureTogether(specs, runs);
  results.push(c);
}

const bigResults = [];
for (const { shape, file } of bigCaptures) {
  const c = describe(shape, file);
  process.stderr.write(`${basename(file)}: ${c.mb.toFixed(1)} MB, ${c.packets} packets\n`);
  c.rows = measureTogether([
    { key: 'stats', label: '`--stats json`', keepStdout: true, ...sockstat('--stats', 'json', file) },
    { key: 'json', label: '`--json`', ...sockstat('--json', file) },
    { key: 'payloads', label: '`--payloads`', ...sockstat('--payloads', file) },
  ], bigRuns);
  bigResults.push(c);
}

// ---- report ----
const row = (cells) => `| ${cells.join(' | ')} |`;
const table = (head, rows) => [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
const get = (c, key) => c.rows.find((r) => r.key === key);
const secs = (r) => (!r ? '-' : r.timedOut ? `> ${timeout} s` : r.failed ? 'failed' : `${r.seconds.toFixed(3)} s`);
const ratio = (r, base) => (r && base && Number.isFinite(r.seconds) && Number.isFinite(base.seconds) ? (r.seconds / base.seconds).toFixed(2) : '-');
const mbOf = (r) => (r && Number.isFinite(r.rss) ? `${r.rss.toFixed(0)} MB` : '-');
const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const name = (c) => basename(c.file, '.pcap');

console.log('Captures (bench/data/; recorded by bench/record/<shape>.sh, generated by npm run gen):\n');
console.log(table(['capture', 'MB', 'packets', 'TCP connections (SYNs)', 'recorded in', 'dropped by kernel'], results.concat(bigResults).map((c) => [
  name(c), c.mb.toFixed(1), int(c.packets), c.info ? int(c.info.syns) : '-', c.info ? `${c.info.seconds} s` : '-', c.info ? String(c.info.dropped) : '-',
])));

console.log('\nTime (median) and ratio to bare pcap-parser iteration:\n');
console.log(table(['capture', 'bare', '`--stats json`', '`--json`', '`--payloads`', ...(tshark ? ['tshark'] : []), 'whole/half', 'peak RSS `--stats json`'], results.map((c) => {
  const bare = get(c, 'bare');
  const cell = (k) => (get(c, k)?.n ? `${secs(get(c, k))} (x${ratio(get(c, k), bare)})` : secs(get(c, k)));
  return [name(c), secs(bare), cell('stats'), cell('json'), cell('payloads'), ...(tshark ? [cell('tshark')] : []), `x${ratio(get(c, 'stats'), get(c, 'half'))}`, mbOf(get(c, 'stats'))];
})));

console.log('\nEach run:\n');
console.log(table(['capture', 'run', 'median', 'packets/s', 'MB/s', 'peak RSS', 'x bare'], results.flatMap((c) => {
  const bare = get(c, 'bare');
  return c.rows.filter((r) => !['q1', 'half'].includes(r.key)).map((r) => [
    name(c), r.label, secs(r), int(c.packets / r.seconds), Number.isFinite(r.seconds) ? (c.mb / r.seconds).toFixed(1) : '-', mbOf(r), ratio(r, bare),
  ]);
})));

console.log('\nGrowth: `--stats json` on the first 25%, 50% and all of the packets:\n');
console.log(table(['capture', '25%', '50%', '100%', 'whole/half', 'peak RSS 25% / 50% / 100%'], results.map((c) => [
  name(c), secs(get(c, 'q1')), secs(get(c, 'half')), secs(get(c, 'stats')), `x${ratio(get(c, 'stats'), get(c, 'half'))}`,
  [get(c, 'q1'), get(c, 'half'), get(c, 'stats')].map(mbOf).join(' / '),
])));

if (bigResults.length) {
  console.log(`\nBig captures (${bigSize}), median of ${bigRuns} run(s):\n`);
  console.log(table(['capture', 'packets', '`--stats json`', 'peak RSS', '`--json`', 'peak RSS', '`--payloads`', 'peak RSS'], bigResults.map((c) => [
    name(c), int(c.packets), ...['stats', 'json', 'payloads'].flatMap((k) => [secs(get(c, k)), mbOf(get(c, k))]),
  ])));
}

// What sockstat made of each capture: a sanity check that it recognises the traffic.
console.log('\n`sockstat --stats json` figures:\n');
console.log(table(['capture', 'packets', 'updates', 'per update: packets', 'frame bytes', 'app bytes', 'useful %', 'steady update'], results.concat(bigResults).map((c) => {
  let s;
  try {
    s = JSON.parse(get(c, 'stats').stdout).captures[0];
  } catch {
    return [name(c), '-', '-', '-', '-', '-', '-', '-'];
  }
  const p = s.steadyState ?? {};
  return [name(c), int(s.overall?.totalPackets), int(s.updateCount), p.totalPackets ?? '-', int(p.frameBytes), int(p.appBytes), p.overhead?.usefulPercent ?? '-', p.update ?? '-'];
})));

const saved = join(out, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(saved, JSON.stringify({ commit, runs, timeout, results: results.concat(bigResults).map(({ rows, ...c }) => ({ ...c, rows: rows.map(({ stdout, ...r }) => ({ ...r, stdout })) })) }, null, 1));
console.log(`\n(raw results: ${saved.slice(root.length + 1)})`);
