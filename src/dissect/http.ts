import * as zlib from 'node:zlib';
import { LIMITS } from '../limits.js';
import type { Dir, StreamChunk } from '../reassembly/types.js';
import { ascii, ByteKeeper, copyBytes, textOrHex } from './bytes.js';
import { ChunkedDecoder } from './chunked.js';
import { combinedValue, contentCodings, contentLength, headerValue, listMembers, mediaType } from './headers.js';
import type { ChildStream, DissectContext, Dissector, DissectorSpec, HeaderList, HttpRequest, HttpResponse } from './types.js';


const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
const MAX_HEAD = LIMITS.httpHead;
/** Client bytes held while an Upgrade request waits for its answer. */
const MAX_UPGRADE_HOLD = LIMITS.upgradeHold;
/** Held chunks kept apart (each with its frame); past this many, more are appended to the last. */
const MAX_HELD_CHUNKS = 4096;
/** "HTTP/", where a status line starts. */
const HTTP_SLASH = [0x48, 0x54, 0x54, 0x50, 0x2f];
/** Node has zstd from 22.15 and 23.8 on; where it has not, zstd bodies are shown as sent. */
const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array, o: { maxOutputLength: number }) => Buffer }).zstdDecompressSync;

/**
 * Fields this dissector adds to messages beyond types.ts (which it may not change): set only
 * on the messages they concern, so other messages' JSON is as it was.
 */
interface DecodedBody {
  /** Bytes of the body once its content codings were undone (set only when they were). */
  bodyDecodedLength?: number;
  /** Why a body with content codings is shown as sent (set only then). */
  bodyNotDecoded?: string;
}

type Mode = 'head' | 'length' | 'chunked' | 'close' | 'upgrade-wait' | 'skip' | 'done';

interface Head {
  startLine: string;
  headers: HeaderList;
}

interface PendingRequest {
  method: string;
  upgrade: boolean;
  /** Kept for an Upgrade only (the WebSocket dissector reads them); [] otherwise. */
  headers: HeaderList;
}

/** A request that was a message but is not kept (past LIMITS.unansweredRequests): its response answers it. */
const UNKNOWN_REQUEST: PendingRequest = { method: '', upgrade: false, headers: [] };
/**
 * A request that was never a message (its bytes lost in a gap, or its head skipped): its
 * response still pairs with it here, and answers none of the requests that were messages.
 */
const LOST_REQUEST: PendingRequest = { method: '', upgrade: false, headers: [] };

/**
 * Requests waiting for their responses, in order (responses pair with them in order: RFC 9112
 * §9.3.2). At most LIMITS.unansweredRequests are kept; later ones are only counted, and their
 * responses pair with an unknown request. Taken from the front in O(1): an index, not shift().
 */
class RequestQueue {
  private items: PendingRequest[] = [];
  private head = 0;
  /** Requests counted, not kept: all after the kept ones. */
  private uncounted = 0;

  /** Queues a request; false when it is only counted (the queue is full). */
  push(r: PendingRequest): boolean {
    if (this.uncounted > 0 || this.items.length - this.head >= LIMITS.unansweredRequests) {
      this.uncounted++;
      return false;
    }
    this.items.push(r);
    return true;
  }

  /** The oldest waiting request, left in place (a 1xx answer does not complete it). */
  peek(): PendingRequest | undefined {
    return this.head < this.items.length ? this.items[this.head] : this.uncounted > 0 ? UNKNOWN_REQUEST : undefined;
  }

  shift(): PendingRequest | undefined {
    if (this.head < this.items.length) {
      const r = this.items[this.head++];
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return r;
    }
    if (this.uncounted > 0) {
      this.uncounted--;
      return UNKNOWN_REQUEST;
    }
    return undefined;
  }
}

type Framing = { kind: 'none' } | { kind: 'close' } | { kind: 'chunked' } | { kind: 'length'; length: number } | { kind: 'invalid'; why: string };
const NONE: Framing = { kind: 'none' };
const CLOSE: Framing = { kind: 'close' };
const CHUNKED: Framing = { kind: 'chunked' };

/** Client bytes held while an Upgrade waits for its answer, with the frame and time they came in. */
interface HeldChunk {
  offset: number;
  frame: number;
  time: number;
  bytes: Uint8Array;
  length: number;
}

/** zlib's refusal to write past maxOutputLength. */
function tooLarge(e: NodeJS.ErrnoException): boolean {
  return e?.code === 'ERR_BUFFER_TOO_LARGE' || /larger than/.test(String(e?.message));
}

function heldChunk(h: HeldChunk): StreamChunk {
  return { offset: h.offset, frame: h.frame, time: h.time, bytes: h.bytes.subarray(0, h.length) };
}

