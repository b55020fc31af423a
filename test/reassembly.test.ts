import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodePacket, type TcpPacket } from '../src/decode/packet.js';
import { ConnectionTable, type Keyed, Reassembler } from '../src/reassembly/tcp.js';
import { seqAdd, seqDiff } from '../src/reassembly/seq.js';
import type { Dir, StreamChunk } from '../src/reassembly/types.js';
import { rng } from '../src/synth/random.js';
import { session } from './helpers/synth.js';

/** Feeds packets through a Reassembler and returns what each direction delivered, and the gaps. */
function reassemble(packets: Array<{ data: Uint8Array }>) {
  const conns: Array<[number[], number[]]> = [];
  const gaps: Array<[Dir, number, number]> = [];
  const ends: Array<[Dir, string]> = [];
  const warnings: string[] = [];
  const r = new Reassembler({
    connection: () => {
      const out: [number[], number[]] = [[], []];
      conns.push(out);
      return {
      data(dir: Dir, c: StreamChunk) {
        expect(c.offset).toBe(out[dir].length);
        out[dir].push(...c.bytes);
      },
      gap(dir: Dir, offset: number, length: number) {
        gaps.push([dir, offset, length]);
        for (let i = 0; i < length; i++) out[dir].push(-1);
      },
      end(dir: Dir, reason: string) {
        ends.push([dir, reason]);
      },
      };
    },
    segment: () => {},
    warning: (_f, _code, m) => warnings.push(m),
  });
  packets.forEach((p, i) => {
    const d = decodePacket({ frame: i + 1, tsSec: 0, tsNsec: 0, capturedLength: p.data.length, originalLength: p.data.length, linkType: 1, data: p.data });
    r.segment(d as TcpPacket, i + 1, i, p.data.length);
  });
  r.finish(packets.length);
  return { out: conns[0], conns, gaps, ends, warnings, stats: r.stats };
}

describe('connection table', () => {
  // Connections whose endpoints hash alike share a chain: each must still be found by its own
  // endpoints, and survive the others' removal, whatever the order of adding and removing.
  class Fake implements Keyed<Fake> {
    chain: Fake | null = null;
    constructor(readonly id: number, readonly hash: number) {}
    is(b: Uint8Array, ao: number): boolean {
      return b[ao] === this.id;
    }
  }
  test('colliding connections are told apart, added and removed in any order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 15 })), { maxLength: 60 }), (ops) => {
        const table = new ConnectionTable<Fake>();
        const live = new Map<number, Fake>();
        for (const [add, id] of ops) {
          if (add && !live.has(id)) {
            const c = new Fake(id, id % 3); // three hashes for sixteen connections
            table.add(c);
            live.set(id, c);
          } else if (!add && live.has(id)) {
            table.delete(live.get(id)!);
            live.delete(id);
          }
          for (let k = 0; k < 16; k++) expect(table.find(Uint8Array.of(k), 0, 0, 0, 0, 1, k % 3)).toBe(live.get(k));
          expect([...table.all]).toEqual([...live.values()]);
        }
      }),
    );
  });
});

describe('sequence arithmetic', () => {
  test('differences wrap at 2^32', () => {
    expect(seqDiff(5, 0xfffffffb)).toBe(10);
    expect(seqDiff(0xfffffffb, 5)).toBe(-10);
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10);
  });
});

