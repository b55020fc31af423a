/**
 * Remembers which packet carried which stream offsets of one direction, so that a message
 * can name the frames behind it. One entry per delivered chunk; entries before the oldest
 * offset a dissector may still ask about are released as messages complete.
 */
const NO_OFFSETS = new Float64Array(0);
const NO_FRAMES = new Int32Array(0);

export class FrameMap {
  // Typed arrays, grown by half again when full: a tenth of the memory and time of three
  // arrays of numbers, which matters when a message spans millions of one-byte segments.
  // Empty until the first chunk: a connection that never carries a byte (a SYN flood has a
  // million) costs no typed arrays here.
  private offsets = NO_OFFSETS;
  private frames = NO_FRAMES;
  private times = NO_OFFSETS;
  private n = 0;
  private head = 0;

  /** frame -1 marks bytes that were never captured (a gap). */
  add(offset: number, frame: number, time: number): void {
    const n = this.n;
    if (n > this.head && this.frames[n - 1] === frame && this.offsets[n - 1] <= offset) return;
    if (n === this.offsets.length) this.grow();
    this.offsets[n] = offset;
    this.frames[n] = frame;
    this.times[n] = time;
    this.n = n + 1;
  }

  private grow(): void {
    this.resize(this.offsets.length === 0 ? 16 : this.offsets.length + (this.offsets.length >> 1));
  }

  private resize(size: number): void {
    const n = this.n;
    const offsets = new Float64Array(size);
    const frames = new Int32Array(size);
    const times = new Float64Array(size);
    offsets.set(this.offsets.subarray(0, n));
    frames.set(this.frames.subarray(0, n));
    times.set(this.times.subarray(0, n));
    this.offsets = offsets;
    this.frames = frames;
    this.times = times;
  }

  private indexOf(offset: number): number {
    let lo = this.head;
    let hi = this.n - 1;
    if (hi < lo) return -1;
    if (offset < this.offsets[lo]) return lo;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * The frames behind bytes [start, end), ascending, each once. Entries are in stream order,
   * and so mostly in frame order: a frame is appended when it is past the last one listed, and
   * only entries out of frame order (a retransmission filling a hole) cost a sort at the end.
   * Linear in the entries it visits: a search of the list for each entry made a message of
   * 10^5 segments take 10^10 steps.
   */
  framesFor(start: number, end: number): number[] {
    const out: number[] = [];
    let i = this.indexOf(start);
    if (i < 0) return out;
    const n = this.n;
    let last = -1;
    let unordered = false;
    for (; i < n && (this.offsets[i] < end || out.length === 0); i++) {
      const f = this.frames[i];
      if (f > last) {
        out.push(f);
        last = f;
      } else if (f >= 0 && f !== last) {
        out.push(f);
        unordered = true;
      }
      if (end <= start) break;
    }
    return unordered ? sortedUnique(out) : out;
  }

  frameAt(offset: number): number {
    const i = this.indexOf(offset);
    return i < 0 ? 0 : this.frames[i];
  }

  timeAt(offset: number): number {
    const i = this.indexOf(offset);
    return i < 0 ? 0 : this.times[i];
  }

  release(offset: number): void {
    const n = this.n;
    while (this.head + 1 < n && this.offsets[this.head + 1] <= offset) this.head++;
    if (this.head > 1024 && this.head * 2 > n) {
      const h = this.head;
      this.offsets.copyWithin(0, h, n);
      this.frames.copyWithin(0, h, n);
      this.times.copyWithin(0, h, n);
      this.n = n - h;
      this.head = 0;
      // A map that once held a long message gives the memory back.
      if (this.offsets.length > 4096 && this.n * 4 < this.offsets.length) this.resize(this.n * 2);
    }
  }
}

/** The numbers ascending, each once (in place). */
export function sortedUnique(a: number[]): number[] {
  a.sort((x, y) => x - y);
  let k = 0;
  for (let j = 0; j < a.length; j++) if (k === 0 || a[j] !== a[k - 1]) a[k++] = a[j];
  a.length = k;
  return a;
}

/** The frames behind ranges [s0, e0, s1, e1, ...], ascending, each once: framesFor over each, merged. */
export function framesOfExtents(framesFor: (start: number, end: number) => number[], ext: readonly number[]): number[] {
  if (ext.length === 2) return framesFor(ext[0], ext[1]);
  const out: number[] = [];
  for (let i = 0; i < ext.length; i += 2) for (const f of framesFor(ext[i], ext[i + 1])) out.push(f);
  return sortedUnique(out);
}
