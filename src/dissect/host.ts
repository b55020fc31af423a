import type { Connection, Dir, StreamChunk } from '../reassembly/types.js';
import { framesOfExtents } from './framemap.js';
import { extentBytes, OffsetMap } from './offsetmap.js';
import { WireBuffer } from './wirebuffer.js';
import type { ChildStream, DissectContext, Dissector, DissectOptions, DissectorSpec, HandoffTable, Message } from './types.js';
import type { AnomalyCode } from '../anomalies.js';

/** Where dissected messages and anomalies go. */
export interface MessageSink {
  message(conn: Connection, m: Message): void;
  warning(frame: number, code: AnomalyCode, message: string): void;
  protocol(conn: Connection, protocol: string): void;
  /** A layer's facts about the connection (the TLS layer's version, suite, names). */
  info?(conn: Connection, key: string, value: unknown): void;
}

/** The layers a stream host can start: probed in order, reached by name, or through a hand-off table. */
export interface Registry {
  specs: readonly DissectorSpec[];
  fallback: DissectorSpec;
  /** Hand-offs as data (Wireshark's dissector tables): key -> spec name. */
  tables: Readonly<Record<HandoffTable, Readonly<Record<string, string>>>>;
}

/**
 * What a stream host needs of the stream under it: at the root the TCP frame maps, in a
 * child the parent's answers through the child's offset map.
 */
export interface StreamBase {
  framesFor(dir: Dir, start: number, end: number): number[];
  timeAt(dir: Dir, offset: number): number;
  frameAt(dir: Dir, offset: number): number;
  release(dir: Dir, offset: number): void;
  /**
   * The root TCP ranges behind bytes [start, end) of this stream, [s0, e0, ...], or null at
   * the root (the range itself). Adds to `below` the framing each layer under this one wraps
   * around them.
   */
  resolve(dir: Dir, start: number, end: number, below: Record<string, number>): number[] | null;
}

/** Bytes of a direction the probes may see: the HTTP/2 client preface is 24 (RFC 9113 §3.4). */
const PROBE_BYTES = 24;
/** Stream bytes kept per direction for display while their message is incomplete. */
const WIRE_CAP = 8 * 1024 * 1024;
/** The probe buffer of a direction that has carried nothing yet: shared, never written. */
const NO_BYTES = new Uint8Array(0);

/**
 * Runs one stream (the TCP connection, or a child stream a layer opened: TLS plaintext, an
 * HTTP/2 stream) through one layer at a time: picks it by the first bytes from the registry
 * (or starts the one named), lets it hand the stream over (an Upgrade), gives it a context
 * whose offsets are this stream's own, and shields the analysis from its bugs (one becomes a
 * warning, and the stream is left undissected from there).
 */
export class StreamHost implements DissectContext {
  private current: Dissector | null = null;
  private currentName = '';
  private held: Array<{ dir: Dir; chunk: StreamChunk }> = [];
  private heads: [Uint8Array, Uint8Array] = [NO_BYTES, NO_BYTES];
  readonly ctx: DissectContext;
  private failed = false;
  private wire: [WireBuffer, WireBuffer] | null = null;
  private lastFrame: [number, number] = [0, 0];
  /** Open child streams, while there are any: what each still needs of this stream bounds what is let go. */
  private children: Child[] | null = null;
  /** Where the layer let go while children were open, per direction (-1: it has not). */
  private layerHold: [number, number] = [-1, -1];

  constructor(
    readonly conn: Connection,
    private readonly registry: Registry,
    private readonly sink: MessageSink,
    readonly options: DissectOptions,
    private readonly base: StreamBase,
    /** The name of the layer this stream is inside of, for messages' accounting; '' at the root. */
    private readonly label: string,
    /**
     * For a message body (a child whose bytes lie in its parent as they are): the child
     * stream, through whose parent its messages are emitted in the parent's offsets and bytes.
     */
    private readonly body: Child | null = null,
  ) {
    // A body's bytes are kept by its parent already, with the framing around them.
    if (options.keepBytes && body === null) this.wire = [new WireBuffer(WIRE_CAP), new WireBuffer(WIRE_CAP)];
    // The host is its layer's context itself: one object per stream, not one closure per
    // method (a capture of 100,000 short connections makes 100,000 of them).
    this.ctx = this;
  }

