// A minimal WebSocket (RFC 6455) with permessage-deflate (RFC 7692), written for the
// benchmark's recording servers and clients: the traffic they put on the wire is the point,
// so every byte of it is ours to see (no `ws` dependency). Not a general-purpose library.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import zlib from 'node:zlib';

// RFC 6455 1.3: the accept value is base64(SHA-1(key + this GUID)).
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
// RFC 7692 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end";
// 7.2.2: the receiver appends them back before inflating.
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

export const acceptKey = (key) => createHash('sha1').update(key + GUID).digest('base64');

/** The first permessage-deflate offer of a Sec-WebSocket-Extensions header, or null. */
export function parseDeflate(header) {
  if (!header) return null;
  for (const offer of header.split(',')) {
    const [name, ...params] = offer.split(';').map((s) => s.trim());
    if (name !== 'permessage-deflate') continue;
    const p = Object.fromEntries(params.map((kv) => kv.split('=').map((s) => s.trim())));
    return { serverNoContextTakeover: 'server_no_context_takeover' in p, clientNoContextTakeover: 'client_no_context_takeover' in p };
  }
  return null;
}

const deflateHeader = (d) =>
  'permessage-deflate' + (d.serverNoContextTakeover ? '; server_no_context_takeover' : '') + (d.clientNoContextTakeover ? '; client_no_context_takeover' : '');

/** A small fast PRNG (mulberry32): mask keys and payload choices need no crypto strength. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Incremental frame reader over a list of chunks (no copying of partial frames per packet). */
class FrameReader {
  constructor(onFrame) {
    this.chunks = [];
    this.have = 0;
    this.onFrame = onFrame;
  }

  push(buf) {
    if (buf.length === 0) return;
    this.chunks.push(buf);
    this.have += buf.length;
    for (;;) {
      if (this.have < 2) return;
      const h = this.peek(Math.min(this.have, 14));
      const mask = (h[1] & 0x80) !== 0;
      const len7 = h[1] & 0x7f;
      const hdr = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (mask ? 4 : 0);
      if (this.have < hdr) return;
      const len = len7 === 126 ? h.readUInt16BE(2) : len7 === 127 ? Number(h.readBigUInt64BE(2)) : len7;
      if (this.have < hdr + len) return;
      const key = mask ? Buffer.from(h.subarray(hdr - 4, hdr)) : null;
      this.take(hdr);
      const payload = len === 0 ? Buffer.alloc(0) : this.take(len);
      if (key) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      this.onFrame((h[0] & 0x80) !== 0, (h[0] & 0x40) !== 0, h[0] & 0x0f, payload);
    }
  }

  peek(n) {
    if (this.chunks[0].length >= n) return this.chunks[0];
    const b = this.take(n);
    this.chunks.unshift(b);
    this.have += n;
    return b;
  }

  /** Removes n bytes from the front; the result is a fresh buffer when it spans chunks. */
  take(n) {
    this.have -= n;
    const c0 = this.chunks[0];
    if (c0.length === n) return this.chunks.shift();
    if (c0.length > n) {
      this.chunks[0] = c0.subarray(n);
      return Buffer.from(c0.subarray(0, n));
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      off += k;
    }
    return out;
  }
}

/**
 * One end of a WebSocket connection. Messages go out in order even when some are
 * compressed (an async zlib stream keeps the LZ77 window across messages when context
 * takeover is on), and come in in order for the same reason.
 */
