// The capture readers are linear and bounded on hostile input (issues 18 and 13.9). Each case
// here once cost time or memory out of proportion to the file: a record rebuilt on every
// chunk (a 64 MiB record took 90 s), every comment and interface kept (a 748 KB file ran a
// later stage out of string length; ten million interfaces took 1.5 GB), and a cut gzip
// stream lost everything read before the cut. Work is bounded by counting it (readerWork),
// never by the clock.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { beforeEach, describe, expect, test } from 'vitest';
import { LIMITS } from '../src/limits.js';
import { readStream } from '../src/capture/open.js';
import { COMMENT_KEPT_BYTES, readerWork, type CaptureResult, type Packet } from '../src/capture/types.js';
import { PcapWriter, writePcap, writePcapng, type OutPacket } from '../src/capture/writer.js';
import { run } from './helpers/run.js';
import { ajaxSession, tempFile } from './helpers/synth.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Seen {
  frame: number;
  length: number;
  sha1: string;
}

interface Read {
  packets: Seen[];
  warnings: Array<{ frame: number | null; code: string; message: string }>;
  result: CaptureResult;
}

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');

/** Reads a capture handed over in the given chunks, keeping a digest of each packet (the reader's views die with the call). */
async function read(chunks: AsyncIterable<Buffer> | Buffer[]): Promise<Read> {
  const packets: Seen[] = [];
  const warnings: Read['warnings'] = [];
  const source = Array.isArray(chunks) ? Readable.from(chunks, { objectMode: true }) : chunks;
  const result = await readStream(source, {
    packet(p: Packet) {
      packets.push({ frame: p.frame, length: p.capturedLength, sha1: sha1(p.data) });
    },
    warning(frame, code, message) {
      warnings.push({ frame, code, message });
    },
  });
  return { packets, warnings, result };
}

/** b in pieces of `size` bytes, as gunzip hands them over (16 KiB) or a file is read (256 KiB). */
function pieces(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

/** `n` bytes of a fixed 1 MiB pattern, in 1 MiB pieces of one shared buffer: a huge record costs the test nothing. */
const PATTERN = Buffer.alloc(MiB, 0x5a);
function* filler(n: number): Generator<Buffer> {
  for (; n > 0; n -= MiB) yield n >= MiB ? PATTERN : PATTERN.subarray(0, n);
}

async function* stream(...parts: Array<Buffer | Iterable<Buffer>>): AsyncGenerator<Buffer> {
  for (const p of parts) {
    if (Buffer.isBuffer(p)) yield p;
    else yield* p;
  }
}

function pcapRecordHeader(capturedLength: number, tsSec = 1): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(tsSec, 0);
  h.writeUInt32LE(capturedLength, 8);
  h.writeUInt32LE(capturedLength, 12);
  return h;
}

const small = (i: number): OutPacket => ({ tsSec: 100 + i, tsNsec: 0, data: Buffer.from(`packet ${i} `.repeat(10)) });

beforeEach(() => {
  readerWork.copiedBytes = 0;
  readerWork.largestHeld = 0;
});

