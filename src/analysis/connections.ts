import { LIMITS } from '../limits.js';
import type { Figures } from './figures.js';
import type { Group } from './updates.js';

/**
 * The per-connection table (`--connections`, and the figures on each connection in JSON):
 * packets and bytes each way, when it started and how long it lasted, how many updates it
 * carried and its own steady state. Counted as the packets pass and as its updates are handed
 * over by the update tracker (UpdateTracker.onHandOver): no update is kept for it.
 */

/** One direction of a connection. */
export interface DirectionTraffic {
  packets: number;
  /** Sum of frame lengths on the wire. */
  frameBytes: number;
  /** Sum of TCP payload lengths. */
  appBytes: number;
}

/** A connection's own steady state: the shape of its updates seen most often, by the capture's rule. */
export interface ConnectionSteady extends Figures {
  /** The update (its capture-wide index, as in --json's updates) that stands for the shape: the shape's latest. */
  update: number;
  /** How many of the connection's updates had that shape. */
  sameShape: number;
  /** Updates whose shape was not counted: the connection had more than LIMITS.connectionShapes different shapes (absent otherwise). */
  shapesNotCounted?: number;
}

/** Numbers a shape takes in ShapeCounts' rows: the five figures, the count, the latest index. */
const ROW = 7;

/**
 * How often each update shape (the five figures) was seen on one connection, and the latest
 * update of each: the rule of the capture's steady state (ShapeTable in updates.ts, steadyState
 * there), applied to one connection's updates. The most frequent shape wins; among equally
 * frequent ones, the shape whose latest update came last (the highest index). When every shape
 * was seen once, that is the connection's last update, which is what the tracker reports then.
 *
 * Most connections have one or two shapes: the first is held in plain fields, and a table
 * (open addressing over one Float64Array, grown by doubling) only once a second shape comes.
 * A connection keeps at most LIMITS.connectionShapes shapes: updates of a shape first seen past
 * that are counted in `notCounted`, and the report says so.
 */
class ShapeCounts {
  private rows: Float64Array | null = null;
  private used = 0;
  notCounted = 0;
  // The first shape, before any table.
  private f0 = 0;
  private f1 = 0;
  private f2 = 0;
  private f3 = 0;
  private f4 = 0;
  private n0 = 0;
  private last0 = 0;

  count(g: Group): void {
    if (this.n0 === 0 && this.rows === null) {
      this.f0 = g.totalPackets;
      this.f1 = g.appPackets;
      this.f2 = g.frameBytes;
      this.f3 = g.tcpBytes;
      this.f4 = g.appBytes;
      this.n0 = 1;
      this.last0 = g.index;
      return;
    }
    if (this.rows === null) {
      if (g.totalPackets === this.f0 && g.appPackets === this.f1 && g.frameBytes === this.f2 && g.tcpBytes === this.f3 && g.appBytes === this.f4) {
        this.n0++;
        if (g.index > this.last0) this.last0 = g.index;
        return;
      }
      this.rows = new Float64Array(ROW * 8);
      this.insert(this.f0, this.f1, this.f2, this.f3, this.f4, this.n0, this.last0);
    }
    this.add(g);
  }

  private get capacity(): number {
    return this.rows!.length / ROW;
  }

