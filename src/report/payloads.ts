import type { ConnectionReport } from '../analyze.js';
import { isAsciiLines } from '../dissect/bytes.js';
import type { Message, WsFrame, WsMessage } from '../dissect/types.js';
import type { TlsInfo } from '../dissect/tls/layer.js';
import { closeCodeMeaning, FRAME_PREVIEW, OPCODE } from '../dissect/websocket.js';
import { extentBytes } from '../dissect/offsetmap.js';
import { messageHex } from './json.js';
import { captureName, frameList } from './stats.js';
import { hasInvisible, safeLine, safeText } from './sanitize.js';

const OPCODE_NAMES: Record<number, string> = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
/** Hex of a frame longer than this is cut, with its length said. */
const MAX_HEX_BYTES = FRAME_PREVIEW;
const utf8 = new TextDecoder('utf-8');
const EMPTY = new Uint8Array(0);
const HEX_DIGITS = '0123456789abcdef';

/**
 * Rendered output as UTF-8 bytes. A connection's messages wait here until it is printed: off
 * the JS heap, where held strings would outlive the young generation and cost the GC a copy.
 */
export class ByteOut {
  buf: Buffer;
  len = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = Math.max(64, this.buf.length * 2);
    while (size < this.len + n) size *= 2;
    const b = Buffer.allocUnsafeSlow(size);
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  /** Any string, as UTF-8. */
  text(s: string): void {
    const n = s.length;
    // Most pieces are short and ASCII (labels, numbers, notes): a loop beats a call into C++.
    if (n < 48) {
      this.room(n);
      const buf = this.buf;
      let o = this.len;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[o++] = c;
      }
      this.len = o;
      if (i === n) return;
      s = s.slice(i);
    }
    this.room(s.length * 3); // the most UTF-8 bytes one UTF-16 unit can need
    this.len += this.buf.write(s, this.len);
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** An integer in decimal, as String(v) writes it. */
  int(v: number): void {
    if (!(v >= 0 && v <= 0xffffffff && v % 1 === 0)) {
      this.text(String(v));
      return;
    }
    let digits = 1;
    for (let p = 10; p <= v; p *= 10) digits++;
    this.room(digits);
    const buf = this.buf;
    for (let k = this.len + digits - 1; k >= this.len; k--) {
      buf[k] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    }
    this.len += digits;
  }

  /** Hex pairs separated by spaces, as Wireshark's bytes pane shows them. */
  hex(b: Uint8Array): void {
    this.room(b.length * 3);
    const buf = this.buf;
    let o = this.len;
    for (let i = 0; i < b.length; i++) {
      if (i > 0) buf[o++] = 0x20;
      buf[o++] = HEX_DIGITS.charCodeAt(b[i] >> 4);
      buf[o++] = HEX_DIGITS.charCodeAt(b[i] & 15);
    }
    this.len = o;
  }

  /** Printable ASCII as itself, every other byte as '.', as hex dumps show them. */
  dots(b: Uint8Array): void {
    this.room(b.length);
    const buf = this.buf;
    let o = this.len;
    for (let i = 0; i < b.length; i++) buf[o++] = b[i] >= 0x20 && b[i] < 0x7f ? b[i] : 0x2e;
    this.len = o;
  }

  /**
   * Wire bytes as multi-line text: safeText(utf8 of b) without its final line end. Printable
   * ASCII, tabs and line ends (CRLF as LF) are copied as they are; anything else takes the
   * string path, which decodes and escapes.
   */
  wireText(b: Uint8Array | undefined): void {
    if (!b || b.length === 0) return;
    if (!isAsciiLines(b)) {
      this.text(safeText(utf8.decode(b)).replace(/\n?$/, ''));
      return;
    }
    let from = 0;
    for (let cr = b.indexOf(0x0d); cr >= 0; cr = b.indexOf(0x0d, from)) {
      this.bytes(b.subarray(from, cr));
      from = cr + 1;
    }
    this.bytes(from === 0 ? b : b.subarray(from));
    if (this.buf[this.len - 1] === 0x0a) this.len--;
  }