describe('classic pcap: a record cut by chunk boundaries is copied once (finding 1)', () => {
  test('an 8 MiB record in 16 KiB chunks: delivered whole, each byte copied at most once', async () => {
    const w = new PcapWriter({ snapLength: 0xffffffff });
    const data = Buffer.alloc(8 * MiB);
    for (let i = 0; i < data.length; i += 4096) data[i] = i >>> 12; // not all one byte
    const file = Buffer.concat([w.header(), w.record({ tsSec: 1, tsNsec: 0, data }), w.record(small(1))]);
    const r = await read(pieces(file, 16 * KiB));
    expect(r.result.error).toBeNull();
    expect(r.warnings).toEqual([]);
    expect(r.packets).toEqual([
      { frame: 1, length: data.length, sha1: sha1(data) },
      { frame: 2, length: small(1).data.length, sha1: sha1(small(1).data) },
    ]);
    // Linear: the record's 16 + 8 MiB bytes (it spans every chunk), the 24-byte file header, and
    // at most one cut record header more; the old reader copied about 512 x 4 MiB (2 GiB).
    expect(readerWork.copiedBytes).toBeLessThanOrEqual(24 + 16 + data.length + 16 + small(1).data.length);
    expect(readerWork.largestHeld).toBe(16 + data.length);
  });

  test('records decoded in place are not copied: 256 KiB chunks copy only the records they cut', async () => {
    const packets = Array.from({ length: 3000 }, (_, i) => small(i));
    const file = writePcap(packets);
    const r = await read(pieces(file, 256 * KiB));
    expect(r.packets.length).toBe(3000);
    // Each chunk boundary cuts at most one record (16 + at most 120 bytes here).
    const cuts = Math.ceil(file.length / (256 * KiB));
    expect(readerWork.copiedBytes).toBeLessThanOrEqual(24 + cuts * (16 + 120));
  });

  test('a record of exactly LIMITS.captureBlock bytes, gzipped (the audit file): delivered', async () => {
    const size = LIMITS.captureBlock;
    const file = gzipSync(Buffer.concat([new PcapWriter({ snapLength: 0xffffffff }).header(), pcapRecordHeader(size), Buffer.alloc(size, 0x5a)]));
    const r = await read(pieces(file, 256 * KiB));
    expect(r.result.error).toBeNull();
    expect(r.packets.map((p) => [p.frame, p.length])).toEqual([[1, size]]);
    expect(readerWork.copiedBytes).toBeLessThanOrEqual(24 + 16 + size);
  });

  test('a record larger than LIMITS.captureBlock: skipped with a warning, never held, and reading goes on', async () => {
    const size = LIMITS.captureBlock + MiB + 3;
    const header = new PcapWriter({ snapLength: 0xffffffff }).header();
    const after = new PcapWriter().record(small(2));
    const r = await read(stream(header, pcapRecordHeader(size), filler(size), after));
    expect(r.result.error).toBeNull();
    expect(r.warnings).toEqual([{ frame: 1, code: 'capture-record-too-large', message: `record of ${size} bytes is larger than the ${LIMITS.captureBlock} bytes a record may have here: skipped` }]);
    expect(r.packets).toEqual([{ frame: 2, length: small(2).data.length, sha1: sha1(small(2).data) }]);
    expect(r.result.packets).toBe(2);
    expect(r.result.info.packetsSkipped).toBe(1);
    // The small record after it is one piece of its own: nothing but the file header is copied.
    expect(readerWork.largestHeld).toBeLessThan(KiB);
    expect(readerWork.copiedBytes).toBeLessThan(KiB);
  });

  test('a file cut inside a skipped record says so', async () => {
    const size = LIMITS.captureBlock + 5;
    const header = new PcapWriter({ snapLength: 0xffffffff }).header();
    const r = await read(stream(header, pcapRecordHeader(size), filler(10 * MiB)));
    expect(r.packets).toEqual([]);
    expect(r.result.error).toBe(`file is cut off: ${10 * MiB} of the ${size} bytes of record 1 (skipped)`);
  });

  test('a record longer than the snap length is still corruption, whatever the limit', async () => {
    const w = new PcapWriter({ snapLength: 65535 });
    const r = await read(stream(w.header(), w.record(small(0)), pcapRecordHeader(70000), filler(MiB)));
    expect(r.packets.length).toBe(1);
    expect(r.result.error).toBe('record 2 claims 70000 bytes, more than the snap length 65535: the file is corrupt from here');
  });
});

/** One pcapng enhanced packet block on interface 0, by hand (pcapng draft, section 4.3). */
function epbHeader(blockLength: number, capturedLength: number, interfaceId = 0): Buffer {
  const h = Buffer.alloc(28);
  h.writeUInt32LE(6, 0);
  h.writeUInt32LE(blockLength, 4);
  h.writeUInt32LE(interfaceId, 8);
  h.writeUInt32LE(capturedLength, 20);
  h.writeUInt32LE(capturedLength, 24);
  return h;
}
const u32le = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
/** Section header and one Ethernet interface, as the writer makes them. */
const ngStart = () => writePcapng([]);

