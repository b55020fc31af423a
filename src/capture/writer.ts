import { LINKTYPE } from './types.js';

/** A record to write. */
export interface OutPacket {
  tsSec: number;
  tsNsec: number;
  data: Uint8Array;
  /** Length on the wire, when the record is cut (defaults to data.length). */
  originalLength?: number;
  /** pcapng only: the interface it was captured on. */
  interfaceId?: number;
}

export interface PcapOptions {
  linkType?: number;
  nanosecond?: boolean;
  bigEndian?: boolean;
  snapLength?: number;
}

/**
 * Classic pcap, written record by record so that large files stream. Used by the tests and
 * the benchmark generator; sockstat itself never writes captures.
 */
export class PcapWriter {
  constructor(private readonly o: PcapOptions = {}) {}

  header(): Buffer {
    const b = Buffer.alloc(24);
    const w32 = (v: number, at: number) => (this.o.bigEndian ? b.writeUInt32BE(v, at) : b.writeUInt32LE(v, at));
    const w16 = (v: number, at: number) => (this.o.bigEndian ? b.writeUInt16BE(v, at) : b.writeUInt16LE(v, at));
    w32(this.o.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
    w16(2, 4);
    w16(4, 6);
    w32(0, 8);
    w32(0, 12);
    w32(this.o.snapLength ?? 262144, 16);
    w32(this.o.linkType ?? LINKTYPE.ETHERNET, 20);
    return b;
  }

  record(p: OutPacket): Buffer {
    const b = Buffer.alloc(16 + p.data.length);
    const w32 = (v: number, at: number) => (this.o.bigEndian ? b.writeUInt32BE(v, at) : b.writeUInt32LE(v, at));
    w32(p.tsSec, 0);
    w32(this.o.nanosecond ? p.tsNsec : Math.floor(p.tsNsec / 1000), 4);
    w32(p.data.length, 8);
    w32(p.originalLength ?? p.data.length, 12);
    b.set(p.data, 16);
    return b;
  }
}

export function writePcap(packets: OutPacket[], o: PcapOptions = {}): Buffer {
  const w = new PcapWriter(o);
  return Buffer.concat([w.header(), ...packets.map((p) => w.record(p))]);
}

export interface PcapngInterface {
  linkType: number;
  snapLength?: number;
  /** if_tsresol: 6 = microseconds (the default), 9 = nanoseconds; 0x80|n = 2^-n. */
  tsresol?: number;
  comment?: string;
}

export interface PcapngOptions {
  interfaces?: PcapngInterface[];
  bigEndian?: boolean;
  comment?: string;
  /** Decryption Secrets Blocks (pcapng §4.7), each written before the packet of that index. */
  secrets?: Array<{ beforePacket: number; secretsType: number; data: Uint8Array }>;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** pcapng with one section: SHB, one IDB per interface, then an EPB per packet. */
export function writePcapng(packets: OutPacket[], o: PcapngOptions = {}): Buffer {
  const le = !o.bigEndian;
  const blocks: Buffer[] = [];
  const options = (opts: Array<[number, Buffer]>): Buffer => {
    if (opts.length === 0) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    for (const [code, v] of [...opts, [0, Buffer.alloc(0)] as [number, Buffer]]) {
      const h = Buffer.alloc(4);
      if (le) { h.writeUInt16LE(code, 0); h.writeUInt16LE(v.length, 2); } else { h.writeUInt16BE(code, 0); h.writeUInt16BE(v.length, 2); }
      parts.push(h, v, Buffer.alloc(pad4(v.length) - v.length));
    }
    return Buffer.concat(parts);
  };
  const block = (type: number, body: Buffer) => {
    const len = 12 + body.length;
    const b = Buffer.alloc(len);
    if (le) { b.writeUInt32LE(type, 0); b.writeUInt32LE(len, 4); b.writeUInt32LE(len, len - 4); } else { b.writeUInt32BE(type, 0); b.writeUInt32BE(len, 4); b.writeUInt32BE(len, len - 4); }
    body.copy(b, 8);
    blocks.push(b);
  };
  const shb = Buffer.alloc(16);
  if (le) { shb.writeUInt32LE(0x1a2b3c4d, 0); shb.writeUInt16LE(1, 4); shb.writeUInt16LE(0, 6); } else { shb.writeUInt32BE(0x1a2b3c4d, 0); shb.writeUInt16BE(1, 4); shb.writeUInt16BE(0, 6); }
  shb.writeBigInt64LE(-1n, 8);
  block(0x0a0d0d0a, Buffer.concat([shb, options(o.comment ? [[1, Buffer.from(o.comment)]] : [])]));
  const ifaces = o.interfaces ?? [{ linkType: LINKTYPE.ETHERNET }];
  const ticks: bigint[] = [];
  for (const i of ifaces) {
    const b = Buffer.alloc(8);
    if (le) { b.writeUInt16LE(i.linkType, 0); b.writeUInt32LE(i.snapLength ?? 262144, 4); } else { b.writeUInt16BE(i.linkType, 0); b.writeUInt32BE(i.snapLength ?? 262144, 4); }
    const opts: Array<[number, Buffer]> = [];
    if (i.comment) opts.push([1, Buffer.from(i.comment)]);
    if (i.tsresol !== undefined) opts.push([9, Buffer.from([i.tsresol])]);
    const r = i.tsresol ?? 6;
    ticks.push(r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r));
    block(1, Buffer.concat([b, options(opts)]));
  }
  const dsb = (s: { secretsType: number; data: Uint8Array }) => {
    const b = Buffer.alloc(8 + pad4(s.data.length));
    if (le) { b.writeUInt32LE(s.secretsType, 0); b.writeUInt32LE(s.data.length, 4); } else { b.writeUInt32BE(s.secretsType, 0); b.writeUInt32BE(s.data.length, 4); }
    b.set(s.data, 8);
    block(0x0000000a, b);
  };
  packets.forEach((p, index) => {
    for (const s of o.secrets ?? []) if (s.beforePacket === index) dsb(s);
    const id = p.interfaceId ?? 0;
    const t = BigInt(p.tsSec) * ticks[id] + (BigInt(p.tsNsec) * ticks[id]) / 1_000_000_000n;
    const b = Buffer.alloc(20 + pad4(p.data.length));
    const w = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
    w(id, 0);
    w(Number(t >> 32n), 4);
    w(Number(t & 0xffffffffn), 8);
    w(p.data.length, 12);
    w(p.originalLength ?? p.data.length, 16);
    b.set(p.data, 20);
    block(6, b);
  });
  return Buffer.concat(blocks);
}
