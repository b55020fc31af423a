/**
 * Remembers which packet carried which stream offsets of one direction, so that a message
 * can name the frames behind it. One entry per delivered chunk; entries before the oldest
 * offset a dissector may still ask about are released as messages complete.
 */
export class FrameMap {
  private offsets: number[] = [];
  private frames: number[] = [];
  private times: number[] = [];
  private head = 0;

  /** frame -1 marks bytes that were never captured (a gap). */
  add(offset: number, frame: number, time: number): void {
    const n = this.offsets.length;
    if (n > this.head && this.frames[n - 1] === frame && this.offsets[n - 1] <= offset) return;
    this.offsets.push(offset);
    this.frames.push(frame);
    this.times.push(time);
  }

  private indexOf(offset: number): number {
    let lo = this.head;
    let hi = this.offsets.length - 1;
    if (hi < lo) return -1;
    if (offset < this.offsets[lo]) return lo;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  framesFor(start: number, end: number): number[] {
    const out: number[] = [];
    let i = this.indexOf(start);
    if (i < 0) return out;
    const n = this.offsets.length;
    for (; i < n && (this.offsets[i] < end || out.length === 0); i++) {
      const f = this.frames[i];
      if (f >= 0 && !out.includes(f)) out.push(f);
      if (end <= start) break;
    }
    return out.length > 1 ? out.sort((a, b) => a - b) : out;
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
    const n = this.offsets.length;
    while (this.head + 1 < n && this.offsets[this.head + 1] <= offset) this.head++;
    if (this.head > 1024 && this.head * 2 > n) {
      this.offsets = this.offsets.slice(this.head);
      this.frames = this.frames.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}