  // DissectContext, as the layer sees it: offsets of this stream, answered through the base.

  emit(m: Message): void {
    const body = this.body;
    if (body !== null) {
      // A body's message, as the parent stream carries it: its range there, framing (chunk
      // lines, DATA frame headers) included and said below; shown with the parent's bytes.
      const w = m.wire;
      const below: Record<string, number> = w.below ?? {};
      const local = w.extents;
      // One range (every SSE message): its parent ranges as they come, no list built around them.
      let out = local === undefined ? body.down(w.dir, w.start, w.end, below) : [];
      if (local !== undefined) {
        for (let i = 0; i < local.length; i += 2) {
          const ext = body.down(w.dir, local[i], local[i + 1], below);
          for (let k = 0; k < ext.length; k += 2) {
            if (out.length > 0 && out[out.length - 1] === ext[k]) out[out.length - 1] = ext[k + 1];
            else out.push(ext[k], ext[k + 1]);
          }
        }
      }
      if (out.length === 0) {
        // Nothing mapped (cannot happen for bytes a body carried): the point where it stands.
        const p = body.map(w.dir).toParent(w.start);
        out.push(p, p);
      }
      w.start = out[0];
      w.end = out[out.length - 1];
      // Extents only when the message is not one range of the parent (Wire.extents).
      if (out.length > 2) w.extents = out;
      else if (local !== undefined) w.extents = undefined;
      w.below = below;
      body.parent.emit(m);
      return;
    }
    if (this.wire && !m.wire.raw) m.wire.raw = this.wire[m.wire.dir].slice(m.wire.start, m.wire.end, this.options.maxKeptBytes);
    if (this.label !== '') {
      // Through the chain to root TCP ranges: the message's own extents, or its one range.
      const below: Record<string, number> = m.wire.below ?? {};
      const local = m.wire.extents ?? [m.wire.start, m.wire.end];
      const out: number[] = [];
      for (let i = 0; i < local.length; i += 2) {
        const r = this.base.resolve(m.wire.dir, local[i], local[i + 1], below);
        if (r === null) out.push(local[i], local[i + 1]);
        else for (const x of r) out.push(x);
      }
      m.wire.extents = out;
      m.wire.below = below;
    }
    this.sink.message(this.conn, m);
  }

  warn(frame: number, code: AnomalyCode, message: string): void {
    this.sink.warning(frame, code, message);
  }

  framesFor(dir: Dir, start: number, end: number): number[] {
    return this.base.framesFor(dir, start, end);
  }

  timeAt(dir: Dir, offset: number): number {
    return this.base.timeAt(dir, offset);
  }

  frameAt(dir: Dir, offset: number): number {
    // Without frame maps, the frame being processed is the one a warning concerns.
    return this.options.trace ? this.base.frameAt(dir, offset) : this.lastFrame[dir];
  }

  release(dir: Dir, offset: number): void {
    if (this.children === null) return this.releaseBase(dir, offset);
    this.layerHold[dir] = offset;
    this.releaseHeld(dir);
  }

  /**
   * What may be let go while children are open: no byte an open child still needs (TLS's
   * plaintext, an event stream's body), and, once the layer has let go of anything since they
   * opened, none it still needs itself (HTTP/2: other streams' frames in flight). A layer that
   * leaves the releasing to its child (TLS) holds nothing.
   */
  private releaseHeld(dir: Dir): void {
    const children = this.children!;
    let p = this.layerHold[dir] < 0 ? Infinity : this.layerHold[dir];
    for (let i = 0; i < children.length; i++) {
      const h = children[i].holdOf(dir);
      if (h < p) p = h;
    }
    if (p !== Infinity) this.releaseBase(dir, p);
  }

