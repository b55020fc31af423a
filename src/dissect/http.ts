import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { Dir, StreamChunk } from '../reassembly/types.js';
import { ascii, ByteKeeper, textOrHex } from './bytes.js';
import { ChunkedDecoder } from './chunked.js';
import { headerValue } from './headers.js';
import { SseParser, type ParsedSseEvent } from './sse.js';
import type { DissectContext, Dissector, DissectorSpec, HeaderList, HttpRequest, HttpResponse, Message, Role } from './types.js';

const UTF8 = new TextEncoder();

const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
const MAX_HEAD = 64 * 1024;
/** Client bytes held while an Upgrade request waits for its answer. */
const MAX_UPGRADE_HOLD = 1024 * 1024;

type Mode = 'head' | 'length' | 'chunked' | 'close' | 'upgrade-wait' | 'skip' | 'done';

interface Head {
  startLine: string;
  headers: HeaderList;
}

interface PendingRequest {
  method: string;
  upgrade: boolean;
  headers: HeaderList;
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
  role: Role = 'none';
  /** For an event stream: the parser, where the last event ended on the wire, and events held for their chunk's CRLF. */
  sse: SseParser | null = null;
  sseBody = 0;
  lastWireEnd = 0;
  piece = { body: 0, stream: 0 };
  heldSse: Array<{ m: Message; end: number }> = [];
  chunkDataEnd = -1;
  held: Array<{ chunk: StreamChunk }> = [];
  heldBytes = 0;
}

function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.split(',').some((t) => t.trim().toLowerCase() === token);
}

/**
 * HTTP/1.0 and 1.1 (RFC 9112) for a passive observer: heads are read whole, bodies are
 * delimited by Content-Length, by the chunked coding or by the connection's close, and
 * responses are paired with requests in order (so pipelining works). A body that is an
 * event stream is read as SSE events as it arrives; a 101 answer to an Upgrade hands the
 * connection over to the WebSocket dissector. After lost bytes the parser resynchronises
 * at the next request or status line.
 */
class HttpDissector implements Dissector {
  private sides: [Side, Side] = [new Side(), new Side()];
  private requests: PendingRequest[] = [];
  private next: Dissector | null = null;

  constructor(private readonly ctx: DissectContext) {}

