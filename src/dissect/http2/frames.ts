/**
 * HTTP/2 frame reader (RFC 9113 §4, §6): turns one direction's byte stream, fed in arbitrary
 * pieces, into frames. Layout only: stream states, flow control and HPACK belong to the layer
 * above. A passive observer cannot answer a peer with an error, so a frame whose layout is wrong
 * is reported ('malformed') and stepped over by its declared length; parsing goes on.
 */

export const FRAME_TYPES = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** Flag bits (RFC 9113 §6); END_STREAM and ACK share 0x1 on different frame types. */
export const FLAGS = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** Setting identifiers (RFC 9113 §6.5.2). */
export const SETTINGS = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Error code names (RFC 9113 §7), for RST_STREAM and GOAWAY. */
export const ERROR_CODES: Record<number, string> = {
  0x0: 'NO_ERROR',
  0x1: 'PROTOCOL_ERROR',
  0x2: 'INTERNAL_ERROR',
  0x3: 'FLOW_CONTROL_ERROR',
  0x4: 'SETTINGS_TIMEOUT',
  0x5: 'STREAM_CLOSED',
  0x6: 'FRAME_SIZE_ERROR',
  0x7: 'REFUSED_STREAM',
  0x8: 'CANCEL',
  0x9: 'COMPRESSION_ERROR',
  0xa: 'CONNECT_ERROR',
  0xb: 'ENHANCE_YOUR_CALM',
  0xc: 'INADEQUATE_SECURITY',
  0xd: 'HTTP_1_1_REQUIRED',
};

/** RFC 9113 §4.1: every frame begins with a fixed 9-octet header. */
export const FRAME_HEADER_LENGTH = 9;
/** RFC 9113 §4.2 / §6.5.2: SETTINGS_MAX_FRAME_SIZE starts at 2^14 and may be raised to 2^24-1. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
export const MAX_FRAME_SIZE_LIMIT = 0xffffff;
const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024 + FRAME_HEADER_LENGTH;
/**
 * A split payload declared up to this size gets its whole buffer when its header is read. A
 * larger one (possible once SETTINGS_MAX_FRAME_SIZE is raised, up to 2^24-1) starts here and
 * doubles as bytes come, so 9 bytes of garbage cannot reserve 16 MiB before any payload exists.
 */
const PREALLOCATE_MAX = 1024 * 1024;