  /** Lines of 16 bytes, each after a line end: offset, hex (padded to 47 columns), and dots. */
  hexDump(b: Uint8Array): void {
    for (let o = 0; o < b.length; o += 16) {
      const row = b.subarray(o, o + 16);
      this.text('\n');
      this.text(o.toString(16).padStart(8, '0'));
      this.text('  ');
      this.hex(row);
      this.text(' '.repeat(47 - (row.length * 3 - 1)));
      this.text('  ');
      this.dots(row);
    }
  }

  /** Where a message lies: its frames and the time of its first byte. */
  where(m: Message): void {
    const f = m.frames;
    if (f.length === 0) this.text('no frame');
    else {
      // The frames as they are: "6-8" never stands for frames 6 and 8 without 7 (issue 13.16).
      this.text(f.length === 1 ? 'frame ' : 'frames ');
      this.text(frameList(f));
    }
    this.text(', ');
    this.seconds(m.time);
    this.text(' s');
  }

  /**
   * t.toFixed(6), without the string. toFixed rounds the double's exact value; a time that is
   * a whole number of nanoseconds (as the analysis makes them) is within 0.1 ns of it, so the
   * nanoseconds round to the same microsecond unless they end in exactly 500: those, and any
   * other time, are left to toFixed.
   */
  seconds(t: number): void {
    const ns = Math.round(t * 1e9);
    const r = ns % 1000;
    if (!(t >= 0 && t < 1e6 && ns / 1e9 === t && r !== 500)) {
      this.text(t.toFixed(6));
      return;
    }
    const us = (ns - r) / 1000 + (r > 500 ? 1 : 0);
    const whole = Math.floor(us / 1e6);
    let frac = us - whole * 1e6;
    this.int(whole);
    this.room(7);
    const buf = this.buf;
    const o = this.len;
    buf[o] = 0x2e;
    for (let k = 6; k >= 1; k--) {
      buf[o + k] = 0x30 + (frac % 10);
      frac = Math.floor(frac / 10);
    }
    this.len = o + 7;
  }
}

/**
 * A WebSocket text for one line: escaped, unless decoding it found nothing to escape. The
 * dissector's check (Wire.plainText) covers controls and bidirectional overrides, not every
 * invisible character sanitize.ts escapes: plain text is looked at for those too.
 */
function lineOf(m: WsFrame | WsMessage): string {
  return m.wire.plainText && !hasInvisible(m.text!) ? m.text! : safeLine(m.text!);
}

const SIDE_NONE = 0;
const SIDE_C = 1;
const SIDE_S = 2;

/**
 * Writes one message as the write-up's Payloads sections show it; returns false when it is not
 * shown, and for a WebSocket frame, the side whose label (C1, S2...) it takes when printed.
 */
