/**
 * Segments held ahead of a hole, in one direction, ordered by stream offset. They never
 * overlap: a later copy of bytes already held is trimmed to what is new before it is held
 * (the first copy wins).
 *
 * A treap (a binary search tree balanced by random priorities): inserting anywhere, finding
 * the segments around an offset and taking the first all cost O(log n), whatever order the
 * segments come in. The array it replaces was spliced and shifted per segment: a hole with
 * thousands of small segments behind it cost quadratic time.
 */

/**
 * What one held segment costs beyond its bytes, from a heap snapshot of 20,000 held 1-byte
 * segments (V8 x64): the node 88, its time 16, the Uint8Array 96, its ArrayBuffer 88 and the
 * backing store's record 55.
 */
export const HELD_OVERHEAD = 344;

export class Held {
  left: Held | null = null;
  right: Held | null = null;
  readonly priority = nextPriority();
  constructor(
    /** Stream offset of the first byte. */
    readonly offset: number,
    /** Bytes the segment carried on the wire... */
    readonly length: number,
    /** ...of which these were captured (fewer when the snap length cut it). */
    readonly bytes: Uint8Array,
    readonly frame: number,
    readonly time: number,
  ) {}

  get end(): number {
    return this.offset + this.length;
  }
}

let seed = 0x9e3779b9;
/** xorshift32: priorities need only be spread, not unpredictable (the shape is never output). */
function nextPriority(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

// split()'s two results, without an array per call; and the nodes split() and insert() visit.
let splitLeft: Held | null = null;
let splitRight: Held | null = null;
let visited = 0;

/** Splits t into the nodes before `offset` (splitLeft) and the rest (splitRight). */
function split(t: Held | null, offset: number): void {
  visited++;
  if (t === null) {
    splitLeft = splitRight = null;
    return;
  }
  if (t.offset < offset) {
    split(t.right, offset);
    t.right = splitLeft;
    splitLeft = t;
  } else {
    split(t.left, offset);
    t.left = splitRight;
    splitRight = t;
  }
}

function insert(t: Held | null, n: Held): Held {
  visited++;
  if (t === null) return n;
  if (n.priority > t.priority) {
    split(t, n.offset);
    n.left = splitLeft;
    n.right = splitRight;
    return n;
  }
  if (n.offset < t.offset) t.left = insert(t.left, n);
  else t.right = insert(t.right, n);
  return t;
}

export class HeldSegments {
  private root: Held | null = null;
  count = 0;
  /** Bytes charged for what is held: captured bytes plus HELD_OVERHEAD per segment. */
  charge = 0;
  /** Nodes visited, for the tests' complexity bounds. */
  steps = 0;

  insert(n: Held): void {
    visited = 0;
    this.root = insert(this.root, n);
    this.steps += visited;
    this.count++;
    this.charge += n.bytes.length + HELD_OVERHEAD;
  }

  /** The segment with the lowest offset. */
  first(): Held | null {
    let t = this.root;
    if (t === null) return null;
    while (t.left !== null) {
      t = t.left;
      this.steps++;
    }
    return t;
  }

  /** Takes the segment with the lowest offset out. */
  shift(): Held | null {
    let p = this.root;
    if (p === null) return null;
    let m: Held;
    if (p.left === null) {
      m = p;
      this.root = p.right;
    } else {
      while (p.left!.left !== null) {
        p = p.left!;
        this.steps++;
      }
      m = p.left!;
      // Its right subtree takes its place: all of it sorts before p, and ranks below m.
      p.left = m.right;
    }
    m.left = m.right = null;
    this.count--;
    this.charge -= m.bytes.length + HELD_OVERHEAD;
    return m;
  }

  /** The segment with the greatest offset <= `offset`. */
  floor(offset: number): Held | null {
    let best: Held | null = null;
    for (let t = this.root; t !== null; ) {
      this.steps++;
      if (t.offset <= offset) {
        best = t;
        t = t.right;
      } else t = t.left;
    }
    return best;
  }

  /** The segment with the least offset > `offset`. */
  after(offset: number): Held | null {
    let best: Held | null = null;
    for (let t = this.root; t !== null; ) {
      this.steps++;
      if (t.offset > offset) {
        best = t;
        t = t.left;
      } else t = t.right;
    }
    return best;
  }

  /** The first segment that holds a byte at or after `offset`. */
  from(offset: number): Held | null {
    const f = this.floor(offset);
    return f !== null && f.end > offset ? f : this.after(offset);
  }

  /** Whether held segments cover every byte of [start, end). */
  covers(start: number, end: number): boolean {
    let at = start;
    for (let e = this.from(at); e !== null && e.offset <= at; e = this.after(e.offset)) {
      at = e.end;
      if (at >= end) return true;
    }
    return false;
  }

  clear(): void {
    this.root = null;
    this.count = 0;
    this.charge = 0;
  }
}
