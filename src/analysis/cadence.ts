import type { Message } from '../dissect/types.js';
import { LIMITS } from '../limits.js';
import type { Group } from './updates.js';

/**
 * Cadence of pushed streams: for each connection's server-to-client stream of pushes (an SSE
 * event stream, or the WebSocket messages the server sends unasked), the time from the request
 * to the first event, the intervals between events (median, p95, p99, max), events per second,
 * and what the events cost on the wire.
 *
 * Times are those of the packet whose bytes completed the event (the chunk the reassembler
 * delivered when the dissector emitted it: the event's last byte, or over TLS its record's
 * last), so they are the same whether or not messages are traced (--stats and the summary
 * do not trace them), and never go backwards: an event completed behind a hole filled later
 * takes the time of the one before it, as a reader of the stream gets both at once.
 *
 * Percentiles are nearest-rank: the p-th percentile of n intervals is the ceil(p/100 x n)-th
 * smallest (the median is the ceil(n/2)-th), a value that was measured, never an average.
 */

/** Seconds, rounded to the nanosecond so that differences of packet times print without float noise. */
function ns(t: number): number {
  return Math.round(t * 1e9) / 1e9;
}

/**
 * Log buckets of the histogram: 64 per doubling, from 1 ns up (2^50 ns is 13 days; longer
 * intervals share the last bucket), plus one for 0 (events that came in one packet).
 */
const PER_DOUBLING = 64;
const DOUBLINGS = 50;
const BUCKETS = PER_DOUBLING * DOUBLINGS + 1;

/** Exact intervals held at once over every stream of a capture (each stream holds at most LIMITS.cadenceExactIntervals). */
export class CadenceBudget {
  held = 0;
  constructor(readonly limit: number = LIMITS.cadenceIntervalsHeld) {}
}

/**
 * Intervals (or any non-negative durations) kept for their percentiles, in bounded memory:
 * exact up to LIMITS.cadenceExactIntervals values (a Float64Array grown by doubling, so a
 * short stream costs little), and past that, or past the capture's CadenceBudget, a histogram
 * of log buckets, 64 per doubling (each 1.1% wide). A histogram rather than a reservoir
 * sample: it is deterministic, its memory is fixed (3,201 counters), and every percentile,
 * the tail ones above all, stays within 0.55% of the exact value (a reservoir of a few
 * thousand samples would put p99 on a few dozen of them, and differ from run to run with the
 * seed). The maximum is always exact. Once the histogram is in use, `exact` is false.
 */
export class IntervalStore {
  private values: Float64Array | null = null;
  private n = 0;
  private histogram: Uint32Array | null = null;
  max = 0;
  min = Infinity;
  count = 0;

  constructor(private readonly budget: CadenceBudget | null = null) {}

  get exact(): boolean {
    return this.histogram === null;
  }

  add(x: number): void {
    if (x < 0) x = 0;
    this.count++;
    if (x > this.max) this.max = x;
    if (x < this.min) this.min = x;
    if (this.histogram !== null) {
      this.histogram[bucketOf(x)]++;
      return;
    }
    if (this.values === null || this.n === this.values.length) {
      const size = this.values === null ? 16 : this.values.length * 2;
      const grow = size - (this.values?.length ?? 0);
      if (size > LIMITS.cadenceExactIntervals || (this.budget !== null && this.budget.held + grow > this.budget.limit)) {
        this.toHistogram();
        this.histogram![bucketOf(x)]++;
        return;
      }
      const v = new Float64Array(size);
      if (this.values !== null) v.set(this.values);
      this.values = v;
      if (this.budget !== null) this.budget.held += grow;
    }
    this.values[this.n++] = x;
  }

  private toHistogram(): void {
    const h = new Uint32Array(BUCKETS);
    for (let i = 0; i < this.n; i++) h[bucketOf(this.values![i])]++;
    this.histogram = h;
    this.release();
  }

  /** Lets go of the exact values (their share of the budget goes back). */
  private release(): void {
    if (this.values !== null && this.budget !== null) this.budget.held -= this.values.length;
    this.values = null;
    this.n = 0;
  }

  /** Nearest-rank percentiles, p in (0, 100]; null when empty. */
  percentiles(ps: number[]): Array<number | null> {
    if (this.count === 0) return ps.map(() => null);
    const ranks = ps.map((p) => Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count))));
    if (this.histogram === null) {
      const sorted = this.values!.slice(0, this.n).sort();
      return ranks.map((r) => sorted[r - 1]);
    }
    const h = this.histogram;
    return ranks.map((r) => {
      let seen = 0;
      for (let i = 0; i < h.length; i++) {
        seen += h[i];
        if (seen >= r) return Math.min(this.max, Math.max(this.min, ns(bucketValue(i))));
      }
      return this.max;
    });
  }

  /** Done with: its memory goes (percentiles are no longer asked for). */
  dispose(): void {
    this.release();
    this.histogram = null;
  }
}

