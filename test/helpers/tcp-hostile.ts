import { closeSync, openSync, writeSync } from 'node:fs';
import { PcapWriter, type OutPacket } from '../../src/capture/writer.js';
import { TcpSession, type SessionOptions } from '../../src/synth/tcp.js';

/**
 * Hostile TCP captures for the reassembly and decoding limits (issues 18 and 19), small in
 * the tests, at the audit's sizes by hand:
 *
 *   npx vite-node test/helpers/tcp-hostile.ts KIND OUT.pcap [N] [BYTES]
 *
 *   overlong4 / overlong6  N requests whose IP length says 65535 (default 10)
 *   conflict               a retransmission and an overlap with different bytes
 *   synflood               N SYNs from distinct ports (default 1,000,000)
 *   holes                  N connections (default 100,000), each BYTES (default 12,000) held
 *                          behind a hole that never fills; `holes OUT 300 4194000` for 300 of ~4 MiB
 *   tiny                   one hole with N 1-byte segments behind it, last first (default 1,000,000)
 */

export type Emit = (p: OutPacket) => void;

const START = 1_767_225_600;

function session(o: Partial<SessionOptions> & { onPacket?: Emit }): TcpSession {
  return new TcpSession({ client: { ip: '10.0.0.1', port: 50000 }, server: { ip: '10.0.0.2', port: 80 }, start: START, ...o });
}

/** A client address and port for the i-th connection: 60,000 ports per address. */
function clientOf(i: number): { ip: string; port: number } {
  const host = Math.floor(i / 60000);
  return { ip: `10.${1 + ((host >> 8) & 0xff)}.${host & 0xff}.1`, port: 1024 + (i % 60000) };
}

/**
 * One keep-alive connection over Ethernet whose client data frames each declare an IP length
 * of 65535 (IPv4 total length, or IPv6 payload length) while the frame holds far less.
 */
export function overlongIp(version: 4 | 6, requests = 10): OutPacket[] {
  const v6 = version === 6;
  const s = session(v6 ? { client: { ip: 'fd00::1', port: 50000 }, server: { ip: 'fd00::2', port: 80 } } : {}).handshake();
  const bad: OutPacket[] = [];
  for (let i = 0; i < requests; i++) {
    const before = s.packets.length;
    s.send('client', `GET /r${i} HTTP/1.1\r\nHost: x\r\n\r\n`, { ack: false });
    bad.push(s.packets[before]);
    s.send('server', 'HTTP/1.1 204 No Content\r\n\r\n');
  }
  s.close();
  for (const p of bad) {
    // Ethernet header is 14 bytes; the length field is at IP offset 2 (IPv4) or 4 (IPv6).
    const at = 14 + (v6 ? 4 : 2);
    p.data[at] = 0xff;
    p.data[at + 1] = 0xff;
  }
  return s.packets;
}

/**
 * Two attempts at making the receiver and the monitor see different bytes:
 * - the client sends `GET /good`, then "retransmits" the same segment as `GET /evil`;
 * - the client sends bytes 16.. of a second request early (held, out of order: `/good`),
 *   then the whole request in order with `/evil` where the held copy says `/good`.
 * Returns the packets and the frame numbers (1-based) of each first and second copy.
 */
export function conflictingCopies(): { packets: OutPacket[]; firstRetransmitted: number; retransmission: number; firstHeld: number; overlapping: number } {
  const s = session({}).handshake();
  const one = 'GET /good HTTP/1.1\r\nHost: x\r\n\r\n';
  const evilOne = 'GET /evil HTTP/1.1\r\nHost: x\r\n\r\n';
  s.segmentAt('client', 0, one);
  const firstRetransmitted = s.packets.length;
  s.segmentAt('client', 0, evilOne);
  const retransmission = s.packets.length;
  s.advance('client', one.length).ack('server');
  s.send('server', 'HTTP/1.1 204 No Content\r\n\r\n');
  // The second request: "GET /x HTTP/1.1\r\n" is 17 bytes; bytes 17.. say "Host: good\r\n\r\n".
  const two = 'GET /x HTTP/1.1\r\nHost: good\r\n\r\n';
  const evilTwo = 'GET /x HTTP/1.1\r\nHost: evil\r\n\r\n';
  s.segmentAt('client', 17, two.slice(17));
  const firstHeld = s.packets.length;
  s.segmentAt('client', 0, evilTwo);
  const overlapping = s.packets.length;
  s.advance('client', two.length).ack('server');
  s.send('server', 'HTTP/1.1 204 No Content\r\n\r\n');
  s.close();
  return { packets: s.packets, firstRetransmitted, retransmission, firstHeld, overlapping };
}

