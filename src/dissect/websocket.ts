import { createHash } from 'node:crypto';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import type { Dir, StreamChunk } from '../reassembly/types.js';
import { allocBytes, hex, HEX_PAIRS, textOf } from './bytes.js';
import { sortedUnique } from './framemap.js';
import { headerValue } from './headers.js';
import type { DissectContext, Dissector, DissectorSpec, HeaderList, WsFrame, WsMessage } from './types.js';

export const OPCODE = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const DEFLATE_TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff);
const NO_FRAMES: number[] = [];
/** Scratch answer of textOf: is the text free of what a terminal must not show? */
const PLAIN = { plain: false };
/** A frame is shown by the hex of its first wire bytes: only these are kept for display. */
export const FRAME_PREVIEW = 64;
/**
 * A kept payload announced at up to this size gets one buffer of that size when its header is
 * read, filled (and unmasked) as its bytes come; a larger one is kept in parts, so a header
 * claiming a huge length reserves nothing before the bytes exist.
 */
const ONE_BUFFER_MAX = 64 * 1024;

/** RFC 6455 §7.4.1 and the IANA registry: what a close code means. */
export const CLOSE_CODES: Record<number, string> = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status received',
  1006: 'abnormal closure',
  1007: 'invalid frame payload data',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'mandatory extension',
  1011: 'internal error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake',
};

export function websocketAccept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export interface WebSocketParams {
  requestHeaders: HeaderList;
  responseHeaders: HeaderList;
  frame: number;
  /**
   * Stream offsets where each direction's WebSocket bytes begin (after the Upgrade request's
   * head, after the 101's). Bytes that reach the dissector later than the stream says were
   * lost on the way (a hold that overflowed): the frames are looked for again after them.
   */
  start?: [number, number];
  /**
   * The 101 was not captured: the handshake cannot be checked and the extensions are not known,
   * so RSV1 is not a violation and compressed messages are not inflated.
   */
  noHandshake?: boolean;
  /** Directions whose first bytes may fall inside a frame: their first frame is looked for. */
  resync?: [boolean, boolean];
}

interface Deflate {
  /** Per direction: does each message start from an empty window? */
  noContextTakeover: [boolean, boolean];
  windowBits: [number, number];
}

const enum State {
  HEADER,
  PAYLOAD,
  /** Frame boundaries were lost: looking for the next frame header (see chainAt). */
  RESYNC,
  DEAD,
}

/**
 * After lost bytes, frame headers are looked for in at most this many bytes held at once: a
 * frame whose successor's header lies further on cannot be told from payload bytes, and is
 * passed over. Proposed as LIMITS.websocketResync.
 */
const RESYNC_WINDOW = 64 * 1024 + 2 * 14;
/** Consecutive plausible frame headers that mark where frames are found again. */
const RESYNC_CHAIN = 3;

/**
 * Bytes appended in amortised O(1) (the buffer doubles) up to a cap; past the cap they are
 * counted in `dropped`, not kept. `spare` bytes more are allocated for the caller to use after
 * the content (the deflate tail), so that it needs no copy.
 */
class Grow {
  buf: Uint8Array;
  length = 0;
  dropped = 0;
  constructor(readonly cap: number, private readonly spare = 0, initial = 256) {
    this.buf = new Uint8Array(Math.min(cap, Math.max(initial, 16)) + spare);
  }

