import { LINKTYPE } from '../capture/types.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_VLAN_OLD = 0x9100;

/** Where the network layer starts in a frame, and what it is. */
export interface LinkLayer {
  /** Bytes of link header before the network layer (VLAN tags included). */
  headerLength: number;
  /** EtherType of the network layer (0x0800, 0x86dd, ...), or -1 when the link does not say. */
  etherType: number;
  /** 802.1Q VLAN ids, outermost first. */
  vlans: number[];
}

export type LinkResult = LinkLayer | { error: string };

const NO_VLANS: number[] = [];

export function emptyLinkLayer(): LinkLayer {
  return { headerLength: 0, etherType: -1, vlans: NO_VLANS };
}

function link(into: LinkLayer, headerLength: number, etherType: number, vlans: number[]): LinkLayer {
  into.headerLength = headerLength;
  into.etherType = etherType;
  into.vlans = vlans;
  return into;
}

/*
 * Each decoder reads the frame b[start, end): a reader's buffer and an offset serve, with no
 * view made per packet. Header lengths are from start.
 */

/** Ethernet II, with any number of 802.1Q / 802.1ad tags. */
export function decodeEthernet(b: Uint8Array, into: LinkLayer = emptyLinkLayer(), start = 0, end = b.length): LinkResult {
  const length = end - start;
  if (length < 14) return { error: `Ethernet header cut short (${length} of 14 bytes)` };
  let o = 12;
  let type = (b[start + o] << 8) | b[start + o + 1];
  let vlans = NO_VLANS;
  while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_VLAN_OLD) {
    if (length < o + 6) return { error: 'VLAN tag cut short' };
    if (vlans === NO_VLANS) vlans = [];
    vlans.push(((b[start + o + 2] << 8) | b[start + o + 3]) & 0x0fff);
    o += 4;
    type = (b[start + o] << 8) | b[start + o + 1];
  }
  if (type < 0x0600) return link(into, o + 2, -1, vlans); // 802.3 length field: LLC follows
  return link(into, o + 2, type, vlans);
}

/** Linux cooked capture v1 (tcpdump -i any on older libpcap): 16 bytes, protocol last. */
export function decodeSll(b: Uint8Array, into: LinkLayer = emptyLinkLayer(), start = 0, end = b.length): LinkResult {
  if (end - start < 16) return { error: `Linux cooked header cut short (${end - start} of 16 bytes)` };
  return link(into, 16, (b[start + 14] << 8) | b[start + 15], NO_VLANS);
}

/** Linux cooked capture v2 (tcpdump -i any today): 20 bytes, protocol first. */
export function decodeSll2(b: Uint8Array, into: LinkLayer = emptyLinkLayer(), start = 0, end = b.length): LinkResult {
  if (end - start < 20) return { error: `Linux cooked v2 header cut short (${end - start} of 20 bytes)` };
  return link(into, 20, (b[start] << 8) | b[start + 1], NO_VLANS);
}

/**
 * BSD loopback: a 4-byte address family in the byte order of the machine that captured
 * (NULL), or always big-endian (LOOP). AF_INET6 differs between BSDs: 24, 28 or 30.
 */
export function decodeLoopback(b: Uint8Array, bigEndian: boolean, into: LinkLayer = emptyLinkLayer(), start = 0, end = b.length): LinkResult {
  if (end - start < 4) return { error: `loopback header cut short (${end - start} of 4 bytes)` };
  const s = start;
  let family = bigEndian
    ? ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0
    : ((b[s + 3] << 24) | (b[s + 2] << 16) | (b[s + 1] << 8) | b[s]) >>> 0;
  if (!bigEndian && family > 0xffff) family = ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0;
  const etherType = family === 2 ? ETHERTYPE_IPV4 : family === 24 || family === 28 || family === 30 ? ETHERTYPE_IPV6 : -1;
  return link(into, 4, etherType, NO_VLANS);
}

/** Raw IP: no link header; the version nibble says which IP. */
export function decodeRawIp(b: Uint8Array, into: LinkLayer = emptyLinkLayer(), start = 0, end = b.length): LinkResult {
  if (end - start < 1) return { error: 'empty raw IP packet' };
  const v = b[start] >> 4;
  return link(into, 0, v === 4 ? ETHERTYPE_IPV4 : v === 6 ? ETHERTYPE_IPV6 : -1, NO_VLANS);
}

/** Decodes into `into` when given (a hot loop reuses one), else into a new object. */
export function decodeLink(linkType: number, b: Uint8Array, into: LinkLayer = emptyLinkLayer(), start = 0, end = b.length): LinkResult {
  switch (linkType) {
    case LINKTYPE.ETHERNET: return decodeEthernet(b, into, start, end);
    case LINKTYPE.LINUX_SLL: return decodeSll(b, into, start, end);
    case LINKTYPE.LINUX_SLL2: return decodeSll2(b, into, start, end);
    case LINKTYPE.NULL: return decodeLoopback(b, false, into, start, end);
    case LINKTYPE.LOOP: return decodeLoopback(b, true, into, start, end);
    case LINKTYPE.RAW:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6: return decodeRawIp(b, into, start, end);
    default: return { error: `link type ${linkType} is not supported` };
  }
}
