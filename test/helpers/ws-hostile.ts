/**
 * Hostile WebSocket captures (issues 18 and 19): deflate bombs, huge messages in 1-byte
 * segments, messages of very many fragments, an Upgrade held too long, a 101 never captured,
 * a frame announcing a huge length with a hole in it. The tests build small ones in memory;
 * the audit's sizes are written to a file, streamed, by running this module:
 *
 *   npx vite-node test/helpers/ws-hostile.ts KIND OUT.pcap [N]
 *
 * KIND is one of the keys of HOSTILE below; N scales it (see each generator).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';
import { PcapWriter, type OutPacket } from '../../src/capture/writer.js';
import { TcpSession } from '../../src/synth/tcp.js';
import { wsFrame } from '../../src/synth/websocket.js';
import { websocketAccept } from '../../src/dissect/websocket.js';

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const MASK = [0x36, 0x0d, 0x29, 0x16];

export function upgradeRequest(): string {
  return `GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

export function switching(ext = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${websocketAccept(KEY)}\r\n${ext ? `Sec-WebSocket-Extensions: ${ext}\r\n` : ''}\r\n`;
}

/** A frame with free header bits (RSV1 for a compressed message, FIN off for a fragment). */
export function frame(opcode: number, payload: Uint8Array | string, o: { fin?: boolean; rsv1?: boolean; mask?: ArrayLike<number> } = {}): Uint8Array {
  const f = wsFrame(opcode, payload, o.mask, o.fin ?? true);
  if (o.rsv1) f[0] |= 0x40;
  return f;
}

/**
 * RFC 7692 §7.2.1: the message's bytes compressed and flushed with a sync flush, whose
 * trailing 00 00 ff ff is removed. Each one is compressed on its own (it refers to no earlier
 * message), which is valid with or without context takeover.
 */
