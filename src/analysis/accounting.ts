import type { Message } from '../dissect/types.js';
import type { Dir, SegmentInfo } from '../reassembly/types.js';
import { LIMITS } from '../limits.js';
import { roleOf } from './roles.js';

/**
 * Byte accounting by layer and role: where every byte of a direction's TCP packets went.
 *
 * Three counts that do not derive from each other meet here: the packets' own figures (link,
 * IP and TCP headers, TCP payload), the bytes the reassembler delivered to the layers (once
 * each, gaps aside), and the bytes the layers' messages claim (their root TCP extents, split
 * into the message's payload, the framing of its own layer, and the framing each layer under
 * it wrapped around it). What no message claimed is found from the claims' union, not by
 * subtraction. A byte claimed twice, a claim past the end of the stream, or a message whose
 * payload and lower framing exceed its bytes breaks the sum, and says so (accounting-mismatch).
 * A claim of bytes lost in a gap is the claiming layer's `lost`.
 */

/** What one layer's messages claimed in a direction. */
export interface LayerBytes {
  /** Headers, length prefixes, field names, masks, record headers and tags: the layer's own framing. */
  framing: number;
  /** The useful payload its messages carried (bodies, event data, message payloads, plain bytes). */
  payload: number;
  /**
   * Bytes its messages claimed that were never captured (a WebSocket frame whose payload a
   * loss cut, kept all the same): outside framing and payload, which count captured bytes.
   */
  lost: number;
}

export interface DirectionBytes {
  /** Link and network headers (and link padding) of the direction's TCP packets. */
  linkNet: number;
  tcpHeaders: number;
  /** TCP payload on the wire (App Bytes), copies included. */
  tcpPayload: number;
  /** Payload bytes the reassembler handed to the layers, each once. */
  delivered: number;
  /** TCP payload not delivered: retransmissions, duplicates and overlaps, held bytes let go (tcpPayload - delivered). */
  notDelivered: number;
  /** Stream bytes never captured (gaps): not in any packet, so outside the sum. */
  lostInGaps: number;
  /** By layer (tcp for plain bytes, tls, http, http2, sse, websocket), in the order first seen. */
  layers: Record<string, LayerBytes>;
  /** Delivered bytes no message claimed (a cut-off message, bytes a layer gave up on). */
  unclaimed: number;
}

/*
 * The sum that must hold, per direction: over the layers, framing + payload, plus unclaimed,
 * is delivered; and delivered + notDelivered is tcpPayload. A test checks it
 * against the packets' own figures (test/accounting.test.ts).
 */

export interface ByteAccounting {
  client: DirectionBytes;
  server: DirectionBytes;
  /** Breaches of the sum found (each also a warning): 0 when every byte is accounted for once. */
  mismatches: number;
}

/** The layer whose framing a message's own bytes are. */
export function layerOf(m: Message): string {
  switch (m.kind) {
    case 'http-request':
    case 'http-response':
      return m.version === 'HTTP/2' ? 'http2' : 'http';
    case 'sse-event':
    case 'sse-comment':
    case 'sse-fields':
      return 'sse';
    case 'ws-frame':
    case 'ws-message':
      return 'websocket';
    case 'data':
      return 'tcp';
    case 'h2-control':
      return 'http2';
    default:
      return 'tls';
  }
}

function emptyDirection(): DirectionBytes {
  return { linkNet: 0, tcpHeaders: 0, tcpPayload: 0, delivered: 0, notDelivered: 0, lostInGaps: 0, layers: {}, unclaimed: 0 };
}

function layerBytes(layers: Record<string, LayerBytes>, name: string): LayerBytes {
  return (layers[name] ??= { framing: 0, payload: 0, lost: 0 });
}

/**
 * The claimed ranges of one direction of a connection, merged, with the stream's gaps: sorted
 * parallel arrays. Messages mostly claim the bytes right after the last claim, which extends
 * the last range in place; out-of-order claims (HTTP/2 streams) are a binary search.
 */
/** The ranges of a Coverage that has none yet: shared, never written (most connections carry one contiguous claim a direction, and a million connections would each allocate arrays). */
const NONE: number[] = [];

class Coverage {
  starts: number[] = NONE;
  ends: number[] = NONE;
  /** Bytes covered by ranges folded away (past LIMITS.accountingRanges) and where they end. */
  folded = 0;
  foldedEnd = 0;
  gaps: number[] = NONE;
  /** Claimed bytes that lay in gaps folded away. */
  foldedLost = 0;
  /** End of the delivered stream (the next byte the reassembler would deliver). */
  end = 0;
  delivered = 0;