/** Per-direction parser state. */
class Side {
  mode: Mode = 'head';
  /** Head bytes from earlier chunks, copied; the first 8 bytes, for the plausibility check. */
  headParts: Uint8Array[] = [];
  headLen = 0;
  head8: number[] = [];
  /** Line-end DFA state while reading a head: 1 after LF, 2 after LF CR. */
  eol = 0;
  resyncing = false;
  msgStart = 0;
  msgTime = 0;
  headEnd = 0;
  bodyRemaining = 0;
  bodyWire = 0;
  body: ByteKeeper | null = null;
  chunked: ChunkedDecoder | null = null;
  message: HttpRequest | HttpResponse | null = null;
  /**
   * A body its consumer layer reads (an event stream, by HANDOFFS['content-type']): the child
   * stream it is fed to, and where the unit of the next bytes fed begins (a chunk's size line).
   */
  child: ChildStream | null = null;
  unitStart = 0;
  /**
   * The last piece of a chunk's data, held until the CRLF that closes the chunk is read: the
   * unit it is fed with ends there ("An event that ended with its chunk's data owns the CRLF
   * that closes the chunk"). A view of the chunk being read until it is copied at its end.
   */
  piece: Uint8Array | null = null;
  pieceCopied = false;
  pieceOffset = 0;
  pieceUnit = 0;
  pieceFrame = 0;
  pieceTime = 0;
  held: HeldChunk[] = [];
  heldBytes = 0;
}

function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.split(',').some((t) => t.trim().toLowerCase() === token);
}

/**
 * HTTP/1.0 and 1.1 (RFC 9112) for a passive observer: heads are read whole, bodies are
 * delimited by Content-Length, by the chunked coding or by the connection's close, and
 * responses are paired with requests in order (so pipelining works). A response body whose
 * media type HANDOFFS['content-type'] names (an event stream) is fed, decoded of its framing,
 * to a child stream run by that layer, as it arrives; a 101 answer to an Upgrade hands the
 * connection over to the layer HANDOFFS.upgrade names. After lost bytes the parser resynchronises
 * at the next request or status line.
 */
class HttpDissector implements Dissector {
  private sides: [Side, Side] = [new Side(), new Side()];
  private requests = new RequestQueue();
  private requestsCapWarned = false;
  private next: Dissector | null = null;
  /** Content codings already said to be beyond sockstat, once per connection. */
  private unknownCodings: Set<string> | null = null;
  /** The frame and time of the chunk being read (or of the gap or end being said). */
  private frame = 0;
  private time = 0;

  constructor(private readonly ctx: DissectContext) {}

  data(dir: Dir, c: StreamChunk): void {
    if (this.next) return this.next.data(dir, c);
    const s = this.sides[dir];
    const b = c.bytes;
    this.frame = c.frame;
    this.time = c.time;
    let i = 0;
    while (i < b.length && !this.next) {
      const offset = c.offset + i;
      switch (s.mode) {
        case 'head':
          i += this.readHead(dir, s, b.subarray(i), offset, c);
          break;
        case 'length': {
          const n = Math.min(s.bodyRemaining, b.length - i);
          this.bodyBytes(dir, s, b.subarray(i, i + n), offset);
          s.bodyRemaining -= n;
          i += n;
          if (s.bodyRemaining === 0) this.finishMessage(dir, s, offset + n);
          break;
        }
        case 'chunked':
          // On the last chunk or on broken framing the callbacks have already moved the mode on.
          i += s.chunked!.feed(b.subarray(i), offset);
          break;
        case 'close':
          this.bodyBytes(dir, s, b.subarray(i), offset);
          i = b.length;
          break;
        case 'upgrade-wait':
          this.hold(s, b.subarray(i), offset, c);
          i = b.length;
          break;
        case 'skip': {
          // Resynchronise where a message may start. The skipped bytes are no message's: the
          // connection's display copy of them is let go as they pass, not when a message ends.
          const at = this.resyncPoint(dir, b, i);
          if (at < 0) i = b.length;
          else {
            i = at;
            this.startHead(s, c.offset + i, true);
          }
          this.ctx.release(dir, c.offset + i);
          break;
        }
        case 'done':
          i = b.length;
          this.ctx.release(dir, c.offset + i);
          break;
      }
    }
    // A piece still held for its CRLF outlives the chunk it is a view of.
    if (s.piece !== null && !s.pieceCopied) {
      s.piece = s.piece.slice();
      s.pieceCopied = true;
    }
    // The rest of the chunk after a 101 answer already belongs to the new protocol.
    const next = this.next as Dissector | null;
    if (next && i < b.length) next.data(dir, { ...c, bytes: b.subarray(i), offset: c.offset + i });
  }

