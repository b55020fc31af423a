import type { Connection, Dir, StreamChunk, StreamConsumer } from '../reassembly/types.js';
import { FrameMap } from './framemap.js';
import { StreamHost, type MessageSink, type Registry, type StreamBase } from './host.js';
import { HANDOFFS } from './registry.js';
import type { DissectOptions, DissectorSpec } from './types.js';

export type { MessageSink } from './host.js';

const NO_FRAMES: number[] = [];

/**
 * The root of a connection's layers: the TCP byte streams, with the frame map of each
 * direction (only the root knows frames; every layer above asks through its parent), and the
 * host that runs the first layer on them.
 */
export class ConnectionDissector implements StreamConsumer {
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
    const maps = this.maps;
    this.trace = options.trace;
    const base: StreamBase = options.trace
      ? {
          framesFor: (dir, start, end) => maps[dir].framesFor(start, end),
          timeAt: (dir, offset) => maps[dir].timeAt(offset),
          frameAt: (dir, offset) => maps[dir].frameAt(offset),
          release: (dir, offset) => maps[dir].release(offset),
          resolve: () => null,
        }
      : { framesFor: () => NO_FRAMES, timeAt: () => 0, frameAt: () => 0, release: () => {}, resolve: () => null };
    this.host = new StreamHost(conn, { specs, fallback, tables }, sink, options, base, '');
  }

  /** Starts the given layer on the connection, without probing (tests drive one layer directly). */
  start(spec: DissectorSpec, params: unknown): void {
    this.host.startSpec(spec, params);
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
