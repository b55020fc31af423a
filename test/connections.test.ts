import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { writePcap } from '../src/capture/writer.js';
import { merge, type TcpSession } from '../src/synth/tcp.js';
import { pcapParserRecords, type OracleRecord } from './helpers/pcap-oracle.js';
import { run, runJson } from './helpers/run.js';
import { schemaErrors } from './helpers/schema.js';
import { session, tempFile } from './helpers/synth.js';

// Issue 16, the per-connection table (--connections, and the figures on each connection in
// JSON). Expected figures come from counts made without sockstat: tshark's conversation table
// (`tshark -r F -q -z conv,tcp`, and `-T fields -e tcp.stream -e frame.time_relative` for
// exact start and end times; run by hand while writing this test, TShark 4.0.17), pcap-parser
// (the tests' oracle), and figures worked out by hand from the bytes a synthesized capture sends.

interface Conv {
  client: string;
  server: string;
  /** Frames and frame bytes client to server, server to client. */
  c2s: [number, number];
  s2c: [number, number];
  /** frame.time_relative of the stream's first and last frames. */
  start: number;
  end: number;
}

/**
 * tshark's figures, copied from its output: `-z conv,tcp` gives "<-" (B to A) and "->" (A to
 * B) with A the address listed first; which one is the client is the SYN's sender.
 */
const TSHARK: Record<string, Conv[]> = {
  // 127.0.0.1:49252 <-> 127.0.0.1:18085  8 730 bytes  14 1140 bytes  22 1870 bytes  0.010621000  0.8103
  // 127.0.0.1:49240 <-> 127.0.0.1:18085  4 655 bytes   6  515 bytes  10 1170 bytes  0.000000000  0.0106
  'demo-ws.pcap': [
    { client: '127.0.0.1:49240', server: '127.0.0.1:18085', c2s: [6, 515], s2c: [4, 655], start: 0, end: 0.010606 },
    { client: '127.0.0.1:49252', server: '127.0.0.1:18085', c2s: [14, 1140], s2c: [8, 730], start: 0.010621, end: 0.820938 },
  ],
  // 127.0.0.1:56884 <-> 127.0.0.1:18082  7 1950 bytes  12 1244 bytes  19 3194 bytes  0.000000000  0.8249
  'demo-web.pcap': [{ client: '127.0.0.1:56884', server: '127.0.0.1:18082', c2s: [12, 1244], s2c: [7, 1950], start: 0, end: 0.824903 }],
  // Three connections of 5 <- and 7 -> frames, 550 and 557 bytes, from 0, 0.219576, 0.436218.
  'recorded-newconn.pcap': [
    { client: '127.0.0.1:50646', server: '127.0.0.1:8000', c2s: [7, 557], s2c: [5, 550], start: 0, end: 0.003052 },
    { client: '127.0.0.1:50648', server: '127.0.0.1:8000', c2s: [7, 557], s2c: [5, 550], start: 0.219576, end: 0.224722 },
    { client: '127.0.0.1:50652', server: '127.0.0.1:8000', c2s: [7, 557], s2c: [5, 550], start: 0.436218, end: 0.438178 },
  ],
  // Linux cooked capture (SLL), IPv6: ::1:37920 <-> ::1:18081  4 759  6 667; ::1:37924 <-> ::1:18081  8 938  14 1500.
  'demo-ws-any-ipv6.pcap': [
    { client: '[::1]:37920', server: '[::1]:18081', c2s: [6, 667], s2c: [4, 759], start: 0, end: 0.009566235 },
    { client: '[::1]:37924', server: '[::1]:18081', c2s: [14, 1500], s2c: [8, 938], start: 0.009521067, end: 0.817762579 },
  ],
  // 127.0.0.1:40558 <-> 127.0.0.1:8001  14 1328 bytes  14 1016 bytes  28 2344 bytes  0.000000000  1.0104
  'recorded-curl-sse.pcap': [{ client: '127.0.0.1:40558', server: '127.0.0.1:8001', c2s: [14, 1016], s2c: [14, 1328], start: 0, end: 1.010358 },
  ],
};

