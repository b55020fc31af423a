import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Group, ShapeTable } from '../src/analysis/updates.js';

// The steady state is the latest update (highest index) of the most frequent update shape,
// ties going to the shape whose latest update came last. Updates are numbered when they open
// and counted when they are handed over, which on busy captures is not in index order: the
// table copies only updates that can still turn out to be the one reported, and must never
// miss it.
describe('steady state', () => {
  test('the shape table reports what counting every update would, whatever order updates settle in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ shape: fc.integer({ min: 0, max: 4 }), hold: fc.integer({ min: 0, max: 6 }) }), { maxLength: 120 }),
        fc.boolean(),
        (ops, newestFirst) => {
          const table = new ShapeTable();
          const open: Array<{ g: Group; due: number; shape: number }> = [];
          const count = new Map<number, number>();
          const last = new Map<number, number>();
          const settle = (k: number) => {
            const [{ g, shape }] = open.splice(k, 1);
            table.count(g, open.length);
            count.set(shape, (count.get(shape) ?? 0) + 1);
            last.set(shape, Math.max(last.get(shape) ?? 0, g.index));
          };
          ops.forEach(({ shape, hold }, k) => {
            const g = new Group(null);
            g.index = k + 1;
            g.totalPackets = 2;
            g.appPackets = 1;
            g.frameBytes = 100 + shape;
            g.tcpBytes = 64;
            g.appBytes = 30 + shape;
            g.frames.push(2 * k + 1, 2 * k + 2);
            open.push({ g, due: k + 1 + hold, shape });
            // Those due settle now, newest or oldest first: later updates overtake earlier ones.
            for (;;) {
              const due = open.map((o, i) => [o.due, i]).filter(([d]) => d <= k + 1).map(([, i]) => i);
              if (due.length === 0) break;
              settle(newestFirst ? due[due.length - 1] : due[0]);
            }
          });
          while (open.length > 0) settle(newestFirst ? open.length - 1 : 0);

          let best = -1;
          for (const [shape, n] of count) {
            const b = count.get(best) ?? 0;
            if (n > b || (n === b && last.get(shape)! > last.get(best)!)) best = shape;
          }
          const steady = table.steady();
          if (best < 0) expect(steady).toBeNull();
          else if (count.get(best)! < 2) expect(steady).toEqual({ update: null }); // the tracker then reports the last update
          else {
            const u = steady!.update!;
            expect([u.index, u.figures.frameBytes, u.frames]).toEqual([last.get(best), 100 + best, [2 * last.get(best)! - 1, 2 * last.get(best)!]]);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