describe('pcapng: a block cut by chunk boundaries is copied once (finding 2)', () => {
  test('an 8 MiB block in 16 KiB chunks: delivered whole, each byte copied at most once', async () => {
    const data = Buffer.alloc(8 * MiB);
    for (let i = 0; i < data.length; i += 4096) data[i] = i >>> 12;
    const file = writePcapng([{ tsSec: 1, tsNsec: 0, data }, small(1)]);
    const r = await read(pieces(file, 16 * KiB));
    expect(r.result.error).toBeNull();
    expect(r.packets).toEqual([
      { frame: 1, length: data.length, sha1: sha1(data) },
      { frame: 2, length: small(1).data.length, sha1: sha1(small(1).data) },
    ]);
    const blockLength = 32 + data.length;
    // The big block, plus at most one cut block opening (12 bytes) or small block per chunk boundary around it.
    expect(readerWork.copiedBytes).toBeLessThanOrEqual(blockLength + 2 * 256);
    expect(readerWork.largestHeld).toBe(blockLength);
  });

  test('a block larger than LIMITS.captureBlock: skipped with a warning, its frame number kept, never held', async () => {
    const capturedLength = LIMITS.captureBlock + MiB;
    const blockLength = 32 + capturedLength;
    const after = writePcapng([small(3)]).subarray(ngStart().length);
    const r = await read(stream(ngStart(), epbHeader(blockLength, capturedLength), filler(capturedLength), u32le(blockLength), after));
    expect(r.result.error).toBeNull();
    expect(r.warnings).toEqual([{ frame: 1, code: 'capture-record-too-large', message: `packet block of ${blockLength} bytes is larger than the ${LIMITS.captureBlock} bytes a block may have here: skipped` }]);
    expect(r.packets).toEqual([{ frame: 2, length: small(3).data.length, sha1: sha1(small(3).data) }]);
    expect(r.result.info.packetsSkipped).toBe(1);
    expect(readerWork.largestHeld).toBeLessThan(KiB);
    expect(readerWork.copiedBytes).toBeLessThan(KiB);
  });

  test("a skipped block's trailing length is still checked", async () => {
    const capturedLength = LIMITS.captureBlock + 4;
    const blockLength = 32 + capturedLength;
    const at = ngStart().length;
    const r = await read(stream(ngStart(), epbHeader(blockLength, capturedLength), filler(capturedLength), u32le(blockLength + 4), ngStart()));
    expect(r.result.error).toBe(`block at offset ${at}: trailing length does not match ${blockLength}: the file is corrupt from here`);
  });

  test('a file cut inside a skipped block says so', async () => {
    const capturedLength = LIMITS.captureBlock + 4;
    const blockLength = 32 + capturedLength;
    const r = await read(stream(ngStart(), epbHeader(blockLength, capturedLength), filler(MiB)));
    expect(r.result.error).toBe(`file is cut off: ${28 + MiB} of the ${blockLength} bytes of the block at offset ${ngStart().length} (skipped)`);
  });

  test('any chunking, either byte order: the same packets, warnings and comments as in one piece', async () => {
    const s = ajaxSession();
    const packets = [...s.packets.map((p, i) => ({ ...p, interfaceId: i % 2 })), { tsSec: 9, tsNsec: 0, data: Buffer.alloc(5000, 7) }];
    const files = [false, true].map((bigEndian) =>
      writePcapng(packets, { bigEndian, comment: 'section', interfaces: [{ linkType: 1, comment: 'eth0' }, { linkType: 1, tsresol: 9, comment: 'eth1' }] }),
    );
    const wants = await Promise.all(files.map((f) => read([f])));
    for (const w of wants) {
      expect(w.packets.length).toBe(packets.length);
      expect(w.result.info.comments).toEqual(['section', 'eth0', 'eth1']);
    }
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1 }), fc.array(fc.nat(), { maxLength: 40 }), async (which, at) => {
        const b = files[which];
        const points = [...new Set(at.map((x) => x % (b.length + 1)))].sort((x, y) => x - y);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of [...points, b.length]) {
          if (p > prev) chunks.push(b.subarray(prev, p));
          prev = p;
        }
        const got = await read(chunks);
        expect(got.result.error).toBeNull();
        expect(got.packets).toEqual(wants[which].packets);
        expect(got.result.info).toEqual(wants[which].result.info);
      }),
      { numRuns: 150 },
    );
  });

  test('a cut anywhere in the last block is reported, whatever the chunking', async () => {
    const file = writePcapng([small(1), small(2)]);
    const last = 32 + ((small(2).data.length + 3) & ~3);
    for (let keep = 1; keep < last; keep += 3) {
      const short = file.subarray(0, file.length - last + keep);
      const r = await read(pieces(short, 7));
      expect(r.packets.map((p) => p.frame)).toEqual([1]);
      expect(r.result.error).toBe(`file is cut off: ${keep} byte${keep === 1 ? '' : 's'} of an incomplete block after frame 1`);
    }
  });
});