  gap(dir: Dir, offset: number, length: number, frame: number): void {
    if (this.next) return this.next.gap(dir, offset, length, frame);
    const s = this.sides[dir];
    this.frame = frame;
    switch (s.mode) {
      case 'length':
        if (length <= s.bodyRemaining) {
          s.bodyRemaining -= length;
          s.bodyWire += length;
          if (s.body) s.body.truncated = true;
          s.child?.gap(1, length, frame);
          if (s.bodyRemaining === 0) this.finishMessage(dir, s, offset + length);
          return;
        }
        break;
      case 'chunked': {
        const inData = s.chunked!.inData;
        if (length <= inData) {
          s.chunked!.skipData(length);
          s.bodyWire += length;
          if (s.body) s.body.truncated = true;
          if (s.child) {
            s.child.gap(1, length, frame);
            s.unitStart = offset + length;
          }
          return;
        }
        break;
      }
      case 'close':
        s.bodyWire += length;
        if (s.body) s.body.truncated = true;
        s.child?.gap(1, length, frame);
        return;
      case 'upgrade-wait':
      case 'done':
        return;
      default:
        break;
    }
    if (dir === 0 && s.mode === 'head') {
      // Bytes lost where a request would start: most likely a whole request, whose
      // response must still pair with it rather than with the next one.
      this.queueRequest(LOST_REQUEST, frame);
    }
    this.ctx.warn(frame, 'http-gap', `HTTP ${dir === 0 ? 'request' : 'response'} stream lost ${length} bytes: resuming at the next ${dir === 0 ? 'request' : 'status'} line`);
    // Events read whole before the gap are events still; the rest of the body is lost.
    this.endBody(s, length);
    s.message = null;
    s.chunked = null;
    // The bytes after the gap may start a message; if they do not, skip line by line.
    this.startHead(s, offset + length, true);
  }

  end(dir: Dir, frame: number): void {
    if (this.next) return this.next.end(dir, frame);
    const s = this.sides[dir];
    this.frame = frame;
    if (s.mode === 'close' || (s.mode === 'chunked' && s.child)) {
      // A close-delimited body ends with the connection; an event stream may, without its last
      // chunk (its consumer says whether an event was cut).
      this.finishMessage(dir, s, s.headEnd + s.bodyWire);
    } else if (s.mode === 'length' || s.mode === 'chunked') {
      this.ctx.warn(frame, 'http-cut', `connection closed inside an HTTP body (${s.mode === 'length' ? `${s.bodyRemaining} bytes missing` : 'no last chunk'})`);
      this.finishMessage(dir, s, s.headEnd + s.bodyWire);
    } else if (s.mode === 'head' && s.headLen > 0 && !s.resyncing) {
      this.ctx.warn(frame, 'http-cut', `connection closed inside an HTTP head (${s.headLen} bytes)`);
    }
    s.mode = 'done';
  }

  private startHead(s: Side, offset: number, resyncing: boolean): void {
    s.mode = 'head';
    s.headParts = [];
    s.headLen = 0;
    s.head8 = [];
    s.eol = 0;
    s.msgStart = offset;
    s.resyncing = resyncing;
  }

  /** Reads head bytes; returns how many it consumed. */
  private readHead(dir: Dir, s: Side, b: Uint8Array, offset: number, c: StreamChunk): number {
    let i = 0;
    if (s.headLen === 0) {
      // Tolerate empty lines before a message (RFC 9112 §2.2).
      while (i < b.length && (b[i] === 0x0d || b[i] === 0x0a)) i++;
      if (i === b.length) return i;
      s.msgStart = offset + i;
      s.msgTime = c.time;
    }
    // Scan for the blank line that ends the head (LF, then LF or CR LF), carrying the line-end
    // state across chunks; from line to line with the native indexOf, not byte by byte.
    let j = i;
    let found = false;
    let eol = s.eol;
    while (j < b.length) {
      if (eol === 0) {
        const lf = b.indexOf(0x0a, j);
        if (lf < 0) {
          j = b.length;
          break;
        }
        j = lf + 1;
        eol = 1;
        continue;
      }
      const ch = b[j];
      if (ch === 0x0a) {
        found = true;
        j++;
        break;
      }
      if (ch === 0x0d && eol === 1) {
        eol = 2;
        j++;
      } else eol = 0;
    }
    s.eol = eol;
    const part = b.subarray(i, j);
    if (s.head8.length < 8) {
      const before = s.headLen;
      for (let k = 0; k < part.length && s.head8.length < 8; k++) s.head8.push(part[k]);
      if (s.head8.length === 8 && !this.plausibleStart(dir, s.head8)) {
        if (!s.resyncing) this.ctx.warn(c.frame, 'http-not-http', `not an HTTP ${dir === 0 ? 'request' : 'response'} at stream offset ${s.msgStart}: skipping to the next line that starts one`);
        return this.rejectStart(dir, s, before, i, offset, c);
      }
    }
    if (s.headLen + part.length > MAX_HEAD) {
      this.ctx.warn(c.frame, 'http-head-too-long', `HTTP head longer than ${MAX_HEAD} bytes: skipped`);
      // The message it began is no message now, but it was one: a request still waits for
      // its response, and a response still answered one.
      if (dir === 0) this.queueRequest(LOST_REQUEST, c.frame);
      else this.requests.shift();
      const at = offset + j;
      // Where the scan stopped at a line start (or the head's end), a message may start there.
      if (found || eol !== 0) this.startHead(s, at, true);
      else {
        s.headParts = [];
        s.headLen = 0;
        s.mode = 'skip';
        s.resyncing = true;
      }
      this.ctx.release(dir, at);
      return j;
    }
    if (found && s.headParts.length === 0) {
      this.headDone(dir, s, part, offset + j, c);
      return j;
    }
    s.headParts.push(part.slice());
    s.headLen += part.length;
    if (found) {
      const head = new Uint8Array(s.headLen);
      let o = 0;
      for (const p of s.headParts) {
        head.set(p, o);
        o += p.length;
      }
      this.headDone(dir, s, head, offset + j, c);
    }
    return j;
  }

