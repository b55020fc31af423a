import type { AnomalyCode } from '../anomalies.js';
import type { Dir, StreamChunk } from '../reassembly/types.js';
import { SseParser, type ParsedSseEvent, type SseHandlers } from './sse.js';
import type { DissectContext, Dissector, DissectorSpec, SseComment, SseEvent } from './types.js';

/** Frames of every message when frames are not traced (--stats): one shared list, never written. */
const NO_FRAMES: number[] = [];
/**
 * Body bytes claimed before they are let go: one release per this many, not one per event (a
 * fan-out of small events pays for each through every map under the body). Bounds what the
 * streams below keep for a body to this much.
 */
const RELEASE_STEP = 16 * 1024;

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
 * message is (a `retry:`-only block, chunk lines, frame headers in front of it) travels with
 * the next. The event is dispatched, and so happens, when its blank line arrives: its time is
 * that of the blank line's last byte (issue 13.3).
 */
class SseLayer implements Dissector, SseHandlers {
  private readonly parser: SseParser;
  /** Body offset where the next message's bytes begin. */
  private start = 0;
  /** Body offset up to which bytes were let go. */
  private released = 0;

  constructor(private readonly ctx: DissectContext) {
    // Data and comments are decoded only when they will be shown; every count is the same.
    this.parser = new SseParser(this, ctx.options.keepBytes);
  }

  data(dir: Dir, c: StreamChunk): void {
    // The client's side of an event stream is its request; a body runs one way.
    if (dir === 1) this.parser.feed(c.bytes, c.offset);
  }

  gap(dir: Dir): void {
    // The line and event in progress are lost with the bytes; the next blank line after a
    // whole event dispatches again.
    if (dir === 1) this.parser.reset();
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

  event(e: ParsedSseEvent): void {
    const ctx = this.ctx;
    const start = this.start;
    const trace = ctx.options.trace;
    const m: SseEvent = {
      kind: 'sse-event',
      from: 'server',
      frames: trace ? ctx.framesFor(1, start, e.end) : NO_FRAMES,
      // "When the user agent is required to dispatch the event" at the blank line (WHATWG HTML §9.2.6).
      time: trace ? ctx.timeAt(1, e.end - 1) : 0,
      event: e.event,
      data: e.data,
      wire: { dir: 1, start, end: e.end, useful: e.dataBytes },
    };
    if (e.id !== undefined) m.id = e.id;
    if (e.retry !== undefined) m.retry = e.retry;
    if (e.dataCut) (m as SseEvent & CutEvent).dataTruncated = true;
    this.done(m);
  }

  comment(text: string, end: number): void {
    const ctx = this.ctx;
    const start = this.start;
    const trace = ctx.options.trace;
    // Inside an event's block (after a field line, before its blank line) a comment claims
    // none of the bytes: the block's lines before it are the event's, which comes later, and
    // the event's bytes stay one range, the comment's line with them.
    const inBlock = this.parser.blockOpen;
    const m: SseComment = {
      kind: 'sse-comment',
      from: 'server',
      frames: trace ? ctx.framesFor(1, inBlock ? end - 1 : start, end) : NO_FRAMES,
      time: trace ? ctx.timeAt(1, end - 1) : 0,
      text,
      wire: { dir: 1, start, end: inBlock ? start : end, useful: 0 },
    };
    if (inBlock) ctx.emit(m);
    else this.done(m);
  }

  warning(code: AnomalyCode, message: string, offset: number): void {
    this.ctx.warn(this.ctx.frameAt(1, offset), code, message);
  }

  private done(m: SseEvent | SseComment): void {
    const end = m.wire.end;
    this.ctx.emit(m);
    this.start = end;
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
  create: (ctx) => new SseLayer(ctx),
};