describe('pcapng comments: the first LIMITS.commentsKept kept, each cut short; the rest counted (finding 3)', () => {
  test('a flood of long comments', async () => {
    // 'é' is two bytes in UTF-8: a cut at 1 KiB must not split one.
    const long = 'x' + 'é'.repeat(2000);
    const count = LIMITS.commentsKept + 51;
    const interfaces = Array.from({ length: count - 1 }, (_, i) => ({ linkType: 1, comment: i === 0 ? long : `interface ${i}` }));
    const file = writePcapng([], { comment: 'the section', interfaces });
    const r = await read([file]);
    expect(r.result.error).toBeNull();
    const { comments, commentsNotKept } = r.result.info;
    expect(comments.length).toBe(LIMITS.commentsKept);
    expect(commentsNotKept).toBe(count - LIMITS.commentsKept);
    expect(comments[0]).toBe('the section');
    // 1 + 2 x 511 = 1023 bytes fit in 1024; the next 'é' would not.
    expect(comments[1]).toBe(`x${'é'.repeat(511)}... (${Buffer.byteLength(long)} bytes, cut)`);
    expect(comments[2]).toBe('interface 1');
    expect(comments[LIMITS.commentsKept - 1]).toBe(`interface ${LIMITS.commentsKept - 2}`);
    for (const c of comments) expect(Buffer.byteLength(c.replace(/\.\.\. \(\d+ bytes, cut\)$/, ''))).toBeLessThanOrEqual(COMMENT_KEPT_BYTES);
  });

  test('comments in many sections count together', async () => {
    const section = writePcapng([], { comment: 'c'.repeat(3000) });
    const r = await read(Array.from({ length: 250 }, () => section));
    expect(r.result.info.comments.length).toBe(LIMITS.commentsKept);
    expect(r.result.info.commentsNotKept).toBe(150);
    expect(r.result.info.linkTypes).toEqual([1]);
  });
});

describe('pcapng interfaces: at most LIMITS.pcapngInterfaces per section (finding 4)', () => {
  test('interfaces past the limit are counted; packets on them, or on none, are skipped with one warning each', async () => {
    const limit = LIMITS.pcapngInterfaces;
    const extra = 10;
    const ifaces = Array.from({ length: limit + extra }, () => ({ linkType: 1 }));
    // The writer's blocks: section header, the interfaces, then one packet on interface 0.
    const start = writePcapng([small(0)], { interfaces: ifaces });
    const epb = writePcapng([small(0)]).subarray(ngStart().length);
    const on = (id: number) => {
      const b = Buffer.from(epb);
      b.writeUInt32LE(id, 8);
      return b;
    };
    // Frame 1 is on interface 0. Then: 3 on a described interface past the limit (frames,
    // skipped), 4 on an interface never described (not frames), 2 on interface 1 (kept).
    const tail = [on(limit + 2), on(limit), on(1), on(limit + 9), on(limit + extra + 5), on(limit + extra), on(1), on(0xffffffff), on(limit + extra + 1)];
    const r = await read([start, ...tail]);
    expect(r.result.error).toBeNull();
    expect(r.packets.map((p) => p.frame)).toEqual([1, 4, 6]);
    expect(r.result.packets).toBe(6);
    expect(r.result.info.packetsSkipped).toBe(3 + 4);
    expect(r.result.info.linkTypes).toEqual([1]);
    expect(r.warnings).toEqual([
      { frame: null, code: 'capture-interface-limit', message: `more than ${limit} interface descriptions in a section: those past it are not kept, and packets on them are skipped` },
      { frame: 2, code: 'capture-interface-limit', message: `packet on interface ${limit + 2}, past the ${limit} interfaces kept: skipped` },
      { frame: 6, code: 'capture-block-malformed', message: `packet block names interface ${limit + extra + 5}, which was never described` },
      { frame: null, code: 'capture-interface-limit', message: '4 packet blocks in all named an interface that was never described: skipped' },
      { frame: null, code: 'capture-interface-limit', message: `${extra} interface descriptions in all past the ${limit} kept per section: not kept` },
      { frame: null, code: 'capture-interface-limit', message: `3 packets in all on interfaces past the ${limit} kept: skipped` },
    ]);
  });

  test('ten million interface descriptions: none held past the limit, no warning per block', async () => {
    // 200 MB of 20-byte IDBs (the audit's file inflates to this from under 1 MB): the warning count is the only trace.
    const idb = ngStart().subarray(ngStart().readUInt32LE(4));
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => idb));
    const section = ngStart().subarray(0, ngStart().readUInt32LE(4));
    async function* source(): AsyncGenerator<Buffer> {
      yield section;
      for (let i = 0; i < 1000; i++) yield batch;
    }
    const r = await read(source());
    expect(r.result.error).toBeNull();
    expect(r.result.info.linkTypes).toEqual([1]);
    expect(r.warnings.length).toBe(2);
    expect(r.warnings[1].message).toBe(`${10_000_000 - LIMITS.pcapngInterfaces} interface descriptions in all past the ${LIMITS.pcapngInterfaces} kept per section: not kept`);
    expect(readerWork.copiedBytes).toBe(0);
  });
});