  private releaseBase(dir: Dir, offset: number): void {
    this.base.release(dir, offset);
    this.wire?.[dir].release(offset);
  }

  /** A child's hold moved (it let go of bytes, or ended): what no one needs now is let go. */
  childReleased(dir: Dir): void {
    const children = this.children!;
    // The usual case, one body or one plaintext and a layer that left the releasing to it.
    if (children.length === 1 && this.layerHold[dir] < 0) {
      const h = children[0].holdOf(dir);
      if (h !== Infinity) this.releaseBase(dir, h);
      return;
    }
    this.releaseHeld(dir);
  }

  /** A child ended in every direction it carried: it is no longer asked. */
  childEnded(child: Child, dir: Dir): void {
    const children = this.children;
    if (children === null) return;
    if (child.done()) {
      const i = children.indexOf(child);
      if (i >= 0) children.splice(i, 1);
    }
    if (children.length > 0) return this.releaseHeld(dir);
    // The last one closed: the layer's own releases go straight down again.
    this.children = null;
    for (const d of [0, 1] as const) {
      const hold = this.layerHold[d];
      this.layerHold[d] = -1;
      if (hold >= 0) this.releaseBase(d, hold);
    }
  }

  handoffBy(table: HandoffTable, key: string, params: unknown): Dissector | null {
    const name = this.registry.tables[table][key];
    return name === undefined ? null : this.handoff(name, params);
  }

  lookup(table: HandoffTable, key: string): string | undefined {
    return this.registry.tables[table][key];
  }

  setProtocol(protocol: string): void {
    this.sink.protocol(this.conn, protocol);
  }

  info(key: string, value: unknown): void {
    this.sink.info?.(this.conn, key, value);
  }

  /** Starts the layer named, without probing (a child stream whose protocol its parent knows). */
  startNamed(name: string, params: unknown): void {
    this.guard(0, () => this.handoff(name, params));
  }

  /** Starts the given layer, without probing (tests drive one layer directly). */
  startSpec(spec: DissectorSpec, params: unknown): void {
    this.start(spec, params);
  }

  data(dir: Dir, chunk: StreamChunk): void {
    this.lastFrame[dir] = chunk.frame;
    this.wire?.[dir].add(chunk.offset, chunk.bytes);
    if (this.current) {
      // The guard inlined: this runs for every chunk, and a closure per chunk shows in profiles.
      try {
        this.current.data(dir, chunk);
      } catch (e) {
        this.failedWith(chunk.frame, e);
      }
      return;
    }
    if (this.failed) return;
    this.held.push({ dir, chunk: { ...chunk, bytes: chunk.bytes.slice() } });
    const head = this.heads[dir];
    if (head.length < PROBE_BYTES) {
      const joined = new Uint8Array(Math.min(PROBE_BYTES, head.length + chunk.bytes.length));
      joined.set(head.subarray(0, joined.length));
      joined.set(chunk.bytes.subarray(0, joined.length - head.length), head.length);
      this.heads[dir] = joined;
    }
    this.decide(dir, false);
  }

  gap(dir: Dir, offset: number, length: number, frame: number): void {
    // After a failure the stream stays undissected: a gap must not start a fresh dissector
    // in the middle of the stream.
    if (this.failed) return;
    if (!this.current) this.decide(dir, true);
    if (this.current) this.guard(frame, () => this.current!.gap(dir, offset, length, frame));
  }

  end(dir: Dir, frame: number): void {
    if (this.failed) return;
    if (!this.current && this.held.length > 0) this.decide(dir, true);
    if (this.current) this.guard(frame, () => this.current!.end(dir, frame));
  }

