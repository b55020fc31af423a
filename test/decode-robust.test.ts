import { describe, expect, test } from 'vitest';
import { LINKTYPE, type Packet } from '../src/capture/types.js';
import { decodeIpv4, decodeIpv6 } from '../src/decode/ip.js';
import { decodePacket } from '../src/decode/packet.js';
import { analyze, messages } from './helpers/synth.js';
import { overlongIp } from './helpers/tcp-hostile.js';

/*
 * Issue 19.4: an IP length past the frame on the wire is malformed, not a snap-length cut.
 * A cut frame's record says how long the frame was (orig_len); a length beyond that was never
 * on the wire. Counting it made App Bytes 654,990 of a 1,192-byte capture, the link and
 * network overhead negative, and the requests after the first vanish into an imaginary hole.
 */

const h = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ETH = '020000000002 020000000001 0800';
// IPv4, total length 0xffff, TCP to port 80 with a 20-byte header, then 4 payload bytes "abcd".
const IP_OVERLONG = '45 00 ffff 0001 4000 40 06 0000 0a000001 0a000002';
const TCP = 'c350 0050 00000001 00000001 5018 ffff 0000 0000';
const PAYLOAD = '61626364';

function packet(data: Uint8Array, originalLength = data.length): Packet {
  return { frame: 7, tsSec: 0, tsNsec: 0, capturedLength: data.length, originalLength, linkType: LINKTYPE.ETHERNET, data };
}

describe('an IP length past the frame', () => {
  test('IPv4: the frame decides the payload, with the problem named', () => {
    const frame = h(ETH + IP_OVERLONG + TCP + PAYLOAD); // 14 + 20 + 20 + 4 = 58 bytes
    const d = decodePacket(packet(frame));
    expect(d.kind).toBe('tcp');
    if (d.kind !== 'tcp') return;
    expect(d.payloadLength).toBe(4);
    expect(Buffer.from(d.payload).toString()).toBe('abcd');
    expect(d.linkNetBytes).toBe(34); // Ethernet 14 + IPv4 20: never negative
    expect(d.ip.truncated).toBe(false);
    expect(d.problem).toBe("malformed IPv4 header: total length 65535 runs past the frame (44 bytes from the IPv4 header on); the frame's bytes are counted");
  });

  test('within the original length it is still a snap-length cut', () => {
    // Declares 44 bytes, as the frame had on the wire; the record kept only 48 of 58 frame bytes.
    const whole = h(ETH + '45 00 002c 0001 4000 40 06 0000 0a000001 0a000002' + TCP + PAYLOAD);
    const d = decodePacket(packet(whole.subarray(0, 56), whole.length));
    expect(d).toMatchObject({ kind: 'tcp', payloadLength: 4, linkNetBytes: 34, problem: null });
    expect((d as any).payload.length).toBe(2);
    expect((d as any).ip.truncated).toBe(true);
  });

  test('both at once: cut by the snap length, and declaring more than the frame had', () => {
    // On the wire 100 bytes (86 from the IPv4 header on); 58 captured; 65535 declared.
    const d = decodePacket(packet(h(ETH + IP_OVERLONG + TCP + PAYLOAD), 100));
    expect(d).toMatchObject({ kind: 'tcp', payloadLength: 86 - 20 - 20, linkNetBytes: 34 });
    expect((d as any).ip).toMatchObject({ truncated: true, overlong: 65535 });
    expect((d as any).problem).toMatch(/total length 65535 runs past the frame \(86 bytes from the IPv4 header on\)/);
  });

  test('IPv6: a payload length past the frame, likewise', () => {
    const ip6 = `60000000 ffff 06 40 ${'fd00'.padEnd(30, '0')}01 ${'fd00'.padEnd(30, '0')}02`;
    const frame = h('020000000002 020000000001 86dd' + ip6 + TCP + PAYLOAD);
    const d = decodePacket(packet(frame));
    expect(d).toMatchObject({ kind: 'tcp', payloadLength: 4, linkNetBytes: 54 });
    expect((d as any).problem).toBe("malformed IPv6 header: payload length 65535 runs past the frame (24 bytes after the IPv6 header); the frame's bytes are counted");
  });

  test('the header decoders alone, without the original length, trust the header as before', () => {
    const bytes = h(IP_OVERLONG + TCP + PAYLOAD);
    expect(decodeIpv4(bytes)).toMatchObject({ payloadLength: 65515, truncated: true, overlong: 0 });
    expect(decodeIpv4(bytes, 0, undefined, bytes.length, bytes.length)).toMatchObject({ payloadLength: 24, truncated: false, overlong: 65535 });
    const ip6 = h(`60000000 0100 06 40 ${'00'.repeat(32)}` + TCP);
    expect(decodeIpv6(ip6, 0, undefined, ip6.length, ip6.length)).toMatchObject({ payloadLength: 20, overlong: 256 });
  });
});

describe('the audit capture: requests whose IP length says 65535', () => {
  for (const version of [4, 6] as const) {
    test(`IPv${version}: figures from the frames, every request found, one warning per frame`, async () => {
      const packets = overlongIp(version, 10);
      const c = await analyze(packets);
      // Each frame is Ethernet + IP + a 20-byte TCP header + payload; the payloads are the
      // ten requests "GET /rN HTTP/1.1\r\nHost: x\r\n\r\n" (29 bytes) and ten 27-byte 204s.
      const ipHeader = version === 4 ? 20 : 40;
      const frameBytes = packets.reduce((n, p) => n + p.data.length, 0);
      expect(c.overall.frameBytes).toBe(frameBytes);
      expect(c.overall.appBytes).toBe(10 * 29 + 10 * 27);
      expect(c.linkNetBytes).toBe(packets.length * (14 + ipHeader));
      expect(c.overall.frameBytes).toBe(c.linkNetBytes + c.overall.tcpBytes + c.overall.appBytes);
      expect(messages(c, 'http-request').map((m: any) => m.target)).toEqual([...Array(10).keys()].map((i) => `/r${i}`));
      expect(messages(c, 'http-response')).toHaveLength(10);
      // The client's requests are frames 4, 7, ..., 31 (three packets per exchange after the handshake).
      const malformed = c.warnings.filter((w: any) => w.message.startsWith(`malformed IPv${version} header`));
      expect(malformed.map((w: any) => w.frame)).toEqual([...Array(10).keys()].map((i) => 4 + 3 * i));
      expect(c.warnings.some((w: any) => /snap length|not captured/.test(w.message))).toBe(false);
      expect(c.reassembly.gaps).toBe(0);
    });
  }
});