describe('reassembly', () => {
  const stream = fc.uint8Array({ minLength: 1, maxLength: 3000 });

  test('any split, delivered in any order with duplicates, gives the same bytes (property)', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 40 }), fc.integer(), fc.integer({ min: 0, max: 0xffffffff }), (bytes, sizes, seed, isn) => {
        // Segments of the given sizes, each sent once, then shuffled with duplicates mixed in.
        const s = session({ clientIsn: isn, serverIsn: (isn + 12345) >>> 0 }).handshake();
        const cuts: Array<[number, number]> = [];
        for (let off = 0, i = 0; off < bytes.length; i++) {
          const n = Math.min(sizes[i % sizes.length], bytes.length - off);
          cuts.push([off, n]);
          off += n;
        }
        const random = rng(seed);
        const order = cuts.map((c) => ({ c, k: random() })).concat(cuts.filter(() => random() < 0.3).map((c) => ({ c, k: random() })));
        order.sort((a, b) => a.k - b.k);
        for (const { c } of order) s.segmentAt('client', c[0], bytes.subarray(c[0], c[0] + c[1]));
        s.advance('client', bytes.length).close();
        const r = reassemble(s.packets);
        expect(Uint8Array.from(r.out[0])).toEqual(bytes);
        expect(r.gaps).toEqual([]);
        expect(r.ends).toEqual([[0, 'fin'], [1, 'fin']]);
      }),
      { numRuns: 200 },
    );
  });

  test('overlapping retransmissions with new data at the end: the first copy wins, the tail is kept', () => {
    const s = session().handshake();
    s.segmentAt('client', 0, 'hello ');
    s.segmentAt('client', 3, 'XXXworld'); // overlaps "lo " with different bytes
    s.advance('client', 11).close();
    const r = reassemble(s.packets);
    expect(Buffer.from(r.out[0]).toString()).toBe('hello world');
    expect(r.stats.overlapBytes).toBe(3);
    expect(r.warnings).toContain('segment overlaps 3 bytes already received; the first copy is kept');
  });

  test('sequence numbers that wrap inside the stream', () => {
    const s = session({ clientIsn: 0xfffffff0 }).handshake();
    s.send('client', 'x'.repeat(40), { split: [10, 10, 10, 10] }).close();
    const r = reassemble(s.packets);
    expect(r.out[0].length).toBe(40);
  });

  test('a hole the peer ACKs past is reported as a gap at once, and delivery goes on', () => {
    const s = session().handshake();
    s.segmentAt('client', 0, 'aaaa');
    // bytes 4..7 never captured
    s.segmentAt('client', 8, 'cccc');
    s.advance('client', 12).ack('server');
    s.close();
    const r = reassemble(s.packets);
    expect(r.gaps).toEqual([[0, 4, 4]]);
    expect(r.out[0]).toEqual([...Buffer.from('aaaa'), -1, -1, -1, -1, ...Buffer.from('cccc')]);
    expect(r.stats.gapBytes).toBe(4);
  });

  test('a capture that starts mid-connection: roles from the ports, with a warning', () => {
    const s = session().handshake().send('server', 'late bytes');
    const r = reassemble(s.packets.slice(3));
    expect(Buffer.from(r.out[1]).toString()).toBe('late bytes');
    expect(r.warnings[0]).toMatch(/no handshake, client and server guessed from the ports/);
  });

  test('RST ends both directions; a SYN on the same ports after it opens a new connection', () => {
    const a = session().handshake().send('client', 'one').reset('client');
    const b = session({ clientIsn: 777 }).wait(1).handshake().send('client', 'two').close();
    const r = reassemble([...a.packets, ...b.packets]);
    expect(r.stats.connections).toBe(2);
    expect(r.ends.slice(0, 2)).toEqual([[0, 'rst'], [1, 'rst']]);
    expect(r.conns.map((c) => Buffer.from(c[0]).toString())).toEqual(['one', 'two']);
  });

  test('held out-of-order bytes are bounded: past the limit the hole becomes a gap', () => {
    const s = session().handshake();
    const chunk = new Uint8Array(60000).fill(7);
    for (let i = 0; i < 80; i++) s.segmentAt('client', 100 + i * 60000, chunk);
    s.advance('client', 100 + 80 * 60000).close();
    const r = reassemble(s.packets);
    expect(r.gaps[0]).toEqual([0, 0, 100]);
    expect(r.warnings.some((w) => w.includes('held behind a hole'))).toBe(true);
  });
});

