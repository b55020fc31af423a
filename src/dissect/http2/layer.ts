import type { Dir, StreamChunk } from '../../reassembly/types.js';
import { ByteKeeper, textOrHex } from '../bytes.js';
import { headerValue } from '../headers.js';
import { framesOfExtents } from '../framemap.js';
import { extentBytes, OffsetMap } from '../offsetmap.js';
import { SseParser, type ParsedSseEvent } from '../sse.js';
import type { DissectContext, Dissector, DissectorSpec, HeaderList, HttpRequest, HttpResponse, Role, SseComment, SseEvent, LayerMessage } from '../types.js';
import { FLAGS, FRAME_TYPES, FrameReader, probeClientPreface, SETTINGS, type Http2Frame } from './frames.js';
import { HpackDecoder, HpackError } from './hpack.js';

/** Streams followed at once per connection (RFC 9113 §5.1.2 leaves the limit to SETTINGS; a capture may claim any). */
const MAX_STREAMS = 1024;

/** One direction of one HTTP/2 stream: a request or a response, as it arrives frame by frame. */
interface Half {
  headers: HeaderList | null;
  /** The frames that carried it so far, [start, end) pairs in this layer's offsets. */
  extents: number[];
  bodyLength: number;
  body: ByteKeeper | null;
  /** An event stream's body, read as SSE events as it arrives. */
  sse: SseParser | null;
  /** Body offsets onto this layer's offsets, a DATA frame a unit (for an event's frames). */
  bodyMap: OffsetMap | null;
  /** Body offset where the next SSE message's bytes begin. */
  sseStart: number;
  emitted: boolean;
  /** HEADERS and CONTINUATION fragments of a header block still open (RFC 9113 §6.10). */
  block: Uint8Array[] | null;
  /** The HEADERS that opened the block had END_STREAM (a request without a body). */
  endOnHeaders: boolean;
}

interface Stream {
  id: number;
  halves: [Half, Half];
}

const newHalf = (): Half => ({ headers: null, extents: [], bodyLength: 0, body: null, sse: null, bodyMap: null, sseStart: 0, emitted: false, block: null, endOnHeaders: false });

/**
 * HTTP/2 (RFC 9113): frames, HPACK per direction (RFC 7541), and each stream as one HTTP
 * exchange with the same message kinds as HTTP/1 (version "2"): a request, a response, and
 * for a text/event-stream response its SSE events as their DATA frames arrive. A message's
 * wire is the list of frames that carried it (interleaved with other streams' frames), so
 * the update tracker attributes packets by extents. Control frames (SETTINGS, PING,
 * WINDOW_UPDATE, PRIORITY, RST_STREAM, GOAWAY, unknown types) are messages of their own:
 * set-up before the first request, control after it, GOAWAY tear-down.
 */
class Http2Layer implements Dissector {
  /** Made at each direction's first byte: after an h2c Upgrade the stream is already under way there. */
  private readers: [FrameReader | null, FrameReader | null] = [null, null];
  private hpack: [HpackDecoder, HpackDecoder] = [new HpackDecoder(), new HpackDecoder()];
  private streams = new Map<number, Stream>();
  private stopped: [boolean, boolean] = [false, false];
  private sawRequest = false;
  private streamsSaid = false;
  /** The first offset per direction that a message not yet emitted still needs (for release). */
  private low: [number, number] = [0, 0];
  /** SETTINGS_MAX_FRAME_SIZE each side is held to, from the other side's SETTINGS (RFC 9113 §6.5.2). */
  private maxFrameSize = [16384, 16384];

  constructor(private readonly ctx: DissectContext) {
    ctx.setProtocol('http2');
  }

  data(dir: Dir, c: StreamChunk): void {
    if (this.stopped[dir]) return;
    const reader = (this.readers[dir] ??= new FrameReader({ expectPreface: dir === 0, offset: c.offset }));
    reader.setMaxFrameSize(this.maxFrameSize[dir]);
    for (const e of reader.feed(c.bytes)) {
      if (this.stopped[dir]) return;
      if (e.kind === 'preface') this.control(dir, e.offset, e.offset + 24, 'setup');
      else if (e.kind === 'malformed') {
        this.ctx.warn(c.frame, 'h2-malformed', `HTTP/2 ${dir === 0 ? 'client' : 'server'} stream at offset ${e.offset}: ${e.reason}`);
        if (reader.stopped) this.stop(dir);
      } else this.frame(dir, e.frame, c.frame);
    }
    this.release(dir);
  }

