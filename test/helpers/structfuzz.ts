/**
 * A structure-aware fuzzer's generator (issue 18): valid captures whose protocol content is
 * hostile. Where the mutation fuzzer (fuzz.ts) flips bits in the project's fixtures and so
 * mostly reaches the capture and header parsers, these are well-formed pcap/pcapng files of
 * well-formed TCP conversations whose HTTP, SSE and WebSocket content sits at its limits:
 * lengths at their boundaries, invalid and conflicting framing, floods of small units, state
 * that never completes, compression everywhere (bombs, nesting, lies), text traps, and
 * transport trouble on top (1-byte segments, lost, repeated, changed and reordered packets,
 * IP lengths past the frame).
 *
 * Everything is drawn from one seeded generator: a case is its seed and index.
 */
import { brotliCompressSync, deflateRawSync, gzipSync } from 'node:zlib';
import { LINKTYPE } from '../../src/capture/types.js';
import { writePcap, writePcapng, type OutPacket } from '../../src/capture/writer.js';
import { merge, TcpSession, type Link } from '../../src/synth/tcp.js';
import { wsFrame } from '../../src/synth/websocket.js';

type R = () => number;
const int = (r: R, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: R, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const chance = (r: R, p: number) => r() < p;
const enc = (s: string) => Buffer.from(s, 'utf8');

/** Characters a terminal, a browser or a spreadsheet would act on, and bytes that are not UTF-8. */
const TRAPS = ['\x1b[31m', '\x1b]0;title\x07', '\u009b2J', '\u202e', '\u200b', '\u2028', '\ufeff', '\u061c', '\u2066', '\r', '\x00', '=HYPERLINK("x")', '\ud83d\ude00'];
const RAW_TRAPS = [Buffer.from([0xff, 0xfe]), Buffer.from([0xc3]), Buffer.from([0xe2, 0x80]), Buffer.from([0xed, 0xa0, 0x80])];

function text(r: R, max = 40): Buffer {
  const parts: Buffer[] = [];
  const n = int(r, 0, 4);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.5) parts.push(enc('abcdefghij'.slice(0, int(r, 1, 10)).repeat(int(r, 1, Math.max(1, max / 10)))));
    else if (k < 0.85) parts.push(enc(pick(r, TRAPS)));
    else parts.push(pick(r, RAW_TRAPS));
  }
  return Buffer.concat(parts);
}

/** Sizes at the boundaries that framing formats switch on, and small ones. */
const SMALL_BOUNDARY = [0, 1, 2, 125, 126, 127];
const LARGE_BOUNDARY = [65535, 65536, 65537];
function size(r: R, cap: number): number {
  const k = r();
  if (k < 0.03) return Math.min(cap, pick(r, LARGE_BOUNDARY));
  if (k < 0.3) return Math.min(cap, pick(r, SMALL_BOUNDARY));
  return int(r, 0, Math.min(cap, 300));
}

/** A body coded by a Content-Encoding, honestly or not, or a bomb. */
function coded(r: R, body: Buffer): { header: string | null; bytes: Buffer } {
  const k = int(r, 0, 9);
  switch (k) {
    case 0: return { header: 'gzip', bytes: gzipSync(body) };
    case 1: return { header: 'br', bytes: brotliCompressSync(body) };
    case 2: return { header: 'deflate', bytes: deflateRawSync(body) };
    case 3: return { header: 'br, gzip', bytes: gzipSync(brotliCompressSync(body)) };
    case 4: return { header: 'gzip, gzip, br', bytes: gzipSync(body) }; // a lie
    case 5: return { header: 'gzip', bytes: body }; // not gzip at all
    case 6: return { header: 'gzip', bytes: gzipSync(Buffer.alloc(int(r, 1, 3) << 20)) }; // a bomb past the fuzz cap of 1 MiB
    case 7: return { header: Array(int(r, 5, 300)).fill('gzip').join(', '), bytes: gzipSync(gzipSync(body)) };
    case 8: return { header: pick(r, ['compress', 'zstd', 'identity', ', ,', 'x-gzip']), bytes: body };
    default: return { header: null, bytes: body };
  }
}

