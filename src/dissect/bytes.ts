const utf8 = new TextDecoder('utf-8', { fatal: true });
/** ISO-8859-1, one character per byte: Node's own slice is about twice as fast as a TextDecoder's (which gives the same text). */
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/**
 * What a terminal line must not show as it is: C0 controls (line ends included), DEL, C1
 * controls and the Unicode bidirectional overrides. report/sanitize.ts escapes these; text
 * known to hold none of them needs no escaping.
 */
export const TERMINAL_UNSAFE = '\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ufeff';
const NOT_PLAIN = new RegExp(`[${TERMINAL_UNSAFE}]`);

/**
 * Decodes bytes as UTF-8 when they are text (no control characters but tab, CR, LF); else
 * null. With `plain`, also says whether the text holds nothing a terminal line must escape:
 * for the usual text one scan answers both, and a printer need not scan it again.
 */
export function textOf(b: Uint8Array, plain?: { plain: boolean }): string | null {
  // Most payloads are printable ASCII: then the bytes are the text, and nothing needs escaping.
  if (isPrintableAscii(b)) {
    if (plain) plain.plain = true;
    return latin1Slice.call(b, 0, b.length);
  }
  let s: string;
  try {
    s = utf8.decode(b);
  } catch {
    return null;
  }
  // Checked on the decoded string: a native regex scan, not a loop over bytes.
  const isPlain = !NOT_PLAIN.test(s);
  if (plain) plain.plain = isPlain;
  return isPlain || !CONTROL.test(s) || looksLikeText(s) ? s : null;
}

const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/**
 * Valid UTF-8 with a few control characters is still text (a log line in colour, a terminal
 * session): it stays text, escaped where it is shown, and JSON escapes it safely (issue
 * 13.13). Hex is for bytes that are not text: a NUL, or controls in more than one character
 * in eight, say binary.
 */
function looksLikeText(s: string): boolean {
  if (s.includes('\u0000')) return false;
  const controls = s.match(CONTROLS)?.length ?? 0;
  return controls * 8 <= s.length;
}

/** True when every byte is printable ASCII (0x20-0x7e). */
export function isPrintableAscii(b: Uint8Array): boolean {
  return scanAscii(b, false);
}

/**
 * True when the bytes are lines of printable ASCII: besides 0x20-0x7e only TAB, LF, and CR
 * right before an LF. Wire text (HTTP heads, chunked bodies, SSE events) that passes shows as
 * it is, CRLF as LF.
 */
export function isAsciiLines(b: Uint8Array): boolean {
  return scanAscii(b, true);
}

/**
 * Both scans, four bytes at a time: in the lowest failing lane of a word (no carry or borrow
 * reaches it from the passing lanes below) x - 0x20 sets the high bit for a byte below 0x20 or
 * of 0xff, and x + 1 for 0x7f to 0xfe; passing lanes set none. With `lines`, a failing word is
 * looked at byte by byte, since it may hold a line end.
 */
function scanAscii(b: Uint8Array, lines: boolean): boolean {
  const n = b.length;
  let i = 0;
  if (n >= 64) {
    while ((b.byteOffset + i) & 3) if (!byteOk(b, i++, lines)) return false;
    const words = new Uint32Array(b.buffer, b.byteOffset + i, (n - i) >> 2);
    for (let k = 0; k < words.length; k++) {
      const x = words[k];
      if (((x - 0x20202020) | (x + 0x01010101)) & 0x80808080) {
        if (!lines) return false;
        const at = i + (k << 2);
        if (!byteOk(b, at, true) || !byteOk(b, at + 1, true) || !byteOk(b, at + 2, true) || !byteOk(b, at + 3, true)) return false;
      }
    }
    i += words.length << 2;
  }
  for (; i < n; i++) if (!byteOk(b, i, lines)) return false;
  return true;
}

function byteOk(b: Uint8Array, i: number, lines: boolean): boolean {
  const c = b[i];
  if (c >= 0x20 && c <= 0x7e) return true;
  return lines && (c === 0x0a || c === 0x09 || (c === 0x0d && b[i + 1] === 0x0a));
}

/** Text or hex, as the JSON output carries payloads. */
export function textOrHex(b: Uint8Array): { text: string } | { hex: string } {
  const t = textOf(b);
  return t !== null ? { text: t } : { hex: hex(b) };
}

/** Two hex digits of each byte value: a few bytes (a mask key) are written from the table. */
export const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * Kept bytes are views carved from slabs of this size. Buffer.allocUnsafe cost more than the
 * copies it was for: Node's 8 KiB pool, emptied every few WebSocket payloads, is a new
 * ArrayBuffer each time, and every Buffer goes through its subclass constructor; a plain
 * Uint8Array view does not (allocation was an eighth of what keeping bytes costs). A view
 * keeps its slab alive, as a Buffer keeps its pool: kept bytes live as long as their message.
 */
const SLAB = 256 * 1024;
let slab = new ArrayBuffer(SLAB);
let slabUsed = 0;

/** n bytes for the caller to fill (not zeroed when they come from a slab). */
export function allocBytes(n: number): Uint8Array {
  if (n > SLAB >>> 4) return new Uint8Array(n);
  if (slabUsed + n > SLAB) {
    slab = new ArrayBuffer(SLAB);
    slabUsed = 0;
  }
  const b = new Uint8Array(slab, slabUsed, n);
  slabUsed = (slabUsed + n + 7) & ~7;
  return b;
}

/** A copy of b in memory of its own. */
export function copyBytes(b: Uint8Array): Uint8Array {
  const out = allocBytes(b.length);
  out.set(b);
  return out;
}

/** Bytes as ISO-8859-1 text: one character per byte, for header parsing. */
export function ascii(b: Uint8Array): string {
  return latin1Slice.call(b, 0, b.length);
}

/** Appends b to a growable byte list kept under a cap; returns false once the cap cut it. */
export class ByteKeeper {
  private parts: Uint8Array[] = [];
  length = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  add(b: Uint8Array): void {
    if (this.length >= this.cap) {
      if (b.length > 0) this.truncated = true;
      return;
    }
    const take = Math.min(b.length, this.cap - this.length);
    if (take < b.length) this.truncated = true;
    this.parts.push(copyBytes(take < b.length ? b.subarray(0, take) : b));
    this.length += take;
  }

  /** n bytes that were never captured, kept as zeros: no more of them are made than the cap takes. */
  addZeros(n: number): void {
    const take = Math.max(0, Math.min(n, this.cap - this.length));
    if (take < n && n > 0) this.truncated = true;
    if (take > 0) this.addOwned(new Uint8Array(take));
  }

  /** Like add, for bytes the caller made for the keeper and will not touch again: no copy. */
  addOwned(b: Uint8Array): void {
    if (this.length + b.length > this.cap) return this.add(b);
    this.parts.push(b);
    this.length += b.length;
  }
  bytes(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0];
    const out = allocBytes(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    this.parts = [out];
    return out;
  }
}
