import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { OutPacket } from '../src/capture/writer.js';
import { decodePacket, type TcpPacket } from '../src/decode/packet.js';
import { LIMITS, MemoryBudget } from '../src/limits.js';
import { Held, HELD_OVERHEAD, HeldSegments } from '../src/reassembly/held.js';
import { CONNECTION_BYTES, DEFAULT_LIMITS, EVICTIONS_SAID, MAX_CLOSED_KEPT, Reassembler, type ReassemblyLimits } from '../src/reassembly/tcp.js';
import type { Connection, Dir, StreamChunk } from '../src/reassembly/types.js';
import { rng } from '../src/synth/random.js';
import { analyze, messages, session } from './helpers/synth.js';
import { collect, conflictingCopies, holes, synFlood, tinySegments } from './helpers/tcp-hostile.js';

interface Run {
  /** Per connection (by id), what each direction delivered; -1 for a byte reported as a gap. */
  streams: Map<number, [number[], number[]]>;
  /** Frames of the chunks delivered, per connection and direction. */
  frames: Map<number, [number[], number[]]>;
  ends: Array<[number, Dir, string]>;
  closed: number[];
  forgotten: number[];
  warnings: Array<[number, string]>;
  codes: string[];
  r: Reassembler;
  budget: MemoryBudget;
  /** The most connections held at once. */
  maxHeld: number;
}

/** Feeds packets through a Reassembler, recording everything it hands on. */
function reassemble(packets: OutPacket[], limits: Partial<ReassemblyLimits> = {}, budget = new MemoryBudget()): Run {
  const run: Run = { streams: new Map(), frames: new Map(), ends: [], closed: [], forgotten: [], warnings: [], codes: [], r: null as unknown as Reassembler, budget, maxHeld: 0 };
  run.r = new Reassembler({
    connection: (conn: Connection) => {
      const out: [number[], number[]] = [[], []];
      const frames: [number[], number[]] = [[], []];
      run.streams.set(conn.id, out);
      run.frames.set(conn.id, frames);
      return {
        data(dir: Dir, c: StreamChunk) {
          expect(c.offset).toBe(out[dir].length);
          for (const b of c.bytes) out[dir].push(b);
          frames[dir].push(c.frame);
        },
        gap(dir: Dir, offset: number, length: number) {
          expect(offset).toBe(out[dir].length);
          for (let i = 0; i < length; i++) out[dir].push(-1);
        },
        end(dir: Dir, reason: string) {
          run.ends.push([conn.id, dir, reason]);
        },
      };
    },
    segment: () => {},
    warning: (f, code, m) => { run.warnings.push([f, m]); run.codes.push(code); },
    closed: (conn) => run.closed.push(conn.id),
    forget: (conn) => run.forgotten.push(conn.id),
  }, limits, budget);
  packets.forEach((p, i) => {
    const originalLength = p.originalLength ?? p.data.length;
    const d = decodePacket({ frame: i + 1, tsSec: p.tsSec, tsNsec: p.tsNsec, capturedLength: p.data.length, originalLength, linkType: 1, data: p.data });
    run.r.segment(d as TcpPacket, i + 1, p.tsSec - 1_700_000_000 + p.tsNsec / 1e9, originalLength);
    run.maxHeld = Math.max(run.maxHeld, run.r.connectionsHeld);
  });
  run.r.finish(packets.length);
  return run;
}

const text = (bytes: number[]) => Buffer.from(bytes.map((b) => (b < 0 ? 0x3f : b))).toString('latin1');