/** Framing of a body: valid, invalid or conflicting lengths, chunked with extensions and trailers. */
function framed(r: R, bytes: Buffer, response: boolean): { headers: string; wire: Buffer } {
  const k = int(r, 0, 7);
  if (k <= 2) return { headers: `Content-Length: ${bytes.length}\r\n`, wire: bytes };
  if (k === 3) {
    const bad = pick(r, [`${bytes.length}, ${bytes.length}`, `${bytes.length}, ${bytes.length + 1}`, '-1', 'abc', '99999999999999999999', `${bytes.length}\r\nContent-Length: ${bytes.length + 3}`]);
    return { headers: `Content-Length: ${bad}\r\n`, wire: bytes };
  }
  if (k === 4 && response) return { headers: 'Connection: close\r\n', wire: bytes };
  if (k === 5) return { headers: pick(r, ['Transfer-Encoding: chunked, gzip\r\n', 'Transfer-Encoding: gzip\r\nContent-Length: 3\r\n']), wire: bytes };
  // Chunked: random chunk sizes, extensions, a trailer section, a last chunk or not.
  const parts: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = Math.min(bytes.length - at, chance(r, 0.2) ? 1 : int(r, 1, 4096));
    const ext = chance(r, 0.2) ? `;${'e'.repeat(int(r, 1, 200))}=${chance(r, 0.5) ? '"q;x"' : 'v'}` : '';
    parts.push(enc(`${n.toString(16)}${ext}\r\n`), bytes.subarray(at, at + n), enc('\r\n'));
    at += n;
  }
  if (chance(r, 0.1)) parts.push(enc(pick(r, ['zz\r\n', `${'f'.repeat(20)}\r\n`, '1\r\nab\r\n']))); // invalid sizes
  if (!chance(r, 0.1)) {
    const trailers = chance(r, 0.3) ? Array.from({ length: int(r, 1, 40) }, (_, i) => `X-T${i}: ${'y'.repeat(int(r, 0, 300))}\r\n`).join('') : '';
    parts.push(enc(`0\r\n${trailers}\r\n`));
  }
  return { headers: 'Transfer-Encoding: chunked\r\n', wire: Buffer.concat(parts) };
}

type Talk = Array<['client' | 'server', Buffer]>;

function httpExchanges(r: R, talk: Talk): void {
  const n = int(r, 1, 6);
  const pipelined = chance(r, 0.15);
  const answers: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const method = pick(r, ['GET', 'GET', 'POST', 'HEAD', 'PUT', 'OPTIONS', 'BREW']);
    const target = chance(r, 0.8) ? `/${text(r, 20).toString('latin1').replace(/[\s]/g, '_')}` : '*';
    let req = `${method} ${target} HTTP/1.1\r\nHost: x\r\n`;
    if (chance(r, 0.1)) req += `X-Long: ${'h'.repeat(int(r, 1000, 70_000))}\r\n`;
    if (chance(r, 0.1)) req += `X-Trap: ${text(r).toString('latin1')}\r\n`;
    let reqBody: Buffer = Buffer.alloc(0);
    if (method === 'POST' || method === 'PUT') {
      const f = framed(r, text(r, 200), false);
      req += f.headers;
      reqBody = f.wire;
    }
    talk.push(['client', Buffer.concat([enc(`${req}\r\n`), reqBody])]);
    const status = pick(r, [200, 200, 200, 204, 304, 100, 103, 404, 500, 0]);
    let res = status === 0 ? `HTTP/1.1 abc\r\n` : `HTTP/1.1 ${status} ${text(r, 10).toString('latin1').replace(/[\r\n]/g, '')}\r\n`;
    const body = coded(r, Buffer.concat([text(r, 500), Buffer.alloc(size(r, 70_000), 0x61)]));
    if (body.header !== null) res += `Content-Encoding: ${body.header}\r\n`;
    if (chance(r, 0.1)) res += pick(r, ['Content-Type: text/html\r\n', 'Content-Type: application/json\r\n']);
    const f = framed(r, body.bytes, true);
    const answer = Buffer.concat([enc(`${res}${f.headers}\r\n`), f.wire]);
    if (pipelined) answers.push(answer);
    else talk.push(['server', answer]);
  }
  // Unanswered pipelined requests now and then; else the answers, in order.
  if (pipelined && chance(r, 0.3)) {
    const flood = int(r, 1, 1200);
    talk.push(['client', Buffer.concat(Array.from({ length: flood }, (_, i) => enc(`GET /${i} HTTP/1.1\r\n\r\n`)))]);
  } else for (const a of answers) talk.push(['server', a]);
}

function sseLines(r: R): Buffer {
  const eol = pick(r, ['\n', '\r\n', '\r']);
  const lines: Buffer[] = [];
  if (chance(r, 0.1)) lines.push(Buffer.from([0xef, 0xbb, 0xbf]));
  const n = int(r, 1, 200);
  for (let i = 0; i < n; i++) {
    const k = int(r, 0, 11);
    let line: Buffer;
    if (k <= 4) line = Buffer.concat([enc(pick(r, ['data: ', 'data:', 'data'])), text(r, 60)]);
    else if (k === 5) line = enc(`event: ${text(r, 10).toString('latin1')}`);
    else if (k === 6) line = Buffer.concat([enc('id: '), text(r, 10)]);
    else if (k === 7) line = enc(`retry: ${pick(r, ['100', 'abc', '-1', '99999999999999999999'])}`);
    else if (k === 8) line = Buffer.concat([enc(': '), text(r, 40)]);
    else if (k === 9) line = enc(`${pick(r, ['unknown', 'Data', 'dat'])}: x`);
    else if (k === 10 && chance(r, 0.05)) line = enc(`data: ${'L'.repeat(int(r, 60_000, 1_200_000))}`);
    else line = Buffer.alloc(0); // a blank line: dispatch
    lines.push(line, enc(pick(r, [eol, eol, eol, '\r\n', '\n'])));
  }
  if (chance(r, 0.7)) lines.push(enc(eol));
  return Buffer.concat(lines);
}

