import type { AnomalyCode } from '../anomalies.js';
import { LIMITS } from '../limits.js';
import type { Dir, StreamChunk } from '../reassembly/types.js';
import { mediaParam } from './headers.js';
import { InflateStream, streamCoding } from './inflatestream.js';
import { SseParser, type ParsedSseEvent, type ParsedSseFields, type SseHandlers } from './sse.js';
import type { DissectContext, Dissector, DissectorSpec, SseComment, SseEvent, SseFields } from './types.js';

/** Frames of every message when frames are not traced (--stats): one shared list, never written. */
const NO_FRAMES: number[] = [];
/**
 * Body bytes claimed before they are let go: one release per this many, not one per event (a
 * fan-out of small events pays for each through every map under the body). Bounds what the
 * streams below keep for a body to this much.
 */
const RELEASE_STEP = 16 * 1024;

/** What the HTTP layer says of the body it hands over: its content codings, in the order applied. */
export interface SseBodyParams {
  codings?: string[];
  /** The response's Content-Type, parameters and all. */
  contentType?: string;
}

/**
 * A compressed event stream (a proxy that gzips and flushes mid-event): inflated as it
 * arrives, the parser reading the inflated bytes. What the parser says in inflated offsets is
 * put back on the compressed bytes: each piece of output maps onto the compressed bytes that
 * gave it (since the previous output), a position inside it in proportion. Messages still tile
 * the compressed body, and an event happens when the compressed bytes that released its blank
 * line arrived.
 */
class Inflated {
  readonly stream: InflateStream;
  /** Per output piece, three numbers: inflated end, compressed start, compressed end (inflated starts are the previous end). */
  private e: number[] = [];
  private head = 0;
  /** Inflated offset where the entry at `head` starts. */
  private headStart = 0;
  /** Compressed offset just past the input that gave the last output. */
  private lastInput = 0;
  failed = false;

  constructor(readonly coding: 'gzip' | 'deflate') {
    this.stream = new InflateStream(coding);
  }

  /** Inflates compressed body bytes at body offset `offset`, giving each output piece with its inflated offset. */
  push(bytes: Uint8Array, offset: number, each: (out: Uint8Array, at: number) => void): void {
    this.stream.push(bytes, (out, inputEnd) => {
      const at = this.stream.inflated - out.length;
      this.e.push(this.stream.inflated, this.lastInput, offset + inputEnd);
      this.lastInput = offset + inputEnd;
      each(out, at);
    });
  }

  private find(x: number): number {
    const e = this.e;
    let k = this.head;
    while (k + 3 < e.length && e[k] <= x) k += 3;
    return k;
  }

  /** The compressed offset of inflated offset `x` (in proportion inside its piece). */
  toWire(x: number): number {
    const e = this.e;
    if (e.length === 0) return this.lastInput;
    const k = this.find(x);
    const start = k === this.head ? this.headStart : e[k - 3];
    const end = e[k];
    if (x >= end) return e[k + 2];
    return e[k + 1] + Math.floor(((x - start) * (e[k + 2] - e[k + 1])) / (end - start));
  }

  /** The last compressed byte of the piece that released inflated byte `x`: when it could be read. */
  releasedAt(x: number): number {
    if (this.e.length === 0) return Math.max(0, this.lastInput - 1);
    return this.e[this.find(x) + 2] - 1;
  }

  /** Inflated bytes before `x` are no longer asked about. */
  release(x: number): void {
    const e = this.e;
    while (this.head + 3 < e.length && e[this.head] <= x) {
      this.headStart = e[this.head];
      this.head += 3;
    }
    if (this.head > 96 && this.head * 2 > e.length) {
      this.e = e.slice(this.head);
      this.head = 0;
    }
  }
}

/** A field this layer adds beyond types.ts, set only on the events it concerns. */
interface CutEvent {
  /** The event's data was longer than LIMITS.sseEventData: `data` is its beginning. */
  dataTruncated?: boolean;
}

/**
 * Server-Sent Events (WHATWG HTML §9.2) as a body consumer: the layer of a child stream that
 * an HTTP layer, HTTP/1 or HTTP/2, opens for a response whose media type the content-type
 * table maps to it. It sees the body only, numbered from 0, and never knows what carried it:
 * the host maps its messages onto the chunks or DATA frames, and their framing goes below.
 *
 * Messages tile the body: each one's bytes start where the one before it ended, so what no
 * message is (chunk lines, frame headers in front of it) travels with the next. A block of
 * fields without data (`retry:` alone) dispatches no event but is a message of its own,
 * `sse-fields`. The event is dispatched, and so happens, when its blank line arrives: its time is
 * that of the blank line's last byte (issue 13.3).
 */
