import { describe, expect, test } from 'vitest';
import { runJson } from './helpers/run.js';
import { pcapFile, session } from './helpers/synth.js';

// Captures of real servers and clients (fixtures/recorded/record.sh). Every expected figure
// below was read off `tshark -r FILE -T fields -e frame.number -e frame.len -e tcp.flags.str
// -e tcp.len`, not off sockstat.

describe('the update rule on captures without a page load', () => {
  test('a connection opened for one request: its whole handshake belongs to that update', async () => {
    // python3 -m http.server --protocol HTTP/1.1, three curl requests, a connection each.
    // tshark: each connection is SYN 74, SYN/ACK 74, ACK 66, GET 153, ACK 66, head 258, ACK 66,
    // body 86, ACK 66 (909 bytes in 9 packets), then FIN 66, FIN 66, ACK 66.
    const c = (await runJson('fixtures/recorded-newconn.pcap')).captures[0];
    expect(c.updateCount).toBe(3);
    const frames = (from: number) => Array.from({ length: 9 }, (_, i) => from + i);
    expect(c.updates.map((u: any) => u.frames)).toEqual([frames(1), frames(13), frames(25)]);
    for (const u of c.updates) {
      expect(u.totalPackets).toBe(9);
      expect(u.frameBytes).toBe(74 + 74 + 66 + 153 + 66 + 258 + 66 + 86 + 66);
      expect(u.appBytes).toBe(87 + 192 + 20);
    }
    // No page load (the answers are JSON): nothing is set-up; the FINs and their ACKs are tear-down.
    expect(c.setup.totalPackets).toBe(0);
    expect(c.teardown).toMatchObject({ totalPackets: 9, frameBytes: 9 * 66 });
  });

  test('curl subscribed to an event stream: ten events are ten updates, the subscription is set-up', async () => {
    // tshark: SYN 74, SYN/ACK 74, ACK 66, GET 150, ACK 66 (set-up: 430 bytes); frame 6 (275
    // bytes) carries the stream's head and the first event, frame 7 its ACK; events 2-9 are
    // 86-byte segments each with a 66-byte ACK; frame 24 (93) the tenth event and the last chunk.
    const c = (await runJson('fixtures/recorded-curl-sse.pcap')).captures[0];
    expect(c.updateCount).toBe(10);
    expect(c.setup).toMatchObject({ totalPackets: 5, frameBytes: 74 + 74 + 66 + 150 + 66, appBytes: 84 });
    expect(c.updates[0]).toMatchObject({ frames: [6, 7], frameBytes: 275 + 66 });
    for (let i = 1; i < 9; i++) expect(c.updates[i]).toMatchObject({ frames: [6 + 2 * i, 7 + 2 * i], frameBytes: 86 + 66 });
    expect(c.updates[9]).toMatchObject({ frames: [24, 25], frameBytes: 93 + 66 });
    expect(c.steadyState).toMatchObject({ totalPackets: 2, frameBytes: 152, appBytes: 20 });
  });
});

describe('steady state per technique', () => {
  test('a mixed capture has a steady state for each technique, the most frequent shape of its own updates', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { generate } = await import('../src/synth/generate.js');
    const { analyzeFile } = await import('../src/analyze.js');
    const file = join(mkdtempSync(join(tmpdir(), 'sockstat-mixed-')), 'mixed.pcap');
    generate(file, 1_500_000, 7);
    const r = await analyzeFile(file, { keepUpdates: true, collectMessages: true });
    const protocolOf = new Map(r.connections.map((c) => [c.id, c.protocol]));
    // Counted here from every update, by the protocol of its connection.
    const byProtocol = new Map<string, Map<string, { n: number; last: number }>>();
    for (const u of r.updates) {
      const p = protocolOf.get(u.connection)!;
      const shapes = byProtocol.get(p) ?? new Map();
      byProtocol.set(p, shapes);
      const f = u.figures;
      const key = [f.totalPackets, f.appPackets, f.frameBytes, f.tcpBytes, f.appBytes].join();
      const e = shapes.get(key) ?? { n: 0, last: 0 };
      shapes.set(key, { n: e.n + 1, last: Math.max(e.last, u.index) });
    }
    expect(byProtocol.size).toBeGreaterThanOrEqual(3);
    expect(new Set(r.steadyByProtocol.map((s) => s.protocol))).toEqual(new Set(byProtocol.keys()));
    for (const s of r.steadyByProtocol) {
      const shapes = [...byProtocol.get(s.protocol)!.values()];
      const best = shapes.reduce((a, b) => (b.n > a.n || (b.n === a.n && b.last > a.last) ? b : a));
      expect(s.updateCount).toBe(shapes.reduce((a, b) => a + b.n, 0));
      expect(s.steady?.index).toBe(best.last);
    }
  });
});

