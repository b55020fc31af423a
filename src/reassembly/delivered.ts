/**
 * The last bytes delivered in one direction, kept so that a retransmission of them can be
 * compared with the first copy: a copy with different bytes is what an evasion attempt looks
 * like (a receiver and a monitor may each have taken a different one).
 *
 * Delivered bytes are views of the reader's buffer, gone with the next read, so they are
 * copied: into a linear buffer of twice the window, shifted down (copyWithin, no allocation)
 * when full, so that the common append is one set() and no view is made per packet. Between
 * `size` and 2 x `size` bytes before the last delivered one are kept.
 */

/** Deliveries remembered with their frame, to name the frame of a first copy. */
const FRAMES_KEPT = 8;

/**
 * What one window costs beyond its buffer's bytes (V8 x64): the object 72, two typed arrays
 * with their ArrayBuffers and backing-store records 2 x 239, the frame ring's 128 bytes.
 */
export const DELIVERED_OVERHEAD = 704;

export class Delivered {
  readonly buf: Uint8Array;
  /** Bytes kept: buf[0, length) holds stream offsets [end - length, end). */
  length = 0;
  end = 0;
  /** The last deliveries as (stream offset, frame) pairs, a ring. */
  private readonly frames = new Float64Array(FRAMES_KEPT * 2);
  private nextFrame = 0;

  constructor(readonly size: number) {
    this.buf = new Uint8Array(size * 2);
  }

  /** Bytes delivered at `offset` by `frame`. */
  add(offset: number, bytes: Uint8Array, frame: number): void {
    // A gap in between: what was kept no longer ends where these begin.
    if (offset !== this.end) this.length = 0;
    const n = bytes.length;
    const buf = this.buf;
    const size = this.size;
    if (n >= size) {
      buf.set(n === size ? bytes : bytes.subarray(n - size));
      this.length = size;
    } else {
      if (this.length + n > buf.length) {
        buf.copyWithin(0, this.length - size, this.length);
        this.length = size;
      }
      buf.set(bytes, this.length);
      this.length += n;
    }
    this.end = offset + n;
    const f = this.nextFrame;
    this.frames[f * 2] = offset;
    this.frames[f * 2 + 1] = frame;
    this.nextFrame = f + 1 === FRAMES_KEPT ? 0 : f + 1;
  }

  /** Stream offset of the oldest byte kept. */
  get start(): number {
    return this.end - this.length;
  }

  /** The frame that delivered the byte at `offset`, or -1 when that delivery is no longer remembered. */
  frameOf(offset: number): number {
    let best = -1;
    let bestStart = -Infinity;
    for (let i = 0; i < FRAMES_KEPT; i++) {
      const s = this.frames[i * 2];
      const f = this.frames[i * 2 + 1];
      if (f > 0 && s <= offset && s > bestStart) {
        best = f;
        bestStart = s;
      }
    }
    return best;
  }
}