function sseStream(r: R, talk: Talk): void {
  talk.push(['client', enc('GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')]);
  const body = sseLines(r);
  const chunked = chance(r, 0.6);
  talk.push(['server', enc(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n${chunked ? 'Transfer-Encoding: chunked\r\n' : chance(r, 0.2) ? `Content-Length: ${body.length}\r\n` : ''}\r\n`)]);
  if (!chunked) {
    talk.push(['server', body]);
    return;
  }
  for (let at = 0; at < body.length; ) {
    const n = Math.min(body.length - at, int(r, 1, 3000));
    talk.push(['server', Buffer.concat([enc(`${n.toString(16)}\r\n`), body.subarray(at, at + n), enc('\r\n')])]);
    at += n;
  }
  if (chance(r, 0.8)) talk.push(['server', enc('0\r\n\r\n')]);
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** RFC 7692 §7.2.1: compressed with a sync flush, its trailing 00 00 ff ff removed. */
function deflated(payload: Buffer): Buffer {
  const d = deflateRawSync(payload, { finishFlush: 2 /* Z_SYNC_FLUSH */ });
  return d.subarray(0, Math.max(0, d.length - 4));
}

function websocket(r: R, talk: Talk): void {
  const deflate = chance(r, 0.4);
  talk.push(['client', enc(`GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : ''}\r\n`)]);
  const answer = int(r, 0, 9);
  if (answer === 0) talk.push(['server', enc('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')]);
  else if (answer !== 1) talk.push(['server', enc(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n${deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : ''}\r\n`)]);
  // answer 1: the 101 was never captured.
  const n = int(r, 1, 40);
  for (let i = 0; i < n; i++) {
    const fromClient = chance(r, 0.5);
    const mask = fromClient !== chance(r, 0.05) ? [int(r, 0, 255), int(r, 0, 255), int(r, 0, 255), int(r, 0, 255)] : undefined;
    const k = int(r, 0, 9);
    let payload: Buffer = Buffer.concat([text(r, 100), Buffer.alloc(size(r, 70_000), 0x62)]);
    let opcode = pick(r, [1, 1, 2, 9, 10]);
    let rsv1 = false;
    if (k === 0 && deflate) {
      payload = deflated(chance(r, 0.3) ? Buffer.alloc(int(r, 1, 3) << 20) : payload); // a bomb, or a message
      rsv1 = true;
    } else if (k === 1) {
      // A fragmented message, with a control frame between the fragments now and then.
      const parts = int(r, 2, 300);
      const frames: Buffer[] = [];
      for (let p = 0; p < parts; p++) {
        frames.push(Buffer.from(wsFrame(p === 0 ? opcode : 0, payload.subarray(0, int(r, 0, 20)), mask, p === parts - 1)));
        if (chance(r, 0.1)) frames.push(Buffer.from(wsFrame(9, 'p', mask)));
      }
      talk.push([fromClient ? 'client' : 'server', Buffer.concat(frames)]);
      continue;
    } else if (k === 2) {
      opcode = pick(r, [3, 7, 11, 15, 8]);
      if (opcode === 8) payload = Buffer.concat([Buffer.from([int(r, 0, 255), int(r, 0, 255)]), text(r, 30)]);
    } else if (k === 3) {
      payload = Buffer.concat([enc('\u202e'), text(r, 20)]);
    }
    const f = Buffer.from(wsFrame(opcode, payload, mask, !chance(r, 0.05)));
    if (rsv1 || chance(r, 0.03)) f[0] |= rsv1 ? 0x40 : pick(r, [0x40, 0x20, 0x10]);
    talk.push([fromClient ? 'client' : 'server', f]);
  }
}

function plainText(r: R, talk: Talk): void {
  const n = int(r, 1, 20);
  for (let i = 0; i < n; i++) talk.push([chance(r, 0.5) ? 'client' : 'server', Buffer.concat([text(r, 80), enc(chance(r, 0.8) ? '\n' : '')])]);
}

