import { closeSync, openSync, writeSync } from 'node:fs';
import { PcapWriter, type OutPacket } from '../capture/writer.js';
import { rng } from './random.js';
import { TcpSession } from './tcp.js';
import { wsFrame } from './websocket.js';

/**
 * Writes a capture of mixed realtime traffic for the benchmark, deterministic from a seed:
 * HTTP keep-alive connections with Content-Length and chunked bodies, a long SSE stream,
 * several WebSocket connections with masked client frames, and segments split at odd places.
 * Usage: node dist/synth/generate.js --size 200MB [--seed 1] out.pcap
 */


export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  const unit = { k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Math.round(parseFloat(m[1]) * unit);
}


const enc = new TextEncoder();

interface Scenario {
  session: TcpSession;
  step(): void;
}

export function generate(path: string, targetBytes: number, seed = 1): { packets: number; bytes: number } {
  const random = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const fd = openSync(path, 'w');
  const writer = new PcapWriter();
  let buf = Buffer.allocUnsafe(4 << 20);
  let used = 0;
  let bytes = 0;
  let packets = 0;
  const flush = () => {
    writeSync(fd, buf, 0, used);
    used = 0;
  };
  const put = (b: Buffer) => {
    if (used + b.length > buf.length) flush();
    if (b.length > buf.length) buf = Buffer.allocUnsafe(b.length * 2);
    b.copy(buf, used);
    used += b.length;
    bytes += b.length;
  };
  put(writer.header());
  const onPacket = (p: OutPacket) => {
    put(writer.record(p));
    packets++;
  };

  let port = 20000;
  let clock: [number, number] = [1_767_225_600, 0];
  const newSession = () => {
    port = port >= 60000 ? 20000 : port + 1;
    const s = new TcpSession({
      client: { ip: `10.${(port >> 8) & 0xff}.${port & 0xff}.2`, port },
      server: { ip: '10.0.0.1', port: pick([80, 8000, 8080]) },
      start: clock[0],
      timestamps: true,
      mss: 1448,
      clientIsn: Math.floor(random() * 0xffffffff),
      serverIsn: Math.floor(random() * 0xffffffff),
      onPacket,
    });
    s.setTime(clock[0], clock[1]);
    return s.handshake();
  };
  const body = (n: number) => enc.encode('x'.repeat(n).replace(/x/g, () => pick(['a', 'b', 'c', '{', '}', '"', ':', ' ', '1', '2'])));
  const bodies = Array.from({ length: 16 }, (_, i) => body(60 + i * i * 40));

  const http = (): Scenario => {
    const session = newSession();
    let left = 5 + Math.floor(random() * 20);
    return {
      session,
      step() {
        session.send('client', `GET /api/${left} HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n`);
        const b = pick(bodies);
        if (random() < 0.5) {
          session.send('server', Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n`), b]));
        } else {
          const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')];
          for (let o = 0; o < b.length; o += 700) {
            const piece = b.subarray(o, o + 700);
            parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), Buffer.from(piece), Buffer.from('\r\n'));
          }
          parts.push(Buffer.from('0\r\n\r\n'));
          const all = Buffer.concat(parts);
          session.send('server', all, { split: random() < 0.3 ? [37, 501, 1448] : undefined });
        }
        if (--left === 0) this.step = () => session.close();
      },
    };
  };
  const sse = (): Scenario => {
    const session = newSession();
    session.send('client', 'GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n');
    session.send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    let id = 0;
    return {
      session,
      step() {
        const ev = `id: ${++id}\nevent: tick\ndata: {"time":"${id}","load":[${random().toFixed(3)},${random().toFixed(3)}]}\n\n`;
        session.send('server', `${Buffer.byteLength(ev).toString(16)}\r\n${ev}\r\n`, { ack: random() < 0.5 });
      },
    };
  };
  const ws = (): Scenario => {
    const session = newSession();
    session.send('client', 'GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: W+pQUnxtfyImglCepUIxdw==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    session.send('server', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: jvz8rJ0yJN/A4J0kiZQLiifpQO8=\r\n\r\n');
    const mask = new Uint8Array(4);
    let left = 50 + Math.floor(random() * 200);
    return {
      session,
      step() {
        for (let i = 0; i < 4; i++) mask[i] = Math.floor(random() * 256);
        session.send('client', wsFrame(1, enc.encode('{"op":"get-time"}'), mask), { ack: false });
        const b = pick(bodies).subarray(0, Math.floor(random() * 3000) + 20);
        const f = wsFrame(random() < 0.8 ? 1 : 2, b);
        session.send('server', f, { split: f.length > 40 && random() < 0.3 ? [Math.floor(f.length / 3)] : undefined });
        if (--left === 0) {
          this.step = () => {
            session.send('client', wsFrame(8, Uint8Array.of(0x03, 0xe9), mask), { ack: false });
            session.send('server', wsFrame(8, new Uint8Array(0)));
            session.close();
          };
        }
      },
    };
  };

  const active: Scenario[] = [sse()];
  const done = new Set<Scenario>();
  while (bytes < targetBytes) {
    while (active.length < 12) active.push(random() < 0.6 ? http() : ws());
    const sc = pick(active);
    sc.session.setTime(clock[0], clock[1]);
    const before = sc.step;
    sc.step();
    clock = sc.session.clock;
    clock = [clock[0] + (clock[1] + 200_000 >= 1e9 ? 1 : 0), (clock[1] + 200_000) % 1e9];
    if (before !== sc.step) done.add(sc);
    else if (done.has(sc)) active.splice(active.indexOf(sc), 1);
  }
  flush();
  closeSync(fd);
  return { packets, bytes };
}

if (process.argv[1]?.endsWith('generate.js')) {
  const args = process.argv.slice(2);
  let size = 200e6;
  let seed = 1;
  let out = '';
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--size') size = parseSize(args[++i]);
    else if (args[i] === '--seed') seed = Number(args[++i]);
    else out = args[i];
  }
  if (!out) {
    process.stderr.write('usage: npm run gen -- --size 200MB [--seed N] out.pcap\n');
    process.exit(2);
  }
  const t = Date.now();
  const r = generate(out, size, seed);
  process.stdout.write(`${out}: ${r.packets} packets, ${r.bytes} bytes in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
}
