import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { KeyLog } from '../src/dissect/tls/keylog.js';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { exercise, mutate, rng } from './helpers/fuzz.js';
import { ROOT } from './helpers/run.js';

// A seeded mutation fuzzer over the project's own fixtures. CI runs a fixed number of cases;
// a longer run is `npm run fuzz` (SOCKSTAT_FUZZ_CASES, SOCKSTAT_FUZZ_SEED). An input that
// ever fails is written to fixtures/fuzz/ and replayed here from then on.
const CASES = Number(process.env.SOCKSTAT_FUZZ_CASES ?? 5000);
const SEED = Number(process.env.SOCKSTAT_FUZZ_SEED ?? 20261121);
const CASE_SECONDS = 10;
const HEAP_LIMIT = 768 * 1024 * 1024;

const FIXTURES = join(ROOT, 'fixtures');
const REGRESSIONS = join(FIXTURES, 'fuzz');
const seeds = readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => new Uint8Array(readFileSync(join(FIXTURES, f))));
// The TLS and HTTP/2 fixtures too, decrypted with their key logs (issue 14): mutations then
// reach the record layer, the decrypters and the layers over the plaintext.
const KEYS = new KeyLog();
for (const dir of ['tls', 'h2']) {
  for (const f of readdirSync(join(FIXTURES, dir))) {
    if (f.endsWith('.pcap')) seeds.push(new Uint8Array(readFileSync(join(FIXTURES, dir, f))));
    else if (f.endsWith('.keys')) KEYS.add(readFileSync(join(FIXTURES, dir, f), 'latin1'), f);
  }
}

async function check(input: Uint8Array): Promise<string | null> {
  const t = Date.now();
  try {
    await exercise(input, KEYS);
  } catch (e) {
    return `threw ${(e as Error).stack ?? e}`;
  }
  const seconds = (Date.now() - t) / 1000;
  if (seconds > CASE_SECONDS) return `took ${seconds} s`;
  if (process.memoryUsage().heapUsed > HEAP_LIMIT) return `heap at ${process.memoryUsage().heapUsed} bytes`;
  return null;
}

describe('fuzzing', () => {
  test('every input that ever failed still passes', async () => {
    for (const f of readdirSync(REGRESSIONS).filter((x) => x.endsWith('.pcap'))) {
      expect(await check(new Uint8Array(readFileSync(join(REGRESSIONS, f)))), f).toBeNull();
    }
  });

  test(`${CASES} mutated captures (seed ${SEED}): no exception, no hang, bounded memory`, async () => {
    expect(seeds.length).toBeGreaterThan(10);
    const random = rng(SEED);
    const failures: string[] = [];
    for (let i = 0; i < CASES; i++) {
      // Each case runs on microtasks; yield now and then so the test runner's own messages
      // get through during a long run.
      if (i % 250 === 0) await new Promise((resolve) => setImmediate(resolve));
      const input = mutate(random, seeds);
      const problem = await check(input);
      if (problem) {
        const name = `case-${createHash('sha1').update(input).digest('hex').slice(0, 12)}.pcap`;
        writeFileSync(join(REGRESSIONS, name), input);
        failures.push(`case ${i} (${name}): ${problem.split('\n').slice(0, 4).join(' | ')}`);
        if (failures.length >= 5) break;
      }
    }
    expect(failures).toEqual([]);
  }, 600_000);
});
