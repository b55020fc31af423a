import type { AnomalyCode } from '../anomalies.js';
/**
 * One captured record, as the readers hand it on. Readers may refill the same object for
 * every record: a sink that keeps anything copies it during the call.
 */
export interface Packet {
  /** 1-based, as Wireshark and tshark number frames. */
  frame: number;
  /** Timestamp: whole seconds and nanoseconds since the epoch. */
  tsSec: number;
  tsNsec: number;
  capturedLength: number;
  originalLength: number;
  /** LINKTYPE_* of the interface the record was captured on. */
  linkType: number;
  /** The captured bytes. A view into the reader's buffer: valid only during the callback. */
  data: Uint8Array;
  /**
   * The same bytes as buf[offset, offset + capturedLength], when the reader offers them so:
   * a decoder reads them there, and no view is made per packet.
   */
  buf?: Uint8Array;
  offset?: number;
}

export type CaptureFormat = 'pcap' | 'pcap-nsec' | 'pcapng';

/** What a reader learned about the file besides its packets. */
export interface CaptureInfo {
  format: CaptureFormat;
  /** Link types in the order interfaces first declared them, each once. */
  linkTypes: number[];
  snapLength: number;
  /**
   * Comments found in the file (pcapng section and interface comments): the first
   * LIMITS.commentsKept of them, each cut to COMMENT_KEPT_BYTES.
   */
  comments: string[];
  /** Comments beyond those kept: counted, not kept (a flood of them once exhausted memory). */
  commentsNotKept: number;
  /**
   * Records read but not handed on: larger than LIMITS.captureBlock, or (pcapng) on an
   * interface never described or past LIMITS.pcapngInterfaces. Each kind is warned once.
   */
  packetsSkipped: number;
}

/** Bytes of one comment kept; the rest of a longer one is cut (and its length said). */
export const COMMENT_KEPT_BYTES = 1024;

/** Keeps a comment if fewer than LIMITS.commentsKept are kept, cut to COMMENT_KEPT_BYTES; else counts it. */
export function keepComment(info: CaptureInfo, limit: number, v: Uint8Array): void {
  if (info.comments.length >= limit) {
    info.commentsNotKept++;
    return;
  }
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (b.length <= COMMENT_KEPT_BYTES) {
    info.comments.push(b.toString('utf8'));
    return;
  }
  // Cut at a character boundary: back up over UTF-8 continuation bytes (10xxxxxx).
  let end = COMMENT_KEPT_BYTES;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  info.comments.push(`${b.toString('utf8', 0, end)}... (${b.length} bytes, cut)`);
}

/**
 * Work the readers did that input can make grow, for the tests that bound it: bytes copied
 * out of input chunks into buffers the reader holds (a unit cut by a chunk boundary), and the
 * largest such buffer. Reading is linear when copiedBytes stays within the input's size.
 */
export const readerWork = { copiedBytes: 0, largestHeld: 0 };

/** Receives packets and anomalies from a reader, in file order. */
export interface CaptureSink {
  packet(p: Packet): void;
  /** A recoverable anomaly; frame is the record it concerns, or null for the file itself. */
  warning(frame: number | null, code: AnomalyCode, message: string): void;
  /** Awaited between chunks of input, so a slow consumer of the output slows the reading down. */
  drain?(): Promise<void> | undefined;
  /** A pcapng Decryption Secrets Block: its secrets type and data (a view, valid during the call). */
  secrets?(secretsType: number, data: Uint8Array): void;
}

/**
 * Outcome of reading a whole capture. `error` is set when reading had to stop early
 * (a cut-off file, an impossible record): what was read before it is still valid.
 */
export interface CaptureResult {
  info: CaptureInfo;
  packets: number;
  bytesRead: number;
  error: string | null;
  /**
   * True when `error` says only that the input ended too soon (inside a record, before a
   * header): when the input was a gzip stream that broke, the broken stream is the cause.
   */
  endedEarly?: boolean;
}

/** A file that cannot be read as a capture at all. Its message is one line, for the user. */
export class CaptureError extends Error {}

export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export function linkTypeName(t: number): string {
  switch (t) {
    case LINKTYPE.NULL: return 'BSD loopback (NULL)';
    case LINKTYPE.ETHERNET: return 'Ethernet';
    case LINKTYPE.RAW: return 'raw IP';
    case LINKTYPE.LOOP: return 'OpenBSD loopback (LOOP)';
    case LINKTYPE.LINUX_SLL: return 'Linux cooked (SLL)';
    case LINKTYPE.IPV4: return 'raw IPv4';
    case LINKTYPE.IPV6: return 'raw IPv6';
    case LINKTYPE.LINUX_SLL2: return 'Linux cooked v2 (SLL2)';
    default: return `link type ${t}`;
  }
}
