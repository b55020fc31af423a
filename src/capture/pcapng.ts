import { LIMITS } from '../limits.js';
import { keepComment, readerWork, type CaptureInfo, type CaptureResult, type CaptureSink } from './types.js';

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_OPB = 0x00000002; // obsolete Packet Block, still written by old tools
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;
/** Decryption Secrets Block (pcapng spec §4.7): what editcap --inject-secrets writes, before the packets it unlocks. */
const BT_DSB = 0x0000000a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;

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
 *
 * Blocks are read in place in the chunk that holds them; one cut by a chunk boundary is copied
 * once into a buffer of its own length. A block longer than LIMITS.captureBlock is skipped with
 * a warning, its bytes counted off as they come. At most LIMITS.pcapngInterfaces interfaces are
 * kept per section and LIMITS.commentsKept comments per file: what is past them is counted.
 */
export async function readPcapng(chunks: AsyncIterable<Buffer>, sink: CaptureSink): Promise<CaptureResult> {
  const info: CaptureInfo = { format: 'pcapng', linkTypes: [], snapLength: 0, comments: [], commentsNotKept: 0, packetsSkipped: 0 };
  const linkTypesSeen = new Set<number>();
  let bytesRead = 0;
  /** The opening of a block (12 bytes), or a skipped block's trailing length (4), being gathered across chunks. */
  const head = Buffer.alloc(12);
  let headFill = 0;
  let gathering: 0 | 4 | 12 = 0;
  let headAt = 0;
  /** A block cut by a chunk boundary, allocated to its length; its bytes so far; its file offset. */
  let blk = null as Buffer | null;
  let blkFill = 0;
  let blkAt = 0;
  /** Bytes still to pass over (before its trailing length) of a block too long to hold. */
  let skip = 0;
  let skipLength = 0;
  let skipAt = 0;
  /** Interface descriptions seen in this section, kept or not: a packet's interface ID indexes them. */
  let described = 0;
  let interfacesNotKept = 0;
  let overLimitPackets = 0;
  let unknownInterfacePackets = 0;
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

  /**
   * A packet block on interface `id`, which is not kept: counted and skipped, with one warning
   * for the first of each kind (a count of them all comes at the end). Returns the warning for
   * the next frame, or null.
   */
  const notKept = (id: number, neverDescribed: string): string | null => {
    info.packetsSkipped++;
    if (id < described) {
      // Past the limit, but described: a frame Wireshark would show, so it keeps its number.
      frame++;
      if (++overLimitPackets === 1) sink.warning(frame, 'capture-interface-limit', `packet on interface ${id}, past the ${LIMITS.pcapngInterfaces} interfaces kept: skipped`);
      return null;
    }
    return ++unknownInterfacePackets === 1 ? neverDescribed : null;
  };

  /** Parses one whole block at b[0, len). Returns an error message or null. */
  const block = (b: Buffer, type: number, len: number): string | null => {
    if (type === BT_IDB) {
      if (len < 20) return 'interface description block too short';
      described++;
      if (interfaces.length >= LIMITS.pcapngInterfaces) {
        // Ten million interfaces once took 1.5 GB: past the limit they are only counted.
        if (++interfacesNotKept === 1) {
          sink.warning(null, 'capture-interface-limit', `more than ${LIMITS.pcapngInterfaces} interface descriptions in a section: those past it are not kept, and packets on them are skipped`);
        }
        return null;
      }
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
          keepComment(info, LIMITS.commentsKept, v);
        }
      });
      interfaces.push(iface);
      if (!linkTypesSeen.has(iface.linkType)) {
        linkTypesSeen.add(iface.linkType);
        info.linkTypes.push(iface.linkType);
      }
      info.snapLength = Math.max(info.snapLength, iface.snapLength);
      return null;
    }
    if (type === BT_EPB) {
      if (len < 32) return 'enhanced packet block too short';
      const id = u32(b, 8);
      const iface = interfaces[id];
      if (!iface) return notKept(id, `packet block names interface ${id}, which was never described`);
      const capLen = u32(b, 20);
      if (28 + capLen > len - 4) return `packet block of ${len} bytes claims ${capLen} captured bytes`;
      emit(iface, u32(b, 12), u32(b, 16), capLen, u32(b, 24), b.subarray(28, 28 + capLen));
      return null;
    }
    if (type === BT_SPB) {
      if (len < 16) return 'simple packet block too short';
      const iface = interfaces[0];
      if (!iface) return notKept(0, 'simple packet block before any interface description');
      const origLen = u32(b, 8);
      let capLen = Math.min(origLen, len - 16);
      if (iface.snapLength > 0) capLen = Math.min(capLen, iface.snapLength);
      // A simple packet block has no timestamp: it keeps the epoch, as Wireshark shows it.
      emit(iface, 0, 0, capLen, origLen, b.subarray(12, 12 + capLen));
      return null;
    }
    if (type === BT_OPB) {
      if (len < 32) return 'packet block too short';
      const id = u16(b, 8);
      const iface = interfaces[id];
      if (!iface) return notKept(id, `packet block names interface ${id}, which was never described`);
      const capLen = u32(b, 20);
      if (28 + capLen > len - 4) return `packet block of ${len} bytes claims ${capLen} captured bytes`;
      emit(iface, u32(b, 12), u32(b, 16), capLen, u32(b, 24), b.subarray(28, 28 + capLen));
      return null;
    }
    if (type === BT_DSB) {
      if (len < 20) return 'decryption secrets block too short';
      const secretsLength = u32(b, 12);
      if (16 + secretsLength > len - 4) return `decryption secrets block of ${len} bytes claims ${secretsLength} bytes of secrets`;
      sink.secrets?.(u32(b, 8), b.subarray(16, 16 + secretsLength));
      return null;
    }
    return null; // name resolution, statistics, custom and unknown blocks: skipped
  };

  /**
   * Reads the 12 bytes that open a block at b[pos] (file offset `at`): a section header sets
   * the byte order first, since its own length is written in it. Returns the block's length,
   * or -1 with `error` set. Looking twice at the same header changes nothing.
   */
  const header = (b: Buffer, pos: number, at: number): number => {
    if (b.readUInt32LE(pos) === BT_SHB) {
      // The section header decides the byte order of everything up to the next one.
      const magic = b.readUInt32LE(pos + 8);
      if (magic === BYTE_ORDER_MAGIC) le = true;
      else if (magic === 0x4d3c2b1a) le = false;
      else {
        error = `bad pcapng byte-order magic at offset ${at}`;
        return -1;
      }
      sawSection = true;
      interfaces = [];
      described = 0;
    } else if (!sawSection) {
      error = 'pcapng file does not start with a section header block';
      return -1;
    }
    const len = u32(b, pos + 4);
    if (len < 12 || len % 4 !== 0) {
      error = `block at offset ${at} has an impossible length ${len}: the file is corrupt from here`;
      return -1;
    }
    return len;
  };

  /** A whole block at b[0, len), file offset `at`. */
  const whole = (b: Buffer, at: number): void => {
    const len = b.length;
    if (u32(b, len - 4) !== len) {
      error = `block at offset ${at}: trailing length does not match ${len}: the file is corrupt from here`;
      return;
    }
    const type = u32(b, 0);
    if (type === BT_SHB) {
      if (b.length >= 28) {
        eachOption(b, 24, len - 4, (code, v) => {
          if (code === OPT_COMMENT) keepComment(info, LIMITS.commentsKept, v);
        });
      }
    } else {
      const e = block(b, type, len);
      if (e !== null) sink.warning(frame + 1, 'capture-block-malformed', e);
    }
  };

  /** Hands on every whole block in b from pos that fits in place; returns where the first other one starts. */
  const blocks = (b: Buffer, pos: number, chunkAt: number): number => {
    while (b.length - pos >= 12) {
      const len = header(b, pos, chunkAt + pos);
      if (len < 0 || len > LIMITS.captureBlock || b.length - pos < len) break;
      whole(b.subarray(pos, pos + len), chunkAt + pos);
      if (error !== null) break;
      pos += len;
    }
    return pos;
  };

  /** The 12 bytes that open a block not whole in its chunk are at h[pos]: hold the block, or skip it. */
  const open = (h: Buffer, pos: number, at: number): void => {
    const len = header(h, pos, at);
    if (len < 0) return;
    if (len > LIMITS.captureBlock) {
      const type = u32(h, pos);
      if (type === BT_EPB || type === BT_SPB || type === BT_OPB) {
        frame++;
        info.packetsSkipped++;
        sink.warning(frame, 'capture-record-too-large', `packet block of ${len} bytes is larger than the ${LIMITS.captureBlock} bytes a block may have here: skipped`);
      } else {
        sink.warning(null, 'capture-record-too-large', `block of type 0x${type.toString(16).padStart(8, '0')} at offset ${at}, of ${len} bytes, is larger than the ${LIMITS.captureBlock} bytes a block may have here: skipped`);
      }
      // The trailing length is still checked, from the last 4 bytes.
      skip = len - 16;
      skipLength = len;
      skipAt = at;
      if (skip === 0) gathering = 4;
      return;
    }
    blk = Buffer.allocUnsafeSlow(len);
    if (len > readerWork.largestHeld) readerWork.largestHeld = len;
    h.copy(blk, 0, pos, pos + 12);
    readerWork.copiedBytes += 12;
    blkFill = 12;
    blkAt = at;
    if (len === 12) {
      blk = null;
      whole(h.subarray(pos, pos + 12), at);
    }
  };

  for await (const chunk of chunks) {
    const chunkAt = bytesRead;
    bytesRead += chunk.length;
    const end = chunk.length;
    let pos = 0;
    // Each pass hands on blocks in place or moves the cut block at hand forward: every byte of
    // the chunk is looked at (and copied, if at all) once (issue 18: a 60 MiB block rebuilt
    // with Buffer.concat on every chunk took 70 s).
    while (pos < end && error === null) {
      if (skip > 0) {
        const take = Math.min(skip, end - pos);
        skip -= take;
        pos += take;
        if (skip === 0) {
          gathering = 4;
          headFill = 0;
        }
      } else if (blk !== null) {
        const take = Math.min(blk.length - blkFill, end - pos);
        chunk.copy(blk, blkFill, pos, pos + take);
        readerWork.copiedBytes += take;
        blkFill += take;
        pos += take;
        if (blkFill === blk.length) {
          const b: Buffer = blk;
          blk = null;
          whole(b, blkAt);
        }
      } else if (gathering > 0) {
        const take = Math.min(gathering - headFill, end - pos);
        chunk.copy(head, headFill, pos, pos + take);
        readerWork.copiedBytes += take;
        headFill += take;
        pos += take;
        if (headFill < gathering) break;
        const what = gathering;
        gathering = 0;
        headFill = 0;
        if (what === 12) open(head, 0, headAt);
        else if (u32(head, 0) !== skipLength) {
          error = `block at offset ${skipAt}: trailing length does not match ${skipLength}: the file is corrupt from here`;
        }
      } else {
        pos = blocks(chunk, pos, chunkAt);
        if (error !== null) break;
        const left = end - pos;
        if (left === 0) break;
        if (left < 12) {
          // A block's opening cut by the chunk boundary: gathered in head.
          chunk.copy(head, 0, pos, end);
          readerWork.copiedBytes += left;
          headFill = left;
          gathering = 12;
          headAt = chunkAt + pos;
          break;
        }
        open(chunk, pos, chunkAt + pos);
        pos += 12;
      }
    }
    const wait = sink.drain?.();
    if (wait) await wait;
  }
  if (unknownInterfacePackets > 1) {
    sink.warning(null, 'capture-interface-limit', `${unknownInterfacePackets} packet blocks in all named an interface that was never described: skipped`);
  }
  if (interfacesNotKept > 0) {
    sink.warning(null, 'capture-interface-limit', `${interfacesNotKept} interface description${interfacesNotKept === 1 ? '' : 's'} in all past the ${LIMITS.pcapngInterfaces} kept per section: not kept`);
  }
  if (overLimitPackets > 1) {
    sink.warning(null, 'capture-interface-limit', `${overLimitPackets} packets in all on interfaces past the ${LIMITS.pcapngInterfaces} kept: skipped`);
  }
  let endedEarly = false;
  if (error === null) {
    endedEarly = true;
    if (bytesRead < 12) error = `file is too short for a pcapng section header (${bytesRead} bytes)`;
    else if (blk !== null || gathering === 12) {
      const rest = blk !== null ? blkFill : headFill;
      error = `file is cut off: ${rest} byte${rest === 1 ? '' : 's'} of an incomplete block after frame ${frame}`;
    } else if (skip > 0 || gathering === 4) {
      error = `file is cut off: ${skipLength - 4 - skip + (gathering === 4 ? headFill : 0)} of the ${skipLength} bytes of the block at offset ${skipAt} (skipped)`;
    } else endedEarly = false;
  }
  return { info, packets: frame, bytesRead, error, endedEarly };
}
