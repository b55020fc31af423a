import type { Dir, StreamChunk } from '../../reassembly/types.js';
import { ByteKeeper, textOrHex } from '../bytes.js';
import { contentCodings, headerValue, mediaType } from '../headers.js';
import { framesOfExtents } from '../framemap.js';
import { extentBytes } from '../offsetmap.js';
import type { ChildStream, DissectContext, Dissector, DissectorSpec, HeaderList, HttpRequest, HttpResponse, Role, LayerMessage } from '../types.js';
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
  /**
   * A body its consumer layer reads (an event stream, by HANDOFFS['content-type']): the child
   * stream its DATA frames' payloads are fed to, each frame the unit of its payload.
   */
  child: ChildStream | null;
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

const newHalf = (): Half => ({ headers: null, extents: [], bodyLength: 0, body: null, child: null, emitted: false, block: null, endOnHeaders: false });

/**
 * HTTP/2 (RFC 9113): frames, HPACK per direction (RFC 7541), and each stream as one HTTP
 * exchange with the same message kinds as HTTP/1 (version "2"): a request and a response,
 * whose body, when HANDOFFS['content-type'] names a consumer for its media type (an event
 * stream), is fed DATA frame by DATA frame to a child stream that layer runs. A message's
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
  /** The frame and time of the chunk being read. */
  private packet = 0;
  private time = 0;

  constructor(private readonly ctx: DissectContext) {
    ctx.setProtocol('http2');
  }

  data(dir: Dir, c: StreamChunk): void {
    if (this.stopped[dir]) return;
    const reader = (this.readers[dir] ??= new FrameReader({ expectPreface: dir === 0, offset: c.offset }));
    this.packet = c.frame;
    this.time = c.time;
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
        h.bodyLength += f.payload.length;
        if (h.child) {
          // The frame is its payload's unit: its header and padding go with the bytes at its
          // edges, as a chunk's lines do over HTTP/1. An empty frame that ends the stream
          // carries nothing its consumer could claim: it is a control frame of this layer.
          if (f.payload.length === 0 && f.flags & FLAGS.END_STREAM) this.control(dir, start, end, 'control');
          else h.child.data(dir, f.payload, f.payloadOffset, start, end, packet, this.time);
        } else {
          h.extents.push(start, end);
          if (this.ctx.options.keepBytes) (h.body ??= new ByteKeeper(this.ctx.options.maxKeptBytes)).add(f.payload);
        }
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
        if (s) for (const d of [0, 1] as Dir[]) if ((!s.halves[d].emitted && s.halves[d].headers) || s.halves[d].child) this.finish(d, s, s.halves[d]);
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
    // A body whose media type names a consumer (an event stream: WHATWG HTML §9.2.3 reads one
    // only from a 200 response) is read by that layer, on a child stream of this one.
    const consumer = dir === 1 && headerValue(h.headers!, ':status') === '200' ? this.ctx.lookup('content-type', mediaType(headerValue(h.headers!, 'content-type'))) : undefined;
    if (consumer !== undefined) {
      // The head answers the subscription; the body is its consumer's messages, not one.
      this.emit(dir, s, h, null);
      h.child = this.ctx.openChild('http2', consumer, { codings: contentCodings(h.headers!), contentType: headerValue(h.headers!, 'content-type') });
      // Frames of other streams are still in flight: released now, this layer keeps its own
      // hold on its stream beside the child's (StreamHost.releaseHeld).
      this.ctx.release(dir, this.low[dir]);
    }
    if (ended) this.finish(dir, s, h);
  }

  private finish(dir: Dir, s: Stream, h: Half): void {
    if (!h.emitted) this.emit(dir, s, h, h.bodyLength);
    this.endChild(h, dir, 0);
    if (s.halves[0].emitted && s.halves[1].emitted) this.streams.delete(s.id);
  }

  /** The end of a body its consumer reads; `lost` bytes of it were never seen. */
  private endChild(h: Half, dir: Dir, lost: number): void {
    const child = h.child;
    if (child === null) return;
    h.child = null;
    if (lost > 0) child.gap(dir, lost, this.packet);
    child.end(dir, this.packet);
  }

  private emit(dir: Dir, s: Stream, h: Half, bodyLength: number | null): void {
    const ctx = this.ctx;
    const ext = h.extents;
    h.emitted = true;
    const headers = h.headers ?? [];
    const frames = this.framesOf(dir, ext);
    const base = { from: dir === 0 ? 'client' : 'server', frames, time: ctx.timeAt(dir, ext[0]), version: 'HTTP/2', headers } as const;
    const kept = h.body?.bytes();
    const shown = kept && kept.length > 0 ? textOrHex(kept) : undefined;
    // What the exchange is to the update rule, analysis/roles.ts says from the message: an HTTP/2 request is a request.
    const wire = { dir, start: ext[0], end: ext[ext.length - 1], useful: bodyLength ?? 0, extents: ext.slice() };
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
    // A body's child holds its own frames: the host lets go of nothing it still needs.
    let low = reader.offset;
    for (const s of this.streams.values()) {
      const h = s.halves[dir];
      if (h.extents.length > 0 && h.extents[0] < low) low = h.extents[0];
    }
    if (low > this.low[dir]) {
      this.low[dir] = low;
      this.ctx.release(dir, low);
    }
  }

  /** This direction is given up; `lost`: bytes lost in a gap where it stopped. */
  private stop(dir: Dir, lost = 0): void {
    this.stopped[dir] = true;
    // The bodies under way are cut where the frames stop.
    for (const s of this.streams.values()) this.endChild(s.halves[dir], dir, lost);
    this.ctx.release(dir, Number.MAX_SAFE_INTEGER);
  }

  gap(dir: Dir, offset: number, length: number, frame: number): void {
    if (this.stopped[dir]) return;
    // RFC 9113 has no resynchronisation point: frames, and HPACK's table, are lost with the bytes.
    this.packet = frame;
    this.ctx.warn(frame, 'h2-gap', `${length} bytes of HTTP/2 lost at offset ${offset} (${dir === 0 ? 'client' : 'server'} side): the rest of this direction is not dissected`);
    this.stop(dir, length);
  }

  end(dir: Dir, frame: number): void {
    if (this.stopped[dir]) return;
    this.packet = frame;
    for (const s of this.streams.values()) {
      const h = s.halves[dir];
      if (h.headers && !h.emitted) {
        this.ctx.warn(frame, 'h2-cut', `the connection ended inside HTTP/2 stream ${s.id} (${dir === 0 ? 'request' : 'response'} not ended)`);
        this.emit(dir, s, h, h.bodyLength);
      }
      // An event stream the connection's end cut: its consumer says whether an event was.
      this.endChild(h, dir, 0);
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
