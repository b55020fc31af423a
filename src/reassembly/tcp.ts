import type { TcpPacket } from '../decode/packet.js';
import { formatEndpoint, ipAddress } from '../decode/ip.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../decode/tcp.js';
import { LIMITS, MemoryBudget } from '../limits.js';
import { Delivered, DELIVERED_OVERHEAD } from './delivered.js';
import { Held, HELD_OVERHEAD, HeldSegments } from './held.js';
import { seqDiff } from './seq.js';
import type { Connection, Dir, ReassemblyObserver, ReassemblyStats, SegmentInfo, StreamConsumer } from './types.js';

export interface ReassemblyLimits {
  /**
   * Out-of-order bytes held per direction before the hole in front of them is given up as a
   * gap; each held segment counts HELD_OVERHEAD bytes more than it carries, so that a flood of
   * 1-byte segments is bounded by what it costs, not by what it carries.
   */
  maxPendingBytes: number;
  /** Delivered bytes kept per direction to compare retransmissions with their first copy (0: none). */
  comparedBytes: number;
  /**
   * Bytes charged to the memory budget per connection on behalf of the stages after
   * reassembly (report, dissectors, update tracker), until each charges its own: a connection
   * that carried nothing cost this much there (live bytes in heap snapshots over 50,000 SYNs:
   * report and sink 165, ConnectionDissector 1,873, UpdateTracker 2,334).
   */
  laterStagesPerConnection: number;
}

export const DEFAULT_LIMITS: ReassemblyLimits = {
  maxPendingBytes: LIMITS.pendingBytesPerDirection,
  comparedBytes: LIMITS.retransmissionCompareBytes,
  laterStagesPerConnection: 4400,
};

/**
 * What one connection costs the reassembler itself before any payload: live bytes in heap
 * snapshots over 50,000 SYN-only connections (V8 x64; 675 before its state went lazy).
 */
export const CONNECTION_BYTES = 456;
/**
 * The share of the memory budget delivered-bytes windows may take together: they only serve
 * comparisons, and must never be why a connection is let go.
 */
const WINDOW_SHARE = 1 / 8;

/** Ports a server listens on; used only when the handshake was not captured. */
const SERVER_PORTS = new Set([80, 443, 8000, 8008, 8080, 8443, 8888, 3000, 5000, 9000]);
/** Closed connections kept (so late ACKs and retransmitted FINs do not open new ones) before sweeping. */
const MAX_CLOSED = 1024;
/**
 * Closed connections kept at most, however recently they closed: past this many, the one that
 * closed first is forgotten at once. Polling without keep-alive closes thousands a second, and
 * five seconds of them held 27,000 tombstones (~110 MB of the analysis' state) in a real
 * capture; 8,192 still cover seconds of such load, far longer than the last ACK takes.
 */
export const MAX_CLOSED_KEPT = 8192;
/** Connections closed early by the memory budget that are each said in a warning of their own. */
export const EVICTIONS_SAID = 10;
/**
 * Connections evicted at most to admit one new one: evicting one frees what the new one
 * needs, unless the budget is held by something else; then the new connection is admitted
 * over budget, and the count of connections still does not grow.
 */
const EVICTIONS_PER_ADMISSION = 2;

const EMPTY = new Uint8Array(0);

/**
 * One direction. What only payload needs (held segments, delivered bytes) is allocated when
 * the first payload byte comes: a connection that never carried one costs a few hundred bytes.
 */
class Half {
  /** Sequence number of stream offset 0; -1 until known. */
  base = -1;
  synSeen = false;
  /** Next stream offset to deliver. */
  next = 0;
  finOffset = -1;
  ended = false;
  /** Segments held ahead of a hole; null until the first one. */
  held: HeldSegments | null = null;
  /** The last bytes delivered; null until the first, or when the budget refused it. */
  delivered: Delivered | null = null;
  deliveredRefused = false;

  /** Stream offset of a sequence number, unwrapped around `next` so long streams keep counting. */
  offsetOf(seq: number): number {
    return this.next + seqDiff(seq, (this.base + this.next) >>> 0);
  }

  /** Offset of the first held segment, or Infinity. */
  firstHeld(): number {
    const f = this.held === null ? null : this.held.first();
    return f === null ? Infinity : f.offset;
  }
}

const ENDED: StreamConsumer = { data() {}, gap() {}, end() {} };

