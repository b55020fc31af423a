import { EventEmitter } from 'node:events';
import pcapParser, { type GlobalHeader, type PacketHeader, type ParsedPacket } from 'pcap-parser';
import type { CaptureInfo, CaptureResult, CaptureSink } from './types.js';

const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
/** Used when a file declares no snap length; larger than any link MTU tcpdump records. */
const DEFAULT_MAX_RECORD = 262144;

/**
 * Reads a classic pcap file (either byte order, microsecond or nanosecond magic) with
 * pcap-parser, and adds what pcap-parser leaves out: a bound on record lengths, detection of
 * a file cut off inside a record, and nanosecond timestamps.
 *
 * pcap-parser is driven through a stand-in stream so that this function owns the reading
 * loop: chunks are counted, the nanosecond magic is rewritten to the one pcap-parser knows,
 * and reading stops the moment a record is impossible (pcap-parser would otherwise buffer
 * the rest of the file waiting for a body that never ends).
 */
export async function readPcap(
  chunks: AsyncIterable<Buffer>,
  sink: CaptureSink,
  nanosecond: boolean,
): Promise<CaptureResult> {
  const info: CaptureInfo = { format: nanosecond ? 'pcap-nsec' : 'pcap', linkTypes: [], snapLength: 0, comments: [] };
  const feed = new EventEmitter() as EventEmitter & { pause(): void; resume(): void };
  feed.pause = () => {};
  feed.resume = () => {};
  const parser = pcapParser.parse(feed);

  let frame = 0;
  let consumed = 0;
  let bytesRead = 0;
  let error: string | null = null;
  let maxRecord = DEFAULT_MAX_RECORD;
  let linkType = 1;
  const tsScale = nanosecond ? 1 : 1000;

  parser.on('error', (e: Error) => {
    error ??= e.message;
  });
  parser.on('globalHeader', (h: GlobalHeader) => {
    consumed = GLOBAL_HEADER_LENGTH;
    linkType = h.linkLayerType & 0x0fffffff; // upper bits carry FCS flags in newer files
    info.linkTypes.push(linkType);
    info.snapLength = h.snapshotLength;
    if (h.snapshotLength > 0) maxRecord = Math.max(h.snapshotLength, 65535);
    if (h.majorVersion !== 2) sink.warning(null, `pcap version ${h.majorVersion}.${h.minorVersion}, expected 2.4`);
  });
  parser.on('packetHeader', (h: PacketHeader) => {
    if (error !== null) return;
    if (h.capturedLength > maxRecord) {
      error = `record ${frame + 1} claims ${h.capturedLength} bytes, more than the snap length ${info.snapLength}: the file is corrupt from here`;
      parser.errored = true;
    }
  });
  parser.on('packet', (p: ParsedPacket) => {
    if (error !== null) return;
    frame++;
    const h = p.header;
    consumed += RECORD_HEADER_LENGTH + h.capturedLength;
    let originalLength = h.originalLength;
    if (originalLength < h.capturedLength) {
      sink.warning(frame, `original length ${originalLength} is less than the captured length ${h.capturedLength}`);
      originalLength = h.capturedLength;
    }
    sink.packet({
      frame,
      tsSec: h.timestampSeconds,
      tsNsec: h.timestampMicroseconds * tsScale,
      capturedLength: h.capturedLength,
      originalLength,
      linkType,
      data: p.data,
    });
  });

  await withoutBufferDeprecation(async () => {
    let first = true;
    for await (const raw of chunks) {
      let chunk = raw;
      if (first && nanosecond && chunk.length >= 4) {
        // pcap-parser knows only the microsecond magic; the layout is otherwise identical.
        chunk = Buffer.from(chunk);
        if (chunk[0] === 0xa1) chunk.writeUInt32BE(0xa1b2c3d4, 0);
        else chunk.writeUInt32LE(0xa1b2c3d4, 0);
      }
      first = false;
      bytesRead += chunk.length;
      if (error !== null) continue; // drain the source without buffering it
      feed.emit('data', chunk);
      const wait = sink.drain?.();
      if (wait) await wait;
    }
    feed.emit('end');
  });

  if (error === null) {
    if (bytesRead < GLOBAL_HEADER_LENGTH) error = `file is too short for a pcap header (${bytesRead} bytes)`;
    else if (consumed < bytesRead) {
      const rest = bytesRead - consumed;
      error = `file is cut off: ${rest} byte${rest === 1 ? '' : 's'} of an incomplete record after frame ${frame}`;
    }
  }
  return { info, packets: frame, bytesRead, error };
}

/**
 * pcap-parser grows its buffer with `new Buffer()`, which makes Node print DEP0005 when a
 * record spans two chunks. stderr belongs to sockstat's own messages, so that one warning
 * (and only it) is dropped while pcap-parser runs.
 */
async function withoutBufferDeprecation<T>(fn: () => Promise<T>): Promise<T> {
  const original = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code === 'DEP0005') return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return await fn();
  } finally {
    process.emitWarning = original;
  }
}