  private decide(dir: Dir, force: boolean): void {
    let chosen: DissectorSpec | null = null;
    let undecided = false;
    for (const spec of this.registry.specs) {
      if (!spec.probe) continue;
      const r = spec.probe(dir, this.heads[dir]);
      if (r === true) {
        chosen = spec;
        break;
      }
      if (r === undefined) undecided = true;
    }
    if (!chosen && undecided && !force && this.heads[dir].length < PROBE_BYTES) return;
    chosen ??= this.registry.fallback;
    this.start(chosen, undefined);
    const held = this.held;
    this.held = [];
    for (const { dir: d, chunk } of held) {
      if (!this.current) break;
      this.guard(chunk.frame, () => this.current!.data(d, chunk));
    }
  }

  private start(spec: DissectorSpec, params: unknown): Dissector {
    this.currentName = spec.name;
    if (spec.keepsOwnRaw) this.wire = null;
    this.sink.protocol(this.conn, spec.protocol);
    this.current = spec.create(this.ctx, params);
    return this.current;
  }

  handoff(name: string, params: unknown): Dissector {
    const spec = name === this.registry.fallback.name ? this.registry.fallback : this.registry.specs.find((s) => s.name === name);
    if (!spec) throw new Error(`no dissector named ${name}`);
    return this.start(spec, params);
  }

  /** A child stream of this one, with its own offsets mapped onto this stream's (see OffsetMap). */
  openChild(layer: string, name?: string, params?: unknown): ChildStream {
    const child = new Child(this, this.base, layer);
    (this.children ??= []).push(child);
    // A layer the content-type table names reads a message body: its bytes are this stream's.
    const body = name !== undefined && isBodyConsumer(this.registry, name);
    const host = new StreamHost(this.conn, this.registry, this.sink, this.options, child, layer, body ? child : null);
    child.host = host;
    if (name !== undefined) host.startNamed(name, params);
    return child;
  }

  private guard(frame: number, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.failedWith(frame, e);
    }
  }

  private failedWith(frame: number, e: unknown): void {
    // A bug or an unforeseen input in one dissector must not stop the analysis.
    this.sink.warning(frame, 'dissector-failed', `${this.currentName} dissector failed (${(e as Error).message}); the rest of connection ${this.conn.client} -> ${this.conn.server} is not dissected`);
    this.current = null;
    this.failed = true;
  }
}

/** Whether the content-type table names the layer: a consumer of message bodies. */
function isBodyConsumer(registry: Registry, name: string): boolean {
  const table = registry.tables['content-type'];
  for (const key in table) if (table[key] === name) return true;
  return false;
}

/**
 * A child stream: what its parent layer feeds (ChildStream) and what the child's host needs
 * of the parent (StreamBase), through the child's offset maps. Flat fields, not pairs of
 * arrays: a body fed chunk by chunk over thousands of connections at once touches this on
 * every chunk, and every object on the way is a cache miss.
 */
class Child implements ChildStream, StreamBase {
  private readonly map0 = new OffsetMap();
  private readonly map1 = new OffsetMap();
  /** The first parent offset the child may still ask about, per direction (Infinity: none). */
  private hold0 = Infinity;
  private hold1 = Infinity;
  /** Directions fed (bit 0, 1) and ended (bit 2, 3). */
  private state = 0;
  /** The end of the unit of the last bytes mapped, when they were bytes (-1 after an empty unit or a gap). */
  private last0 = -1;
  private last1 = -1;
  /** One chunk record per direction, filled anew for each piece: no layer keeps a chunk past its call (the host copies those it holds). */
  private readonly chunk0: StreamChunk = { bytes: NO_BYTES, offset: 0, frame: 0, time: 0 };
  private readonly chunk1: StreamChunk = { bytes: NO_BYTES, offset: 0, frame: 0, time: 0 };
  /** The child's host, set as soon as it is made. */
  host: StreamHost = null as never;

  constructor(
    readonly parent: StreamHost,
    /** The parent's own base, for ranges resolved on towards the root. */
    private readonly parentBase: StreamBase,
    /** The parent's layer, whose framing the child's bytes are wrapped in. */
    private readonly layer: string,
  ) {}