  /** Adds [s, e); returns the bytes of it already covered (claimed twice). */
  add(s: number, e: number): number {
    if (e <= s) return 0;
    const n = this.starts.length;
    if (n === 0 || s >= this.ends[n - 1]) {
      if (n > 0 && s === this.ends[n - 1]) this.ends[n - 1] = e;
      else if (n === 0) {
        this.starts = [s];
        this.ends = [e];
      } else {
        this.starts.push(s);
        this.ends.push(e);
        if (n + 1 > LIMITS.accountingRanges) this.fold();
      }
      return 0;
    }
    if (s < this.foldedEnd) return 0; // below what was folded away: not checked (see fold)
    // First range that ends at or after s.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid] < s) lo = mid + 1;
      else hi = mid;
    }
    let overlap = 0;
    let ns = s;
    let ne = e;
    let j = lo;
    while (j < n && this.starts[j] <= e) {
      overlap += Math.max(0, Math.min(e, this.ends[j]) - Math.max(s, this.starts[j]));
      if (this.starts[j] < ns) ns = this.starts[j];
      if (this.ends[j] > ne) ne = this.ends[j];
      j++;
    }
    this.starts.splice(lo, j - lo, ns);
    this.ends.splice(lo, j - lo, ne);
    if (this.starts.length > LIMITS.accountingRanges) this.fold();
    return overlap;
  }

  /** Covered bytes of [s, e). */
  private coveredIn(s: number, e: number): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += Math.max(0, Math.min(e, this.ends[i]) - Math.max(s, this.starts[i]));
    return n;
  }

  /** Bytes of [s, e) that were lost in a gap (gaps come in stream order: a binary search). */
  lostIn(s: number, e: number): number {
    const g = this.gaps;
    let lo = 0;
    let hi = g.length >> 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (g[mid * 2 + 1] <= s) lo = mid + 1;
      else hi = mid;
    }
    let n = 0;
    for (let i = lo * 2; i < g.length && g[i] < e; i += 2) n += Math.min(e, g[i + 1]) - Math.max(s, g[i]);
    return n;
  }

  /** Claims past the end of the stream: bytes no packet ever carried or announced. */
  pastEnd(): number {
    const last = this.ends.length;
    return last > 0 && this.ends[last - 1] > this.end ? this.coveredIn(this.end, this.ends[last - 1]) : 0;
  }

  /** Delivered bytes the union covers: the union less what of it lay in gaps or past the end. */
  covered(): number {
    let n = this.folded;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i] - this.starts[i];
    for (let i = 0; i < this.gaps.length; i += 2) n -= this.coveredIn(this.gaps[i], this.gaps[i + 1]);
    return n - this.foldedLost - this.pastEnd();
  }

  /** Too many gaps: the older half is let go, with what was claimed in them so far. */
  foldGaps(): void {
    const k = (this.gaps.length >> 2) * 2;
    for (let i = 0; i < k; i += 2) this.foldedLost += this.coveredIn(this.gaps[i], this.gaps[i + 1]);
    this.gaps.splice(0, k);
  }

  /**
   * Too many separate ranges (bytes left unclaimed between many claims): the older half is
   * counted and let go. A later claim below them is counted, not checked for overlap.
   */
  private fold(): void {
    const k = this.starts.length >> 1;
    for (let i = 0; i < k; i++) this.folded += this.ends[i] - this.starts[i];
    this.foldedEnd = this.ends[k - 1];
    this.starts.splice(0, k);
    this.ends.splice(0, k);
  }
}

class ConnLedger {
  private readonly c0 = new Coverage();
  private readonly c1 = new Coverage();
  at(dir: Dir): Coverage {
    return dir === 0 ? this.c0 : this.c1;
  }
}

/**
 * Counts the bytes of every packet, delivery and message (see the module comment). Messages
 * of role 'none' (a WebSocket data frame, counted through its message) claim nothing.
 */
export class ByteLedger {
  private readonly dirs: [DirectionBytes, DirectionBytes] = [emptyDirection(), emptyDirection()];
  private readonly conns = new Map<number, ConnLedger>();
  private last: { id: number; l: ConnLedger } | null = null;
  mismatches = 0;

  constructor(private readonly onMismatch: (connection: number, dir: Dir, what: string) => void) {}

  private conn(id: number): ConnLedger {
    if (this.last?.id === id) return this.last.l;
    let l = this.conns.get(id);
    if (!l) {
      l = new ConnLedger();
      this.conns.set(id, l);
    }
    this.last = { id, l };
    return l;
  }