function renderMessage(o: ByteOut, m: Message): number | false {
  const arrow = m.from === 'client' ? '>> ' : '<< ';
  switch (m.kind) {
    case 'http-request':
    case 'http-response': {
      const what = m.kind === 'http-request' ? `${m.method} ${m.target}` : `${m.status} ${m.reason}${m.bodyLength === null ? ' (event stream)' : ''}`;
      o.text(arrow);
      o.text(m.from);
      o.text(' HTTP ');
      o.text(safeLine(what));
      o.text(' [');
      o.where(m);
      o.text(']\n');
      o.wireText(m.wire.raw);
      // The wire bytes shown are the first --max-payload of the message's: a cut says so.
      const onWire = m.wire.extents ? extentBytes(m.wire.extents) : m.wire.end - m.wire.start;
      if (m.wire.raw && m.wire.raw.length < onWire) o.text(`\n   [cut: the first ${m.wire.raw.length} of its ${onWire} bytes on the wire shown]`);
      const encoding = m.headers.find(([k]) => k.toLowerCase() === 'content-encoding')?.[1];
      // The label says what was done: decoded (with both sizes), or shown as sent and why.
      const coded = m as { bodyDecodedLength?: number; bodyNotDecoded?: string };
      // The wire bytes above show the body as sent; a decoded body is shown after them.
      if (encoding && coded.bodyDecodedLength !== undefined && (m.body !== undefined || m.bodyHex !== undefined)) {
        o.text(`\n   [${safeLine(encoding)} body decoded: ${m.bodyLength ?? 0} bytes sent, ${coded.bodyDecodedLength} decoded]\n`);
        o.text(m.body !== undefined ? safeText(m.body) : `   ${m.bodyHex}`);
      } else if (encoding && coded.bodyNotDecoded !== undefined) {
        o.text(`\n   [${safeLine(encoding)} body not decoded (${safeLine(coded.bodyNotDecoded)}): shown as sent]`);
      }
      if (m.bodyTruncated) o.text(`\n   [body cut: only the beginning of its ${coded.bodyDecodedLength ?? m.bodyLength ?? 0} bytes is kept]`);
      return SIDE_NONE;
    }
    case 'sse-event':
      o.text(arrow);
      o.text('server SSE event [');
      o.where(m);
      o.text(']\n');
      o.wireText(m.wire.raw);
      o.text(`\n   => event: ${safeLine(m.event)}${m.id !== undefined ? `, id: ${safeLine(m.id)}` : ''}${m.retry !== undefined ? `, retry: ${m.retry}` : ''}, data: ${safeLine(m.data)}`);
      if ((m as { dataTruncated?: boolean }).dataTruncated) o.text(` ... [cut: the first ${Buffer.byteLength(m.data, 'utf8')} bytes of data shown]`);
      return SIDE_NONE;
    case 'sse-fields': {
      // No event: what the block set on the EventSource.
      const set = [m.event !== undefined ? `event: ${safeLine(m.event)}` : '', m.id !== undefined ? `id: ${safeLine(m.id)}` : '', m.retry !== undefined ? `retry: ${m.retry}` : ''].filter((x) => x !== '');
      o.text(arrow);
      o.text('server SSE fields, no event [');
      o.where(m);
      o.text(`]: ${set.length > 0 ? set.join(', ') : '(unknown fields only)'}`);
      return SIDE_NONE;
    }
    case 'sse-comment':
      o.text(arrow);
      o.text('server SSE comment [');
      o.where(m);
      o.text(`]: ${safeLine(m.text)}`);
      return SIDE_NONE;
    case 'ws-frame': {
      const raw = m.wire.raw ?? EMPTY;
      const shown = raw.length > MAX_HEX_BYTES ? raw.subarray(0, MAX_HEX_BYTES) : raw;
      const kept = m.wire.rawLength ?? raw.length;
      o.hex(shown);
      if (kept > shown.length) {
        o.text(' ... (');
        o.int(kept);
        o.text(' bytes)');
      }
      o.text('   ');
      const payload = m.wire.payload;
      if (m.opcode !== OPCODE.CLOSE && payload && payload.length > 0 && !m.rsv1) {
        if (m.text === undefined) {
          o.dots(payload.subarray(0, MAX_HEX_BYTES));
          o.text('  ');
        } else if (m.text.length > 0) {
          // Plain text as long as its bytes is those bytes, ASCII: copied, not encoded again.
          if (m.wire.plainText && m.text.length === payload.length) o.bytes(payload);
          else o.text(lineOf(m));
          o.text('  ');
        }
        // Only the beginning of a long payload is kept (--max-payload): say so, with its length.
        if (m.text !== undefined && payload.length < m.payloadLength) o.text(`[cut: the first ${payload.length} of ${m.payloadLength} bytes shown]  `);
      }
      o.text('(');
      o.text(OPCODE_NAMES[m.opcode] ?? `opcode ${m.opcode}`);
      if (!m.fin) o.text(', not final');
      if (m.rsv1) o.text(', compressed');
      if (m.masked) {
        o.text(', masked, key ');
        o.text(String(m.maskKey));
      }
      if (m.opcode === OPCODE.CLOSE) {
        o.text(', ');
        o.text(m.closeCode !== undefined ? `code ${m.closeCode} (${closeCodeMeaning(m.closeCode)})${m.closeReason ? `, reason ${JSON.stringify(safeLine(m.closeReason))}` : ''}` : 'no payload');
      }
      o.text(') [');
      o.where(m);
      o.text(']');
      return m.from === 'client' ? SIDE_C : SIDE_S;
    }
    case 'ws-message': {
      // A one-frame uncompressed message was shown whole on its frame's line.
      if ((m.wire.fragments ?? 1) <= 1 && !m.compressed) return false;
      const hexText = m.text !== undefined ? undefined : messageHex(m) ?? '';
      const body = m.text !== undefined ? lineOf(m) : hexText!;
      o.text(`   => ${m.from} message (${OPCODE_NAMES[m.opcode] ?? m.opcode}${m.compressed ? ', inflated' : ''}, ${m.length} bytes): ${body}`);
      // Only the beginning of a long message is kept (64 KiB): say so, with what is shown.
      const shownBytes = m.text !== undefined ? Buffer.byteLength(m.text, 'utf8') : hexText!.length >> 1;
      if (shownBytes < m.length) o.text(` ... [cut: the first ${shownBytes} of ${m.length} bytes shown]`);
      return SIDE_NONE;
    }
    case 'data': {
      o.text(`${arrow}${m.from} ${m.length} byte${m.length === 1 ? '' : 's'} [`);
      o.where(m);
      o.text(']');
      if (m.text !== undefined) o.text(`\n${safeText(m.text).replace(/\n$/, '')}`);
      else if (m.wire.raw) {
        if (m.wire.raw.length > 0) o.hexDump(m.wire.raw);
        else o.text('\n'); // bytes not kept: the head line, and an empty one
      }
      return SIDE_NONE;
    }
    case 'tls-handshake':
    case 'tls-change-cipher-spec':
    case 'tls-alert':
    case 'tls-record':
    case 'h2-control': {
      // The TLS layer's own records: what they are and their size; their content is TLS's (or unreadable without a key).
      const what = m.kind === 'h2-control' ? 'HTTP/2 control frames' : m.kind === 'tls-record' ? 'TLS application data, not decrypted' : m.kind === 'tls-handshake' ? 'TLS handshake' : m.kind === 'tls-alert' ? 'TLS alert' : 'TLS ChangeCipherSpec';
      o.text(`${arrow}${m.from} ${what}, ${m.length} byte${m.length === 1 ? '' : 's'} [`);
      o.where(m);
      o.text(']');
      return SIDE_NONE;
    }
  }
}