  /**
   * The first 8 bytes of a would-be message are not the start of one. A message may still
   * start inside them (after a line end, or at "HTTP/" for a response): reading resumes at the
   * first such place, else the rest of the line is skipped. Returns the bytes of `b` consumed.
   * `before` of the 8 came in earlier chunks, and `at` is where the 8 begin in `b` (0 then).
   */
  private rejectStart(dir: Dir, s: Side, before: number, at: number, offset: number, c: StreamChunk): number {
    const window = Uint8Array.from(s.head8);
    const start = s.msgStart;
    const p = this.resyncPoint(dir, window, 1);
    s.resyncing = true;
    if (p < 0) {
      // No line end among them: the line goes on, and is skipped to its end.
      s.headParts = [];
      s.headLen = 0;
      s.mode = 'skip';
      const used = at + 8 - before;
      this.ctx.release(dir, offset + used);
      return used;
    }
    this.startHead(s, start + p, true);
    if (p >= before) {
      this.ctx.release(dir, start + p);
      return at + p - before;
    }
    // The place lies in bytes of earlier chunks, which only the window still holds: they are
    // read again, then this chunk's from where it was.
    this.data(dir, { ...c, bytes: window.subarray(p, before), offset: start + p });
    return at;
  }

  /**
   * Where in b, from `from` on, a message may start while resynchronising: just after the
   * next LF, or for a response at the next "HTTP/" even inside a line (a body need not end
   * with a line end, and the next status line follows its last byte), or at a prefix of
   * "HTTP/" that the end of b cuts. -1 when there is none in b.
   */
  private resyncPoint(dir: Dir, b: Uint8Array, from: number): number {
    const lf = b.indexOf(0x0a, from);
    if (dir === 0) return lf < 0 ? -1 : lf + 1;
    const limit = lf < 0 ? b.length : lf;
    // Searched up to the line end only (a view): a search to the end of b from every line would be quadratic.
    const h = from < limit ? (Buffer.prototype.indexOf as (this: Uint8Array, v: string, at: number, e: string) => number).call(b.subarray(from, limit), 'HTTP/', 0, 'latin1') : -1;
    if (h >= 0) return from + h;
    if (lf >= 0) return lf + 1;
    // "HTTP/" cut by the end of b: "H", "HT", "HTT" or "HTTP" at its very end.
    for (let k = Math.max(from, b.length - 4); k < b.length; k++) {
      let n = 0;
      while (k + n < b.length && b[k + n] === HTTP_SLASH[n]) n++;
      if (k + n === b.length) return k;
    }
    return -1;
  }

  /** Queues a request for its response; past the cap it is counted only, said once. */
  private queueRequest(r: PendingRequest, frame: number): void {
    if (this.requests.push(r) || this.requestsCapWarned) return;
    this.requestsCapWarned = true;
    this.ctx.warn(frame, 'http-too-many-pending', `more than ${LIMITS.unansweredRequests} HTTP requests wait for their responses: later ones are counted, not kept (a response to a HEAD or an Upgrade among them is read as if to a GET)`);
  }

  /** Holds client bytes while an Upgrade waits for its answer: at most MAX_UPGRADE_HOLD of them. */
  private hold(s: Side, part: Uint8Array, offset: number, c: StreamChunk): void {
    if (part.length === 0 || s.heldBytes + part.length > MAX_UPGRADE_HOLD) return;
    s.heldBytes += part.length;
    const last = s.held[s.held.length - 1];
    if (s.held.length < MAX_HELD_CHUNKS || !last || last.offset + last.length !== offset) {
      s.held.push({ offset, frame: c.frame, time: c.time, bytes: part.slice(), length: part.length });
      return;
    }
    // Many small chunks: appended to the last held one, whose buffer doubles as it fills.
    if (last.length + part.length > last.bytes.length) {
      const grown = new Uint8Array(Math.max(last.bytes.length * 2, last.length + part.length));
      grown.set(last.bytes.subarray(0, last.length));
      last.bytes = grown;
    }
    last.bytes.set(part, last.length);
    last.length += part.length;
  }