class SseLayer implements Dissector, SseHandlers {
  private readonly parser: SseParser;
  /** Body offset where the next message's bytes begin. */
  private start = 0;
  /** Body offset up to which bytes were let go. */
  private released = 0;
  /** A compressed body: the parser reads what it inflates to, `start` stays a body offset. */
  private readonly inflated: Inflated | null = null;
  /** Inflated offset where the next message's bytes begin (with `inflated`). */
  private inflatedStart = 0;
  /** A coding the layer cannot undo as it streams (said at the first bytes): no event is read. */
  private undecodable: string | null = null;

  constructor(private readonly ctx: DissectContext, params?: SseBodyParams) {
    // Data and comments are decoded only when they will be shown; every count is the same.
    this.parser = new SseParser(this, ctx.options.keepBytes);
    const codings = params?.codings ?? [];
    const coding = streamCoding(codings);
    if (coding) this.inflated = new Inflated(coding);
    else if (coding === null) this.undecodable = codings.join(', ');
    this.charset = mediaParam(params?.contentType, 'charset') ?? 'utf-8';
  }

  /** A charset the response named other than UTF-8: said at the first bytes, then ''. */
  private charset: string;

  data(dir: Dir, c: StreamChunk): void {
    // The client's side of an event stream is its request; a body runs one way.
    if (dir !== 1) return;
    if (this.charset !== 'utf-8' && this.charset !== '') {
      // An event stream is UTF-8 whatever its Content-Type says (WHATWG HTML §9.2.5, "Parsing
      // an event stream": the stream is decoded with UTF-8 decode). Chromium's EventSource goes
      // further: it refuses a stream that names another charset, and dispatches none of its events.
      this.ctx.warn(c.frame, 'sse-charset', `event stream with charset ${JSON.stringify(this.charset.slice(0, 40))}: read as UTF-8, as the standard says; Chromium refuses such a stream and dispatches none of its events`);
      this.charset = '';
    }
    if (this.undecodable !== null) {
      if (this.undecodable !== '') this.ctx.warn(c.frame, 'http-coding', `event stream with Content-Encoding ${JSON.stringify(this.undecodable.slice(0, 80))}: sockstat undoes only gzip and deflate as a body streams; its events are not read`);
      this.undecodable = '';
      return;
    }
    const z = this.inflated;
    if (z === null) return this.parser.feed(c.bytes, c.offset);
    if (z.failed) return;
    try {
      z.push(c.bytes, c.offset, (out, at) => this.parser.feed(out, at));
    } catch (e) {
      z.failed = true;
      this.ctx.warn(c.frame, 'http-coding', `${z.coding}-coded event stream does not inflate (${(e as Error).message}): the rest of it is not read`);
      return;
    }
    if (z.stream.inflated > LIMITS.sseInflated) {
      z.failed = true;
      this.ctx.warn(c.frame, 'http-coding', `${z.coding}-coded event stream inflates beyond ${LIMITS.sseInflated} bytes (LIMITS.sseInflated): the rest of it is not read`);
    }
  }

  gap(dir: Dir, _offset: number, _length: number, frame: number): void {
    if (dir !== 1) return;
    const z = this.inflated;
    if (z !== null && !z.failed) {
      // The inflater's state went with the lost bytes: nothing after them can be inflated.
      z.failed = true;
      this.ctx.warn(frame, 'http-coding', `${z.coding}-coded event stream lost bytes: the rest of it cannot be inflated`);
    }
    // The line and event in progress are lost with the bytes; the next blank line after a
    // whole event dispatches again.
    this.parser.reset();
  }

  end(dir: Dir, frame: number): void {
    if (dir !== 1) return;
    const pending = this.parser.pending;
    if (pending.dataBytes > 0 || pending.lineBytes > 0) {
      // WHATWG HTML §9.2.6: "Once the end of the file is reached, any pending data must be discarded."
      const what = pending.dataBytes > 0 ? `an event with ${pending.dataBytes} bytes of data that no blank line dispatched` : `a line of ${pending.lineBytes} bytes that no line end finished`;
      this.ctx.warn(frame, 'sse-cut', `event stream ended inside ${what}: not an event`);
    }
  }

