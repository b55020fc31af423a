import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { HAVE_SEEDS, ROOT, runJson, seed } from './helpers/run.js';

const KEYS = ['totalPackets', 'appPackets', 'frameBytes', 'tcpBytes', 'appBytes'] as const;

function conservation(c: any): void {
  const sum: Record<string, number> = Object.fromEntries(KEYS.map((k) => [k, c.setup[k] + c.teardown[k] + c.late[k]]));
  for (const u of c.updates) for (const k of KEYS) sum[k] += u[k];
  expect(sum, c.file).toEqual(Object.fromEntries(KEYS.map((k) => [k, c.overall[k]])));
  const frames = c.updates.flatMap((u: any) => u.frames);
  expect(new Set(frames).size, `${c.file}: a frame in two updates`).toBe(frames.length);
}

describe('every packet is counted exactly once', () => {
  const fixtures = readdirSync(join(ROOT, 'fixtures')).filter((f) => /\.pcap(ng)?$/.test(f));
  test('set-up + tear-down + late + all updates = overall, in every fixture', async () => {
    const j = await runJson(...fixtures.map((f) => `fixtures/${f}`));
    for (const c of j.captures) conservation(c);
  });
  test.skipIf(!HAVE_SEEDS)('and in every seed capture', async () => {
    const j = await runJson(...['tcpapp', 'webapp', 'ajaxapp', 'sseapp', 'wsapp'].map((n) => seed(`${n}.pcap`)));
    for (const c of j.captures) conservation(c);
  });
});