/** `n` SYNs, each from its own client address and port, never answered. */
export function synFlood(n: number, emit: Emit): void {
  let us = 0;
  for (let i = 0; i < n; i++) {
    const s = session({ client: clientOf(i), onPacket: emit, clientIsn: (i * 2654435761) >>> 0 });
    s.setTime(START + Math.floor(us / 1e6), (us % 1e6) * 1000);
    s.raw('client', (i * 2654435761) >>> 0, 0, 0x02, new Uint8Array(0), { mss: true });
    us += 10;
  }
}

/**
 * `n` connections, each handshaken, then `bytes` of client data sent in 1448-byte segments
 * from stream offset 1 on: byte 0 never comes, nothing is acknowledged past it, and the
 * connections never close, so every byte is held.
 */
export function holes(n: number, bytes: number, emit: Emit): void {
  const chunk = new Uint8Array(1448).fill(0x61);
  let us = 0;
  for (let i = 0; i < n; i++) {
    const s = session({ client: clientOf(i), onPacket: emit });
    s.setTime(START + Math.floor(us / 1e6), (us % 1e6) * 1000);
    s.handshake();
    for (let off = 1; off < bytes + 1; off += chunk.length) s.segmentAt('client', off, chunk.subarray(0, Math.min(chunk.length, bytes + 1 - off)));
    us += 1000;
  }
}

/** One connection with a hole at byte 0 and `n` 1-byte segments behind it, the last first. */
export function tinySegments(n: number, emit: Emit): void {
  const s = session({ onPacket: emit }).handshake();
  const one = Uint8Array.of(0x62);
  for (let i = n; i >= 1; i--) s.segmentAt('client', i, one);
}

/** Collects what an Emit-style generator makes, for the tests. */
export function collect(gen: (emit: Emit) => void): OutPacket[] {
  const out: OutPacket[] = [];
  gen((p) => out.push(p));
  return out;
}

/** Writes a generator's packets to a classic pcap file, streaming. */
export function writeCapture(path: string, gen: (emit: Emit) => void): { packets: number; bytes: number } {
  const fd = openSync(path, 'w');
  const w = new PcapWriter();
  let buf = Buffer.allocUnsafe(4 << 20);
  let used = 0;
  let bytes = 0;
  let packets = 0;
  const put = (b: Buffer) => {
    if (used + b.length > buf.length) {
      writeSync(fd, buf, 0, used);
      used = 0;
    }
    if (b.length > buf.length) buf = Buffer.allocUnsafe(b.length * 2);
    b.copy(buf, used);
    used += b.length;
    bytes += b.length;
  };
  put(w.header());
  gen((p) => {
    put(w.record(p));
    packets++;
  });
  writeSync(fd, buf, 0, used);
  closeSync(fd);
  return { packets, bytes };
}

function cli(args: string[]): void {
  const [kind, out, a, b] = args;
  const num = (s: string | undefined, d: number) => (s === undefined ? d : Number(s));
  const gens: Record<string, (emit: Emit) => void> = {
    overlong4: (emit) => overlongIp(4, num(a, 10)).forEach(emit),
    overlong6: (emit) => overlongIp(6, num(a, 10)).forEach(emit),
    conflict: (emit) => conflictingCopies().packets.forEach(emit),
    synflood: (emit) => synFlood(num(a, 1_000_000), emit),
    holes: (emit) => holes(num(a, 100_000), num(b, 12_000), emit),
    tiny: (emit) => tinySegments(num(a, 1_000_000), emit),
  };
  const gen = kind === undefined ? undefined : gens[kind];
  if (!gen || !out) {
    console.error(`usage: tcp-hostile.ts ${Object.keys(gens).join('|')} OUT.pcap [N] [BYTES]`);
    process.exitCode = 2;
    return;
  }
  const r = writeCapture(out, gen);
  console.log(`${out}: ${r.packets} packets, ${r.bytes} bytes`);
}

// Run by vite-node (which leaves only the script's own arguments), not imported by a test.
if (process.env.VITEST === undefined && /vite-node(\.m?js)?$/.test(process.argv[1] ?? '')) cli(process.argv.slice(2).filter((x) => x !== '--'));