describe('a gzip-compressed capture cut short: what was read is reported, with the cut (issue 13.9)', () => {
  const packets = ajaxSession().packets;
  const plain = writePcap(packets);
  const gz = gzipSync(plain);
  /** Whole records in the bytes a cut stream still inflates to (zlib's own way to read a cut stream). */
  const wholeRecords = (cut: Buffer) => {
    const prefix = gunzipSync(cut, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    let n = 0;
    for (let pos = 24; pos + 16 <= prefix.length && pos + 16 + prefix.readUInt32LE(pos + 8) <= prefix.length; pos += 16 + prefix.readUInt32LE(pos + 8)) n++;
    return n;
  };

  test('the packets inflated before the cut are delivered, whatever the chunking; the cut is the error', async () => {
    let cuts = 0;
    for (let keep = 20; keep < gz.length - 8; keep += 37) {
      const cut = gz.subarray(0, keep);
      const n = wholeRecords(cut);
      // A pipe may hand the first bytes over alone: the rest then waits in zlib's queue as the input ends.
      for (const chunks of [[cut], [cut.subarray(0, 4), cut.subarray(4)], pieces(cut, 64)]) {
        if (gunzipSync(cut, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).length < 4) {
          // Cut before deflate's first block (its code tables) was whole: not one byte of a capture.
          await expect(read(chunks)).rejects.toThrow('gzip data is cut off (unexpected end of file)');
          continue;
        }
        const r = await read(chunks);
        expect(r.packets.length, `${keep} bytes`).toBe(n);
        expect(r.result.error).toBe(`gzip data is cut off after frame ${n} (unexpected end of file)`);
      }
      if (n > 0 && n < packets.length) cuts++;
    }
    expect(cuts).toBeGreaterThan(5);
  });

  test('the CLI prints the report and the error line, and exits 1', async () => {
    const cut = gz.subarray(0, Math.floor(gz.length * 0.8));
    const n = wholeRecords(cut);
    expect(n).toBeGreaterThan(0);
    const file = tempFile(cut, 'cut.pcap.gz');
    const r = await run(file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sockstat: ${file}: gzip data is cut off after frame ${n} (unexpected end of file)\n`);
    expect(r.stdout).toContain(`, ${n} packets`);
  });

  test('pcapng too', async () => {
    const ng = gzipSync(writePcapng(packets));
    const cut = ng.subarray(0, ng.length - 30);
    const r = await read([cut]);
    expect(r.packets.length).toBeGreaterThan(0);
    expect(r.result.error).toBe(`gzip data is cut off after frame ${r.packets.length} (unexpected end of file)`);
  });

  test('nothing inflated at all: the whole file is in error, as before', async () => {
    await expect(read([gz.subarray(0, 10)])).rejects.toThrow('gzip data is cut off (unexpected end of file)');
  });

  test("the reader's own complaint stands when it came before the cut", async () => {
    const w = new PcapWriter({ snapLength: 65535 });
    const bad = gzipSync(Buffer.concat([w.header(), w.record(small(0)), pcapRecordHeader(70000), Buffer.alloc(100_000, 1)]));
    const r = await read([bad.subarray(0, bad.length - 10)]);
    expect(r.packets.length).toBe(1);
    expect(r.result.error).toBe('record 2 claims 70000 bytes, more than the snap length 65535: the file is corrupt from here');
  });

  test('a whole gzip file: no error', async () => {
    const r = await read(pieces(gz, 100));
    expect(r.result.error).toBeNull();
    expect(r.packets.length).toBe(packets.length);
  });
});
