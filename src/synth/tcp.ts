import { LINKTYPE } from '../capture/types.js';
import type { OutPacket } from '../capture/writer.js';

/**
 * Builds the packets of scripted TCP conversations, byte-exact, for tests, fixtures and the
 * benchmark generator. Not part of the analysis flow.
 */

export type Link = 'ethernet' | 'sll' | 'sll2' | 'null' | 'raw';

export const LINK_TYPES: Record<Link, number> = {
  ethernet: LINKTYPE.ETHERNET,
  sll: LINKTYPE.LINUX_SLL,
  sll2: LINKTYPE.LINUX_SLL2,
  null: LINKTYPE.NULL,
  raw: LINKTYPE.RAW,
};

export interface Endpoint {
  ip: string;
  port: number;
}

export interface SessionOptions {
  client: Endpoint;
  server: Endpoint;
  link?: Link;
  /** Start time, epoch seconds. */
  start?: number;
  /** Largest payload per segment when send() splits. */
  mss?: number;
  /** TCP timestamps option on every segment (12 bytes, as Linux sends). */
  timestamps?: boolean;
  clientIsn?: number;
  serverIsn?: number;
  vlan?: number;
  /** Receives each packet as it is made, instead of keeping them in `packets`. */
  onPacket?: (p: OutPacket) => void;
}

export type Side = 'client' | 'server';

const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

function parseIp(s: string): Uint8Array {
  if (s.includes(':')) {
    const [head, tail] = s.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail ? tail.split(':') : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    const out = new Uint8Array(16);
    groups.forEach((g, i) => { const v = parseInt(g, 16); out[2 * i] = v >> 8; out[2 * i + 1] = v & 0xff; });
    return out;
  }
  return Uint8Array.from(s.split('.').map(Number));
}