  private room(n: number): number {
    const take = Math.max(0, Math.min(n, this.cap - this.length));
    if (take < n) this.dropped += n - take;
    const need = this.length + take + this.spare;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.min(this.cap + this.spare, Math.max(need, this.buf.length * 2)));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    return take;
  }

  /** Appends b[i, i+n), unmasked with `key` (key index `base` for its first byte) when given. */
  append(b: Uint8Array, i: number, n: number, key: Uint8Array | null, base: number): void {
    const take = this.room(n);
    const buf = this.buf;
    const o = this.length;
    if (key) for (let j = 0; j < take; j++) buf[o + j] = b[i + j] ^ key[(base + j) & 3];
    else if (take <= 32) for (let j = 0; j < take; j++) buf[o + j] = b[i + j];
    else buf.set(b.subarray(i, i + take), o);
    this.length += take;
  }

  zeros(n: number): void {
    const take = this.room(n);
    this.buf.fill(0, this.length, this.length + take);
    this.length += take;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const NO = 0;
const YES = 1;
const WAIT = 2;
const UTF8_FATAL = new TextDecoder('utf-8', { fatal: true });
const SCRATCH = new Uint8Array(125);

/**
 * Is there a frame header at buf[p], followed by RESYNC_CHAIN - 1 more, each where the one
 * before it ends? A header is plausible when its opcode is defined, its RSV bits are zero (RSV1
 * only on the first frame of a data message, when an extension may have set it), its mask bit
 * is the direction's (RFC 6455 §5.1: a client masks every frame, a server none), its length
 * uses the fewest bytes (§5.2), a control frame is final and at most 125 bytes (§5.5), the
 * frames continue messages as §5.4 orders them, and an unfragmented text payload of a control
 * frame's size that is all at hand is UTF-8 (§8.1). A random masked client header passes about
 * once in 40 positions, three in a row once in 10^5 or less; a server's, unmasked, about as
 * often. WAIT: more bytes are needed to tell. With `final`, the bytes end there for good: a
 * chain that reaches their end exactly is enough.
 */
export function chainAt(buf: Uint8Array, p: number, n: number, masked: boolean, rsv1: boolean, final: boolean): number {
  let q = p;
  let open = -1; // -1: not known (the first frame may continue a message begun before the loss)
  for (let k = 0; k < RESYNC_CHAIN; k++) {
    if (k > 0 && final && q === n) return YES;
    if (q + 2 - p > RESYNC_WINDOW) return NO;
    if (q + 2 > n) return final ? NO : WAIT;
    const b0 = buf[q];
    const b1 = buf[q + 1];
    const fin = (b0 & 0x80) !== 0;
    const rsv = (b0 >> 4) & 7;
    const op = b0 & 0x0f;
    if (((b1 & 0x80) !== 0) !== masked) return NO;
    if ((op > 2 && op < 8) || op > 10) return NO;
    const control = op >= 8;
    if (rsv & 3 || (rsv & 4 && (!rsv1 || control || op === 0))) return NO;
    const len7 = b1 & 0x7f;
    if (control && (!fin || len7 > 125)) return NO;
    const hl = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (q + hl > n) return final ? NO : WAIT;
    let len = len7;
    if (len7 === 126) {
      len = (buf[q + 2] << 8) | buf[q + 3];
      if (len < 126) return NO;
    } else if (len7 === 127) {
      const hi = ((buf[q + 2] << 24) | (buf[q + 3] << 16) | (buf[q + 4] << 8) | buf[q + 5]) >>> 0;
      const lo = ((buf[q + 6] << 24) | (buf[q + 7] << 16) | (buf[q + 8] << 8) | buf[q + 9]) >>> 0;
      if (hi > 0x1fffff) return NO;
      len = hi * 4294967296 + lo;
      if (len < 65536) return NO;
    }
    if (!control) {
      if (k > 0 && (op === 0) !== (open === 1)) return NO;
      open = fin ? 0 : 1;
    }
    if (op === 1 && fin && !(rsv & 4) && len <= 125 && q + hl + len <= n) {
      const at = q + hl;
      for (let j = 0; j < len; j++) SCRATCH[j] = masked ? buf[at + j] ^ buf[q + hl - 4 + (j & 3)] : buf[at + j];
      try {
        UTF8_FATAL.decode(SCRATCH.subarray(0, len));
      } catch {
        return NO;
      }
    }
    q += hl + len;
  }
  return YES;
}

/**
 * Do these bytes, all a direction has sent so far, begin with WebSocket frames (masked ones
 * from a client)? For a caller deciding whether bytes after an Upgrade whose 101 was never
 * seen are WebSocket frames.
 */
export function looksLikeWebSocket(bytes: Uint8Array, fromClient: boolean): boolean {
  return chainAt(bytes, 0, bytes.length, fromClient, true, true) === YES;
}

class Side {
  state = State.HEADER;
  hdr = new Uint8Array(14);
  hdrLen = 0;
  /** The stream offset the next byte should have; -1 until known. */
  next = -1;
  /**
   * With bytes kept: the frame's first payload bytes as on the wire (masked), for its 64-byte
   * display; previewKept stops at the last byte really captured, keptEnd is the stream offset
   * after it. The frame keeps its own preview, so the connection keeps no copy of the stream.
   */
  preview: Uint8Array | null = null;
  previewLen = 0;
  previewKept = 0;
  keptEnd = 0;
  fin = false;
  rsv = 0;
  opcode = 0;
  masked = false;
  maskKey = new Uint8Array(4);
  payloadLength = 0;
  remaining = 0;
  frameStart = 0;
  /** The payload is kept, its first maxKeptBytes (for display), or a control frame's 125. */
  keep = false;
  /** The kept payload: in one buffer of its announced size (capped), filled up to payloadFill; or growing. */
  payloadBuf: Uint8Array | null = null;
  payloadFill = 0;
  payloadGrow: Grow | null = null;
  lostBytes = 0;
  // the message being assembled from fragments
  msgOpcode = -1;
  msgStart = 0;
  msgCompressed = false;
  msgUseful = 0;
  /** The message's first bytes are kept: its first fragment's payload, then, once a second comes, joined. */
  msgKeep = false;
  msgFirst: Uint8Array | null = null;
  msgParts: Grow | null = null;
  /** A compressed message to be inflated: all its payload bytes, unmasked (capped); bytes of it not captured. */
  msgDeflate: Grow | null = null;
  msgLost = 0;
  /** Frames that carried the message's fragments (not control frames sent between them). */
  msgFrames: number[] = [];
  msgFramesUnordered = false;
  /**
   * The stream ranges of the message's own frames, once a control frame came between two of
   * its fragments ("Control frames MAY be injected in the middle of a fragmented message",
   * RFC 6455 §5.4): the control frame's bytes are its own, not the message's. Null while the
   * message is one range.
   */
  msgExtents: number[] | null = null;
  /** Data frames in the message so far; the last frame emitted, so a one-frame message reuses its decoded text. */
  msgFragments = 0;
  lastFrame: WsFrame | null = null;
  /** Decompressed history: the LZ77 window shared across messages under context takeover. */
  window: Uint8Array = new Uint8Array(0);
  /**
   * The window holds only what came out since a message that was not inflated (frame
   * windowGapFrame): a later message that refers further back cannot be inflated.
   */
  windowGap = false;
  windowGapFrame = 0;
  windowGapWarned = false;
  /** While looking for frames again: the bytes held, their stream offset, the first position not yet ruled out, bytes passed over. */
  sync: Grow | null = null;
  syncOffset = 0;
  syncScan = 0;
  syncSkipped = 0;
}

/**
 * RFC 6455 frames as a passive observer reads them: header, extended length, mask key and
 * payload are consumed across arbitrary chunk boundaries; client payloads are unmasked with
 * the key index carried between chunks; fragments are joined into messages; messages with
 * RSV1 are inflated (RFC 7692) when the handshake negotiated permessage-deflate and the
 * messages are shown (keepBytes). Violations are warnings; when frame boundaries are lost (a
 * gap between frames, bytes that never reached the dissector) the direction is scanned for
 * the next run of plausible frame headers and read again from there.
 *
 * Bounded: a frame keeps at most maxKeptBytes of its payload (control frames their 125), a
 * message as much of its bytes; a compressed message keeps its compressed bytes up to
 * maxInflatedBytes and is inflated once, at most that far, only when it is shown. Every
 * append is amortised O(1), so work is linear in the bytes and segments of the capture.
 */
class WebSocketDissector implements Dissector {
  private sides: [Side, Side] = [new Side(), new Side()];
  private deflate: Deflate | null = null;
  private readonly noHandshake: boolean;

  constructor(private readonly ctx: DissectContext, params: WebSocketParams) {
    ctx.setProtocol('websocket');
    this.noHandshake = params.noHandshake === true;
    if (ctx.options.keepBytes) for (const side of this.sides) side.preview = new Uint8Array(FRAME_PREVIEW);
    for (const dir of [0, 1] as const) {
      const s = this.sides[dir];
      if (params.start) s.next = params.start[dir];
      if (params.resync?.[dir]) this.startResync(s, s.next);
    }
    if (this.noHandshake) {
      ctx.warn(params.frame, 'ws-no-handshake', 'the 101 answer to the WebSocket Upgrade was not captured: frames are read without their handshake (extensions unknown: compressed messages are not inflated)');
      return;
    }
    const key = headerValue(params.requestHeaders, 'sec-websocket-key');
    const accept = headerValue(params.responseHeaders, 'sec-websocket-accept');
    if (key !== undefined && accept !== undefined && websocketAccept(key.trim()) !== accept.trim()) {
      ctx.warn(params.frame, 'ws-accept-mismatch', `Sec-WebSocket-Accept ${accept} does not match the key ${key} (expected ${websocketAccept(key.trim())})`);
    } else if (key !== undefined && accept === undefined) {
      ctx.warn(params.frame, 'ws-accept-mismatch', 'the 101 answer has no Sec-WebSocket-Accept');
    }
    const ext = headerValue(params.responseHeaders, 'sec-websocket-extensions') ?? '';
    for (const offer of ext.split(',')) {
      const parts = offer.split(';').map((p) => p.trim());
      if (parts[0].toLowerCase() !== 'permessage-deflate') continue;
      const d: Deflate = { noContextTakeover: [false, false], windowBits: [15, 15] };
      for (const p of parts.slice(1)) {
        const [k, v] = p.split('=').map((x) => x.trim().replace(/^"|"$/g, ''));
        if (k === 'client_no_context_takeover') d.noContextTakeover[0] = true;
        else if (k === 'server_no_context_takeover') d.noContextTakeover[1] = true;
        else if (k === 'client_max_window_bits' && v) d.windowBits[0] = parseInt(v, 10) || 15;
        else if (k === 'server_max_window_bits' && v) d.windowBits[1] = parseInt(v, 10) || 15;
      }
      this.deflate = d;
      break;
    }
  }

  data(dir: Dir, c: StreamChunk): void {
    const s = this.sides[dir];
    let b = c.bytes;
    let offset = c.offset;
    if (s.next >= 0 && offset !== s.next) {
      // Bytes the stream had that never came here (a hold that overflowed), or came twice.
      if (offset > s.next) this.lost(dir, s, s.next, offset - s.next, c.frame, true);
      else {
        const seen = s.next - offset;
        if (seen >= b.length) return;
        b = b.subarray(seen);
        offset += seen;
      }
    }
    s.next = offset + b.length;
    this.feed(dir, s, b, offset, c.frame);
  }

  private feed(dir: Dir, s: Side, b: Uint8Array, offset: number, frame: number): void {
    let i = 0;
    while (i < b.length) {
      if (s.state === State.DEAD) return;
      if (s.state === State.RESYNC) return this.resyncFeed(dir, s, b, i, offset, frame);
      if (s.state === State.HEADER) {
        if (s.hdrLen === 0) s.frameStart = offset + i;
        let need = this.headerLength(s);
        while (i < b.length && s.hdrLen < need) {
          s.hdr[s.hdrLen++] = b[i++];
          if (s.hdrLen === 2) need = this.headerLength(s);
        }
        if (s.hdrLen < need) return;
        s.previewLen = s.previewKept = 0;
        s.keptEnd = offset + i;
        if (!this.headerDone(dir, s, frame)) return;
        if (s.remaining === 0) this.frameDone(dir, s, offset + i);
        continue;
      }
      const n = Math.min(s.remaining, b.length - i);
      if (s.preview) {
        const room = FRAME_PREVIEW - s.hdrLen - s.previewLen;
        if (room > 0) {
          const t = Math.min(room, n);
          // A few bytes: a loop, where set() would first make a view of them.
          const pv = s.preview;
          for (let j = 0; j < t; j++) pv[s.previewLen + j] = b[i + j];
          s.previewKept = s.previewLen += t;
        }
        s.keptEnd = offset + i + n;
      }
      if (s.keep) this.keepPayload(s, b, i, n);
      if (s.msgDeflate && s.opcode < 8) s.msgDeflate.append(b, i, n, s.masked ? s.maskKey : null, s.payloadLength - s.remaining);
      s.remaining -= n;
      i += n;
      if (s.remaining === 0) this.frameDone(dir, s, offset + i);
    }
  }

  gap(dir: Dir, offset: number, length: number, frame: number): void {
    const s = this.sides[dir];
    let from = offset;
    if (s.next >= 0) {
      // Bytes that never came before the gap belong to it.
      from = s.next;
      if (offset + length <= from) return;
    }
    s.next = offset + length;
    this.lost(dir, s, from, offset + length - from, frame, false);
  }

  end(dir: Dir, frame: number): void {
    const s = this.sides[dir];
    if (s.state === State.RESYNC) {
      // The bytes end here: a run of frames that reaches their end is enough.
      const g = s.sync;
      const p = g ? this.scan(dir, s, true) : -1;
      if (g && p >= 0) this.resynced(dir, s, g, p, frame);
      else {
        const skipped = s.syncSkipped + (g ? g.length : 0);
        this.ctx.warn(frame, 'ws-resync', `no WebSocket ${dir === 0 ? 'client' : 'server'} frame found again before the connection ended: ${skipped} bytes after the loss not dissected`);
      }
    }
    if (s.state === State.PAYLOAD || (s.state === State.HEADER && s.hdrLen > 0)) {
      this.ctx.warn(frame, 'ws-cut', `connection closed inside a WebSocket frame (${s.state === State.PAYLOAD ? `${s.remaining} payload bytes missing` : 'header cut short'})`);
    }
    s.state = State.DEAD;
  }

  /** `length` bytes at stream offset `offset` are missing (`unsaid`: no gap reported them). */
  private lost(dir: Dir, s: Side, offset: number, length: number, frame: number, unsaid: boolean): void {
    const side = dir === 0 ? 'client' : 'server';
    if (s.state === State.PAYLOAD && length <= s.remaining) {
      s.remaining -= length;
      s.lostBytes += length;
      if (s.preview) {
        // Lost bytes show as zeros, as far as captured bytes follow them.
        const t = Math.max(0, Math.min(FRAME_PREVIEW - s.hdrLen - s.previewLen, length));
        s.preview.fill(0, s.previewLen, s.previewLen + t);
        s.previewLen += t;
      }
      if (s.payloadBuf) {
        const t = Math.min(length, s.payloadBuf.length - s.payloadFill);
        s.payloadBuf.fill(0, s.payloadFill, s.payloadFill + t);
        s.payloadFill += t;
      } else s.payloadGrow?.zeros(length);
      if (s.msgDeflate && s.opcode < 8) s.msgLost += length;
      this.ctx.warn(frame, 'ws-gap', `${length} bytes of a WebSocket payload were not ${unsaid ? `passed on (${side} side)` : 'captured'}; the frame is kept, its payload is incomplete`);
      if (s.remaining === 0) this.frameDone(dir, s, offset + length);
      return;
    }
    if (s.state === State.DEAD) return;
    if (s.state === State.RESYNC) {
      // Lost again while looking: start looking after these bytes.
      s.syncSkipped += s.sync ? s.sync.length : 0;
      if (s.sync) s.sync.length = 0;
      s.syncScan = 0;
      return;
    }
    const where = s.state === State.PAYLOAD ? 'past the end of the WebSocket frame they were in' : s.hdrLen > 0 ? 'inside a WebSocket frame header' : 'between WebSocket frames';
    const dropped = s.msgOpcode >= 0 ? '; the message being assembled is not reported' : '';
    this.ctx.warn(frame, 'ws-gap', `${length} bytes ${unsaid ? 'never passed on' : 'lost'} ${where} (${side} side, stream offset ${offset}): frame boundaries are lost; looking for the next ${side} frame${dropped}`);
    // Under context takeover the lost bytes may hold compressed messages later ones refer to.
    if (this.deflate && !this.deflate.noContextTakeover[dir]) this.windowLost(s, frame);
    this.startResync(s, offset + length);
  }

  private startResync(s: Side, offset: number): void {
    s.state = State.RESYNC;
    s.sync = new Grow(RESYNC_WINDOW);
    s.syncOffset = offset;
    s.syncScan = 0;
    s.syncSkipped = 0;
    s.hdrLen = 0;
    s.keep = false;
    s.payloadBuf = null;
    s.payloadGrow = null;
    s.msgOpcode = -1;
    s.msgFirst = null;
    s.msgParts = null;
    s.msgDeflate = null;
  }

  /** Holds bytes b[i...] while looking for frames; reads on from the first run of headers found. */
  private resyncFeed(dir: Dir, s: Side, b: Uint8Array, i: number, offset: number, frame: number): void {
    const g = s.sync!;
    while (i < b.length) {
      if (g.length === 0) s.syncOffset = offset + i;
      if (g.length === g.cap) {
        // Full, and no run found: the first half is passed over (a candidate there would need
        // more than the window to be verified), so each byte is looked at a bounded number of times.
        const drop = Math.max(s.syncScan, g.cap >> 1);
        g.buf.copyWithin(0, drop, g.length);
        g.length -= drop;
        s.syncOffset += drop;
        s.syncSkipped += drop;
        s.syncScan = 0;
      }
      const take = Math.min(g.cap - g.length, b.length - i);
      g.append(b, i, take, null, 0);
      i += take;
      const p = this.scan(dir, s, false);
      if (p >= 0) {
        this.resynced(dir, s, g, p, frame);
        if (i < b.length) this.feed(dir, s, b.subarray(i), offset + i, frame);
        return;
      }
    }
    if (g.length === 0) return;
    // Nothing can be asked of the bytes already passed over.
    this.ctx.release(dir, s.syncOffset + s.syncScan);
  }

  /** The first position in the held bytes where a run of frame headers starts; -1 for none yet. */
  private scan(dir: Dir, s: Side, final: boolean): number {
    const g = s.sync!;
    const rsv1 = this.deflate !== null || this.noHandshake;
    let p = s.syncScan;
    for (; p + 1 <= g.length - 1 || (final && p < g.length); p++) {
      const r = chainAt(g.buf, p, g.length, dir === 0, rsv1, final);
      if (r === YES) return p;
      if (r === WAIT) break;
    }
    s.syncScan = p;
    return -1;
  }

  private resynced(dir: Dir, s: Side, g: Grow, p: number, frame: number): void {
    const at = s.syncOffset + p;
    const skipped = s.syncSkipped + p;
    s.sync = null;
    s.state = State.HEADER;
    s.hdrLen = 0;
    this.ctx.release(dir, at);
    this.ctx.warn(frame, 'ws-resync', `WebSocket ${dir === 0 ? 'client' : 'server'} frames found again at stream offset ${at}, ${skipped} bytes after the loss passed over`);
    this.feed(dir, s, g.view().subarray(p), at, frame);
  }

  /** Keeps payload bytes b[i, i+n), unmasked, as far as the frame's cap. */
  private keepPayload(s: Side, b: Uint8Array, i: number, n: number): void {
    // The key index continues where the previous chunk left off.
    const base = s.payloadLength - s.remaining;
    const buf = s.payloadBuf;
    if (buf) {
      const take = Math.min(n, buf.length - s.payloadFill);
      const o = s.payloadFill;
      if (s.masked) {
        const k = s.maskKey;
        for (let j = 0; j < take; j++) buf[o + j] = b[i + j] ^ k[(base + j) & 3];
      } else if (take <= 32) {
        for (let j = 0; j < take; j++) buf[o + j] = b[i + j];
      } else buf.set(i === 0 && take === b.length ? b : b.subarray(i, i + take), o);
      s.payloadFill += take;
      return;
    }
    s.payloadGrow!.append(b, i, n, s.masked ? s.maskKey : null, base);
  }

  private headerLength(s: Side): number {
    if (s.hdrLen < 2) return 2;
    const len7 = s.hdr[1] & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (s.hdr[1] & 0x80 ? 4 : 0);
  }

  /** Checks a whole frame header; false when the direction cannot go on. */
  private headerDone(dir: Dir, s: Side, frame: number): boolean {
    const h = s.hdr;
    const ctx = this.ctx;
    s.fin = (h[0] & 0x80) !== 0;
    s.rsv = (h[0] >> 4) & 0x07;
    s.opcode = h[0] & 0x0f;
    s.masked = (h[1] & 0x80) !== 0;
    const len7 = h[1] & 0x7f;
    let o = 2;
    if (len7 === 126) {
      s.payloadLength = (h[2] << 8) | h[3];
      o = 4;
    } else if (len7 === 127) {
      const hi = ((h[2] << 24) | (h[3] << 16) | (h[4] << 8) | h[5]) >>> 0;
      const lo = ((h[6] << 24) | (h[7] << 16) | (h[8] << 8) | h[9]) >>> 0;
      // "the most significant bit MUST be 0"; and a length past 2^53 cannot be followed.
      if (hi > 0x1fffff) {
        s.state = State.DEAD;
        ctx.warn(frame, 'ws-frame-too-large', `WebSocket frame claims a payload of ${BigInt(hi) * 4294967296n + BigInt(lo)} bytes: not a frame sockstat can follow; the rest of this direction is not dissected`);
        return false;
      }
      s.payloadLength = hi * 4294967296 + lo;
      o = 10;
    } else s.payloadLength = len7;
    if (s.masked) {
      const k = s.maskKey;
      k[0] = h[o];
      k[1] = h[o + 1];
      k[2] = h[o + 2];
      k[3] = h[o + 3];
    }
    s.remaining = s.payloadLength;
    s.lostBytes = 0;
    s.state = State.PAYLOAD;
    const control = s.opcode >= 8;
    const keepBytes = ctx.options.keepBytes;
    if (control && (s.payloadLength > 125 || !s.fin)) ctx.warn(frame, 'ws-protocol-violation', `WebSocket control frame (opcode ${s.opcode}) ${s.payloadLength > 125 ? `of ${s.payloadLength} > 125 bytes` : 'fragmented'}`);
    if ((s.opcode > 2 && s.opcode < 8) || s.opcode > 10) ctx.warn(frame, 'ws-protocol-violation', `WebSocket frame with reserved opcode ${s.opcode}`);
    if (s.rsv & 0x03 || (s.rsv & 0x04 && !this.deflate && !this.noHandshake)) ctx.warn(frame, 'ws-protocol-violation', `WebSocket frame with RSV bits ${s.rsv.toString(2).padStart(3, '0')} set that no extension negotiated`);
    if (dir === 0 && !s.masked) ctx.warn(frame, 'ws-protocol-violation', 'client WebSocket frame is not masked (RFC 6455 §5.1)');
    if (dir === 1 && s.masked) ctx.warn(frame, 'ws-protocol-violation', 'server WebSocket frame is masked (RFC 6455 §5.1)');
    if (!control) {
      if (s.opcode === OPCODE.CONTINUATION) {
        if (s.msgOpcode < 0) ctx.warn(frame, 'ws-protocol-violation', 'WebSocket continuation frame with no message to continue');
      } else {
        if (s.msgOpcode >= 0) ctx.warn(frame, 'ws-protocol-violation', 'WebSocket data frame starts a new message before the last one finished');
        s.msgOpcode = s.opcode;
        s.msgStart = s.frameStart;
        s.msgCompressed = (s.rsv & 0x04) !== 0 && (this.deflate !== null || this.noHandshake);
        s.msgUseful = 0;
        // Without frame tracing there are no frames to collect: no array per message.
        s.msgFrames = ctx.options.trace ? [] : NO_FRAMES;
        s.msgFramesUnordered = false;
        s.msgExtents = null;
        s.msgFragments = 0;
        // A compressed message is shown inflated: its compressed bytes are kept for that, and
        // only when it is shown (keepBytes); nothing else is ever read from them.
        s.msgKeep = keepBytes && !s.msgCompressed;
        s.msgFirst = null;
        s.msgParts = null;
        s.msgLost = 0;
        s.msgDeflate = keepBytes && s.msgCompressed && this.deflate !== null
          ? new Grow(ctx.options.maxInflatedBytes, DEFLATE_TAIL.length, Math.min(s.payloadLength, ONE_BUFFER_MAX))
          : null;
      }
    }
    s.keep = control || keepBytes;
    s.payloadFill = 0;
    s.payloadBuf = null;
    s.payloadGrow = null;
    if (s.keep) {
      const cap = control ? 125 : ctx.options.maxKeptBytes;
      if (s.payloadLength <= ONE_BUFFER_MAX) s.payloadBuf = allocBytes(Math.min(s.payloadLength, cap));
      else s.payloadGrow = new Grow(cap);
    }
    return true;
  }

  private frameDone(dir: Dir, s: Side, end: number): void {
    const ctx = this.ctx;
    const control = s.opcode >= 8;
    const buf = s.payloadBuf;
    const payload = buf ? (s.payloadFill === buf.length ? buf : buf.subarray(0, s.payloadFill)) : s.payloadGrow ? s.payloadGrow.view() : null;
    const f: WsFrame = {
      kind: 'ws-frame',
      from: dir === 0 ? 'client' : 'server',
      frames: ctx.framesFor(dir, s.frameStart, end),
      time: ctx.timeAt(dir, s.frameStart),
      fin: s.fin,
      rsv1: (s.rsv & 0x04) !== 0,
      opcode: s.opcode,
      masked: s.masked,
      payloadLength: s.payloadLength,
      wire: { dir, start: s.frameStart, end, useful: control ? 0 : s.payloadLength },
    };
    if (s.masked && ctx.options.trace) {
      const k = s.maskKey;
      f.maskKey = HEX_PAIRS[k[0]] + HEX_PAIRS[k[1]] + HEX_PAIRS[k[2]] + HEX_PAIRS[k[3]];
    }
    if (s.preview) {
      const raw = allocBytes(s.hdrLen + s.previewKept);
      const h = s.hdr;
      const pv = s.preview;
      for (let j = 0; j < s.hdrLen; j++) raw[j] = h[j];
      for (let j = 0; j < s.previewKept; j++) raw[s.hdrLen + j] = pv[j];
      const max = ctx.options.maxKeptBytes;
      f.wire.raw = raw.length > max ? raw.subarray(0, max) : raw;
      f.wire.rawLength = Math.min(s.keptEnd - s.frameStart, max);
    }
    if (payload && (ctx.options.keepBytes || control)) {
      if (s.opcode === OPCODE.CLOSE) {
        if (payload.length >= 2) {
          f.closeCode = (payload[0] << 8) | payload[1];
          const reason = textOf(payload.subarray(2));
          if (payload.length > 2) f.closeReason = reason ?? hex(payload.subarray(2));
        } else if (payload.length === 1) ctx.warn(f.frames[0] ?? 0, 'ws-protocol-violation', 'WebSocket close frame with a 1-byte payload');
      }
      if (ctx.options.keepBytes) {
        const shown = payload.length > ctx.options.maxKeptBytes ? payload.subarray(0, ctx.options.maxKeptBytes) : payload;
        if (s.opcode !== OPCODE.CLOSE) showPayload(f, shown);
        f.wire.payload = payload;
      }
    }
    if (control && s.msgOpcode >= 0 && s.msgExtents === null) s.msgExtents = [s.msgStart, s.frameStart];
    ctx.emit(f);
    if (ctx.options.keepBytes) s.lastFrame = f; // only its decoded text is ever reused
    if (!control && s.msgOpcode >= 0) {
      const ext = s.msgExtents;
      if (ext !== null) {
        if (ext[ext.length - 1] === s.frameStart) ext[ext.length - 1] = end;
        else ext.push(s.frameStart, end);
      }
      s.msgUseful += s.payloadLength;
      s.msgFragments++;
      // Frames in stream order are mostly in frame order: appended when past the last one;
      // one out of order (a retransmission) costs a sort at the message's end, not a search here.
      const mf = s.msgFrames;
      // A message of one frame lists that frame's packets: the list is shared, not copied
      // (neither is changed after it is emitted; a sorted list is never sorted again).
      if (s.fin && s.msgFragments === 1 && ctx.options.trace) s.msgFrames = f.frames;
      else for (const fr of f.frames) {
        const last = mf.length > 0 ? mf[mf.length - 1] : -1;
        if (fr > last) mf.push(fr);
        else if (fr !== last) {
          mf.push(fr);
          s.msgFramesUnordered = true;
        }
      }
      // Shared read-only with the frame; most messages are one frame, and need no joining.
      if (s.msgKeep && payload) {
        if (s.msgParts) s.msgParts.append(payload, 0, payload.length, null, 0);
        else if (s.msgFirst === null) s.msgFirst = payload;
        else {
          s.msgParts = new Grow(ctx.options.maxKeptBytes, 0, s.msgFirst.length + payload.length);
          s.msgParts.append(s.msgFirst, 0, s.msgFirst.length, null, 0);
          s.msgParts.append(payload, 0, payload.length, null, 0);
          s.msgFirst = null;
        }
      }
      if (s.fin) this.messageDone(dir, s, end);
    }
    s.state = State.HEADER;
    s.hdrLen = 0;
    s.keep = false;
    s.payloadBuf = null;
    s.payloadGrow = null;
    if (s.msgOpcode < 0) ctx.release(dir, end);
  }

  private messageDone(dir: Dir, s: Side, end: number): void {
    const ctx = this.ctx;
    const frames = s.msgFramesUnordered ? sortedUnique(s.msgFrames) : s.msgFrames;
    const lastFrame = frames[frames.length - 1] ?? ctx.frameAt(dir, Math.max(s.msgStart, end - 1));
    let body = s.msgParts ? s.msgParts.view() : s.msgFirst;
    // The payload bytes of its frames, or, for a compressed message that was inflated, what
    // came out (the kept body holds only the first maxKeptBytes of either).
    let length = s.msgUseful;
    if (s.msgCompressed) {
      body = null;
      if (s.msgDeflate) {
        const out = this.inflate(dir, s, s.msgDeflate, lastFrame);
        if (out) {
          body = out.kept;
          length = out.length;
        }
      }
    }
    const m: WsMessage = {
      kind: 'ws-message',
      from: dir === 0 ? 'client' : 'server',
      frames,
      time: ctx.timeAt(dir, s.msgStart),
      opcode: s.msgOpcode,
      compressed: s.msgCompressed,
      length,
      wire: { dir, start: s.msgStart, end, useful: s.msgUseful, fragments: s.msgFragments },
    };
    if (s.msgExtents !== null) m.wire.extents = s.msgExtents;
    if (body && ctx.options.keepBytes) {
      // A message of one uncompressed frame says what that frame said: decode it once.
      const single = s.lastFrame && !s.msgCompressed && s.msgFragments === 1 ? s.lastFrame : null;
      if (single && (single.text !== undefined || single.wire.hexOf !== undefined)) {
        if (single.text !== undefined) {
          m.text = single.text;
          m.wire.plainText = single.wire.plainText;
        } else m.wire.hexOf = single.wire.hexOf;
      } else showPayload(m, body.length > ctx.options.maxKeptBytes ? body.subarray(0, ctx.options.maxKeptBytes) : body);
      m.wire.payload = body;
    }
    ctx.emit(m);
    s.msgOpcode = -1;
    s.msgFirst = null;
    s.msgParts = null;
    s.msgDeflate = null;
    ctx.release(dir, end);
  }

  /**
   * A message of this direction was not inflated (or was lost): under context takeover the
   * window it leaves is not known (RFC 7692 §7.2.3.2). Later messages are still inflated
   * against what is known since, an empty window at first: one that refers no further back
   * inflates exactly as with the whole window, and one that refers further back fails
   * (zlib checks every distance against the window it has), so no text is ever made up.
   */
  private windowLost(s: Side, frame: number): void {
    s.window = new Uint8Array(0);
    if (!s.windowGap) {
      s.windowGap = true;
      s.windowGapFrame = frame;
      s.windowGapWarned = false;
    }
  }

  /**
   * RFC 7692 §7.2.2: append 00 00 ff ff and inflate, the window carried over unless negotiated
   * away (§7.1.1). At most maxInflatedBytes come out; only the first maxKeptBytes are kept, and
   * the last window's worth for the next message.
   */
  private inflate(dir: Dir, s: Side, g: Grow, frame: number): { kept: Uint8Array; length: number } | null {
    const d = this.deflate!;
    const ctx = this.ctx;
    const cap = ctx.options.maxInflatedBytes;
    const takeover = !d.noContextTakeover[dir];
    if (s.msgLost > 0 || g.dropped > 0) {
      ctx.warn(frame, 'ws-inflate', s.msgLost > 0
        ? `compressed WebSocket message with ${s.msgLost} bytes not captured: not inflated`
        : `compressed WebSocket message of ${g.length + g.dropped} bytes is larger than the ${cap} bytes it may inflate to: not inflated`);
      if (takeover) this.windowLost(s, frame);
      return null;
    }
    g.buf.set(DEFLATE_TAIL, g.length);
    const input = g.buf.subarray(0, g.length + DEFLATE_TAIL.length);
    const windowSize = 1 << d.windowBits[dir];
    try {
      // A message ends on a sync flush, never on a final block: inflating must not expect one.
      // Output comes in chunks of chunkSize, each a native call: large ones for large messages.
      const opts: { maxOutputLength: number; finishFlush: number; chunkSize: number; dictionary?: Uint8Array } = {
        maxOutputLength: cap,
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        chunkSize: input.length < 4096 ? 16 * 1024 : 1024 * 1024,
      };
      if (takeover && s.window.length > 0) opts.dictionary = s.window;
      const out = inflateRawSync(input, opts);
      // Copies: the output may be a view of a chunk far larger than what is kept.
      const keep = Math.min(out.length, ctx.options.maxKeptBytes);
      const kept = allocBytes(keep);
      kept.set(out.subarray(0, keep));
      if (takeover) {
        const joined = new Uint8Array(Math.min(windowSize, s.window.length + out.length));
        const fromOld = joined.length - Math.min(out.length, joined.length);
        joined.set(s.window.subarray(s.window.length - fromOld), 0);
        joined.set(out.subarray(out.length - (joined.length - fromOld)), fromOld);
        s.window = joined;
        if (s.windowGap && joined.length >= windowSize) s.windowGap = false;
      }
      return { kept, length: out.length };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const tooBig = err.code === 'ERR_BUFFER_TOO_LARGE' || /larger than/.test(err.message);
      if (tooBig) ctx.warn(frame, 'ws-inflate', `compressed WebSocket message inflates beyond ${cap} bytes: not shown`);
      else if (takeover && s.windowGap && /too far back/.test(err.message)) {
        // Said once for each message not inflated: the ones after it that fail say nothing new.
        if (!s.windowGapWarned) ctx.warn(frame, 'ws-inflate', `compressed WebSocket message not inflated: it refers to bytes of an earlier message of this direction that was not inflated (frame ${s.windowGapFrame}; context takeover, RFC 7692 §7.2.3.2)`);
        s.windowGapWarned = true;
      } else ctx.warn(frame, 'ws-inflate', `compressed WebSocket message does not inflate (${err.message}): not shown`);
      // Past the cap the window is not known either (finding it would take inflating it all).
      if (takeover) this.windowLost(s, frame);
      return null;
    }
  }
}

/** Shows a payload as text when it is text, else as hex (made when written out). */
function showPayload(m: WsFrame | WsMessage, shown: Uint8Array): void {
  const text = textOf(shown, PLAIN);
  if (text !== null) {
    m.text = text;
    m.wire.plainText = PLAIN.plain;
  } else m.wire.hexOf = shown;
}

export const websocketSpec: DissectorSpec = {
  name: 'websocket',
  protocol: 'websocket',
  keepsOwnRaw: true,
  create: (ctx, params) => new WebSocketDissector(ctx, params as WebSocketParams),
};

export function closeCodeMeaning(code: number): string {
  return CLOSE_CODES[code] ?? (code >= 3000 && code < 4000 ? 'registered by a library or framework' : code >= 4000 && code < 5000 ? 'private use' : 'unknown');
}
