import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Group, PendingQueue } from '../src/analysis/updates.js';
import type { Connection, SegmentInfo } from '../src/reassembly/types.js';

// Packets wait in the update tracker for the message that holds their key byte. The queue is
// sorted by that offset, so a message claims its packets by binary search; the old list was
// searched whole for every message, and on an SSE firehose whose late ACKs pointed at messages
// already forgotten it held 10,000 packets searched for each of 750,000 events.

const conn = { id: 1 } as unknown as Connection;
function seg(frame: number): SegmentInfo {
  return { conn, dir: 1, frame, time: frame, frameBytes: 100, linkNetBytes: 14, tcpBytes: 32, appBytes: 10, flags: 0, offset: 0, ackOffset: -1, retransmission: false, newOffset: 0 };
}

describe('pending packets', () => {
  test('a range claims exactly the waiting packets whose offset it holds, as a list searched in full would', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('push' as const), offset: fc.integer({ min: 0, max: 200 }) }),
            fc.record({ op: fc.constant('claim' as const), start: fc.integer({ min: 0, max: 200 }), len: fc.integer({ min: 0, max: 40 }) }),
          ),
          { maxLength: 300 },
        ),
        (ops) => {
          const q = new PendingQueue();
          const model: Array<{ frame: number; offset: number }> = [];
          let frame = 0;
          for (const o of ops) {
            if (o.op === 'push') {
              frame++;
              // Far out of order (more than 256 behind the back) is refused, never lost.
              if (q.push(seg(frame), o.offset, false)) model.push({ frame, offset: o.offset });
            } else {
              const g = new Group(null);
              q.claim(o.start, o.start + o.len, g);
              const want = model.filter((m) => m.offset >= o.start && m.offset < o.start + o.len).map((m) => m.frame);
              for (let i = model.length - 1; i >= 0; i--) if (model[i].offset >= o.start && model[i].offset < o.start + o.len) model.splice(i, 1);
              expect([...g.frames].sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
            }
            expect(q.size).toBe(model.length);
          }
          const rest = new Group(null);
          q.drain(rest);
          expect(rest.frames.sort((a, b) => a - b)).toEqual(model.map((m) => m.frame).sort((a, b) => a - b));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('the work per packet does not grow with how many wait: a firehose shape moves O(1) entries per packet', () => {
    // Packets arrive in offset order; each message completes a little behind the newest
    // packet; one packet in ten points at a message long gone and waits until given up.
    const q = new PendingQueue();
    const sink = new Group(null);
    const packets = 200_000;
    let maxSize = 0;
    for (let i = 0; i < packets; i++) {
      const orphan = i % 10 === 0;
      q.push(seg(i), orphan ? i * 100 - 50_000 : i * 100, false);
      if (i >= 3) q.claim((i - 3) * 100, (i - 2) * 100, sink);
      if (q.size > 10_000) q.shift(sink);
      maxSize = Math.max(maxSize, q.size);
    }
    expect(maxSize).toBeLessThanOrEqual(10_001);
    // Each out-of-order orphan slides past the few packets still waiting after it; each
    // claim below the orphans moves the few after it; compaction moves each entry about once.
    expect(q.moved).toBeLessThan(packets * 12);
  });

  test('a packet too far out of order is refused, so one insertion never shifts thousands of entries', () => {
    const q = new PendingQueue();
    for (let i = 0; i < 5000; i++) expect(q.push(seg(i), 1000 + i, false)).toBe(true);
    const before = q.moved;
    expect(q.push(seg(9999), 0, false)).toBe(false);
    expect(q.moved).toBe(before);
    expect(q.size).toBe(5000);
  });
});