/** One TCP conversation, sent in segments of hostile sizes. */
function conversation(r: R, index: number, start: number, link: Link): TcpSession {
  const v6 = chance(r, 0.2);
  const s = new TcpSession({
    client: { ip: v6 ? `fd00::${index + 1}` : `10.0.${index >> 8}.${(index & 0xff) + 1}`, port: 40000 + index },
    server: { ip: v6 ? 'fd00::ffff' : '10.9.9.9', port: pick(r, [80, 8080, 443, 9999]) },
    start,
    link,
    mss: pick(r, [1448, 1448, 536, 65000]),
  });
  if (!chance(r, 0.05)) s.handshake();
  const talk: Talk = [];
  const kinds = int(r, 1, 2);
  for (let k = 0; k < kinds; k++) pick(r, [httpExchanges, httpExchanges, sseStream, websocket, plainText])(r, talk);
  // 1-byte segments for short sends, at most 20,000 of them per conversation (a long message
  // in 1-byte segments is a size test of its own, in websocket-robust and reassembly-robust).
  let tinyLeft = 20_000;
  for (const [side, bytes] of talk) {
    const tiny = bytes.length <= Math.min(4096, tinyLeft) && chance(r, 0.1);
    if (tiny) tinyLeft -= bytes.length;
    const split = tiny ? Array(bytes.length).fill(1) : chance(r, 0.3) ? Array.from({ length: 8 }, () => int(r, 1, 900)) : undefined;
    s.send(side, bytes, { split, ack: chance(r, 0.8) });
    if (chance(r, 0.1)) s.wait(r() * 2);
  }
  const end = int(r, 0, 9);
  if (end <= 6) s.close(chance(r, 0.5) ? 'client' : 'server');
  else if (end === 7) s.reset(chance(r, 0.5) ? 'client' : 'server');
  return s;
}

/** Transport trouble: packets lost, repeated (some with other bytes), swapped, IP lengths past the frame. */
function perturb(r: R, packets: OutPacket[], linkHeader: number): OutPacket[] {
  const out = packets.slice();
  const troubles = chance(r, 0.5) ? 0 : int(r, 1, 8);
  for (let t = 0; t < troubles && out.length > 2; t++) {
    const i = int(r, 1, out.length - 1);
    const k = int(r, 0, 4);
    if (k === 0) out.splice(i, 1);
    else if (k === 1) out.splice(i, 0, out[i]);
    else if (k === 2) {
      const copy = Uint8Array.from(out[i].data);
      if (copy.length > linkHeader + 60) copy[copy.length - 1 - int(r, 0, 8)] ^= 0x20;
      out.splice(i + 1, 0, { ...out[i], data: copy });
    } else if (k === 3 && i + 1 < out.length) [out[i], out[i + 1]] = [out[i + 1], out[i]];
    else if (k === 4 && out[i].data[linkHeader] >> 4 === 4) {
      const copy = Uint8Array.from(out[i].data);
      copy[linkHeader + 2] = 0xff;
      copy[linkHeader + 3] = 0xff;
      out[i] = { ...out[i], data: copy };
    }
  }
  return out;
}

const LINKS: Array<[Link, number, number]> = [['ethernet', LINKTYPE.ETHERNET, 14], ['sll', LINKTYPE.LINUX_SLL, 16], ['raw', LINKTYPE.RAW, 0], ['null', LINKTYPE.NULL, 4]];

/** One case: a capture file's bytes, and what it holds in words (for a failure's message). */
export function structuredCase(r: R): { bytes: Uint8Array; what: string } {
  const [link, linkType, linkHeader] = pick(r, LINKS);
  const n = int(r, 1, 4);
  const start = 1_767_225_600 + int(r, 0, 1000);
  const sessions = Array.from({ length: n }, (_, i) => conversation(r, i, start, link).wait(0));
  // A SYN flood beside them now and then: many connections that never carry a byte.
  if (chance(r, 0.05)) {
    for (let i = 0; i < int(r, 100, 3000); i++) sessions.push(new TcpSession({ client: { ip: '10.7.0.1', port: 1024 + i }, server: { ip: '10.9.9.9', port: 80 }, start, link }).raw('client', i, 0, 0x02, new Uint8Array(0), { mss: true }));
  }
  const packets = perturb(r, merge(...sessions), linkHeader);
  const format = int(r, 0, 3);
  let bytes: Uint8Array =
    format === 0 ? writePcapng(packets, { interfaces: [{ linkType }], comment: chance(r, 0.3) ? text(r, 50).toString('utf8') : undefined }) : writePcap(packets, { linkType, nanosecond: format === 2, bigEndian: format === 3 });
  if (chance(r, 0.1)) bytes = gzipSync(bytes);
  if (chance(r, 0.05)) bytes = bytes.subarray(0, int(r, 24, bytes.length)); // cut short
  return { bytes, what: `${n} conversation(s), ${link}, ${['pcapng', 'pcap', 'pcap-nsec', 'pcap big-endian'][format]}, ${packets.length} packets, ${bytes.length} bytes` };
}
