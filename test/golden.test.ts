import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ROOT, run } from './helpers/run.js';

// Golden files: the CLI's output on each fixture, compared byte for byte.
// Regenerate with `npm run test:update-golden`, then read every changed file before committing.
const UPDATE = process.env.SOCKSTAT_UPDATE_GOLDEN === '1';
const GOLDEN = join(ROOT, 'test/golden');

const MODES: Array<[string, string[]]> = [
  ['summary', []],
  ['markdown', ['--stats', 'markdown']],
  ['payloads', ['--payloads']],
  ['json', ['--json']],
];

const fixtures = readdirSync(join(ROOT, 'fixtures'))
  .filter((f) => /\.(pcap|pcapng)$/.test(f))
  .sort();

describe('golden outputs', () => {
  test('every fixture has its golden files', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(5);
  });
  for (const fixture of fixtures) {
    for (const [mode, args] of MODES) {
      test(`${fixture} ${mode}`, async () => {
        const r = await run(...args, `fixtures/${fixture}`);
        expect(r.code).toBe(0);
        // Warnings go to stderr in --stats mode: they are part of the expected output too.
        const out = r.stdout + (r.stderr ? `--- stderr ---\n${r.stderr}` : '');
        const file = join(GOLDEN, `${fixture}.${mode}.txt`);
        if (UPDATE) writeFileSync(file, out);
        expect(existsSync(file), `${file} is missing: run npm run test:update-golden`).toBe(true);
        expect(out).toBe(readFileSync(file, 'utf8'));
      });
    }
  }
});
