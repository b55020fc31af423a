import type { Message, Role } from '../dissect/types.js';
import { TCP_FIN, TCP_RST, TCP_SYN } from '../decode/tcp.js';
import type { Connection, Dir, SegmentInfo } from '../reassembly/types.js';
import type { Figures } from './figures.js';
import { LIMITS } from '../limits.js';
import { roleOf } from './roles.js';

/** Where the bytes of a group of packets go. The four parts add up to Frame Bytes. */
export interface Overhead {
  /** Link and network headers (and link padding). */
  linkNet: number;
  tcpHeaders: number;
  /** Application framing: HTTP heads, chunk-size lines, SSE field names, WebSocket headers and masks. */
  framing: number;
  /** The useful payload: bodies, event data, WebSocket payloads, plain TCP bytes. */
  payload: number;
  /** TLS framing (record headers, explicit nonces, tags, inner content types, padding), when there was any. */
  tls?: number;
}

export interface Latency {
  /** From the request's last data segment to the first segment of the answer; null for a push. */
  requestToFirstByte: number | null;
  /** From the answer's last data segment to the client's ACK of it. */
  lastByteToAck: number | null;
}

export interface Update {
  index: number;
  connection: number;
  /** Kinds of the messages that make it up, in order (http-request, sse-event, ws-message, data...). */
  messages: string[];
  frames: number[];
  figures: Figures;
  /** The server's data segments and the client's ACKs of them; null where the server cannot push. */
  serverOnly: Figures | null;
  overhead: Overhead;
  latency: Latency;
  /** Seconds since the capture's first packet, of the update's first packet. */
  time: number;
}

/**
 * A packet's info of its own: the reassembler refills the one it hands on. Field by field: a
 * spread ({ ...p }) cost 3.5% more instructions of a whole --stats run.
 */
function copySegment(p: SegmentInfo): SegmentInfo {
  return {
    conn: p.conn, dir: p.dir, frame: p.frame, time: p.time, frameBytes: p.frameBytes, linkNetBytes: p.linkNetBytes,
    tcpBytes: p.tcpBytes, appBytes: p.appBytes, flags: p.flags, offset: p.offset, ackOffset: p.ackOffset, retransmission: p.retransmission, newOffset: p.newOffset,
  };
}

/**
 * A group of packets whose owner may be decided later (a prelude waits for the next update).
 * A slot may point at a group that points further (a page load's update counts as set-up; a
 * reported update's late packets go to the late group): add() follows the chain.
 */
class Slot {
  held: SegmentInfo[] | null = null;
  constructor(public target: Group | null) {}
  add(p: SegmentInfo, viaAckOf: boolean): void {
    const t = this.target;
    if (t === null) (this.held ??= []).push(copySegment(p));
    else if ((t as Slot) === this) t.take(p, viaAckOf);
    else t.add(p, viaAckOf);
  }
  settle(target: Group): void {
    this.target = target;
    if (this.held === null) return;
    for (const p of this.held) target.add(p, p.appBytes === 0);
    this.held = null;
  }
}

/**
 * An update, or the set-up / tear-down packets of the capture; its own slot. The figures are
 * plain fields, not objects: a capture has hundreds of thousands of groups, and each object
 * less per group is that much less for the garbage collector to move.
 */
export class Group extends Slot {
  totalPackets = 0;
  appPackets = 0;
  frameBytes = 0;
  tcpBytes = 0;
  appBytes = 0;
  /** Server-to-client figures: the server's data segments and the client's ACKs of them. */
  sTotalPackets = 0;
  sAppPackets = 0;
  sFrameBytes = 0;
  sTcpBytes = 0;
  sAppBytes = 0;
  linkNet = 0;
  useful = 0;
  /** TLS framing of its messages (Wire.below.tls). */
  tlsFraming = 0;
  frames: number[] = [];
  kinds: string[] = [];
  firstTime = Infinity;
  requestEnd = -1;
  answerStart = -1;
  answerEnd = -1;
  answerAck = -1;
  /** Creation order among updates, 1-based (0 for set-up, tear-down and late). */
  index = 0;
  /** Set when the update is handed over, so the last group (kept, see steadyState) no longer holds its connection's state. */
  connId = 0;
  protocol = 'tcp';
  /** An HTTP exchange before the first update, not yet known to be set-up or an update: its answer tells. */
  candidate = false;
  /** Opened by a push (an SSE event, a server message) that answered no request. */
  pushed = false;
  /** The end of its last message range in each direction: its packets are placed once the stream passed them. */
  lastByte0 = 0;
  lastByte1 = 0;
  constructor(public conn: ConnState | null) {
    super(null);
    this.target = this;
  }
  take(p: SegmentInfo, pureAck: boolean): void {
    const app = p.appBytes;
    this.totalPackets++;
    if (app > 0) this.appPackets++;
    this.frameBytes += p.frameBytes;
    this.tcpBytes += p.tcpBytes;
    this.appBytes += app;
    this.linkNet += p.linkNetBytes;
    this.frames.push(p.frame);
    if (p.time < this.firstTime) this.firstTime = p.time;
    if (p.dir === 1 && app > 0) {
      this.addServer(p);
      if (this.answerStart < 0 || p.time < this.answerStart) this.answerStart = p.time;
      if (p.time > this.answerEnd) this.answerEnd = p.time;
    } else if (p.dir === 0 && pureAck && app === 0) {
      this.addServer(p);
      if (p.time > this.answerAck) this.answerAck = p.time;
    } else if (p.dir === 0 && app > 0 && p.time > this.requestEnd) this.requestEnd = p.time;
  }
  /** Takes over the figures of a group that turned out to be part of this one (a page load into set-up). */
  absorb(g: Group): void {
    this.totalPackets += g.totalPackets;
    this.appPackets += g.appPackets;
    this.frameBytes += g.frameBytes;
    this.tcpBytes += g.tcpBytes;
    this.appBytes += g.appBytes;
    this.sTotalPackets += g.sTotalPackets;
    this.sAppPackets += g.sAppPackets;
    this.sFrameBytes += g.sFrameBytes;
    this.sTcpBytes += g.sTcpBytes;
    this.sAppBytes += g.sAppBytes;
    this.linkNet += g.linkNet;
    this.useful += g.useful;
    this.tlsFraming += g.tlsFraming;
  }
  private addServer(p: SegmentInfo): void {
    this.sTotalPackets++;
    if (p.appBytes > 0) this.sAppPackets++;
    this.sFrameBytes += p.frameBytes;
    this.sTcpBytes += p.tcpBytes;
    this.sAppBytes += p.appBytes;
  }
  get figures(): Figures {
    return { totalPackets: this.totalPackets, appPackets: this.appPackets, frameBytes: this.frameBytes, tcpBytes: this.tcpBytes, appBytes: this.appBytes };
  }
  get serverOnly(): Figures {
    return { totalPackets: this.sTotalPackets, appPackets: this.sAppPackets, frameBytes: this.sFrameBytes, tcpBytes: this.sTcpBytes, appBytes: this.sAppBytes };
  }
}

