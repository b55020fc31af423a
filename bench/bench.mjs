#!/usr/bin/env node
// npm run bench [-- --size 200MB --runs 5 --big]
// Times, side by side on one generated capture: bare pcap-parser iteration, sockstat
// --stats json, sockstat --payloads (to /dev/null) and, when installed, tshark -z io,stat,0.
// Prints medians of several runs, packets/s, MB/s, peak RSS and ratios to the bare run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const size = opt('--size', '200MB');
const runs = Number(opt('--runs', '5'));
const big = args.includes('--big');
const out = join(root, 'bench/out');
mkdirSync(out, { recursive: true });

function capture(sz) {
  const file = join(out, `mixed-${sz}.pcap`);
  if (!existsSync(file)) {
    const r = spawnSync(process.execPath, [join(root, 'dist/synth/generate.js'), '--size', sz, '--seed', '1', file], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(1);
  }
  return file;
}

const rssFile = join(out, '.maxrss');
function once(cmd, argv, stdout = 'ignore') {
  if (existsSync(rssFile)) unlinkSync(rssFile);
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', stdout, 'inherit'], env: { ...process.env, BENCH_RSS_FILE: rssFile }, maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status})`);
  const rss = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) / 1024 : NaN;
  return { seconds, rss };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Runs the commands in turns (one run of each per round) rather than one after the other:
 * on a shared machine the speed drifts over a minute, and the ratios are only fair when
 * every command sees the same drift.
 */
function measureTogether(specs) {
  const results = specs.map(() => []);
  for (let round = 0; round < runs; round++) specs.forEach(([, cmd, argv], i) => results[i].push(once(cmd, argv)));
  return specs.map(([label], i) => ({
    label,
    seconds: median(results[i].map((r) => r.seconds)),
    rss: Math.max(...results[i].map((r) => r.rss)),
  }));
}

const node = (script, ...rest) => ['-r', join(root, 'bench/maxrss.cjs'), join(root, script), ...rest];
const file = capture(size);
const mb = statSync(file).size / 1e6;
const packets = Number(spawnSync(process.execPath, [join(root, 'bench/bare.mjs'), file], { encoding: 'utf8' }).stdout.split(' ')[0]);

console.log(`machine: ${cpus().length} x ${cpus()[0].model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
console.log(`capture: ${file} (${mb.toFixed(1)} MB, ${packets} packets); median of ${runs} runs, taken in turns\n`);
// Linearity: the same traffic at half the size, timed in the same turns.
const halfSize = `${Math.round(mb / 2)}MB`;
const halfFile = capture(halfSize);
const [bareRow, statsRow, payloadsRow, half] = measureTogether([
  ['pcap-parser iteration (bare)', process.execPath, node('bench/bare.mjs', file)],
  ['sockstat --stats json', process.execPath, node('bin/sockstat', '--stats', 'json', file)],
  ['sockstat --payloads > /dev/null', process.execPath, node('bin/sockstat', '--payloads', file)],
  ['sockstat --stats json (half size)', process.execPath, node('bin/sockstat', '--stats', 'json', halfFile)],
]);
const rows = [bareRow, statsRow, payloadsRow];
if (spawnSync('tshark', ['-v']).status === 0) {
  rows.push(...measureTogether([['tshark -q -z io,stat,0', 'tshark', ['-r', file, '-q', '-z', 'io,stat,0']]]));
}
const bare = rows[0].seconds;
const pad = (s, n) => String(s).padEnd(n);
console.log(`${pad('run', 34)}${pad('median s', 10)}${pad('packets/s', 12)}${pad('MB/s', 8)}${pad('peak RSS MB', 13)}x bare`);
for (const r of rows) {
  console.log(`${pad(r.label, 34)}${pad(r.seconds.toFixed(3), 10)}${pad(Math.round(packets / r.seconds), 12)}${pad((mb / r.seconds).toFixed(1), 8)}${pad(Number.isNaN(r.rss) ? '-' : r.rss.toFixed(0), 13)}${(r.seconds / bare).toFixed(2)}`);
}

console.log(`\nlinearity: ${halfSize} in ${half.seconds.toFixed(3)} s, ${size} in ${rows[1].seconds.toFixed(3)} s: x${(rows[1].seconds / half.seconds).toFixed(2)} for twice the capture`);

if (big) {
  const [gig, hundred] = measureTogether([
    ['sockstat --stats json (1GB)', process.execPath, node('bin/sockstat', '--stats', 'json', capture('1000MB'))],
    ['sockstat --stats json (100MB)', process.execPath, node('bin/sockstat', '--stats', 'json', capture('100MB'))],
  ]);
  console.log(`peak RSS: 100MB capture ${hundred.rss.toFixed(0)} MB, 1GB capture ${gig.rss.toFixed(0)} MB (1GB in ${gig.seconds.toFixed(2)} s)`);
}
