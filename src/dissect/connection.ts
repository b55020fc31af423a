import type { Connection, Dir, StreamChunk, StreamConsumer } from '../reassembly/types.js';
import { FrameMap } from './framemap.js';
import { StreamHost, type MessageSink, type Registry, type StreamBase } from './host.js';
import { HANDOFFS } from './registry.js';
import type { DissectOptions, DissectorSpec } from './types.js';

export type { MessageSink } from './host.js';

const NO_FRAMES: number[] = [];
/** --stats and the like: no frames, no times, nothing to release. */
const UNTRACED: StreamBase = { framesFor: () => NO_FRAMES, timeAt: () => 0, frameAt: () => 0, release: () => {}, resolve: () => null };

/**
 * The root of a connection's layers: the TCP byte streams, with the frame map of each
 * direction (only the root knows frames; every layer above asks through its parent), and the
 * host that runs the first layer on them.
 */
export class ConnectionDissector implements StreamConsumer, StreamBase {
  private maps: [FrameMap, FrameMap] = [new FrameMap(), new FrameMap()];
  private readonly host: StreamHost;
  private readonly trace: boolean;

  constructor(
    readonly conn: Connection,
    specs: readonly DissectorSpec[],
    fallback: DissectorSpec,
    sink: MessageSink,
    options: DissectOptions,
    tables: Registry['tables'] = HANDOFFS,
  ) {
    this.trace = options.trace;
    // The connection is its host's base itself (or, without frame maps, one base shared by all).
    const base: StreamBase = options.trace ? this : UNTRACED;
    this.host = new StreamHost(conn, { specs, fallback, tables }, sink, options, base, '');
  }

  /** Starts the given layer on the connection, without probing (tests drive one layer directly). */
  start(spec: DissectorSpec, params: unknown): void {
    this.host.startSpec(spec, params);
  }

  framesFor(dir: Dir, start: number, end: number): number[] {
    return this.maps[dir].framesFor(start, end);
  }

  timeAt(dir: Dir, offset: number): number {
    return this.maps[dir].timeAt(offset);
  }

  frameAt(dir: Dir, offset: number): number {
    return this.maps[dir].frameAt(offset);
  }

  release(dir: Dir, offset: number): void {
    this.maps[dir].release(offset);
  }

  /** The root's ranges are TCP ranges already. */
  resolve(): null {
    return null;
  }

  data(dir: Dir, chunk: StreamChunk): void {
    if (this.trace) this.maps[dir].add(chunk.offset, chunk.frame, chunk.time);
    this.host.data(dir, chunk);
  }

  gap(dir: Dir, offset: number, length: number, frame: number): void {
    if (this.trace) this.maps[dir].add(offset, -1, this.maps[dir].timeAt(offset));
    this.host.gap(dir, offset, length, frame);
  }

  end(dir: Dir, _reason: 'fin' | 'rst' | 'eof', frame: number): void {
    this.host.end(dir, frame);
  }
}