/** Where an update's bytes go; the TLS part only where there is one, so cleartext reports stay as they were. */
function overhead(linkNet: number, tcpHeaders: number, appBytes: number, payload: number, tls: number): Overhead {
  // A split that does not fit its packets (messages whose bytes rode in other updates' packets
  // in a way the moves in UpdateTracker.carried do not follow) is said when the update is
  // handed over (update-split-unfitted) and cut to fit, never silently.
  if (payload < 0) payload = 0;
  if (tls < 0) tls = 0;
  if (payload > appBytes) payload = appBytes;
  if (tls > appBytes - payload) tls = appBytes - payload;
  const o: Overhead = { linkNet, tcpHeaders, framing: appBytes - payload - tls, payload };
  if (tls > 0) o.tls = tls;
  return o;
}

/**
 * How often each update shape (its five figures) was seen, and its latest update. An open
 * addressing table over one Float64Array, a shape's row in one cache line: a Map of arrays of
 * objects cost a few cache misses per update, a tenth of a whole --stats run.
 */
export class ShapeTable {
  private static readonly ROW = 8; // frameBytes, totalPackets, appPackets, tcpBytes, appBytes, n, lastIndex, used
  private rows = new Float64Array(ShapeTable.ROW * 1024);
  /**
   * The latest update of each shape seen at least twice, copied in place: numbers into a row
   * of `kept` (KEPT per shape), frames and message kinds into arrays reused per shape. A
   * reference to the group itself would keep it from dying young (with hundreds of thousands
   * of updates, that garbage dying in the old generation grew the heap by half), and numbers
   * written to long-lived objects would be boxed anew each time.
   */
  private static readonly KEPT = 16;
  private kept = new Float64Array(ShapeTable.KEPT * 1024);
  private keptFrames: Array<number[] | null> = new Array(1024).fill(null);
  private keptKinds: Array<string[] | null> = new Array(1024).fill(null);
  private used = 0;

  private get capacity(): number {
    return this.rows.length / ShapeTable.ROW;
  }

  /** The highest count of any shape so far. */
  private maxCount = 0;

  /**
   * Counts an update of group g's shape. `open` is how many updates are still open, and so
   * may yet be counted with a lower index than g's.
   */
  count(g: Group, open: number): void {
    if (2 * (this.used + 1) > this.capacity) this.grow();
    const R = ShapeTable.ROW;
    const rows = this.rows;
    const mask = this.capacity - 1;
    let i = hashShape(g.frameBytes, g.totalPackets, g.appPackets, g.tcpBytes, g.appBytes) & mask;
    for (;;) {
      const o = i * R;
      if (rows[o + 7] === 0) {
        rows[o] = g.frameBytes;
        rows[o + 1] = g.totalPackets;
        rows[o + 2] = g.appPackets;
        rows[o + 3] = g.tcpBytes;
        rows[o + 4] = g.appBytes;
        rows[o + 5] = 1;
        rows[o + 6] = g.index;
        rows[o + 7] = 1;
        this.used++;
        if (this.maxCount === 0) this.maxCount = 1;
        // A first update is kept too when it could be the one reported: updates that settle
        // later may have lower indexes (then it is the shape's latest).
        if (1 + open >= this.maxCount) this.keep(i, g);
        return;
      }
      if (rows[o] === g.frameBytes && rows[o + 1] === g.totalPackets && rows[o + 2] === g.appPackets && rows[o + 3] === g.tcpBytes && rows[o + 4] === g.appBytes) {
        const n = ++rows[o + 5];
        if (n > this.maxCount) this.maxCount = n;
        const latest = g.index >= rows[o + 6];
        if (latest) rows[o + 6] = g.index;
        // The steady state is the most frequent shape's latest update (highest index). When
        // that update is counted, its shape lacks at most the updates still open (all have
        // lower indexes), so its count plus `open` reaches every other shape's count: an
        // update that falls short of that cannot be the one reported, and is not copied.
        if (n + open < this.maxCount) return;
        if (latest || this.kept[i * ShapeTable.KEPT] === 0) this.keep(i, g);
        return;
      }
      i = (i + 1) & mask;
    }
  }

  /** The most frequent shape's latest group; among equally frequent shapes, the one whose latest update came last. */
  steady(): { update: Update | null } | null {
    const best = this.best();
    if (best < 0) return null;
    // A shape seen once is the steady state only if every shape is: then the tracker reports its last update.
    if (this.rows[best * ShapeTable.ROW + 5] < 2) return { update: null };
    return { update: this.kept[best * ShapeTable.KEPT] === 0 ? null : this.keptUpdate(best) };
  }

  private keep(i: number, g: Group): void {
    const k = this.kept;
    const o = i * ShapeTable.KEPT;
    const p = g.protocol;
    k[o] = 1;
    k[o + 1] = g.index;
    k[o + 2] = g.connId;
    k[o + 3] = g.firstTime;
    k[o + 4] = p === 'tcp' || p === 'sse' || p === 'websocket' || p === 'tls' ? 1 : 0;
    k[o + 5] = g.linkNet;
    k[o + 6] = g.useful;
    k[o + 7] = requestToFirstByte(g) ?? NaN;
    k[o + 8] = lastByteToAck(g) ?? NaN;
    k[o + 9] = g.sTotalPackets;
    k[o + 10] = g.sAppPackets;
    k[o + 11] = g.sFrameBytes;
    k[o + 12] = g.sTcpBytes;
    k[o + 13] = g.sAppBytes;
    k[o + 14] = g.tlsFraming;
    this.keptFrames[i] = copyInto(this.keptFrames[i], g.frames);
    this.keptKinds[i] = copyInto(this.keptKinds[i], g.kinds);
  }

  /** The kept update of shape row i, as reported. */
  private keptUpdate(i: number): Update {
    const k = this.kept;
    const o = i * ShapeTable.KEPT;
    const r = this.rows;
    const ro = i * ShapeTable.ROW;
    const figures: Figures = { totalPackets: r[ro + 1], appPackets: r[ro + 2], frameBytes: r[ro], tcpBytes: r[ro + 3], appBytes: r[ro + 4] };
    const payload = k[o + 6];
    const tls = k[o + 14];
    return {
      index: k[o + 1],
      connection: k[o + 2],
      messages: this.keptKinds[i]!.slice(),
      frames: this.keptFrames[i]!.slice(),
      figures,
      serverOnly: k[o + 4] ? { totalPackets: k[o + 9], appPackets: k[o + 10], frameBytes: k[o + 11], tcpBytes: k[o + 12], appBytes: k[o + 13] } : null,
      overhead: overhead(k[o + 5], figures.tcpBytes, figures.appBytes, payload, tls),
      latency: { requestToFirstByte: Number.isNaN(k[o + 7]) ? null : k[o + 7], lastByteToAck: Number.isNaN(k[o + 8]) ? null : k[o + 8] },
      time: round(k[o + 3]),
    };
  }

