import type { Connection, Dir, StreamChunk, StreamConsumer } from '../reassembly/types.js';
import { FrameMap } from './framemap.js';
import { WireBuffer } from './wirebuffer.js';
import type { DissectContext, Dissector, DissectOptions, DissectorSpec, Message } from './types.js';

/** Where dissected messages and anomalies go. */
export interface MessageSink {
  message(conn: Connection, m: Message): void;
  warning(frame: number, message: string): void;
  protocol(conn: Connection, protocol: string): void;
}

const PROBE_BYTES = 16;
const NO_FRAMES: number[] = [];
/** Stream bytes kept per direction for display while their message is incomplete. */
const WIRE_CAP = 8 * 1024 * 1024;

/**
 * The stream consumer for one connection: keeps the frame map of each direction, picks a
 * dissector from the registry by the first bytes, and shields the analysis from dissector
 * bugs (one becomes a warning, and the connection is left undissected from there).
 */
/** The probe buffer of a direction that has carried nothing yet: shared, never written. */
const NO_BYTES = new Uint8Array(0);

export class ConnectionDissector implements StreamConsumer {
  private maps: [FrameMap, FrameMap] = [new FrameMap(), new FrameMap()];
  private current: Dissector | null = null;
  private currentName = '';
  private held: Array<{ dir: Dir; chunk: StreamChunk }> = [];
  private heads: [Uint8Array, Uint8Array] = [NO_BYTES, NO_BYTES];
  private readonly ctx: DissectContext;
  private failed = false;
  private wire: [WireBuffer, WireBuffer] | null = null;
  private readonly trace: boolean;
  private lastFrame: [number, number] = [0, 0];

  constructor(
    readonly conn: Connection,
    private readonly specs: readonly DissectorSpec[],
    private readonly fallback: DissectorSpec,
    private readonly sink: MessageSink,
    options: DissectOptions,
  ) {
    const self = this;
    this.trace = options.trace;
    if (options.keepBytes) this.wire = [new WireBuffer(WIRE_CAP), new WireBuffer(WIRE_CAP)];
    this.ctx = {
      conn,
      options,
      emit: (m) => {
        if (self.wire && !m.wire.raw) m.wire.raw = self.wire[m.wire.dir].slice(m.wire.start, m.wire.end, options.maxKeptBytes);
        sink.message(conn, m);
      },
      warn: (frame, message) => sink.warning(frame, message),
      framesFor: options.trace ? (dir, start, end) => self.maps[dir].framesFor(start, end) : () => NO_FRAMES,
      timeAt: options.trace ? (dir, offset) => self.maps[dir].timeAt(offset) : () => 0,
      // Without frame maps, the frame being processed is the one a warning concerns.
      frameAt: options.trace ? (dir, offset) => self.maps[dir].frameAt(offset) : (dir) => self.lastFrame[dir],
      release: (dir, offset) => {
        self.maps[dir].release(offset);
        self.wire?.[dir].release(offset);
      },
      handoff: (name, params) => self.handoff(name, params),
      setProtocol: (p) => sink.protocol(conn, p),
    };
  }

  data(dir: Dir, chunk: StreamChunk): void {
    this.lastFrame[dir] = chunk.frame;
    if (this.trace) this.maps[dir].add(chunk.offset, chunk.frame, chunk.time);
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
    if (this.trace) this.maps[dir].add(offset, -1, this.maps[dir].timeAt(offset));
    // After a failure the connection stays undissected: a gap must not start a fresh
    // dissector in the middle of the stream.
    if (this.failed) return;
    if (!this.current) this.decide(dir, true);
    if (this.current) this.guard(frame, () => this.current!.gap(dir, offset, length, frame));
  }

  end(dir: Dir, _reason: 'fin' | 'rst' | 'eof', frame: number): void {
    if (this.failed) return;
    if (!this.current && this.held.length > 0) this.decide(dir, true);
    if (this.current) this.guard(frame, () => this.current!.end(dir, frame));
  }

  private decide(dir: Dir, force: boolean): void {
    let chosen: DissectorSpec | null = null;
    let undecided = false;
    for (const spec of this.specs) {
      if (!spec.probe) continue;
      const r = spec.probe(dir, this.heads[dir]);
      if (r === true) {
        chosen = spec;
        break;
      }
      if (r === undefined) undecided = true;
    }
    if (!chosen && undecided && !force && this.heads[dir].length < PROBE_BYTES) return;
    chosen ??= this.fallback;
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

  private handoff(name: string, params: unknown): Dissector {
    const spec = this.specs.find((s) => s.name === name);
    if (!spec) throw new Error(`no dissector named ${name}`);
    return this.start(spec, params);
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
    this.sink.warning(frame, `${this.currentName} dissector failed (${(e as Error).message}); the rest of connection ${this.conn.client} -> ${this.conn.server} is not dissected`);
    this.current = null;
    this.failed = true;
  }
}
