import type { AnomalyCode } from '../anomalies.js';
/** 0: client to server, 1: server to client. */
export type Dir = 0 | 1;
export const C2S: Dir = 0;
export const S2C: Dir = 1;

/** A TCP connection as sockstat names it: client and server by the handshake, where seen. */
export interface Connection {
  /** 1-based, in order of first packet. */
  id: number;
  client: string;
  server: string;
  serverPort: number;
  firstFrame: number;
  firstTime: number;
  /** True when the capture missed the handshake and the roles were inferred from the ports. */
  rolesGuessed: boolean;
}

/** In-order bytes of one direction. `bytes` is a view, valid only during the call. */
export interface StreamChunk {
  bytes: Uint8Array;
  /** Stream offset of bytes[0]: 0 is the first byte after the SYN (or the first byte seen). */
  offset: number;
  frame: number;
  /** Seconds since the capture's first packet. */
  time: number;
}

/**
 * Receives each direction of one connection as ordered bytes, in the order of the capture.
 * Calls for a direction: any number of data() and gap(), then end() exactly once.
 */
export interface StreamConsumer {
  data(dir: Dir, chunk: StreamChunk): void;
  /** `length` bytes at `offset` were never captured; data() resumes after them. */
  gap(dir: Dir, offset: number, length: number, frame: number): void;
  end(dir: Dir, reason: 'fin' | 'rst' | 'eof', frame: number): void;
  /** A later copy of data, in `frame`, had `bytes` bytes that differ from the first copy's (in `firstFrame`, 0 when not known), which was kept. */
  differs?(dir: Dir, frame: number, bytes: number, firstFrame: number): void;
}

/** One TCP packet as the reassembler saw it: the figures the statistics need. */
export interface SegmentInfo {
  conn: Connection;
  dir: Dir;
  frame: number;
  time: number;
  frameBytes: number;
  linkNetBytes: number;
  tcpBytes: number;
  appBytes: number;
  flags: number;
  /** Stream offset of the first payload byte (or of the FIN's sequence number). */
  offset: number;
  /** With ACK set: the stream offset, in the other direction, below which all is acknowledged; else -1. */
  ackOffset: number;
  /** Payload that carried nothing new: a retransmission or duplicate. */
  retransmission: boolean;
  /**
   * Stream offset of its first byte not received before (`offset`, unless the packet overlaps
   * bytes already received or given up as lost, and goes on past them).
   */
  newOffset: number;
}

export interface ReassemblyObserver {
  connection(conn: Connection): StreamConsumer;
  /**
   * Every TCP packet, after its bytes (if any) were handed to the stream consumer. The info
   * object is refilled for the next packet: an observer that keeps it keeps a copy.
   */
  segment(info: SegmentInfo): void;
  warning(frame: number, code: AnomalyCode, message: string): void;
  /** Both directions have ended (FIN, RST or the end of the capture). Late packets may follow. */
  closed?(conn: Connection): void;
  /** The connection will not be seen again: its state may be dropped. */
  forget?(conn: Connection): void;
}

export interface ReassemblyStats {
  connections: number;
  retransmittedSegments: number;
  retransmittedBytes: number;
  outOfOrderSegments: number;
  overlapBytes: number;
  gaps: number;
  gapBytes: number;
  /*
   * Set only once they happen, so that a capture without them reports what it always did
   * (JSON leaves an unset field out).
   */
  /** Segments whose bytes differ from the first copy of them still at hand (an evasion signal). */
  conflictingSegments?: number;
  /** Bytes that differed, over those segments. */
  conflictingBytes?: number;
  /** Open connections closed early because the memory budget was reached. */
  evictedConnections?: number;
}
