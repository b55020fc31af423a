export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

/** A TCP header (RFC 9293). seq and ack are unsigned 32-bit values. */
export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Header length: data offset x 4, options included. */
  headerLength: number;
  flags: number;
  window: number;
  /** Where the options start in the decoded bytes; they run to the end of the header. */
  optionsOffset: number;
}

export type TcpResult = TcpHeader | { error: string };

export function emptyTcpHeader(): TcpHeader {
  return { srcPort: 0, dstPort: 0, seq: 0, ack: 0, headerLength: 0, flags: 0, window: 0, optionsOffset: 0 };
}

/** Decodes the header at b[o]; `end` bounds the segment (the IP payload may end before the frame). */
export function decodeTcp(b: Uint8Array, o = 0, end = b.length, into: TcpHeader = emptyTcpHeader()): TcpResult {
  const avail = end - o;
  if (avail < 20) return { error: `TCP header cut short (${avail} of 20 bytes)` };
  const headerLength = (b[o + 12] >> 4) * 4;
  if (headerLength < 20) return { error: `TCP data offset ${headerLength / 4} is less than 5` };
  if (avail < headerLength) return { error: `TCP options cut short (${avail} of ${headerLength} bytes)` };
  into.srcPort = (b[o] << 8) | b[o + 1];
  into.dstPort = (b[o + 2] << 8) | b[o + 3];
  into.seq = ((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0;
  into.ack = ((b[o + 8] << 24) | (b[o + 9] << 16) | (b[o + 10] << 8) | b[o + 11]) >>> 0;
  into.headerLength = headerLength;
  into.flags = b[o + 13] | ((b[o + 12] & 1) << 8);
  into.window = (b[o + 14] << 8) | b[o + 15];
  into.optionsOffset = o + 20;
  return into;
}

export interface TcpOptions {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  timestamp?: { value: number; echo: number };
  sack?: Array<[number, number]>;
  /** Set when the option list is malformed; what was read before stays. */
  malformed?: boolean;
}

/** Parses the option list; read only where it is needed (it is never on the hot path). */
export function parseTcpOptions(o: Uint8Array): TcpOptions {
  const r: TcpOptions = {};
  let i = 0;
  while (i < o.length) {
    const kind = o[i];
    if (kind === 0) break;
    if (kind === 1) { i++; continue; }
    if (i + 1 >= o.length) { r.malformed = true; break; }
    const len = o[i + 1];
    if (len < 2 || i + len > o.length) { r.malformed = true; break; }
    const v = o.subarray(i + 2, i + len);
    const u32 = (k: number) => ((v[k] << 24) | (v[k + 1] << 16) | (v[k + 2] << 8) | v[k + 3]) >>> 0;
    if (kind === 2 && len === 4) r.mss = (v[0] << 8) | v[1];
    else if (kind === 3 && len === 3) r.windowScale = v[0];
    else if (kind === 4 && len === 2) r.sackPermitted = true;
    else if (kind === 8 && len === 10) r.timestamp = { value: u32(0), echo: u32(4) };
    else if (kind === 5 && (len - 2) % 8 === 0) {
      r.sack = [];
      for (let k = 0; k < v.length; k += 8) r.sack.push([u32(k), u32(k + 4)]);
    }
    i += len;
  }
  return r;
}