export function payloadsHeader(file: string): string {
  // Bounded memory means printing a connection when it ends (a long one every maxHeld
  // messages): said here, as the order is not the order connections began (issue 13.16).
  return `=== ${safeLine(captureName(file))} ===\n(connections are printed as they end, a long one in parts as it goes;\n #N numbers them in the order they began; lines over ${WRAP} bytes wrap, continuing after "${CONTINUED.trim()}")\n`;
}

/** Output lines are wrapped at this many bytes (never inside a UTF-8 character): a 64 KiB message is not one line. */
export const WRAP = 160;
const CONTINUED = '\n   + ';

/**
 * Copies b[from, to) to `out`, breaking every run of more than WRAP bytes without a line end
 * with CONTINUED. Runs of WRAP bytes or fewer, which is nearly all, are copied as they are.
 */
function wrapInto(out: ByteOut, b: Uint8Array, from: number, to: number): void {
  let line = from;
  while (line < to) {
    let nl = b.indexOf(0x0a, line);
    if (nl < 0 || nl >= to) nl = to;
    if (nl - line <= WRAP) {
      out.bytes(b.subarray(line, nl < to ? nl + 1 : to));
      line = nl + 1;
      continue;
    }
    let at = line;
    while (nl - at > WRAP) {
      let cut = at + WRAP;
      while (cut > at && (b[cut] & 0xc0) === 0x80) cut--;
      out.bytes(b.subarray(at, cut));
      out.text(CONTINUED);
      at = cut;
    }
    out.bytes(b.subarray(at, nl < to ? nl + 1 : to));
    line = nl + 1;
  }
}

