import { allocBytes, copyBytes } from './bytes.js';

/**
 * Recent stream bytes of one direction, kept only when payloads are to be shown, so that a
 * message can be printed as it was on the wire. Released as messages complete, and capped:
 * past the cap, new bytes are not kept (a message then shows only its beginning).
 */
export class WireBuffer {
  private parts: Array<{ offset: number; bytes: Uint8Array }> = [];
  private size = 0;

  constructor(private readonly cap: number) {}

  add(offset: number, bytes: Uint8Array): void {
    if (this.size >= this.cap) return;
    const take = Math.min(bytes.length, this.cap - this.size);
    this.parts.push({ offset, bytes: copyBytes(take < bytes.length ? bytes.subarray(0, take) : bytes) });
    this.size += take;
  }

  /** Bytes [start, end) as far as they are kept, at most `max` of them; bytes lost in a gap read as zeros. */
  slice(start: number, end: number, max: number): Uint8Array {
    end = Math.min(end, start + max);
    // Within one kept part (most messages are within one packet): a view of it, no copy. The
    // part is the buffer's own copy, never written again.
    for (const p of this.parts) {
      if (p.offset > start) break;
      if (p.offset + p.bytes.length >= end) return p.bytes.subarray(start - p.offset, end - p.offset);
    }
    const out = allocBytes(Math.max(0, end - start));
    let filled = 0;
    let covered = 0;
    for (const p of this.parts) {
      if (p.offset >= end) break; // parts are in stream order
      const pEnd = p.offset + p.bytes.length;
      if (pEnd <= start) continue;
      const from = Math.max(start, p.offset);
      const to = Math.min(end, pEnd);
      out.set(p.bytes.subarray(from - p.offset, to - p.offset), from - start);
      covered += to - from;
      filled = Math.max(filled, to - start);
    }
    if (covered < filled) {
      // A gap inside: start over on zeroed memory (rare; the common path skips the zeroing).
      out.fill(0, 0, filled);
      for (const p of this.parts) {
        if (p.offset >= end) break;
        const pEnd = p.offset + p.bytes.length;
        if (pEnd <= start) continue;
        const from = Math.max(start, p.offset);
        out.set(p.bytes.subarray(from - p.offset, Math.min(end, pEnd) - p.offset), from - start);
      }
    }
    return out.subarray(0, filled);
  }

  release(offset: number): void {
    let i = 0;
    while (i < this.parts.length && this.parts[i].offset + this.parts[i].bytes.length <= offset) {
      this.size -= this.parts[i].bytes.length;
      i++;
    }
    if (i > 0) this.parts.splice(0, i);
  }
}
