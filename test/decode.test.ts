import { describe, expect, test } from 'vitest';
import { LINKTYPE, type Packet } from '../src/capture/types.js';
import { decodeIpv4, decodeIpv6, formatIp, ipAddress } from '../src/decode/ip.js';
import { decodeEthernet, decodeLoopback, decodeSll, decodeSll2 } from '../src/decode/link.js';
import { decodePacket } from '../src/decode/packet.js';
import { decodeTcp, parseTcpOptions } from '../src/decode/tcp.js';

const h = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Frame 4 of tcpapp.pcap as `tcpdump -XX` shows it: Ethernet, IPv4 (no options), TCP with
// 12 bytes of options (NOP NOP timestamps) and the 30-byte greeting.
const ETH = '00 00 5e 00 be ef f2 3c 92 4d a0 0a 08 00';
const IP4 = '45 00 00 52 22 8b 40 00 40 06 65 c6 ac 69 fd ef 31 cf d6 2c';
const TCP = '1f 40 57 66 46 d2 6d e4 83 12 1a c5 80 18 01 fe b2 99 00 00 01 01 08 0a f0 49 a4 35 28 8e 3d 5c';
const GREETING = Buffer.from('Hello!\nServer time: 09:31:35\n\n').toString('hex');

function packet(data: Uint8Array, linkType: number = LINKTYPE.ETHERNET, originalLength = data.length): Packet {
  return { frame: 1, tsSec: 0, tsNsec: 0, capturedLength: data.length, originalLength, linkType, data };
}

describe('Ethernet', () => {
  test('reads the EtherType after the two addresses', () => {
    expect(decodeEthernet(h(ETH))).toEqual({ headerLength: 14, etherType: 0x0800, vlans: [] });
  });
  test('skips 802.1Q and 802.1ad tags, keeping their VLAN ids', () => {
    const tagged = h('ffffffffffff 020000000001 88a8 0064 8100 2005 0800');
    expect(decodeEthernet(tagged)).toEqual({ headerLength: 22, etherType: 0x0800, vlans: [100, 5] });
  });
  test('a short header is an error, not an exception', () => {
    expect(decodeEthernet(h('ffffffffffff0200'))).toEqual({ error: 'Ethernet header cut short (8 of 14 bytes)' });
    expect(decodeEthernet(h('ffffffffffff 020000000001 8100 00'))).toEqual({ error: 'VLAN tag cut short' });
  });
  test('an 802.3 length field is not an EtherType', () => {
    expect(decodeEthernet(h('ffffffffffff 020000000001 0026 aaaa03'))).toMatchObject({ etherType: -1 });
  });
});

describe('other link layers', () => {
  test('Linux cooked v1 and v2 carry the protocol at opposite ends', () => {
    expect(decodeSll(h('0000 0001 0006 020000000001 0000 86dd'))).toMatchObject({ headerLength: 16, etherType: 0x86dd });
    expect(decodeSll2(h('0800 0000 00000001 0001 04 06 020000000001 0000'))).toMatchObject({ headerLength: 20, etherType: 0x0800 });
  });
  test('BSD loopback family in host byte order (NULL) or network order (LOOP)', () => {
    expect(decodeLoopback(h('02000000'), false)).toMatchObject({ etherType: 0x0800 });
    expect(decodeLoopback(h('1e000000'), false)).toMatchObject({ etherType: 0x86dd });
    expect(decodeLoopback(h('00000002'), false)).toMatchObject({ etherType: 0x0800 }); // written on a big-endian host
    expect(decodeLoopback(h('00000018'), true)).toMatchObject({ etherType: 0x86dd });
  });
});

describe('IPv4', () => {
  test('header without options', () => {
    const bytes = h(IP4 + TCP + GREETING);
    const ip = decodeIpv4(bytes);
    expect(ip).toMatchObject({ version: 4, headerLength: 20, protocol: 6, payloadLength: 62, truncated: false, fragment: false });
    expect(formatIp(ipAddress(bytes, ip as any, 'src'))).toBe('172.105.253.239');
    expect(formatIp(ipAddress(bytes, ip as any, 'dst'))).toBe('49.207.214.44');
  });
  test('options lengthen the header (IHL 6)', () => {
    const withOptions = h('46 00 00 1c 0000 4000 40 06 0000 7f000001 7f000002 94040000 ' + '0000000000000000');
    expect(decodeIpv4(withOptions)).toMatchObject({ headerLength: 24, payloadLength: 4 });
  });
  test('short and impossible headers are errors', () => {
    expect(decodeIpv4(h('4500'))).toEqual({ error: 'IPv4 header cut short (2 of 20 bytes)' });
    expect(decodeIpv4(h('44 00 0014 0000 0000 4006 0000 7f000001 7f000001'))).toEqual({ error: 'IPv4 header length 16 is less than 20' });
    expect(decodeIpv4(h('46 00 0018 0000 0000 4006 0000 7f000001 7f000001'))).toEqual({ error: 'IPv4 options cut short (20 of 24 bytes)' });
  });
  test('fragments are flagged', () => {
    expect(decodeIpv4(h('45 00 0014 0001 2000 4006 0000 7f000001 7f000001'))).toMatchObject({ fragment: true });
    expect(decodeIpv4(h('45 00 0014 0001 0010 4006 0000 7f000001 7f000001'))).toMatchObject({ fragment: true });
  });
});

