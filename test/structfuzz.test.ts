import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { exercise, rng } from './helpers/fuzz.js';
import { ROOT } from './helpers/run.js';
import { schemaErrors, type SchemaDef } from './helpers/schema.js';
import { structuredCase } from './helpers/structfuzz.js';

// The structure-aware fuzzer (issue 18), beside the mutation fuzzer (fuzz.test.ts): valid
// captures with hostile protocol content. A seeded short run here; `npm run fuzz` the long
// one (SOCKSTAT_STRUCT_CASES, SOCKSTAT_FUZZ_SEED). A failing input is written to
// fixtures/fuzz/, which the mutation fuzzer's first test replays from then on.
const CASES = Number(process.env.SOCKSTAT_STRUCT_CASES ?? 250);
const SEED = Number(process.env.SOCKSTAT_FUZZ_SEED ?? 20261202);
/** Cases also run through the command line, every output mode, in processes of their own. */
const SPAWNED = Number(process.env.SOCKSTAT_STRUCT_SPAWNED ?? 6);
const CASE_SECONDS = 10;
const HEAP_LIMIT = 768 * 1024 * 1024;
const RSS_LIMIT_KIB = 400 * 1024;
const REGRESSIONS = join(ROOT, 'fixtures/fuzz');
const BIN = join(ROOT, 'bin/sockstat');
const MAXRSS = join(ROOT, 'bench/maxrss.cjs');
const MODES = [[], ['--json'], ['--ndjson'], ['--payloads'], ['--stats', 'csv'], ['--stats', 'json']];

function keep(input: Uint8Array): string {
  const name = `struct-${createHash('sha1').update(input).digest('hex').slice(0, 12)}.pcap`;
  writeFileSync(join(REGRESSIONS, name), input);
  return name;
}

/** The command line on one file in every mode: exit status, one-line errors, JSON, time and RSS. */
function throughCli(file: string, dir: string): string | null {
  for (const mode of MODES) {
    const rssFile = join(dir, 'rss');
    const t = Date.now();
    const r = spawnSync(process.execPath, ['-r', MAXRSS, BIN, ...mode, file], { env: { ...process.env, BENCH_RSS_FILE: rssFile }, maxBuffer: 1 << 30, timeout: 60_000 });
    const seconds = (Date.now() - t) / 1000;
    const what = mode.join(' ') || 'summary';
    if (r.status === null) return `${what}: ended by ${r.signal} after ${seconds} s`;
    if (r.status !== 0 && r.status !== 1) return `${what}: exit status ${r.status}`;
    const stderr = r.stderr.toString('utf8');
    for (const line of stderr.split('\n').filter(Boolean)) if (!line.startsWith('sockstat: ')) return `${what}: stderr line ${JSON.stringify(line.slice(0, 200))}`;
    if (/internal error/.test(stderr)) return `${what}: ${stderr.trim()}`;
    const stdout = r.stdout.toString('utf8');
    // Valid JSON, and of the shape schema/sockstat.schema.json gives it.
    const docs: Array<[SchemaDef, string]> = mode[0] === '--json' ? [['jsonDocument', stdout]] : mode[1] === 'json' ? [['statsDocument', stdout]] : mode[0] === '--ndjson' ? stdout.split('\n').filter(Boolean).map((l) => ['ndjsonRecord', l] as [SchemaDef, string]) : [];
    for (const [def, text] of docs) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        return `${what}: invalid JSON (${(e as Error).message})`;
      }
      const wrong = schemaErrors(def, value);
      if (wrong.length) return `${what}: not the schema's ${def}: ${wrong.join('; ')}`;
    }
    const trap = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/.exec(stdout);
    if (trap) return `${what}: U+${trap[0].charCodeAt(0).toString(16)} reached the output raw`;
    const rss = Number(readFileSync(rssFile, 'utf8'));
    if (rss > RSS_LIMIT_KIB) return `${what}: peak RSS ${Math.round(rss / 1024)} MB`;
    if (seconds > CASE_SECONDS * 2) return `${what}: took ${seconds} s`;
  }
  return null;
}

describe('structure-aware fuzzing', () => {
  test(`${CASES} valid captures with hostile content (seed ${SEED}): every stage and output, bounded time and memory`, async () => {
    const random = rng(SEED);
    const failures: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'sockstat-structfuzz-'));
    const spawnEvery = SPAWNED > 0 ? Math.max(1, Math.floor(CASES / SPAWNED)) : Infinity;
    const t0 = Date.now();
    let bytes = 0;
    for (let i = 0; i < CASES && failures.length < 5; i++) {
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      const c = structuredCase(random);
      bytes += c.bytes.length;
      const t = Date.now();
      let problem: string | null = null;
      try {
        await exercise(c.bytes);
      } catch (e) {
        problem = `threw ${((e as Error).stack ?? String(e)).split('\n').slice(0, 4).join(' | ')}`;
      }
      const seconds = (Date.now() - t) / 1000;
      if (!problem && seconds > CASE_SECONDS) problem = `took ${seconds} s`;
      if (!problem && process.memoryUsage().heapUsed > HEAP_LIMIT) problem = `heap at ${process.memoryUsage().heapUsed} bytes`;
      if (!problem && i % spawnEvery === 0) {
        const file = join(dir, `case-${i}.pcap`);
        writeFileSync(file, c.bytes);
        problem = throughCli(file, dir);
      }
      if (problem) failures.push(`case ${i} (${c.what}; kept as ${keep(c.bytes)}): ${problem}`);
    }
    const seconds = (Date.now() - t0) / 1000;
    console.log(`structure-aware fuzzer: ${CASES} cases, ${(bytes / 2 ** 20).toFixed(1)} MiB of captures, ${seconds.toFixed(1)} s, ${(CASES / seconds).toFixed(0)} cases/s`);
    rmSync(dir, { recursive: true, force: true });
    expect(failures).toEqual([]);
  }, CASES * 2000 + SPAWNED * 60_000 + 60_000);
});
