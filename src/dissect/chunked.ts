import { LIMITS } from '../limits.js';
import { ascii } from './bytes.js';

/** Receives what a chunked body carries; offsets are stream offsets. */
export interface ChunkedHandlers {
  /** Chunk data: body bytes, in order. `bytes` is a view, valid only during the call. */
  data(bytes: Uint8Array, offset: number): void;
  /** The CRLF after a chunk's data has been read; `offset` is just past it. */
  chunkEnd(offset: number): void;
  /** The last chunk and the trailer section are read; `offset` is just past them. */
  done(offset: number): void;
  /** The framing is broken at `offset`: the body cannot be followed any further. */
  error(message: string, offset: number): void;
}

const enum State {
  SIZE_LINE,
  DATA,
  DATA_CRLF,
  TRAILER,
  DONE,
  BROKEN,
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** A chunk-size line longer than this is not one. */
const MAX_LINE = LIMITS.chunkLine;
/**
 * Extensions and trailer fields kept for display, and characters kept of each: nothing reads
 * more, and a body of a million one-byte chunks with extensions must not keep them all. The
 * rest are counted (extensionCount, trailerCount) and their bytes counted as framing.
 */
const KEPT_FIELDS = 16;
const KEPT_FIELD_CHARS = 256;

/**
 * The chunked transfer coding of RFC 9112 §7.1 as a state machine fed arbitrary pieces:
 * chunk-size [; extensions] CRLF, chunk-data CRLF, ..., 0 CRLF, trailer fields, CRLF.
 * Bare LF line ends are accepted, as every browser does. What it holds is bounded whatever
 * the body: one line of at most MAX_LINE bytes, and the first few extensions and trailers.
 */
export class ChunkedDecoder {
  private state = State.SIZE_LINE;
  /** The line being read when it is not the usual "hex CRLF" in one piece; allocated on first use. */
  private line: Uint8Array | null = null;
  /** Bytes of the line so far (a trailer line may be longer than what is kept of it). */
  private lineLength = 0;
  private lineKept = 0;
  private lineLast = -1;
  private chunkSize = 0;
  private remaining = 0;
  private crlfSeen = 0;
  /** Bytes of framing (size lines, CRLFs, trailers) read so far. */
  framing = 0;
  /** Bytes of chunk data read so far. */
  bodyLength = 0;
  /** The first extensions and trailer lines, as text (each cut to a few hundred characters), for display. */
  readonly extensions: string[] = [];
  readonly trailers: string[] = [];
  /** How many there were in all. */
  extensionCount = 0;
  trailerCount = 0;

  constructor(private readonly h: ChunkedHandlers) {}

  /** True while inside chunk data (a gap there loses data but not the framing). */
  get inData(): number {
    return this.state === State.DATA ? this.remaining : 0;
  }

  /** Accounts for `n` bytes of chunk data that were never captured. */
  skipData(n: number): void {
    this.remaining -= n;
    this.bodyLength += n;
    if (this.remaining === 0) this.state = State.DATA_CRLF;
  }

  /**
   * Feeds bytes at stream offset `offset`; returns how many it consumed: all of them, or up to
   * the end of the body, or up to where the framing broke (the caller resynchronises there).
   */
  feed(b: Uint8Array, offset: number): number {
    let i = 0;
    while (i < b.length) {
      switch (this.state) {
        case State.SIZE_LINE:
        case State.TRAILER: {
          if (this.state === State.SIZE_LINE && this.lineLength === 0) {
            // The usual size line, hex digits then CRLF, read in place; anything else
            // (extensions, a line split across chunks, junk) takes the general path below.
            let j = i;
            let size = 0;
            while (j < b.length && j - i < 13 && hexValue(b[j]) >= 0) size = size * 16 + hexValue(b[j++]);
            if (j > i && j + 1 < b.length && b[j] === 0x0d && b[j + 1] === 0x0a) {
              this.framing += j + 2 - i;
              i = j + 2;
              this.chunkSize = size;
              if (size === 0) this.state = State.TRAILER;
              else {
                this.remaining = size;
                this.state = State.DATA;
              }
              continue;
            }
          }
          // The general path: the line up to its LF, found by the native indexOf and copied
          // (as far as it is kept) into the line buffer.
          const lf = b.indexOf(0x0a, i);
          const end = lf < 0 ? b.length : lf;
          const n = end - i;
          if (this.state === State.SIZE_LINE && this.lineLength + n > MAX_LINE) {
            const take = MAX_LINE - this.lineLength;
            this.framing += take + 1;
            return this.fail(`chunk-size line longer than ${MAX_LINE} bytes`, offset, i + take + 1);
          }
          if (n > 0) {
            this.line ??= new Uint8Array(MAX_LINE);
            const take = Math.min(n, MAX_LINE - this.lineKept);
            this.line.set(b.subarray(i, i + take), this.lineKept);
            this.lineKept += take;
            this.lineLength += n;
            this.lineLast = b[end - 1];
          }
          this.framing += n;
          i = end;
          if (lf < 0) continue;
          i++;
          this.framing++;
          // A CR before the LF is the line end's, not the line's.
          const cr = this.lineLength > 0 && this.lineLast === 0x0d ? 1 : 0;
          const length = this.lineLength - cr;
          const kept = Math.min(this.lineKept, length);
          this.lineLength = this.lineKept = 0;
          this.lineLast = -1;
          if (this.state === State.TRAILER) {
            if (length === 0) {
              this.state = State.DONE;
              this.h.done(offset + i);
              return i;
            }
            this.trailerCount++;
            if (this.trailers.length < KEPT_FIELDS) this.trailers.push(ascii(this.line!.subarray(0, Math.min(kept, KEPT_FIELD_CHARS))));
            continue;
          }
          const text = length === 0 ? '' : ascii(this.line!.subarray(0, kept));
          const m = /^([0-9A-Fa-f]+)[ \t]*(;.*)?$/.exec(text);
          if (!m || m[1].length > 13) return this.fail(`invalid chunk size ${JSON.stringify(text.slice(0, 40))}`, offset, i);
          if (m[2]) {
            this.extensionCount++;
            if (this.extensions.length < KEPT_FIELDS) this.extensions.push(m[2].slice(1).trim().slice(0, KEPT_FIELD_CHARS));
          }
          this.chunkSize = parseInt(m[1], 16);
          if (this.chunkSize === 0) this.state = State.TRAILER;
          else {
            this.remaining = this.chunkSize;
            this.state = State.DATA;
          }
          continue;
        }
        case State.DATA: {
          const n = Math.min(this.remaining, b.length - i);
          this.h.data(b.subarray(i, i + n), offset + i);
          this.remaining -= n;
          this.bodyLength += n;
          i += n;
          if (this.remaining === 0) {
            this.state = State.DATA_CRLF;
            this.crlfSeen = 0;
          }
          continue;
        }
        case State.DATA_CRLF: {
          const c = b[i];
          if (c === 0x0d && this.crlfSeen === 0) {
            i++;
            this.framing++;
            this.crlfSeen = 1;
            continue;
          }
          if (c === 0x0a) {
            i++;
            this.framing++;
            this.state = State.SIZE_LINE;
            this.h.chunkEnd(offset + i);
            continue;
          }
          return this.fail('chunk data is not followed by CRLF', offset, i);
        }
        case State.DONE:
        case State.BROKEN:
          return i;
      }
    }
    return i;
  }

  private fail(message: string, offset: number, consumed: number): number {
    this.state = State.BROKEN;
    this.h.error(message, offset + consumed);
    return consumed;
  }
}