  private best(): number {
    const R = ShapeTable.ROW;
    let best = -1;
    for (let i = 0; i < this.capacity; i++) {
      const o = i * R;
      if (this.rows[o + 7] === 0) continue;
      if (best < 0) best = i;
      else {
        const n = this.rows[o + 5];
        const bn = this.rows[best * R + 5];
        if (n > bn || (n === bn && this.rows[o + 6] > this.rows[best * R + 6])) best = i;
      }
    }
    return best;
  }

  private grow(): void {
    const R = ShapeTable.ROW;
    const old = this.rows;
    const oldKept = this.kept;
    const oldFrames = this.keptFrames;
    const oldKinds = this.keptKinds;
    const capacity = this.capacity * 2;
    this.rows = new Float64Array(R * capacity);
    this.kept = new Float64Array(ShapeTable.KEPT * capacity);
    this.keptFrames = new Array(capacity).fill(null);
    this.keptKinds = new Array(capacity).fill(null);
    const mask = capacity - 1;
    for (let j = 0; j < old.length / R; j++) {
      const o = j * R;
      if (old[o + 7] === 0) continue;
      let i = hashShape(old[o], old[o + 1], old[o + 2], old[o + 3], old[o + 4]) & mask;
      while (this.rows[i * R + 7] !== 0) i = (i + 1) & mask;
      this.rows.set(old.subarray(o, o + R), i * R);
      this.kept.set(oldKept.subarray(j * ShapeTable.KEPT, (j + 1) * ShapeTable.KEPT), i * ShapeTable.KEPT);
      this.keptFrames[i] = oldFrames[j];
      this.keptKinds[i] = oldKinds[j];
    }
  }
}