  private slot(a: number, b: number, c: number, d: number, e: number): number {
    const rows = this.rows!;
    const mask = this.capacity - 1;
    let h = Math.imul(a | 0, 0x9e3779b1);
    h = Math.imul(h ^ (b | 0), 0x85ebca77);
    h = Math.imul(h ^ (c | 0), 0xc2b2ae3d);
    h = Math.imul(h ^ (d | 0), 0x27d4eb2f);
    h = Math.imul(h ^ (e | 0), 0x165667b1);
    let i = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const o = i * ROW;
      if (rows[o + 5] === 0) return i;
      if (rows[o] === a && rows[o + 1] === b && rows[o + 2] === c && rows[o + 3] === d && rows[o + 4] === e) return i;
      i = (i + 1) & mask;
    }
  }

  private insert(a: number, b: number, c: number, d: number, e: number, n: number, last: number): void {
    const o = this.slot(a, b, c, d, e) * ROW;
    const rows = this.rows!;
    rows[o] = a;
    rows[o + 1] = b;
    rows[o + 2] = c;
    rows[o + 3] = d;
    rows[o + 4] = e;
    rows[o + 5] = n;
    rows[o + 6] = last;
    this.used++;
  }

  private add(g: Group): void {
    const o = this.slot(g.totalPackets, g.appPackets, g.frameBytes, g.tcpBytes, g.appBytes) * ROW;
    const rows = this.rows!;
    if (rows[o + 5] > 0) {
      rows[o + 5]++;
      if (g.index > rows[o + 6]) rows[o + 6] = g.index;
      return;
    }
    if (this.used >= LIMITS.connectionShapes) {
      this.notCounted++;
      return;
    }
    if (2 * (this.used + 1) > this.capacity) {
      this.grow();
      this.add(g);
      return;
    }
    this.insert(g.totalPackets, g.appPackets, g.frameBytes, g.tcpBytes, g.appBytes, 1, g.index);
  }

  private grow(): void {
    const old = this.rows!;
    this.rows = new Float64Array(old.length * 2);
    this.used = 0;
    for (let o = 0; o < old.length; o += ROW) if (old[o + 5] > 0) this.insert(old[o], old[o + 1], old[o + 2], old[o + 3], old[o + 4], old[o + 5], old[o + 6]);
  }

  steady(): ConnectionSteady | null {
    if (this.rows === null) {
      if (this.n0 === 0) return null;
      return { update: this.last0, sameShape: this.n0, totalPackets: this.f0, appPackets: this.f1, frameBytes: this.f2, tcpBytes: this.f3, appBytes: this.f4 };
    }
    const rows = this.rows;
    let best = -1;
    for (let o = 0; o < rows.length; o += ROW) {
      if (rows[o + 5] === 0) continue;
      if (best < 0 || rows[o + 5] > rows[best + 5] || (rows[o + 5] === rows[best + 5] && rows[o + 6] > rows[best + 6])) best = o;
    }
    const s: ConnectionSteady = { update: rows[best + 6], sameShape: rows[best + 5], totalPackets: rows[best], appPackets: rows[best + 1], frameBytes: rows[best + 2], tcpBytes: rows[best + 3], appBytes: rows[best + 4] };
    if (this.notCounted > 0) s.shapesNotCounted = this.notCounted;
    return s;
  }
}

/** A connection's traffic, counted as its packets pass and its updates settle. */
export class ConnectionTraffic {
  /** Seconds from the capture's first packet: of the connection's first packet, and of its latest. */
  readonly start: number;
  lastTime: number;
  // Plain fields, not objects per direction: a capture may hold a million connections.
  private p0 = 0;
  private f0 = 0;
  private a0 = 0;
  private p1 = 0;
  private f1 = 0;
  private a1 = 0;
  updateCount = 0;
  private shapes: ShapeCounts | null = null;
  /** The steady state once the connection is over (freeze): the shape counts are let go then. */
  private frozen: ConnectionSteady | null | undefined = undefined;

  /**
   * `steadyWanted`: count its update shapes for its own steady state (a connection whose figures
   * will be reported: listed, or written by --json); otherwise steady() is null, the rest counted.
   */
  constructor(start: number, private readonly steadyWanted = true) {
    this.start = start;
    this.lastTime = start;
  }

  /** A packet of the connection (any: handshake, data, ACK, FIN, retransmission). */
  packet(dir: 0 | 1, time: number, frameBytes: number, appBytes: number): void {
    if (dir === 0) {
      this.p0++;
      this.f0 += frameBytes;
      this.a0 += appBytes;
    } else {
      this.p1++;
      this.f1 += frameBytes;
      this.a1 += appBytes;
    }
    if (time > this.lastTime) this.lastTime = time;
  }

  /** Client to server. */
  get toServer(): DirectionTraffic {
    return { packets: this.p0, frameBytes: this.f0, appBytes: this.a0 };
  }

  /** Server to client. */
  get toClient(): DirectionTraffic {
    return { packets: this.p1, frameBytes: this.f1, appBytes: this.a1 };
  }

  /** An update of the connection, as the tracker hands it over (its packets are all placed). */
  update(g: Group): void {
    this.updateCount++;
    if (this.steadyWanted) (this.shapes ??= new ShapeCounts()).count(g);
  }

  /** Seconds from its first packet to its last. */
  get duration(): number {
    return Math.round((this.lastTime - this.start) * 1e9) / 1e9;
  }

  steady(): ConnectionSteady | null {
    if (this.frozen !== undefined) return this.frozen;
    return this.shapes?.steady() ?? null;
  }

  /** The connection will not be seen again: its steady state is worked out, its shape counts let go. */
  freeze(): void {
    if (this.frozen !== undefined) return;
    this.frozen = this.steady();
    this.shapes = null;
  }
}