  map(dir: Dir): OffsetMap {
    return dir === 0 ? this.map0 : this.map1;
  }

  holdOf(dir: Dir): number {
    return dir === 0 ? this.hold0 : this.hold1;
  }

  private setHold(dir: Dir, offset: number): void {
    if (dir === 0) this.hold0 = offset;
    else this.hold1 = offset;
  }

  /** Ended in every direction it was fed. */
  done(): boolean {
    const fed = this.state & 3;
    return ((this.state >> 2) & fed) === fed;
  }

  // ChildStream, as the parent layer feeds it.

  data(dir: Dir, bytes: Uint8Array, parentStart: number, unitStart: number, unitEnd: number, frame: number, time: number): void {
    const map = dir === 0 ? this.map0 : this.map1;
    const offset = map.length;
    map.add(bytes.length, parentStart, unitStart, unitEnd);
    if (dir === 0) this.last0 = bytes.length > 0 ? unitEnd : -1;
    else this.last1 = bytes.length > 0 ? unitEnd : -1;
    // Until it lets go of any, the child needs its bytes from its first unit on.
    if ((this.state & (1 << dir)) === 0) {
      this.state |= 1 << dir;
      if ((this.state & (4 << dir)) === 0) this.setHold(dir, unitStart);
    }
    if (bytes.length === 0) return;
    const c = dir === 0 ? this.chunk0 : this.chunk1;
    c.bytes = bytes;
    c.offset = offset;
    c.frame = frame;
    c.time = time;
    this.host.data(dir, c);
  }

  gap(dir: Dir, length: number, frame: number): void {
    // Lost child bytes have no place in the parent: they map to the point where the parent stands.
    const map = this.map(dir);
    const offset = map.length;
    const p = offset === 0 ? 0 : map.toParent(offset);
    map.add(length, p, p, p);
    if (dir === 0) this.last0 = -1;
    else this.last1 = -1;
    this.host.gap(dir, offset, length, frame);
  }

  end(dir: Dir, frame: number): void {
    this.host.end(dir, frame);
    this.state |= 4 << dir;
    this.setHold(dir, Infinity);
    this.parent.childEnded(this, dir);
  }

  // StreamBase, as the child's host asks it.

  framesFor(dir: Dir, start: number, end: number): number[] {
    const ext = this.map(dir).extents(start, end);
    if (ext.length === 2) return this.parent.framesFor(dir, ext[0], ext[1]);
    return framesOfExtents((s, e) => this.parent.framesFor(dir, s, e), ext);
  }

  timeAt(dir: Dir, offset: number): number {
    return this.parent.timeAt(dir, this.map(dir).toParent(offset));
  }

  frameAt(dir: Dir, offset: number): number {
    return this.parent.frameAt(dir, this.map(dir).toParent(offset));
  }

  release(dir: Dir, offset: number): void {
    const map = this.map(dir);
    // Most often all it was fed is done with (an event ended with its chunk): the last unit's end, no search.
    const last = dir === 0 ? this.last0 : this.last1;
    this.setHold(dir, offset === map.length && last >= 0 ? last : map.toParent(offset));
    map.release(offset);
    this.parent.childReleased(dir);
  }

  /** The parent ranges behind bytes [start, end); adds to `below` the framing around them. */
  down(dir: Dir, start: number, end: number, below: Record<string, number>): number[] {
    const ext = this.map(dir).extents(start, end);
    below[this.layer] = (below[this.layer] ?? 0) + extentBytes(ext) - (end - start);
    return ext;
  }

  resolve(dir: Dir, start: number, end: number, below: Record<string, number>): number[] {
    const ext = this.down(dir, start, end, below);
    const out: number[] = [];
    for (let i = 0; i < ext.length; i += 2) {
      const r = this.parentBase.resolve(dir, ext[i], ext[i + 1], below);
      if (r === null) out.push(ext[i], ext[i + 1]);
      else for (const x of r) out.push(x);
    }
    return out;
  }
}