describe('pushes that share a packet (an SSE firehose writes many events a segment)', () => {
  // Synthesized: segment B carries three whole events. Their bytes cost one packet (and its
  // ACK), so they are one update carrying three values, with the payload of all three; before,
  // the first took the packet and the other two were updates of no packets, their data
  // counted as framing of the first.
  for (const chunked of [false, true]) {
    test(chunked ? 'in a chunked event stream (events known after the packet)' : 'in a close-delimited event stream (events known before the packet)', async () => {
      const s = session().handshake();
      s.send('client', 'GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
      const chunk = (t: string) => (chunked ? `${t.length.toString(16)}\r\n${t}\r\n` : t);
      s.send('server', `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n${chunked ? 'Transfer-Encoding: chunked\r\n' : ''}\r\n${chunk('data: a\n\n')}`);
      s.wait(1);
      const b = chunk('data: bb\n\ndata: ccc\n\ndata: dddd\n\n');
      const frameB = s.packets.length + 1;
      s.send('server', b);
      s.wait(1);
      s.send('server', chunk('data: eeeee\n\n'));
      s.close('server');
      const c = (await runJson(pcapFile(s.packets))).captures[0];
      const withB = c.updates.filter((u: any) => u.frames.includes(frameB));
      expect(withB).toHaveLength(1);
      expect(withB[0]).toMatchObject({ messages: ['sse-event', 'sse-event', 'sse-event'], frames: [frameB, frameB + 1], appBytes: b.length });
      expect(withB[0].overhead).toEqual({ linkNet: 2 * 34, tcpHeaders: 2 * 20, framing: b.length - 9, payload: 2 + 3 + 4 });
      // Every update has packets: the count is the updates that cost something.
      expect(c.updates.every((u: any) => u.totalPackets > 0)).toBe(true);
      expect(c.updates.map((u: any) => u.messages.length)).toEqual([1, 3, 1]);
    });
  }
});

describe('the summary of a mixed capture', () => {
  test('a row per technique, its update count that of its connections\' updates in --json', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { generate } = await import('../src/synth/generate.js');
    const { run } = await import('./helpers/run.js');
    const file = join(mkdtempSync(join(tmpdir(), 'sockstat-mixed-')), 'mixed.pcap');
    generate(file, 1_000_000, 11);
    const c = (await runJson(file)).captures[0];
    const protocolOf = new Map(c.connections.map((k: any) => [k.id, k.protocol]));
    const counts = new Map<string, number>();
    for (const u of c.updates) counts.set(protocolOf.get(u.connection) as string, (counts.get(protocolOf.get(u.connection) as string) ?? 0) + 1);
    expect(counts.size).toBeGreaterThanOrEqual(2);
    const summary = (await run(file)).stdout;
    expect(summary).toContain(`the rows above are update ${c.steadyState.update}'s, the capture's most frequent shape`);
    for (const [protocol, n] of counts) {
      const row = summary.split('\n').find((l) => l.startsWith(`│ ${protocol} `));
      expect(row, protocol).toBeDefined();
      expect(row!.split('│').map((x) => x.trim())[2], protocol).toBe(String(n));
    }
  });
});