describe('a second copy with different bytes (issue 19.5)', () => {
  test('the audit capture: /evil after /good, and Host: evil over a held Host: good; the first copy wins, both frames named', async () => {
    const c = conflictingCopies();
    const run = reassemble(c.packets);
    const client = text(run.streams.get(1)![0]);
    expect(client).toBe('GET /good HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: good\r\n\r\n');
    const differ = run.warnings.filter(([, m]) => m.includes('differs from the first'));
    // "good" and "evil" differ in all four bytes, at stream offsets 5 and 31 + 17 + 6 = 54.
    expect(differ).toEqual([
      [c.retransmission, `a second copy of client data differs from the first (frame ${c.firstRetransmitted}): 4 of the 31 bytes compared differ, from stream offset 5; the first copy is kept (a receiver may have taken either: a sign of evasion)`],
      [c.overlapping, `a second copy of client data differs from the first (frame ${c.firstHeld}): 4 of the 14 bytes compared differ, from stream offset 54; the first copy is kept (a receiver may have taken either: a sign of evasion)`],
    ]);
    expect(run.r.stats).toMatchObject({ conflictingSegments: 2, conflictingBytes: 8, retransmittedSegments: 1, outOfOrderSegments: 1 });
    // The 14 held bytes "Host: good\r\n\r\n" were sent again in order: counted as overlap.
    expect(run.r.stats.overlapBytes).toBe(14);

    // Through the whole pipeline the dissectors see the first copies only.
    const cap = await analyze(c.packets);
    expect(messages(cap, 'http-request').map((m: any) => [m.target, m.headers])).toEqual([['/good', [['Host', 'x']]], ['/x', [['Host', 'good']]]]);
    expect(cap.reassembly).toMatchObject({ conflictingSegments: 2, conflictingBytes: 8 });
  });

  test('a held copy overlapped by a later held copy keeps its bytes, and the overlap is counted', () => {
    const s = session().handshake();
    s.segmentAt('client', 10, 'aaaaaaaaaa'); // frame 4: [10, 20)
    s.segmentAt('client', 5, 'bbbbbbbbbb'); // frame 5: [5, 15), of which [10, 15) is held already
    s.segmentAt('client', 0, 'ccccc'); // frame 6 fills the hole
    s.advance('client', 20).close();
    const run = reassemble(s.packets);
    expect(text(run.streams.get(1)![0])).toBe('cccccbbbbbaaaaaaaaaa');
    expect(run.r.stats.overlapBytes).toBe(5);
    expect(run.warnings.filter(([, m]) => m.includes('differs'))).toEqual([[5, 'a second copy of client data differs from the first (frame 4): 5 of the 5 bytes compared differ, from stream offset 10; the first copy is kept (a receiver may have taken either: a sign of evasion)']]);
  });

  test('an in-order segment over held bytes: the held copy is delivered where it lies, with its own frame', () => {
    const s = session().handshake();
    s.segmentAt('client', 10, 'aaaaaaaaaa'); // frame 4, held
    s.segmentAt('client', 0, 'x'.repeat(15) + 'a'.repeat(5) + 'yyyyy'); // frame 5: [0, 25)
    s.advance('client', 25).close();
    const run = reassemble(s.packets);
    expect(text(run.streams.get(1)![0])).toBe('x'.repeat(10) + 'a'.repeat(10) + 'yyyyy');
    expect(run.frames.get(1)![0]).toEqual([5, 4, 5]);
    expect(run.r.stats.overlapBytes).toBe(10);
    expect(run.r.stats.conflictingBytes).toBe(5); // "xxxxx" where "aaaaa" was held
  });

  test('identical copies are no alarm; bytes no longer kept are not compared', () => {
    const s = session().handshake();
    s.segmentAt('client', 0, 'hello');
    s.segmentAt('client', 0, 'hello'); // identical retransmission
    const far = new Uint8Array(3 * LIMITS.retransmissionCompareBytes).fill(0x7a);
    s.segmentAt('client', 5, far);
    s.segmentAt('client', 0, 'HELLO'); // differs, but 3 windows ago: gone
    s.advance('client', 5 + far.length).close();
    const run = reassemble(s.packets);
    expect(run.r.stats.retransmittedSegments).toBe(2);
    expect(run.r.stats.conflictingSegments).toBeUndefined();
    expect(run.warnings.some(([, m]) => m.includes('differs'))).toBe(false);
  });

  test('any arrival order of copies with any bytes: each byte is its first copy, and every difference is counted (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 599 }), fc.integer({ min: 1, max: 120 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 40 }),
        fc.integer(),
        (total, segs, seed) => {
          // Stream bytes are 'a' + (copy number); a segment list that misses a byte leaves a gap.
          const random = rng(seed);
          const s = session().handshake();
          const first = new Map<number, number>();
          let differ = 0;
          const cover = [...segs, [0, total, 0] as [number, number, number]].map(([o, n, copy]) => [Math.min(o, total - 1), Math.min(n, total - Math.min(o, total - 1)), copy] as const);
          // The covering segment goes at a random place, so that the whole stream is sent.
          cover.splice(Math.floor(random() * cover.length), 0, cover.pop()!);
          for (const [o, n, copy] of cover) {
            const bytes = new Uint8Array(n).map((_, i) => ((o + i) % 7 === 0 ? 0x61 + copy : 0x61));
            for (let i = 0; i < n; i++) {
              const was = first.get(o + i);
              if (was === undefined) first.set(o + i, bytes[i]);
              else if (was !== bytes[i]) differ++;
            }
            s.segmentAt('client', o, bytes);
          }
          s.advance('client', total).close();
          const run = reassemble(s.packets);
          expect(run.streams.get(1)![0]).toEqual([...Array(total).keys()].map((i) => first.get(i)));
          expect(run.r.stats.conflictingBytes ?? 0).toBe(differ);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('held out-of-order segments (issue 18)', () => {
  test('insertion, lookup and removal cost O(log n) steps whatever the arrival order', () => {
    const n = 20000;
    for (const order of ['ascending', 'descending', 'shuffled']) {
      const offsets = [...Array(n).keys()].map((i) => 2 * i + 1);
      if (order === 'descending') offsets.reverse();
      if (order === 'shuffled') {
        const random = rng(7);
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [offsets[i], offsets[j]] = [offsets[j], offsets[i]];
        }
      }
      const held = new HeldSegments();
      for (const o of offsets) held.insert(new Held(o, 1, Uint8Array.of(1), 0, 0));
      expect(held.count).toBe(n);
      expect(held.charge).toBe(n * (1 + HELD_OVERHEAD));
      expect(held.covers(1, 2)).toBe(true);
      expect(held.covers(1, 3)).toBe(false); // offset 2 is a hole
      expect(held.from(2)!.offset).toBe(3);
      const out: number[] = [];
      for (let e = held.shift(); e; e = held.shift()) out.push(e.offset);
      expect(out).toEqual([...Array(n).keys()].map((i) => 2 * i + 1));
      // An array spliced per insertion and shifted per removal moves ~n^2/2 = 2e8 entries here.
      expect(held.steps).toBeLessThan(12 * n * Math.log2(n));
    }
  });

  test('1-byte segments cost what any segment costs: the per-direction limit counts them so', () => {
    // 20,000 1-byte segments behind a hole: 20 KB of payload, but ~7 MB of objects.
    const run = reassemble(collect((emit) => tinySegments(20000, emit)));
    const limitWarnings = run.warnings.filter(([, m]) => m.includes('held behind a hole that never filled'));
    expect(limitWarnings.length).toBeGreaterThan(0);
    // The first warning comes once the segments' cost passes the limit, not their bytes.
    const perSegment = 1 + HELD_OVERHEAD;
    const firstAt = limitWarnings[0][0];
    const heldThen = firstAt - 3; // frames 1-3 are the handshake
    expect(heldThen).toBe(Math.floor(DEFAULT_LIMITS.maxPendingBytes / perSegment) + 1);
    // Then the hole in front of them (bytes 0 .. 20000 - heldThen) is given up; the held bytes
    // are delivered, and the segments that come after, all below them, are retransmissions.
    const client = run.streams.get(1)![0];
    expect(client.length).toBe(20001);
    expect(client.slice(0, 20001 - heldThen).every((b) => b === -1)).toBe(true);
    expect(client.slice(20001 - heldThen).every((b) => b === 0x62)).toBe(true);
    expect(run.r.stats.retransmittedSegments).toBe(20000 - heldThen);
  });

  test('all connections together hold no more than the memory budget: a refused segment makes its hole a gap early', () => {
    // 200 connections, each with 12,000 bytes behind a hole at byte 0 (2.4 MB), within 1 MiB.
    const budget = new MemoryBudget(1 << 20);
    const run = reassemble(collect((emit) => holes(200, 12000, emit)), { laterStagesPerConnection: 0 }, budget);
    expect(budget.peak).toBeLessThanOrEqual(budget.limit);
    const refused = run.warnings.filter(([, m]) => m.startsWith('memory budget reached') && m.includes('cannot be held'));
    expect(refused.length).toBeGreaterThan(0);
    expect(budget.refused.get('out-of-order')).toBe(refused.length);
    // Every connection still delivers its 12,000 bytes after a 1-byte gap, early or at the end.
    expect(run.streams.size).toBe(200);
    for (const [, [client]] of run.streams) {
      expect(client.length).toBe(12001);
      expect(client[0]).toBe(-1);
      expect(client.slice(1).every((b) => b === 0x61)).toBe(true);
    }
    expect(budget.used).toBe(0); // all given back at the end
  });
});

describe('connections within the memory budget (issue 18)', () => {
  const cost = CONNECTION_BYTES + DEFAULT_LIMITS.laterStagesPerConnection;

  test('a SYN flood: connections are capped by the budget, the oldest quiet ones closed as at the end, with a warning and a count', () => {
    const n = 20000;
    const budget = new MemoryBudget(300 * cost);
    const run = reassemble(collect((emit) => synFlood(n, emit)), {}, budget);
    expect(run.maxHeld).toBe(300);
    expect(run.r.stats.connections).toBe(n);
    expect(run.r.stats.evictedConnections).toBe(n - 300);
    // Evicted oldest first: connections 1 .. n-300, each ended in both directions, closed and forgotten, in order.
    const evicted = [...Array(n - 300).keys()].map((i) => i + 1);
    expect(run.closed).toEqual([...Array(n).keys()].map((i) => i + 1));
    expect(run.forgotten).toEqual([...Array(n).keys()].map((i) => i + 1));
    expect(run.ends.slice(0, 2 * (n - 300))).toEqual(evicted.flatMap((id) => [[id, 0, 'eof'], [id, 1, 'eof']]));
    // The first EVICTIONS_SAID are said one by one, the rest in one warning at the end, with the count.
    const warnings = run.warnings.filter(([, m]) => m.startsWith('memory budget reached: connection'));
    expect(warnings).toHaveLength(EVICTIONS_SAID);
    expect(run.warnings.filter(([, m]) => m.startsWith('memory budget reached: ') && !m.startsWith('memory budget reached: connection'))).toEqual([
      [n, `memory budget reached: ${n - 300 - EVICTIONS_SAID} more connections were closed early to make room (${n - 300} in all)`],
    ]);
    // Connection 1 is let go when connection 301 comes, in its frame (one SYN per frame).
    expect(warnings[0][0]).toBe(301);
    expect(warnings[0][1]).toMatch(/^memory budget reached: connection 10\.1\.0\.1:1024 -> 10\.0\.0\.2:80, quiet for 0\.003 s, is closed early to make room \(300 open connections held\)$/);
  });

  test(`connections that closed are kept at most MAX_CLOSED_KEPT, the first to close forgotten first (polling without keep-alive)`, () => {
    // 12,000 connections open, exchange a byte and close within a second: all closed, none
    // idle 5 s, so only the cap lets them go; each is forgotten exactly once, in closing order.
    const n = 12000;
    const packets = Array.from({ length: n }, (_, i) => session({ client: { ip: `10.${1 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`, port: 40000 } }).handshake().send('client', 'x').close().packets).flat();
    const run = reassemble(packets);
    expect(run.maxHeld).toBe(MAX_CLOSED_KEPT + 1);
    expect(run.closed).toEqual([...Array(n).keys()].map((i) => i + 1));
    expect(run.forgotten).toEqual([...Array(n).keys()].map((i) => i + 1));
    expect(run.r.stats.connections).toBe(n);
    expect(run.warnings).toEqual([]);
  });

  test('the least recently active goes first, not the oldest', () => {
    const budget = new MemoryBudget(3 * cost);
    const a = session({ client: { ip: '10.0.0.1', port: 1001 } }).handshake();
    const b = session({ client: { ip: '10.0.0.1', port: 1002 } }).wait(1).handshake();
    const c = session({ client: { ip: '10.0.0.1', port: 1003 } }).wait(2).handshake();
    a.wait(3).send('client', 'still here'); // a is active after c opened
    const d = session({ client: { ip: '10.0.0.1', port: 1004 } }).wait(4).handshake();
    const run = reassemble([...a.packets.slice(0, 3), ...b.packets, ...c.packets, ...a.packets.slice(3), ...d.packets], {}, budget);
    expect(run.r.stats.evictedConnections).toBe(1);
    expect(run.closed[0]).toBe(2); // b
    expect(text(run.streams.get(1)![0])).toBe('still here');
  });

  test('a connection that never carried a byte is charged only its own cost; payload state comes with payload', () => {
    const budget = new MemoryBudget();
    const s = session().handshake();
    const r = new Reassembler({ connection: () => ({ data() {}, gap() {}, end() {} }), segment() {}, warning() {} }, {}, budget);
    const feed = (p: OutPacket, i: number) => r.segment(decodePacket({ frame: i, tsSec: 0, tsNsec: 0, capturedLength: p.data.length, originalLength: p.data.length, linkType: 1, data: p.data }) as TcpPacket, i, 0, p.data.length);
    s.packets.forEach((p, i) => feed(p, i + 1));
    expect(budget.used).toBe(cost);
    const before = s.packets.length;
    s.send('client', 'x');
    s.packets.slice(before).forEach((p, i) => feed(p, before + i + 1));
    expect(budget.used).toBeGreaterThan(cost + 2 * LIMITS.retransmissionCompareBytes); // the client's window
    r.finish(0);
    expect(budget.used).toBe(0);
  });
});