interface ConnectionState {
  printed: boolean;
  /** Labels given so far, by side: C1, C2... and S1, S2... */
  counters: [number, number, number];
  /** The rendered messages not yet printed, back to back; block i starts at starts[i]. */
  out: ByteOut;
  starts: number[];
  sides: number[];
  /** Messages since the last print, those shown through others included. */
  held: number;
}

/** A connection's rendered text is kept in a buffer of this size to start with, and again after a print. */
const OUT_START = 4096;
/** Kept between prints up to this size: a busy connection does not grow its buffer anew each time. */
const OUT_KEEP = 4 * 1024 * 1024;

/**
 * Prints each connection's messages in the order they completed when the connection ends (or every
 * `maxHeld` messages, as a "continued" section), so a capture of any size streams through in
 * bounded memory. Each message is rendered to bytes as it arrives: what a connection holds
 * until it is printed is its output, not its messages.
 */
export class PayloadPrinter {
  private states = new Map<number, ConnectionState>();
  constructor(
    private readonly write: (b: Uint8Array) => void,
    private readonly maxHeld = 1000,
  ) {}

  private state(c: ConnectionReport): ConnectionState {
    let st = this.states.get(c.id);
    if (!st) {
      st = { printed: false, counters: [0, 0, 0], out: new ByteOut(OUT_START), starts: [], sides: [], held: 0 };
      this.states.set(c.id, st);
    }
    return st;
  }

  message(c: ConnectionReport, m: Message): void {
    const st = this.state(c);
    const start = st.out.len;
    const side = renderMessage(st.out, m);
    if (side !== false) {
      st.starts.push(start);
      st.sides.push(side);
    }
    if (++st.held >= this.maxHeld) this.flush(c, st);
  }

  /** Where the stream lost bytes, was cut off, or had a copy that differs: said among its messages, where it happened. */
  note(c: ConnectionReport, text: string): void {
    const st = this.state(c);
    st.starts.push(st.out.len);
    st.sides.push(SIDE_NONE);
    st.out.text(`   [${safeLine(text)}]`);
  }

  /** The connection has ended (final) or is to be printed so far. */
  connection(c: ConnectionReport, final: boolean): void {
    const st = this.state(c);
    if (st.held > 0 || !st.printed) this.flush(c, st);
    if (final) this.states.delete(c.id);
  }

  private flush(c: ConnectionReport, st: ConnectionState): void {
    const { out, starts, sides } = st;
    const n = starts.length;
    // Room for every block, its label (a letter, up to 16 digits, ': ') and its line end.
    const tls = c.layers?.tls as TlsInfo | undefined;
    // Over TLS, the line says whether the bytes below were decrypted, and how.
    const over = tls ? `, ${tls.decrypted ? 'decrypted' : 'not decrypted'}: ${safeLine(tls.version ?? 'TLS')}${tls.cipherSuite ? ` ${safeLine(tls.cipherSuite)}` : ''}` : '';
    const head = `\n--- connection #${c.id}: ${c.client} -> ${c.server} (${c.protocol}${over})${st.printed ? ', continued' : ''} ---`;
    const text = new ByteOut(out.len + n * 20 + head.length * 3 + 1);
    text.text(head);
    // In the order they completed (see JsonStreamWriter.connection): never sorted by time.
    for (let i = 0; i < n; i++) {
      text.text('\n');
      if (sides[i] !== SIDE_NONE) {
        text.text(sides[i] === SIDE_C ? 'C' : 'S');
        text.int(++st.counters[sides[i]]);
        text.text(': ');
      }
      wrapInto(text, out.buf, starts[i], i + 1 < n ? starts[i + 1] : out.len);
    }
    text.text('\n');
    st.printed = true;
    st.held = 0;
    starts.length = sides.length = 0;
    // A long connection's buffer is not kept at its largest between prints.
    if (out.buf.length > OUT_KEEP) st.out = new ByteOut(OUT_START);
    else out.len = 0;
    this.write(text.buf.subarray(0, text.len));
  }
}
