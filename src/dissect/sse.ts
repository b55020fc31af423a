import type { AnomalyCode } from '../anomalies.js';
import { LIMITS } from '../limits.js';

/** An event as the WHATWG EventSource algorithm dispatches it, with where it lay in the body. */
export interface ParsedSseEvent {
  event: string;
  data: string;
  id?: string;
  retry?: number;
  /** Body offset just past the blank line that dispatched it. */
  end: number;
  /** Bytes of data field values: the payload, without field names and line ends. */
  dataBytes: number;
  /** The data was longer than LIMITS.sseEventData: `data` holds its beginning only (dataBytes counts it all). */
  dataCut?: boolean;
}

/**
 * A block of fields that a blank line ended with no data: no event is dispatched, yet its
 * `retry` set the reconnection time and its `id` the last event ID of the EventSource.
 */
export interface ParsedSseFields {
  event?: string;
  id?: string;
  retry?: number;
  /** Body offset just past the blank line that ended it. */
  end: number;
}

export interface SseHandlers {
  event(e: ParsedSseEvent): void;
  fields(f: ParsedSseFields): void;
  comment(text: string, end: number): void;
  warning(code: AnomalyCode, message: string, offset: number): void;
}

const utf8 = new TextDecoder('utf-8');
const MAX_LINE = LIMITS.sseLine;
const MAX_DATA = LIMITS.sseEventData;
const BOM = [0xef, 0xbb, 0xbf];
/** Bytes of a line searched for its end byte by byte before the native search takes over. */
const SHORT_LINE = 128;

/** Field names by their bytes: most lines are data lines, and need no decoding to be told. */
const enum Field {
  DATA,
  EVENT,
  ID,
  RETRY,
  OTHER,
}

function fieldOf(b: Uint8Array, o: number, length: number): Field {
  switch (length) {
    case 4:
      return b[o] === 0x64 && b[o + 1] === 0x61 && b[o + 2] === 0x74 && b[o + 3] === 0x61 ? Field.DATA : Field.OTHER;
    case 5:
      if (b[o] === 0x65 && b[o + 1] === 0x76 && b[o + 2] === 0x65 && b[o + 3] === 0x6e && b[o + 4] === 0x74) return Field.EVENT;
      return b[o] === 0x72 && b[o + 1] === 0x65 && b[o + 2] === 0x74 && b[o + 3] === 0x72 && b[o + 4] === 0x79 ? Field.RETRY : Field.OTHER;
    case 2:
      return b[o] === 0x69 && b[o + 1] === 0x64 ? Field.ID : Field.OTHER;
    default:
      return Field.OTHER;
  }
}

/** Where to cut bytes to at most n without splitting a UTF-8 character. */
function utf8Cut(b: Uint8Array, n: number): number {
  if (n >= b.length) return b.length;
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--;
  return n;
}

/**
 * The field grammar of WHATWG HTML §9.2.6 ("Interpreting an event stream") over bytes, so
 * that every event keeps its byte position: lines end at CRLF, LF or CR; a leading BOM is
 * dropped; `data` lines join with LF; `id` with a NUL is ignored; `retry` takes digits
 * only; a line starting with a colon is a comment; a blank line dispatches.
 * Fields are decoded as UTF-8 only once a line is whole, so multi-byte characters may be
 * split anywhere. What it holds is bounded whatever the stream: one line of at most
 * LIMITS.sseLine bytes, and of an event's data at most LIMITS.sseEventData bytes (the rest is
 * counted in dataBytes, and the event marked dataCut) however many lines no blank line ends.
 */
export class SseParser {
  /** The start of a line that has not ended yet, copied out of earlier chunks. */
  private parts: Uint8Array[] = [];
  private partLength = 0;
  private lineTooLong = false;
  private lastWasCR = false;
  private bomChecked = 0;
  /** The event's data lines as kept, to be joined with LF; dataLines counts them all. */
  private data: string[] = [];
  private dataLines = 0;
  /** Bytes kept of the data: values and the LFs that join them. */
  private dataKept = 0;
  private dataCut = false;
  private dataBytes = 0;
  private eventType = '';
  private id: string | undefined;
  private retry: number | undefined;
  private unknownWarned = false;
  /** A field line was read since the last blank line: an event's block is open. */
  private fieldSeen = false;

