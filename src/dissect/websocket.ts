import { createHash } from 'node:crypto';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import type { Dir, StreamChunk } from '../reassembly/types.js';
import { allocBytes, ByteKeeper, copyBytes, hex, HEX_PAIRS, textOf } from './bytes.js';
import { headerValue } from './headers.js';
import type { DissectContext, Dissector, DissectorSpec, HeaderList, Role, WsFrame, WsMessage } from './types.js';

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
}

interface Deflate {
  /** Per direction: does each message start from an empty window? */
  noContextTakeover: [boolean, boolean];
  windowBits: [number, number];
}

const enum State {
  HEADER,
  PAYLOAD,
  DEAD,
}

class Side {
  state = State.HEADER;
  hdr = new Uint8Array(14);
  hdrLen = 0;
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
  /** The payload is kept (for display, a control frame, or inflating). */
  keep = false;
  /** The kept payload: in one buffer of its announced size, filled up to payloadFill; or in parts. */
  payloadBuf: Uint8Array | null = null;
  payloadFill = 0;
  payloadParts: ByteKeeper | null = null;
  lostBytes = 0;
  // the message being assembled from fragments
  msgOpcode = -1;
  msgStart = 0;
  msgCompressed = false;
  msgUseful = 0;
  /** The message's bytes are kept: its first fragment's payload, then, once a second comes, all in parts. */
  msgKeep = false;
  msgFirst: Uint8Array | null = null;
  msgParts: ByteKeeper | null = null;
  /** Frames that carried the message's fragments (not control frames sent between them). */
  msgFrames: number[] = [];
  /** Data frames in the message so far; the last frame emitted, so a one-frame message reuses its decoded text. */
  msgFragments = 0;
  lastFrame: WsFrame | null = null;
  /** Decompressed history: the LZ77 window shared across messages under context takeover. */
  window: Uint8Array = new Uint8Array(0);
  inflateBroken = false;
}

/**
 * RFC 6455 frames as a passive observer reads them: header, extended length, mask key and
 * payload are consumed across arbitrary chunk boundaries; client payloads are unmasked with
 * the key index carried between chunks; fragments are joined into messages; messages with
 * RSV1 are inflated (RFC 7692) when the handshake negotiated permessage-deflate. Violations
 * are warnings; only when frame boundaries are lost (a gap in a header, an impossible
 * length) does a direction stop being dissected.
 */
class WebSocketDissector implements Dissector {
  private sides: [Side, Side] = [new Side(), new Side()];
  private deflate: Deflate | null = null;

