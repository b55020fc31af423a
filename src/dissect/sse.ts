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
}

export interface SseHandlers {
  event(e: ParsedSseEvent): void;
  comment(text: string, end: number): void;
  warning(message: string, offset: number): void;
}

const utf8 = new TextDecoder('utf-8');
const MAX_LINE = 1024 * 1024;
const BOM = [0xef, 0xbb, 0xbf];

/**
 * The field grammar of WHATWG HTML §9.2.6 ("Interpreting an event stream") over bytes, so
 * that every event keeps its byte position: lines end at CRLF, LF or CR; a leading BOM is
 * dropped; `data` lines join with LF; `id` with a NUL is ignored; `retry` takes digits
 * only; a line starting with a colon is a comment; a blank line dispatches.
 * Fields are decoded as UTF-8 only once a line is whole, so multi-byte characters may be
 * split anywhere.
 */
export class SseParser {
  /** The start of a line that has not ended yet, copied out of earlier chunks. */
  private parts: Uint8Array[] = [];
  private partLength = 0;
  private lineTooLong = false;
  private lastWasCR = false;
  private bomChecked = 0;
  private data: string[] = [];
  private dataBytes = 0;
  private eventType = '';
  private id: string | undefined;
  private retry: number | undefined;
  private unknownWarned = false;

  constructor(private readonly h: SseHandlers) {}

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
      // The next line end by the native indexOf, each kind's position kept until passed.
      if (nextLf !== -1 && nextLf < i) nextLf = b.indexOf(0x0a, i);
      if (nextCr !== -1 && nextCr < i) nextCr = b.indexOf(0x0d, i);
      const j = nextLf === -1 ? (nextCr === -1 ? b.length : nextCr) : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      if (j === b.length) {
        this.appendPartial(b.subarray(i), offset + i);
        return;
      }
      let line = b.subarray(i, j);
      if (this.partLength > 0) {
        this.appendPartial(line, offset + i);
        line = this.takePartial();
      }
      if (b[j] === 0x0d) this.lastWasCR = true;
      this.endLine(line, offset + j + 1);
      i = j + 1;
    }
  }

  /** Keeps the start of an unfinished line; `at` is the body offset of b[0], for a warning. */
  private appendPartial(b: Uint8Array, at = 0): void {
    const room = MAX_LINE - this.partLength;
    if (b.length > room && !this.lineTooLong) {
      this.lineTooLong = true;
      this.h.warning(`SSE line longer than ${MAX_LINE} bytes: cut`, at + room);
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
    this.data = [];
    this.dataBytes = 0;
    this.eventType = '';
    this.id = undefined;
    this.retry = undefined;
  }

  private endLine(line: Uint8Array, end: number): void {
    this.lineTooLong = false;
    if (line.length === 0) return this.dispatch(end);
    if (line[0] === 0x3a) {
      const text = utf8.decode(line.subarray(line[1] === 0x20 ? 2 : 1));
      this.h.comment(text, end);
      return;
    }
    let colon = line.indexOf(0x3a);
    let field: string;
    let value: Uint8Array;
    if (colon < 0) {
      field = utf8.decode(line);
      value = line.subarray(line.length);
    } else {
      field = utf8.decode(line.subarray(0, colon));
      colon++;
      if (line[colon] === 0x20) colon++;
      value = line.subarray(colon);
    }
    switch (field) {
      case 'event':
        this.eventType = utf8.decode(value);
        break;
      case 'data':
        this.data.push(utf8.decode(value));
        this.dataBytes += value.length;
        break;
      case 'id': {
        const v = utf8.decode(value);
        if (!v.includes('\u0000')) this.id = v;
        break;
      }
      case 'retry': {
        const v = utf8.decode(value);
        if (/^[0-9]+$/.test(v)) this.retry = parseInt(v, 10);
        else this.h.warning(`invalid SSE retry value ${JSON.stringify(v.slice(0, 40))}: ignored`, end);
        break;
      }
      default:
        if (!this.unknownWarned) {
          this.unknownWarned = true;
          this.h.warning(`unknown SSE field ${JSON.stringify(field.slice(0, 40))}: ignored`, end);
        }
    }
  }

  private dispatch(end: number): void {
    // "If the data buffer is an empty string, set the data buffer and the event type buffer
    // to the empty string and return." The id and retry of such a block took effect on the
    // EventSource, but sockstat reports an event's id and retry only from its own block.
    if (this.data.length === 0) {
      this.eventType = '';
      this.id = undefined;
      this.retry = undefined;
      return;
    }
    const e: ParsedSseEvent = { event: this.eventType || 'message', data: this.data.join('\n'), end, dataBytes: this.dataBytes };
    if (this.id !== undefined) e.id = this.id;
    if (this.retry !== undefined) e.retry = this.retry;
    this.data = [];
    this.dataBytes = 0;
    this.eventType = '';
    this.id = undefined;
    this.retry = undefined;
    this.h.event(e);
  }
}