/** The endpoints of a TCP packet as pcap-parser's bytes hold them (Ethernet, Linux SLL or SLL2; IPv4 or IPv6), and its SYN-without-ACK flag. */
function endpoints(linkType: number, r: OracleRecord): { src: string; dst: string; syn: boolean } | null {
  const d = r.data;
  let o = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 276 ? 20 : -1;
  if (o < 0) throw new Error(`link type ${linkType} not handled by this test`);
  const v = d[o] >> 4;
  let src: string;
  let dst: string;
  if (v === 4) {
    if (d[o + 9] !== 6) return null;
    src = [...d.subarray(o + 12, o + 16)].join('.');
    dst = [...d.subarray(o + 16, o + 20)].join('.');
    o += (d[o] & 15) * 4;
  } else {
    if (d[o + 6] !== 6) return null;
    const six = (b: Buffer) => `[${Array.from({ length: 8 }, (_, i) => b.readUInt16BE(2 * i).toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]`;
    src = six(d.subarray(o + 8, o + 24));
    dst = six(d.subarray(o + 24, o + 40));
    o += 40;
  }
  const flags = d[o + 13];
  return { src: `${src}:${d.readUInt16BE(o)}`, dst: `${dst}:${d.readUInt16BE(o + 2)}`, syn: (flags & 0x12) === 0x02 };
}

/** Packets and frame bytes per connection and direction, by pcap-parser, the client being the SYN's sender. */
async function oracle(file: string): Promise<Map<string, { c2s: [number, number]; s2c: [number, number]; client: string }>> {
  const { linkType, records } = await pcapParserRecords(readFileSync(file));
  const clients = new Map<string, string>();
  const out = new Map<string, { c2s: [number, number]; s2c: [number, number]; client: string }>();
  for (const r of records) {
    const e = endpoints(linkType, r);
    if (!e) continue;
    const key = [e.src, e.dst].sort().join(' ');
    if (e.syn) clients.set(key, e.src);
    const client = clients.get(key) ?? e.src;
    let c = out.get(key);
    if (!c) out.set(key, (c = { c2s: [0, 0], s2c: [0, 0], client }));
    const d = e.src === client ? c.c2s : c.s2c;
    d[0]++;
    d[1] += r.originalLength;
  }
  return out;
}

