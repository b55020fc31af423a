import { describe, expect, test } from 'vitest';
import { runJson } from './helpers/run.js';

// One SSE exchange (src/synth/fixtures.ts) saved in every container format and link type.
const VARIANTS = [
  'synth-sse.pcap',
  'synth-sse-nsec.pcap',
  'synth-sse.pcapng',
  'synth-sse-sll.pcap',
  'synth-sse-sll2-ipv6.pcap',
  'synth-sse-loopback-ipv6.pcap',
  'synth-sse-vlan.pcap',
  'synth-sse-raw.pcap',
];

describe('the same exchange in every format and link type', () => {
  test('gives the same messages, the same App Bytes and the same updates', async () => {
    const j = await runJson(...VARIANTS.map((v) => `fixtures/${v}`));
    const strip = (c: any) => ({
      messages: c.connections.map((k: any) => k.messages),
      appBytes: c.overall.appBytes,
      appPackets: c.overall.appPackets,
      tcpBytes: c.overall.tcpBytes,
      updates: c.updates.map((u: any) => [u.frames, u.appBytes, u.overhead.framing, u.overhead.payload]),
      warnings: c.warnings,
    });
    const [first, ...rest] = j.captures.map(strip);
    expect(first.messages[0].map((m: any) => m.kind)).toEqual(['http-request', 'http-response', 'sse-event', 'sse-event', 'sse-event', 'sse-comment']);
    expect(first.warnings).toEqual([]);
    for (const [i, r] of rest.entries()) expect(r, VARIANTS[i + 1]).toEqual(first);
  });

  test('link and network header bytes follow the link: the split still adds up to Frame Bytes', async () => {
    const j = await runJson(...VARIANTS.map((v) => `fixtures/${v}`));
    const perPacket = j.captures.map((c: any) => c.linkNetBytes / c.overall.totalPackets);
    // Ethernet 14 + IPv4 20; SLL 16 + 20; SLL2 20 + IPv6 40; NULL 4 + 40; VLAN 18 + 20; raw 0 + 20.
    expect(perPacket).toEqual([34, 34, 34, 36, 60, 44, 38, 20]);
    for (const c of j.captures) {
      expect(c.linkNetBytes + c.overall.tcpBytes + c.overall.appBytes).toBe(c.overall.frameBytes);
      for (const u of c.updates) expect(u.overhead.linkNet + u.overhead.tcpHeaders + u.overhead.framing + u.overhead.payload).toBe(u.frameBytes);
    }
    expect(j.captures.map((c: any) => c.connections[0].client)).toEqual(['10.1.0.2:50500', '10.1.0.2:50500', '10.1.0.2:50500', '10.1.0.2:50500', '[fd00::2]:50500', '[::1]:50500', '10.1.0.2:50500', '10.1.0.2:50500']);
  });
});

describe('TCP trouble in the synthesized fixtures', () => {
  test('loss, reordering and duplicates: correct payloads, warnings with frame numbers', async () => {
    const c = (await runJson('fixtures/synth-ajax-lossy.pcap')).captures[0];
    const bodies = c.connections[0].messages.filter((m: any) => m.kind === 'http-response').map((m: any) => m.body);
    expect(bodies).toEqual(['{"page":true}', '{"time":"12:00:10"}', '{"time":"12:00:20"}', '{"time":"12:00:30"}', '{"time":"12:00:40"}']);
    expect(c.warnings).toEqual([
      { frame: 12, code: 'tcp-gap', message: '37 bytes of client data at stream offset 70 were not captured (lost or missed)' },
      { frame: 12, code: 'http-gap', message: 'HTTP request stream lost 37 bytes: resuming at the next request line' },
      { frame: 16, code: 'tcp-out-of-order', message: 'out of order: server data 40 bytes ahead of the stream, held until the hole fills' },
      { frame: 22, code: 'tcp-retransmission', message: 'retransmission: 90 bytes of server data already received' },
    ]);
    expect(c.reassembly).toMatchObject({ retransmittedSegments: 1, outOfOrderSegments: 1, gaps: 1, gapBytes: 37 });
  });

  test('irregular updates: the steady state is the most frequent shape, not the first or the last', async () => {
    const c = (await runJson('fixtures/synth-ws-irregular.pcap')).captures[0];
    expect(c.updates.map((u: any) => u.totalPackets)).toEqual([3, 4, 4, 3, 3]);
    expect(c.updates.map((u: any) => u.frameBytes)).toEqual([233, 299, 313, 233, 233]);
    expect(c.steadyState).toMatchObject({ update: 5, totalPackets: 3, frameBytes: 233 });
    // Update 2: the answer in two segments; update 3: the request retransmitted.
    expect(c.updates[1].serverOnly).toMatchObject({ totalPackets: 3, appPackets: 2 });
    expect(c.updates[2].frames).toEqual([15, 16, 17, 18]);
  });
});
