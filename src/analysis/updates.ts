import type { Message, Role } from '../dissect/types.js';
import { TCP_FIN, TCP_RST, TCP_SYN } from '../decode/tcp.js';
import type { Connection, Dir, SegmentInfo } from '../reassembly/types.js';
import { addPacket, emptyFigures, type Figures } from './figures.js';

/** Where the bytes of a group of packets go. The four parts add up to Frame Bytes. */
export interface Overhead {
  /** Link and network headers (and link padding). */
  linkNet: number;
  tcpHeaders: number;
  /** Application framing: HTTP heads, chunk-size lines, SSE field names, WebSocket headers and masks. */
  framing: number;
  /** The useful payload: bodies, event data, WebSocket payloads, plain TCP bytes. */
  payload: number;
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

/** A group of packets whose owner may be decided later (a prelude waits for the next update). */
class Slot {
  target: Group | null = null;
  held: SegmentInfo[] = [];
  constructor(readonly tracker: UpdateTracker, target: Group | null) {
    this.target = target;
  }
  add(p: SegmentInfo, viaAckOf: boolean): void {
    if (this.target === null) this.held.push(p);
    else if (this.target.slot === this) this.target.add(p, viaAckOf);
    else this.target.slot.add(p, viaAckOf);
  }
  settle(target: Group): void {
    this.target = target;
    for (const p of this.held) target.slot.add(p, p.appBytes === 0);
    this.held = [];
  }
}

/** An update, or the set-up / tear-down packets of the capture. */
class Group {
  figures = emptyFigures();
  serverOnly = emptyFigures();
  linkNet = 0;
  useful = 0;
  frames: number[] = [];
  kinds: string[] = [];
  firstTime = Infinity;
  requestEnd = -1;
  answerStart = -1;
  answerEnd = -1;
  answerAck = -1;
  answered = false;
  readonly slot: Slot;
  constructor(tracker: UpdateTracker, readonly connection: number, readonly isSetup: boolean) {
    this.slot = new Slot(tracker, this);
  }
  add(p: SegmentInfo, pureAck: boolean): void {
    addPacket(this.figures, p.frameBytes, p.tcpBytes, p.appBytes);
    this.linkNet += p.linkNetBytes;
    this.frames.push(p.frame);
    if (p.time < this.firstTime) this.firstTime = p.time;
    if (p.dir === 1 && p.appBytes > 0) {
      addPacket(this.serverOnly, p.frameBytes, p.tcpBytes, p.appBytes);
      if (this.answerStart < 0 || p.time < this.answerStart) this.answerStart = p.time;
      if (p.time > this.answerEnd) this.answerEnd = p.time;
    } else if (p.dir === 0 && pureAck && p.appBytes === 0) {
      addPacket(this.serverOnly, p.frameBytes, p.tcpBytes, p.appBytes);
      if (p.time > this.answerAck) this.answerAck = p.time;
    } else if (p.dir === 0 && p.appBytes > 0 && p.time > this.requestEnd) this.requestEnd = p.time;
  }
}

interface Range {
  start: number;
  end: number;
  slot: Slot;
}

const MAX_RANGES = 256;
const MAX_PENDING = 10000;

class ConnState {
  ranges: [Range[], Range[]] = [[], []];
  pending: Array<{ p: SegmentInfo; dir: Dir; offset: number; viaAck: boolean }> = [];
  unanswered: Group[] = [];
  latest: Group | null = null;
  preludes: Slot[] = [];
  handshake: Slot;
  sawMessage = false;
  highestAck: [number, number] = [0, 0];
  protocol = 'tcp';
  constructor(tracker: UpdateTracker, readonly conn: Connection) {
    this.handshake = new Slot(tracker, null);
    // The SYN's sequence number sits at offset -1: ACKs of it belong to the handshake.
    this.ranges[0].push({ start: -1, end: 0, slot: this.handshake });
    this.ranges[1].push({ start: -1, end: 0, slot: this.handshake });
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
  private groups: Group[] = [];
  readonly setup: Group;
  readonly teardown: Group;
  private pageLoadSeen = false;

  constructor() {
    this.setup = new Group(this, 0, true);
    this.teardown = new Group(this, 0, true);
  }

  private state(conn: Connection): ConnState {
    let s = this.conns.get(conn.id);
    if (!s) {
      s = new ConnState(this, conn);
      this.conns.set(conn.id, s);
    }
    return s;
  }

  setProtocol(conn: Connection, protocol: string): void {
    const s = this.state(conn);
    if (protocol !== 'http' || s.protocol === 'tcp') s.protocol = protocol;
  }

  segment(p: SegmentInfo): void {
    const s = this.state(p.conn);
    if (p.flags & (TCP_FIN | TCP_RST)) {
      if (p.flags & TCP_FIN) this.register(s, p.dir, p.offset + p.appBytes, p.offset + p.appBytes + 1, this.teardown.slot);
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
      this.place(s, p, p.dir, p.offset, false);
      return;
    }
    const back = (p.dir ^ 1) as Dir;
    if (p.ackOffset > s.highestAck[p.dir]) {
      s.highestAck[p.dir] = p.ackOffset;
      this.place(s, p, back, p.ackOffset - 1, true);
      return;
    }
    // A duplicate ACK or window update acknowledges nothing new: it goes with what is under way.
    (s.latest ?? this.setup).slot.add(p, false);
  }

  message(conn: Connection, m: Message): void {
    const role: Role = m.wire.role;
    if (role === 'none') return;
    const s = this.state(conn);
    let slot: Slot;
    switch (role) {
      case 'request': {
        const g = this.openGroup(s, m.kind === 'http-request');
        g.kinds.push(m.kind);
        g.useful += m.wire.useful;
        s.unanswered.push(g);
        slot = g.slot;
        break;
      }
      case 'answer':
      case 'push': {
        const g = s.unanswered.shift() ?? this.openGroup(s, false);
        g.answered = true;
        g.kinds.push(m.kind);
        g.useful += m.wire.useful;
        for (const pre of s.preludes) pre.settle(g);
        s.preludes = [];
        slot = g.slot;
        break;
      }
      case 'prelude':
        slot = new Slot(this, null);
        s.preludes.push(slot);
        break;
      case 'setup':
        slot = this.setup.slot;
        break;
      case 'control':
        slot = (s.latest ?? this.setup).slot;
        break;
      case 'close':
        slot = this.teardown.slot;
        break;
    }
    if (!s.sawMessage) {
      s.sawMessage = true;
      s.handshake.settle(slot.target ?? this.setup);
    }
    this.register(s, m.wire.dir, m.wire.start, m.wire.end, slot);
  }

  private openGroup(s: ConnState, httpRequest: boolean): Group {
    // Every technique starts by loading its page: the first HTTP exchange is set-up.
    const isSetup = httpRequest && !this.pageLoadSeen && this.groups.length === 0;
    if (httpRequest) this.pageLoadSeen = true;
    const g = new Group(this, s.conn.id, isSetup);
    if (isSetup) g.slot.target = this.setup;
    else this.groups.push(g);
    s.latest = g;
    return g;
  }

  private register(s: ConnState, dir: Dir, start: number, end: number, slot: Slot): void {
    const ranges = s.ranges[dir];
    ranges.push({ start, end, slot });
    if (ranges.length > MAX_RANGES) ranges.splice(1, ranges.length - MAX_RANGES);
    if (s.pending.length === 0) return;
    const still: ConnState['pending'] = [];
    for (const q of s.pending) {
      if (q.dir === dir && q.offset >= start && q.offset < end) slot.add(q.p, q.viaAck);
      else still.push(q);
    }
    s.pending = still;
  }

  private place(s: ConnState, p: SegmentInfo, dir: Dir, offset: number, viaAck: boolean): void {
    const ranges = s.ranges[dir];
    for (let i = ranges.length - 1; i >= 0; i--) {
      const r = ranges[i];
      if (offset >= r.start && offset < r.end) {
        r.slot.add(p, viaAck);
        return;
      }
    }
    s.pending.push({ p, dir, offset, viaAck });
    if (s.pending.length > MAX_PENDING) {
      const q = s.pending.shift()!;
      (s.latest ?? this.setup).slot.add(q.p, q.viaAck);
    }
  }

  /** Settles what is still open and returns the updates in order. */
  finish(): Update[] {
    for (const s of this.conns.values()) {
      for (const q of s.pending) (s.latest ?? this.setup).slot.add(q.p, q.viaAck);
      s.pending = [];
      for (const pre of s.preludes) pre.settle(s.latest ?? this.setup);
      s.preludes = [];
      s.handshake.settle(this.setup);
    }
    const updates: Update[] = [];
    const canPush = (id: number) => {
      const p = this.conns.get(id)?.protocol;
      return p === 'tcp' || p === 'sse' || p === 'websocket';
    };
    for (const g of this.groups) {
      if (g.figures.totalPackets === 0) continue;
      g.frames.sort((a, b) => a - b);
      updates.push({
        index: updates.length + 1,
        connection: g.connection,
        messages: g.kinds,
        frames: g.frames,
        figures: g.figures,
        serverOnly: canPush(g.connection) ? g.serverOnly : null,
        overhead: overheadOf(g),
        latency: {
          requestToFirstByte: g.requestEnd >= 0 && g.answerStart >= g.requestEnd ? round(g.answerStart - g.requestEnd) : null,
          lastByteToAck: g.answerEnd >= 0 && g.answerAck >= g.answerEnd ? round(g.answerAck - g.answerEnd) : null,
        },
        time: round(g.firstTime),
      });
    }
    return updates;
  }

  /** Packets of the set-up and tear-down, outside every update. */
  setupFigures(): { setup: Figures; teardown: Figures } {
    return { setup: this.setup.figures, teardown: this.teardown.figures };
  }
}

function overheadOf(g: Group): Overhead {
  const payload = Math.min(g.useful, g.figures.appBytes);
  return { linkNet: g.linkNet, tcpHeaders: g.figures.tcpBytes, framing: g.figures.appBytes - payload, payload };
}

function round(t: number): number {
  return Math.round(t * 1e6) / 1e6;
}

/**
 * The steady-state update: the shape (packets and bytes) seen most often; among equally
 * frequent shapes, the one seen last. Returns null when there are no updates.
 */
export function steadyState(updates: Update[]): Update | null {
  const count = new Map<string, { n: number; last: Update }>();
  for (const u of updates) {
    const f = u.figures;
    const key = `${f.totalPackets}/${f.appPackets}/${f.frameBytes}/${f.tcpBytes}/${f.appBytes}`;
    const e = count.get(key);
    if (e) {
      e.n++;
      e.last = u;
    } else count.set(key, { n: 1, last: u });
  }
  let best: { n: number; last: Update } | null = null;
  for (const e of count.values()) if (!best || e.n > best.n || (e.n === best.n && e.last.index > best.last.index)) best = e;
  return best ? best.last : null;
}
