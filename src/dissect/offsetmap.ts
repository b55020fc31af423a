/**
 * How one direction of a child stream lies in its parent stream. A child stream (TLS
 * plaintext, an HTTP/2 stream's body) numbers its bytes from 0; each run of its bytes that is
 * contiguous in the parent is one entry, with the unit that carried it there (the TLS record,
 * the DATA frame): framing of the unit belongs to the child bytes at its edges, so that
 * messages tiling the child stream claim every parent byte of their units, and no byte twice.
 * gopacket's ScatterGather is the model: any byte can say where it came from.
 */
export class OffsetMap {
  // One flat list in child order, five numbers an entry (childStart, childEnd, parentStart,
  // unitStart, unitEnd); entries before `head` were released. One array, not five: a child
  // fed chunk by chunk on thousands of connections at once touches it on every chunk, and
  // each array on the way is a cache miss (the sse-fanout profile).
  private e: number[] = [];
  private head = 0;
  /** Child bytes mapped so far: the next entry starts here. */
  length = 0;

  /**
   * `length` child bytes continue the stream, found at parent offset `parentStart`, inside
   * the unit [unitStart, unitEnd) of the parent.
   */
  add(length: number, parentStart: number, unitStart: number, unitEnd: number): void {
    const start = this.length;
    this.length += length;
    this.e.push(start, this.length, parentStart, unitStart, unitEnd);
  }

  private indexOf(offset: number): number {
    const e = this.e;
    let lo = this.head;
    let hi = e.length / 5 - 1;
    if (hi < lo) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (e[mid * 5] <= offset) lo = mid;
      else hi = mid - 1;
    }
    // Runs of no bytes (an empty record) share a start: the last of them is not the one that holds the byte.
    while (lo > this.head && e[lo * 5] === e[lo * 5 + 1] && e[(lo - 1) * 5] === offset) lo--;
    return lo;
  }

  /** The parent offset of child byte `offset` (the end of the last unit for the end of the stream). */
  toParent(offset: number): number {
    const i = this.indexOf(offset);
    if (i < 0) return 0;
    const e = this.e;
    const k = i * 5;
    if (offset >= e[k + 1]) return e[k + 4];
    return e[k + 2] + Math.max(0, offset - e[k]);
  }

  /**
   * The parent ranges behind child bytes [start, end), as [s0, e0, s1, e1, ...], adjacent ones
   * merged. A range that begins where a unit's child bytes begin takes in the unit's leading
   * framing, one that ends where they end takes in its trailing framing.
   */
  extents(start: number, end: number): number[] {
    const out: number[] = [];
    const e = this.e;
    const n = e.length / 5;
    let i = this.indexOf(start);
    if (i < 0) return out;
    if (end <= start) {
      const p = this.toParent(start);
      return [p, p];
    }
    for (; i < n && e[i * 5] < end; i++) {
      const k = i * 5;
      const cs = e[k];
      const ce = e[k + 1];
      if (ce <= start && ce > cs) continue;
      const s = start <= cs ? e[k + 3] : e[k + 2] + (start - cs);
      const x = end >= ce ? e[k + 4] : e[k + 2] + (end - cs);
      if (out.length > 0 && out[out.length - 1] === s) out[out.length - 1] = x;
      else out.push(s, x);
    }
    return out;
  }

  /** Entries wholly before child offset `offset` are no longer asked about. */
  release(offset: number): void {
    const e = this.e;
    const n = e.length / 5;
    while (this.head < n - 1 && e[this.head * 5 + 1] <= offset) this.head++;
    // Let go of them once they are most of the list: kept few, a long-lived stream's map stays small.
    if (this.head > 32 && this.head * 2 > n) {
      e.copyWithin(0, this.head * 5);
      e.length = (n - this.head) * 5;
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
