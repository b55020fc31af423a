import type { CaptureReport, ConnectionReport } from '../analyze.js';
import type { Update } from '../analysis/updates.js';
import type { Message } from '../dissect/types.js';
import { usefulPercent } from './stats.js';

/** A message as the JSON output carries it: its fields, without the internal wire record. */
export function messageJson(m: Message): Record<string, unknown> {
  const { wire, ...rest } = m;
  return { ...rest, wireBytes: wire.end - wire.start };
}

export function connectionJson(c: ConnectionReport): Record<string, unknown> {
  return {
    id: c.id,
    client: c.client,
    server: c.server,
    protocol: c.protocol,
    firstFrame: c.firstFrame,
    rolesGuessed: c.rolesGuessed,
    // In the order their first bytes were seen (a request is found only once its body is read).
    messages: [...c.messages].sort((a, b) => a.time - b.time || a.wire.dir - b.wire.dir).map(messageJson),
  };
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

/** One capture in the documented JSON shape (README, "JSON output"). */
export function captureJson(r: CaptureReport): Record<string, unknown> {
  return {
    file: r.file,
    format: r.format,
    linkType: r.linkTypes.join(' + '),
    packets: r.packets,
    startTime: r.startTime,
    duration: r.duration,
    overall: r.overall,
    linkNetBytes: r.linkNetBytes,
    otherPackets: r.otherPackets,
    reassembly: r.reassembly,
    connectionCount: r.connectionCount,
    connections: r.connections.map(connectionJson),
    updateCount: r.updateCount,
    latency: r.latency,
    updates: r.updates.map(updateJson),
    steadyState: r.steady ? { update: r.steady.index, ...r.steady.figures, serverOnly: r.steady.serverOnly, overhead: { ...r.steady.overhead, usefulPercent: usefulPercent(r.steady.overhead) } } : null,
    setup: r.setup,
    teardown: r.teardown,
    late: r.late,
    warnings: r.warnings,
    warningCount: r.warningCount,
    comments: r.comments,
    error: r.error,
  };
}
