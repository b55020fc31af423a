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
  private line: number[] = [];
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
      if (b[i] === BOM[this.bomChecked] && this.line.length === this.bomChecked) {
        this.bomChecked++;
        i++;
        if (this.bomChecked === 3) this.line = [];
        else this.line.push(b[i - 1]);
        continue;
      }
      this.bomChecked = 3;
    }
    for (; i < b.length; i++) {
      const c = b[i];
      if (c === 0x0a) {
        if (this.lastWasCR) {
          this.lastWasCR = false; // the LF of a CRLF pair: the line already ended at CR
          continue;
        }
        this.endLine(offset + i + 1);
      } else if (c === 0x0d) {
        this.lastWasCR = true;
        this.endLine(offset + i + 1);
      } else {
        this.lastWasCR = false;
        if (this.line.length < MAX_LINE) this.line.push(c);
        else if (!this.lineTooLong) {
          this.lineTooLong = true;
          this.h.warning(`SSE line longer than ${MAX_LINE} bytes: cut`, offset + i);
        }
      }
    }
  }

  /** Drops a half-read line and event, after bytes were lost. */
  reset(): void {
    this.line = [];
    this.lastWasCR = false;
    this.data = [];
    this.dataBytes = 0;
    this.eventType = '';
    this.id = undefined;
    this.retry = undefined;
  }

  private endLine(end: number): void {
    const line = Uint8Array.from(this.line);
    this.line = [];
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