  private frame(dir: Dir, f: Http2Frame, packet: number): void {
    const start = f.offset;
    const end = f.offset + 9 + f.length;
    switch (f.type) {
      case FRAME_TYPES.HEADERS:
      case FRAME_TYPES.CONTINUATION: {
        const s = this.stream(f.streamId, packet);
        if (!s) return this.control(dir, start, end, 'control');
        const h = s.halves[dir];
        h.extents.push(start, end);
        (h.block ??= []).push(f.payload.slice());
        if (f.type === FRAME_TYPES.HEADERS && f.flags & FLAGS.END_STREAM) h.endOnHeaders = true;
        if (!(f.flags & FLAGS.END_HEADERS)) return;
        const joined = Buffer.concat(h.block);
        h.block = null;
        let list: HeaderList;
        try {
          list = this.hpack[dir].decode(joined);
        } catch (e) {
          this.ctx.warn(packet, 'h2-hpack', `HTTP/2 ${dir === 0 ? 'request' : 'response'} header block on stream ${f.streamId} does not decode (${e instanceof HpackError ? e.code : (e as Error).message}): this direction is not dissected further`);
          this.stop(dir);
          return;
        }
        const ended = h.endOnHeaders;
        if (h.headers === null) {
          // RFC 9113 §8.1: an interim (1xx) response is followed by the final one.
          const status = headerValue(list, ':status');
          if (dir === 1 && status !== undefined && status.startsWith('1')) {
            this.controlOf(dir, h, 'control');
            return;
          }
          h.headers = list;
          this.headersDone(dir, s, h, ended);
        } else if (ended) this.finish(dir, s, h); // trailers end the message
        return;
      }
      case FRAME_TYPES.DATA: {
        const s = this.streams.get(f.streamId);
        if (!s) return this.control(dir, start, end, 'control');
        const h = s.halves[dir];
        h.extents.push(start, end);
        h.bodyLength += f.payload.length;
        if (h.sse) {
          const at = h.bodyMap!.length;
          h.bodyMap!.add(f.payload.length, f.payloadOffset, start, end);
          h.sse.feed(f.payload, at);
        } else if (this.ctx.options.keepBytes) (h.body ??= new ByteKeeper(this.ctx.options.maxKeptBytes)).add(f.payload);
        if (f.flags & FLAGS.END_STREAM) this.finish(dir, s, h);
        return;
      }
      case FRAME_TYPES.SETTINGS:
        for (const [id, value] of f.settings ?? []) {
          // Limits a side sets bind what the other side sends (RFC 9113 §6.5.2).
          if (id === SETTINGS.MAX_FRAME_SIZE) this.maxFrameSize[dir ^ 1] = value;
          if (id === SETTINGS.HEADER_TABLE_SIZE) {
            try {
              this.hpack[(dir ^ 1) as Dir].setMaxTableSize(value);
            } catch {
              /* an out-of-range size: the decoder keeps its limit */
            }
          }
        }
        return this.control(dir, start, end, this.sawRequest ? 'control' : 'setup');
      case FRAME_TYPES.RST_STREAM: {
        const s = this.streams.get(f.streamId);
        if (s) for (const d of [0, 1] as Dir[]) if (!s.halves[d].emitted && s.halves[d].headers) this.finish(d, s, s.halves[d]);
        if (s) this.streams.delete(f.streamId);
        return this.control(dir, start, end, 'control');
      }
      case FRAME_TYPES.GOAWAY:
        return this.control(dir, start, end, 'close');
      default:
        return this.control(dir, start, end, this.sawRequest ? 'control' : 'setup');
    }
  }

  private stream(id: number, packet: number): Stream | null {
    let s = this.streams.get(id);
    if (s) return s;
    if (id === 0) return null;
    if (this.streams.size >= MAX_STREAMS) {
      if (!this.streamsSaid) this.ctx.warn(packet, 'h2-malformed', `more than ${MAX_STREAMS} HTTP/2 streams open at once: later ones are counted as control frames`);
      this.streamsSaid = true;
      return null;
    }
    s = { id, halves: [newHalf(), newHalf()] };
    this.streams.set(id, s);
    return s;
  }

