import { LIMITS } from '../limits.js';
import { readerWork, type CaptureInfo, type CaptureResult, type CaptureSink, type Packet } from './types.js';

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
 *
 * Records are decoded in place in the chunk that holds them. A record cut by a chunk boundary
 * is copied once into a buffer of its own announced size, piece by piece (issue 18: rebuilding
 * it with Buffer.concat on every chunk made a 64 MiB record take 90 s). A record larger than
 * LIMITS.captureBlock, that the snap length still allows, is skipped with a warning: its bytes
 * are counted off as they come and never held.
 */
export async function readPcap(
  chunks: AsyncIterable<Buffer>,
  sink: CaptureSink,
  nanosecond: boolean,
): Promise<CaptureResult> {
  const info: CaptureInfo = { format: nanosecond ? 'pcap-nsec' : 'pcap', linkTypes: [], snapLength: 0, comments: [], commentsNotKept: 0, packetsSkipped: 0 };
  const tsScale = nanosecond ? 1 : 1000;
  let frame = 0;
  let bytesRead = 0;
  let error: string | null = null;
  let le = true;
  let maxRecord = DEFAULT_MAX_RECORD;
  /** Above this a record is not handed on in place: too long for the snap length, or to hold. */
  let inPlaceLimit = Math.min(maxRecord, LIMITS.captureBlock);
  let linkType = 1;
  let sawHeader = false;
  /** The file header or a record header being gathered across chunks, and how much of it is there. */
  const head = Buffer.alloc(GLOBAL_HEADER_LENGTH);
  let headFill = 0;
  /** A record cut by a chunk boundary, header included, allocated to its size; and its bytes so far. */
  let rec = null as Buffer | null;
  let recFill = 0;
  /** Bytes still to pass over of a record too large to hold (frame `skipFrame`, `skipLength` bytes). */
  let skip = 0;
  let skipFrame = 0;
  let skipLength = 0;

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
    inPlaceLimit = Math.min(maxRecord, LIMITS.captureBlock);
    if (major !== 2 || minor !== 4) sink.warning(null, 'capture-version', `pcap version ${major}.${minor}, expected 2.4`);
    sawHeader = true;
  };

  /** One record object, refilled for each record: the sink may not keep it (see Packet). */
  const p = new Record();

  /** Hands on the record whose header is at b[pos] and whose bytes are all there. */
  const emit = (b: Buffer, pos: number, capturedLength: number): void => {
    frame++;
    let originalLength = u32(b, pos + 12);
    if (originalLength < capturedLength) {
      sink.warning(frame, 'capture-length', `original length ${originalLength} is less than the captured length ${capturedLength}`);
      originalLength = capturedLength;
    }
    p.frame = frame;
    p.tsSec = u32(b, pos);
    p.tsNsec = u32(b, pos + 4) * tsScale;
    p.capturedLength = capturedLength;
    p.originalLength = originalLength;
    p.linkType = linkType;
    p.buf = b;
    p.offset = pos + RECORD_HEADER_LENGTH;
    sink.packet(p);
  };

  /**
   * Hands on every whole record in b from pos; returns where the first one it cannot hand on
   * in place starts (incomplete, too long to hold, or impossible: the caller looks at it).
   */
  const records = (b: Buffer, pos: number): number => {
    const end = b.length;
    while (end - pos >= RECORD_HEADER_LENGTH) {
      const capturedLength = u32(b, pos + 8);
      if (capturedLength > inPlaceLimit || end - pos - RECORD_HEADER_LENGTH < capturedLength) break;
      emit(b, pos, capturedLength);
      pos += RECORD_HEADER_LENGTH + capturedLength;
    }
    return pos;
  };

  /** A whole record header is in h: hold, skip or refuse the record it starts. */
  const begin = (h: Buffer, at: number): void => {
    const capturedLength = u32(h, at + 8);
    if (capturedLength > maxRecord) {
      error = `record ${frame + 1} claims ${capturedLength} bytes, more than the snap length ${info.snapLength}: the file is corrupt from here`;
    } else if (capturedLength > LIMITS.captureBlock) {
      frame++;
      info.packetsSkipped++;
      sink.warning(frame, 'capture-record-too-large', `record of ${capturedLength} bytes is larger than the ${LIMITS.captureBlock} bytes a record may have here: skipped`);
      skip = capturedLength;
      skipFrame = frame;
      skipLength = capturedLength;
    } else {
      rec = Buffer.allocUnsafeSlow(RECORD_HEADER_LENGTH + capturedLength);
      if (rec.length > readerWork.largestHeld) readerWork.largestHeld = rec.length;
      h.copy(rec, 0, at, at + RECORD_HEADER_LENGTH);
      readerWork.copiedBytes += RECORD_HEADER_LENGTH;
      recFill = RECORD_HEADER_LENGTH;
    }
  };

  for await (const chunk of chunks) {
    bytesRead += chunk.length;
    let pos = 0;
    const end = chunk.length;
    // Each pass either hands on records in place or moves the cut unit at hand forward:
    // every byte of the chunk is looked at (and copied, if at all) once.
    while (pos < end && error === null) {
      if (skip > 0) {
        const take = Math.min(skip, end - pos);
        skip -= take;
        pos += take;
      } else if (rec !== null) {
        const take = Math.min(rec.length - recFill, end - pos);
        chunk.copy(rec, recFill, pos, pos + take);
        readerWork.copiedBytes += take;
        recFill += take;
        pos += take;
        if (recFill === rec.length) {
          const r: Buffer = rec;
          rec = null;
          emit(r, 0, r.length - RECORD_HEADER_LENGTH);
        }
      } else if (headFill > 0 || !sawHeader) {
        const need = sawHeader ? RECORD_HEADER_LENGTH : GLOBAL_HEADER_LENGTH;
        const take = Math.min(need - headFill, end - pos);
        chunk.copy(head, headFill, pos, pos + take);
        readerWork.copiedBytes += take;
        headFill += take;
        pos += take;
        if (headFill < need) break;
        headFill = 0;
        if (!sawHeader) fileHeader(head);
        else begin(head, 0);
      } else {
        pos = records(chunk, pos);
        const left = end - pos;
        if (left === 0) break;
        if (left < RECORD_HEADER_LENGTH) {
          // A record header cut by the chunk boundary: gathered in head.
          chunk.copy(head, 0, pos, end);
          readerWork.copiedBytes += left;
          headFill = left;
          break;
        }
        begin(chunk, pos);
        pos += RECORD_HEADER_LENGTH;
      }
    }
    const wait = sink.drain?.();
    if (wait) await wait;
  }

  let endedEarly = false;
  if (error === null) {
    endedEarly = true;
    if (!sawHeader) error = `file is too short for a pcap header (${bytesRead} bytes)`;
    else if (rec !== null || headFill > 0) {
      const held = rec !== null ? recFill : headFill;
      error = `file is cut off: ${held} byte${held === 1 ? '' : 's'} of an incomplete record after frame ${frame}`;
    } else if (skip > 0) {
      error = `file is cut off: ${skipLength - skip} of the ${skipLength} bytes of record ${skipFrame} (skipped)`;
    } else endedEarly = false;
  }
  return { info, packets: frame, bytesRead, error, endedEarly };
}