function bucketOf(x: number): number {
  if (x < 1e-9) return 0;
  const i = 1 + Math.floor(Math.log2(x / 1e-9) * PER_DOUBLING);
  return i >= BUCKETS ? BUCKETS - 1 : i;
}

/** The middle of bucket i (geometrically): within half a bucket, 0.55%, of every value in it. */
function bucketValue(i: number): number {
  if (i === 0) return 0;
  return 1e-9 * 2 ** ((i - 1 + 0.5) / PER_DOUBLING);
}

export interface IntervalFigures {
  /** Intervals between consecutive events. */
  count: number;
  median: number;
  p95: number;
  p99: number;
  max: number;
  /** False when the percentiles came from the histogram (past LIMITS.cadenceExactIntervals): within 0.55%. */
  exact: boolean;
}

/** What a pushed stream's cadence comes to (one connection's, or all of a capture's together). */
export interface CadenceFigures {
  events: number;
  /** Seconds from the request (the subscription, or the 101 of a WebSocket upgrade) to the first event; null when that was not captured. For the capture, the median over its streams. */
  timeToFirstEvent: number | null;
  interval: IntervalFigures | null;
  /** (events - 1) / (last event - first event); for the capture, all its events over the span from its first event to its last. Null for fewer than 2 events or no time between them. */
  eventsPerSecond: number | null;
  /** Frame bytes (both directions: the data segments and their ACKs) of the updates that carried the events. */
  wireBytes: number;
  /** Useful payload of the events (event data, WebSocket payloads). */
  usefulBytes: number;
  bytesPerEvent: number | null;
  wireBytesPerUsefulByte: number | null;
}

export interface StreamCadence extends CadenceFigures {
  kind: 'sse' | 'websocket';
  /** Seconds from the capture's start: the first event and the last. */
  firstEvent: number;
  lastEvent: number;
  /** SSE: event-stream responses on the connection (more than one: HTTP/2 streams or subscriptions one after another, counted as one stream). */
  eventStreams?: number;
}

export interface CaptureCadence extends CadenceFigures {
  streams: number;
}

function ratio(a: number, b: number, digits: number): number | null {
  if (b === 0) return null;
  const f = 10 ** digits;
  return Math.round((a / b) * f) / f;
}

function intervalFigures(s: IntervalStore): IntervalFigures | null {
  if (s.count === 0) return null;
  const [median, p95, p99] = s.percentiles([50, 95, 99]) as number[];
  return { count: s.count, median, p95, p99, max: s.max, exact: s.exact };
}

/** Requests whose times wait for their answer, per connection (HTTP/1 answers in order; HTTP/2 by stream). */
const WAITING_REQUESTS = 64;

/**
 * One connection's pushes, followed from its messages (and its updates, for the bytes). The
 * connection's server-to-client pushes are one stream: an SSE event stream (all of its event
 * streams when it has several: events do not say which HTTP/2 stream carried them), or the
 * WebSocket messages the server sent unasked. A server message that answers a client message
 * is no push: as the update rule pairs them (updates.ts), it answers the oldest client message
 * still waiting, and one that finds none waiting is a push.
 */
export class PushStream {
  kind: 'sse' | 'websocket' | null = null;
  eventStreams = 0;
  events = 0;
  private requestTime: number | null = null;
  private firstEvent = 0;
  private lastEvent = 0;
  private ttfe: number | null = null;
  usefulBytes = 0;
  wireBytes = 0;
  /** Client WebSocket messages not yet answered. */
  private waiting = 0;
  /**
   * HTTP/1 request times waiting for their answer, oldest first: the oldest in a field (most
   * connections have one at a time), the others in an array once requests are pipelined;
   * HTTP/2's by stream id.
   */
  private request0 = -1;
  private requests: number[] | null = null;
  private h2Requests: Map<number, number> | null = null;
  /** Made at the second event; never when only the capture's totals are wanted (a connection not listed in the report). */
  private intervals: IntervalStore | null = null;
  private frozen: StreamCadence | null | undefined = undefined;

  constructor(private readonly detail: boolean, private readonly budget: CadenceBudget, private readonly all: CadenceTotals) {}

  /** A message of the connection, completed at `time` (see the module's note). */
  message(m: Message, time: number): void {
    switch (m.kind) {
      case 'http-request': {
        const id = (m as { streamId?: number }).streamId;
        if (id !== undefined) {
          const q = (this.h2Requests ??= new Map());
          if (q.size >= WAITING_REQUESTS) q.delete(q.keys().next().value!);
          q.set(id, time);
        } else if (this.request0 < 0) this.request0 = time;
        else {
          const q = (this.requests ??= []);
          if (q.length >= WAITING_REQUESTS) q.shift();
          q.push(time);
        }
        return;
      }
      case 'http-response': {
        const id = (m as { streamId?: number }).streamId;
        let asked: number | undefined;
        if (id !== undefined) {
          asked = this.h2Requests?.get(id);
          this.h2Requests?.delete(id);
        } else if (this.request0 >= 0) {
          asked = this.request0;
          this.request0 = this.requests?.shift() ?? -1;
        }
        if (m.status === 101) {
          // A WebSocket's events are timed from the 101 that opened it.
          if (this.kind === null) this.requestTime = time;
        } else if (m.bodyLength === null && m.status >= 200) {
          // The head of an event stream: its events are timed from the request it answers.
          this.eventStreams++;
          if (this.eventStreams === 1 && this.kind === null) this.requestTime = asked ?? null;
        }
        return;
      }
      case 'sse-event':
        if (m.from === 'server' && this.kind !== 'websocket') this.event('sse', time, m.wire.useful);
        return;
      case 'ws-message':
        if (m.from === 'client') this.waiting++;
        else if (this.waiting > 0) this.waiting--;
        else if (this.kind !== 'sse') this.event('websocket', time, m.wire.useful);
        return;
      default:
    }
  }

