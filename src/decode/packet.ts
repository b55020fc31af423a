import type { Packet } from '../capture/types.js';
import { decodeIpv4, decodeIpv6, emptyIpLayer, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, type IpLayer } from './ip.js';
import { decodeLink, emptyLinkLayer, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './link.js';
import { decodeTcp, emptyTcpHeader, type TcpHeader } from './tcp.js';

/** A packet decoded down to its TCP payload. Offsets in ip and tcp are into `data`. */
export interface TcpPacket {
  kind: 'tcp';
  /** The bytes the ip and tcp offsets point into: the frame, or the reader's buffer that holds it. */
  data: Uint8Array;
  ip: IpLayer;
  tcp: TcpHeader;
  /** Bytes of link + network headers (and trailing link padding): what is neither TCP header nor payload. */
  linkNetBytes: number;
  /** TCP payload bytes the IP header declares, captured or not. */
  payloadLength: number;
  /** The captured part of the payload, a view; shorter than payloadLength when the snap length cut it. */
  payload: Uint8Array;
  /**
   * Set when the IP length ran past the frame on the wire (see decodeIpv4): what was wrong and
   * what was counted instead. Null for a sound packet.
   */
  problem: string | null;
}

const EMPTY = new Uint8Array(0);

/** A packet that carries no TCP segment sockstat can use, with why. */
export interface OtherPacket {
  kind: 'other';
  /** A short category for counting: "ARP", "IPv4 UDP", "IPv4 fragment", ... */
  what: string;
  /** Set when the packet is malformed or cut short, rather than just not TCP. */
  problem?: string;
}

export type DecodedPacket = TcpPacket | OtherPacket;

const PROTO_NAMES: Record<number, string> = { [IPPROTO_UDP]: 'UDP', [IPPROTO_ICMP]: 'ICMP', [IPPROTO_ICMPV6]: 'ICMPv6' };

/**
 * Decodes packets into one reused result: for a TCP packet, decode() returns the same object
 * (and ip, tcp objects) every time, valid until the next call. The analysis reads each
 * packet once, synchronously; three to four objects per packet were a fifth of everything
 * it allocated.
 */
export class PacketDecoder {
  private readonly link = emptyLinkLayer();
  private readonly ip = emptyIpLayer();
  private readonly tcp = emptyTcpHeader();
  private readonly out: TcpPacket = { kind: 'tcp', data: EMPTY, ip: this.ip, tcp: this.tcp, linkNetBytes: 0, payloadLength: 0, payload: EMPTY, problem: null };

  decode(p: Packet): DecodedPacket {
    // Offsets in the result are into b: the reader's buffer when it offers one.
    const b = p.buf ?? p.data;
    const start = p.buf ? p.offset! : 0;
    const end = p.buf ? start + p.capturedLength : b.length;
    const link = decodeLink(p.linkType, b, this.link, start, end);
    if ('error' in link) return { kind: 'other', what: 'undecodable link layer', problem: link.error };
    const n = start + link.headerLength;
    // Where the frame ended on the wire: a length past it is malformed, not cut by the snap length.
    const wireEnd = start + p.originalLength;
    let ip;
    if (link.etherType === ETHERTYPE_IPV4) ip = decodeIpv4(b, n, this.ip, end, wireEnd);
    else if (link.etherType === ETHERTYPE_IPV6) ip = decodeIpv6(b, n, this.ip, end, wireEnd);
    else if (link.etherType === ETHERTYPE_ARP) return { kind: 'other', what: 'ARP' };
    else if (link.etherType < 0) return { kind: 'other', what: 'non-IP' };
    else return { kind: 'other', what: `EtherType 0x${link.etherType.toString(16).padStart(4, '0')}` };
    if ('error' in ip) return { kind: 'other', what: 'malformed IP', problem: ip.error };
    const v = ip.version === 4 ? 'IPv4' : 'IPv6';
    if (ip.fragment) return { kind: 'other', what: `${v} fragment`, problem: `${v} fragment: not reassembled` };
    if (ip.protocol !== IPPROTO_TCP) return { kind: 'other', what: `${v} ${PROTO_NAMES[ip.protocol] ?? `protocol ${ip.protocol}`}` };
    const segStart = n + ip.headerLength;
    const segEnd = Math.min(end, segStart + ip.payloadLength);
    const tcp = decodeTcp(b, segStart, segEnd, this.tcp);
    if ('error' in tcp) return { kind: 'other', what: 'malformed TCP', problem: tcp.error };
    const payloadLength = Math.max(0, ip.payloadLength - tcp.headerLength);
    const payloadStart = segStart + tcp.headerLength;
    const out = this.out;
    out.data = b;
    out.linkNetBytes = p.originalLength - tcp.headerLength - payloadLength;
    out.payloadLength = payloadLength;
    // A plain Uint8Array view: cheaper to make than the Buffer view subarray() would give.
    out.payload = payloadStart < segEnd ? new Uint8Array(b.buffer, b.byteOffset + payloadStart, segEnd - payloadStart) : EMPTY;
    out.problem = ip.overlong === 0 ? null : overlongProblem(ip, v);
    return out;
  }
}

/**
 * What is counted for a length that ran past the frame: the frame is what was on the wire, so
 * its bytes after the IP (and TCP) header are the payload, whatever the header claimed. Frame
 * Bytes then still split into link and network headers, TCP header and payload, each >= 0.
 */
function overlongProblem(ip: IpLayer, v: string): string {
  // headerLength + payloadLength is the datagram as the frame holds it, for either version.
  const held = ip.headerLength + ip.payloadLength;
  const what = ip.version === 4 ? `total length ${ip.overlong} runs past the frame (${held} bytes from the IPv4 header on)` : `payload length ${ip.overlong} runs past the frame (${held - 40} bytes after the IPv6 header)`;
  return `malformed ${v} header: ${what}; the frame's bytes are counted`;
}

/** Decodes one packet into objects of its own. */
export function decodePacket(p: Packet): DecodedPacket {
  return new PacketDecoder().decode(p);
}
