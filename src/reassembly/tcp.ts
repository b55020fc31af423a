import type { TcpPacket } from '../decode/packet.js';
import { formatEndpoint, ipAddress } from '../decode/ip.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../decode/tcp.js';
import { seqDiff } from './seq.js';
import type { Connection, Dir, ReassemblyObserver, ReassemblyStats, SegmentInfo, StreamConsumer } from './types.js';

export interface ReassemblyLimits {
  /** Out-of-order bytes held per direction before the hole in front of them is given up as a gap. */
  maxPendingBytes: number;
}

export const DEFAULT_LIMITS: ReassemblyLimits = { maxPendingBytes: 4 * 1024 * 1024 };

/** Ports a server listens on; used only when the handshake was not captured. */
const SERVER_PORTS = new Set([80, 443, 8000, 8008, 8080, 8443, 8888, 3000, 5000, 9000]);
/** Closed connections kept (so late ACKs and retransmitted FINs do not open new ones) before sweeping. */
const MAX_CLOSED = 1024;

interface Pending {
  offset: number;
  length: number;
  bytes: Uint8Array;
  frame: number;
  time: number;
}

class Half {
  /** Sequence number of stream offset 0; -1 until known. */
  base = -1;
  synSeen = false;
  /** Next stream offset to deliver. */
  next = 0;
  finOffset = -1;
  ended = false;
  pending: Pending[] = [];
  pendingBytes = 0;

  /** Stream offset of a sequence number, unwrapped around `next` so long streams keep counting. */
  offsetOf(seq: number): number {
    return this.next + seqDiff(seq, (this.base + this.next) >>> 0);
  }
}

const ENDED: StreamConsumer = { data() {}, gap() {}, end() {} };

class TcpConnection implements Keyed<TcpConnection> {
  halves: [Half, Half] = [new Half(), new Half()];
  closed = false;
  lastTime = 0;
  /** The next connection whose endpoints hash alike (ConnectionTable). */
  chain: TcpConnection | null = null;
  constructor(
    readonly info: Connection,
    /** Whether the client is the endpoint that sorts first in the connection's key. */
    readonly clientIsLow: boolean,
    public consumer: StreamConsumer,
    /** The endpoints, low one first: both addresses' bytes, and the two ports. */
    readonly addrs: Uint8Array,
    readonly lowPort: number,
    readonly highPort: number,
    readonly hash: number,
  ) {}