/** Four address bytes as one int32 (a small integer for V8: no object per address). */
function word(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

class TcpConnection implements Keyed<TcpConnection> {
  readonly h0 = new Half();
  readonly h1 = new Half();
  closed = false;
  lastTime = 0;
  /** Bytes this connection holds in the memory budget for itself (not its held bytes or window). */
  charge = 0;
  /** The next connection whose endpoints hash alike (ConnectionTable). */
  chain: TcpConnection | null = null;
  /** Neighbours in the open or closed list, least recently active first. */
  older: TcpConnection | null = null;
  newer: TcpConnection | null = null;
  // The endpoints, low one first, as address words (a Uint8Array cost 150 bytes more).
  private readonly a0: number;
  private readonly a1: number;
  private readonly a2: number;
  private readonly a3: number;
  private readonly z0: number;
  private readonly z1: number;
  private readonly z2: number;
  private readonly z3: number;
  private readonly v6: boolean;
  constructor(
    readonly info: Connection,
    /** Whether the client is the endpoint that sorts first in the connection's key. */
    readonly clientIsLow: boolean,
    public consumer: StreamConsumer,
    b: Uint8Array,
    ao: number,
    zo: number,
    len: number,
    readonly lowPort: number,
    readonly highPort: number,
    readonly hash: number,
  ) {
    this.v6 = len === 16;
    this.a0 = word(b, ao);
    this.z0 = word(b, zo);
    this.a1 = this.v6 ? word(b, ao + 4) : 0;
    this.a2 = this.v6 ? word(b, ao + 8) : 0;
    this.a3 = this.v6 ? word(b, ao + 12) : 0;
    this.z1 = this.v6 ? word(b, zo + 4) : 0;
    this.z2 = this.v6 ? word(b, zo + 8) : 0;
    this.z3 = this.v6 ? word(b, zo + 12) : 0;
  }

  half(dir: Dir): Half {
    return dir === 0 ? this.h0 : this.h1;
  }

  /** Whether these are its endpoints (low one first). */
  is(b: Uint8Array, ao: number, ap: number, zo: number, zp: number, len: number): boolean {
    if (ap !== this.lowPort || zp !== this.highPort || (len === 16) !== this.v6) return false;
    if (word(b, ao) !== this.a0 || word(b, zo) !== this.z0) return false;
    if (!this.v6) return true;
    return word(b, ao + 4) === this.a1 && word(b, ao + 8) === this.a2 && word(b, ao + 12) === this.a3
      && word(b, zo + 4) === this.z1 && word(b, zo + 8) === this.z2 && word(b, zo + 12) === this.z3;
  }
}

/** Connections in order of their last packet, least recent first: intrusive, O(1) per packet. */
class Recency {
  oldest: TcpConnection | null = null;
  newest: TcpConnection | null = null;
  size = 0;

  push(c: TcpConnection): void {
    c.older = this.newest;
    c.newer = null;
    if (this.newest) this.newest.newer = c;
    else this.oldest = c;
    this.newest = c;
    this.size++;
  }

  remove(c: TcpConnection): void {
    if (c.older) c.older.newer = c.newer;
    else this.oldest = c.newer;
    if (c.newer) c.newer.older = c.older;
    else this.newest = c.older;
    c.older = c.newer = null;
    this.size--;
  }

  touch(c: TcpConnection): void {
    if (this.newest === c) return;
    this.remove(c);
    this.push(c);
  }
}

/** What ConnectionTable needs of a connection. */
export interface Keyed<C> {
  readonly hash: number;
  chain: C | null;
  is(b: Uint8Array, ao: number, ap: number, zo: number, zp: number, len: number): boolean;
}

/**
 * Connections by their endpoints, found from the packet's bytes: a hash of the addresses and
 * ports picks a chain of connections to compare. A string key per packet (and its hashing by
 * the Map) was the largest cost of following connections.
 */
export class ConnectionTable<C extends Keyed<C>> {
  private byHash = new Map<number, C>();
  /** In the order they were added: the order connections are ended and swept in. */
  readonly all = new Set<C>();

  find(b: Uint8Array, ao: number, ap: number, zo: number, zp: number, len: number, hash: number): C | undefined {
    for (let c = this.byHash.get(hash) ?? null; c; c = c.chain) if (c.is(b, ao, ap, zo, zp, len)) return c;
    return undefined;
  }

  add(c: C): void {
    c.chain = this.byHash.get(c.hash) ?? null;
    this.byHash.set(c.hash, c);
    this.all.add(c);
  }

  delete(c: C): void {
    this.all.delete(c);
    let prev: C | null = null;
    for (let x = this.byHash.get(c.hash) ?? null; x; prev = x, x = x.chain) {
      if (x !== c) continue;
      if (prev) prev.chain = x.chain;
      else if (x.chain) this.byHash.set(c.hash, x.chain);
      else this.byHash.delete(c.hash);
      break;
    }
    c.chain = null;
  }

  clear(): void {
    this.byHash.clear();
    this.all.clear();
  }
}

/**
 * Follows TCP connections and turns each direction into ordered bytes for a StreamConsumer.
 *
 * Policy, case by case (the first copy of a byte always wins):
 * - in order: delivered at once, as a view of the packet (no copy);
 * - ahead of the next expected byte: copied and held until the hole fills, or until the
 *   other side acknowledges past the hole (the capture missed bytes the peer got), or until
 *   maxPendingBytes is held, or the memory budget refuses more: then the hole is reported as
 *   a gap and delivery goes on; what overlaps bytes already held is dropped and counted;
 * - wholly before the next expected byte: a retransmission or duplicate, counted, not delivered;
 * - partly before: the old part is dropped and counted as overlap;
 * - in order over held bytes: the held copy is delivered where it lies, the new one around it;
 * - cut by the snap length: the captured part is delivered, the rest reported as a gap.
 * Every dropped copy is compared with the first where both are still at hand (held bytes,
 * and the last comparedBytes delivered per direction): different bytes are warned of, with
 * both frames.
 *
 * Memory: each connection, held segment and delivered-bytes window is charged to the
 * capture's MemoryBudget. When a new connection finds it full, the least recently active
 * connections are let go (closed as at the end of the capture, so later stages settle them),
 * with a warning each; a held segment it refuses turns the hole in front into a gap.
 */
export class Reassembler {
  readonly stats: ReassemblyStats = {
    connections: 0, retransmittedSegments: 0, retransmittedBytes: 0, outOfOrderSegments: 0, overlapBytes: 0, gaps: 0, gapBytes: 0,
  };
  private conns = new ConnectionTable<TcpConnection>();
  /** Open and closed connections, each least recently active first. */
  private readonly open = new Recency();
  private readonly closedList = new Recency();
  /** What the observer is told of each packet: one object, refilled (see ReassemblyObserver.segment). */
  private readonly info: SegmentInfo = {
    conn: null as unknown as Connection, dir: 0, frame: 0, time: 0, frameBytes: 0, linkNetBytes: 0, tcpBytes: 0, appBytes: 0, flags: 0, offset: 0, ackOffset: -1, retransmission: false, newOffset: 0,
  };
  private closedCount = 0;
  private sweepAt = MAX_CLOSED;
  private evicting = false;
  /** What the delivered-bytes windows hold in the budget together. */
  private windowBytes = 0;
  private readonly limits: ReassemblyLimits;
  // The differences found between the copies of one segment's bytes: one warning per segment.
  private diffBytes = 0;
  private diffCompared = 0;
  private diffAt = -1;
  private diffFrame = -1;

  constructor(
    private readonly observer: ReassemblyObserver,
    limits: Partial<ReassemblyLimits> = {},
    private readonly budget: MemoryBudget = new MemoryBudget(),
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Connections followed now, open or closed (for the tests' bounds). */
  get connectionsHeld(): number {
    return this.conns.all.size;
  }

  segment(p: TcpPacket, frame: number, time: number, frameBytes: number): void {
    if (p.problem !== null) this.observer.warning(frame, 'ip-length', p.problem);
    const { ip, tcp } = p;
    const b = p.data;
    const alen = ip.addrLength;
    const srcLow = endpointLess(b, ip.srcOffset, tcp.srcPort, ip.dstOffset, tcp.dstPort, alen);
    // The endpoints, low one first.
    const ao = srcLow ? ip.srcOffset : ip.dstOffset;
    const ap = srcLow ? tcp.srcPort : tcp.dstPort;
    const zo = srcLow ? ip.dstOffset : ip.srcOffset;
    const zp = srcLow ? tcp.dstPort : tcp.srcPort;
    const hash = endpointsHash(b, ao, ap, zo, zp, alen);
    const flags = tcp.flags;
    const syn = (flags & TCP_SYN) !== 0;
    const hasAck = (flags & TCP_ACK) !== 0;

    let c = this.conns.find(b, ao, ap, zo, zp, alen, hash);
    if (c && syn && !hasAck) {
      const h = c.half(srcLow === c.clientIsLow ? 0 : 1);
      if (c.closed || (h.synSeen && h.base !== ((tcp.seq + 1) >>> 0))) {
        if (!c.closed) {
          this.observer.warning(frame, 'tcp-port-reused', `port reused: a new SYN on ${c.info.client} -> ${c.info.server} before the old connection closed`);
          this.close(c, 'eof', frame);
        }
        this.drop(c);
        c = undefined;
      }
    }
    if (!c) {
      let clientIsSrc: boolean;
      let guessed = false;
      if (syn) clientIsSrc = !hasAck;
      else {
        guessed = true;
        const s = SERVER_PORTS.has(tcp.srcPort) || tcp.srcPort < 1024;
        const d = SERVER_PORTS.has(tcp.dstPort) || tcp.dstPort < 1024;
        clientIsSrc = s !== d ? d : tcp.srcPort > tcp.dstPort;
      }
      const info: Connection = {
        id: ++this.stats.connections,
        client: clientIsSrc ? formatEndpoint(ipAddress(p.data, ip, 'src'), tcp.srcPort) : formatEndpoint(ipAddress(p.data, ip, 'dst'), tcp.dstPort),
        server: clientIsSrc ? formatEndpoint(ipAddress(p.data, ip, 'dst'), tcp.dstPort) : formatEndpoint(ipAddress(p.data, ip, 'src'), tcp.srcPort),
        serverPort: clientIsSrc ? tcp.dstPort : tcp.srcPort,
        firstFrame: frame,
        firstTime: time,
        rolesGuessed: guessed,
      };
      if (guessed) this.observer.warning(frame, 'tcp-no-handshake', `capture starts inside connection ${info.client} -> ${info.server}: no handshake, client and server guessed from the ports`);
      const charge = this.admit(frame, time);
      c = new TcpConnection(info, clientIsSrc === srcLow, ENDED, b, ao, zo, alen, ap, zp, hash);
      c.charge = charge;
      c.consumer = this.observer.connection(info);
      this.conns.add(c);
      this.open.push(c);
    } else if (c.closed) this.closedList.touch(c);
    else this.open.touch(c);
    c.lastTime = time;

    const dir: Dir = srcLow === c.clientIsLow ? 0 : 1;
    const h = c.half(dir);
    const other = c.half((dir ^ 1) as Dir);
    if (syn) {
      if (!h.synSeen) {
        h.base = (tcp.seq + 1) >>> 0;
        h.synSeen = true;
      }
    } else if (h.base < 0) {
      h.base = tcp.seq; // the capture began mid-stream: the first byte seen is offset 0
    }
    const len = p.payloadLength;
    const offset = h.offsetOf(syn ? (tcp.seq + 1) >>> 0 : tcp.seq);
    const ackOffset = hasAck && other.base >= 0 ? other.offsetOf(tcp.ack) : -1;
    let retransmission = false;
    if (len > 0 && (offset + len <= h.next || h.ended)) retransmission = true;
    else if (len > 0 && offset > h.next && h.held !== null) retransmission = h.held.covers(offset, offset + len);

    const info = this.info;
    info.conn = c.info;
    info.dir = dir;
    info.frame = frame;
    info.time = time;
    info.frameBytes = frameBytes;
    info.linkNetBytes = p.linkNetBytes;
    info.tcpBytes = tcp.headerLength;
    info.appBytes = len;
    info.flags = flags;
    info.offset = offset;
    info.ackOffset = ackOffset;
    info.retransmission = retransmission;
    info.newOffset = len > 0 && offset < h.next && offset + len > h.next ? h.next : offset;
    if (c.closed) {
      this.observer.segment(info);
      return;
    }

    // A hole the peer acknowledges past was sent before this packet: report it first.
    if (ackOffset > other.next && !other.ended) {
      // The peer acknowledges bytes the capture never had: give up waiting for them.
      let upTo = ackOffset;
      if (other.finOffset >= 0) upTo = Math.min(upTo, other.finOffset);
      upTo = Math.min(upTo, other.firstHeld());
      if (upTo > other.next) {
        this.gap(c, (dir ^ 1) as Dir, other, upTo - other.next, frame);
        this.drain(c, (dir ^ 1) as Dir, other);
      }
    }
    if (len > 0 && !h.ended) this.data(c, dir, h, offset, p.payload, len, frame, time, retransmission);
    else if (len > 0 && p.payload.length > 0) {
      // After the end of the direction: nothing is delivered, but a different copy still tells.
      this.compareFirst(h, offset, p.payload);
      this.reportDifference(c, dir, frame);
    }
    // Reported once its bytes have reached the dissectors (a message this packet completes is
    // already known, so it is placed at once), and before a FIN or RST closes the connection.
    this.observer.segment(info);
    if (flags & TCP_FIN && h.finOffset < 0) h.finOffset = offset + len;
    if (flags & TCP_RST) {
      this.close(c, 'rst', frame);
      return;
    }
    this.checkFin(c, dir, h, frame);
    this.checkFin(c, (dir ^ 1) as Dir, other, frame);
    if (c.h0.ended && c.h1.ended) this.markClosed(c);
  }

  /** Flushes every connection still open: held bytes become gaps, and each direction ends. */
  finish(lastFrame: number): void {
    const evicted = this.stats.evictedConnections ?? 0;
    if (evicted > EVICTIONS_SAID) this.observer.warning(lastFrame, 'memory-budget', `memory budget reached: ${evicted - EVICTIONS_SAID} more connections were closed early to make room (${evicted} in all)`);
    for (const c of this.conns.all) if (!c.closed) this.close(c, 'eof', lastFrame);
    for (const c of this.conns.all) {
      this.observer.forget?.(c.info);
      this.budget.release(c.charge);
    }
    this.conns.clear();
    this.open.oldest = this.open.newest = this.closedList.oldest = this.closedList.newest = null;
    this.open.size = this.closedList.size = 0;
  }

  private data(c: TcpConnection, dir: Dir, h: Half, offset: number, payload: Uint8Array, len: number, frame: number, time: number, retransmission: boolean): void {
    if (retransmission) {
      this.stats.retransmittedSegments++;
      this.stats.retransmittedBytes += len;
      this.observer.warning(frame, 'tcp-retransmission', `retransmission: ${len} byte${len === 1 ? '' : 's'} of ${dir === 0 ? 'client' : 'server'} data already received`);
      this.compareFirst(h, offset, payload);
      this.reportDifference(c, dir, frame);
      return;
    }
    if (offset < h.next) {
      const skip = h.next - offset;
      this.stats.overlapBytes += skip;
      this.observer.warning(frame, 'tcp-overlap', `segment overlaps ${skip} byte${skip === 1 ? '' : 's'} already received; the first copy is kept`);
      this.compareFirst(h, offset, payload.subarray(0, Math.min(skip, payload.length)));
      payload = payload.subarray(Math.min(skip, payload.length));
      offset += skip;
      len -= skip;
    }
    if (offset === h.next) {
      if (h.held === null || h.held.count === 0) this.deliver(c, dir, h, offset, payload, len, frame, time);
      else this.deliverAround(c, dir, h, offset, payload, len, frame, time);
    } else {
      this.stats.outOfOrderSegments++;
      this.observer.warning(frame, 'tcp-out-of-order', `out of order: ${dir === 0 ? 'client' : 'server'} data ${offset - h.next} bytes ahead of the stream, held until the hole fills`);
      this.hold(c, dir, h, offset, payload, len, frame, time);
    }
    this.reportDifference(c, dir, frame);
  }

  /**
   * Holds the bytes of a segment ahead of the stream that are not held yet (the first copy
   * wins: what is, is compared and counted as overlap). When the budget refuses them, the
   * holes up to the segment are given up as gaps, and it is delivered at once.
   */
  private hold(c: TcpConnection, dir: Dir, h: Half, offset: number, payload: Uint8Array, len: number, frame: number, time: number): void {
    const held = (h.held ??= new HeldSegments());
    const end = offset + len;
    // What holding it would cost, before anything is held.
    let cost = 0;
    let pieces = 0;
    for (let at = offset, e = held.from(at); at < end; ) {
      const upTo = e === null || e.offset >= end ? end : e.offset;
      if (upTo > at) {
        cost += Math.max(0, Math.min(upTo, offset + payload.length) - at);
        pieces++;
      }
      if (e === null || e.offset >= end) break;
      at = e.end;
      e = held.after(e.offset);
    }
    cost += pieces * HELD_OVERHEAD;
    if (!this.budget.reserve(cost, 'out-of-order')) {
      this.observer.warning(frame, 'memory-budget', `memory budget reached: ${dir === 0 ? 'client' : 'server'} data ${offset - h.next} bytes ahead of the stream cannot be held; the hole in front of it is reported as a gap`);
      for (let first = held.first(); first !== null && first.offset <= offset; first = held.first()) {
        this.gap(c, dir, h, first.offset - h.next, frame);
        this.drain(c, dir, h);
      }
      if (h.next < offset) this.gap(c, dir, h, offset - h.next, frame);
      if (offset + len <= h.next) {
        // What was held covers it all: it was a copy after all.
        this.compareFirst(h, offset, payload);
        return;
      }
      const skip = h.next - offset;
      if (skip > 0) {
        this.stats.overlapBytes += skip;
        this.compareFirst(h, offset, payload.subarray(0, Math.min(skip, payload.length)));
      }
      const rest = payload.subarray(Math.min(skip, payload.length));
      if (held.count === 0) this.deliver(c, dir, h, h.next, rest, len - skip, frame, time);
      else this.deliverAround(c, dir, h, h.next, rest, len - skip, frame, time);
      return;
    }
    const charged = held.charge;
    for (let at = offset, e = held.from(at); at < end; ) {
      const upTo = e === null || e.offset >= end ? end : e.offset;
      if (upTo > at) {
        const from = Math.min(at - offset, payload.length);
        const to = Math.min(upTo - offset, payload.length);
        held.insert(new Held(at, upTo - at, from < to ? payload.slice(from, to) : EMPTY, frame, time));
      }
      if (e === null || e.offset >= end) break;
      // Bytes already held: the first copy stays.
      const overlapEnd = Math.min(end, e.end);
      this.stats.overlapBytes += overlapEnd - Math.max(at, e.offset);
      this.compareHeld(e, offset, payload, Math.max(at, e.offset), overlapEnd);
      at = e.end;
      e = held.after(e.offset);
    }
    // The estimate and the charge agree (both count bytes plus HELD_OVERHEAD a segment).
    this.budget.release(cost - (held.charge - charged));
    if (held.charge > this.limits.maxPendingBytes) {
      this.observer.warning(frame, 'tcp-hole-timeout', `more than ${this.limits.maxPendingBytes} bytes held behind a hole that never filled: reported as a gap`);
      while (held.charge > this.limits.maxPendingBytes && held.count > 0) {
        this.gap(c, dir, h, held.first()!.offset - h.next, frame);
        this.drain(c, dir, h);
      }
    }
  }

  /**
   * An in-order segment over held bytes: the held copy is delivered where it lies (it came
   * first), the new segment's bytes in the holes around it.
   */
  private deliverAround(c: TcpConnection, dir: Dir, h: Half, offset: number, payload: Uint8Array, len: number, frame: number, time: number): void {
    const held = h.held!;
    const end = offset + len;
    for (let e = held.first(); e !== null && e.offset < end; e = held.first()) {
      if (e.offset > h.next) this.deliverPart(c, dir, h, offset, payload, h.next, e.offset, frame, time);
      const overlapEnd = Math.min(end, e.end);
      this.stats.overlapBytes += overlapEnd - e.offset;
      this.compareHeld(e, offset, payload, e.offset, overlapEnd);
      held.shift();
      this.budget.release(e.bytes.length + HELD_OVERHEAD);
      this.deliver(c, dir, h, e.offset, e.bytes, e.length, e.frame, e.time);
    }
    if (h.next < end) this.deliverPart(c, dir, h, offset, payload, h.next, end, frame, time);
    this.drain(c, dir, h);
  }

  /** Stream bytes [from, to) of a segment at `offset`, delivered (a gap for what was not captured). */
  private deliverPart(c: TcpConnection, dir: Dir, h: Half, offset: number, payload: Uint8Array, from: number, to: number, frame: number, time: number): void {
    const a = Math.min(from - offset, payload.length);
    const z = Math.min(to - offset, payload.length);
    this.deliver(c, dir, h, from, a < z ? payload.subarray(a, z) : EMPTY, to - from, frame, time);
  }

  private deliver(c: TcpConnection, dir: Dir, h: Half, offset: number, bytes: Uint8Array, len: number, frame: number, time: number): void {
    if (bytes.length > 0) {
      c.consumer.data(dir, { bytes, offset, frame, time });
      if (h.delivered !== null) h.delivered.add(offset, bytes, frame);
      else if (!h.deliveredRefused && this.limits.comparedBytes > 0) this.keepDelivered(h, offset, bytes, frame);
    }
    h.next = offset + len;
    if (bytes.length < len) {
      this.stats.gaps++;
      this.stats.gapBytes += len - bytes.length;
      c.consumer.gap(dir, offset + bytes.length, len - bytes.length, frame);
    }
  }

  private keepDelivered(h: Half, offset: number, bytes: Uint8Array, frame: number): void {
    // Only a comparison needs it: past its share, or when the budget is short, go without.
    const cost = this.windowCost();
    if (this.windowBytes + cost > this.budget.limit * WINDOW_SHARE || !this.budget.reserve(cost, 'connection')) {
      h.deliveredRefused = true;
      return;
    }
    this.windowBytes += cost;
    h.delivered = new Delivered(this.limits.comparedBytes);
    h.delivered.add(offset, bytes, frame);
  }

  private windowCost(): number {
    return this.limits.comparedBytes * 2 + DELIVERED_OVERHEAD;
  }

  private drain(c: TcpConnection, dir: Dir, h: Half): void {
    const held = h.held;
    if (held === null) return;
    for (let q = held.first(); q !== null && q.offset <= h.next; q = held.first()) {
      held.shift();
      this.budget.release(q.bytes.length + HELD_OVERHEAD);
      const end = q.offset + q.length;
      if (end <= h.next) continue;
      const skip = h.next - q.offset;
      if (skip > 0) this.stats.overlapBytes += skip;
      this.deliver(c, dir, h, h.next, q.bytes.subarray(Math.min(skip, q.bytes.length)), q.length - skip, q.frame, q.time);
    }
  }

  /** Compares a later copy of bytes at `offset` with the first, where it is still at hand. */
  private compareFirst(h: Half, offset: number, bytes: Uint8Array): void {
    const end = offset + bytes.length;
    const d = h.delivered;
    if (d !== null) {
      const from = Math.max(offset, d.start);
      const to = Math.min(end, d.end, h.next);
      const buf = d.buf;
      const base = d.start;
      for (let x = from; x < to; x++) {
        if (buf[x - base] !== bytes[x - offset]) this.difference(x, this.diffBytes === 0 ? d.frameOf(x) : -1);
      }
      if (to > from) this.diffCompared += to - from;
    }
    if (end > h.next && h.held !== null) {
      for (let e = h.held.from(Math.max(offset, h.next)); e !== null && e.offset < end; e = h.held.after(e.offset)) {
        this.compareHeld(e, offset, bytes, Math.max(offset, e.offset), Math.min(end, e.end));
      }
    }
  }

  /** Compares stream bytes [from, to) of a later copy (bytes at `offset`) with held segment e. */
  private compareHeld(e: Held, offset: number, bytes: Uint8Array, from: number, to: number): void {
    // Only what both copies captured.
    to = Math.min(to, offset + bytes.length, e.offset + e.bytes.length);
    for (let x = from; x < to; x++) if (e.bytes[x - e.offset] !== bytes[x - offset]) this.difference(x, e.frame);
    if (to > from) this.diffCompared += to - from;
  }

  private difference(offset: number, firstFrame: number): void {
    if (this.diffBytes++ === 0) {
      this.diffAt = offset;
      this.diffFrame = firstFrame;
    }
  }

  /** One warning for the differences found in this segment's copies, if any. */
  private reportDifference(c: TcpConnection, dir: Dir, frame: number): void {
    if (this.diffBytes > 0) {
      this.stats.conflictingSegments = (this.stats.conflictingSegments ?? 0) + 1;
      this.stats.conflictingBytes = (this.stats.conflictingBytes ?? 0) + this.diffBytes;
      const first = this.diffFrame > 0 ? `frame ${this.diffFrame}` : 'an earlier frame';
      this.observer.warning(frame, 'tcp-retransmission-differs', `a second copy of ${dir === 0 ? 'client' : 'server'} data differs from the first (${first}): ${this.diffBytes} of the ${this.diffCompared} bytes compared differ, from stream offset ${this.diffAt}; the first copy is kept (a receiver may have taken either: a sign of evasion)`);
      // Said in the stream too, where it happened (--payloads shows it among the messages).
      c.consumer.differs?.(dir, frame, this.diffBytes, this.diffFrame);
    }
    this.diffBytes = this.diffCompared = 0;
    this.diffAt = this.diffFrame = -1;
  }

  private gap(c: TcpConnection, dir: Dir, h: Half, length: number, frame: number): void {
    this.stats.gaps++;
    this.stats.gapBytes += length;
    this.observer.warning(frame, 'tcp-gap', `${length} byte${length === 1 ? '' : 's'} of ${dir === 0 ? 'client' : 'server'} data at stream offset ${h.next} were not captured (lost or missed)`);
    c.consumer.gap(dir, h.next, length, frame);
    h.next += length;
  }

  private checkFin(c: TcpConnection, dir: Dir, h: Half, frame: number): void {
    if (!h.ended && h.finOffset >= 0 && h.next >= h.finOffset) {
      h.ended = true;
      c.consumer.end(dir, 'fin', frame);
    }
  }

  private close(c: TcpConnection, reason: 'rst' | 'eof', frame: number): void {
    for (const dir of [0, 1] as Dir[]) {
      const h = c.half(dir);
      if (h.ended) continue;
      for (let first = h.firstHeld(); first !== Infinity; first = h.firstHeld()) {
        this.gap(c, dir, h, first - h.next, frame);
        this.drain(c, dir, h);
      }
      h.ended = true;
      c.consumer.end(dir, reason, frame);
    }
    this.markClosed(c);
  }

  private markClosed(c: TcpConnection): void {
    if (c.closed) return;
    c.closed = true;
    // Both directions have ended: the dissectors' state can go now, not when the tombstone does.
    c.consumer = ENDED;
    this.releaseHalves(c);
    this.open.remove(c);
    this.closedList.push(c);
    this.observer.closed?.(c.info);
    ++this.closedCount;
    if (this.evicting) return;
    if (this.closedList.size > MAX_CLOSED_KEPT) this.drop(this.closedList.oldest!);
    if (this.closedCount > this.sweepAt) this.sweep(c.lastTime);
  }

  /** Lets go of what only payload needed: held segments and delivered bytes. */
  private releaseHalves(c: TcpConnection): void {
    for (const h of [c.h0, c.h1]) {
      if (h.held !== null) {
        this.budget.release(h.held.charge);
        h.held = null;
      }
      if (h.delivered !== null) {
        this.budget.release(this.windowCost());
        this.windowBytes -= this.windowCost();
        h.delivered = null;
      }
    }
  }

  /** Forgets a connection: it leaves the table, its charge the budget. */
  private drop(c: TcpConnection): void {
    this.conns.delete(c);
    if (c.closed) {
      this.closedList.remove(c);
      this.closedCount--;
    } else {
      this.open.remove(c);
      this.releaseHalves(c);
    }
    this.budget.release(c.charge);
    c.charge = 0;
    this.observer.forget?.(c.info);
  }

  /**
   * Reserves a new connection's cost. When the budget is full, closed connections are
   * forgotten and then open ones closed and forgotten, least recently active first. Returns
   * what was reserved (0 when the connection is admitted over budget).
   */
  private admit(frame: number, time: number): number {
    const cost = CONNECTION_BYTES + this.limits.laterStagesPerConnection;
    for (let evicted = 0; ; evicted++) {
      if (this.budget.reserve(cost, 'connection')) return cost;
      const victim = this.closedList.oldest ?? this.open.oldest;
      if (victim === null || evicted === EVICTIONS_PER_ADMISSION) return 0;
      if (!victim.closed) {
        const evictedSoFar = (this.stats.evictedConnections = (this.stats.evictedConnections ?? 0) + 1);
        // The first few are said one by one; the rest are counted (reassembly.evictedConnections)
        // and said once at the end: a flood of a million SYNs must not make a million warnings.
        if (evictedSoFar <= EVICTIONS_SAID) {
          const quiet = Math.round((time - victim.lastTime) * 1e6) / 1e6;
          this.observer.warning(frame, 'memory-budget', `memory budget reached: connection ${victim.info.client} -> ${victim.info.server}, quiet for ${quiet} s, is closed early to make room (${this.open.size} open connections held)`);
        }
        this.evicting = true;
        this.close(victim, 'eof', frame);
        this.evicting = false;
      }
      this.drop(victim);
    }
  }

  /**
   * Forgets closed connections idle for a while; backs off when most are still fresh. Only
   * the closed ones are looked at (scanning every connection made each sweep cost as much as
   * the open connections held), and they go in the order they came (connection ids), as
   * they always did.
   */
  private sweep(now: number): void {
    const stale: TcpConnection[] = [];
    for (let c = this.closedList.oldest; c !== null; c = c.newer) if (now - c.lastTime > 5) stale.push(c);
    stale.sort((a, b) => a.info.id - b.info.id);
    for (const c of stale) this.drop(c);
    this.sweepAt = Math.max(MAX_CLOSED, this.closedCount * 2);
  }
}

/** Whether endpoint a (address at b[ao], port ap) sorts strictly before endpoint z. */
function endpointLess(b: Uint8Array, ao: number, ap: number, zo: number, zp: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[ao + i] !== b[zo + i]) return b[ao + i] < b[zo + i];
  return ap < zp;
}

/**
 * FNV-1a over both endpoints' address bytes and ports (low one first), from a basis drawn per
 * process: a capture crafted so that many connections hash alike under the published basis
 * (each packet then walking one long chain) does not under this one. Nothing printed depends
 * on the hash.
 */
const HASH_BASIS = (0x811c9dc5 ^ Math.floor(Math.random() * 0x100000000)) >>> 0;
function endpointsHash(b: Uint8Array, ao: number, ap: number, zo: number, zp: number, len: number): number {
  let h = HASH_BASIS;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ b[ao + i], 0x01000193);
  h = Math.imul(h ^ ap, 0x01000193);
  for (let i = 0; i < len; i++) h = Math.imul(h ^ b[zo + i], 0x01000193);
  return Math.imul(h ^ zp, 0x01000193);
}
