import type { Packet } from '../capture/types.js';
import { decodeIpv4, decodeIpv6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, type IpLayer } from './ip.js';
import { decodeLink, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './link.js';
import { decodeTcp, type TcpHeader } from './tcp.js';

/** A packet decoded down to its TCP payload. All byte fields are views into the packet. */
export interface TcpPacket {
  kind: 'tcp';
  ip: IpLayer;
  tcp: TcpHeader;
  /** Bytes of link + network headers (and trailing link padding): what is neither TCP header nor payload. */
  linkNetBytes: number;
  /** TCP payload bytes the IP header declares, captured or not. */
  payloadLength: number;
  /** The captured part of the payload; shorter than payloadLength when the snap length cut it. */
  payload: Uint8Array;
}

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

export function decodePacket(p: Packet): DecodedPacket {
  const link = decodeLink(p.linkType, p.data);
  if ('error' in link) return { kind: 'other', what: 'undecodable link layer', problem: link.error };
  const net = p.data.subarray(link.headerLength);
  let ip;
  if (link.etherType === ETHERTYPE_IPV4) ip = decodeIpv4(net);
  else if (link.etherType === ETHERTYPE_IPV6) ip = decodeIpv6(net);
  else if (link.etherType === ETHERTYPE_ARP) return { kind: 'other', what: 'ARP' };
  else if (link.etherType < 0) return { kind: 'other', what: 'non-IP' };
  else return { kind: 'other', what: `EtherType 0x${link.etherType.toString(16).padStart(4, '0')}` };
  if ('error' in ip) return { kind: 'other', what: 'malformed IP', problem: ip.error };
  const v = ip.version === 4 ? 'IPv4' : 'IPv6';
  if (ip.fragment) return { kind: 'other', what: `${v} fragment`, problem: `${v} fragment: not reassembled` };
  if (ip.protocol !== IPPROTO_TCP) return { kind: 'other', what: `${v} ${PROTO_NAMES[ip.protocol] ?? `protocol ${ip.protocol}`}` };
  const seg = net.subarray(ip.headerLength, ip.headerLength + ip.payloadLength);
  const tcp = decodeTcp(seg);
  if ('error' in tcp) return { kind: 'other', what: 'malformed TCP', problem: tcp.error };
  const payloadLength = Math.max(0, ip.payloadLength - tcp.headerLength);
  return {
    kind: 'tcp',
    ip,
    tcp,
    linkNetBytes: p.originalLength - tcp.headerLength - payloadLength,
    payloadLength,
    payload: seg.subarray(tcp.headerLength),
  };
}