  /** Whether these are its endpoints (low one first). */
  is(b: Uint8Array, ao: number, ap: number, zo: number, zp: number, len: number): boolean {
    const a = this.addrs;
    if (ap !== this.lowPort || zp !== this.highPort || a.length !== len * 2) return false;
    for (let i = 0; i < len; i++) if (a[i] !== b[ao + i] || a[len + i] !== b[zo + i]) return false;
    return true;
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
 * Policy, case by case:
 * - in order: delivered at once, as a view of the packet (no copy);
 * - ahead of the next expected byte: copied and held until the hole fills, or until the
 *   other side acknowledges past the hole (the capture missed bytes the peer got), or until
 *   maxPendingBytes is held: then the hole is reported as a gap and delivery goes on;
 * - wholly before the next expected byte: a retransmission or duplicate, counted, not delivered;
 * - partly before: the old part is dropped (the first copy wins) and counted as overlap;
 * - cut by the snap length: the captured part is delivered, the rest reported as a gap.
 */
export class Reassembler {
  readonly stats: ReassemblyStats = {
    connections: 0, retransmittedSegments: 0, retransmittedBytes: 0, outOfOrderSegments: 0, overlapBytes: 0, gaps: 0, gapBytes: 0,
  };
  private conns = new ConnectionTable<TcpConnection>();
  /** What the observer is told of each packet: one object, refilled (see ReassemblyObserver.segment). */
  private readonly info: SegmentInfo = {
    conn: null as unknown as Connection, dir: 0, frame: 0, time: 0, frameBytes: 0, linkNetBytes: 0, tcpBytes: 0, appBytes: 0, flags: 0, offset: 0, ackOffset: -1, retransmission: false,
  };
  private closedCount = 0;
  private sweepAt = MAX_CLOSED;

  constructor(
    private readonly observer: ReassemblyObserver,
    private readonly limits: ReassemblyLimits = DEFAULT_LIMITS,
  ) {}

  segment(p: TcpPacket, frame: number, time: number, frameBytes: number): void {
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
      const h = c.halves[srcLow === c.clientIsLow ? 0 : 1];
      if (c.closed || (h.synSeen && h.base !== ((tcp.seq + 1) >>> 0))) {
        if (!c.closed) {
          this.observer.warning(frame, `port reused: a new SYN on ${c.info.client} -> ${c.info.server} before the old connection closed`);
          this.close(c, 'eof', frame);
        }
        this.conns.delete(c);
        if (c.closed) this.closedCount--;
        this.observer.forget?.(c.info);
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
      if (guessed) this.observer.warning(frame, `capture starts inside connection ${info.client} -> ${info.server}: no handshake, client and server guessed from the ports`);
      const addrs = new Uint8Array(alen * 2);
      addrs.set(b.subarray(ao, ao + alen));
      addrs.set(b.subarray(zo, zo + alen), alen);
      c = new TcpConnection(info, clientIsSrc === srcLow, ENDED, addrs, ap, zp, hash);
      c.consumer = this.observer.connection(info);
      this.conns.add(c);
    }
    c.lastTime = time;

    const dir: Dir = srcLow === c.clientIsLow ? 0 : 1;
    const h = c.halves[dir];
    const other = c.halves[dir ^ 1];
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
    else if (len > 0 && offset > h.next) retransmission = h.pending.some((q) => q.offset === offset && q.length >= len);

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
    if (c.closed) {
      this.observer.segment(info);
      return;
    }

    // A hole the peer acknowledges past was sent before this packet: report it first.
    if (ackOffset > other.next && !other.ended) {
      // The peer acknowledges bytes the capture never had: give up waiting for them.
      let upTo = ackOffset;
      if (other.finOffset >= 0) upTo = Math.min(upTo, other.finOffset);
      if (other.pending.length > 0) upTo = Math.min(upTo, other.pending[0].offset);
      if (upTo > other.next) {
        this.gap(c, (dir ^ 1) as Dir, other, upTo - other.next, frame);
        this.drain(c, (dir ^ 1) as Dir, other);
      }
    }
    if (len > 0 && !h.ended) this.data(c, dir, h, offset, p.payload, len, frame, time, retransmission);
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
    if (c.halves[0].ended && c.halves[1].ended) this.markClosed(c);
  }

  /** Flushes every connection still open: held bytes become gaps, and each direction ends. */
  finish(lastFrame: number): void {
    for (const c of this.conns.all) if (!c.closed) this.close(c, 'eof', lastFrame);
    for (const c of this.conns.all) this.observer.forget?.(c.info);
    this.conns.clear();
  }

  private data(c: TcpConnection, dir: Dir, h: Half, offset: number, payload: Uint8Array, len: number, frame: number, time: number, retransmission: boolean): void {
    if (retransmission) {
      this.stats.retransmittedSegments++;
      this.stats.retransmittedBytes += len;
      this.observer.warning(frame, `retransmission: ${len} byte${len === 1 ? '' : 's'} of ${dir === 0 ? 'client' : 'server'} data already received`);
      return;
    }
    if (offset < h.next) {
      const skip = h.next - offset;
      this.stats.overlapBytes += skip;
      this.observer.warning(frame, `segment overlaps ${skip} byte${skip === 1 ? '' : 's'} already received; the first copy is kept`);
      payload = payload.subarray(Math.min(skip, payload.length));
      offset += skip;
      len -= skip;
    }
    if (offset === h.next) {
      this.deliver(c, dir, h, offset, payload, len, frame, time);
      this.drain(c, dir, h);
      return;
    }
    this.stats.outOfOrderSegments++;
    this.observer.warning(frame, `out of order: ${dir === 0 ? 'client' : 'server'} data ${offset - h.next} bytes ahead of the stream, held until the hole fills`);
    let i = h.pending.length;
    while (i > 0 && h.pending[i - 1].offset > offset) i--;
    h.pending.splice(i, 0, { offset, length: len, bytes: payload.slice(), frame, time });
    h.pendingBytes += payload.length;
    if (h.pendingBytes > this.limits.maxPendingBytes) {
      this.observer.warning(frame, `more than ${this.limits.maxPendingBytes} bytes held behind a hole that never filled: reported as a gap`);
      this.gap(c, dir, h, h.pending[0].offset - h.next, frame);
      this.drain(c, dir, h);
    }
  }

  private deliver(c: TcpConnection, dir: Dir, h: Half, offset: number, bytes: Uint8Array, len: number, frame: number, time: number): void {
    if (bytes.length > 0) c.consumer.data(dir, { bytes, offset, frame, time });
    h.next = offset + len;
    if (bytes.length < len) {
      this.stats.gaps++;
      this.stats.gapBytes += len - bytes.length;
      c.consumer.gap(dir, offset + bytes.length, len - bytes.length, frame);
    }
  }

  private drain(c: TcpConnection, dir: Dir, h: Half): void {
    while (h.pending.length > 0 && h.pending[0].offset <= h.next) {
      const q = h.pending.shift()!;
      h.pendingBytes -= q.bytes.length;
      const end = q.offset + q.length;
      if (end <= h.next) continue;
      const skip = h.next - q.offset;
      if (skip > 0) this.stats.overlapBytes += skip;
      this.deliver(c, dir, h, h.next, q.bytes.subarray(Math.min(skip, q.bytes.length)), q.length - skip, q.frame, q.time);
    }
  }

  private gap(c: TcpConnection, dir: Dir, h: Half, length: number, frame: number): void {
    this.stats.gaps++;
    this.stats.gapBytes += length;
    this.observer.warning(frame, `${length} byte${length === 1 ? '' : 's'} of ${dir === 0 ? 'client' : 'server'} data at stream offset ${h.next} were not captured (lost or missed)`);
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
      const h = c.halves[dir];
      if (h.ended) continue;
      while (h.pending.length > 0) {
        this.gap(c, dir, h, h.pending[0].offset - h.next, frame);
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
    c.halves[0].pending = c.halves[1].pending = [];
    this.observer.closed?.(c.info);
    if (++this.closedCount > this.sweepAt) this.sweep(c.lastTime);
  }

  /** Forgets closed connections idle for a while; backs off when most are still fresh. */
  private sweep(now: number): void {
    for (const c of this.conns.all) {
      if (c.closed && now - c.lastTime > 5) {
        this.conns.delete(c);
        this.closedCount--;
        this.observer.forget?.(c.info);
      }
    }
    this.sweepAt = Math.max(MAX_CLOSED, this.closedCount * 2);
  }
}

/** Whether endpoint a (address at b[ao], port ap) sorts strictly before endpoint z. */
function endpointLess(b: Uint8Array, ao: number, ap: number, zo: number, zp: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[ao + i] !== b[zo + i]) return b[ao + i] < b[zo + i];
  return ap < zp;
}

/** FNV-1a over both endpoints' address bytes and ports (low one first). */
function endpointsHash(b: Uint8Array, ao: number, ap: number, zo: number, zp: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ b[ao + i], 0x01000193);
  h = Math.imul(h ^ ap, 0x01000193);
  for (let i = 0; i < len; i++) h = Math.imul(h ^ b[zo + i], 0x01000193);
  return Math.imul(h ^ zp, 0x01000193);
}