function hashShape(a: number, b: number, c: number, d: number, e: number): number {
  let h = Math.imul(a | 0, 0x9e3779b1);
  h = Math.imul(h ^ (b | 0), 0x85ebca77);
  h = Math.imul(h ^ (c | 0), 0xc2b2ae3d);
  h = Math.imul(h ^ (d | 0), 0x27d4eb2f);
  h = Math.imul(h ^ (e | 0), 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Recent message ranges kept per direction, for retransmissions and ACKs of recent bytes. */
const MAX_RANGES = 16;

/** Entries a Ranges holds at most: trimmed back to MAX_RANGES when the next would pass 2 x MAX_RANGES. */
const RING = 2 * MAX_RANGES + 1;

/** Numbers a range takes in Ranges' array. */
const W = 5;

/**
 * Entries a Ranges may grow to while its ranges still have packets to place (a packet that
 * carries a hundred WebSocket messages, or SSE events: all of them are registered before the
 * packet is placed, and the one that holds its first byte must still be there).
 */
const MAX_RING = LIMITS.messageRangesPerDirection;

/**
 * The stream ranges of one direction's recent messages and the slots their packets go to, in
 * a fixed ring: pushing and trimming allocate nothing. (Arrays trimmed by splice got new
 * backing stores, young memory held by long-lived connection state: most of what the
 * analysis promoted to the old generation.) Trimming keeps the oldest range (the handshake's)
 * and the most recent ones.
 */
class Ranges {
  // Small at first, grown to RING: most connections carry a few messages, and a capture may
  // hold a million of them (each connection's state is what the short-connection load costs).
  /**
   * Five numbers a range, in one array (one typed array per direction, not three: a capture
   * may hold a million connections): start, end, and what of its message's bytes is not yet
   * moved to another update's packets (see UpdateTracker.carried): TLS framing, its own
   * framing, its payload.
   */
  private d = new Float64Array(4 * W);
  private slots: Array<Slot | null> = [null, null, null, null];
  /** Ring position of the oldest range. */
  private head = 0;
  private count = 0;
  /** Largest end registered: offsets past it need no search. */
  maxEnd = 0;

  private get capacity(): number {
    return this.d.length / W;
  }

  /** Ring position of the k-th oldest range. */
  private at(k: number): number {
    const i = this.head + k;
    return i >= this.capacity ? i - this.capacity : i;
  }

  /** End of the last data packet placed: ranges that end before it have placed their packets. */
  placedEnd = 0;
  /** Largest end of a range let go: a byte below it not found belongs to a message forgotten. */
  forgottenEnd = 0;

  /** Doubles the ring (to RING, or to MAX_RING while ranges wait for their packets), oldest range first. */
  private grow(): void {
    this.resize(Math.min(this.count >= RING ? MAX_RING : RING, this.capacity * 2));
  }

  private resize(n: number): void {
    const d = new Float64Array(W * n);
    const slots = new Array<Slot | null>(n).fill(null);
    for (let k = 0; k < this.count; k++) {
      const i = this.at(k);
      d.set(this.d.subarray(W * i, W * i + W), W * k);
      slots[k] = this.slots[i];
    }
    this.d = d;
    this.slots = slots;
    this.head = 0;
  }

  push(start: number, end: number, slot: Slot, tls = 0, framing = 0, useful = 0): number {
    if (this.count === this.capacity) {
      if (this.capacity < MAX_RING) this.grow();
      else this.keep(MAX_RANGES - 1, true);
    }
    const i = this.at(this.count);
    const d = this.d;
    d[W * i] = start;
    d[W * i + 1] = end;
    this.slots[i] = slot;
    d[W * i + 2] = tls;
    d[W * i + 3] = framing;
    d[W * i + 4] = useful;
    this.count++;
    if (end > this.maxEnd) this.maxEnd = end;
    // Trimmed in batches, not per message (the newest range keeps its place).
    if (this.count > 2 * MAX_RANGES) this.trim();
    return i;
  }

  /**
   * Drops old ranges down to the last MAX_RANGES - 1 and the oldest, but only those whose
   * packets were placed (their end is at or below placedEnd): one still waiting for its packet
   * stays. A ring grown past RING shrinks back once it can.
   */
  private trim(): void {
    let drop = 0;
    const most = this.count - MAX_RANGES;
    while (drop < most && this.d[W * this.at(drop + 1) + 1] <= this.placedEnd) drop++;
    if (drop > 0) this.keep(this.count - drop - 1, true);
    if (this.capacity > RING && this.count < RING) this.resize(RING);
  }

  /** Keeps the last n ranges, and any older one whose packets were not all placed yet. */
  keepPlaced(n: number): void {
    let drop = 0;
    while (drop < this.count - n && this.d[W * this.at(drop) + 1] <= this.placedEnd) drop++;
    if (drop > 0) this.keep(this.count - drop, false);
  }

  /** Keeps the last n ranges, and the oldest one (the handshake's) when asked. */
  keep(n: number, first: boolean): void {
    const drop = this.count - n - (first ? 1 : 0);
    if (drop <= 0) return;
    // The ranges let go: the drop after the oldest when it stays, else the drop oldest.
    for (let k = first ? 1 : 0, last = first ? drop : drop - 1; k <= last; k++) {
      const e = this.d[W * this.at(k) + 1];
      if (e > this.forgottenEnd) this.forgottenEnd = e;
    }
    if (first) {
      // The oldest moves to the place of the last one dropped, just before the n kept.
      const from = this.head;
      const to = this.at(drop);
      this.d.copyWithin(W * to, W * from, W * from + W);
      this.slots[to] = this.slots[from];
    }
    for (let k = 0; k < drop; k++) this.slots[this.at(k)] = null;
    this.head = this.at(drop);
    this.count -= drop;
  }

  /** Where the range find() last returned ends. */
  foundEnd = 0;

  /** The slot of the latest range holding offset, or null. */
  find(offset: number): Slot | null {
    if (offset >= this.maxEnd) return null;
    for (let k = this.count - 1; k >= 0; k--) {
      const i = this.at(k);
      if (offset >= this.d[W * i] && offset < this.d[W * i + 1]) {
        this.foundEnd = this.d[W * i + 1];
        return this.slots[i];
      }
    }
    return null;
  }

  /** Ring position of the latest range that starts at `start`, or -1. */
  startingAt(start: number): number {
    for (let k = this.count - 1; k >= 0; k--) {
      const i = this.at(k);
      if (this.d[W * i] === start) return i;
    }
    return -1;
  }

  /**
   * Calls fn(ring position, start) for every range that starts inside (from, to): messages
   * whose first bytes a packet that began before them carried.
   */
  startingIn(from: number, to: number, fn: (i: number, start: number) => void): void {
    for (let k = 0; k < this.count; k++) {
      const i = this.at(k);
      const st = this.d[W * i];
      if (st > from && st < to) fn(i, st);
    }
  }

  slotAt(i: number): Slot {
    return this.slots[i]!;
  }

  endAt(i: number): number {
    return this.d[W * i + 1];
  }

  /**
   * Takes the leading `n` bytes of range i's message out of its budget: TLS framing first,
   * then its own framing (heads come first), then payload. Returns [tls, payload] taken.
   */
  takeLead(i: number, n: number): [number, number] {
    const b = this.d;
    const o = W * i + 2;
    const t = Math.min(n, b[o]);
    b[o] -= t;
    n -= t;
    const f = Math.min(n, b[o + 1]);
    b[o + 1] -= f;
    n -= f;
    const u = Math.min(n, b[o + 2]);
    b[o + 2] -= u;
    return [t, u];
  }

  /** Calls fn for the slot of every range that lies wholly within [from, to). */
  within(from: number, to: number, fn: (slot: Slot) => void): void {
    for (let k = 0; k < this.count; k++) {
      const i = this.at(k);
      if (this.d[W * i] >= from && this.d[W * i + 1] <= to) fn(this.slots[i]!);
    }
  }

  /** Points the ranges of `from` at `to`, so they do not keep `from` alive. */
  retarget(from: Slot, to: Slot): void {
    for (let k = 0; k < this.count; k++) {
      const i = this.at(k);
      if (this.slots[i] === from) this.slots[i] = to;
    }
  }
}
/** Updates of a connection kept open while their packets are awaited, before the oldest is handed over anyway. */
const MAX_OPEN_UPDATES = 64;
/** Packets waiting for their message, per direction, before the oldest is given up. */
const MAX_PENDING = LIMITS.pendingPackets;
/** How far from the back of the queue a packet may be slotted in: beyond, it is too far out of order to wait. */
const MAX_PENDING_SHIFT = 256;
/** Latencies kept for the medians: enough for a stable figure, bounded for huge captures. */
const MAX_LATENCY_SAMPLES = 100_000;

function median(xs: Float64Array): number | null {
  if (xs.length === 0) return null;
  const s = xs.slice().sort(); // a typed array sorts numerically, natively
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : round((s[m - 1] + s[m]) / 2);
}

/**
 * Packets of one direction waiting for the message that holds their key byte, sorted by that
 * offset (stable: equal offsets keep their arrival order). Messages complete in stream order,
 * so a new range claims a run near the front and packets arrive near the back: registering a
 * range costs a binary search plus what it claims, and a packet costs O(1), however many wait.
 * (An unsorted list searched in full for every message made an SSE firehose quadratic: packets
 * whose message was already forgotten waited there, 10,000 of them, searched for every event.)
 * Live entries are [head, tail) of parallel arrays; the dead front is reclaimed in batches.
 */
export class PendingQueue {
  private p: Array<SegmentInfo | null> = [];
  private offsets: number[] = [];
  private viaAck: boolean[] = [];
  private head = 0;
  private tail = 0;
  /** Entries moved by insertions and removals: what a test counts to see the bound hold. */
  moved = 0;

  get size(): number {
    return this.tail - this.head;
  }

  /** Where the first entry with offset >= `offset` (or > with `after`) lies. */
  private bound(offset: number, after: boolean): number {
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const o = this.offsets[mid];
      if (o < offset || (after && o === offset)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Adds a packet; false when it would land further than MAX_PENDING_SHIFT entries from the
   * back (a packet far out of order: the caller gives it to what is under way instead).
   */
  push(p: SegmentInfo, offset: number, viaAck: boolean): boolean {
    let at = this.tail;
    if (at > this.head && this.offsets[at - 1] > offset) {
      at = this.bound(offset, true);
      if (this.tail - at > MAX_PENDING_SHIFT) return false;
    }
    if (this.tail === this.p.length) {
      if (this.head > 0 && this.head >= this.p.length >> 1) {
        at -= this.head;
        this.compact();
      } else {
        // copyWithin never grows an array: make room for one more first.
        this.p.push(null);
        this.offsets.push(0);
        this.viaAck.push(false);
      }
    }
    if (at < this.tail) {
      this.p.copyWithin(at + 1, at, this.tail);
      this.offsets.copyWithin(at + 1, at, this.tail);
      this.viaAck.copyWithin(at + 1, at, this.tail);
      this.moved += this.tail - at;
    }
    this.p[at] = copySegment(p);
    this.offsets[at] = offset;
    this.viaAck[at] = viaAck;
    this.tail++;
    return true;
  }

  /** Hands every packet whose offset lies in [start, end) to slot, in offset order. */
  /** The last data packet (not an ACK) the latest claim() handed over, or null. */
  lastClaimed: SegmentInfo | null = null;

  claim(start: number, end: number, slot: Slot): void {
    this.lastClaimed = null;
    if (this.tail === this.head) return;
    const lo = this.bound(start, false);
    if (lo === this.tail || this.offsets[lo] >= end) return;
    const hi = this.bound(end, false);
    for (let i = lo; i < hi; i++) {
      const p = this.p[i]!;
      slot.add(p, this.viaAck[i]);
      if (!this.viaAck[i] && p.appBytes > 0) this.lastClaimed = p;
      this.p[i] = null;
    }
    if (lo === this.head) this.head = hi;
    else {
      // Entries below `start` wait on: shift the tail down over the claimed run.
      this.p.copyWithin(lo, hi, this.tail);
      this.offsets.copyWithin(lo, hi, this.tail);
      this.viaAck.copyWithin(lo, hi, this.tail);
      this.moved += this.tail - hi;
      const n = this.tail - hi + lo;
      for (let i = n; i < this.tail; i++) this.p[i] = null;
      this.tail = n;
    }
    if (this.head === this.tail) this.head = this.tail = 0;
  }

  /** Gives up the oldest-keyed packet (to `to`), as when too many wait. */
  shift(to: Slot): void {
    const i = this.head++;
    to.add(this.p[i]!, this.viaAck[i]);
    this.p[i] = null;
    if (this.head === this.tail) this.head = this.tail = 0;
  }

  /** Hands every waiting packet to `to` and empties the queue. */
  drain(to: Slot): void {
    for (let i = this.head; i < this.tail; i++) {
      to.add(this.p[i]!, this.viaAck[i]);
      this.p[i] = null;
    }
    this.head = this.tail = 0;
  }

  private compact(): void {
    const n = this.tail - this.head;
    this.p.copyWithin(0, this.head, this.tail);
    this.offsets.copyWithin(0, this.head, this.tail);
    this.viaAck.copyWithin(0, this.head, this.tail);
    for (let i = n; i < this.tail; i++) this.p[i] = null;
    this.moved += n;
    this.head = 0;
    this.tail = n;
  }
}

class ConnState {
  ranges: [Ranges, Ranges] = [new Ranges(), new Ranges()];
  /** Packets waiting for the message that holds their key byte, per direction of that byte. */
  pending: [PendingQueue, PendingQueue] = [new PendingQueue(), new PendingQueue()];
  unanswered: Group[] = [];
  latest: Group | null = null;
  /** Updates of this connection not yet handed over (late ACKs may still join them). */
  open: Group[] = [];
  preludes: Slot[] = [];
  handshake: Slot;
  sawMessage = false;
  /** Highest ACK offset seen per direction; -1 so that the handshake's last ACK (of the SYN, at offset 0) counts as new. */
  highestAck: [number, number] = [-1, -1];
  /** The last data packet placed in each direction: its stream range and the push update it went to. */
  lastDataStart: [number, number] = [-1, -1];
  lastDataEnd: [number, number] = [-1, -1];
  lastData: [Group | null, Group | null] = [null, null];
  /** The slot the last data packet placed in each direction went to, push or not. */
  lastDataSlot: [Slot | null, Slot | null] = [null, null];
  /** Where the last message of each direction went (for a message of role 'more'). */
  lastSlot: [Slot | null, Slot | null] = [null, null];
  protocol = 'tcp';
  constructor(readonly conn: Connection) {
    this.handshake = new Slot(null);
    // The SYN's sequence number sits at offset -1: ACKs of it belong to the handshake.
    this.ranges[0].push(-1, 0, this.handshake);
    this.ranges[1].push(-1, 0, this.handshake);
  }
}

/**
 * Groups a capture's packets into updates: what it costs the client to learn one new value.
 *
 * Messages arrive from the dissectors with a role. A request opens an update on its
 * connection; an answer or push joins the oldest update waiting for one, or else opens its
 * own; a prelude (event-stream headers, 1xx) waits for the next update of its connection;
 * set-up messages (the page load, an Upgrade or event-stream subscription, a greeting) and
 * tear-down (close frames, FIN, RST) are kept apart. The first HTTP exchange of a capture is
 * the page load. A handshake belongs to the first update of its connection when the
 * connection opens for it, else to the set-up.
 *
 * Packets follow the messages: a data segment belongs to the message that holds its first
 * byte; a pure ACK to the message that holds the last byte it newly acknowledges.
 */
export class UpdateTracker {
  private conns = new Map<number, ConnState>();
  private lastState: ConnState | null = null;
  private created = 0;
  private readonly kept: Update[] = [];
  private readonly shapes = new ShapeTable();
  private lastGroup: Group | null = null;
  /** The same count per technique (the protocol its connection turned out to carry): a mixed capture has a steady state for each. */
  private readonly byProtocol = new Map<string, { shapes: ShapeTable; last: Group; count: number }>();
  private count = 0;
  /** Updates opened and not yet handed over. */
  private openNow = 0;
  /**
   * Latency samples, in arrays allocated once: growing ordinary arrays by push made a new
   * backing store at each step, young memory held by the long-lived tracker, a third of all
   * the analysis promoted to the old generation.
   */
  private readonly latencies = [new Float64Array(MAX_LATENCY_SAMPLES), new Float64Array(MAX_LATENCY_SAMPLES)];
  private readonly latencyCount = [0, 0];
  readonly setup: Group;
  readonly teardown: Group;
  /** Packets that arrived for an update after it was reported. */
  readonly late: Group;
  private pageLoadSeen = false;
  /** Updates whose split of bytes did not fit their packets (each also said through onSplitMismatch, and cut to fit). */
  splitMismatches = 0;
  onSplitMismatch?: (frame: number, text: string) => void;
  /** Receives each update's group as it is handed over, before the steady-state count (per-connection figures: analysis/connections.ts, cadence.ts). */
  onHandOver?: (g: Group) => void;
  /** What the set-up holds beyond handshakes, and why: the summary and JSON say it. */
  readonly setupNotes: Array<SetupNote & { connection: number }> = [];

  /**
   * With keepUpdates, finish() returns every update; without, only the figures of the
   * steady state are kept, so memory does not grow with the number of updates.
   */
  constructor(
    private readonly keepUpdates = true,
    /** Receives each update as it settles (the --json writer streams them). */
    private readonly onUpdate?: (u: Update) => void,
  ) {
    this.setup = new Group(null);
    this.teardown = new Group(null);
    this.late = new Group(null);
  }

  private state(conn: Connection): ConnState {
    // A packet's segment and the messages it completes come in a row: remember the last one.
    if (this.lastState?.conn === conn) return this.lastState;
    let s = this.conns.get(conn.id);
    if (!s) {
      s = new ConnState(conn);
      this.conns.set(conn.id, s);
    }
    this.lastState = s;
    return s;
  }

  setProtocol(conn: Connection, protocol: string): void {
    const s = this.state(conn);
    if (protocol !== 'http' || s.protocol === 'tcp') s.protocol = protocol;
  }

  segment(p: SegmentInfo): void {
    const s = this.state(p.conn);
    if (p.flags & (TCP_FIN | TCP_RST)) {
      if (p.flags & TCP_FIN) this.register(s, p.dir, p.offset + p.appBytes, p.offset + p.appBytes + 1, this.teardown);
      if (p.appBytes === 0) {
        this.teardown.add(p, false);
        return;
      }
    }
    if (p.flags & TCP_SYN && p.appBytes === 0) {
      s.handshake.add(p, false);
      return;
    }
    if (p.appBytes > 0) {
      // Sequence numbers before the stream's first byte (a segment that overlaps the SYN's)
      // carry no stream byte: the packet is keyed by its first one.
      // When no message holds its first byte and it overlaps bytes given up as lost, its first new byte keys it.
      let key = p.offset < 0 ? 0 : p.offset;
      if (p.newOffset > key && s.ranges[p.dir].find(key) === null) key = p.newOffset;
      this.place(s, p, p.dir, key, false);
      return;
    }
    const back = (p.dir ^ 1) as Dir;
    if (p.ackOffset > s.highestAck[p.dir]) {
      s.highestAck[p.dir] = p.ackOffset;
      this.place(s, p, back, p.ackOffset - 1, true);
      return;
    }
    // A duplicate ACK or window update acknowledges nothing new: it goes with what is under way.
    (s.latest ?? this.setup).add(p, false);
  }

  /**
   * `lost`: bytes of the message that were never captured (a kept WebSocket frame a loss cut;
   * analysis/accounting.ts finds them): its payload is what its update's packets carried.
   */
  message(conn: Connection, m: Message, lost = 0): void {
    const role: Role = roleOf(m);
    if (role === 'none') return;
    const s = this.state(conn);
    // Lost bytes come out of the payload first, as the byte accounting takes them.
    const useful = m.wire.useful - Math.min(lost, m.wire.useful);
    let slot: Slot;
    switch (role) {
      case 'request': {
        const g = this.openGroup(s, m.kind === 'http-request');
        g.kinds.push(m.kind);
        g.useful += useful;
        s.unanswered.push(g);
        slot = g;
        break;
      }
      case 'answer':
      case 'push':
      case 'unpaired': {
        let g = role === 'unpaired' ? undefined : s.unanswered.shift();
        if (g === undefined) {
          g = this.openGroup(s, false);
          g.pushed = true;
        }
        if (g.candidate) this.decide(s, g, m.kind === 'http-response' ? setupReason(m, this.pageLoadSeen) : null);
        g.kinds.push(m.kind);
        g.useful += useful;
        for (const pre of s.preludes) pre.settle(g);
        if (s.preludes.length > 0) s.preludes = [];
        slot = g;
        break;
      }
      case 'prelude':
        // The head of an event stream answers a subscription: set-up, like one a browser makes.
        if (m.kind === 'http-response' && m.bodyLength === null && s.unanswered[0]?.candidate) {
          const g = s.unanswered.shift()!;
          this.decide(s, g, { kind: 'subscription', text: 'a request answered with an event stream' });
        }
        slot = new Slot(null);
        s.preludes.push(slot);
        break;
      case 'setup':
        slot = this.setup;
        break;
      case 'control':
        slot = s.latest ?? this.setup;
        break;
      case 'close':
        slot = this.teardown;
        break;
      case 'more':
        // The rest of the message before it in this direction (a TLS record of a run): where that went.
        slot = s.lastSlot[m.wire.dir] ?? s.latest ?? this.setup;
        if (slot instanceof Group) slot.useful += useful;
        break;
    }
    if (!s.sawMessage) {
      s.sawMessage = true;
      s.handshake.settle(slot.target ?? this.setup);
    }
    s.lastSlot[m.wire.dir] = slot;
    const tls = m.wire.below?.tls ?? 0;
    if (tls && slot instanceof Group) slot.tlsFraming += tls;
    const ext = m.wire.extents;
    if (ext === undefined) this.register(s, m.wire.dir, m.wire.start, m.wire.end, slot, tls, m.wire.end - m.wire.start - lost - useful - tls, useful);
    else {
      let bytes = -lost;
      for (let i = 0; i < ext.length; i += 2) bytes += ext[i + 1] - ext[i];
      // The message's parts go with its first range: a packet that began before it carries its first bytes.
      for (let i = 0; i < ext.length; i += 2) this.register(s, m.wire.dir, ext[i], ext[i + 1], slot, i === 0 ? tls : 0, i === 0 ? bytes - useful - tls : 0, i === 0 ? useful : 0);
    }
  }

  /** The group a slot's packets end up in, or null while that is not known (a prelude waiting). */
  private final(slot: Slot): Group | null {
    let x: Slot = slot;
    while (x.target !== null && x.target !== x) x = x.target;
    return x.target === x ? (x as Group) : null;
  }

  /**
   * `n` leading bytes of range i's message rode in a packet that went to `carrier` (the packet
   * began in an earlier message: a TLS 1.3 client's Finished and first request in one segment,
   * a pipelined request). The packet's bytes are the carrier's, so what those bytes were (TLS
   * framing, the message's own framing, payload) moves there too: an update's split is of its
   * own packets' bytes, and its parts add up to them without a clamp.
   */
  private carried(ranges: Ranges, i: number, carrier: Slot, n: number): void {
    const from = this.final(ranges.slotAt(i));
    const to = this.final(carrier);
    if (from === null || to === null || from === to || n <= 0) return;
    const [t, u] = ranges.takeLead(i, n);
    from.tlsFraming -= t;
    to.tlsFraming += t;
    from.useful -= u;
    to.useful += u;
  }

  private openGroup(s: ConnState, httpRequest: boolean): Group {
    const g = new Group(s);
    s.latest = g;
    // Before the first update, an HTTP exchange may be the page load (or what the page
    // fetches with it): which it is, its answer tells (decide). Being first is not enough:
    // a capture of curl requests has no page load.
    if (httpRequest && this.created === 0) {
      g.candidate = true;
      return g;
    }
    this.openUpdate(s, g);
    return g;
  }

  private openUpdate(s: ConnState, g: Group): void {
    g.index = ++this.created;
    this.openNow++;
    s.open.push(g);
    this.handOverReady(s);
  }

  /**
   * Three updates on, nothing more will join the oldest: it is handed over, once the packets
   * of its messages are placed (a packet carrying the end of a long event and the next few
   * events completes them all before it is placed itself). Past MAX_OPEN_UPDATES, at once.
   */
  private handOverReady(s: ConnState): void {
    while (s.open.length > 3) {
      const g = s.open[0];
      if (s.open.length <= MAX_OPEN_UPDATES && (g.lastByte0 > s.ranges[0].placedEnd || g.lastByte1 > s.ranges[1].placedEnd)) return;
      this.handOver(s.open.shift()!);
    }
  }

  /** A candidate exchange turns out to be set-up (for the reason given) or an update (null). */
  private decide(s: ConnState, g: Group, reason: SetupNote | null): void {
    g.candidate = false;
    if (reason === null) {
      this.openUpdate(s, g);
      return;
    }
    if (reason.kind === 'page-load') this.pageLoadSeen = true;
    if (this.setupNotes.length < MAX_SETUP_NOTES) this.setupNotes.push({ ...reason, connection: s.conn.id });
    this.setup.absorb(g);
    g.target = this.setup;
    s.ranges[0].retarget(g, this.setup);
    s.ranges[1].retarget(g, this.setup);
  }

  /** The connection has ended: what is still open on it is settled and handed over. */
  closed(conn: Connection): void {
    const s = this.conns.get(conn.id);
    if (!s) return;
    this.settleConnection(s);
    // Only the ACK of a FIN and stray retransmissions can follow: keep the last few ranges,
    // and those whose packet is still to come (the FIN's own data is placed after this).
    s.ranges[0].keepPlaced(4);
    s.ranges[1].keepPlaced(4);
    s.unanswered = [];
  }

  /** The connection will not be seen again. */
  forget(conn: Connection): void {
    const s = this.conns.get(conn.id);
    if (!s) return;
    this.settleConnection(s);
    this.conns.delete(conn.id);
    if (this.lastState === s) this.lastState = null;
  }

  private settleConnection(s: ConnState): void {
    // An exchange still waiting to be told what it is (its answer never came) counts as the update it asked for.
    for (const g of s.unanswered) if (g.candidate) this.decide(s, g, null);
    const fallback = s.latest ?? this.setup;
    s.pending[0].drain(fallback);
    s.pending[1].drain(fallback);
    for (const pre of s.preludes) pre.settle(s.latest ?? this.setup);
    s.preludes = [];
    if (s.handshake.target === null) s.handshake.settle(this.setup);
    for (const g of s.open) this.handOver(g);
    s.open = [];
  }

  private handOver(g: Group): void {
    this.openNow--;
    // Packets that still point at this update (a retransmission, a very late ACK) go to the
    // 'late' group from now on: ranges no longer keep the whole update alive.
    g.target = this.late;
    const s = g.conn;
    if (s) {
      s.ranges[0].retarget(g, this.late);
      s.ranges[1].retarget(g, this.late);
      g.connId = s.conn.id;
      g.protocol = s.protocol;
      g.conn = null;
    }
    const f = g;
    if (f.totalPackets === 0) return;
    const fr = g.frames;
    for (let i = 1; i < fr.length; i++) {
      if (fr[i] < fr[i - 1]) {
        fr.sort((a, b) => a - b);
        break;
      }
    }
    this.count++;
    this.onHandOver?.(g);
    if (g.useful < 0 || g.tlsFraming < 0 || g.useful + g.tlsFraming > g.appBytes) {
      this.splitMismatches++;
      this.onSplitMismatch?.(g.frames[0] ?? 0, `update ${g.index}: ${g.useful} bytes of payload and ${g.tlsFraming} of TLS framing do not fit its ${g.appBytes} bytes of TCP payload: its split is cut to fit`);
    }
    const toFirstByte = requestToFirstByte(g);
    const toAck = lastByteToAck(g);
    if (toFirstByte !== null && this.latencyCount[0] < MAX_LATENCY_SAMPLES) this.latencies[0][this.latencyCount[0]++] = toFirstByte;
    if (toAck !== null && this.latencyCount[1] < MAX_LATENCY_SAMPLES) this.latencies[1][this.latencyCount[1]++] = toAck;
    // The others keep their latest group (one per shape), made into an Update only for the one chosen.
    this.shapes.count(g, this.openNow);
    if (!this.lastGroup || g.index > this.lastGroup.index) this.lastGroup = g;
    // Counted with every open update as possibly lower-indexed: an upper bound, so the table keeps what it must.
    const t = this.byProtocol.get(g.protocol);
    if (t === undefined) {
      const shapes = new ShapeTable();
      shapes.count(g, this.openNow);
      this.byProtocol.set(g.protocol, { shapes, last: g, count: 1 });
    } else {
      t.shapes.count(g, this.openNow);
      t.count++;
      if (g.index > t.last.index) t.last = g;
    }
    if (this.keepUpdates || this.onUpdate) {
      const u = this.toUpdate(g);
      if (this.keepUpdates) this.kept.push(u);
      this.onUpdate?.(u);
    }
  }

  /** The figures of a handed-over group, as reported. */
  private toUpdate(g: Group): Update {
    const p = g.protocol;
    const push = p === 'tcp' || p === 'sse' || p === 'websocket';
    const payload = g.useful;
    return {
      index: g.index,
      connection: g.connId,
      messages: g.kinds.slice(),
      frames: g.frames.slice(),
      figures: g.figures,
      serverOnly: push ? g.serverOnly : null,
      overhead: overhead(g.linkNet, g.tcpBytes, g.appBytes, payload, g.tlsFraming),
      latency: { requestToFirstByte: requestToFirstByte(g), lastByteToAck: lastByteToAck(g) },
      time: round(g.firstTime),
    };
  }

  private register(s: ConnState, dir: Dir, start: number, end: number, slot: Slot, tls = 0, framing = 0, useful = 0): void {
    // A push wholly inside the last data packet, which went to another push's update, came
    // with it: it joins that update (see absorb).
    const last = s.lastData[dir];
    if (last !== null && slot !== last && start >= s.lastDataStart[dir] && end <= s.lastDataEnd[dir]) this.absorb(last, slot);
    const i = s.ranges[dir].push(start, end, slot, tls, framing, useful);
    if (slot instanceof Group) {
      if (dir === 0 && end > slot.lastByte0) slot.lastByte0 = end;
      else if (dir === 1 && end > slot.lastByte1) slot.lastByte1 = end;
    }
    // Its first bytes came in the last packet placed, which began in an earlier message.
    const carrier = s.lastDataSlot[dir];
    if (carrier !== null && start > s.lastDataStart[dir] && start < s.lastDataEnd[dir]) this.carried(s.ranges[dir], i, carrier, Math.min(end, s.lastDataEnd[dir]) - start);
    const q = s.pending[dir];
    q.claim(start, end, slot);
    if (q.lastClaimed !== null) {
      this.placed(s, dir, q.lastClaimed, slot);
      if (s.open.length > 3) this.handOverReady(s);
    }
  }

  /** Notes the last data packet placed in a direction, and the update it went to. */
  private placed(s: ConnState, dir: Dir, p: SegmentInfo, slot: Slot): void {
    const end = p.offset + p.appBytes;
    if (end <= s.lastDataEnd[dir]) return;
    s.lastDataStart[dir] = p.offset;
    s.lastDataEnd[dir] = end;
    s.lastDataSlot[dir] = slot;
    s.ranges[dir].placedEnd = end;
    s.lastData[dir] = slot instanceof Group && slot.pushed && slot.target === slot ? slot : null;
  }

  /**
   * Pushes that a packet carries whole after the one its first byte belongs to (an SSE
   * firehose writes many events a segment) cost no packet of their own: they arrived at once
   * with it, one update carrying several values, not updates of no packets. `other` joins
   * `into` when both are updates a push opened and `other` has no packet yet.
   */
  private absorb(into: Group, other: Slot): void {
    if (!(other instanceof Group) || !other.pushed || other.totalPackets > 0 || other.target !== other || into.target !== into) return;
    for (const k of other.kinds) into.kinds.push(k);
    into.useful += other.useful;
    into.tlsFraming += other.tlsFraming;
    if (other.lastByte0 > into.lastByte0) into.lastByte0 = other.lastByte0;
    if (other.lastByte1 > into.lastByte1) into.lastByte1 = other.lastByte1;
    other.kinds = [];
    other.useful = 0;
    other.tlsFraming = 0;
    other.target = into;
    // No longer an update of its own: it neither waits in the open list nor is handed over
    // (which would point it at 'late' instead of the update it joined).
    const open = other.conn?.open;
    const i = open ? open.indexOf(other) : -1;
    if (i >= 0) {
      open!.splice(i, 1);
      this.openNow--;
    }
  }

  private place(s: ConnState, p: SegmentInfo, dir: Dir, offset: number, viaAck: boolean): void {
    // Usually the message these bytes belong to is not complete yet: nothing to search.
    const ranges = s.ranges[dir];
    const slot = ranges.find(offset);
    if (slot !== null) {
      slot.add(p, viaAck);
      if (!viaAck && p.appBytes > 0) {
        this.placed(s, dir, p, slot);
        // Pushes already known that this packet carries whole join the update it went to.
        const end = offset + p.appBytes;
        const into = s.lastData[dir];
        if (end > ranges.foundEnd) {
          if (into !== null) ranges.within(ranges.foundEnd, end, (other) => other !== into && this.absorb(into, other));
          // Messages already known whose first bytes this packet carries: those bytes are its update's.
          ranges.startingIn(offset, end, (i, start) => this.carried(ranges, i, slot, Math.min(ranges.endAt(i), end) - start));
        }
        // Only now, with what the packet carried joined to its update, may older updates go.
        if (s.open.length > 3) this.handOverReady(s);
      }
      return;
    }
    // Bytes of a message already let go (a retransmission or an ACK long after it, on a
    // connection of many messages): its update was reported, so the packet is late.
    if (offset < ranges.forgottenEnd) {
      this.late.add(p, viaAck);
      return;
    }
    const q = s.pending[dir];
    // A packet far out of order, or the oldest of too many waiting (bytes no dissector
    // claimed), goes with what is under way.
    if (!q.push(p, offset, viaAck)) (s.latest ?? this.setup).add(p, viaAck);
    else if (q.size > MAX_PENDING) q.shift(s.latest ?? this.setup);
  }

  /** Settles what is still open and returns the updates in order (all of them only with keepUpdates). */
  finish(): Update[] {
    const states = [...this.conns.values()];
    for (const s of states) this.settleConnection(s);
    return this.kept.sort((a, b) => a.index - b.index);
  }

  /** Median latencies, over the first MAX_LATENCY_SAMPLES updates that have each. */
  medianLatency(): Latency {
    return {
      requestToFirstByte: median(this.latencies[0].subarray(0, this.latencyCount[0])),
      lastByteToAck: median(this.latencies[1].subarray(0, this.latencyCount[1])),
    };
  }

  /** How many updates were found. */
  get updateCount(): number {
    return this.count;
  }

  /**
   * The steady-state update: the shape (packets and bytes) seen most often; among equally
   * frequent shapes, the one whose latest update came last. Null when there are no updates.
   */
  steadyState(): Update | null {
    return this.steadyOf(this.shapes, this.lastGroup);
  }

  /**
   * The steady state of each technique's updates (by the protocol of their connection), in
   * the order the techniques first settled an update; the same rule as steadyState().
   */
  steadyByProtocol(): Array<{ protocol: string; updateCount: number; steady: Update | null }> {
    return [...this.byProtocol].map(([protocol, t]) => ({ protocol, updateCount: t.count, steady: this.steadyOf(t.shapes, t.last) }));
  }

  private steadyOf(shapes: ShapeTable, last: Group | null): Update | null {
    const best = shapes.steady();
    if (!best) return null;
    if (best.update) return best.update;
    return last ? this.toUpdate(last) : null;
  }

  /** Packets of the set-up and tear-down, outside every update. */
  setupFigures(): { setup: Figures; teardown: Figures; late: Figures } {
    return { setup: this.setup.figures, teardown: this.teardown.figures, late: this.late.figures };
  }
}

/** Copies `from` into `to` (an array kept for long, resized only when the length differs), or into a new array. */
function copyInto<T>(to: T[] | null, from: T[]): T[] {
  if (to === null) return from.slice();
  if (to.length !== from.length) to.length = from.length;
  for (let i = 0; i < from.length; i++) to[i] = from[i];
  return to;
}

function requestToFirstByte(g: Group): number | null {
  return g.requestEnd >= 0 && g.answerStart >= g.requestEnd ? round(g.answerStart - g.requestEnd) : null;
}

function lastByteToAck(g: Group): number | null {
  return g.answerEnd >= 0 && g.answerAck >= g.answerEnd ? round(g.answerAck - g.answerEnd) : null;
}

function round(t: number): number {
  return Math.round(t * 1e6) / 1e6;
}


/** Why an exchange before the first update was taken as set-up. */
export interface SetupNote {
  kind: 'page-load' | 'page-resource' | 'subscription';
  text: string;
}

/** Set-up notes kept (a capture of page loads only would list every one). */
const MAX_SETUP_NOTES = 20;

/** What a page fetches with its document: styles, scripts, images, fonts, icons, manifests. */
const PAGE_RESOURCE = /^(text\/css|(text|application)\/(x-)?javascript|application\/(manifest\+)?json\+?manifest|application\/wasm|image\/|font\/|application\/font)/;

/**
 * Whether the answer m makes its exchange set-up, before any update: the first HTML document
 * is the page load, and what the page then fetches before its first update (by the content
 * type of the answer) goes with it. Anything else (JSON, text, a second HTML page: a reload)
 * is an update.
 */
function setupReason(m: Message, pageLoadSeen: boolean): SetupNote | null {
  if (m.kind !== 'http-response') return null;
  const type = (m.headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1] ?? '').trim().toLowerCase();
  if (!pageLoadSeen && (type.startsWith('text/html') || type.startsWith('application/xhtml+xml'))) return { kind: 'page-load', text: `the first HTML document (${m.status}, ${type})` };
  if (pageLoadSeen && PAGE_RESOURCE.test(type)) return { kind: 'page-resource', text: `fetched by the page before its first update (${type})` };
  return null;
}