  // SseHandlers: the parser's findings, in body offsets.

  /** The body offset of parser offset `x` (they differ for a compressed body). */
  private wireOf(x: number): number {
    return this.inflated === null ? x : this.inflated.toWire(x);
  }

  /** The body offset of the byte whose arrival let the parser read parser offset `x`. */
  private arrivalOf(x: number): number {
    return this.inflated === null ? x : this.inflated.releasedAt(x);
  }

  event(e: ParsedSseEvent): void {
    const ctx = this.ctx;
    const start = this.start;
    const end = this.wireOf(e.end);
    const trace = ctx.options.trace;
    // Of a compressed event, the share of its wire bytes that its data is of what it inflates to.
    const useful = this.inflated === null ? e.dataBytes : Math.floor((e.dataBytes * (end - start)) / Math.max(1, e.end - this.inflatedStart));
    const m: SseEvent = {
      kind: 'sse-event',
      from: 'server',
      frames: trace ? ctx.framesFor(1, start, end) : NO_FRAMES,
      // "When the user agent is required to dispatch the event" at the blank line (WHATWG HTML §9.2.6).
      time: trace ? ctx.timeAt(1, this.arrivalOf(e.end - 1)) : 0,
      event: e.event,
      data: e.data,
      wire: { dir: 1, start, end, useful },
    };
    if (e.id !== undefined) m.id = e.id;
    if (e.retry !== undefined) m.retry = e.retry;
    if (e.dataCut) (m as SseEvent & CutEvent).dataTruncated = true;
    this.done(m, e.end);
  }

  fields(f: ParsedSseFields): void {
    const ctx = this.ctx;
    const start = this.start;
    const trace = ctx.options.trace;
    const end = this.wireOf(f.end);
    const m: SseFields = {
      kind: 'sse-fields',
      from: 'server',
      frames: trace ? ctx.framesFor(1, start, end) : NO_FRAMES,
      time: trace ? ctx.timeAt(1, this.arrivalOf(f.end - 1)) : 0,
      wire: { dir: 1, start, end, useful: 0 },
    };
    if (f.event !== undefined) m.event = f.event;
    if (f.id !== undefined) m.id = f.id;
    if (f.retry !== undefined) m.retry = f.retry;
    this.done(m, f.end);
  }

  comment(text: string, end: number): void {
    const ctx = this.ctx;
    const start = this.start;
    const trace = ctx.options.trace;
    // Inside an event's block (after a field line, before its blank line) a comment claims
    // none of the bytes: the block's lines before it are the event's, which comes later, and
    // the event's bytes stay one range, the comment's line with them.
    const inBlock = this.parser.blockOpen;
    const wireEnd = this.wireOf(end);
    const arrival = this.arrivalOf(end - 1);
    const m: SseComment = {
      kind: 'sse-comment',
      from: 'server',
      frames: trace ? ctx.framesFor(1, inBlock ? arrival : start, inBlock ? arrival + 1 : wireEnd) : NO_FRAMES,
      time: trace ? ctx.timeAt(1, arrival) : 0,
      text,
      wire: { dir: 1, start, end: inBlock ? start : wireEnd, useful: 0 },
    };
    if (inBlock) ctx.emit(m);
    else this.done(m, end);
  }

  warning(code: AnomalyCode, message: string, offset: number): void {
    this.ctx.warn(this.ctx.frameAt(1, offset), code, message);
  }

  /** Emits a message that ends the tiling so far; `parsedEnd` is its end in parser offsets. */
  private done(m: SseEvent | SseComment | SseFields, parsedEnd: number): void {
    const end = m.wire.end;
    this.ctx.emit(m);
    this.start = end;
    if (this.inflated !== null) {
      this.inflatedStart = parsedEnd;
      this.inflated.release(parsedEnd);
    }
    if (end - this.released >= RELEASE_STEP) {
      this.released = end;
      this.ctx.release(1, end);
    }
  }
}

export const sseSpec: DissectorSpec = {
  name: 'sse',
  protocol: 'sse',
  // No probe: an event stream is a body, reached through HANDOFFS['content-type'] only.
  create: (ctx, params) => new SseLayer(ctx, params as SseBodyParams | undefined),
};
