import type { CaptureInfo, CaptureResult, CaptureSink, Packet } from './types.js';

const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
/** Used when a file declares no snap length; larger than any link MTU tcpdump records. */
const DEFAULT_MAX_RECORD = 262144;

/** A record as the reader hands it on: its bytes as buffer and offset, a view of them only when asked. */
class Record implements Packet {
  frame = 0;
  tsSec = 0;
  tsNsec = 0;
  capturedLength = 0;
  originalLength = 0;
  linkType = 0;
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  get data(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.offset, this.capturedLength);
  }
}

/**
 * Reads a classic pcap file (either byte order, microsecond or nanosecond magic): a 24-byte
 * file header, then records of a 16-byte header and the captured bytes.
 *
 * This was pcap-parser until the benchmark of issue 6 showed its per-record path (three
 * events, three Buffer slices and two objects per record, a string-built method name per
 * field) cost as much as the whole analysis is allowed to; pcap-parser is still the oracle
 * this reader is tested against and the baseline the benchmark times. Besides speed, this
 * reader bounds record lengths (a corrupt length would otherwise buffer the rest of the file),
 * detects a file cut off inside a record, and knows the nanosecond magic.
 */
export async function readPcap(
  chunks: AsyncIterable<Buffer>,
  sink: CaptureSink,
  nanosecond: boolean,
): Promise<CaptureResult> {
  const info: CaptureInfo = { format: nanosecond ? 'pcap-nsec' : 'pcap', linkTypes: [], snapLength: 0, comments: [] };
  const tsScale = nanosecond ? 1 : 1000;
  let frame = 0;
  let bytesRead = 0;
  let error: string | null = null;
  let le = true;
  let maxRecord = DEFAULT_MAX_RECORD;
  let linkType = 1;
  let sawHeader = false;
  /** Bytes of an unfinished record (or file header) carried over from the previous chunk. */
  let carry: Buffer | null = Buffer.alloc(0);

  const u32 = (b: Uint8Array, o: number): number =>
    le
      ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0
      : ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  const u16 = (b: Uint8Array, o: number): number => (le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]);

  const fileHeader = (b: Uint8Array): void => {
    // The magic is read in file order: a1 b2 ... is big-endian, d4 c3 ... / 4d 3c ... little.
    le = b[0] !== 0xa1;
    const major = u16(b, 4);
    const minor = u16(b, 6);
    info.snapLength = u32(b, 16);
    linkType = u32(b, 20) & 0x0fffffff; // upper bits carry FCS flags in newer files
    info.linkTypes.push(linkType);
    if (info.snapLength > 0) maxRecord = Math.max(info.snapLength, 65535);
    if (major !== 2 || minor !== 4) sink.warning(null, `pcap version ${major}.${minor}, expected 2.4`);
    sawHeader = true;
  };

  /** One record object, refilled for each record: the sink may not keep it (see Packet). */
  const p = new Record();

  /** Hands on every whole record in b from pos; returns where the first incomplete one starts. */
  const records = (b: Buffer, pos: number): number => {
    const end = b.length;
    while (end - pos >= RECORD_HEADER_LENGTH) {
      const capturedLength = u32(b, pos + 8);
      if (capturedLength > maxRecord) {
        error = `record ${frame + 1} claims ${capturedLength} bytes, more than the snap length ${info.snapLength}: the file is corrupt from here`;
        return pos;
      }
      const dataStart = pos + RECORD_HEADER_LENGTH;
      if (end - dataStart < capturedLength) break;
      frame++;
      let originalLength = u32(b, pos + 12);
      if (originalLength < capturedLength) {
        sink.warning(frame, `original length ${originalLength} is less than the captured length ${capturedLength}`);
        originalLength = capturedLength;
      }
      p.frame = frame;
      p.tsSec = u32(b, pos);
      p.tsNsec = u32(b, pos + 4) * tsScale;
      p.capturedLength = capturedLength;
      p.originalLength = originalLength;
      p.linkType = linkType;
      p.buf = b;
      p.offset = dataStart;
      sink.packet(p);
      pos = dataStart + capturedLength;
    }
    return pos;
  };

  /** Bytes the unit at the start of `carry` needs to be whole (never less than it holds). */
  const needed = (c: Buffer): number => {
    if (!sawHeader) return GLOBAL_HEADER_LENGTH;
    if (c.length < RECORD_HEADER_LENGTH) return RECORD_HEADER_LENGTH;
    const capturedLength = u32(c, 8);
    // An impossible length counts as whole: records() reports it.
    return capturedLength > maxRecord ? c.length : RECORD_HEADER_LENGTH + capturedLength;
  };

  for await (const chunk of chunks) {
    bytesRead += chunk.length;
    if (error !== null) continue; // drain the source without buffering it
    let pos = 0;
    // A record cut by the chunk boundary is completed from the head of this chunk: only its
    // own bytes are copied, never the chunk.
    while (carry !== null && pos < chunk.length) {
      const take = Math.min(needed(carry) - carry.length, chunk.length - pos);
      carry = Buffer.concat([carry, chunk.subarray(pos, pos + take)]);
      pos += take;
      if (carry.length < needed(carry)) continue;
      if (!sawHeader) fileHeader(carry);
      else records(carry, 0);
      carry = null;
    }
    if (carry === null && error === null) {
      pos = records(chunk, pos);
      if (error === null && pos < chunk.length) carry = Buffer.from(chunk.subarray(pos));
    }
    const wait = sink.drain?.();
    if (wait) await wait;
  }

  if (error === null) {
    if (!sawHeader) error = `file is too short for a pcap header (${bytesRead} bytes)`;
    else if (carry !== null && carry.length > 0) {
      const rest = carry.length;
      error = `file is cut off: ${rest} byte${rest === 1 ? '' : 's'} of an incomplete record after frame ${frame}`;
    }
  }
  return { info, packets: frame, bytesRead, error };
}
