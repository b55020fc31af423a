import http2 from 'node:http2';
import net from 'node:net';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  CLIENT_PREFACE,
  FLAGS,
  FRAME_TYPES,
  FrameReader,
  probeClientPreface,
  type FrameEvent,
  type Http2Frame,
} from '../src/dissect/http2/frames.js';
import { rng } from '../src/synth/random.js';

const T = FRAME_TYPES;
const enc = (s: string) => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

// --- A small encoder, from RFC 9113's layouts --------------------------------------------------

/** §4.1: Length (24) | Type (8) | Flags (8) | R (1) | Stream Identifier (31) | Frame Payload. */
function frame(type: number, flags: number, streamId: number, payload: Uint8Array | number[] = [], o: { r?: boolean; length?: number } = {}): Uint8Array {
  const p = Uint8Array.from(payload);
  const len = o.length ?? p.length;
  const sid = (o.r ? 0x80000000 : 0) + streamId;
  return Uint8Array.from([(len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, type, flags, ...u32(sid), ...p]);
}
/** §6.1, §6.2, §6.6: Pad Length (8) | fixed fields | data or fragment | Padding (zeros). */
function padded(type: number, flags: number, streamId: number, fields: number[], data: Uint8Array, padLength: number): Uint8Array {
  return frame(type, flags | FLAGS.PADDED, streamId, [padLength, ...fields, ...data, ...new Array(padLength).fill(0)]);
}
/** §5.3.2: E (1) | Stream Dependency (31) | Weight (8), sent as weight - 1. */
const priorityFields = (exclusive: boolean, dependency: number, weight: number) => [...u32((exclusive ? 0x80000000 : 0) + dependency), weight - 1];
/** §6.5.1: Identifier (16) | Value (32). */
const settingsPayload = (pairs: Array<[number, number]>) => pairs.flatMap(([id, v]) => [id >> 8, id & 0xff, ...u32(v)]);

// --- Feeding helpers ---------------------------------------------------------------------------

function feedParts(parts: Uint8Array[], opts: ConstructorParameters<typeof FrameReader>[0] = { expectPreface: false }) {
  const r = new FrameReader(opts);
  const events: FrameEvent[] = [];
  for (const p of parts) events.push(...r.feed(p));
  return { r, events };
}
const feedAll = (bytes: Uint8Array, expectPreface = false) => feedParts([bytes], { expectPreface });
const frames = (events: FrameEvent[]) => events.flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));
const only = (bytes: Uint8Array) => {
  const { events } = feedAll(bytes);
  expect(events).toHaveLength(1);
  return events[0];
};
const onlyFrame = (bytes: Uint8Array): Http2Frame => {
  const e = only(bytes);
  if (e.kind !== 'frame') throw new Error(`expected a frame, got ${JSON.stringify(e)}`);
  return e.frame;
};

