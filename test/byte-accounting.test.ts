// Byte accounting by layer and role (issue 12): every byte of every TCP packet in one place,
// checked against counts sockstat does not make. pcap-parser reads the packets and this file
// decodes their headers itself; the unique payload bytes of a direction come from the TCP
// sequence numbers. The layers' split is checked on captures whose bytes the test wrote.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { HAVE_SEEDS, ROOT, runJson, seed } from './helpers/run.js';
import { analyze, session } from './helpers/synth.js';
import { pcapParserRecords } from './helpers/pcap-oracle.js';

interface Oracle {
  frameBytes: number;
  tcpHeaders: number;
  tcpPayload: number;
  /** Payload bytes of distinct sequence numbers. */
  unique: number;
}

/** Per direction (keyed by "server ip:port" and whether the packet goes to it), from pcap-parser's records. */
async function oracle(file: string): Promise<Map<string, Oracle>> {
  const { linkType, records } = await pcapParserRecords(readFileSync(file));
  const out = new Map<string, Oracle>();
  // Sequence ranges seen per direction, relative to the first sequence number: [start, end) pairs.
  const ranges = new Map<string, { base: number; seen: Array<[number, number]> }>();
  for (const p of records) {
    const d: Buffer = p.data;
    let ip = 0;
    if (linkType === 1) {
      let type = d.readUInt16BE(12);
      ip = 14;
      while (type === 0x8100) {
        type = d.readUInt16BE(ip + 2);
        ip += 4;
      }
    } else if (linkType === 113) ip = 16;
    else if (linkType === 276) ip = 20;
    else if (linkType === 101) ip = 0;
    else if (linkType === 0) ip = 4;
    else throw new Error(`link type ${linkType}`);
    const v = d[ip] >> 4;
    let tcp: number;
    let payload: number;
    let src: string;
    let dst: string;
    if (v === 4) {
      if (d[ip + 9] !== 6) continue;
      tcp = ip + (d[ip] & 15) * 4;
      payload = d.readUInt16BE(ip + 2) - (tcp - ip);
      src = [...d.subarray(ip + 12, ip + 16)].join('.');
      dst = [...d.subarray(ip + 16, ip + 20)].join('.');
    } else if (v === 6) {
      if (d[ip + 6] !== 6) continue;
      tcp = ip + 40;
      payload = d.readUInt16BE(ip + 4);
      const a = (o: number) => `[${[...Array(8).keys()].map((i) => d.readUInt16BE(o + 2 * i).toString(16)).join(':')}]`;
      src = a(ip + 8);
      dst = a(ip + 24);
    } else continue;
    const hl = (d[tcp + 12] >> 4) * 4;
    payload -= hl;
    const key = `${src}:${d.readUInt16BE(tcp)}>${dst}:${d.readUInt16BE(tcp + 2)}`;
    const o = out.get(key) ?? { frameBytes: 0, tcpHeaders: 0, tcpPayload: 0, unique: 0 };
    out.set(key, o);
    o.frameBytes += p.originalLength;
    o.tcpHeaders += hl;
    o.tcpPayload += payload;
    const seq = d.readUInt32BE(tcp + 4);
    const syn = (d[tcp + 13] & 2) !== 0;
    let r = ranges.get(key);
    if (!r) ranges.set(key, (r = { base: syn ? seq + 1 : seq, seen: [] }));
    if (payload > 0) r.seen.push([(seq - r.base) >>> 0, ((seq - r.base) >>> 0) + payload]);
  }
  for (const [key, r] of ranges) {
    r.seen.sort((x, y) => x[0] - y[0]);
    let unique = 0;
    let end = -1;
    for (const [s, e] of r.seen) {
      if (e <= end) continue;
      unique += e - Math.max(s, end);
      end = e;
    }
    out.get(key)!.unique = unique;
  }
  return out;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The capture's --json `bytes` against the oracle, per direction. */
async function conserved(file: string, capture: any): Promise<void> {
  const o = await oracle(file);
  // Client and server on one host in every fixture: the server's port tells the direction.
  const servers = new Set(capture.connections.map((c: any) => Number(c.server.slice(c.server.lastIndexOf(':') + 1))));
  const want = { client: { frameBytes: 0, tcpHeaders: 0, tcpPayload: 0, unique: 0 }, server: { frameBytes: 0, tcpHeaders: 0, tcpPayload: 0, unique: 0 } };
  for (const [key, v] of o) {
    const to = Number(key.slice(key.lastIndexOf(':') + 1));
    const w = servers.has(to) ? want.client : want.server;
    for (const k of ['frameBytes', 'tcpHeaders', 'tcpPayload', 'unique'] as const) w[k] += v[k];
  }
  const b = capture.bytes;
  expect(b.mismatches, file).toBe(0);
  for (const dir of ['client', 'server'] as const) {
    const d = b[dir];
    const w = want[dir];
    const layers = Object.values(d.layers) as Array<{ framing: number; payload: number; lost: number }>;
    const claimed = sum(layers.map((l) => l.framing + l.payload));
    expect({ file, dir, frameBytes: d.linkNet + d.tcpHeaders + d.tcpPayload, tcpHeaders: d.tcpHeaders, tcpPayload: d.tcpPayload, delivered: d.delivered })
      .toEqual({ file, dir, frameBytes: w.frameBytes, tcpHeaders: w.tcpHeaders, tcpPayload: w.tcpPayload, delivered: w.unique });
    // The layers' claims and what none claimed come to what TCP delivered, exactly.
    expect(claimed + d.unclaimed, `${file} ${dir}`).toBe(d.delivered);
    expect(d.delivered + d.notDelivered, `${file} ${dir}`).toBe(d.tcpPayload);
  }
}

describe('byte accounting: every byte of every TCP packet, once', () => {
  const dirs = ['fixtures', 'fixtures/tls', 'fixtures/h2'];
  const files = dirs.flatMap((d) => readdirSync(join(ROOT, d)).filter((f) => /\.pcap$/.test(f)).map((f) => `${d}/${f}`));

  test('in every fixture: the packets as pcap-parser reads them, the unique sequence space, and the layers agree', async () => {
    expect(files.length).toBeGreaterThan(25);
    for (const f of files) {
      const keys = f.replace(/\.pcap$/, '.keys');
      const args = readdirSync(join(ROOT, f, '..')).includes(keys.split('/').pop()!) ? ['--keylog', keys] : [];
      const j = await runJson(...args, f);
      await conserved(join(ROOT, f), j.captures[0]);
    }
  });

  test.skipIf(!HAVE_SEEDS)('in every seed capture', async () => {
    for (const n of ['tcpapp', 'webapp', 'ajaxapp', 'sseapp', 'wsapp']) {
      const j = await runJson(seed(`${n}.pcap`));
      await conserved(seed(`${n}.pcap`), j.captures[0]);
    }
  });

  test('the split by layer, on a capture whose bytes are known: HTTP heads and chunk lines, SSE fields, event data', async () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
    const events = ['data: one\n\n', 'event: tick\ndata: two\n\n', ': keep-alive\n\n', 'data: a\ndata: bc\n\n'];
    const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n`;
    const request = 'GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n';
    const s = session().handshake();
    s.send('client', request);
    s.send('server', head + chunk(events[0]));
    for (const e of events.slice(1)) s.wait(1).send('server', chunk(e));
    s.send('server', '0\r\n\r\n');
    const c = await analyze(s.close().packets);
    const srv = c.bytes.server;
    // The data fields' values as they travel: "one", "two", "a" and "bc" (the line feed that
    // joins the last two in the event's data is made by the parser from a line end, framing on
    // the wire; the comment carries none).
    const payload = 'one'.length + 'two'.length + 'a'.length + 'bc'.length;
    const sseBytes = events.join('').length;
    const chunkFraming = events.map((e) => chunk(e).length - e.length).reduce((a, b) => a + b, 0);
    expect(srv.layers.sse).toEqual({ framing: sseBytes - payload, payload, lost: 0 });
    expect(srv.layers.http.payload).toBe(0);
    // The head and every chunk's size line and CRLF; the last chunk, which ends the body, is no event's.
    expect(srv.layers.http.framing + srv.unclaimed).toBe(head.length + chunkFraming + '0\r\n\r\n'.length);
    expect(c.bytes.client.layers).toEqual({ http: { framing: request.length, payload: 0, lost: 0 } });
  });

  test('a WebSocket ping between two fragments of a message is the ping\'s, not the message\'s (RFC 6455 §5.4)', async () => {
    const s = session().handshake();
    s.send('client', 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    s.send('server', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    // Server frames are unmasked: "hel" (text, not final), ping "p", "lo" (continuation, final).
    const frames = [Buffer.from([0x01, 3, ...Buffer.from('hel')]), Buffer.from([0x89, 1, 0x70]), Buffer.from([0x80, 2, ...Buffer.from('lo')])];
    s.send('server', Buffer.concat(frames));
    const c = await analyze(s.close().packets);
    expect(c.bytes.mismatches).toBe(0);
    // Payload: the message's 5 bytes; framing: three 2-byte headers and the ping's 1-byte payload.
    expect(c.bytes.server.layers.websocket).toEqual({ framing: 7, payload: 5, lost: 0 });
    const msg = c.connections[0].messages.find((m: any) => m.kind === 'ws-message');
    expect(msg.text).toBe('hello');
  });
});