  private plausibleStart(dir: Dir, h: number[]): boolean {
    const t = String.fromCharCode(...h);
    if (dir === 1) return t.startsWith('HTTP/1.') || t.startsWith('HTTP/0.');
    const sp = t.indexOf(' ');
    const method = sp < 0 ? t : t.slice(0, sp);
    return sp > 0 ? /^[A-Z][A-Z_-]*$/.test(method) : /^[A-Z]+$/.test(t);
  }

  private parseHead(bytes: Uint8Array): Head {
    const text = ascii(bytes);
    // A string split and a trailing CR trimmed: a regex split is many times slower.
    const lines = text.split('\n');
    for (let k = 0; k < lines.length; k++) {
      const l = lines[k];
      if (l.length > 0 && l.charCodeAt(l.length - 1) === 0x0d) lines[k] = l.slice(0, -1);
    }
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const headers: HeaderList = [];
    for (let k = 1; k < lines.length; k++) {
      const line = lines[k];
      if ((line.startsWith(' ') || line.startsWith('\t')) && headers.length > 0) {
        headers[headers.length - 1][1] += ' ' + line.trim(); // obsolete line folding
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
    return { startLine: lines[0] ?? '', headers };
  }

  private headDone(dir: Dir, s: Side, headBytes: Uint8Array, end: number, c: StreamChunk): void {
    const head = this.parseHead(headBytes);
    if (s.resyncing && !(dir === 0 ? /^[A-Z][A-Z_-]* \S/ : /^HTTP\/\d\.\d \d{3}(?: |$)/).test(head.startLine)) {
      // Still looking for the next message after lost bytes: junk too short to judge by its
      // first 8 bytes ends here, silently, like the rest of the junk (a response's line must be
      // a whole status line: "HTTP/" is also found inside lines, as in "Via: HTTP/1.1 proxy").
      this.startHead(s, end, true);
      return;
    }
    s.headParts = [];
    s.headLen = 0;
    s.head8 = [];
    s.headEnd = end;
    s.bodyWire = 0;
    s.resyncing = false;
    const ctx = this.ctx;
    const keep = ctx.options.keepBytes;

    if (dir === 0) {
      const m = /^(\S+) (\S+)(?: (HTTP\/\d\.\d))?$/.exec(head.startLine);
      const [method, target, version] = m ? [m[1], m[2], m[3] ?? 'HTTP/0.9'] : [head.startLine.split(' ')[0] ?? '', '', ''];
      if (!m) ctx.warn(c.frame, 'http-bad-start-line', `malformed request line ${JSON.stringify(head.startLine.slice(0, 80))}`);
      const upgrade = headerValue(head.headers, 'upgrade') !== undefined && hasToken(headerValue(head.headers, 'connection'), 'upgrade');
      this.queueRequest(upgrade ? { method, upgrade, headers: head.headers } : { method, upgrade, headers: [] }, c.frame);
      s.message = { kind: 'http-request', from: 'client', frames: [], time: s.msgTime, method, target, version, headers: head.headers, bodyLength: 0, wire: null as never };
      s.body = keep ? new ByteKeeper(ctx.options.maxKeptBytes) : null;
      const f = this.framing(0, head.headers);
      if (f.kind === 'invalid') return this.badFraming(0, s, f.why, end, c);
      if (f.kind === 'chunked') this.startChunked(dir, s);
      else if (f.kind === 'length') {
        s.mode = 'length';
        s.bodyRemaining = f.length;
      } else this.finishMessage(dir, s, end);
      if (upgrade && s.mode === 'head') s.mode = 'upgrade-wait';
      return;
    }

    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(head.startLine);
    const version = m ? m[1] : '';
    const status = m ? parseInt(m[2], 10) : 0;
    if (!m) ctx.warn(c.frame, 'http-bad-start-line', `malformed status line ${JSON.stringify(head.startLine.slice(0, 80))}`);
    const informational = status >= 100 && status < 200 && status !== 101;
    const request = informational ? this.requests.peek() : this.requests.shift();
    if (!request && status !== 0) ctx.warn(c.frame, 'http-unrequested-response', `HTTP response ${status} with no request seen before it`);
    const response: HttpResponse = { kind: 'http-response', from: 'server', frames: [], time: s.msgTime, status, reason: m?.[3] ?? '', version, headers: head.headers, bodyLength: 0, wire: null as never };
    s.message = response;
    // It answers a request lost in a gap: the update rule then pairs it with none that wait.
    if (request === LOST_REQUEST) response.requestLost = true;
    s.body = keep ? new ByteKeeper(ctx.options.maxKeptBytes) : null;

    if (status === 101) {
      response.bodyLength = 0;
      this.finishMessage(dir, s, end);
      this.upgrade(request, head.headers, c);
      return;
    }
    // RFC 9112 §6.3, first rule: these end at the blank line "regardless of the header fields present".
    if (informational || status === 204 || status === 304 || request?.method === 'HEAD') {
      this.finishMessage(dir, s, end);
      return;
    }
    if (request?.upgrade) {
      // The server declined the upgrade: the client speaks HTTP again.
      this.releaseUpgradeWait();
    }
    const f = this.framing(1, head.headers);
    if (f.kind === 'invalid') return this.badFraming(1, s, f.why, end, c);
    // A body whose media type names a consumer (an event stream: WHATWG HTML §9.2.3 reads one
    // only from a 200 response) is read by that layer, on a child stream of this one.
    const consumer = status === 200 ? ctx.lookup('content-type', mediaType(headerValue(head.headers, 'content-type'))) : undefined;
    if (consumer !== undefined) {
      // The head answers the subscription; the body is its consumer's messages, not one.
      response.bodyLength = null;
      this.emit(dir, s, s.msgStart, end, 0);
      // A coded body (a compressing proxy's gzip) is undone by the consumer as it arrives.
      s.child = ctx.openChild('http', consumer, { codings: contentCodings(head.headers), contentType: headerValue(head.headers, 'content-type') });
      s.unitStart = end;
    }
    if (f.kind === 'chunked') this.startChunked(dir, s);
    else if (f.kind === 'length') {
      s.mode = 'length';
      s.bodyRemaining = f.length;
    } else if (f.kind === 'none') this.finishMessage(dir, s, end);
    else s.mode = 'close';
  }

  /**
   * How the body of a message is delimited, by RFC 9112 §6.3 (its rules on status codes and
   * HEAD are the caller's, as they come first).
   */
  private framing(dir: Dir, headers: HeaderList): Framing {
    const te = combinedValue(headers, 'transfer-encoding');
    const codings = te === undefined ? [] : listMembers(te);
    if (codings.length > 0) {
      // "If a message is received with both a Transfer-Encoding and a Content-Length header
      // field, the Transfer-Encoding overrides the Content-Length."
      if (codings[codings.length - 1] === 'chunked') return CHUNKED;
      // "If a Transfer-Encoding header field is present in a response and the chunked transfer
      // coding is not the final encoding, the message body length is determined by reading the
      // connection until it is closed by the server. If ... present in a request and the
      // chunked transfer coding is not the final encoding, the message body length cannot be
      // determined reliably".
      return dir === 1 ? CLOSE : { kind: 'invalid', why: `Transfer-Encoding ${JSON.stringify(te!.slice(0, 80))} does not end with chunked` };
    }
    const cl = contentLength(headers);
    if (cl === undefined) return dir === 1 ? CLOSE : NONE;
    if ('invalid' in cl) return { kind: 'invalid', why: `invalid Content-Length ${JSON.stringify(cl.invalid.slice(0, 80))}` };
    return cl.length === 0 ? NONE : { kind: 'length', length: cl.length };
  }

  /**
   * A message whose body cannot be delimited: "the message framing is invalid and the
   * recipient MUST treat it as an unrecoverable error" (RFC 9112 §6.3); a browser closes the
   * connection and discards the response. An observer reports the head as a message with no
   * body, says so, and reads on from the next request or status line.
   */
  private badFraming(dir: Dir, s: Side, why: string, end: number, c: StreamChunk): void {
    this.ctx.warn(c.frame, 'http-body-undelimited', `${why}: the ${dir === 0 ? 'request' : 'response'} body cannot be delimited (RFC 9112 §6.3); skipping to the next ${dir === 0 ? 'request' : 'status'} line`);
    this.finishMessage(dir, s, end);
    this.startHead(s, end, true);
  }

  private startChunked(dir: Dir, s: Side): void {
    s.mode = 'chunked';
    s.chunked = new ChunkedDecoder({
      data: (bytes, offset) => {
        s.bodyWire += bytes.length;
        if (s.child === null) {
          s.body?.add(bytes);
          return;
        }
        // Each chunk's data is fed with the chunk on the wire as its unit, split where the
        // data came in pieces: the size line goes with the first piece (framing between two
        // events travels with the event after it), the CRLF with the last.
        if (bytes.length < s.chunked!.inData) {
          s.child.data(1, bytes, offset, s.unitStart, offset + bytes.length, this.frame, this.time);
          s.unitStart = offset + bytes.length;
          return;
        }
        s.piece = bytes;
        s.pieceCopied = false;
        s.pieceOffset = offset;
        s.pieceUnit = s.unitStart;
        s.pieceFrame = this.frame;
        s.pieceTime = this.time;
      },
      chunkEnd: (offset) => {
        this.feedPiece(s, offset);
        s.unitStart = offset;
      },
      done: (offset) => this.finishMessage(dir, s, offset),
      error: (message, offset) => {
        this.ctx.warn(this.ctx.frameAt(dir, Math.max(offset - 1, s.headEnd)), 'http-chunk-error', `${message}: the rest of this body cannot be followed; skipping to the next ${dir === 0 ? 'request' : 'status'} line`);
        this.endBody(s, 0);
        s.message = null;
        s.chunked = null;
        this.startHead(s, offset, true);
      },
    });
  }

  private bodyBytes(_dir: Dir, s: Side, b: Uint8Array, offset: number): void {
    s.bodyWire += b.length;
    // Delimited by length or by the close, the body is its bytes: each piece is its own unit.
    if (s.child) s.child.data(1, b, offset, offset, offset + b.length, this.frame, this.time);
    else s.body?.add(b);
  }

  /** Feeds the held last piece of a chunk, its unit ending at `unitEnd` (-1: where its data ends, no CRLF read). */
  private feedPiece(s: Side, unitEnd: number): void {
    const b = s.piece;
    if (b === null) return;
    s.piece = null;
    s.child?.data(1, b, s.pieceOffset, s.pieceUnit, unitEnd < 0 ? s.pieceOffset + b.length : unitEnd, s.pieceFrame, s.pieceTime);
  }

  /**
   * The end of a body its consumer reads: what it has is fed, `lost` bytes after it (a gap
   * the framing cannot follow) are said, and its stream ends.
   */
  private endBody(s: Side, lost: number): void {
    const child = s.child;
    if (child === null) return;
    this.feedPiece(s, -1);
    s.child = null;
    if (lost > 0) child.gap(1, lost, this.frame);
    child.end(1, this.frame);
  }

  private finishMessage(dir: Dir, s: Side, end: number): void {
    const m = s.message;
    // A body its consumer read ends its stream; the head went out before it (bodyLength null).
    if (s.child) this.endBody(s, 0);
    else if (m && m.bodyLength !== null) {
      const bodyLength = s.chunked ? s.chunked.bodyLength : s.bodyWire;
      m.bodyLength = bodyLength;
      // A problem with the body is said at the frame that ended it (frames are listed only at emit).
      const shown = s.body && s.body.length > 0 ? this.attachBody(m, s.body, this.ctx.frameAt(dir, Math.max(end - 1, s.msgStart))) : undefined;
      this.emit(dir, s, s.msgStart, end, bodyLength, shown);
    }
    s.message = null;
    s.chunked = null;
    s.body = null;
    s.bodyRemaining = 0;
    if (s.mode !== 'upgrade-wait' && s.mode !== 'done') this.startHead(s, end, false);
  }

  /** Sets the body fields for display; returns the bytes shown. */
  private attachBody(m: HttpRequest | HttpResponse, keeper: ByteKeeper, frame: number): Uint8Array {
    let body = keeper.bytes();
    const codings = contentCodings(m.headers);
    if (codings.length > 0) {
      const decoded = this.undoCodings(codings, body, keeper.truncated, m, frame);
      if (decoded) {
        body = decoded;
        (m as DecodedBody).bodyDecodedLength = decoded.length;
      }
    }
    // A view would pin the whole decoded buffer (up to maxInflatedBytes) for as long as the
    // message is kept: what is shown is copied out of it.
    const shown = body.length > this.ctx.options.maxKeptBytes ? copyBytes(body.subarray(0, this.ctx.options.maxKeptBytes)) : body;
    if (shown.length < body.length || keeper.truncated) m.bodyTruncated = true;
    const t = textOrHex(shown);
    if ('text' in t) m.body = t.text;
    else m.bodyHex = t.hex;
    return shown;
  }

  /**
   * Undoes a body's content codings, last applied first ("listed in the order in which they
   * were applied", RFC 9110 §8.4). Every coding is undone or none is: the body is shown as
   * decoded only when it was, else as sent, with the reason in `bodyNotDecoded` and, where
   * something went wrong on the wire (a body that does not decode, a bomb), a warning with
   * the body's last frame. At most LIMITS.encodingDepth codings and maxInflatedBytes out of
   * each: a body gzipped 5,000 times over costs one refusal, not 5,000 inflations.
   */
  private undoCodings(codings: string[], body: Uint8Array, truncated: boolean, m: HttpRequest | HttpResponse, frame: number): Uint8Array | null {
    const named = codings.join(', ');
    const notDecoded = (why: string) => {
      (m as DecodedBody).bodyNotDecoded = why;
      return null;
    };
    // Only a whole body can be inflated: the beginning of one is all that was kept.
    if (truncated) return notDecoded(`only its first ${this.ctx.options.maxKeptBytes} bytes were kept`);
    if (codings.length > LIMITS.encodingDepth) {
      this.ctx.warn(frame, 'http-coding', `Content-Encoding ${JSON.stringify(named.slice(0, 80))} names ${codings.length} codings, more than the ${LIMITS.encodingDepth} sockstat undoes: body shown as sent`);
      return notDecoded(`${codings.length} codings, more than ${LIMITS.encodingDepth}`);
    }
    const unknown = codings.find((c) => !this.canUndo(c));
    if (unknown !== undefined) {
      if (!(this.unknownCodings ??= new Set()).has(unknown)) {
        this.unknownCodings.add(unknown);
        this.ctx.warn(frame, 'http-coding', `content coding ${JSON.stringify(unknown.slice(0, 40))} is not one sockstat decodes: such bodies are shown as sent`);
      }
      return notDecoded(`${unknown.slice(0, 40)} is not decoded`);
    }
    let out = body;
    for (let i = codings.length - 1; i >= 0; i--) {
      const r = this.undoOne(codings[i], out);
      if (typeof r === 'string') {
        const which = codings.length > 1 ? ` (${codings[i]}, coding ${i + 1} of ${codings.length})` : '';
        this.ctx.warn(frame, 'http-coding', `${named} body ${r}${which}: shown as sent`);
        return notDecoded(r);
      }
      out = r;
    }
    return out;
  }

  private canUndo(coding: string): boolean {
    return coding === 'gzip' || coding === 'x-gzip' || coding === 'br' || coding === 'deflate' || (coding === 'zstd' && zstdDecompressSync !== undefined);
  }

  /** One coding undone, or why it could not be. */
  private undoOne(coding: string, body: Uint8Array): Uint8Array | string {
    const cap = this.ctx.options.maxInflatedBytes;
    const opts = { maxOutputLength: cap };
    try {
      if (coding === 'gzip' || coding === 'x-gzip') return zlib.gunzipSync(body, opts);
      if (coding === 'br') return zlib.brotliDecompressSync(body, opts);
      if (coding === 'zstd') return zstdDecompressSync!(body, opts);
      // "deflate" is meant to be zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send it raw.
      try {
        return zlib.inflateSync(body, opts);
      } catch (e) {
        if (tooLarge(e as NodeJS.ErrnoException)) throw e;
        return zlib.inflateRawSync(body, opts);
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return tooLarge(err) ? `inflates beyond ${cap} bytes` : `does not decode (${err.message})`;
    }
  }

  private emit(dir: Dir, s: Side, start: number, end: number, useful: number, payload?: Uint8Array): void {
    const m = s.message;
    if (!m) return;
    const ctx = this.ctx;
    m.frames = ctx.framesFor(dir, start, end);
    m.time = ctx.timeAt(dir, start);
    m.wire = { dir, start, end, useful };
    if (payload) m.wire.payload = payload;
    ctx.emit(m);
    ctx.release(dir, end);
  }

  private releaseUpgradeWait(): void {
    const c = this.sides[0];
    if (c.mode !== 'upgrade-wait') return;
    const held = c.held;
    c.held = [];
    c.heldBytes = 0;
    this.startHead(c, held[0]?.offset ?? c.headEnd, false);
    for (const h of held) this.data(0, heldChunk(h));
  }

  private upgrade(request: PendingRequest | undefined, responseHeaders: HeaderList, c: StreamChunk): void {
    const protocol = (headerValue(responseHeaders, 'upgrade') ?? '').trim().toLowerCase();
    const next = this.ctx.handoffBy('upgrade', protocol, {
      requestHeaders: request?.headers ?? [],
      responseHeaders,
      frame: c.frame,
    });
    if (next === null) {
      this.ctx.warn(c.frame, 'http-upgrade-unknown', `connection upgraded to ${JSON.stringify(protocol)}, which sockstat does not dissect`);
      this.sides[0].mode = 'done';
      this.sides[1].mode = 'done';
      return;
    }
    this.next = next;
    const client = this.sides[0];
    const held = client.held;
    client.held = [];
    for (const h of held) next.data(0, heldChunk(h));
  }
}

export const httpSpec: DissectorSpec = {
  name: 'http',
  protocol: 'http',
  probe(dir, head) {
    const t = String.fromCharCode(...head.subarray(0, 8));
    if (dir === 1) {
      if (t.length >= 5) return t.startsWith('HTTP/');
      return 'HTTP/'.startsWith(t) ? undefined : false;
    }
    for (const m of METHODS) {
      const want = m + ' ';
      if (t.length >= want.length ? t.startsWith(want) : want.startsWith(t)) return t.length >= want.length ? true : undefined;
    }
    return false;
  },
  create: (ctx) => new HttpDissector(ctx),
};