  private event(kind: 'sse' | 'websocket', time: number, useful: number): void {
    if (this.frozen !== undefined) return;
    this.usefulBytes += useful;
    this.all.usefulBytes += useful;
    this.all.events++;
    if (this.events === 0) {
      this.kind = kind;
      this.events = 1;
      this.firstEvent = this.lastEvent = time;
      if (this.requestTime !== null && time >= this.requestTime) this.ttfe = ns(time - this.requestTime);
      this.all.stream(time, this.ttfe);
      return;
    }
    const t = time > this.lastEvent ? time : this.lastEvent;
    const dt = ns(t - this.lastEvent);
    this.lastEvent = t;
    this.events++;
    if (this.detail) (this.intervals ??= new IntervalStore(this.budget)).add(dt);
    this.all.interval(dt, t);
  }

  /** An update of the connection, handed over: its packets count for the stream when it carried its events. */
  update(g: Group): void {
    if (this.kind === null || this.frozen !== undefined) return;
    const k = this.kind === 'sse' ? 'sse-event' : 'ws-message';
    if (this.kind === 'websocket' && !g.pushed) return;
    if (!g.kinds.includes(k)) return;
    this.wireBytes += g.frameBytes;
    this.all.wireBytes += g.frameBytes;
  }

  /** The stream's figures, or null when the connection pushed nothing. */
  cadence(): StreamCadence | null {
    if (this.frozen !== undefined) return this.frozen;
    if (this.kind === null) return null;
    const span = this.lastEvent - this.firstEvent;
    const c: StreamCadence = {
      kind: this.kind,
      events: this.events,
      firstEvent: this.firstEvent,
      lastEvent: this.lastEvent,
      timeToFirstEvent: this.ttfe,
      interval: this.intervals ? intervalFigures(this.intervals) : null,
      eventsPerSecond: this.events > 1 && span > 0 ? ratio(this.events - 1, span, 3) : null,
      wireBytes: this.wireBytes,
      usefulBytes: this.usefulBytes,
      bytesPerEvent: ratio(this.wireBytes, this.events, 1),
      wireBytesPerUsefulByte: ratio(this.wireBytes, this.usefulBytes, 3),
    };
    if (this.kind === 'sse') c.eventStreams = this.eventStreams;
    return c;
  }

  /** The connection is over: its figures are worked out once, and the intervals let go. */
  freeze(): void {
    if (this.frozen !== undefined) return;
    this.frozen = this.cadence();
    this.intervals?.dispose();
    this.intervals = null;
    this.requests = null;
    this.h2Requests = null;
  }
}

/** Every pushed stream of a capture together: the summary's last line, and the capture's `cadence` in JSON. */
export class CadenceTotals {
  streams = 0;
  events = 0;
  usefulBytes = 0;
  wireBytes = 0;
  private first = Infinity;
  private last = -Infinity;
  private readonly intervals: IntervalStore;
  private readonly ttfe: IntervalStore;

  constructor(readonly budget: CadenceBudget = new CadenceBudget()) {
    // Not charged to the budget: these two are the capture's own, one of each.
    this.intervals = new IntervalStore(null);
    this.ttfe = new IntervalStore(null);
  }

  stream(firstEvent: number, ttfe: number | null): void {
    this.streams++;
    if (firstEvent < this.first) this.first = firstEvent;
    if (firstEvent > this.last) this.last = firstEvent;
    if (ttfe !== null) this.ttfe.add(ttfe);
  }

  interval(dt: number, time: number): void {
    this.intervals.add(dt);
    if (time > this.last) this.last = time;
  }

  figures(): CaptureCadence | null {
    if (this.streams === 0) return null;
    const span = this.last - this.first;
    return {
      streams: this.streams,
      events: this.events,
      timeToFirstEvent: this.ttfe.percentiles([50])[0],
      interval: intervalFigures(this.intervals),
      eventsPerSecond: this.events > 1 && span > 0 ? ratio(this.events - 1, span, 3) : null,
      wireBytes: this.wireBytes,
      usefulBytes: this.usefulBytes,
      bytesPerEvent: ratio(this.wireBytes, this.events, 1),
      wireBytesPerUsefulByte: ratio(this.wireBytes, this.usefulBytes, 3),
    };
  }
}