  private headersDone(dir: Dir, s: Stream, h: Half, ended: boolean): void {
    if (dir === 0) this.sawRequest = true;
    const type = headerValue(h.headers!, 'content-type') ?? '';
    if (dir === 1 && /^\s*text\/event-stream/i.test(type)) {
      // An event stream: its head answers the subscription, and each event is a push.
      this.ctx.setProtocol('sse');
      this.emit(dir, s, h, null);
      h.sse = new SseParser({
        event: (e) => this.sseEvent(s, h, e),
        comment: (text, bodyEnd) => this.sseComment(s, h, text, bodyEnd),
        warning: (code, msg) => this.ctx.warn(this.ctx.frameAt(1, h.extents.at(-1)! - 1), code, msg),
      });
      h.bodyMap = new OffsetMap();
      if (ended) this.finish(dir, s, h);
      return;
    }
    if (ended) this.finish(dir, s, h);
  }

  private finish(dir: Dir, s: Stream, h: Half): void {
    if (!h.emitted) this.emit(dir, s, h, h.bodyLength);
    else if (h.sse) {
      // The end of an event stream: what its last DATA frames carried after the last event is tear-down of the stream.
      const rest = h.bodyMap!.extents(h.sseStart, h.bodyMap!.length);
      if (rest.length > 0 && rest[1] > rest[0]) this.controlExtents(dir, rest, 'control');
    }
    if (s.halves[0].emitted && s.halves[1].emitted) this.streams.delete(s.id);
  }

  private emit(dir: Dir, s: Stream, h: Half, bodyLength: number | null): void {
    const ctx = this.ctx;
    const ext = h.extents;
    h.emitted = true;
    const headers = h.headers ?? [];
    const accept = headerValue(headers, 'accept') ?? '';
    let role: Role;
    if (dir === 0) role = accept.includes('text/event-stream') || headerValue(headers, ':method') === 'CONNECT' ? 'setup' : 'request';
    else role = bodyLength === null ? 'prelude' : 'answer';
    const frames = this.framesOf(dir, ext);
    const base = { from: dir === 0 ? 'client' : 'server', frames, time: ctx.timeAt(dir, ext[0]), version: 'HTTP/2', headers } as const;
    const kept = h.body?.bytes();
    const shown = kept && kept.length > 0 ? textOrHex(kept) : undefined;
    const wire = { dir, start: ext[0], end: ext[ext.length - 1], role, useful: bodyLength ?? 0, extents: ext.slice() };
    let m: HttpRequest | HttpResponse;
    if (dir === 0) {
      m = { ...base, kind: 'http-request', method: headerValue(headers, ':method') ?? '', target: headerValue(headers, ':path') ?? '', bodyLength: bodyLength ?? 0, wire };
      (m as HttpRequest & { streamId?: number }).streamId = s.id;
    } else {
      const status = Number(headerValue(headers, ':status') ?? 0);
      m = { ...base, kind: 'http-response', status, reason: '', bodyLength, wire };
      (m as HttpResponse & { streamId?: number }).streamId = s.id;
    }
    if (shown) {
      if ('text' in shown) m.body = shown.text;
      else m.bodyHex = shown.hex;
      if (h.body!.truncated) m.bodyTruncated = true;
    }
    ctx.emit(m);
    h.extents = [];
    h.body = null;
  }

  private sseEvent(s: Stream, h: Half, e: ParsedSseEvent): void {
    const m: SseEvent = { kind: 'sse-event', from: 'server', frames: [], time: 0, event: e.event, data: e.data, wire: { dir: 1, start: 0, end: 0, role: 'push', useful: e.dataBytes } };
    if (e.id !== undefined) m.id = e.id;
    if (e.retry !== undefined) m.retry = e.retry;
    this.sseMessage(h, m, e.end);
  }

  private sseComment(_s: Stream, h: Half, text: string, end: number): void {
    const m: SseComment = { kind: 'sse-comment', from: 'server', frames: [], time: 0, text, wire: { dir: 1, start: 0, end: 0, role: 'control', useful: 0 } };
    this.sseMessage(h, m, end);
  }

