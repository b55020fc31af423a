/**
 * Every limit on what a capture can make sockstat hold or do, in one place, named.
 *
 * Two kinds: fixed caps on one unit (a line, a head, a frame list), which bound the work any
 * one protocol element can cause; and one memory budget per capture (MemoryBudget), shared by
 * every buffer that input can grow. When the budget is reached, what was kept only for display,
 * or for a connection that went quiet, is let go with a warning that says what was dropped;
 * counting goes on, so totals and per-update figures never depend on what was kept.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

export const LIMITS = {
  /** The memory budget of one capture's analysis, by default (`--max-memory` changes it). */
  memoryBudget: 256 * MiB,
  /** Out-of-order bytes held behind a hole, per direction, before the hole is declared a gap. */
  pendingBytesPerDirection: 4 * MiB,
  /** Last delivered bytes kept per direction to compare a retransmission with its first copy (reassembly). */
  retransmissionCompareBytes: 2 * KiB,
  /** Bytes kept per message for display (--payloads, bodies in JSON). */
  keptBytesPerMessage: 64 * KiB,
  /** Size a compressed body or message may inflate to. */
  inflatedBytesPerMessage: 16 * MiB,
  /** Content-Encoding layers unwrapped at most (gzip, gzip, br ...). */
  encodingDepth: 4,
  /** An HTTP head (request/status line and headers). */
  httpHead: 64 * KiB,
  /** Bytes held while an Upgrade waits for its 101. */
  upgradeHold: 1 * MiB,
  /** A chunk-size line (with its extensions). */
  chunkLine: 4 * KiB,
  /** An SSE line, and the data lines of one event awaiting their blank line. */
  sseLine: 1 * MiB,
  sseEventData: 1 * MiB,
  /**
   * Bytes a compressed event stream may inflate to, over its whole life: a long stream of
   * small events inflates to far less, a deflate bomb to no more (the parser reads every byte).
   */
  sseInflated: 256 * MiB,
  /** Requests waiting for their response, per connection. */
  unansweredRequests: 1024,
  /** Packets waiting for the message that holds their key byte, per connection. */
  pendingPackets: 10_000,
  /**
   * Message ranges the update tracker keeps per direction while their packets are not yet
   * placed (a packet carrying this many messages); past it the oldest are let go.
   */
  messageRangesPerDirection: 1024,
  /** Frame numbers listed per message or update (more are counted, not listed). */
  framesListed: 10_000,
  /** Separate claimed ranges kept per direction for the byte accounting's checks (older ones are counted and let go). */
  accountingRanges: 4096,
  /** Latencies kept for the medians. */
  latencySamples: 100_000,
  /**
   * Different update shapes counted per connection for its own steady state (--connections);
   * updates of a shape first seen past this many are counted apart, and said.
   */
  connectionShapes: 4096,
  /**
   * Intervals between events kept exactly per pushed stream for its percentiles (analysis/cadence.ts);
   * past it, a histogram of log buckets (64 per doubling: within 0.55%) takes them.
   */
  cadenceExactIntervals: 65_536,
  /** Exact intervals held at once over every pushed stream of a capture (8 bytes each: 32 MiB); past it, new growth goes to histograms. */
  cadenceIntervalsHeld: 4 * MiB,
  /** pcapng interfaces, and comments kept (counted beyond). */
  pcapngInterfaces: 65_536,
  commentsKept: 100,
  /** A capture block or record read in one piece. */
  captureBlock: 64 * MiB,
} as const;

/** What the budget charges, for the warning that says what was let go. */
export type BudgetUse =
  | 'connection'
  | 'out-of-order'
  | 'kept-bytes'
  | 'inflation'
  | 'sse-pending'
  | 'http-pending'
  | 'websocket-pending'
  | 'capture-metadata'
  | 'report';

/**
 * One capture's memory budget: every buffer grown by input reserves its bytes here and gives
 * them back when it lets them go. reserve() answers false when the budget would be passed; the
 * caller then drops what it would have kept (and says so), or gives up older kept state first.
 * Approximate by design: it counts the bytes a structure was asked to hold, not V8's overheads.
 */
export class MemoryBudget {
  used = 0;
  peak = 0;
  /** Reservations refused, by use: the report says how often data was let go. */
  readonly refused = new Map<BudgetUse, number>();

  constructor(readonly limit: number = LIMITS.memoryBudget) {}

  reserve(bytes: number, use: BudgetUse): boolean {
    if (this.used + bytes > this.limit) {
      this.refused.set(use, (this.refused.get(use) ?? 0) + 1);
      return false;
    }
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) this.used = 0;
  }

  /** Bytes left before the budget is reached. */
  get free(): number {
    return this.limit - this.used;
  }
}