  data(dir: Dir, c: StreamChunk): void {
    if (this.next) return this.next.data(dir, c);
    const s = this.sides[dir];
    const b = c.bytes;
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
        case 'upgrade-wait': {
          const part = b.subarray(i);
          if (s.heldBytes + part.length <= MAX_UPGRADE_HOLD) {
            s.held.push({ chunk: { ...c, bytes: part.slice(), offset } });
            s.heldBytes += part.length;
          }
          i = b.length;
          break;
        }
        case 'skip': {
          // Resynchronise: the next line may start a message.
          const lf = b.indexOf(0x0a, i);
          if (lf < 0) i = b.length;
          else {
            i = lf + 1;
            this.startHead(s, c.offset + i, true);
          }
          break;
        }
        case 'done':
          i = b.length;
          break;
      }
    }
    // The rest of the chunk after a 101 answer already belongs to the new protocol.
    const next = this.next as Dissector | null;
    if (next && i < b.length) next.data(dir, { ...c, bytes: b.subarray(i), offset: c.offset + i });
  }

  gap(dir: Dir, offset: number, length: number, frame: number): void {
    if (this.next) return this.next.gap(dir, offset, length, frame);
    const s = this.sides[dir];
    switch (s.mode) {
      case 'length':
        if (length <= s.bodyRemaining) {
          s.bodyRemaining -= length;
          s.bodyWire += length;
          if (s.body) s.body.truncated = true;
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
          if (s.sse) s.sse.reset();
          return;
        }
        break;
      }
      case 'close':
        s.bodyWire += length;
        if (s.body) s.body.truncated = true;
        if (s.sse) s.sse.reset();
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
      this.requests.push({ method: '', upgrade: false, headers: [] });
    }
    this.ctx.warn(frame, `HTTP ${dir === 0 ? 'request' : 'response'} stream lost ${length} bytes: resuming at the next ${dir === 0 ? 'request' : 'status'} line`);
    s.message = null;
    s.sse = null;
    s.chunked = null;
    // The bytes after the gap may start a message; if they do not, skip line by line.
    this.startHead(s, offset + length, true);
  }

  end(dir: Dir, frame: number): void {
    if (this.next) return this.next.end(dir, frame);
    const s = this.sides[dir];
    if (s.mode === 'close' || (s.mode === 'chunked' && s.sse)) {
      this.flushSse(s);
      this.finishMessage(dir, s, s.headEnd + s.bodyWire);
    } else if (s.mode === 'length' || s.mode === 'chunked') {
      this.ctx.warn(frame, `connection closed inside an HTTP body (${s.mode === 'length' ? `${s.bodyRemaining} bytes missing` : 'no last chunk'})`);
      this.finishMessage(dir, s, s.headEnd + s.bodyWire);
    } else if (s.mode === 'head' && s.headLen > 0 && !s.resyncing) {
      this.ctx.warn(frame, `connection closed inside an HTTP head (${s.headLen} bytes)`);
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
      for (let k = 0; k < part.length && s.head8.length < 8; k++) s.head8.push(part[k]);
      if (s.head8.length === 8 && !this.plausibleStart(dir, s.head8)) {
        if (!s.resyncing) this.ctx.warn(c.frame, `not an HTTP ${dir === 0 ? 'request' : 'response'} at stream offset ${s.msgStart}: skipping to the next line that starts one`);
        const used = 8 - (s.headLen < 8 ? s.headLen : 8);
        s.mode = 'skip';
        s.resyncing = true;
        return i + used;
      }
    }
    if (s.headLen + part.length > MAX_HEAD) {
      this.ctx.warn(c.frame, `HTTP head longer than ${MAX_HEAD} bytes: skipped`);
      s.mode = 'skip';
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
    if (s.resyncing && !(dir === 0 ? /^[A-Z][A-Z_-]* \S/ : /^HTTP\/\d/).test(head.startLine)) {
      // Still looking for the next message after lost bytes: junk too short to judge by its
      // first 8 bytes ends here, silently, like the rest of the junk.
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
    const te = headerValue(head.headers, 'transfer-encoding');
    const chunked = te !== undefined && te.toLowerCase().split(',').pop()!.trim() === 'chunked';
    const cl = headerValue(head.headers, 'content-length');
    const contentLength = cl !== undefined && /^\s*\d+\s*$/.test(cl) ? parseInt(cl, 10) : cl !== undefined ? NaN : undefined;
    if (Number.isNaN(contentLength)) ctx.warn(c.frame, `invalid Content-Length ${JSON.stringify(cl)}`);

    if (dir === 0) {
      const m = /^(\S+) (\S+)(?: (HTTP\/\d\.\d))?$/.exec(head.startLine);
      const [method, target, version] = m ? [m[1], m[2], m[3] ?? 'HTTP/0.9'] : [head.startLine.split(' ')[0] ?? '', '', ''];
      if (!m) ctx.warn(c.frame, `malformed request line ${JSON.stringify(head.startLine.slice(0, 80))}`);
      const upgrade = headerValue(head.headers, 'upgrade') !== undefined && hasToken(headerValue(head.headers, 'connection'), 'upgrade');
      const accept = headerValue(head.headers, 'accept') ?? '';
      this.requests.push({ method, upgrade, headers: head.headers });
      s.message = { kind: 'http-request', from: 'client', frames: [], time: s.msgTime, method, target, version, headers: head.headers, bodyLength: 0, wire: null as never };
      // An upgrade or an event-stream subscription sets up a channel; it asks for no single update.
      s.role = upgrade || accept.includes('text/event-stream') ? 'setup' : 'request';
      s.body = keep ? new ByteKeeper(ctx.options.maxKeptBytes) : null;
      if (chunked) this.startChunked(dir, s);
      else if (contentLength !== undefined && contentLength > 0) {
        s.mode = 'length';
        s.bodyRemaining = contentLength;
      } else this.finishMessage(dir, s, end);
      if (upgrade && s.mode === 'head') s.mode = 'upgrade-wait';
      return;
    }

    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(head.startLine);
    const version = m ? m[1] : '';
    const status = m ? parseInt(m[2], 10) : 0;
    if (!m) ctx.warn(c.frame, `malformed status line ${JSON.stringify(head.startLine.slice(0, 80))}`);
    const informational = status >= 100 && status < 200 && status !== 101;
    const request = informational ? this.requests[0] : this.requests.shift();
    if (!request && status !== 0) ctx.warn(c.frame, `HTTP response ${status} with no request seen before it`);
    const response: HttpResponse = { kind: 'http-response', from: 'server', frames: [], time: s.msgTime, status, reason: m?.[3] ?? '', version, headers: head.headers, bodyLength: 0, wire: null as never };
    s.message = response;
    s.role = 'answer';
    s.body = keep ? new ByteKeeper(ctx.options.maxKeptBytes) : null;

    if (status === 101) {
      s.role = 'setup';
      response.bodyLength = 0;
      this.finishMessage(dir, s, end);
      this.upgrade(request, head.headers, c);
      return;
    }
    if (informational || status === 204 || status === 304 || request?.method === 'HEAD') {
      if (informational) s.role = 'prelude';
      this.finishMessage(dir, s, end);
      return;
    }
    if (request?.upgrade) {
      // The server declined the upgrade: the client speaks HTTP again.
      this.releaseUpgradeWait();
    }
    const contentType = (headerValue(head.headers, 'content-type') ?? '').toLowerCase();
    if (contentType.startsWith('text/event-stream') && status === 200) {
      ctx.setProtocol('sse');
      response.bodyLength = null;
      s.role = 'prelude';
      this.emit(dir, s, s.msgStart, end, 0);
      s.lastWireEnd = end;
      s.sseBody = 0;
      s.sse = new SseParser({
        event: (e) => this.sseEvent(s, e),
        comment: (text, bodyEnd) => this.sseComment(s, text, bodyEnd),
        warning: (msg, bodyOffset) => ctx.warn(ctx.frameAt(1, this.toStream(s, bodyOffset)), msg),
      });
    }
    if (chunked) this.startChunked(dir, s);
    else if (contentLength !== undefined) {
      if (contentLength === 0) this.finishMessage(dir, s, end);
      else {
        s.mode = 'length';
        s.bodyRemaining = contentLength;
      }
    } else s.mode = 'close';
  }

  private startChunked(dir: Dir, s: Side): void {
    s.mode = 'chunked';
    s.chunked = new ChunkedDecoder({
      data: (bytes, offset) => {
        s.chunkDataEnd = offset + bytes.length;
        this.bodyBytes(dir, s, bytes, offset);
      },
      chunkEnd: (offset) => {
        // An event that ended with its chunk's data owns the CRLF that closes the chunk.
        for (const h of s.heldSse) if (h.end === s.chunkDataEnd) h.end = offset;
        this.flushSse(s);
      },
      done: (offset) => {
        this.flushSse(s);
        this.finishMessage(dir, s, offset);
      },
      error: (message, offset) => {
        this.ctx.warn(this.ctx.frameAt(dir, Math.max(offset - 1, s.headEnd)), `${message}: the rest of this body cannot be followed; skipping to the next ${dir === 0 ? 'request' : 'status'} line`);
        this.flushSse(s);
        s.message = null;
        s.sse = null;
        s.chunked = null;
        this.startHead(s, offset, true);
      },
    });
  }

  private bodyBytes(_dir: Dir, s: Side, b: Uint8Array, offset: number): void {
    s.bodyWire += b.length;
    if (s.sse) {
      this.flushSse(s);
      s.piece = { body: s.sseBody, stream: offset };
      s.sse.feed(b, s.sseBody);
      s.sseBody += b.length;
      if (s.mode !== 'chunked') this.flushSse(s);
      return;
    }
    s.body?.add(b);
  }

  private toStream(s: Side, bodyOffset: number): number {
    return s.piece.stream + (bodyOffset - s.piece.body);
  }

  private sseEvent(s: Side, e: ParsedSseEvent): void {
    const ctx = this.ctx;
    const m: Message = { kind: 'sse-event', from: 'server', frames: [], time: 0, event: e.event, data: e.data, wire: { dir: 1, start: 0, end: 0, role: 'push', useful: e.dataBytes } };
    if (e.id !== undefined) m.id = e.id;
    if (e.retry !== undefined) m.retry = e.retry;
    if (ctx.options.keepBytes) m.wire.payload = UTF8.encode(e.data);
    s.heldSse.push({ m, end: this.toStream(s, e.end) });
  }

  private sseComment(s: Side, text: string, bodyEnd: number): void {
    const m: Message = { kind: 'sse-comment', from: 'server', frames: [], time: 0, text, wire: { dir: 1, start: 0, end: 0, role: 'control', useful: 0 } };
    s.heldSse.push({ m, end: this.toStream(s, bodyEnd) });
  }

  private flushSse(s: Side): void {
    if (s.heldSse.length === 0) return;
    const ctx = this.ctx;
    for (const { m, end } of s.heldSse) {
      // Framing between two events (chunk-size lines) travels with the event after it.
      const start = s.lastWireEnd;
      m.wire.start = start;
      m.wire.end = end;
      m.frames = ctx.framesFor(1, start, end);
      m.time = ctx.timeAt(1, start);
      ctx.emit(m);
      s.lastWireEnd = end;
    }
    s.heldSse = [];
    ctx.release(1, s.lastWireEnd);
  }

  private finishMessage(dir: Dir, s: Side, end: number): void {
    const m = s.message;
    if (m && !s.sse) {
      const bodyLength = s.chunked ? s.chunked.bodyLength : s.bodyWire;
      m.bodyLength = bodyLength;
      const shown = s.body && s.body.length > 0 ? this.attachBody(m, s.body) : undefined;
      this.emit(dir, s, s.msgStart, end, bodyLength, shown);
    }
    s.message = null;
    s.sse = null;
    s.chunked = null;
    s.body = null;
    s.bodyRemaining = 0;
    if (s.mode !== 'upgrade-wait' && s.mode !== 'done') this.startHead(s, end, false);
  }

  /** Sets the body fields for display; returns the bytes shown. */
  private attachBody(m: HttpRequest | HttpResponse, keeper: ByteKeeper): Uint8Array {
    let body = keeper.bytes();
    const encoding = (headerValue(m.headers, 'content-encoding') ?? '').toLowerCase().trim();
    if (encoding && encoding !== 'identity') {
      if (keeper.truncated) m.bodyTruncated = true;
      else {
        const decoded = this.decode(encoding, body, m);
        if (decoded) body = decoded;
      }
    }
    const shown = body.length > this.ctx.options.maxKeptBytes ? body.subarray(0, this.ctx.options.maxKeptBytes) : body;
    if (shown.length < body.length || keeper.truncated) m.bodyTruncated = true;
    const t = textOrHex(shown);
    if ('text' in t) m.body = t.text;
    else m.bodyHex = t.hex;
    return shown;
  }

  private decode(encoding: string, body: Uint8Array, m: HttpRequest | HttpResponse): Uint8Array | null {
    const opts = { maxOutputLength: this.ctx.options.maxInflatedBytes };
    const frame = m.frames[m.frames.length - 1] ?? 0;
    try {
      if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(body, opts);
      if (encoding === 'br') return brotliDecompressSync(body, opts);
      if (encoding === 'deflate') {
        // "deflate" is meant to be zlib-wrapped, but some servers send it raw.
        try {
          return inflateSync(body, opts);
        } catch {
          return inflateRawSync(body, opts);
        }
      }
      return null;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ERR_BUFFER_TOO_LARGE' || /larger than/.test(err.message) ? `inflates beyond ${this.ctx.options.maxInflatedBytes} bytes` : `does not decode (${err.message})`;
      this.ctx.warn(frame, `${encoding} body ${why}: shown as sent`);
      return null;
    }
  }

  private emit(dir: Dir, s: Side, start: number, end: number, useful: number, payload?: Uint8Array): void {
    const m = s.message;
    if (!m) return;
    const ctx = this.ctx;
    m.frames = ctx.framesFor(dir, start, end);
    m.time = ctx.timeAt(dir, start);
    m.wire = { dir, start, end, role: s.role, useful };
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
    this.startHead(c, held[0]?.chunk.offset ?? c.headEnd, false);
    for (const h of held) this.data(0, h.chunk);
  }

  private upgrade(request: PendingRequest | undefined, responseHeaders: HeaderList, c: StreamChunk): void {
    const protocol = (headerValue(responseHeaders, 'upgrade') ?? '').toLowerCase();
    if (protocol !== 'websocket') {
      this.ctx.warn(c.frame, `connection upgraded to ${JSON.stringify(protocol)}, which sockstat does not dissect`);
      this.sides[0].mode = 'done';
      this.sides[1].mode = 'done';
      return;
    }
    this.next = this.ctx.handoff('websocket', {
      requestHeaders: request?.headers ?? [],
      responseHeaders,
      frame: c.frame,
    });
    const client = this.sides[0];
    const held = client.held;
    client.held = [];
    for (const h of held) this.next.data(0, h.chunk);
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
