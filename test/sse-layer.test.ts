// SSE as a body consumer: a layer of its own on a child stream that an HTTP layer opens for a
// response body whose media type HANDOFFS['content-type'] names. Every expected offset, frame
// and time below is counted from the bytes the test writes; the rules are WHATWG HTML §9.2.6
// (an event is dispatched by its blank line) and the layer contract (framing between two
// events travels with the event after it; an event that ends with its chunk's data owns the
// CRLF that closes the chunk; the framing under a message is said in wire.below).
import { beforeAll, describe, expect, test } from 'vitest';
import { ConnectionDissector } from '../src/dissect/connection.js';
import { DISSECTORS, FALLBACK, HANDOFFS } from '../src/dissect/registry.js';
import { DEFAULT_DISSECT_OPTIONS, type Message } from '../src/dissect/types.js';
import type { Connection, Dir } from '../src/reassembly/types.js';
import { FLAGS, FRAME_TYPES } from '../src/dissect/http2/frames.js';
import { dissect } from './helpers/dissect.js';
import { flushedPieces } from './helpers/coding.js';
import { enc } from './helpers/split.js';

const CONN: Connection = { id: 1, client: '10.0.0.1:50000', server: '10.0.0.2:8000', serverPort: 8000, firstFrame: 1, firstTime: 0, rolesGuessed: false };
const REQUEST = 'GET /ev HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n';
const chunkLine = (data: string) => `${enc(data).length.toString(16)}\r\n`;
const ascii = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('latin1');

const of = (msgs: Message[], kind: string) => msgs.filter((m) => m.kind === kind) as any[];
/** What a test asserts of an SSE message: where it lies on the wire (extents only when not one range), its packets, its time. */
const placed = (m: any) => ({ start: m.wire.start, end: m.wire.end, extents: m.wire.extents, below: m.wire.below, frames: m.frames, time: m.time });

/** Runs parts through a connection whose hand-off tables are `tables` (each part its own frame, time = its index). */
function withTables(parts: Array<[Dir, string | Uint8Array]>, tables = HANDOFFS) {
  const msgs: Message[] = [];
  const codes: string[] = [];
  const sink = { message: (_c: Connection, m: Message) => msgs.push(m), warning: (_f: number, code: string) => codes.push(code), protocol: () => {} };
  const cd = new ConnectionDissector(CONN, DISSECTORS, FALLBACK, sink, { ...DEFAULT_DISSECT_OPTIONS, keepBytes: true }, tables);
  const offsets = [0, 0];
  parts.forEach(([dir, p], i) => {
    const bytes = typeof p === 'string' ? enc(p) : p;
    cd.data(dir, { bytes, offset: offsets[dir], frame: i + 1, time: i });
    offsets[dir] += bytes.length;
  });
  cd.end(0, 'eof', parts.length);
  cd.end(1, 'eof', parts.length);
  return { msgs, codes };
}