export class WsConn {
  constructor(socket, { client, deflate, seed = 1 }) {
    this.socket = socket;
    this.client = client;
    this.deflate = deflate; // null, or { serverNoContextTakeover, clientNoContextTakeover }
    this.rand = prng(seed);
    this.out = Promise.resolve();
    this.in = Promise.resolve();
    this.closing = false;
    this.closed = false;
    this.onmessage = () => {};
    this.onclose = () => {};
    this.received = { messages: 0, bytes: 0, compressed: 0, errors: 0 };
    this.sent = { messages: 0, bytes: 0, compressed: 0 };
    let parts = null;
    this.reader = new FrameReader((fin, rsv1, opcode, payload) => {
      if (opcode >= 8) return this.control(opcode, payload);
      if (opcode !== 0) parts = { opcode, rsv1, list: [] };
      if (!parts) return void this.received.errors++;
      parts.list.push(payload);
      if (!fin) return;
      const m = parts;
      parts = null;
      this.deliver(m.opcode, m.rsv1, m.list.length === 1 ? m.list[0] : Buffer.concat(m.list));
    });
    socket.setNoDelay(true);
    socket.on('data', (d) => this.reader.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.onclose();
    });
  }

  /** The peer compresses with context takeover unless it agreed not to. */
  get peerNoContext() {
    return this.client ? this.deflate.serverNoContextTakeover : this.deflate.clientNoContextTakeover;
  }

  get ownNoContext() {
    return this.client ? this.deflate.clientNoContextTakeover : this.deflate.serverNoContextTakeover;
  }

  deliver(opcode, compressed, data) {
    if (!compressed) {
      this.received.messages++;
      this.received.bytes += data.length;
      return this.onmessage(opcode, data);
    }
    this.received.compressed++;
    const input = Buffer.concat([data, TAIL]);
    this.in = this.in.then(async () => {
      let plain;
      try {
        if (this.peerNoContext) plain = zlib.inflateRawSync(input, SYNC);
        else {
          this.inflater ??= zlib.createInflateRaw();
          plain = await flushThrough(this.inflater, input);
        }
      } catch {
        this.received.errors++;
        return;
      }
      this.received.messages++;
      this.received.bytes += plain.length;
      this.onmessage(opcode, plain);
    });
  }

  control(opcode, payload) {
    if (opcode === 0x9) this.frame(0xa, payload, false, true); // RFC 6455 5.5.2: a Pong with the Ping's data
    else if (opcode === 0x8) {
      // RFC 6455 5.5.1: answer a Close with a Close; the server closes the TCP connection first.
      if (!this.closing) this.frame(0x8, payload.subarray(0, 2), false, true);
      this.closing = true;
      if (!this.client) this.out.then(() => this.socket.end());
      else setTimeout(() => this.socket.destroy(), 1000).unref();
    }
  }

  /** Queues a message; the promise resolves once its frames are handed to the socket. */
  send(data, { binary = false, compress = true, fragment = 0 } = {}) {
    if (this.closing || this.closed) return this.out;
    const opcode = binary ? 2 : 1;
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const deflate = this.deflate !== null && compress;
    this.sent.messages++;
    this.sent.bytes += buf.length;
    this.out = this.out.then(async () => {
      let wire = buf;
      if (deflate) {
        this.sent.compressed++;
        let z;
        if (this.ownNoContext) z = zlib.deflateRawSync(buf, SYNC);
        else {
          this.deflater ??= zlib.createDeflateRaw();
          z = await flushThrough(this.deflater, buf);
        }
        wire = z.subarray(0, z.length - 4); // a sync flush ends with 00 00 ff ff
      }
      if (this.closed) return;
      // RFC 6455 5.4: fragments after the first are continuation frames (opcode 0);
      // RFC 7692 6.1: RSV1 is set on the first frame only.
      if (fragment > 0 && wire.length > fragment) {
        for (let off = 0; off < wire.length; off += fragment) {
          const last = off + fragment >= wire.length;
          this.frame(off === 0 ? opcode : 0, wire.subarray(off, off + fragment), deflate && off === 0, last);
        }
      } else this.frame(opcode, wire, deflate, true);
    });
    return this.out;
  }

  /** Writes one frame now: unmasked from the server, masked with a fresh key from the client. */
  frame(opcode, payload, rsv1, fin) {
    if (this.closed) return;
    const n = payload.length;
    const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
    const maskLen = this.client ? 4 : 0;
    const h = Buffer.allocUnsafe(2 + ext + maskLen);
    h[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
    h[1] = (this.client ? 0x80 : 0) | (ext === 0 ? n : ext === 2 ? 126 : 127);
    if (ext === 2) h.writeUInt16BE(n, 2);
    else if (ext === 8) h.writeBigUInt64BE(BigInt(n), 2);
    if (this.client) {
      const key = h.subarray(2 + ext);
      key.writeUInt32BE(Math.floor(this.rand() * 4294967296));
      const masked = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) masked[i] = payload[i] ^ key[i & 3];
      payload = masked;
    }
    this.socket.cork();
    this.socket.write(h);
    if (n > 0) this.socket.write(payload);
    this.socket.uncork();
  }

  ping(data = Buffer.alloc(0)) {
    if (!this.closing) this.out = this.out.then(() => this.frame(0x9, data, false, true));
  }

  /** Starts the closing handshake (RFC 6455 7.1.2); destroys the socket if it drags on. */
  close(code = 1000) {
    if (this.closing || this.closed) return;
    this.closing = true;
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code);
    this.out = this.out.then(() => this.frame(0x8, b, false, true));
    setTimeout(() => this.socket.destroy(), 1500).unref();
  }
}

/** Writes to a zlib stream and collects its output up to a Z_SYNC_FLUSH. */
function flushThrough(stream, input) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const onData = (c) => chunks.push(c);
    stream.on('data', onData);
    stream.once('error', reject);
    stream.write(input);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      stream.off('data', onData);
      stream.off('error', reject);
      resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * Server side: completes the opening handshake of an 'upgrade' request (RFC 6455 4.2.2),
 * accepting permessage-deflate as offered when `allowDeflate`. Returns the WsConn, or null.
 */
export function acceptUpgrade(req, socket, head, { allowDeflate = true, seed = 1 } = {}) {
  const key = req.headers['sec-websocket-key'];
  if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !key || req.headers['sec-websocket-version'] !== '13') {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return null;
  }
  const deflate = allowDeflate ? parseDeflate(req.headers['sec-websocket-extensions']) : null;
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
      (deflate ? `Sec-WebSocket-Extensions: ${deflateHeader(deflate)}\r\n` : '') +
      '\r\n',
  );
  const ws = new WsConn(socket, { client: false, deflate, seed });
  if (head?.length) ws.reader.push(head);
  return ws;
}

/**
 * Client side: opens a WebSocket to ws://host:port/path. `deflate` null, or the offer to
 * make ({ serverNoContextTakeover, clientNoContextTakeover }). Resolves to a WsConn.
 */
export function connect({ host, port, path, localAddress, deflate = null, seed = 1 }) {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const headers = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' };
    // The offer browsers make, plus the context-takeover parameters asked for.
    if (deflate) headers['Sec-WebSocket-Extensions'] = deflateHeader(deflate) + '; client_max_window_bits';
    const req = http.request({ host, port, path, localAddress, headers, agent: false });
    req.on('upgrade', (res, socket, head) => {
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        socket.destroy();
        return reject(new Error('bad Sec-WebSocket-Accept'));
      }
      const agreed = parseDeflate(res.headers['sec-websocket-extensions']);
      const ws = new WsConn(socket, { client: true, deflate: deflate ? agreed : null, seed });
      if (head?.length) ws.reader.push(head);
      resolve(ws);
    });
    req.on('response', (res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}
