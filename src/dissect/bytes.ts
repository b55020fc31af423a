const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

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
  let s: string;
  try {
    s = utf8.decode(b);
  } catch {
    return null;
  }
  // Checked on the decoded string: a native regex scan, not a loop over bytes.
  const isPlain = !NOT_PLAIN.test(s);
  if (plain) plain.plain = isPlain;
  return isPlain || !CONTROL.test(s) ? s : null;
}

/** Text or hex, as the JSON output carries payloads. */
export function textOrHex(b: Uint8Array): { text: string } | { hex: string } {
  const t = textOf(b);
  return t !== null ? { text: t } : { hex: hex(b) };
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function hex(b: Uint8Array, sep = ''): string {
  if (!sep) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  // Separated hex is only ever made of short runs (a frame's first bytes, a dump row): a
  // table lookup per byte beats a regex over the whole string.
  let h = b.length > 0 ? HEX_PAIRS[b[0]] : '';
  for (let i = 1; i < b.length; i++) h += sep + HEX_PAIRS[b[i]];
  return h;
}

/** A copy of b in memory of its own; small copies come from Node's buffer pool, not a new ArrayBuffer each. */
export function copyBytes(b: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(b.length);
  out.set(b);
  return out;
}

/** Bytes as ISO-8859-1 text: one character per byte, for header parsing. */
export function ascii(b: Uint8Array): string {
  return latin1.decode(b);
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

  /** Like add, for bytes the caller made for the keeper and will not touch again: no copy. */
  addOwned(b: Uint8Array): void {
    if (this.length + b.length > this.cap) return this.add(b);
    this.parts.push(b);
    this.length += b.length;
  }
  bytes(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0];
    const out = Buffer.allocUnsafe(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    this.parts = [out];
    return out;
  }
}