describe('over an HTTP/1 chunked body: chunks and TCP segments cut events anywhere', () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
  // Four chunks. A: event one whole, and the start of event two; B: the rest of event two;
  // C: a comment, a blank line, a retry-only block (no data: no event), the start of event
  // three; D: the blank line that dispatches event three.
  const A = 'data: one\n\nevent: tick\ndata: tw';
  const B = 'o\n\n';
  const C = ': ping\n\nretry: 500\n\ndata: three\n';
  const D = '\n';
  const wire = head + chunkLine(A) + A + '\r\n' + chunkLine(B) + B + '\r\n' + chunkLine(C) + C + '\r\n' + chunkLine(D) + D + '\r\n' + '0\r\n\r\n';
  // Stream offsets of the chunks' parts.
  const aLine = head.length;
  const aData = aLine + chunkLine(A).length;
  const bLine = aData + A.length + 2;
  const bData = bLine + chunkLine(B).length;
  const cLine = bData + B.length + 2;
  const cData = cLine + chunkLine(C).length;
  const dLine = cData + C.length + 2;
  const dData = dLine + chunkLine(D).length;
  const bodyEnd = dData + D.length + 2;
  // TCP segments (frame = index + 1, time = index; the request is frame 1): cut inside event
  // two's data, between the two line feeds of its blank line, between the CR and LF of chunk
  // B's CRLF, and after D's size line.
  const cuts = [aData + 'data: one\n\nevent: tick\ndata: t'.length, bData + 'o\n'.length, bData + 'o\n\n\r'.length, dData];
  const segments = [wire.slice(0, cuts[0]), wire.slice(cuts[0], cuts[1]), wire.slice(cuts[1], cuts[2]), wire.slice(cuts[2], cuts[3]), wire.slice(cuts[3])];
  const segmentOf = (offset: number) => {
    let at = 0;
    for (let k = 0; k < segments.length; k++) {
      at += segments[k].length;
      if (offset < at) return k + 2; // frames of the server's segments are 2..6
    }
    throw new Error('past the end');
  };
  const r = dissect([[0, enc(REQUEST)], ...segments.map((s) => [1, enc(s)] as [Dir, Uint8Array])]);
  const events = of(r.msgs, 'sse-event');
  const comments = of(r.msgs, 'sse-comment');
  const fields = of(r.msgs, 'sse-fields');

  test('the events and the comment, as the spec dispatches them', () => {
    expect(events.map((e) => [e.event, e.data, e.retry])).toEqual([
      ['message', 'one', undefined],
      ['tick', 'two', undefined],
      ['message', 'three', undefined],
    ]);
    expect(comments.map((c) => c.text)).toEqual(['ping']);
    // "retry: 500" was a block of its own, which dispatched nothing but set the retry (issue 13.3).
    expect(fields.map((f) => [f.retry, f.id, f.event])).toEqual([[500, undefined, undefined]]);
    expect(r.msgs.map((m) => m.kind).filter((k) => k.startsWith('sse'))).toEqual(['sse-event', 'sse-event', 'sse-comment', 'sse-fields', 'sse-event']);
    expect(r.codes).toEqual([]);
  });

  test('the first event takes the chunk-size line before it; it ends inside chunk A', () => {
    const end = aData + 'data: one\n\n'.length;
    expect(placed(events[0])).toEqual({ start: aLine, end, extents: undefined, below: { http: chunkLine(A).length }, frames: [2], time: 1 });
  });

  test('the second spans chunks A and B and owns B\'s CRLF, which came in a later segment than its blank line', () => {
    const start = aData + 'data: one\n\n'.length;
    const blankLineEnd = bData + B.length;
    expect(placed(events[1])).toEqual({
      start,
      end: cLine,
      extents: undefined,
      // A's CRLF, B's size line, B's CRLF.
      below: { http: 2 + chunkLine(B).length + 2 },
      frames: [2, 3, 4, 5],
      // Dispatched by the blank line, whose last byte came in frame 4 (time 3).
      time: segmentOf(blankLineEnd - 1) - 1,
    });
    expect(segmentOf(blankLineEnd - 1)).toBe(4);
    expect(segmentOf(cLine - 1)).toBe(5);
  });

  test('the comment takes C\'s size line; the retry block the blank line after it; the third event D\'s framing', () => {
    const commentEnd = cData + ': ping\n'.length;
    const retryEnd = commentEnd + '\nretry: 500\n\n'.length;
    expect(placed(comments[0])).toEqual({ start: cLine, end: commentEnd, extents: undefined, below: { http: chunkLine(C).length }, frames: [5], time: 4 });
    expect(placed(fields[0])).toEqual({ start: commentEnd, end: retryEnd, extents: undefined, below: { http: 0 }, frames: [5], time: 4 });
    expect(fields[0].wire.useful).toBe(0);
    expect(placed(events[2])).toEqual({
      start: retryEnd,
      end: bodyEnd,
      extents: undefined,
      below: { http: 2 + chunkLine(D).length + 2 },
      frames: [5, 6],
      // Its data line came in frame 5; it happened at the blank line, in frame 6 (issue 13.3).
      time: 5,
    });
  });

  test('the bytes shown are the HTTP stream\'s, chunk lines included; the last chunk is no event\'s', () => {
    expect(events.map((e) => ascii(e.wire.raw))).toEqual([wire.slice(aLine, aData + 11), wire.slice(aData + 11, cLine), wire.slice(cData + C.indexOf('data: three'), bodyEnd)]);
    expect(events.map((e) => e.wire.useful)).toEqual(['one', 'two', 'three'].map((d) => d.length));
    const response = of(r.msgs, 'http-response')[0];
    // The head is a message of its own, the body none: its events are.
    expect([response.bodyLength, response.wire.end]).toEqual([null, head.length]);
  });
});

