/**
 * Hostile HTTP/1 and SSE captures, for the robustness tests (small sizes) and for measuring
 * time and memory at the sizes an audit used (issues 18 and 19). Each case is one scripted
 * TCP conversation written as classic pcap, optionally gzip-compressed (sockstat reads both).
 *
 *   npx vite-node test/helpers/http-hostile.ts <case> <out.pcap[.gz]> [scale]
 *   npx vite-node test/helpers/http-hostile.ts list
 *
 * `scale` multiplies the case's default size (1 = the audit's size).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { PcapWriter, type OutPacket } from '../../src/capture/writer.js';
import { TcpSession } from '../../src/synth/tcp.js';

const enc = new TextEncoder();
const MiB = 1024 * 1024;

/** Writes packets as they are made: to a file, gzip-compressed member by member when asked. */
class Out {
  private fd: number;
  private buf = Buffer.allocUnsafe(8 * MiB);
  private used = 0;
  private writer = new PcapWriter();
  packets = 0;
  constructor(path: string, private readonly gzip: boolean) {
    this.fd = openSync(path, 'w');
    this.put(this.writer.header());
  }
  private put(b: Buffer): void {
    if (this.used + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) {
      this.write(b);
      return;
    }
    b.copy(this.buf, this.used);
    this.used += b.length;
  }
  private write(b: Buffer): void {
    // Concatenated gzip members are one gzip stream (RFC 1952 §2.2): no whole file in memory.
    const out = this.gzip ? gzipSync(b, { level: 9 }) : b;
    writeSync(this.fd, out);
  }
  private flush(): void {
    if (this.used > 0) this.write(this.buf.subarray(0, this.used));
    this.used = 0;
  }
  packet = (p: OutPacket): void => {
    this.put(this.writer.record(p));
    this.packets++;
  };
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** A session whose packets go to `onPacket` (or are kept, for tests). */
export function hostileSession(onPacket?: (p: OutPacket) => void, mss = 1448): TcpSession {
  return new TcpSession({ client: { ip: '10.0.0.1', port: 50000 }, server: { ip: '10.0.0.2', port: 80 }, start: 1_700_000_000, mss, onPacket }).handshake();
}

/** Sends `total` bytes made by `piece(i)` in segments of about `segment` bytes, without holding them all. */
function stream(s: TcpSession, side: 'client' | 'server', total: number, piece: (i: number) => string, segment: number): number {
  let sent = 0;
  let pending = '';
  for (let i = 0; sent + pending.length < total; i++) {
    pending += piece(i);
    while (pending.length >= segment && sent + segment <= total) {
      s.send(side, pending.slice(0, segment), { ack: false });
      sent += segment;
      pending = pending.slice(segment);
    }
  }
  pending = pending.slice(0, total - sent);
  if (pending) {
    s.send(side, pending, { ack: false });
    sent += pending.length;
  }
  s.ack(side === 'client' ? 'server' : 'client');
  return sent;
}

export interface HostileCase {
  what: string;
  /** Suggested sockstat arguments for the measurement. */
  args: string[];
  gzip?: boolean;
  build(s: TcpSession, scale: number): void;
}

export const CASES: Record<string, HostileCase> = {
  pipelined: {
    what: '200,000 pipelined GETs that are never answered',
    args: ['--json'],
    build(s, scale) {
      const n = Math.round(200_000 * scale);
      const request = (i: number) => `GET /${String(i).padStart(8, '0')} HTTP/1.1\r\nHost: x\r\n\r\n`;
      stream(s, 'client', n * request(0).length, request, 1448);
    },
  },
  'chunk-extensions': {
    what: 'a chunked body of 1-byte chunks, each with a 4000-byte extension (64 MB)',
    args: ['--json'],
    build(s, scale) {
      s.send('client', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      s.send('server', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      const ext = `1;e=${'x'.repeat(3996)}\r\nx\r\n`;
      stream(s, 'server', Math.round(64 * MiB * scale), () => ext, 65000);
      s.send('server', '0\r\n\r\n');
    },
  },
  trailers: {
    what: 'a chunked body whose trailer section is 64 MB of fields',
    args: ['--json'],
    build(s, scale) {
      s.send('client', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      s.send('server', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n');
      stream(s, 'server', Math.round(64 * MiB * scale), (i) => `X-T${i}: ${'y'.repeat(4000)}\r\n`, 65000);
      s.send('server', '\r\n');
    },
  },
  'gzip-nested': {
    what: 'a body gzipped 5,000 times over, Content-Encoding naming all 5,000',
    args: ['--payloads'],
    build(s, scale) {
      const n = Math.round(5000 * scale);
      let body: Buffer = Buffer.from('hello, nested world\n');
      for (let i = 0; i < n; i++) body = gzipSync(body, { level: 1 });
      s.send('client', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      s.send('server', Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: ${Array(n).fill('gzip').join(', ')}\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    },
  },
  'inflate-200': {
    what: '200 gzip and br bodies on one connection, each inflating to 16 MiB',
    args: ['--json'],
    build(s, scale) {
      const zeros = Buffer.alloc(16 * MiB, 0x61);
      const bodies = { gzip: gzipSync(zeros, { level: 9 }), br: brotliCompressSync(zeros, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }) };
      const n = Math.round(200 * scale);
      for (let i = 0; i < n; i++) {
        const coding = i % 2 === 0 ? 'gzip' : 'br';
        s.send('client', `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
        s.send('server', Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: ${coding}\r\nContent-Length: ${bodies[coding].length}\r\n\r\n`), bodies[coding]]));
      }
    },
  },
  'sse-undispatched': {
    what: 'an event stream of data lines that no blank line dispatches (gzip: 1.4 MB file)',
    args: ['--payloads'],
    gzip: true,
    build(s, scale) {
      s.send('client', 'GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n');
      s.send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n');
      stream(s, 'server', Math.round(640 * MiB * scale), () => 'data\n', 65000);
    },
  },
  'sse-one-chunk': {
    what: 'one 64 MiB chunk of a chunked event stream holding 7 million events',
    args: ['--payloads'],
    build(s, scale) {
      const total = Math.round(16 * MiB * scale) * 4;
      s.send('client', 'GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n');
      s.send('server', `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n${total.toString(16)}\r\n`);
      stream(s, 'server', total, () => 'data: x\n\n', 65000); // 9 bytes an event: the last is cut, and not dispatched
      s.send('server', '\r\n0\r\n\r\n');
    },
  },
  'segments-200k': {
    what: 'one HTTP body in 200,000 segments of 10 bytes',
    args: ['--payloads'],
    build(s, scale) {
      const n = Math.round(200_000 * scale);
      s.send('client', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      s.send('server', `HTTP/1.1 200 OK\r\nContent-Length: ${n * 10}\r\n\r\n`);
      stream(s, 'server', n * 10, () => '0123456789', 10);
    },
  },
  'big-head': {
    what: 'a 9 MiB request head, then a normal request',
    args: ['--payloads'],
    build(s, scale) {
      stream(s, 'client', Math.round(9 * MiB * scale), (i) => (i === 0 ? 'GET / HTTP/1.1\r\nX-Big: ' : 'z'.repeat(1000)), 65000);
      s.send('client', '\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n');
      s.send('server', 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n');
    },
  },
};

function main(argv: string[]): void {
  const [name, path, scaleArg] = argv;
  if (!name || name === 'list' || !CASES[name] || !path) {
    for (const [k, c] of Object.entries(CASES)) console.log(`${k.padEnd(18)} ${c.what}  (measure with: ${c.args.join(' ')})`);
    if (name && name !== 'list') process.exitCode = 2;
    return;
  }
  const c = CASES[name];
  const out = new Out(path, c.gzip ?? path.endsWith('.gz'));
  const s = hostileSession(out.packet, 65000);
  c.build(s, scaleArg ? Number(scaleArg) : 1);
  s.close();
  out.close();
  console.log(`${name}: ${out.packets} packets written to ${path}`);
}

// Run as a script (vite-node passes the script's own arguments from argv[2]); imported by a test, nothing runs.
if (!process.env.VITEST) main(process.argv.slice(2));