/** Events in a comparable form: payload bytes as base64, header of malformed kept. */
function norm(events: FrameEvent[]) {
  return events.map((e) => (e.kind === 'frame' ? { ...e.frame, payload: Buffer.from(e.frame.payload).toString('base64') } : e));
}
function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}
function randomSplit(bytes: Uint8Array, rand: () => number, maxPiece: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    // Some empty pieces too: a zero-length feed must change nothing.
    const n = rand() < 0.05 ? 0 : 1 + Math.floor(rand() * maxPiece);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

// --- Real HTTP/2 traffic from node:http2 --------------------------------------------------------

/** Documented by Node (pad frames to 8-byte multiples), but missing from @types/node. */
const PADDING_STRATEGY_ALIGNED = (http2.constants as unknown as { PADDING_STRATEGY_ALIGNED: number }).PADDING_STRATEGY_ALIGNED;

interface Recorded {
  c2s: Uint8Array;
  s2c: Uint8Array;
  body: Uint8Array;
  postBody: Uint8Array;
  echo: Uint8Array;
}

/**
 * One connection through a recording TCP relay: a GET of a 100 KB body (stream 1), then a POST
 * (stream 3) answered with its body reversed. The relay sees exactly the bytes each side wrote
 * (http2 reads its socket's handle directly, so a 'data' tap on that socket would see nothing).
 */
async function record(padding: boolean): Promise<Recorded> {
  const body = Uint8Array.from({ length: 100 * 1024 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
  const postBody = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff);
  const echo = Uint8Array.from(postBody).reverse();
  const server = http2.createServer({
    settings: { maxConcurrentStreams: 50 },
    ...(padding ? { paddingStrategy: PADDING_STRATEGY_ALIGNED } : {}),
  });
  server.on('stream', (stream, headers) => {
    if (headers[':method'] === 'POST') {
      const got: Buffer[] = [];
      stream.on('data', (d: Buffer) => got.push(d));
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(Buffer.from(Buffer.concat(got)).reverse());
      });
    } else {
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      stream.end(Buffer.from(body));
    }
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const c2s: Buffer[] = [];
  const s2c: Buffer[] = [];
  const closed: Array<Promise<void>> = [];
  const relay = net.createServer((a) => {
    const b = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    a.on('data', (d: Buffer) => (c2s.push(d), b.write(d)));
    b.on('data', (d: Buffer) => (s2c.push(d), a.write(d)));
    a.on('end', () => b.end());
    b.on('end', () => a.end());
    closed.push(new Promise((res) => a.on('close', () => res())), new Promise((res) => b.on('close', () => res())));
  });
  await new Promise<void>((res) => relay.listen(0, '127.0.0.1', res));
  const client = http2.connect(`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`, {
    settings: { enablePush: false, initialWindowSize: 262144 },
    ...(padding ? { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX } : {}),
  });
  const collect = (req: http2.ClientHttp2Stream) =>
    new Promise<Buffer>((res, rej) => {
      const got: Buffer[] = [];
      req.on('data', (d: Buffer) => got.push(d));
      req.on('end', () => res(Buffer.concat(got)));
      req.on('error', rej);
    });
  const get = client.request({ ':path': '/big' }, padding ? { weight: 42, exclusive: true } : {});
  expect(Buffer.compare(await collect(get), Buffer.from(body))).toBe(0);
  const post = client.request({ ':method': 'POST', ':path': '/echo' });
  post.end(Buffer.from(postBody));
  expect(Buffer.compare(await collect(post), Buffer.from(echo))).toBe(0);
  await new Promise<void>((res) => client.close(() => res()));
  await Promise.all(closed);
  await new Promise<void>((res) => relay.close(() => res()));
  await new Promise<void>((res) => server.close(() => res()));
  return { c2s: Uint8Array.from(Buffer.concat(c2s)), s2c: Uint8Array.from(Buffer.concat(s2c)), body, postBody, echo };
}

let plain: Recorded;
let paddedRun: Recorded;
beforeAll(async () => {
  plain = await record(false);
  paddedRun = await record(true);
});

// --- Tests -------------------------------------------------------------------------------------

describe('probeClientPreface (RFC 9113 §3.4)', () => {
  test('the preface is the RFC\'s 24 octets', () => {
    expect(Buffer.from(CLIENT_PREFACE).toString('latin1')).toBe('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(CLIENT_PREFACE.length).toBe(24);
  });
  test('preface, prefix, HTTP/1 and TLS', () => {
    expect(probeClientPreface(CLIENT_PREFACE)).toBe(true);
    expect(probeClientPreface(cat(CLIENT_PREFACE, frame(T.SETTINGS, 0, 0)))).toBe(true);
    expect(probeClientPreface(CLIENT_PREFACE.subarray(0, 10))).toBeUndefined();
    expect(probeClientPreface(new Uint8Array(0))).toBeUndefined();
    expect(probeClientPreface(enc('GET / HTTP/1.1\r\n'))).toBe(false);
    expect(probeClientPreface(enc('GET /'))).toBe(false);
    expect(probeClientPreface(enc('PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n'))).toBe(false);
    // A TLS handshake record header: ContentType 22, version 3.1, length.
    expect(probeClientPreface(Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00))).toBe(false);
  });
});

describe('frame layouts (RFC 9113 §6)', () => {
  test('DATA, plain and padded (§6.1)', () => {
    const f = onlyFrame(frame(T.DATA, FLAGS.END_STREAM, 1, enc('hello')));
    expect([f.type, f.flags, f.streamId, f.length, f.offset, f.payloadOffset, f.padLength]).toEqual([0, 1, 1, 5, 0, 9, 0]);
    expect(Buffer.from(f.payload).toString()).toBe('hello');

    const p = onlyFrame(padded(T.DATA, 0, 3, [], enc('hello'), 4));
    expect([p.length, p.padLength, p.payloadOffset]).toEqual([10, 4, 10]);
    expect(Buffer.from(p.payload).toString()).toBe('hello');
    // Pad Length = payload length - 1: legal, empty data.
    const e = onlyFrame(padded(T.DATA, 0, 3, [], new Uint8Array(0), 6));
    expect([e.length, e.padLength, e.payload.length]).toEqual([7, 6, 0]);
  });

  test('HEADERS with PADDED and PRIORITY: only the field block fragment is left (§6.2)', () => {
    const flags = FLAGS.END_HEADERS | FLAGS.PRIORITY;
    const f = onlyFrame(padded(T.HEADERS, flags, 5, priorityFields(true, 3, 256), enc('fragment'), 3));
    expect(f.flags).toBe(flags | FLAGS.PADDED);
    expect(f.priority).toEqual({ exclusive: true, dependency: 3, weight: 256 });
    expect([f.length, f.padLength, f.payloadOffset]).toEqual([1 + 5 + 8 + 3, 3, 9 + 1 + 5]);
    expect(Buffer.from(f.payload).toString()).toBe('fragment');
    const g = onlyFrame(frame(T.HEADERS, FLAGS.PRIORITY, 7, [...priorityFields(false, 0, 1), 0x82]));
    expect([g.priority, g.padLength, g.payloadOffset, [...g.payload]]).toEqual([{ exclusive: false, dependency: 0, weight: 1 }, 0, 14, [0x82]]);
  });

  test('PUSH_PROMISE padded (§6.6), CONTINUATION (§6.10)', () => {
    const f = onlyFrame(padded(T.PUSH_PROMISE, FLAGS.END_HEADERS, 1, u32(0x80000000 + 2), enc('block'), 2));
    expect([f.promisedStreamId, f.padLength, f.payloadOffset, Buffer.from(f.payload).toString()]).toEqual([2, 2, 14, 'block']);
    const c = onlyFrame(frame(T.CONTINUATION, FLAGS.END_HEADERS, 1, enc('more')));
    expect([c.type, Buffer.from(c.payload).toString()]).toEqual([T.CONTINUATION, 'more']);
  });

  test('PRIORITY, RST_STREAM, PING, GOAWAY, WINDOW_UPDATE', () => {
    expect(onlyFrame(frame(T.PRIORITY, 0, 3, priorityFields(false, 1, 16))).priority).toEqual({ exclusive: false, dependency: 1, weight: 16 });
    expect(onlyFrame(frame(T.RST_STREAM, 0, 3, u32(0x8))).errorCode).toBe(8);
    expect(onlyFrame(frame(T.RST_STREAM, 0, 3, u32(0xffffffff))).errorCode).toBe(0xffffffff);
    const ping = onlyFrame(frame(T.PING, FLAGS.ACK, 0, [1, 2, 3, 4, 5, 6, 7, 8]));
    expect([...ping.payload]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const ga = onlyFrame(frame(T.GOAWAY, 0, 0, [...u32(0x80000000 + 7), ...u32(0xb), ...enc('calm down')]));
    expect([ga.lastStreamId, ga.errorCode, ga.payloadOffset, Buffer.from(ga.payload).toString()]).toEqual([7, 0xb, 17, 'calm down']);
    // §6.9: the reserved bit is ignored; the increment is 31 bits.
    expect(onlyFrame(frame(T.WINDOW_UPDATE, 0, 0, u32(0x80000000 + 65535))).windowIncrement).toBe(65535);
  });

  test('SETTINGS pairs and ACK (§6.5)', () => {
    const s = onlyFrame(frame(T.SETTINGS, 0, 0, settingsPayload([[1, 4096], [4, 0x7fffffff], [0xabcd, 0xffffffff]])));
    expect(s.settings).toEqual([[1, 4096], [4, 0x7fffffff], [0xabcd, 0xffffffff]]);
    expect(onlyFrame(frame(T.SETTINGS, FLAGS.ACK, 0)).settings).toEqual([]);
  });

  test('the R bit of the stream identifier is ignored (§4.1)', () => {
    expect(onlyFrame(frame(T.DATA, 0, 0x7fffffff, [1], { r: true })).streamId).toBe(0x7fffffff);
    expect(onlyFrame(frame(T.DATA, 0, 9, [1], { r: true })).streamId).toBe(9);
  });

  test('unknown types are passed on raw (§4.1, §5.5)', () => {
    const f = onlyFrame(frame(0xfa, 0xff, 11, [9, 8, 7]));
    expect([f.type, f.flags, f.streamId, f.length, f.padLength, [...f.payload]]).toEqual([0xfa, 0xff, 11, 3, 0, [9, 8, 7]]);
    // PADDED means nothing on an unknown type.
    expect(onlyFrame(frame(0x20, FLAGS.PADDED, 1, [200])).payload.length).toBe(1);
  });

  test('a view where the frame lay in one feed, a copy where it spanned feeds', () => {
    const bytes = cat(frame(T.DATA, 0, 1, enc('abcdef')), frame(T.PING, 0, 0, new Array(8).fill(1)));
    for (const f of frames(feedAll(bytes).events)) expect(f.payload.buffer).toBe(bytes.buffer);
    const split = frames(feedParts(chunks(bytes, 4)).events);
    expect(split.map((f) => Buffer.from(f.payload).toString('hex'))).toEqual(frames(feedAll(bytes).events).map((f) => Buffer.from(f.payload).toString('hex')));
    for (const f of split) expect(f.payload.buffer).not.toBe(bytes.buffer);
    // Header split from its payload, payload whole in the next feed: still a view.
    const d = frame(T.DATA, 0, 1, enc('xyz'));
    const tail = d.slice(9);
    const [f] = frames(feedParts([d.subarray(0, 9), tail]).events);
    expect(f.payload.buffer).toBe(tail.buffer);
  });
});

describe('malformed frames are reported and stepped over', () => {
  const next = frame(T.PING, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]);
  /** bad, then a good PING: the PING must still be read, at the right offset. */
  function afterBad(bad: Uint8Array, code: string) {
    const bytes = cat(bad, next);
    for (const parts of [[bytes], chunks(bytes, 1), chunks(bytes, 5)]) {
      const { events, r } = feedParts(parts);
      expect(events.map((e) => e.kind)).toEqual(['malformed', 'frame']);
      const m = events[0] as Extract<FrameEvent, { kind: 'malformed' }>;
      expect([m.code, m.offset]).toEqual([code, 0]);
      expect(m.reason.length).toBeGreaterThan(0);
      expect(m.header?.length).toBe(bad.length - 9);
      expect((events[1] as any).frame.offset).toBe(bad.length);
      expect(r.offset).toBe(bytes.length);
      expect(r.stopped).toBe(false);
    }
  }

  test('bad padding (§6.1, §6.2, §6.6)', () => {
    // Pad Length equal to the payload length.
    afterBad(frame(T.DATA, FLAGS.PADDED, 1, [5, 0, 0, 0, 0]), 'h2-bad-padding');
    afterBad(frame(T.DATA, FLAGS.PADDED, 1, [255]), 'h2-bad-padding');
    // HEADERS: padding may not eat into the priority fields.
    afterBad(frame(T.HEADERS, FLAGS.PADDED | FLAGS.PRIORITY, 1, [1, ...priorityFields(false, 0, 16)]), 'h2-bad-padding');
    afterBad(frame(T.PUSH_PROMISE, FLAGS.PADDED, 1, [2, 0, 0, 0, 2, 0]), 'h2-bad-padding');
    // No room even for the Pad Length octet, or for the fixed fields.
    afterBad(frame(T.DATA, FLAGS.PADDED, 1), 'h2-frame-size');
    afterBad(frame(T.HEADERS, FLAGS.PRIORITY, 1, [0, 0, 0]), 'h2-frame-size');
    afterBad(frame(T.PUSH_PROMISE, 0, 1, [0, 0]), 'h2-frame-size');
  });

  test('fixed-size frames of the wrong size', () => {
    afterBad(frame(T.PRIORITY, 0, 1, [0, 0, 0, 0]), 'h2-frame-size');
    afterBad(frame(T.RST_STREAM, 0, 1, [0, 0, 0, 0, 0]), 'h2-frame-size');
    afterBad(frame(T.PING, 0, 0, [0, 0, 0, 0, 0, 0, 0]), 'h2-frame-size');
    afterBad(frame(T.WINDOW_UPDATE, 0, 0, [0, 0, 1]), 'h2-frame-size');
    afterBad(frame(T.GOAWAY, 0, 0, [0, 0, 0, 0, 0, 0, 0]), 'h2-frame-size');
  });

  test('SETTINGS of length 7, and an ACK with a payload (§6.5)', () => {
    afterBad(frame(T.SETTINGS, 0, 0, [0, 1, 0, 0, 0x10, 0, 0]), 'h2-bad-settings');
    afterBad(frame(T.SETTINGS, FLAGS.ACK, 0, settingsPayload([[1, 0]])), 'h2-bad-settings');
  });

  test('a frame over SETTINGS_MAX_FRAME_SIZE is skipped by its length (§4.2)', () => {
    afterBad(frame(T.DATA, 0, 1, new Uint8Array(16385)), 'h2-frame-size');
    afterBad(frame(0xee, 0, 1, new Uint8Array(20000)), 'h2-frame-size');
    const big = frame(T.DATA, 0, 1, new Uint8Array(16385).fill(3));
    expect(frames(feedAll(big).events)).toHaveLength(0);
    // Once the peer allows it, the same frame is read.
    const r = new FrameReader({ expectPreface: false });
    r.setMaxFrameSize(65536);
    const [f] = frames(r.feed(big));
    expect([f.length, f.payload.length, f.payload[16384]]).toEqual([16385, 16385, 3]);
    // Below the RFC's floor the setting is clamped: a 16384-byte frame stays legal.
    r.setMaxFrameSize(100);
    expect(frames(r.feed(frame(T.DATA, 0, 1, new Uint8Array(16384))))).toHaveLength(1);
    expect(r.feed(big)[0].kind).toBe('malformed');
    expect(frames(new FrameReader({ expectPreface: false, maxFrameSize: 0xffffff }).feed(big))).toHaveLength(1);
  });

  test('a large split payload: little reserved up front, bytes intact', () => {
    const r = new FrameReader({ expectPreface: false, maxFrameSize: 0xffffff });
    const len = 3 * 1024 * 1024 + 5;
    const body = Uint8Array.from({ length: len }, (_, i) => (i * 31) & 0xff);
    const bytes = cat(frame(T.DATA, 0, 1, body), next);
    expect(r.feed(bytes.subarray(0, 20))).toEqual([]);
    // A header alone must not reserve the 3 MiB it claims.
    expect((r as any).buf.length).toBeLessThanOrEqual(1024 * 1024);
    const events: FrameEvent[] = [];
    for (const part of chunks(bytes.subarray(20), 100_000)) events.push(...r.feed(part));
    const [f, p] = frames(events);
    expect([f.length, f.payload.length, p.type, p.offset]).toEqual([len, len, T.PING, 9 + len]);
    expect(Buffer.compare(Buffer.from(f.payload), Buffer.from(body))).toBe(0);
  });

  test('a frame over maxBuffered is skipped without being buffered', () => {
    const r = new FrameReader({ expectPreface: false, maxFrameSize: 0xffffff, maxBuffered: 4096 });
    const declared = 1_000_000;
    const events: FrameEvent[] = r.feed(frame(T.DATA, 0, 1, [], { length: declared }));
    expect(events.map((e) => e.kind === 'malformed' && e.code)).toEqual(['h2-buffer-cap']);
    const piece = new Uint8Array(10000);
    for (let sent = 0; sent < declared; sent += piece.length) {
      expect(r.feed(piece)).toEqual([]);
      expect((r as any).buf).toBeNull();
    }
    const [f] = frames(r.feed(next));
    expect(f.offset).toBe(9 + declared);
    // Exactly at the cap (header included) is still read.
    const r2 = new FrameReader({ expectPreface: false, maxBuffered: 9 + 100 });
    expect(r2.feed(frame(T.DATA, 0, 1, new Uint8Array(100)))[0].kind).toBe('frame');
    expect(r2.feed(frame(T.DATA, 0, 1, new Uint8Array(101)))[0].kind).toBe('malformed');
  });
});

describe('preface and lost bytes', () => {
  test('the preface, fed whole or in pieces, then frames from offset 24', () => {
    const bytes = cat(CLIENT_PREFACE, frame(T.SETTINGS, 0, 0), frame(T.WINDOW_UPDATE, 0, 0, u32(1000)));
    for (const size of [1, 3, 23, 24, 25, bytes.length]) {
      const { events } = feedParts(chunks(bytes, size), { expectPreface: true });
      expect(events.map((e) => (e.kind === 'frame' ? [e.kind, e.frame.type, e.frame.offset] : [e.kind, (e as any).offset]))).toEqual([
        ['preface', 0],
        ['frame', T.SETTINGS, 24],
        ['frame', T.WINDOW_UPDATE, 33],
      ]);
    }
    // A start offset other than 0.
    const r = new FrameReader({ expectPreface: true, offset: 1000 });
    expect(r.feed(bytes).map((e) => (e.kind === 'frame' ? e.frame.offset : (e as any).offset))).toEqual([1000, 1024, 1033]);
  });

  test('a wrong preface: malformed, then stopped', () => {
    for (const bad of [enc('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), enc('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), Uint8Array.of(0x16, 3, 1, 0, 200)]) {
      for (const parts of [[bad], chunks(bad, 1)]) {
        const { events, r } = feedParts(parts, { expectPreface: true });
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({ kind: 'malformed', code: 'h2-bad-preface', offset: 0 });
        expect(r.stopped).toBe(true);
        expect(r.feed(frame(T.SETTINGS, 0, 0))).toEqual([]);
        expect(r.offset).toBe(bad.length + 9);
      }
    }
  });

  test('lose() stops the reader until resync()', () => {
    const a = frame(T.DATA, 0, 1, enc('0123456789'));
    const b = frame(T.DATA, FLAGS.END_STREAM, 1, enc('abc'));
    const r = new FrameReader({ expectPreface: false });
    expect(r.feed(a.subarray(0, 12))).toEqual([]);
    r.lose(7); // the rest of a
    expect([r.stopped, r.offset]).toEqual([true, 19]);
    expect(r.feed(b)).toEqual([]);
    expect(r.offset).toBe(19 + b.length);
    r.resync();
    expect(r.stopped).toBe(false);
    const [f] = frames(r.feed(b));
    expect([f.offset, f.payloadOffset, Buffer.from(f.payload).toString(), f.flags]).toEqual([19 + b.length, 19 + b.length + 9, 'abc', FLAGS.END_STREAM]);
    r.lose(0);
    expect(r.stopped).toBe(true);
  });
});

describe('real HTTP/2 traffic (node:http2)', () => {
  function check(rec: Recorded) {
    const c = feedAll(rec.c2s, true);
    const s = feedAll(rec.s2c, false);
    expect(c.events.filter((e) => e.kind === 'malformed')).toEqual([]);
    expect(s.events.filter((e) => e.kind === 'malformed')).toEqual([]);
    // §3.4: the client's stream starts with the preface, then a SETTINGS frame.
    expect(c.events[0]).toEqual({ kind: 'preface', offset: 0 });
    const cf = frames(c.events);
    const sf = frames(s.events);
    expect(cf[0]).toMatchObject({ type: T.SETTINGS, offset: 24, streamId: 0 });
    expect(sf[0]).toMatchObject({ type: T.SETTINGS, offset: 0, streamId: 0 });
    expect(cf[0].settings).toContainEqual([2, 0]); // SETTINGS_ENABLE_PUSH
    expect(cf[0].settings).toContainEqual([4, 262144]); // SETTINGS_INITIAL_WINDOW_SIZE
    expect(sf[0].settings).toContainEqual([3, 50]); // SETTINGS_MAX_CONCURRENT_STREAMS
    expect(cf.some((f) => f.type === T.SETTINGS && f.flags & FLAGS.ACK)).toBe(true);
    expect(sf.some((f) => f.type === T.SETTINGS && f.flags & FLAGS.ACK)).toBe(true);
    // The connection window starts at 65535 whatever SETTINGS say (§6.9.2): 100 KB needs WINDOW_UPDATE.
    expect(cf.some((f) => f.type === T.WINDOW_UPDATE && f.streamId === 0 && f.windowIncrement! > 0)).toBe(true);
    expect(cf.some((f) => f.type === T.GOAWAY)).toBe(true);

    // Frames tile each stream exactly.
    for (const [list, start, total] of [[cf, 24, rec.c2s.length], [sf, 0, rec.s2c.length]] as const) {
      let at = start;
      for (const f of list) {
        expect(f.offset).toBe(at);
        expect(f.payloadOffset + f.payload.length + f.padLength).toBe(f.offset + 9 + f.length);
        at = f.offset + 9 + f.length;
      }
      expect(at).toBe(total);
    }

    const data = (list: Http2Frame[], id: number) => list.filter((f) => f.type === T.DATA && f.streamId === id);
    const joined = (list: Http2Frame[]) => Buffer.concat(list.map((f) => f.payload));
    // GET on stream 1: HEADERS with END_STREAM | END_HEADERS; the response body comes back in DATA.
    const getHeaders = cf.find((f) => f.type === T.HEADERS && f.streamId === 1)!;
    expect(getHeaders.flags & (FLAGS.END_STREAM | FLAGS.END_HEADERS)).toBe(FLAGS.END_STREAM | FLAGS.END_HEADERS);
    expect(sf.some((f) => f.type === T.HEADERS && f.streamId === 1)).toBe(true);
    const resp = data(sf, 1);
    expect(resp.length).toBeGreaterThan(1);
    expect(Buffer.compare(joined(resp), Buffer.from(rec.body))).toBe(0);
    expect(resp[resp.length - 1].flags & FLAGS.END_STREAM).toBe(FLAGS.END_STREAM);
    for (const f of resp.slice(0, -1)) expect(f.flags & FLAGS.END_STREAM).toBe(0);
    // POST on stream 3: its body up, the reversed body down.
    expect(Buffer.compare(joined(data(cf, 3)), Buffer.from(rec.postBody))).toBe(0);
    expect(cf.filter((f) => f.streamId === 3).some((f) => f.flags & FLAGS.END_STREAM)).toBe(true);
    expect(Buffer.compare(joined(data(sf, 3)), Buffer.from(rec.echo))).toBe(0);
    expect(data(sf, 3).at(-1)!.flags & FLAGS.END_STREAM).toBe(FLAGS.END_STREAM);
    return { cf, sf, getHeaders };
  }

  test('a GET of 100 KB and a POST, unpadded', () => {
    const { cf, sf } = check(plain);
    expect([...cf, ...sf].every((f) => f.padLength === 0)).toBe(true);
    expect([...cf, ...sf].some((f) => (f.type === T.DATA || f.type === T.HEADERS) && f.flags & FLAGS.PADDED)).toBe(false);
  });

  test('the same with nghttp2 padding and a priority on the GET', () => {
    const { cf, sf, getHeaders } = check(paddedRun);
    const pads = [...cf, ...sf].filter((f) => (f.type === T.DATA || f.type === T.HEADERS) && f.flags & FLAGS.PADDED);
    expect(pads.length).toBeGreaterThan(0);
    expect(pads.some((f) => f.padLength > 0)).toBe(true);
    expect(getHeaders.flags & FLAGS.PRIORITY).toBe(FLAGS.PRIORITY);
    expect(getHeaders.priority).toMatchObject({ exclusive: true, weight: 42 });
    expect(getHeaders.payloadOffset).toBe(getHeaders.offset + 9 + (getHeaders.flags & FLAGS.PADDED ? 1 : 0) + 5);
  });

  test('every split of 1..17 bytes, and random splits, give the same frames', () => {
    const rand = rng(0x5eed);
    for (const rec of [plain, paddedRun]) {
      for (const [bytes, expectPreface] of [[rec.c2s, true], [rec.s2c, false]] as const) {
        const whole = norm(feedAll(bytes, expectPreface).events);
        for (let size = 1; size <= 17; size++) {
          const { events, r } = feedParts(chunks(bytes, size), { expectPreface });
          expect(norm(events), `pieces of ${size}`).toEqual(whole);
          expect(r.offset).toBe(bytes.length);
        }
        for (let k = 0; k < 20; k++) {
          const max = [3, 40, 1500, 20000][k % 4];
          expect(norm(feedParts(randomSplit(bytes, rand, max), { expectPreface }).events), `random split ${k}`).toEqual(whole);
        }
      }
    }
  });
});

describe('robustness', () => {
  test('2,000 random and byte-flipped streams never throw, and hold the invariants', () => {
    const rand = rng(20261121);
    const int = (n: number) => Math.floor(rand() * n);
    const sources = () => [plain.c2s, plain.s2c, paddedRun.c2s, paddedRun.s2c];
    for (let c = 0; c < 2000; c++) {
      let bytes: Uint8Array;
      let expectPreface = rand() < 0.5;
      if (c % 2 === 0) {
        // Random bytes, sometimes behind a preface, with plausible small frame headers mixed in.
        const len = int(3000);
        bytes = Uint8Array.from({ length: len }, () => (rand() < 0.3 ? int(10) : int(256)));
        if (rand() < 0.5) bytes = cat(CLIENT_PREFACE, bytes);
      } else {
        const src = sources()[int(4)];
        expectPreface = src === plain.c2s || src === paddedRun.c2s;
        const start = rand() < 0.7 ? 0 : int(src.length);
        bytes = src.slice(start, start + 1 + int(30000));
        if (start !== 0) expectPreface = false;
        const flips = 1 + int(8);
        for (let k = 0; k < flips; k++) bytes[int(bytes.length)] ^= 1 << int(8);
      }
      const r = new FrameReader({ expectPreface, maxBuffered: rand() < 0.3 ? int(5000) : undefined });
      const events: FrameEvent[] = [];
      let fed = 0;
      // Plain checks in the loop (an expect per byte would dominate the run); a failure names the case.
      const fail = (what: string) => expect.fail(`case ${c}: ${what}`);
      for (const part of randomSplit(bytes, rand, [2, 17, 700, 5000][c % 4])) {
        const ops = rand();
        if (ops < 0.01) {
          const n = int(100);
          r.lose(n);
          fed += n;
        } else if (ops < 0.02) r.resync();
        else if (ops < 0.04) r.setMaxFrameSize(int(1 << 25));
        const before = r.offset;
        for (const e of r.feed(part)) events.push(e);
        fed += part.length;
        if (r.offset !== before + part.length) fail('offset did not advance by the bytes fed');
        if (r.stopped && r.feed(new Uint8Array(0)).length !== 0) fail('a stopped reader returned events');
      }
      if (r.offset !== fed) fail(`offset ${r.offset}, fed ${fed}`);
      let last = -1;
      for (const e of events) {
        const off = e.kind === 'frame' ? e.frame.offset : e.offset;
        if (!(off >= last)) fail('events out of order');
        last = off;
        if (e.kind === 'malformed' && !(typeof e.code === 'string' && e.code.startsWith('h2-') && e.reason)) fail('malformed without code/reason');
        if (e.kind === 'frame') {
          const f = e.frame;
          if (f.payloadOffset < f.offset + 9) fail('payload before the frame header ends');
          if (f.payloadOffset + f.payload.length + f.padLength > f.offset + 9 + f.length) fail('payload past the frame end');
          if (f.length > 0xffffff || f.streamId > 0x7fffffff || f.streamId < 0) fail('header fields out of range');
        }
      }
      // Without losses or size changes in between, the split never changes what is read.
      if (c % 20 === 1) {
        const whole = norm(feedAll(bytes, expectPreface).events);
        expect(norm(feedParts(randomSplit(bytes, rand, 9), { expectPreface }).events)).toEqual(whole);
      }
    }
  });
});
