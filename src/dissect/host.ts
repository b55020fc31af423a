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

  constructor(
    readonly conn: Connection,
    private readonly registry: Registry,
    private readonly sink: MessageSink,
    readonly options: DissectOptions,
    private readonly base: StreamBase,
    /** The name of the layer this stream is inside of, for messages' accounting; '' at the root. */
    private readonly label: string,
  ) {
    if (options.keepBytes) this.wire = [new WireBuffer(WIRE_CAP), new WireBuffer(WIRE_CAP)];
    // The host is its layer's context itself: one object per stream, not one closure per
    // method (a capture of 100,000 short connections makes 100,000 of them).
    this.ctx = this;
  }

  // DissectContext, as the layer sees it: offsets of this stream, answered through the base.

  emit(m: Message): void {
    if (this.wire && !m.wire.raw) m.wire.raw = this.wire[m.wire.dir].slice(m.wire.start, m.wire.end, this.options.maxKeptBytes);
    if (this.label !== '') {
      // Through the chain to root TCP ranges: the message's own extents, or its one range.
      const below: Record<string, number> = {};
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
    this.base.release(dir, offset);
    this.wire?.[dir].release(offset);
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
    const maps: [OffsetMap, OffsetMap] = [new OffsetMap(), new OffsetMap()];
    const parent = this.base;
    const ctx = this.ctx;
    const childBase: StreamBase = {
      framesFor: (dir, start, end) => framesOfExtents((s, e) => parent.framesFor(dir, s, e), maps[dir].extents(start, end)),
      timeAt: (dir, offset) => parent.timeAt(dir, maps[dir].toParent(offset)),
      frameAt: (dir, offset) => ctx.frameAt(dir, maps[dir].toParent(offset)),
      release(dir, offset) {
        const p = maps[dir].toParent(offset);
        maps[dir].release(offset);
        ctx.release(dir, p);
      },
      resolve(dir, start, end, below) {
        const ext = maps[dir].extents(start, end);
        below[layer] = (below[layer] ?? 0) + extentBytes(ext) - (end - start);
        const out: number[] = [];
        for (let i = 0; i < ext.length; i += 2) {
          const r = parent.resolve(dir, ext[i], ext[i + 1], below);
          if (r === null) out.push(ext[i], ext[i + 1]);
          else for (const x of r) out.push(x);
        }
        return out;
      },
    };
    const host = new StreamHost(this.conn, this.registry, this.sink, this.options, childBase, layer);
    if (name !== undefined) host.startNamed(name, params);
    return {
      data(dir, bytes, parentStart, unitStart, unitEnd, frame, time) {
        const offset = maps[dir].length;
        maps[dir].add(bytes.length, parentStart, unitStart, unitEnd);
        if (bytes.length > 0) host.data(dir, { bytes, offset, frame, time });
      },
      gap(dir, length, frame) {
        // Lost child bytes have no place in the parent: they map to the point where the parent stands.
        const offset = maps[dir].length;
        const p = offset === 0 ? 0 : maps[dir].toParent(offset);
        maps[dir].add(length, p, p, p);
        host.gap(dir, offset, length, frame);
      },
      end: (dir, frame) => host.end(dir, frame),
    };
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