function checksum(parts: Uint8Array[]): number {
  let sum = 0;
  let odd = -1;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      if (odd < 0) odd = p[i];
      else {
        sum += (odd << 8) | p[i];
        odd = -1;
      }
    }
  }
  if (odd >= 0) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export class TcpSession {
  readonly packets: OutPacket[] = [];
  private seq: Record<Side, number>;
  /** The clock, as whole seconds and nanoseconds: a double cannot hold nanoseconds at epoch scale. */
  private sec: number;
  private nsec = 0;
  private ipId = 1;
  private tsVal = 1000;
  private readonly ips: Record<Side, Uint8Array>;
  readonly linkType: number;

  constructor(private readonly o: SessionOptions) {
    this.seq = { client: o.clientIsn ?? 0x1000, server: o.serverIsn ?? 0x8000 };
    this.sec = o.start ?? 1_700_000_000;
    this.ips = { client: parseIp(o.client.ip), server: parseIp(o.server.ip) };
    this.linkType = LINK_TYPES[o.link ?? 'ethernet'];
  }

  /** Advances the clock by `seconds`. */
  wait(seconds: number): this {
    this.nsec += Math.round(seconds * 1e9);
    this.sec += Math.floor(this.nsec / 1e9);
    this.nsec %= 1e9;
    return this;
  }

  /** Moves the clock to an absolute time, never backwards. */
  setTime(sec: number, nsec: number): this {
    if (sec > this.sec || (sec === this.sec && nsec > this.nsec)) {
      this.sec = sec;
      this.nsec = nsec;
    }
    return this;
  }

  get clock(): [number, number] {
    return [this.sec, this.nsec];
  }

  /** Seconds since the epoch (to the microsecond). */
  now(): number {
    return this.sec + this.nsec / 1e9;
  }

  handshake(): this {
    this.raw('client', this.seq.client, 0, SYN, new Uint8Array(0), { mss: true });
    this.seq.client++;
    this.wait(0.0001);
    this.raw('server', this.seq.server, this.seq.client, SYN | ACK, new Uint8Array(0), { mss: true });
    this.seq.server++;
    this.wait(0.0001);
    return this.ack('client');
  }

  /** A pure ACK from `side` of everything the other side sent. */
  ack(side: Side): this {
    this.raw(side, this.seq[side], this.seq[other(side)], ACK, new Uint8Array(0));
    this.wait(0.0001);
    return this;
  }

  /**
   * `side` sends `data`, split into segments of `split` sizes (or by mss), each in its own
   * packet; the peer ACKs the lot unless `ack` is false.
   */
  send(side: Side, data: Uint8Array | string, opts: { split?: number[]; ack?: boolean } = {}): this {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    for (const [off, len] of this.segments(bytes.length, opts.split)) {
      this.raw(side, this.seq[side], this.seq[other(side)], ACK | PSH, bytes.subarray(off, off + len));
      this.seq[side] += len;
      this.wait(0.00005);
    }
    if (opts.ack !== false) this.ack(other(side));
    return this;
  }

  /** A data segment at an explicit sequence offset from the side's next byte, not advancing it. */
  segmentAt(side: Side, relOffset: number, data: Uint8Array | string, flags = ACK | PSH): this {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    this.raw(side, (this.seq[side] + relOffset) >>> 0, this.seq[other(side)], flags, bytes);
    this.wait(0.00005);
    return this;
  }

  /** Moves the side's next sequence number on by n (bytes sent but not written). */
  advance(side: Side, n: number): this {
    this.seq[side] += n;
    return this;
  }

  close(first: Side = 'client'): this {
    const second = other(first);
    this.raw(first, this.seq[first], this.seq[second], FIN | ACK, new Uint8Array(0));
    this.seq[first]++;
    this.wait(0.0001);
    this.raw(second, this.seq[second], this.seq[first], FIN | ACK, new Uint8Array(0));
    this.seq[second]++;
    this.wait(0.0001);
    return this.ack(first);
  }

  reset(side: Side): this {
    this.raw(side, this.seq[side], 0, RST, new Uint8Array(0));
    return this;
  }

  private *segments(total: number, split?: number[]): Generator<[number, number]> {
    if (split) {
      let off = 0;
      for (const n of split) {
        if (off >= total) break;
        yield [off, Math.min(n, total - off)];
        off += n;
      }
      if (off < total) yield [off, total - off];
      return;
    }
    const mss = this.o.mss ?? 1448;
    for (let off = 0; off < total || (total === 0 && off === 0); off += mss) {
      yield [off, Math.min(mss, total - off)];
      if (total === 0) break;
    }
  }

  /** Writes one packet with explicit fields. */
  raw(side: Side, seq: number, ack: number, flags: number, payload: Uint8Array, opt: { mss?: boolean } = {}): this {
    const src = this.ips[side];
    const dst = this.ips[other(side)];
    const sport = side === 'client' ? this.o.client.port : this.o.server.port;
    const dport = side === 'client' ? this.o.server.port : this.o.client.port;
    const optLen = (opt.mss ? 4 : 0) + (this.o.timestamps ? 12 : 0);
    const tcpLen = 20 + optLen;
    const tcp = new Uint8Array(tcpLen + payload.length);
    const dv = new DataView(tcp.buffer);
    dv.setUint16(0, sport);
    dv.setUint16(2, dport);
    dv.setUint32(4, seq >>> 0);
    dv.setUint32(8, flags & ACK ? ack >>> 0 : 0);
    tcp[12] = (tcpLen / 4) << 4;
    tcp[13] = flags;
    dv.setUint16(14, 65535);
    let o = 20;
    if (opt.mss) {
      tcp.set([2, 4, 0x05, 0xb4], o);
      o += 4;
    }
    if (this.o.timestamps) {
      tcp.set([1, 1, 8, 10], o);
      dv.setUint32(o + 4, this.tsVal++);
      dv.setUint32(o + 8, this.tsVal - 2);
      o += 12;
    }
    tcp.set(payload, tcpLen);
    const v6 = src.length === 16;
    const pseudo = v6 ? new Uint8Array(40) : new Uint8Array(12);
    if (v6) {
      pseudo.set(src, 0); pseudo.set(dst, 16);
      new DataView(pseudo.buffer).setUint32(32, tcp.length);
      pseudo[39] = 6;
    } else {
      pseudo.set(src, 0); pseudo.set(dst, 4);
      pseudo[9] = 6;
      new DataView(pseudo.buffer).setUint16(10, tcp.length);
    }
    dv.setUint16(16, checksum([pseudo, tcp]));
    let ip: Uint8Array;
    if (v6) {
      ip = new Uint8Array(40);
      ip[0] = 0x60;
      new DataView(ip.buffer).setUint16(4, tcp.length);
      ip[6] = 6;
      ip[7] = 64;
      ip.set(src, 8);
      ip.set(dst, 24);
    } else {
      ip = new Uint8Array(20);
      const iv = new DataView(ip.buffer);
      ip[0] = 0x45;
      iv.setUint16(2, 20 + tcp.length);
      iv.setUint16(4, this.ipId++ & 0xffff);
      iv.setUint16(6, 0x4000);
      ip[8] = 64;
      ip[9] = 6;
      ip.set(src, 12);
      ip.set(dst, 16);
      iv.setUint16(10, checksum([ip]));
    }
    const link = this.linkHeader(v6, side);
    const frame = new Uint8Array(link.length + ip.length + tcp.length);
    frame.set(link);
    frame.set(ip, link.length);
    frame.set(tcp, link.length + ip.length);
    const out = { tsSec: this.sec, tsNsec: this.nsec, data: frame };
    if (this.o.onPacket) this.o.onPacket(out);
    else this.packets.push(out);
    return this;
  }

  private linkHeader(v6: boolean, side: Side): Uint8Array {
    const etherType = v6 ? 0x86dd : 0x0800;
    switch (this.o.link ?? 'ethernet') {
      case 'ethernet': {
        const macs = side === 'client' ? [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1] : [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if (this.o.vlan !== undefined) return Uint8Array.from([...macs, 0x81, 0x00, (this.o.vlan >> 8) & 0x0f, this.o.vlan & 0xff, etherType >> 8, etherType & 0xff]);
        return Uint8Array.from([...macs, etherType >> 8, etherType & 0xff]);
      }
      case 'sll':
        return Uint8Array.from([0, side === 'client' ? 4 : 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, etherType >> 8, etherType & 0xff]);
      case 'sll2':
        return Uint8Array.from([etherType >> 8, etherType & 0xff, 0, 0, 0, 0, 0, 1, 0, 1, side === 'client' ? 4 : 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
      case 'null':
        return Uint8Array.from(v6 ? [30, 0, 0, 0] : [2, 0, 0, 0]);
      case 'raw':
        return new Uint8Array(0);
    }
  }
}

function other(s: Side): Side {
  return s === 'client' ? 'server' : 'client';
}

/** Packets of several sessions merged into capture order (stable for equal times). */
export function merge(...sessions: TcpSession[]): OutPacket[] {
  const all = sessions.flatMap((s, si) => s.packets.map((p, i) => ({ p, si, i })));
  all.sort((a, b) => a.p.tsSec - b.p.tsSec || a.p.tsNsec - b.p.tsNsec || a.si - b.si || a.i - b.i);
  return all.map((x) => x.p);
}