describe('per-connection figures', () => {
  for (const [fixture, convs] of Object.entries(TSHARK)) {
    test(`${fixture}: packets and bytes each way, start and duration are tshark's (--json and --stats json --connections)`, async () => {
      const file = `fixtures/${fixture}`;
      const doc = await runJson(file);
      const conns = doc.captures[0].connections;
      const stats = JSON.parse((await run('--stats', 'json', '--connections', file)).stdout).captures[0].connections;
      expect(conns.length).toBe(convs.length);
      expect(stats.length).toBe(convs.length);
      for (const conv of convs) {
        for (const c of [conns.find((k: any) => k.client === conv.client), stats.find((k: any) => k.client === conv.client)]) {
          expect(c, conv.client).toBeDefined();
          expect(c.server).toBe(conv.server);
          expect([c.clientToServer.packets, c.clientToServer.frameBytes]).toEqual(conv.c2s);
          expect([c.serverToClient.packets, c.serverToClient.frameBytes]).toEqual(conv.s2c);
          expect(c.start).toBeCloseTo(conv.start, 9);
          expect(c.duration).toBeCloseTo(conv.end - conv.start, 9);
        }
      }
      // pcap-parser counts the same, packet by packet.
      const counted = await oracle(file);
      expect(counted.size).toBe(convs.length);
      for (const o of counted.values()) {
        const c = conns.find((k: any) => k.client === o.client);
        expect([c.clientToServer.packets, c.clientToServer.frameBytes, c.serverToClient.packets, c.serverToClient.frameBytes]).toEqual([...o.c2s, ...o.s2c]);
      }
      // The JSON follows the schema with its new fields, in both modes.
      expect(schemaErrors('jsonDocument', doc)).toEqual([]);
      expect(schemaErrors('statsDocument', JSON.parse((await run('--stats', 'json', '--connections', file)).stdout))).toEqual([]);
    });
  }

  test('the table: the same figures in --connections (after the summary), --stats table, markdown and csv', async () => {
    const r = await run('--connections', 'fixtures/demo-ws.pcap');
    expect(r.code).toBe(0);
    const at = r.stdout.indexOf('Connections of demo-ws.pcap');
    expect(at).toBeGreaterThan(r.stdout.indexOf('Overall'));
    const rows = r.stdout.slice(at).split('\n').filter((l) => l.startsWith('│ 1 ') || l.startsWith('│ 2 ')).map((l) => l.split('│').slice(1, -1).map((c) => c.trim()));
    // tshark: 6/515 -> and 4/655 <- from 0 for 0.010606 s; 14/1140 and 8/730 from 0.010621 for 0.810317 s.
    expect(rows.map((c) => c.slice(0, 11))).toEqual([
      ['1', '127.0.0.1:49240', '127.0.0.1:18085', 'http', '0.000000', '0.010606', '6', '515', '4', '655', rows[0][10]],
      ['2', '127.0.0.1:49252', '127.0.0.1:18085', 'websocket', '0.010621', '0.810317', '14', '1140', '8', '730', rows[1][10]],
    ]);
    const md = (await run('--stats', 'markdown', '--connections', 'fixtures/demo-ws.pcap')).stdout;
    expect(md).toContain('### Connections');
    expect(md).toMatch(/\| demo-ws\.pcap \| 2 +\| 127\.0\.0\.1:49252 \| 127\.0\.0\.1:18085 \| websocket \| 0\.010621 +\| 0\.810317 +\| 14 +\| 1140 +\| 8 +\| 730 /);
    const csv = (await run('--stats', 'csv', '--connections', 'fixtures/demo-ws.pcap')).stdout.trimEnd().split('\n');
    const head = csv[0].split(',');
    const row = csv.find((l) => l.startsWith('connection,') && l.includes('49252'))!.split(',');
    const col = (name: string) => row[head.indexOf(name)];
    expect([col('pcap'), col('connection_id'), col('c2s_packets'), col('c2s_frame_bytes'), col('s2c_packets'), col('s2c_frame_bytes')]).toEqual(['demo-ws.pcap', '2', '14', '1140', '8', '730']);
    expect(csv.every((l) => l.split(',').length === head.length)).toBe(true);
    // Without --connections the outputs are as they were: no table, no column.
    expect((await run('fixtures/demo-ws.pcap')).stdout).not.toContain('Connections of');
    expect((await run('--stats', 'csv', 'fixtures/demo-ws.pcap')).stdout).not.toContain('connection_id');
  });

  test("each connection's own steady state follows the capture's rule, figures worked out by hand", async () => {
    const START = 1_700_000_000;
    const REQ = 'GET /time HTTP/1.1\r\nHost: x\r\n\r\n';
    const res = (body: string) => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const poll = (s: TcpSession, body: string) => s.wait(1).send('client', REQ).send('server', res(body));
    // A: a page load (set-up), then 4 polls with the same answer.
    const a = session({ client: { ip: '10.0.0.1', port: 50000 }, start: START }).handshake();
    a.send('client', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n').send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello');
    for (let i = 0; i < 4; i++) poll(a, '{"t":1}');
    a.wait(1).close();
    // B, after A: opened for an update (its handshake is its first update's), then 3 more polls with a longer answer.
    const b = session({ client: { ip: '10.0.0.1', port: 50001 }, start: START + 100 }).handshake();
    for (let i = 0; i < 4; i++) poll(b, '{"time":"10:00:00"}');
    b.wait(1).close();
    // C, after B: two polls, each answer of its own length: every shape once.
    const c = session({ client: { ip: '10.0.0.1', port: 50002 }, start: START + 200 }).handshake();
    poll(c, '{"a":1}');
    poll(c, '{"abc":12345}');
    c.wait(1).close();
    const doc = await runJson(tempFile(writePcap(merge(a, b, c))));
    const cap = doc.captures[0];
    const [ca, cb, cc] = cap.connections.sort((x: any, y: any) => x.id - y.id);

    // A poll update, by hand: the request (Ethernet 14 + IPv4 20 + TCP 20 + its bytes), the
    // server's ACK (54), the answer, the client's ACK; TCP headers 20 bytes each.
    const pollShape = (body: string) => ({
      totalPackets: 4, appPackets: 2,
      frameBytes: 54 + REQ.length + 54 + 54 + res(body).length + 54,
      tcpBytes: 80, appBytes: REQ.length + res(body).length,
    });
    const updatesOf = (id: number) => cap.updates.filter((u: any) => u.connection === id).map((u: any) => u.index).sort((x: number, y: number) => x - y);
    expect([ca.updateCount, cb.updateCount, cc.updateCount]).toEqual([4, 4, 2]);
    // A: four alike; the latest stands for them.
    expect(ca.steadyState).toEqual({ update: Math.max(...updatesOf(ca.id)), sameShape: 4, ...pollShape('{"t":1}') });
    // B: its first update also has the three handshake packets; the other three are alike.
    expect(cb.steadyState).toEqual({ update: Math.max(...updatesOf(cb.id)), sameShape: 3, ...pollShape('{"time":"10:00:00"}') });
    // C: every shape once: its last update, as the tracker reports then.
    expect(cc.steadyState).toEqual({ update: Math.max(...updatesOf(cc.id)), sameShape: 1, ...pollShape('{"abc":12345}') });
    // The capture's steady state is A's shape (4 against 3): each connection keeps its own.
    expect(cap.steadyState.frameBytes).toBe(pollShape('{"t":1}').frameBytes);
    // Packets by hand: A's client sends SYN, ACK, 5 requests and their ACKs... 2 + 2 x 5 + FIN and the last ACK.
    expect([ca.clientToServer.packets, ca.serverToClient.packets]).toEqual([2 + 10 + 2, 1 + 10 + 1]);
    expect(ca.messageCount).toBe(10);
    // Start and duration from the sessions' clocks: B starts 100 s after A; C's last packet is its close's final ACK.
    expect(cb.start).toBeCloseTo(100, 9);
    expect(cc.start + cc.duration).toBeCloseTo(c.now() - 0.0001 - START, 6);
    // --connections prints the same steady update.
    const table = (await run('--connections', tempFile(writePcap(merge(a, b, c))))).stdout;
    const row = table.split('\n').find((l) => l.startsWith('│ 2 '))!.split('│').slice(1, -1).map((x) => x.trim());
    expect(row.slice(11)).toEqual(['4', String(cb.steadyState.update), '4', String(pollShape('{"time":"10:00:00"}').frameBytes)]);
  });

  test('memory stays bounded: past 1,000 connections the report lists the first 1,000 and says how many more', async () => {
    const sessions: TcpSession[] = [];
    for (let i = 0; i < 1003; i++) sessions.push(session({ client: { ip: '10.0.0.1', port: 20000 + i }, start: 1_700_000_000 + i }).handshake().close());
    const file = tempFile(writePcap(merge(...sessions)));
    const stats = JSON.parse((await run('--stats', 'json', '--connections', file)).stdout).captures[0];
    expect(stats.connections.length).toBe(1000);
    expect(stats.connectionsNotListed).toBe(3);
    // Each: SYN, ACK, FIN and the last ACK from the client; SYN/ACK and FIN from the server.
    expect(stats.connections.every((c: any) => c.clientToServer.packets === 4 && c.serverToClient.packets === 2 && c.updateCount === 0 && c.steadyState === null)).toBe(true);
    const text = (await run('--connections', file)).stdout;
    expect(text).toContain('3 more connections not listed (the first 1000 are; --json lists them all)');
    // --json writes every one, each with its figures.
    const all = (await runJson(file)).captures[0].connections;
    expect(all.length).toBe(1003);
    expect(all.every((c: any) => c.clientToServer.packets === 4 && c.serverToClient.packets === 2)).toBe(true);
  });
});