export function deflateMessage(data: Uint8Array): Uint8Array {
  const out = deflateRawSync(data, { level: 9, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return new Uint8Array(out.subarray(0, out.length - 4));
}

type Out = (p: OutPacket) => void;

function ws(onPacket: Out | undefined, ext = ''): TcpSession {
  const s = new TcpSession({ client: { ip: '10.0.0.1', port: 50000 }, server: { ip: '10.0.0.2', port: 8000 }, start: 1_700_000_000, onPacket });
  s.handshake();
  s.send('client', upgradeRequest());
  s.send('server', switching(ext));
  return s;
}

/**
 * `n` server messages that each inflate to `inflated` bytes of zeros (by default just under
 * the 16 MiB cap, so each is inflated whole: 16 KiB on the wire each), every fourth one a
 * bomb past the cap (32 MiB), then a small text message; permessage-deflate with context
 * takeover.
 */
export function deflateBombs(onPacket?: Out, n = 200, inflated = 16 * 1024 * 1024 - 1024): TcpSession {
  const s = ws(onPacket, 'permessage-deflate');
  const under = deflateMessage(new Uint8Array(inflated));
  const over = deflateMessage(new Uint8Array(32 * 1024 * 1024));
  for (let i = 0; i < n; i++) {
    s.send('client', frame(1, `get ${i}`, { mask: MASK }));
    s.send('server', frame(2, i % 4 === 3 ? over : under, { rsv1: true }));
  }
  s.send('server', frame(1, deflateMessage(new TextEncoder().encode('the end')), { rsv1: true }));
  return s.close();
}

/** One server text message of `size` bytes in one frame, sent one byte per segment. */
export function oneByteSegments(onPacket?: Out, size = 10 * 1000 * 1000): TcpSession {
  const s = ws(onPacket);
  const f = frame(1, new Uint8Array(size).fill(0x61));
  const ones = new Array<number>(f.length).fill(1);
  // Sent in pieces so that no list of segment sizes as long as the frame is made at once.
  const step = 1 << 16;
  for (let o = 0; o < f.length; o += step) s.send('server', f.subarray(o, o + step), { split: ones.slice(0, Math.min(step, f.length - o)), ack: o + step >= f.length });
  s.send('client', frame(1, 'thanks', { mask: MASK }));
  return s.close();
}

/**
 * One server message of `fragments` fragments (a text frame and continuations of 4 bytes
 * each), each in its own segment, with a ping between fragments every `pingEvery`.
 */
export function manyFragments(onPacket?: Out, fragments = 200_000, pingEvery = 0): TcpSession {
  const s = ws(onPacket);
  for (let i = 0; i < fragments; i++) {
    s.send('server', frame(i === 0 ? 1 : 0, 'abcd', { fin: i === fragments - 1 }), { ack: i % 64 === 63 || i === fragments - 1 });
    if (pingEvery > 0 && i % pingEvery === pingEvery - 1) s.send('server', frame(9, 'p'), { ack: false });
  }
  return s.close();
}

/**
 * The same message of fragments, masked, from the client: fragments in segments of one frame
 * each, or, with `together`, all in as few segments as the MSS allows (one FrameMap entry
 * per segment, the frames of many fragments in one).
 */
export function manyClientFragments(onPacket?: Out, fragments = 100_000, pingEvery = 0): TcpSession {
  const s = ws(onPacket);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < fragments; i++) {
    parts.push(frame(i === 0 ? 2 : 0, 'wxyz', { fin: i === fragments - 1, mask: MASK }));
    if (pingEvery > 0 && i % pingEvery === pingEvery - 1) parts.push(frame(9, 'p', { mask: MASK }));
  }
  s.send('client', Buffer.concat(parts));
  return s.close();
}

/**
 * The client sends `clientBytes` of masked frames right after its Upgrade request, before
 * the 101 comes (a client that does not wait, or a server that is slow to answer): the
 * frames alternate between 60 KiB and 30-byte ones, one frame per segment, so that past the
 * 1 MiB hold a large one is dropped and the small ones after it still fit. Then the 101,
 * a server frame, and a last client frame.
 */
export function upgradeHeldTooLong(onPacket?: Out, clientBytes = 2 * 1024 * 1024): TcpSession {
  const s = new TcpSession({ client: { ip: '10.0.0.1', port: 50000 }, server: { ip: '10.0.0.2', port: 8000 }, start: 1_700_000_000, onPacket, mss: 65000 });
  s.handshake();
  s.send('client', upgradeRequest());
  let sent = 0;
  for (let i = 0; sent < clientBytes; i++) {
    const f = frame(i % 2 === 0 ? 2 : 1, i % 2 === 0 ? new Uint8Array(60 * 1024).fill(i & 0xff) : `small frame ${String(i).padStart(8, '0')}`, { mask: MASK });
    s.send('client', f, { ack: false });
    sent += f.length;
  }
  s.send('server', switching());
  s.send('server', frame(1, 'welcome'));
  s.send('client', frame(1, 'last', { mask: MASK }));
  return s.close();
}

/**
 * The 101 is not in the capture (the packet carrying it was lost): `frames` masked client
 * frames and as many server frames follow it.
 */
export function no101(frames = 10): TcpSession {
  const s = new TcpSession({ client: { ip: '10.0.0.1', port: 50000 }, server: { ip: '10.0.0.2', port: 8000 }, start: 1_700_000_000 });
  s.handshake();
  s.send('client', upgradeRequest());
  const at = s.packets.length;
  s.send('server', switching());
  s.packets.splice(at, 1); // the 101 is lost; its ACK stays
  for (let i = 0; i < frames; i++) {
    s.send('client', frame(1, `get-time ${i}`, { mask: MASK }));
    s.send('server', frame(1, `{"time": "09:43:${String(i).padStart(2, '0')}"}`));
  }
  return s.close();
}

/**
 * A server frame announcing `announced` payload bytes, of which the capture has the first
 * 1000, a hole of `hole` bytes (segments never captured), then 1000 more; the connection
 * then ends. The announced length is never reached.
 */
export function hugeFrameWithHole(announced = 2 ** 40, hole = 1_000_000): TcpSession {
  const s = ws(undefined);
  const head = Uint8Array.of(0x82, 127, ...[0, 0, 0, 0, 0, 0, 0, 0]);
  new DataView(head.buffer).setBigUint64(2, BigInt(announced));
  s.send('server', head);
  s.send('server', new Uint8Array(1000).fill(0x55));
  s.advance('server', hole);
  s.send('server', new Uint8Array(1000).fill(0x66));
  return s.close();
}

export const HOSTILE: Record<string, (out: Out, n?: number) => TcpSession> = {
  'deflate-bombs': (out, n) => deflateBombs(out, n),
  'one-byte-segments': (out, n) => oneByteSegments(out, n),
  'many-fragments': (out, n) => manyFragments(out, n),
  'many-fragments-pings': (out, n) => manyFragments(out, n, 10),
  'client-fragments': (out, n) => manyClientFragments(out, n, 10),
  'upgrade-held': (out, n) => upgradeHeldTooLong(out, n),
};

/** Writes a generator's capture to a file, record by record. */
export function writeHostile(kind: string, path: string, n?: number): number {
  const gen = HOSTILE[kind];
  if (!gen) throw new Error(`unknown kind ${kind}: ${Object.keys(HOSTILE).join(', ')}`);
  const fd = openSync(path, 'w');
  const w = new PcapWriter();
  writeSync(fd, w.header());
  let batch: Buffer[] = [];
  let size = 0;
  let packets = 0;
  const flush = () => {
    writeSync(fd, Buffer.concat(batch));
    batch = [];
    size = 0;
  };
  gen((p) => {
    const r = w.record(p);
    batch.push(r);
    size += r.length;
    packets++;
    if (size > 1 << 20) flush();
  }, n);
  flush();
  closeSync(fd);
  return packets;
}

// Run by vite-node (which takes its own script off argv), not imported by a test.
if (/vite-node$/.test(process.argv[1] ?? '') && process.argv[2] in HOSTILE) {
  const [kind, out, n] = process.argv.slice(2);
  const packets = writeHostile(kind, out, n ? Number(n) : undefined);
  console.log(`${out}: ${kind}, ${packets} packets`);
}
