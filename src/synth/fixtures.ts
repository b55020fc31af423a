import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePcap, writePcapng, type OutPacket } from '../capture/writer.js';
import { TcpSession, type Link, type SessionOptions } from './tcp.js';
import { wsFrame } from './websocket.js';

/**
 * Writes the synthesized fixtures in fixtures/ (the recorded ones come from
 * fixtures/demo/record.sh). Deterministic: running it again gives the same bytes.
 * Usage: node dist/synth/fixtures.js [outdir]
 */

const START = 1_767_225_600; // 2026-01-01 00:00:00 UTC


const time = (i: number) => JSON.stringify({ time: `12:00:${String(i * 10).padStart(2, '0')}` });

/**
 * WebSocket updates that are not all alike: in update 2 the server splits its answer over
 * two segments, in update 3 the client's request is retransmitted (the first copy was
 * captured, its ACK was lost), and updates 1, 4 and 5 have the usual three packets.
 */
export function wsIrregular(): OutPacket[] {
  const s = new TcpSession({ client: { ip: '192.0.2.10', port: 51000 }, server: { ip: '192.0.2.1', port: 8000 }, start: START, timestamps: true });
  s.handshake();
  s.send('client', 'GET /time HTTP/1.1\r\nHost: 192.0.2.1:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: W+pQUnxtfyImglCepUIxdw==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  s.send('server', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: jvz8rJ0yJN/A4J0kiZQLiifpQO8=\r\n\r\n');
  const mask = [0x36, 0x0d, 0x29, 0x16];
  for (let i = 1; i <= 5; i++) {
    s.wait(10);
    const req = wsFrame(1, 'get-time', mask);
    if (i === 3) {
      // The request, then the same bytes again 200 ms later: a retransmission.
      s.segmentAt('client', 0, req).wait(0.2).segmentAt('client', 0, req).advance('client', req.length);
    } else s.send('client', req, { ack: false });
    const answer = wsFrame(1, time(i));
    s.send('server', answer, { split: i === 2 ? [10, answer.length - 10] : undefined });
  }
  s.wait(10);
  s.send('client', wsFrame(8, Uint8Array.of(0x03, 0xe9), [0x19, 0xdb, 0x13, 0x62]), { ack: false });
  s.send('server', wsFrame(8, new Uint8Array(0)));
  return s.close('client').packets;
}

/**
 * An Ajax exchange on a lossy network: one request segment is never captured (the peer
 * ACKs past it), one response arrives out of order, one is duplicated.
 */
export function ajaxLossy(): OutPacket[] {
  const s = new TcpSession({ client: { ip: '198.51.100.7', port: 40100 }, server: { ip: '198.51.100.1', port: 80 }, start: START });
  s.handshake();
  const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: example\r\n\r\n`;
  const res = (b: string) => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
  s.send('client', req('/'));
  s.send('server', res('{"page":true}'));
  // 1: normal
  s.wait(10).send('client', req('/time')).send('server', res(time(1)));
  // 2: the request is lost before the capture point; the server's ACK covers it.
  s.wait(10).advance('client', req('/time').length).send('server', res(time(2)));
  // 3: the response in two segments, the second captured first.
  s.wait(10).send('client', req('/time'));
  const r3 = new TextEncoder().encode(res(time(3)));
  s.segmentAt('server', 40, r3.subarray(40)).segmentAt('server', 0, r3.subarray(0, 40)).advance('server', r3.length).ack('client');
  // 4: the response duplicated.
  s.wait(10).send('client', req('/time'));
  const r4 = new TextEncoder().encode(res(time(4)));
  s.segmentAt('server', 0, r4).segmentAt('server', 0, r4).advance('server', r4.length).ack('client');
  return s.wait(10).close().packets;
}

/** One SSE exchange, for writing in every container format and link type. */
export function sseExchange(o: Partial<SessionOptions> = {}): TcpSession {
  const s = new TcpSession({ client: { ip: '10.1.0.2', port: 50500 }, server: { ip: '10.1.0.1', port: 8000 }, start: START, ...o });
  s.handshake();
  s.send('client', 'GET /time HTTP/1.1\r\nHost: 10.1.0.1:8000\r\nAccept: text/event-stream\r\n\r\n');
  s.wait(0.01).send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (let i = 1; i <= 3; i++) {
    const ev = `id: ${i}\ndata: ${time(i)}\n\n`;
    s.wait(10).send('server', `${Buffer.byteLength(ev).toString(16)}\r\n${ev}\r\n`);
  }
  s.wait(0.5).send('server', ': keep-alive\n\n'.length.toString(16) + '\r\n: keep-alive\n\n\r\n');
  return s.wait(5).close('client');
}

export function writeFixtures(dir: string): string[] {
  const files: Array<[string, Buffer]> = [
    ['synth-ws-irregular.pcap', writePcap(wsIrregular())],
    ['synth-ajax-lossy.pcap', writePcap(ajaxLossy())],
  ];
  const sse = sseExchange();
  files.push(['synth-sse.pcap', writePcap(sse.packets)]);
  files.push(['synth-sse-nsec.pcap', writePcap(sse.packets, { nanosecond: true })]);
  files.push(['synth-sse.pcapng', writePcapng(sse.packets, { comment: 'sockstat synthesized fixture', interfaces: [{ linkType: sse.linkType, tsresol: 9 }] })]);
  const links: Array<[Link, Partial<SessionOptions>, string]> = [
    ['sll', {}, 'synth-sse-sll.pcap'],
    ['sll2', { client: { ip: 'fd00::2', port: 50500 }, server: { ip: 'fd00::1', port: 8000 } }, 'synth-sse-sll2-ipv6.pcap'],
    ['null', { client: { ip: '::1', port: 50500 }, server: { ip: '::1', port: 8000 } }, 'synth-sse-loopback-ipv6.pcap'],
    ['ethernet', { vlan: 42 }, 'synth-sse-vlan.pcap'],
    ['raw', {}, 'synth-sse-raw.pcap'],
  ];
  for (const [link, o, name] of links) {
    const s = sseExchange({ link, ...o });
    files.push([name, writePcap(s.packets, { linkType: s.linkType })]);
  }
  for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
  return files.map(([n]) => n);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const dir = process.argv[2] ?? 'fixtures';
  for (const f of writeFixtures(dir)) process.stdout.write(`${join(dir, f)}\n`);
}