describe('IPv6', () => {
  const base = (next: string, payloadLen: number) => `60000000 ${payloadLen.toString(16).padStart(4, '0')} ${next} 40 ${'00'.repeat(15)}01 ${'00'.repeat(15)}01`;
  test('fixed header straight to TCP', () => {
    const bytes = h(base('06', 20) + '00'.repeat(20));
    const ip = decodeIpv6(bytes);
    expect(ip).toMatchObject({ version: 6, headerLength: 40, protocol: 6, payloadLength: 20 });
    expect(formatIp(ipAddress(bytes, ip as any, 'src'))).toBe('::1');
  });
  test('hop-by-hop and destination options are skipped to reach TCP', () => {
    const ext = '3c 00 0000 00000000' + '06 00 0000 00000000'; // hop-by-hop -> dest opts -> TCP
    const ip = decodeIpv6(h(base('00', 36) + ext + '00'.repeat(20)));
    expect(ip).toMatchObject({ headerLength: 56, protocol: 6, payloadLength: 20 });
  });
  test('a fragment header marks a fragment', () => {
    expect(decodeIpv6(h(base('2c', 28) + '06 00 0001 00000001' + '00'.repeat(20)))).toMatchObject({ fragment: true, protocol: 6 });
  });
});

describe('TCP', () => {
  test('ports, sequence numbers, flags, header length with options', () => {
    const t = decodeTcp(h(TCP));
    expect(t).toMatchObject({ srcPort: 8000, dstPort: 22374, seq: 0x46d26de4, ack: 0x83121ac5, headerLength: 32, flags: 0x18, window: 510 });
    expect(t).toMatchObject({ optionsOffset: 20 });
    expect(parseTcpOptions(h(TCP).subarray(20, 32))).toEqual({ timestamp: { value: 0xf049a435, echo: 0x288e3d5c } });
  });
  test('SYN options: MSS, SACK permitted, window scale', () => {
    const opts = parseTcpOptions(h('020405b4 0402 080a0000000100000000 01 030307'));
    expect(opts).toMatchObject({ mss: 1460, sackPermitted: true, windowScale: 7, timestamp: { value: 1, echo: 0 } });
  });
  test('malformed options stop the parse without throwing', () => {
    expect(parseTcpOptions(h('0204 05'))).toEqual({ malformed: true });
    expect(parseTcpOptions(h('08 ff'))).toEqual({ malformed: true });
  });
  test('decodes in place at an offset, bounded by the segment end', () => {
    const framed = h(ETH + IP4 + TCP);
    expect(decodeTcp(framed, 34)).toMatchObject({ srcPort: 8000, headerLength: 32, optionsOffset: 54 });
    expect(decodeTcp(framed, 34, 50)).toEqual({ error: 'TCP header cut short (16 of 20 bytes)' });
    expect(decodeIpv4(framed, 14)).toMatchObject({ srcOffset: 26, dstOffset: 30, payloadLength: 62, truncated: true });
  });
  test('a data offset below 5 and a short header are errors', () => {
    expect(decodeTcp(h('1f40 5766 00000000 00000000 4018 01fd 0000 0000'))).toEqual({ error: 'TCP data offset 4 is less than 5' });
    expect(decodeTcp(h('1f40 5766'))).toEqual({ error: 'TCP header cut short (4 of 20 bytes)' });
  });
});

describe('decodePacket', () => {
  test('takes TCP payload from the IPv4 total length, so Ethernet padding never counts', () => {
    // A pure ACK: 14 + 20 + 20 = 54 bytes, padded to the 60-byte Ethernet minimum.
    const ack = h(ETH + '45000028 0000 4000 4006 0000 ac69fdef 31cfd62c' + '1f40576600000001000000015010ffff00000000' + '000000000000');
    const d = decodePacket(packet(ack));
    expect(d).toMatchObject({ kind: 'tcp', payloadLength: 0, linkNetBytes: 40 });
    expect((d as any).payload.length).toBe(0);
  });
  test('Ethernet + IPv4 + TCP with options and payload', () => {
    const d = decodePacket(packet(h(ETH + IP4 + TCP + GREETING)));
    expect(d.kind).toBe('tcp');
    if (d.kind !== 'tcp') return;
    expect(d.payloadLength).toBe(30);
    expect(Buffer.from(d.payload).toString()).toBe('Hello!\nServer time: 09:31:35\n\n');
    expect(d.linkNetBytes).toBe(34);
  });
  test('a snap-length cut keeps the declared payload length', () => {
    const full = h(ETH + IP4 + TCP + GREETING);
    const d = decodePacket(packet(full.subarray(0, 70), LINKTYPE.ETHERNET, full.length));
    expect(d).toMatchObject({ kind: 'tcp', payloadLength: 30 });
    expect((d as any).payload.length).toBe(4);
    expect((d as any).ip.truncated).toBe(true);
  });
  test('what is not TCP is classified, never dropped silently', () => {
    expect(decodePacket(packet(h('ffffffffffff 020000000001 0806' + '00'.repeat(28))))).toEqual({ kind: 'other', what: 'ARP' });
    const udp = h(ETH + '45000020 0000 4000 4011 0000 7f000001 7f000001' + '0035003500080000' + '00000000');
    expect(decodePacket(packet(udp))).toEqual({ kind: 'other', what: 'IPv4 UDP' });
    expect(decodePacket(packet(h(ETH + '4500')))).toMatchObject({ kind: 'other', what: 'malformed IP' });
    expect(decodePacket(packet(h('00'), 147))).toMatchObject({ kind: 'other', problem: 'link type 147 is not supported' });
  });
  test('raw IP and VLAN-tagged frames reach TCP', () => {
    const raw = decodePacket(packet(h(IP4 + TCP + GREETING), LINKTYPE.RAW));
    expect(raw).toMatchObject({ kind: 'tcp', payloadLength: 30, linkNetBytes: 20 });
    const vlan = decodePacket(packet(h('00005e00beef f23c924da00a 8100 0064 0800' + IP4 + TCP + GREETING)));
    expect(vlan).toMatchObject({ kind: 'tcp', payloadLength: 30, linkNetBytes: 38 });
  });
});
