import type { CaptureInfo, CaptureResult, CaptureSink } from './types.js';

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_OPB = 0x00000002; // obsolete Packet Block, still written by old tools
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
/** A block longer than this is taken as corruption rather than buffered. */
const MAX_BLOCK = 64 * 1024 * 1024;

interface Interface {
  linkType: number;
  snapLength: number;
  /** Ticks per second, as a bigint so nanosecond and finer clocks stay exact. */
  ticksPerSecond: bigint;
  /** Ticks per second when it is small enough for plain double arithmetic, else 0. */
  ticksPerSecondNum: number;
  tsOffset: number;
}

/**
 * Reads pcapng (RFC draft "PCAP Next Generation"): section headers in either byte order,
 * several interfaces each with its own link type and timestamp resolution, enhanced, simple
 * and obsolete packet blocks. Unknown blocks are skipped by their length.
 */
export async function readPcapng(chunks: AsyncIterable<Buffer>, sink: CaptureSink): Promise<CaptureResult> {
  const info: CaptureInfo = { format: 'pcapng', linkTypes: [], snapLength: 0, comments: [] };
  let buf: Buffer = Buffer.alloc(0);
  let pos = 0;
  let bytesRead = 0;
  let frame = 0;
  let error: string | null = null;
  let le = true;
  let sawSection = false;
  let interfaces: Interface[] = [];

  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));

  /** Calls fn(code, value) for each option in b[start, end). */
  const eachOption = (b: Buffer, start: number, end: number, fn: (code: number, value: Buffer) => void) => {
    let o = start;
    while (o + 4 <= end) {
      const code = u16(b, o);
      const len = u16(b, o + 2);
      if (code === OPT_ENDOFOPT) return;
      if (o + 4 + len > end) return;
      fn(code, b.subarray(o + 4, o + 4 + len));
      o += 4 + ((len + 3) & ~3);
    }
  };

  const emit = (iface: Interface, tsHigh: number, tsLow: number, capLen: number, origLen: number, data: Buffer) => {
    frame++;
    let tsSec: number;
    let tsNsec: number;
    if (iface.ticksPerSecondNum > 0) {
      const ticks = tsHigh * 4294967296 + tsLow;
      const whole = Math.floor(ticks / iface.ticksPerSecondNum);
      tsSec = whole;
      tsNsec = Math.round(((ticks - whole * iface.ticksPerSecondNum) * 1e9) / iface.ticksPerSecondNum);
    } else {
      const ticks = (BigInt(tsHigh) << 32n) | BigInt(tsLow);
      tsSec = Number(ticks / iface.ticksPerSecond);
      tsNsec = Number(((ticks % iface.ticksPerSecond) * 1_000_000_000n) / iface.ticksPerSecond);
    }
    if (origLen < capLen) origLen = capLen;
    sink.packet({
      frame,
      tsSec: tsSec + iface.tsOffset,
      tsNsec,
      capturedLength: capLen,
      originalLength: origLen,
      linkType: iface.linkType,
      data,
    });
  };

  /** Parses one whole block at b[0, len). Returns an error message or null. */
  const block = (b: Buffer, type: number, len: number): string | null => {
    if (type === BT_IDB) {
      if (len < 20) return 'interface description block too short';
      const iface: Interface = {
        linkType: u16(b, 8),
        snapLength: u32(b, 12),
        ticksPerSecond: 1_000_000n,
        ticksPerSecondNum: 1_000_000,
        tsOffset: 0,
      };
      eachOption(b, 16, len - 4, (code, v) => {
        if (code === IF_TSRESOL && v.length >= 1) {
          const r = v[0];
          const t = r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
          iface.ticksPerSecond = t;
          iface.ticksPerSecondNum = t <= 1_000_000n ? Number(t) : 0;
        } else if (code === IF_TSOFFSET && v.length >= 8) {
          iface.tsOffset = Number(le ? v.readBigInt64LE(0) : v.readBigInt64BE(0));
        } else if (code === OPT_COMMENT) {
          info.comments.push(v.toString('utf8'));
        }
      });
      interfaces.push(iface);
      info.linkTypes.push(iface.linkType);
      info.snapLength = Math.max(info.snapLength, iface.snapLength);
      return null;
    }
    if (type === BT_EPB) {
      if (len < 32) return 'enhanced packet block too short';
      const id = u32(b, 8);
      const iface = interfaces[id];
      if (!iface) return `packet block names interface ${id}, which was never described`;
      const capLen = u32(b, 20);
      if (28 + capLen > len - 4) return `packet block of ${len} bytes claims ${capLen} captured bytes`;
      emit(iface, u32(b, 12), u32(b, 16), capLen, u32(b, 24), b.subarray(28, 28 + capLen));
      return null;
    }
    if (type === BT_SPB) {
      if (len < 16) return 'simple packet block too short';
      const iface = interfaces[0];
      if (!iface) return 'simple packet block before any interface description';
      const origLen = u32(b, 8);
      let capLen = Math.min(origLen, len - 16);
      if (iface.snapLength > 0) capLen = Math.min(capLen, iface.snapLength);
      // A simple packet block has no timestamp: it keeps the epoch, as Wireshark shows it.
      emit(iface, 0, 0, capLen, origLen, b.subarray(12, 12 + capLen));
      return null;
    }
    if (type === BT_OPB) {
      if (len < 32) return 'packet block too short';
      const iface = interfaces[u16(b, 8)];
      if (!iface) return `packet block names interface ${u16(b, 8)}, which was never described`;
      const capLen = u32(b, 20);
      if (28 + capLen > len - 4) return `packet block of ${len} bytes claims ${capLen} captured bytes`;
      emit(iface, u32(b, 12), u32(b, 16), capLen, u32(b, 24), b.subarray(28, 28 + capLen));
      return null;
    }
    return null; // name resolution, statistics, custom and unknown blocks: skipped
  };

  outer: for await (const chunk of chunks) {
    bytesRead += chunk.length;
    if (error !== null) continue;
    buf = pos < buf.length ? Buffer.concat([buf.subarray(pos), chunk]) : chunk;
    pos = 0;
    while (buf.length - pos >= 12) {
      const at = bytesRead - (buf.length - pos);
      if (buf.readUInt32LE(pos) === BT_SHB) {
        // The section header decides the byte order of everything up to the next one.
        const magic = buf.readUInt32LE(pos + 8);
        if (magic === BYTE_ORDER_MAGIC) le = true;
        else if (magic === 0x4d3c2b1a) le = false;
        else {
          error = `bad pcapng byte-order magic at offset ${at}`;
          continue outer;
        }
        sawSection = true;
        interfaces = [];
      } else if (!sawSection) {
        error = 'pcapng file does not start with a section header block';
        continue outer;
      }
      const type = u32(buf, pos);
      const len = u32(buf, pos + 4);
      if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK) {
        error = `block at offset ${at} has an impossible length ${len}: the file is corrupt from here`;
        continue outer;
      }
      if (buf.length - pos < len) break;
      const b = buf.subarray(pos, pos + len);
      if (u32(b, len - 4) !== len) {
        error = `block at offset ${at}: trailing length does not match ${len}: the file is corrupt from here`;
        continue outer;
      }
      if (type === BT_SHB) {
        if (b.length >= 28) {
          eachOption(b, 24, len - 4, (code, v) => {
            if (code === OPT_COMMENT) info.comments.push(v.toString('utf8'));
          });
        }
      } else {
        const e = block(b, type, len);
        if (e !== null) sink.warning(frame + 1, e);
      }
      pos += len;
    }
    const wait = sink.drain?.();
    if (wait) await wait;
  }
  if (error === null) {
    const rest = buf.length - pos;
    if (bytesRead < 12) error = `file is too short for a pcapng section header (${bytesRead} bytes)`;
    else if (rest > 0) error = `file is cut off: ${rest} byte${rest === 1 ? '' : 's'} of an incomplete block after frame ${frame}`;
  }
  return { info, packets: frame, bytesRead, error };
}
