import type { CaptureReport, ConnectionReport } from '../analyze.js';
import type { Overhead, Update } from '../analysis/updates.js';
import { hex } from '../dissect/bytes.js';
import type { Message } from '../dissect/types.js';
import { LIMITS } from '../limits.js';

/**
 * The version of schema/sockstat.schema.json that the JSON outputs follow: raised by a change
 * that removes or renames a field or changes its type or meaning (adding an optional one is not).
 */
export const SCHEMA_VERSION = 1;

/** A message as the JSON output carries it: its fields, without the internal wire record. */
export function messageJson(m: Message): Record<string, unknown> {
  const { wire, ...rest } = m;
  const out: Record<string, unknown> = rest;
  if (wire.hexOf) out.hex = hex(wire.hexOf);
  out.wireBytes = wire.end - wire.start;
  return out;
}

/** The hex a message carries for a payload that is not text (see Wire.hexOf). */
export function messageHex(m: Message): string | undefined {
  return m.wire.hexOf ? hex(m.wire.hexOf) : 'hex' in m ? m.hex : undefined;
}


export function updateJson(u: Update): Record<string, unknown> {
  return {
    index: u.index,
    connection: u.connection,
    time: u.time,
    messages: u.messages,
    frames: u.frames,
    ...u.figures,
    serverOnly: u.serverOnly,
    overhead: u.overhead,
    latency: u.latency,
  };
}

/** The useful payload's share of an update's bytes, in percent to one decimal. */
export function usefulPercent(o: Overhead): number {
  const total = o.linkNet + o.tcpHeaders + (o.tls ?? 0) + o.framing + o.payload;
  return total === 0 ? 0 : Math.round((o.payload / total) * 1000) / 10;
}

/** An update as the steady state of a capture or technique: its figures and where its bytes go. */
export function steadyJson(u: Update | null): Record<string, unknown> | null {
  return u ? { update: u.index, frames: u.frames, ...u.figures, serverOnly: u.serverOnly, overhead: { ...u.overhead, usefulPercent: usefulPercent(u.overhead) } } : null;
}

/**
 * A connection's own figures (--connections; the fields after `protocol` on each connection of
 * --json, and the rows of --stats json --connections): start and duration in seconds from the
 * capture's start, packets and bytes each way, messages, updates, its own steady state, and the
 * cadence of its pushes when it pushed any.
 */
export function connectionFiguresJson(c: ConnectionReport): Record<string, unknown> {
  const t = c.traffic;
  const cadence = c.push?.cadence() ?? null;
  return {
    start: t.start,
    duration: t.duration,
    clientToServer: { ...t.toServer },
    serverToClient: { ...t.toClient },
    messageCount: c.messageCount,
    updateCount: t.updateCount,
    steadyState: t.steady(),
    ...(cadence ? { cadence } : {}),
  };
}

/** A capture's own figures: everything of its JSON object but its connections and updates. */
export function captureSummaryJson(r: CaptureReport): Record<string, unknown> {
  return {
    format: r.format,
    linkType: r.linkTypes.join(' + '),
    packets: r.packets,
    startTime: r.startTime,
    duration: r.duration,
    overall: r.overall,
    linkNetBytes: r.linkNetBytes,
    // Where the TCP packets' bytes went, per direction, by layer and role (analysis/accounting.ts).
    bytes: r.bytes,
    otherPackets: r.otherPackets,
    reassembly: r.reassembly,
    connectionCount: r.connectionCount,
    updateCount: r.updateCount,
    latency: r.latency,
    // Every pushed stream together (each connection's own is its `cadence`): only when there was one.
    ...(r.cadence ? { cadence: r.cadence } : {}),
    steadyState: steadyJson(r.steady),
    // One steady state per technique (the protocol of the updates' connections), for captures
    // that mix them: steadyState is the capture's as a whole, the most frequent shape of all.
    steadyByProtocol: r.steadyByProtocol.map((t) => ({ protocol: t.protocol, updateCount: t.updateCount, steadyState: steadyJson(t.steady) })),
    setup: r.setup,
    // What was taken for set-up rather than an update, and why (the page load, what it fetched, subscriptions).
    setupNotes: r.setupNotes,
    teardown: r.teardown,
    late: r.late,
    warnings: r.warnings,
    warningCount: r.warningCount,
    // Warnings counted but not listed (past the first 1,000, and past the first five of a
    // problem that repeats on every packet, such as snap-length cuts): said when there are any.
    ...(r.warningCount > r.warnings.length ? { warningsNotListed: r.warningCount - r.warnings.length } : {}),
    ...commentsJson(r),
    // Where TLS keys came from, when any were given or found in the capture.
    ...(r.tlsKeys ? { tlsKeys: r.tlsKeys } : {}),
    error: r.error,
  };
}

/**
 * Comments in the file: those in the report, and those the capture reader counted without
 * keeping them (past LIMITS.commentsKept), when the report carries that count.
 */
export function commentCount(r: CaptureReport): number {
  const counted = (r as { commentsNotKept?: unknown }).commentsNotKept;
  return r.comments.length + (typeof counted === 'number' && counted > 0 ? counted : 0);
}

/** Comments the JSON output leaves out: past the first LIMITS.commentsKept. */
export function commentsNotKept(r: CaptureReport): number {
  return commentCount(r) - Math.min(r.comments.length, LIMITS.commentsKept);
}

/** At most LIMITS.commentsKept comments; "commentsNotKept" says how many more there were, when there were. */
function commentsJson(r: CaptureReport): { comments: string[]; commentsNotKept?: number } {
  const notKept = commentsNotKept(r);
  const comments = r.comments.length > LIMITS.commentsKept ? r.comments.slice(0, LIMITS.commentsKept) : r.comments;
  return notKept > 0 ? { comments, commentsNotKept: notKept } : { comments };
}

