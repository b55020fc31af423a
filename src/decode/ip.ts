export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMP = 1;
export const IPPROTO_ICMPV6 = 58;

/**
 * An IPv4 or IPv6 header. Addresses are given as offsets into the bytes that were decoded,
 * not as views: making a view per address costs more than the whole rest of the decoding.
 */
export interface IpLayer {
  version: 4 | 6;
  /** Header bytes, options and IPv6 extension headers included. */
  headerLength: number;
  /** Upper-layer protocol (after any IPv6 extension headers). */
  protocol: number;
  srcOffset: number;
  dstOffset: number;
  addrLength: 4 | 16;
  /** Bytes of upper-layer data the header declares (the length fields, not the capture). */
  payloadLength: number;
  /** True when the capture holds fewer bytes than the header declares. */
  truncated: boolean;
  /**
   * The length the header declared when it ran past the frame on the wire (orig_len): 0 when
   * it did not. Such a length is malformed, not a snap-length cut, and payloadLength is then
   * what the frame holds.
   */
  overlong: number;
  /** A fragment other than a whole datagram: its upper layer cannot be read alone. */
  fragment: boolean;
}

export type IpResult = IpLayer | { error: string };

export function emptyIpLayer(): IpLayer {
  return { version: 4, headerLength: 0, protocol: 0, srcOffset: 0, dstOffset: 0, addrLength: 4, payloadLength: 0, truncated: false, overlong: 0, fragment: false };
}

/**
 * IPv4 (RFC 791). The total length decides the payload, so Ethernet padding of short frames
 * is never taken for upper-layer bytes. A total length of 0 is what a capture on the sending
 * host shows for TCP segmentation offload: then the captured bytes are all there is.
 *
 * `wireEnd` is where the frame ended on the wire (its original length, past `end` when the
 * snap length cut it; unknown by default, and then the header is trusted). A total length that runs past it cannot be a cut: no frame carried
 * those bytes. It is malformed (set in `overlong`), and the datagram is taken to end with the
 * frame: trusting it made one 60-byte frame count 65,495 payload bytes, a negative link and
 * network overhead, and the stream an imaginary hole that swallowed the following requests.
 */
export function decodeIpv4(b: Uint8Array, o = 0, into: IpLayer = emptyIpLayer(), end = b.length, wireEnd = Infinity): IpResult {
  const avail = end - o;
  if (avail < 20) return { error: `IPv4 header cut short (${avail} of 20 bytes)` };
  if (b[o] >> 4 !== 4) return { error: `IPv4 header has version ${b[o] >> 4}` };
  const headerLength = (b[o] & 0x0f) * 4;
  if (headerLength < 20) return { error: `IPv4 header length ${headerLength} is less than 20` };
  if (avail < headerLength) return { error: `IPv4 options cut short (${avail} of ${headerLength} bytes)` };
  let totalLength = (b[o + 2] << 8) | b[o + 3];
  if (totalLength === 0) totalLength = avail;
  if (totalLength < headerLength) return { error: `IPv4 total length ${totalLength} is less than its header length ${headerLength}` };
  const onWire = Math.max(wireEnd, end) - o;
  let overlong = 0;
  if (totalLength > onWire) {
    overlong = totalLength;
    totalLength = onWire;
  }
  const flagsFrag = (b[o + 6] << 8) | b[o + 7];
  into.version = 4;
  into.headerLength = headerLength;
  into.protocol = b[o + 9];
  into.srcOffset = o + 12;
  into.dstOffset = o + 16;
  into.addrLength = 4;
  into.payloadLength = totalLength - headerLength;
  into.truncated = avail < totalLength;
  into.overlong = overlong;
  into.fragment = (flagsFrag & 0x2000) !== 0 || (flagsFrag & 0x1fff) !== 0;
  return into;
}

const EXT_HOP_BY_HOP = 0;
const EXT_ROUTING = 43;
const EXT_FRAGMENT = 44;
const EXT_AH = 51;
const EXT_DEST_OPTS = 60;
const EXT_MOBILITY = 135;

/**
 * IPv6 (RFC 8200), walking the extension header chain to the upper layer. A payload length
 * past the frame's original end is malformed, as for IPv4 (see decodeIpv4).
 */
export function decodeIpv6(b: Uint8Array, base = 0, into: IpLayer = emptyIpLayer(), end = b.length, wireEnd = Infinity): IpResult {
  const avail = end - base;
  if (avail < 40) return { error: `IPv6 header cut short (${avail} of 40 bytes)` };
  if (b[base] >> 4 !== 6) return { error: `IPv6 header has version ${b[base] >> 4}` };
  let payloadLength = (b[base + 4] << 8) | b[base + 5];
  if (payloadLength === 0) payloadLength = avail - 40; // jumbogram or offload: trust the capture
  const onWire = Math.max(wireEnd, end) - base - 40;
  let overlong = 0;
  if (payloadLength > onWire) {
    overlong = payloadLength;
    payloadLength = onWire;
  }
  let next = b[base + 6];
  let o = 40;
  let fragment = false;
  for (;;) {
    if (next === EXT_HOP_BY_HOP || next === EXT_ROUTING || next === EXT_DEST_OPTS || next === EXT_MOBILITY) {
      if (avail < o + 2) return { error: 'IPv6 extension header cut short' };
      const len = (b[base + o + 1] + 1) * 8;
      next = b[base + o];
      o += len;
    } else if (next === EXT_FRAGMENT) {
      if (avail < o + 8) return { error: 'IPv6 fragment header cut short' };
      const off = ((b[base + o + 2] << 8) | b[base + o + 3]) >> 3;
      const more = (b[base + o + 3] & 1) !== 0;
      fragment = off !== 0 || more;
      next = b[base + o];
      o += 8;
    } else if (next === EXT_AH) {
      if (avail < o + 2) return { error: 'IPv6 authentication header cut short' };
      const len = (b[base + o + 1] + 2) * 4;
      next = b[base + o];
      o += len;
    } else break;
    if (o - 40 > payloadLength) return { error: 'IPv6 extension headers run past the payload length' };
  }
  // ESP (50) and No Next Header (59) end the chain: nothing above IP can be read.
  if (avail < o) return { error: 'IPv6 extension headers cut short' };
  into.version = 6;
  into.headerLength = o;
  into.protocol = next;
  into.srcOffset = base + 8;
  into.dstOffset = base + 24;
  into.addrLength = 16;
  into.payloadLength = payloadLength - (o - 40);
  into.truncated = avail < 40 + payloadLength;
  into.overlong = overlong;
  into.fragment = fragment;
  return into;
}

/** The source or destination address of a decoded header, as a view (for display). */
export function ipAddress(b: Uint8Array, ip: IpLayer, which: 'src' | 'dst'): Uint8Array {
  const o = which === 'src' ? ip.srcOffset : ip.dstOffset;
  return b.subarray(o, o + ip.addrLength);
}

/** Dotted quad, or RFC 5952 text for IPv6 (zero run compressed, lower case). */
export function formatIp(a: Uint8Array): string {
  if (a.length === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((a[i] << 8) | a[i + 1]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** host:port, with brackets around an IPv6 address. */
export function formatEndpoint(a: Uint8Array, port: number): string {
  return a.length === 4 ? `${formatIp(a)}:${port}` : `[${formatIp(a)}]:${port}`;
}