  constructor(private readonly ctx: DissectContext, params: WebSocketParams) {
    ctx.setProtocol('websocket');
    if (ctx.options.keepBytes) for (const side of this.sides) side.preview = new Uint8Array(FRAME_PREVIEW);
    const key = headerValue(params.requestHeaders, 'sec-websocket-key');
    const accept = headerValue(params.responseHeaders, 'sec-websocket-accept');
    if (key !== undefined && accept !== undefined && websocketAccept(key.trim()) !== accept.trim()) {
      ctx.warn(params.frame, `Sec-WebSocket-Accept ${accept} does not match the key ${key} (expected ${websocketAccept(key.trim())})`);
    } else if (key !== undefined && accept === undefined) {
      ctx.warn(params.frame, 'the 101 answer has no Sec-WebSocket-Accept');
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
    const b = c.bytes;
    let i = 0;
    while (i < b.length) {
      if (s.state === State.DEAD) return;
      if (s.state === State.HEADER) {
        if (s.hdrLen === 0) s.frameStart = c.offset + i;
        let need = this.headerLength(s);
        while (i < b.length && s.hdrLen < need) {
          s.hdr[s.hdrLen++] = b[i++];
          if (s.hdrLen === 2) need = this.headerLength(s);
        }
        if (s.hdrLen < need) return;
        s.previewLen = s.previewKept = 0;
        s.keptEnd = c.offset + i;
        if (!this.headerDone(dir, s, c.frame)) return;
        if (s.remaining === 0) this.frameDone(dir, s, c.offset + i);
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
        s.keptEnd = c.offset + i + n;
      }
      if (s.keep) this.keepPayload(s, b, i, n);
      s.remaining -= n;
      i += n;
      if (s.remaining === 0) this.frameDone(dir, s, c.offset + i);
    }
  }

  gap(dir: Dir, _offset: number, length: number, frame: number): void {
    const s = this.sides[dir];
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
      } else s.payloadParts?.addZeros(length);
      this.ctx.warn(frame, `${length} bytes of a WebSocket payload were not captured; the frame is kept, its payload is incomplete`);
      if (s.remaining === 0) this.frameDone(dir, s, _offset + length);
      return;
    }
    if (s.state !== State.DEAD) {
      s.state = State.DEAD;
      this.ctx.warn(frame, `bytes lost between WebSocket frames (${dir === 0 ? 'client' : 'server'} side): frame boundaries cannot be found again, the rest of this direction is not dissected`);
    }
  }

  end(dir: Dir, frame: number): void {
    const s = this.sides[dir];
    if (s.state === State.PAYLOAD || (s.state === State.HEADER && s.hdrLen > 0)) {
      this.ctx.warn(frame, `connection closed inside a WebSocket frame (${s.state === State.PAYLOAD ? `${s.remaining} payload bytes missing` : 'header cut short'})`);
    }
    s.state = State.DEAD;
  }

  /** Keeps payload bytes b[i, i+n), unmasked. */
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
    const part = copyBytes(b.subarray(i, i + n));
    if (s.masked) {
      const k = s.maskKey;
      for (let j = 0; j < part.length; j++) part[j] ^= k[(base + j) & 3];
    }
    s.payloadParts!.addOwned(part);
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
        ctx.warn(frame, `WebSocket frame claims a payload of ${BigInt(hi) * 4294967296n + BigInt(lo)} bytes: not a frame sockstat can follow; the rest of this direction is not dissected`);
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
    if (control && (s.payloadLength > 125 || !s.fin)) ctx.warn(frame, `WebSocket control frame (opcode ${s.opcode}) ${s.payloadLength > 125 ? `of ${s.payloadLength} > 125 bytes` : 'fragmented'}`);
    if ((s.opcode > 2 && s.opcode < 8) || s.opcode > 10) ctx.warn(frame, `WebSocket frame with reserved opcode ${s.opcode}`);
    if (s.rsv & 0x03 || (s.rsv & 0x04 && !this.deflate)) ctx.warn(frame, `WebSocket frame with RSV bits ${s.rsv.toString(2).padStart(3, '0')} set that no extension negotiated`);
    if (dir === 0 && !s.masked) ctx.warn(frame, 'client WebSocket frame is not masked (RFC 6455 §5.1)');
    if (dir === 1 && s.masked) ctx.warn(frame, 'server WebSocket frame is masked (RFC 6455 §5.1)');
    if (!control) {
      if (s.opcode === OPCODE.CONTINUATION) {
        if (s.msgOpcode < 0) ctx.warn(frame, 'WebSocket continuation frame with no message to continue');
      } else {
        if (s.msgOpcode >= 0) ctx.warn(frame, 'WebSocket data frame starts a new message before the last one finished');
        s.msgOpcode = s.opcode;
        s.msgStart = s.frameStart;
        s.msgCompressed = (s.rsv & 0x04) !== 0 && this.deflate !== null;
        s.msgUseful = 0;
        // Without frame tracing there are no frames to collect: no array per message.
        s.msgFrames = this.ctx.options.trace ? [] : NO_FRAMES;
        s.msgFragments = 0;
        s.msgKeep = this.ctx.options.keepBytes || s.msgCompressed;
        s.msgFirst = null;
        s.msgParts = null;
      }
    }
    s.keep = control || this.ctx.options.keepBytes || (s.msgCompressed && !control);
    s.payloadFill = 0;
    s.payloadBuf = null;
    s.payloadParts = null;
    if (s.keep) {
      const cap = control ? 125 : this.ctx.options.maxInflatedBytes;
      if (s.payloadLength <= ONE_BUFFER_MAX) s.payloadBuf = allocBytes(Math.min(s.payloadLength, cap));
      else s.payloadParts = new ByteKeeper(cap);
    }
    return true;
  }

  private frameDone(dir: Dir, s: Side, end: number): void {
    const ctx = this.ctx;
    const control = s.opcode >= 8;
    const buf = s.payloadBuf;
    const payload = buf ? (s.payloadFill === buf.length ? buf : buf.subarray(0, s.payloadFill)) : s.payloadParts ? s.payloadParts.bytes() : null;
    let role: Role = 'none';
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
      wire: { dir, start: s.frameStart, end, role, useful: control ? 0 : s.payloadLength },
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
        } else if (payload.length === 1) ctx.warn(f.frames[0] ?? 0, 'WebSocket close frame with a 1-byte payload');
      }
      if (ctx.options.keepBytes) {
        const shown = payload.length > ctx.options.maxKeptBytes ? payload.subarray(0, ctx.options.maxKeptBytes) : payload;
        if (s.opcode !== OPCODE.CLOSE) showPayload(f, shown);
        f.wire.payload = payload;
      }
    }
    if (control) role = s.opcode === OPCODE.CLOSE ? 'close' : 'control';
    f.wire.role = role;
    ctx.emit(f);
    if (ctx.options.keepBytes) s.lastFrame = f; // only its decoded text is ever reused
    if (!control && s.msgOpcode >= 0) {
      s.msgUseful += s.payloadLength;
      s.msgFragments++;
      for (const fr of f.frames) if (s.msgFrames.length === 0 || s.msgFrames[s.msgFrames.length - 1] !== fr) if (!s.msgFrames.includes(fr)) s.msgFrames.push(fr);
      // Shared read-only with the frame; most messages are one frame, and need no joining.
      if (s.msgKeep && payload) {
        if (s.msgParts) s.msgParts.addOwned(payload);
        else if (s.msgFirst === null) s.msgFirst = payload;
        else {
          s.msgParts = new ByteKeeper(ctx.options.maxInflatedBytes);
          s.msgParts.addOwned(s.msgFirst);
          s.msgParts.addOwned(payload);
          s.msgFirst = null;
        }
      }
      if (s.fin) this.messageDone(dir, s, end);
    }
    s.state = State.HEADER;
    s.hdrLen = 0;
    s.keep = false;
    s.payloadBuf = null;
    s.payloadParts = null;
    if (s.msgOpcode < 0) ctx.release(dir, end);
  }

  private messageDone(dir: Dir, s: Side, end: number): void {
    const ctx = this.ctx;
    let body = s.msgParts ? s.msgParts.bytes() : s.msgFirst;
    const frames = s.msgFrames.sort((a, b) => a - b);
    if (body && s.msgCompressed) body = this.inflate(dir, s, body, frames[frames.length - 1] ?? 0);
    const m: WsMessage = {
      kind: 'ws-message',
      from: dir === 0 ? 'client' : 'server',
      frames,
      time: ctx.timeAt(dir, s.msgStart),
      opcode: s.msgOpcode,
      compressed: s.msgCompressed,
      length: body ? body.length : s.msgUseful,
      wire: { dir, start: s.msgStart, end, role: dir === 0 ? 'request' : 'push', useful: s.msgUseful, fragments: s.msgFragments },
    };
    if (body && ctx.options.keepBytes) {
      // A message of one uncompressed frame says what that frame said: decode it once.
      const single = s.lastFrame && !s.msgCompressed && s.msgFragments === 1 ? s.lastFrame : null;
      if (single && (single.text !== undefined || single.wire.hexOf !== undefined)) {
        if (single.text !== undefined) {
          m.text = single.text;
          m.wire.plainText = single.wire.plainText;
        } else m.wire.hexOf = single.wire.hexOf;
      } else showPayload(m, body.subarray(0, ctx.options.maxKeptBytes));
      m.wire.payload = body;
    }
    ctx.emit(m);
    s.msgOpcode = -1;
    s.msgFirst = null;
    s.msgParts = null;
    ctx.release(dir, end);
  }

  /** RFC 7692 §7.2.2: append 00 00 ff ff and inflate, the window carried over unless negotiated away. */
  private inflate(dir: Dir, s: Side, body: Uint8Array, frame: number): Uint8Array | null {
    const d = this.deflate!;
    if (s.inflateBroken) return null;
    const input = new Uint8Array(body.length + 4);
    input.set(body);
    input.set(DEFLATE_TAIL, body.length);
    const windowSize = 1 << d.windowBits[dir];
    try {
      // A message ends on a sync flush, never on a final block: inflating must not expect one.
      const opts: { maxOutputLength: number; finishFlush: number; dictionary?: Uint8Array } = {
        maxOutputLength: this.ctx.options.maxInflatedBytes,
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
      };
      if (!d.noContextTakeover[dir] && s.window.length > 0) opts.dictionary = s.window;
      const out = new Uint8Array(inflateRawSync(input, opts));
      if (!d.noContextTakeover[dir]) {
        const joined = new Uint8Array(Math.min(windowSize, s.window.length + out.length));
        const fromOld = joined.length - Math.min(out.length, joined.length);
        joined.set(s.window.subarray(s.window.length - fromOld), 0);
        joined.set(out.subarray(out.length - (joined.length - fromOld)), fromOld);
        s.window = joined;
      }
      return out;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const tooBig = err.code === 'ERR_BUFFER_TOO_LARGE' || /larger than/.test(err.message);
      this.ctx.warn(frame, tooBig
        ? `compressed WebSocket message inflates beyond ${this.ctx.options.maxInflatedBytes} bytes: not shown`
        : `compressed WebSocket message does not inflate (${err.message}); later messages of this direction are not inflated`);
      if (!tooBig && !d.noContextTakeover[dir]) s.inflateBroken = true;
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