  /**
   * `text`: whether data, and comments, are decoded to text. Without it (only figures are
   * wanted) events carry empty data and comments empty text, and every count is the same.
   */
  constructor(private readonly h: SseHandlers, private readonly text = true) {}

  /** Feeds body bytes starting at body offset `offset`. */
  feed(b: Uint8Array, offset: number): void {
    let i = 0;
    while (this.bomChecked < 3 && i < b.length) {
      // "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are present."
      if (b[i] === BOM[this.bomChecked] && this.partLength === this.bomChecked) {
        this.bomChecked++;
        i++;
        if (this.bomChecked === 3) this.dropPartial();
        else this.appendPartial(b.subarray(i - 1, i));
        continue;
      }
      this.bomChecked = 3;
    }
    let nextLf = -2;
    let nextCr = -2;
    while (i < b.length) {
      if (this.lastWasCR) {
        this.lastWasCR = false;
        if (b[i] === 0x0a) {
          i++; // the LF of a CRLF pair: the line already ended at CR
          continue;
        }
      }
      // The next line end: most lines are short, and a loop finds their end sooner than a
      // call into C++ would; past SHORT_LINE bytes, the native indexOf, each kind's position
      // kept until passed (so a long stretch without CR is searched once, not per line).
      let j = i;
      const stop = Math.min(b.length, i + SHORT_LINE);
      for (let c = 0; j < stop && (c = b[j]) !== 0x0a && c !== 0x0d; ) j++;
      if (j === stop && stop < b.length) {
        if (nextLf !== -1 && nextLf < j) nextLf = b.indexOf(0x0a, j);
        if (nextCr !== -1 && nextCr < j) nextCr = b.indexOf(0x0d, j);
        j = nextLf === -1 ? (nextCr === -1 ? b.length : nextCr) : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      }
      if (j === b.length) {
        this.appendPartial(b.subarray(i), offset + i);
        return;
      }
      if (b[j] === 0x0d) this.lastWasCR = true;
      if (this.partLength > 0) {
        // A line begun in an earlier chunk: gathered into one buffer first (rare on the wire).
        this.appendPartial(b.subarray(i, j), offset + i);
        const line = this.takePartial();
        this.endLine(line, 0, line.length, offset + j + 1);
      } else this.endLine(b, i, j, offset + j + 1);
      i = j + 1;
    }
  }

  /** Keeps the start of an unfinished line; `at` is the body offset of b[0], for a warning. */
  private appendPartial(b: Uint8Array, at = 0): void {
    const room = MAX_LINE - this.partLength;
    if (b.length > room && !this.lineTooLong) {
      this.lineTooLong = true;
      this.h.warning('sse-line-too-long', `SSE line longer than ${MAX_LINE} bytes: cut`, at + room);
    }
    const take = Math.min(room, b.length);
    if (take > 0) {
      this.parts.push(b.slice(0, take));
      this.partLength += take;
    }
  }

  private takePartial(): Uint8Array {
    const out = new Uint8Array(this.partLength);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    this.dropPartial();
    return out;
  }

  private dropPartial(): void {
    this.parts = [];
    this.partLength = 0;
  }

  /** Drops a half-read line and event, after bytes were lost. */
  reset(): void {
    this.dropPartial();
    this.lastWasCR = false;
    this.fieldSeen = false;
    this.clearData();
    this.eventType = '';
    this.id = undefined;
    this.retry = undefined;
  }

  /**
   * Bytes of an event the stream has not finished: data lines no blank line has dispatched
   * yet, and the start of an unended line. At the end of the stream they are no event: "If the
   * file ends in the middle of an event, before the final empty line, the incomplete event is
   * not dispatched."
   */
  get pending(): { dataBytes: number; lineBytes: number } {
    return { dataBytes: this.dataLines > 0 ? this.dataBytes : 0, lineBytes: this.partLength };
  }

  /** Whether a field line came since the last blank line: a comment now lies inside a block. */
  get blockOpen(): boolean {
    return this.fieldSeen;
  }

  private clearData(): void {
    this.data = [];
    this.dataLines = 0;
    this.dataKept = 0;
    this.dataCut = false;
    this.dataBytes = 0;
  }

