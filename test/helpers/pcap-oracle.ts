import { EventEmitter } from 'node:events';
import pcapParser from 'pcap-parser';

/** One record as pcap-parser reports it. */
export interface OracleRecord {
  tsSec: number;
  tsUsec: number;
  capturedLength: number;
  originalLength: number;
  data: Buffer;
}

/**
 * A classic pcap file as pcap-parser, the tests' oracle, reads it (the nanosecond magic
 * rewritten first: it knows only microseconds, and the fraction is then read as given).
 */
export function pcapParserRecords(file: Buffer): Promise<{ linkType: number; records: OracleRecord[] }> {
  const b = Buffer.from(file);
  const magic = b.readUInt32BE(0);
  if (magic === 0xa1b23c4d) b.writeUInt32BE(0xa1b2c3d4, 0);
  if (magic === 0x4d3cb2a1) b.writeUInt32LE(0xa1b2c3d4, 0);
  const feed = new EventEmitter() as EventEmitter & { pause(): void; resume(): void };
  feed.pause = feed.resume = () => {};
  const parser = pcapParser.parse(feed);
  const records: OracleRecord[] = [];
  let linkType = -1;
  parser.on('globalHeader', (h) => (linkType = h.linkLayerType));
  parser.on('packet', (p) => {
    const h = p.header;
    records.push({ tsSec: h.timestampSeconds, tsUsec: h.timestampMicroseconds, capturedLength: h.capturedLength, originalLength: h.originalLength, data: p.data });
  });
  return new Promise((resolve) => {
    parser.on('end', () => resolve({ linkType, records }));
    feed.emit('data', b);
    feed.emit('end');
  });
}