describe('over a Content-Length body', () => {
  const body = 'data: a\n\n: c\n\ndata: b\n\n';
  const head = `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n`;
  const next = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  // Cut inside the second event's data; the next response follows in the same segment.
  const cut = head.length + body.indexOf('data: b') + 3;
  const wire = head + body + next;
  const r = dissect([[0, enc(REQUEST + 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n')], [1, enc(wire.slice(0, cut))], [1, enc(wire.slice(cut))]]);

  test('events are their own bytes, no framing under them; the body ends at its length and HTTP reads on', () => {
    const events = of(r.msgs, 'sse-event');
    const b0 = head.length;
    expect(events.map((e) => e.data)).toEqual(['a', 'b']);
    expect(placed(events[0])).toEqual({ start: b0, end: b0 + 9, extents: undefined, below: { http: 0 }, frames: [2], time: 1 });
    // The second takes the comment's blank line before it ("\n" after ": c\n").
    const second = b0 + 'data: a\n\n: c\n'.length;
    expect(placed(events[1])).toEqual({ start: second, end: b0 + body.length, extents: undefined, below: { http: 0 }, frames: [2, 3], time: 2 });
    const responses = of(r.msgs, 'http-response');
    expect(responses.map((m) => [m.bodyLength, m.body ?? null])).toEqual([[null, null], [2, 'ok']]);
    expect(r.codes).toEqual([]);
  });

  test('a body whose length ends inside an event: no event, said with sse-cut (WHATWG HTML §9.2.6)', () => {
    const cutBody = 'data: a\n\ndata: half\n';
    const h = `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${cutBody.length}\r\n\r\n`;
    const x = dissect([[0, enc(REQUEST)], [1, enc(h + cutBody)]]);
    expect(of(x.msgs, 'sse-event').map((e) => e.data)).toEqual(['a']);
    expect(x.codes).toEqual(['sse-cut']);
  });
});

describe('the content-type table is what opens the child', () => {
  const body = 'data: x\n\n';
  const response = (type: string, status = '200 OK') => `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const eventsFor = (type: string, status?: string, tables = HANDOFFS) => {
    const r = withTables([[0, REQUEST], [1, response(type, status)]], tables);
    return { events: of(r.msgs, 'sse-event').map((e) => e.data), responses: of(r.msgs, 'http-response') };
  };

  test('the media type is matched without its parameters and its case (RFC 9110 §8.3.1)', () => {
    expect(eventsFor('text/event-stream').events).toEqual(['x']);
    expect(eventsFor('text/event-stream; charset=utf-8').events).toEqual(['x']);
    expect(eventsFor('Text/Event-Stream ;charset=UTF-8').events).toEqual(['x']);
  });

  test('other types are bodies of the HTTP layer: text/plain, and a type that only begins like it', () => {
    for (const type of ['text/plain', 'text/event-streams', 'application/json']) {
      const r = eventsFor(type);
      expect(r.events, type).toEqual([]);
      expect(r.responses.map((m) => [m.bodyLength, m.body]), type).toEqual([[body.length, body]]);
    }
  });

  test('only a 200 response is an event stream (WHATWG HTML §9.2.3)', () => {
    expect(eventsFor('text/event-stream', '404 Not Found').events).toEqual([]);
  });

  test('a table without the row reads no events; one that names another type for sse does', () => {
    const none = { ...HANDOFFS, 'content-type': {} };
    expect(eventsFor('text/event-stream', undefined, none).events).toEqual([]);
    const other = { ...HANDOFFS, 'content-type': { 'application/x-events': 'sse' } };
    expect(eventsFor('application/x-events; v=1', undefined, other).events).toEqual(['x']);
    expect(eventsFor('text/event-stream', undefined, other).events).toEqual([]);
  });
});

describe('losses inside an event stream', () => {
  test('a gap in chunk data loses the event it cut, not those around it, and the end says nothing of it', () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
    const data = 'data: a\n\ndata: lost\n\ndata: b\n\n';
    const wire = head + chunkLine(data) + data + '\r\n';
    const lostAt = wire.indexOf('lost');
    const msgs: Message[] = [];
    const codes: string[] = [];
    const cd = new ConnectionDissector(CONN, DISSECTORS, FALLBACK, { message: (_c, m) => msgs.push(m), warning: (_f, code) => codes.push(code), protocol: () => {} }, { ...DEFAULT_DISSECT_OPTIONS, keepBytes: true });
    cd.data(0, { bytes: enc(REQUEST), offset: 0, frame: 1, time: 0 });
    cd.data(1, { bytes: enc(wire.slice(0, lostAt)), offset: 0, frame: 2, time: 1 });
    cd.gap(1, lostAt, 4, 3);
    cd.data(1, { bytes: enc(wire.slice(lostAt + 4)), offset: lostAt + 4, frame: 4, time: 3 });
    cd.end(1, 'eof', 5);
    // "data: " before the gap and "\n\n" after it are no event: the line was lost with its middle.
    expect(of(msgs, 'sse-event').map((e) => e.data)).toEqual(['a', 'b']);
    expect(codes).toEqual([]);
  });
});

// --- HTTP/2: DATA frames as the units (RFC 9113 §6.1), HPACK literals (RFC 7541 §6.2.2) ---------

const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
/** §4.1: Length (24) | Type (8) | Flags (8) | R (1) | Stream Identifier (31) | Frame Payload. */
function h2frame(type: number, flags: number, streamId: number, payload: Uint8Array | number[] = []): Uint8Array {
  const p = Uint8Array.from(payload);
  return Uint8Array.from([(p.length >> 16) & 0xff, (p.length >> 8) & 0xff, p.length & 0xff, type, flags, ...u32(streamId), ...p]);
}
/** A header block of literals without indexing, new names, no Huffman coding: 0x00, name, value. */
const block = (fields: Array<[string, string]>) => fields.flatMap(([n, v]) => [0x00, n.length, ...enc(n), v.length, ...enc(v)]);
const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

describe('over HTTP/2: each DATA frame the unit of its payload, one child per event stream', () => {
  const T = FRAME_TYPES;
  const preface = cat(enc('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2frame(T.SETTINGS, 0, 0));
  const requests = cat(
    h2frame(T.HEADERS, FLAGS.END_HEADERS | FLAGS.END_STREAM, 1, block([[':method', 'GET'], [':path', '/ev'], [':scheme', 'http'], [':authority', 'x'], ['accept', 'text/event-stream']])),
    h2frame(T.HEADERS, FLAGS.END_HEADERS | FLAGS.END_STREAM, 3, block([[':method', 'GET'], [':path', '/poll'], [':scheme', 'http'], [':authority', 'x']])),
  );
  const settings = h2frame(T.SETTINGS, 0, 0);
  const sseHead = h2frame(T.HEADERS, FLAGS.END_HEADERS, 1, block([[':status', '200'], ['content-type', 'text/event-stream; charset=utf-8']]));
  // Event one in one frame; event two over two frames, the first PADDED (pad length 3), with
  // stream 3's answer head between them and its body after; then an empty END_STREAM frame.
  const d1 = h2frame(T.DATA, 0, 1, enc('data: one\n\n'));
  const d2a = h2frame(T.DATA, FLAGS.PADDED, 1, [3, ...enc('data: t'), 0, 0, 0]);
  const pollHead = h2frame(T.HEADERS, FLAGS.END_HEADERS, 3, block([[':status', '200'], ['content-type', 'text/plain']]));
  const d2b = h2frame(T.DATA, 0, 1, enc('wo\n\n'));
  const pollBody = h2frame(T.DATA, FLAGS.END_STREAM, 3, enc('ok'));
  const last = h2frame(T.DATA, FLAGS.END_STREAM, 1);
  const server = [settings, cat(sseHead, d1), cat(d2a, pollHead), d2b, cat(pollBody, last)];
  const r = dissect([[0, cat(preface, requests)], ...server.map((s) => [1, s] as [Dir, Uint8Array])]);
  // Server stream offsets of each frame.
  const at: number[] = [];
  let o = 0;
  for (const f of [settings, sseHead, d1, d2a, pollHead, d2b, pollBody, last]) {
    at.push(o);
    o += f.length;
  }
  const [, , d1At, d2aAt, pollHeadAt, d2bAt, pollBodyAt, lastAt] = at;

  test('events with the frames that carried them, frame headers and padding below them', () => {
    const events = of(r.msgs, 'sse-event');
    expect(events.map((e) => e.data)).toEqual(['one', 'two']);
    expect(placed(events[0])).toEqual({ start: d1At, end: d1At + d1.length, extents: undefined, below: { http2: 9 }, frames: [3], time: 2 });
    expect(placed(events[1])).toEqual({
      start: d2aAt,
      end: d2bAt + d2b.length,
      // Stream 3's HEADERS between the two frames is not the event's.
      extents: [d2aAt, d2aAt + d2a.length, d2bAt, d2bAt + d2b.length],
      // Two frame headers, the Pad Length byte and 3 bytes of padding.
      below: { http2: 9 + 1 + 3 + 9 },
      frames: [4, 5],
      time: 4,
    });
  });

  test('the other stream\'s answer keeps its own frames while the event stream lets go of its bytes', () => {
    const poll = of(r.msgs, 'http-response').find((m) => m.streamId === 3);
    expect([poll.body, poll.frames, poll.time, poll.wire.extents]).toEqual(['ok', [4, 6], 3, [pollHeadAt, pollHeadAt + pollHead.length, pollBodyAt, pollBodyAt + pollBody.length]]);
  });

  test('the empty frame that ends the stream is an HTTP/2 control frame; no warning', () => {
    const controls = of(r.msgs, 'h2-control').filter((m) => m.wire.start === lastAt);
    expect(controls.map((m) => [m.length, m.frames, m.wire.role])).toEqual([[9, [6], 'control']]);
    expect(r.codes).toEqual([]);
  });
});

describe('a compressed event stream (Content-Encoding: gzip, flushed mid-event), inflated as it arrives', () => {
  // Three flushes, each its own chunk and TCP segment (frames 2, 3, 4; the gzip trailer and the
  // last chunk in frame 5): event two's blank line is completed by the third flush.
  const texts = ['data: one\n\ndata: tw', 'o\n', '\n: beat\n\nretry: 9\n\ndata: three\n\n'];
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n';
  const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
  let r: ReturnType<typeof dissect>;
  let segments: Buffer[];
  beforeAll(async () => {
    const pieces = await flushedPieces(texts);
    segments = [Buffer.concat([Buffer.from(head), chunk(pieces[0])]), chunk(pieces[1]), chunk(pieces[2]), Buffer.concat([chunk(pieces[3]), Buffer.from('0\r\n\r\n')])];
    r = dissect([[0, enc(REQUEST)], ...segments.map((b) => [1, new Uint8Array(b)] as [Dir, Uint8Array])]);
  });

  test('the events, comment and retry block of the inflated text, each at the frame whose flush released it', () => {
    const sse = r.msgs.filter((m) => m.kind.startsWith('sse')) as any[];
    expect(sse.map((m) => [m.kind, m.data ?? m.text ?? m.retry, m.time])).toEqual([
      ['sse-event', 'one', 1],
      // Its "o\n" came in frame 3; the blank line that dispatched it only with the third flush, frame 4.
      ['sse-event', 'two', 3],
      ['sse-comment', 'beat', 3],
      ['sse-fields', 9, 3],
      ['sse-event', 'three', 3],
    ]);
    expect(r.codes).toEqual([]);
  });

  test('their compressed bytes tile the body from the end of the head, each within the frames it names, useful bytes within its own', () => {
    const sse = r.msgs.filter((m) => m.kind.startsWith('sse')) as any[];
    expect(sse[0].wire.start).toBe(head.length);
    for (let i = 1; i < sse.length; i++) expect(sse[i].wire.start).toBe(sse[i - 1].wire.end);
    const segmentEnds = segments.map((_, i) => head.length * 0 + segments.slice(0, i + 1).reduce((n, b) => n + b.length, 0));
    const frameOf = (offset: number) => segmentEnds.findIndex((e) => offset < e) + 2;
    for (const m of sse) {
      expect(m.wire.useful).toBeLessThanOrEqual(m.wire.end - m.wire.start);
      expect(m.frames).toContain(frameOf(m.wire.end - 1));
    }
    // The last event ends before the gzip trailer's chunk: those bytes are no event's.
    expect(sse[sse.length - 1].wire.end).toBeLessThanOrEqual(segmentEnds[2]);
  });

  test('a gap stops the inflating, and says so; brotli is not undone as it streams, and says so', async () => {
    const pieces = await flushedPieces(['data: a\n\n', 'data: b\n\n', 'data: c\n\n']);
    // The second flush's compressed bytes are lost, inside its chunk's data.
    const msgs: Message[] = [];
    const codes: string[] = [];
    const sink = { message: (_c: Connection, m: Message) => msgs.push(m), warning: (_f: number, code: string) => codes.push(code), protocol: () => {} };
    const cd = new ConnectionDissector(CONN, DISSECTORS, FALLBACK, sink, { ...DEFAULT_DISSECT_OPTIONS, keepBytes: true });
    cd.data(0, { bytes: enc(REQUEST), offset: 0, frame: 1, time: 0 });
    const before = Buffer.concat([Buffer.from(head), chunk(pieces[0]), Buffer.from(`${pieces[1].length.toString(16)}\r\n`)]);
    cd.data(1, { bytes: new Uint8Array(before), offset: 0, frame: 2, time: 1 });
    cd.gap(1, before.length, pieces[1].length, 3);
    const after = Buffer.concat([Buffer.from('\r\n'), chunk(pieces[2]), chunk(pieces[3]), Buffer.from('0\r\n\r\n')]);
    cd.data(1, { bytes: new Uint8Array(after), offset: before.length + pieces[1].length, frame: 4, time: 3 });
    cd.end(0, 'eof', 5);
    cd.end(1, 'eof', 5);
    expect(of(msgs, 'sse-event').map((e) => e.data)).toEqual(['a']);
    expect(codes).toContain('http-coding');
    const br = head.replace('gzip', 'br');
    const b = dissect([[0, enc(REQUEST)], [1, enc(br + chunkLine('xyz') + 'xyz\r\n')]]);
    expect(of(b.msgs, 'sse-event')).toEqual([]);
    expect(b.codes).toEqual(['http-coding']);
  });
});