/** RFC 9113 §3.4: the client connection preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (24 octets). */
export const CLIENT_PREFACE: Uint8Array = new TextEncoder().encode('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const PREFACE_LENGTH = 24;

/**
 * true when head starts with the client preface; undefined while head is shorter than the
 * preface but still a prefix of it (more bytes will tell); false otherwise.
 */
export function probeClientPreface(head: Uint8Array): boolean | undefined {
  const n = Math.min(head.length, PREFACE_LENGTH);
  for (let i = 0; i < n; i++) if (head[i] !== CLIENT_PREFACE[i]) return false;
  return n === PREFACE_LENGTH ? true : undefined;
}

/** The fields of a frame's 9-octet header (RFC 9113 §4.1), and where it sits in the stream. */
export interface FrameHeader {
  type: number;
  flags: number;
  /** 31 bits; the reserved bit is ignored on receipt (§4.1). */
  streamId: number;
  /** The declared payload length (the 24-bit Length field): padding and fixed fields included. */
  length: number;
  /** Offset (in the stream fed to the reader) of the 9-byte frame header. */
  offset: number;
}

export interface Http2Frame extends FrameHeader {
  /**
   * DATA: the data; HEADERS, PUSH_PROMISE, CONTINUATION: the field block fragment — that is,
   * without Pad Length, padding (§6.1, §6.2, §6.6), HEADERS' priority fields (§6.2) and
   * PUSH_PROMISE's Promised Stream ID (§6.6). GOAWAY: the Additional Debug Data (§6.8).
   * Every other type (unknown ones included): the whole payload.
   * A view into the fed chunk when the payload lay within one feed; otherwise a copy.
   */
  payload: Uint8Array;
  /** Stream offset where `payload` starts, for byte attribution. */
  payloadOffset: number;
  /**
   * The Pad Length field's value: padding octets only, the Pad Length octet itself not counted
   * (0 when not PADDED). So a frame's framing overhead is 9 + (PADDED ? 1 : 0) + padLength
   * + fixed fields, and length = payload.length + that overhead - 9.
   */
  padLength: number;
  /** SETTINGS id/value pairs in the order sent (§6.5.1); [] for an ACK. */
  settings?: Array<[number, number]>;
  /** RST_STREAM (§6.4), GOAWAY (§6.8). */
  errorCode?: number;
  /** GOAWAY (§6.8). */
  lastStreamId?: number;
  /** WINDOW_UPDATE's Window Size Increment (§6.9), 31 bits; 0 is the peer's error, not a layout one. */
  windowIncrement?: number;
  /** PUSH_PROMISE (§6.6). */
  promisedStreamId?: number;
  /** PRIORITY (§6.3), HEADERS with the PRIORITY flag (§6.2). weight is the Weight field + 1 (1..256). */
  priority?: { exclusive: boolean; dependency: number; weight: number };
}

export type FrameEvent =
  | { kind: 'frame'; frame: Http2Frame }
  | { kind: 'preface'; offset: number }
  | {
      kind: 'malformed';
      /** 'h2-bad-preface', 'h2-frame-size', 'h2-buffer-cap', 'h2-bad-padding', 'h2-bad-settings'. */
      code: string;
      /** The frame header's offset (the preface's for 'h2-bad-preface'). */
      offset: number;
      reason: string;
      /** The header of the frame concerned (absent for 'h2-bad-preface'): a dropped HEADERS breaks HPACK state above. */
      header?: FrameHeader;
    };

export interface FrameReaderOptions {
  /** The client side of a connection starts with the 24-byte preface (RFC 9113 §3.4). */
  expectPreface: boolean;
  /** SETTINGS_MAX_FRAME_SIZE in force, default 16384 (§4.2). */
  maxFrameSize?: number;
  /**
   * Cap on the bytes buffered for one frame (header included), default 16 MiB + 9. A larger frame
   * is reported ('h2-buffer-cap') and skipped even when it happens to lie in one feed, so what is
   * read never depends on how the bytes were split.
   */
  maxBuffered?: number;
  /** Stream offset of the first byte fed, default 0. */
  offset?: number;
}

const enum State {
  PREFACE,
  HEADER,
  PAYLOAD,
  /** Stepping over a frame's payload without keeping it. */
  SKIP,
  STOPPED,
}

const PADDED = FLAGS.PADDED;
const PRIORITY_FLAG = FLAGS.PRIORITY;

/** A 31-bit field whose top bit is reserved (R) or the exclusive flag: §4.1, §5.3.2. */
function u31(b: Uint8Array, i: number): number {
  return ((b[i] & 0x7f) << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
}
function u32(b: Uint8Array, i: number): number {
  return b[i] * 0x1000000 + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
}

function clampFrameSize(n: number, fallback: number): number {
  if (typeof n !== 'number' || Number.isNaN(n)) return fallback;
  // §6.5.2: values outside 2^14..2^24-1 are the sender's error; frames legal under the default stay legal.
  return Math.min(MAX_FRAME_SIZE_LIMIT, Math.max(DEFAULT_MAX_FRAME_SIZE, Math.floor(n)));
}

export class FrameReader {
  private state: State;
  private pos: number;
  private maxFrameSize: number;
  private readonly maxBuffered: number;
  private prefaceOffset: number;
  private prefaceHave = 0;
  /** A frame header split across feeds is gathered here. */
  private readonly head = new Uint8Array(FRAME_HEADER_LENGTH);
  private headHave = 0;
  // The frame being read.
  private fType = 0;
  private fFlags = 0;
  private fStreamId = 0;
  private fLength = 0;
  private fOffset = 0;
  /** A payload split across feeds: one buffer of the declared size, filled as bytes come. */
  private buf: Uint8Array | null = null;
  private bufHave = 0;
  private skipLeft = 0;

  constructor(opts: FrameReaderOptions) {
    this.pos = typeof opts.offset === 'number' && Number.isFinite(opts.offset) ? opts.offset : 0;
    this.prefaceOffset = this.pos;
    this.state = opts.expectPreface ? State.PREFACE : State.HEADER;
    this.maxFrameSize = clampFrameSize(opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE);
    const mb = opts.maxBuffered;
    this.maxBuffered = typeof mb === 'number' && !Number.isNaN(mb) ? mb : DEFAULT_MAX_BUFFERED;
  }

  /** Next stream offset expected. */
  get offset(): number {
    return this.pos;
  }

  get stopped(): boolean {
    return this.state === State.STOPPED;
  }

  /** The peer's SETTINGS_MAX_FRAME_SIZE changed; applies from the next frame header read. */
  setMaxFrameSize(n: number): void {
    this.maxFrameSize = clampFrameSize(n, this.maxFrameSize);
  }

  /**
   * Bytes were lost at the current position. HTTP/2 has no resynchronisation marker (a frame
   * header is 9 arbitrary-looking octets), so the reader stops: later feeds only advance the
   * offset until resync() is called.
   */
  lose(length: number): void {
    if (typeof length === 'number' && Number.isFinite(length) && length > 0) this.pos += length;
    this.state = State.STOPPED;
    this.dropFrame();
  }

  /**
   * Resume: the next byte fed begins a frame header (the caller knows a boundary, or is trying
   * one). Any partial frame is dropped and no preface is expected.
   */
  resync(): void {
    this.state = State.HEADER;
    this.dropFrame();
  }

  feed(bytes: Uint8Array): FrameEvent[] {
    const out: FrameEvent[] = [];
    const n = bytes.length;
    const base = this.pos;
    let i = 0;
    // Each pass consumes at least one byte or ends the loop, so this always ends.
    while (i < n) {
      switch (this.state) {
        case State.STOPPED:
          i = n;
          break;

        case State.PREFACE: {
          // Checked byte by byte so a stream that is not HTTP/2 is rejected at its first wrong byte.
          while (i < n && this.prefaceHave < PREFACE_LENGTH) {
            const k = this.prefaceHave;
            if (bytes[i] !== CLIENT_PREFACE[k]) {
              out.push({
                kind: 'malformed',
                code: 'h2-bad-preface',
                offset: this.prefaceOffset,
                reason: `byte ${k} of the client connection preface (RFC 9113 §3.4) is 0x${hex2(bytes[i])}, not 0x${hex2(CLIENT_PREFACE[k])}`,
              });
              this.state = State.STOPPED;
              break;
            }
            this.prefaceHave++;
            i++;
          }
          if (this.state === State.PREFACE && this.prefaceHave === PREFACE_LENGTH) {
            out.push({ kind: 'preface', offset: this.prefaceOffset });
            // §3.4: the preface is followed by a SETTINGS frame; any frame is read as such.
            this.state = State.HEADER;
          }
          break;
        }

        case State.HEADER: {
          let h: Uint8Array;
          let hi: number;
          if (this.headHave === 0 && n - i >= FRAME_HEADER_LENGTH) {
            h = bytes;
            hi = i;
            this.fOffset = base + i;
            i += FRAME_HEADER_LENGTH;
          } else {
            if (this.headHave === 0) this.fOffset = base + i;
            // At most 9 bytes: a byte loop, no subarray to allocate.
            const head = this.head;
            let k = this.headHave;
            while (k < FRAME_HEADER_LENGTH && i < n) head[k++] = bytes[i++];
            this.headHave = k;
            if (k < FRAME_HEADER_LENGTH) break;
            this.headHave = 0;
            h = this.head;
            hi = 0;
          }
          // §4.1: Length (24) | Type (8) | Flags (8) | R (1) | Stream Identifier (31).
          const length = (h[hi] << 16) | (h[hi + 1] << 8) | h[hi + 2];
          this.fLength = length;
          this.fType = h[hi + 3];
          this.fFlags = h[hi + 4];
          this.fStreamId = u31(h, hi + 5);
          if (length > this.maxFrameSize) {
            // §4.2: larger than SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR; the Length still says where the next frame is.
            out.push(this.malformed('h2-frame-size', `frame length ${length} exceeds SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize} (RFC 9113 §4.2); skipped`));
            this.skipLeft = length;
            this.state = State.SKIP;
          } else if (length > 0 && FRAME_HEADER_LENGTH + length > this.maxBuffered) {
            out.push(this.malformed('h2-buffer-cap', `frame of ${FRAME_HEADER_LENGTH + length} bytes exceeds the buffering cap of ${this.maxBuffered}; skipped`));
            this.skipLeft = length;
            this.state = State.SKIP;
          } else if (length === 0) {
            out.push(this.decode(bytes.subarray(i, i)));
          } else {
            this.bufHave = 0;
            this.state = State.PAYLOAD;
          }
          break;
        }

        case State.PAYLOAD: {
          const need = this.fLength - this.bufHave;
          if (this.buf === null && n - i >= need) {
            // The whole payload is in this chunk: hand out a view, no copy.
            const p = bytes.subarray(i, i + need);
            i += need;
            this.state = State.HEADER;
            out.push(this.decode(p));
            break;
          }
          // Spans feeds: one buffer of the declared size, filled as bytes come.
          const take = Math.min(need, n - i);
          if (this.buf === null) this.buf = new Uint8Array(this.fLength <= PREALLOCATE_MAX ? this.fLength : Math.max(PREALLOCATE_MAX, take));
          else if (this.bufHave + take > this.buf.length) this.grow(this.bufHave + take);
          if (take > 32) this.buf.set(bytes.subarray(i, i + take), this.bufHave);
          else for (let k = 0; k < take; k++) this.buf[this.bufHave + k] = bytes[i + k];
          this.bufHave += take;
          i += take;
          if (this.bufHave === this.fLength) {
            const p = this.buf.length === this.fLength ? this.buf : this.buf.subarray(0, this.fLength);
            this.buf = null;
            this.bufHave = 0;
            this.state = State.HEADER;
            out.push(this.decode(p));
          }
          break;
        }

        case State.SKIP: {
          const take = Math.min(this.skipLeft, n - i);
          this.skipLeft -= take;
          i += take;
          if (this.skipLeft === 0) this.state = State.HEADER;
          break;
        }
      }
    }
    this.pos = base + n;
    return out;
  }

  /** Doubles the buffer of a large payload (capped at its declared length) to hold at least `need` bytes. */
  private grow(need: number): void {
    const old = this.buf!;
    const next = new Uint8Array(Math.min(this.fLength, Math.max(need, old.length * 2)));
    next.set(old.subarray(0, this.bufHave));
    this.buf = next;
  }

  private dropFrame(): void {
    this.headHave = 0;
    this.buf = null;
    this.bufHave = 0;
    this.skipLeft = 0;
  }

  private header(): FrameHeader {
    return { type: this.fType, flags: this.fFlags, streamId: this.fStreamId, length: this.fLength, offset: this.fOffset };
  }

  private malformed(code: string, reason: string): FrameEvent {
    return { kind: 'malformed', code, offset: this.fOffset, reason, header: this.header() };
  }

  /** Checks the layout of the frame just read (p: its whole payload) and decodes its fields. */
  private decode(p: Uint8Array): FrameEvent {
    const type = this.fType;
    const flags = this.fFlags;
    const length = this.fLength;
    const name = TYPE_NAMES[type] ?? `type 0x${hex2(type)}`;
    const frame: Http2Frame = {
      type,
      flags,
      streamId: this.fStreamId,
      length,
      offset: this.fOffset,
      payload: p,
      payloadOffset: this.fOffset + FRAME_HEADER_LENGTH,
      padLength: 0,
    };
    switch (type) {
      case FRAME_TYPES.DATA:
      case FRAME_TYPES.HEADERS:
      case FRAME_TYPES.PUSH_PROMISE: {
        // §6.1, §6.2, §6.6: [Pad Length (8)] fixed fields, fragment/data, Padding.
        let start = 0;
        if (flags & PADDED) {
          if (length < 1) return this.malformed('h2-frame-size', `${name} is PADDED but has no room for Pad Length (RFC 9113 §6.1)`);
          frame.padLength = p[0];
          start = 1;
        }
        const fixed = type === FRAME_TYPES.PUSH_PROMISE ? 4 : type === FRAME_TYPES.HEADERS && flags & PRIORITY_FLAG ? 5 : 0;
        if (length - start < fixed) {
          return this.malformed('h2-frame-size', `${name} of length ${length} is too short for its ${fixed}-byte ${type === FRAME_TYPES.PUSH_PROMISE ? 'Promised Stream ID' : 'priority fields'} (RFC 9113 §4.2)`);
        }
        // §6.1: "If the length of the padding is the length of the frame payload or greater" it is an error;
        // §6.2/§6.6 count the fixed fields too: padding may not eat into them.
        if (frame.padLength > length - start - fixed) {
          return this.malformed('h2-bad-padding', `${name} Pad Length ${frame.padLength} leaves no room in a ${length}-byte payload (RFC 9113 §6.1)`);
        }
        if (fixed === 4) frame.promisedStreamId = u31(p, start);
        else if (fixed === 5) frame.priority = priorityAt(p, start);
        // Padding octets "MUST be set to zero when sending"; a receiver MAY object (§6.1). Not checked: lenient.
        frame.payload = p.subarray(start + fixed, length - frame.padLength);
        frame.payloadOffset += start + fixed;
        break;
      }
      case FRAME_TYPES.PRIORITY:
        if (length !== 5) return this.malformed('h2-frame-size', `PRIORITY of length ${length}, not 5 (RFC 9113 §6.3)`);
        frame.priority = priorityAt(p, 0);
        break;
      case FRAME_TYPES.RST_STREAM:
        if (length !== 4) return this.malformed('h2-frame-size', `RST_STREAM of length ${length}, not 4 (RFC 9113 §6.4)`);
        frame.errorCode = u32(p, 0);
        break;
      case FRAME_TYPES.SETTINGS: {
        // §6.5: an ACK has an empty payload; otherwise the payload is 6-octet (16-bit id, 32-bit value) entries.
        if (flags & FLAGS.ACK) {
          if (length !== 0) return this.malformed('h2-bad-settings', `SETTINGS ACK with a ${length}-byte payload, not empty (RFC 9113 §6.5)`);
          frame.settings = [];
          break;
        }
        if (length % 6 !== 0) return this.malformed('h2-bad-settings', `SETTINGS length ${length} is not a multiple of 6 (RFC 9113 §6.5)`);
        const settings: Array<[number, number]> = [];
        for (let k = 0; k < length; k += 6) settings.push([(p[k] << 8) | p[k + 1], u32(p, k + 2)]);
        frame.settings = settings;
        break;
      }
      case FRAME_TYPES.PING:
        if (length !== 8) return this.malformed('h2-frame-size', `PING of length ${length}, not 8 (RFC 9113 §6.7)`);
        break;
      case FRAME_TYPES.GOAWAY:
        // §6.8: R | Last-Stream-ID (31), Error Code (32), Additional Debug Data.
        if (length < 8) return this.malformed('h2-frame-size', `GOAWAY of length ${length}, under 8 (RFC 9113 §6.8)`);
        frame.lastStreamId = u31(p, 0);
        frame.errorCode = u32(p, 4);
        frame.payload = p.subarray(8);
        frame.payloadOffset += 8;
        break;
      case FRAME_TYPES.WINDOW_UPDATE:
        if (length !== 4) return this.malformed('h2-frame-size', `WINDOW_UPDATE of length ${length}, not 4 (RFC 9113 §6.9)`);
        frame.windowIncrement = u31(p, 0);
        break;
      default:
        // CONTINUATION's payload is all fragment (§6.10); unknown types are passed on raw,
        // to be ignored above (§4.1, §5.5).
        break;
    }
    return { kind: 'frame', frame };
  }
}

/** §5.3.2 / §6.3: E (1) | Stream Dependency (31) | Weight (8), weight sent as value - 1. */
function priorityAt(p: Uint8Array, i: number): { exclusive: boolean; dependency: number; weight: number } {
  return { exclusive: (p[i] & 0x80) !== 0, dependency: u31(p, i), weight: p[i + 4] + 1 };
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(FRAME_TYPES).map(([k, v]) => [v, k]));

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}