  segment(p: SegmentInfo): void {
    const d = this.dirs[p.dir];
    d.linkNet += p.linkNetBytes;
    d.tcpHeaders += p.tcpBytes;
    d.tcpPayload += p.appBytes;
  }

  delivered(connection: number, dir: Dir, offset: number, length: number): void {
    const c = this.conn(connection).at(dir);
    c.delivered += length;
    if (offset + length > c.end) c.end = offset + length;
  }

  gap(connection: number, dir: Dir, offset: number, length: number): void {
    const c = this.conn(connection).at(dir);
    const g = c.gaps;
    if (g.length > 0 && g[g.length - 1] === offset) g[g.length - 1] = offset + length;
    else if (g === NONE) c.gaps = [offset, offset + length];
    else {
      g.push(offset, offset + length);
      if (g.length > 2 * LIMITS.accountingRanges) c.foldGaps();
    }
    if (offset + length > c.end) c.end = offset + length;
    this.dirs[dir].lostInGaps += length;
  }

  /** Counts a message's bytes; returns how many of them were lost in a gap. */
  message(connection: number, m: Message): number {
    const w = m.wire;
    if (roleOf(m) === 'none') return 0;
    const dir = w.dir;
    const cover = this.conn(connection).at(dir);
    let bytes = 0;
    let twice = 0;
    let lost = 0;
    const gaps = cover.gaps.length > 0;
    const ext = w.extents;
    if (ext === undefined) {
      bytes = w.end - w.start;
      twice = cover.add(w.start, w.end);
      if (gaps) lost = cover.lostIn(w.start, w.end);
    } else {
      for (let i = 0; i < ext.length; i += 2) {
        bytes += ext[i + 1] - ext[i];
        twice += cover.add(ext[i], ext[i + 1]);
        if (gaps) lost += cover.lostIn(ext[i], ext[i + 1]);
      }
    }
    const layers = this.dirs[dir].layers;
    let lower = 0;
    if (w.below) for (const name in w.below) lower += w.below[name];
    const own = layerBytes(layers, layerOf(m));
    const framing = bytes - w.useful - lower;
    // Bytes a loss took from a message the layer still kept are taken from its payload first
    // (its head had to be seen for the layer to know the message at all), then from its own
    // framing, then from the framing of the layers under it.
    let rest = lost;
    const lostPayload = Math.min(rest, w.useful);
    rest -= lostPayload;
    const lostFraming = Math.min(rest, Math.max(0, framing));
    rest -= lostFraming;
    own.payload += w.useful - lostPayload;
    own.framing += framing - lostFraming;
    own.lost += lost;
    if (w.below) {
      for (const name in w.below) {
        const take = Math.min(rest, w.below[name]);
        rest -= take;
        layerBytes(layers, name).framing += w.below[name] - take;
      }
    }
    if (twice > 0) this.mismatch(connection, dir, `${twice} bytes of a ${m.kind} message were claimed by another message too`);
    if (framing < 0) this.mismatch(connection, dir, `a ${m.kind} message claims ${w.useful} bytes of payload and ${lower} of lower framing in ${bytes} bytes`);
    return lost;
  }

  /** The connection will not be seen again: what its messages left unclaimed is counted. */
  forget(connection: number): void {
    const l = this.conns.get(connection);
    if (!l) return;
    this.settle(connection, l);
    this.conns.delete(connection);
    if (this.last?.id === connection) this.last = null;
  }

  private settle(connection: number, l: ConnLedger): void {
    for (const dir of [0, 1] as const) {
      const c = l.at(dir);
      const d = this.dirs[dir];
      d.delivered += c.delivered;
      const pastEnd = c.pastEnd();
      if (pastEnd > 0) this.mismatch(connection, dir, `${pastEnd} bytes claimed by messages lie past the end of the stream`);
      const unclaimed = c.delivered - c.covered();
      if (unclaimed < 0) this.mismatch(connection, dir, `messages claim ${-unclaimed} bytes more than were delivered`);
      else d.unclaimed += unclaimed;
    }
  }

  private mismatch(connection: number, dir: Dir, what: string): void {
    this.mismatches++;
    this.onMismatch(connection, dir, what);
  }

  finish(): ByteAccounting {
    for (const [id, l] of this.conns) this.settle(id, l);
    this.conns.clear();
    this.last = null;
    for (const d of this.dirs) d.notDelivered = d.tcpPayload - d.delivered;
    return { client: this.dirs[0], server: this.dirs[1], mismatches: this.mismatches };
  }
}
