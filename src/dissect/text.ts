import type { Dir, StreamChunk } from '../reassembly/types.js';
import { ByteKeeper, textOrHex } from './bytes.js';
import type { DataMessage, DissectContext, Dissector, DissectorSpec } from './types.js';

/** Silence longer than this ends a burst even if the same side speaks again. */
const BURST_IDLE_SECONDS = 0.5;

interface Burst {
  dir: Dir;
  start: number;
  end: number;
  lastTime: number;
  keeper: ByteKeeper;
}

/**
 * Plain TCP: no protocol framing, so a message is a burst, the bytes one side sends before
 * the other side answers (or before it falls silent for a while). A greeting the server
 * sends before the client says anything is set-up; a client burst is a request; a server
 * burst answers it or, when nothing is waiting for an answer, is a push.
 */
class TextDissector implements Dissector {
  private burst: Burst | null = null;
  private clientSpoke = false;
  private awaitingAnswer = false;

  constructor(private readonly ctx: DissectContext) {}

  data(dir: Dir, c: StreamChunk): void {
    const b = this.burst;
    if (b && (b.dir !== dir || c.offset !== b.end || c.time - b.lastTime > BURST_IDLE_SECONDS)) this.flush();
    if (!this.burst) {
      const cap = this.ctx.options.keepBytes ? this.ctx.options.maxKeptBytes : 0;
      this.burst = { dir, start: c.offset, end: c.offset, lastTime: c.time, keeper: new ByteKeeper(cap) };
    }
    const cur = this.burst!;
    cur.keeper.add(c.bytes);
    cur.end = c.offset + c.bytes.length;
    cur.lastTime = c.time;
  }

  gap(_dir: Dir, _offset: number, _length: number, _frame: number): void {
    this.flush();
  }

  end(_dir: Dir, _frame: number): void {
    this.flush();
  }

  private flush(): void {
    const b = this.burst;
    if (!b) return;
    this.burst = null;
    const ctx = this.ctx;
    let role: DataMessage['wire']['role'];
    if (b.dir === 0) {
      role = 'request';
      this.clientSpoke = true;
      this.awaitingAnswer = true;
    } else if (!this.clientSpoke) role = 'setup';
    else if (this.awaitingAnswer) {
      role = 'answer';
      this.awaitingAnswer = false;
    } else role = 'push';
    const kept = b.keeper.bytes();
    const m: DataMessage = {
      kind: 'data',
      from: b.dir === 0 ? 'client' : 'server',
      frames: ctx.framesFor(b.dir, b.start, b.end),
      time: ctx.timeAt(b.dir, b.start),
      length: b.end - b.start,
      ...textOrHex(kept),
      wire: { dir: b.dir, start: b.start, end: b.end, role, useful: b.end - b.start },
    };
    if (ctx.options.keepBytes) m.wire.raw = kept;
    ctx.emit(m);
    ctx.release(b.dir, b.end);
  }
}

export const textSpec: DissectorSpec = {
  name: 'tcp',
  protocol: 'tcp',
  create: (ctx) => new TextDissector(ctx),
};
