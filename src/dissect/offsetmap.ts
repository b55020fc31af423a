/**
 * How one direction of a child stream lies in its parent stream. A child stream (TLS
 * plaintext, an HTTP/2 stream's body) numbers its bytes from 0; each run of its bytes that is
 * contiguous in the parent is one entry, with the unit that carried it there (the TLS record,
 * the DATA frame): framing of the unit belongs to the child bytes at its edges, so that
 * messages tiling the child stream claim every parent byte of their units, and no byte twice.
 * gopacket's ScatterGather is the model: any byte can say where it came from.
 */
export class OffsetMap {
  // Parallel arrays in child order; entries before `head` were released.
  private childStart: number[] = [];
  private childEnd: number[] = [];
  private parentStart: number[] = [];
  private unitStart: number[] = [];
  private unitEnd: number[] = [];
  private head = 0;
  /** Child bytes mapped so far: the next entry starts here. */
  length = 0;

  /**
   * `length` child bytes continue the stream, found at parent offset `parentStart`, inside
   * the unit [unitStart, unitEnd) of the parent.
   */
  add(length: number, parentStart: number, unitStart: number, unitEnd: number): void {
    this.childStart.push(this.length);
    this.length += length;
    this.childEnd.push(this.length);
    this.parentStart.push(parentStart);
    this.unitStart.push(unitStart);
    this.unitEnd.push(unitEnd);
  }

  private indexOf(offset: number): number {
    let lo = this.head;
    let hi = this.childStart.length - 1;
    if (hi < lo) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.childStart[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    // Runs of no bytes (an empty record) share a start: the last of them is not the one that holds the byte.
    while (lo > this.head && this.childStart[lo] === this.childEnd[lo] && this.childStart[lo - 1] === offset) lo--;
    return lo;
  }

  /** The parent offset of child byte `offset` (the end of the last unit for the end of the stream). */
  toParent(offset: number): number {
    const i = this.indexOf(offset);
    if (i < 0) return 0;
    if (offset >= this.childEnd[i]) return this.unitEnd[i];
    return this.parentStart[i] + Math.max(0, offset - this.childStart[i]);
  }

  /**
   * The parent ranges behind child bytes [start, end), as [s0, e0, s1, e1, ...], adjacent ones
   * merged. A range that begins where a unit's child bytes begin takes in the unit's leading
   * framing, one that ends where they end takes in its trailing framing.
   */
  extents(start: number, end: number): number[] {
    const out: number[] = [];
    const n = this.childStart.length;
    let i = this.indexOf(start);
    if (i < 0) return out;
    if (end <= start) {
      const p = this.toParent(start);
      return [p, p];
    }
    for (; i < n && this.childStart[i] < end; i++) {
      const cs = this.childStart[i];
      const ce = this.childEnd[i];
      if (ce <= start && ce > cs) continue;
      const s = start <= cs ? this.unitStart[i] : this.parentStart[i] + (start - cs);
      const e = end >= ce ? this.unitEnd[i] : this.parentStart[i] + (end - cs);
      if (out.length > 0 && out[out.length - 1] === s) out[out.length - 1] = e;
      else out.push(s, e);
    }
    return out;
  }

  /** Entries wholly before child offset `offset` are no longer asked about. */
  release(offset: number): void {
    const n = this.childStart.length;
    while (this.head < n - 1 && this.childEnd[this.head] <= offset) this.head++;
    if (this.head > 256 && this.head * 2 > n) {
      const h = this.head;
      for (const a of [this.childStart, this.childEnd, this.parentStart, this.unitStart, this.unitEnd]) a.splice(0, h);
      this.head = 0;
    }
  }
}

/** Sum of the lengths of extents [s0, e0, s1, e1, ...]. */
export function extentBytes(extents: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < extents.length; i += 2) n += extents[i + 1] - extents[i];
  return n;
}