  /** A data field's value, b[from, to). */
  private addData(b: Uint8Array, from: number, to: number, end: number): void {
    const length = to - from;
    this.dataBytes += length;
    // "If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove
    // the last character": the lines are joined with LF, which counts against the cap too.
    const sep = this.dataLines > 0 ? 1 : 0;
    this.dataLines++;
    if (this.dataCut) return;
    const room = MAX_DATA - this.dataKept - sep;
    let take = length;
    if (take > room) {
      this.dataCut = true;
      this.h.warning('sse-data-too-long', `SSE event data longer than ${MAX_DATA} bytes: the rest of this event is counted, not kept`, end);
      if (room < 0) return;
      take = utf8Cut(b.subarray(from, to), room);
    }
    this.dataKept += sep + take;
    // Decoded only when the text will be shown: counting needs the byte lengths alone.
    if (this.text) this.data.push(take === 0 ? '' : utf8.decode(b.subarray(from, from + take)));
  }

  /**
   * One line, b[from, to), ended at body offset `end`. Lines are read in place in the chunk
   * that holds them: most are data lines, told by their bytes, and only values that will be
   * shown are decoded.
   */
  private endLine(b: Uint8Array, from: number, to: number, end: number): void {
    this.lineTooLong = false;
    if (from === to) return this.dispatch(end);
    if (b[from] === 0x3a) {
      const text = this.text ? utf8.decode(b.subarray(from + (b[from + 1] === 0x20 && from + 1 < to ? 2 : 1), to)) : '';
      this.h.comment(text, end);
      return;
    }
    this.fieldSeen = true;
    let colon = from;
    while (colon < to && b[colon] !== 0x3a) colon++;
    const nameLength = colon - from;
    let valueFrom = to;
    if (colon < to) {
      valueFrom = colon + 1;
      if (valueFrom < to && b[valueFrom] === 0x20) valueFrom++;
    }
    switch (fieldOf(b, from, nameLength)) {
      case Field.DATA:
        this.addData(b, valueFrom, to, end);
        break;
      case Field.EVENT:
        this.eventType = utf8.decode(b.subarray(valueFrom, to));
        break;
      case Field.ID: {
        const v = utf8.decode(b.subarray(valueFrom, to));
        if (!v.includes('\u0000')) this.id = v;
        break;
      }
      case Field.RETRY: {
        const v = utf8.decode(b.subarray(valueFrom, to));
        if (/^[0-9]+$/.test(v)) this.retry = parseInt(v, 10);
        else this.h.warning('sse-bad-field', `invalid SSE retry value ${JSON.stringify(v.slice(0, 40))}: ignored`, end);
        break;
      }
      case Field.OTHER:
        if (!this.unknownWarned) {
          this.unknownWarned = true;
          const field = utf8.decode(b.subarray(from, from + Math.min(nameLength, 160)));
          this.h.warning('sse-bad-field', `unknown SSE field ${JSON.stringify(field.slice(0, 40))}: ignored`, end);
        }
    }
  }

  private dispatch(end: number): void {
    const block = this.fieldSeen;
    this.fieldSeen = false;
    // "If the data buffer is an empty string, set the data buffer and the event type buffer
    // to the empty string and return." The id and retry of such a block took effect on the
    // EventSource: the block is reported on its own (issue 13.3), and an event's id and retry
    // are those of its own block.
    if (this.dataLines === 0) {
      if (block) {
        const f: ParsedSseFields = { end };
        if (this.eventType !== '') f.event = this.eventType;
        if (this.id !== undefined) f.id = this.id;
        if (this.retry !== undefined) f.retry = this.retry;
        this.h.fields(f);
      }
      this.eventType = '';
      this.id = undefined;
      this.retry = undefined;
      return;
    }
    const e: ParsedSseEvent = { event: this.eventType || 'message', data: this.data.length === 1 ? this.data[0] : this.data.join('\n'), end, dataBytes: this.dataBytes };
    if (this.id !== undefined) e.id = this.id;
    if (this.retry !== undefined) e.retry = this.retry;
    if (this.dataCut) e.dataCut = true;
    this.clearData();
    this.eventType = '';
    this.id = undefined;
    this.retry = undefined;
    this.h.event(e);
  }
}
