const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Decodes bytes as UTF-8 when they are text (no control characters but tab, CR, LF); else null. */
export function textOf(b: Uint8Array): string | null {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return null;
  }
  try {
    return utf8.decode(b);
  } catch {
    return null;
  }
}

/** Text or hex, as the JSON output carries payloads. */
export function textOrHex(b: Uint8Array): { text: string } | { hex: string } {
  const t = textOf(b);
  return t !== null ? { text: t } : { hex: hex(b) };
}

export function hex(b: Uint8Array, sep = ''): string {
  let s = '';
  for (let i = 0; i < b.length; i++) {
    if (sep && i > 0) s += sep;
    s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  }
  return s;
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
    this.parts.push(b.slice(0, take));
    this.length += take;
  }
  bytes(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    this.parts = [out];
    return out;
  }
}