  /** An SSE message: the DATA frames (or parts of them) that carried its bytes. */
  private sseMessage(h: Half, m: SseEvent | SseComment, bodyEnd: number): void {
    const ext = h.bodyMap!.extents(h.sseStart, bodyEnd);
    h.sseStart = bodyEnd;
    m.wire.start = ext[0];
    m.wire.end = ext[ext.length - 1];
    m.wire.extents = ext;
    m.frames = this.framesOf(1, ext);
    // An event happens when the blank line that dispatches it arrives (WHATWG HTML §9.2.6).
    m.time = this.ctx.timeAt(1, ext[ext.length - 1] - 1);
    this.ctx.emit(m);
    h.bodyMap!.release(bodyEnd);
  }

  private framesOf(dir: Dir, ext: number[]): number[] {
    return framesOfExtents((s, e) => this.ctx.framesFor(dir, s, e), ext);
  }

  private controlOf(dir: Dir, h: Half, role: Role): void {
    this.controlExtents(dir, h.extents, role);
    h.extents = [];
  }

  private control(dir: Dir, start: number, end: number, role: Role): void {
    this.controlExtents(dir, [start, end], role);
  }

  /** Frames of the layer itself (control frames, the preface): a message, all framing. */
  private controlExtents(dir: Dir, ext: number[], role: Role): void {
    const length = extentBytes(ext);
    const m: LayerMessage = {
      kind: 'h2-control',
      from: dir === 0 ? 'client' : 'server',
      frames: this.framesOf(dir, ext),
      time: this.ctx.timeAt(dir, ext[0]),
      length,
      wire: { dir, start: ext[0], end: ext[ext.length - 1], role, useful: 0, extents: ext.slice() },
    };
    this.ctx.emit(m);
  }

  /** Lets go of bytes every stream is done with: the oldest frame a message still waits for. */
  private release(dir: Dir): void {
    const reader = this.readers[dir];
    if (reader === null) return;
    let low = reader.offset;
    for (const s of this.streams.values()) {
      const h = s.halves[dir];
      if (h.extents.length > 0 && h.extents[0] < low) low = h.extents[0];
      if (h.sse && h.bodyMap!.length > h.sseStart) low = Math.min(low, h.bodyMap!.toParent(h.sseStart));
    }
    if (low > this.low[dir]) {
      this.low[dir] = low;
      this.ctx.release(dir, low);
    }
  }

  private stop(dir: Dir): void {
    this.stopped[dir] = true;
    this.ctx.release(dir, Number.MAX_SAFE_INTEGER);
  }

  gap(dir: Dir, offset: number, length: number, frame: number): void {
    if (this.stopped[dir]) return;
    // RFC 9113 has no resynchronisation point: frames, and HPACK's table, are lost with the bytes.
    this.ctx.warn(frame, 'h2-gap', `${length} bytes of HTTP/2 lost at offset ${offset} (${dir === 0 ? 'client' : 'server'} side): the rest of this direction is not dissected`);
    this.stop(dir);
  }

  end(dir: Dir, frame: number): void {
    if (this.stopped[dir]) return;
    for (const s of this.streams.values()) {
      const h = s.halves[dir];
      if (h.headers && !h.emitted) {
        this.ctx.warn(frame, 'h2-cut', `the connection ended inside HTTP/2 stream ${s.id} (${dir === 0 ? 'request' : 'response'} not ended)`);
        this.emit(dir, s, h, h.bodyLength);
      }
    }
  }
}

function probeServerPreface(head: Uint8Array): boolean | undefined {
  if (head.length < 9) return head.length === 0 || head[0] === 0 ? undefined : false;
  const length = (head[0] << 16) | (head[1] << 8) | head[2];
  const streamId = ((head[5] & 0x7f) << 24) | (head[6] << 16) | (head[7] << 8) | head[8];
  return head[3] === FRAME_TYPES.SETTINGS && head[4] === 0 && streamId === 0 && length % 6 === 0 && length <= 6 * 16;
}

export const http2Spec: DissectorSpec = {
  name: 'http2',
  protocol: 'http2',
  // Prior knowledge (RFC 9113 §3.3): the client's connection preface, whatever the port; or,
  // when the server speaks first, its preface: a SETTINGS frame on stream 0 (§3.4, §6.5).
  probe: (dir, head) => (dir === 0 ? probeClientPreface(head) : probeServerPreface(head)),
  create: (ctx) => new Http2Layer(ctx),
};
