// sockstat reads classic pcap with a reader of its own (issue 6: pcap-parser's per-record cost
// was the analysis's whole budget). pcap-parser stays the oracle: on every classic capture
// we have, and on files cut into chunks at every kind of boundary, both must see the same
// records, field for field and byte for byte.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { readStream } from '../src/capture/open.js';
import type { Packet } from '../src/capture/types.js';
import { writePcap } from '../src/capture/writer.js';
import { HAVE_SEEDS, ROOT, SEED_DIR } from './helpers/run.js';
import { ajaxSession, session } from './helpers/synth.js';
import { pcapParserRecords } from './helpers/pcap-oracle.js';

interface Rec {
  tsSec: number;
  tsFrac: number;
  capturedLength: number;
  originalLength: number;
  hex: string;
}

/** Records as pcap-parser sees them. */
async function oracle(file: Buffer): Promise<{ linkType: number; records: Rec[] }> {
  const { linkType, records } = await pcapParserRecords(file);
  return { linkType, records: records.map((r) => ({ tsSec: r.tsSec, tsFrac: r.tsUsec, capturedLength: r.capturedLength, originalLength: r.originalLength, hex: r.data.toString('hex') })) };
}

/** Records as sockstat's reader sees them, the file handed over in the given chunks. */
async function ours(chunks: Buffer[]): Promise<{ linkType: number; records: Rec[]; error: string | null }> {
  const records: Rec[] = [];
  const head = Buffer.concat(chunks).subarray(0, 4);
  const r0 = { nsec: head.equals(Buffer.from('a1b23c4d', 'hex')) || head.equals(Buffer.from('4d3cb2a1', 'hex')) };
  const r = await readStream(Readable.from(chunks, { objectMode: true }), {
    packet(p: Packet) {
      records.push({ tsSec: p.tsSec, tsFrac: r0.nsec ? p.tsNsec : p.tsNsec / 1000, capturedLength: p.capturedLength, originalLength: p.originalLength, hex: Buffer.from(p.data).toString('hex') });
    },
    warning() {},
  });
  return { linkType: r.info.linkTypes[0], records, error: r.error };
}

function classicCaptures(): string[] {
  const dirs = [join(ROOT, 'fixtures'), join(ROOT, 'fixtures/fuzz')];
  if (HAVE_SEEDS) dirs.push(SEED_DIR);
  const files: string[] = [];
  for (const d of dirs) {
    for (const f of readdirSync(d)) {
      if (!f.endsWith('.pcap')) continue;
      const magic = readFileSync(join(d, f)).readUInt32BE(0);
      if ([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1].includes(magic)) files.push(join(d, f));
    }
  }
  return files;
}

function cut(b: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((x) => x % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, b.length]) {
    if (p > prev) out.push(b.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('the classic pcap reader agrees with pcap-parser', () => {
  test('every project fixture and seed capture, whole and in 7-byte chunks', async () => {
    const files = classicCaptures();
    expect(files.length).toBeGreaterThanOrEqual(HAVE_SEEDS ? 20 : 15);
    for (const f of files) {
      const bytes = readFileSync(f);
      const want = await oracle(bytes);
      const whole = await ours([bytes]);
      expect(whole.error, f).toBeNull();
      expect(whole.records.length, f).toBe(want.records.length);
      expect(whole.records, f).toEqual(want.records);
      expect(whole.linkType, f).toBe(want.linkType & 0x0fffffff);
      const small = await ours(cut(bytes, Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => i * 7)));
      expect(small.records, f).toEqual(want.records);
    }
  });

  test('any chunking, either byte order, either timestamp precision: the same records', async () => {
    const s = ajaxSession();
    const big = session().handshake();
    for (let i = 0; i < 40; i++) big.send('server', 'y'.repeat(1 + ((i * 997) % 3000)));
    const packets = [...s.packets, ...big.close().packets];
    const files = [
      writePcap(packets),
      writePcap(packets, { bigEndian: true }),
      writePcap(packets, { nanosecond: true }),
      writePcap(packets, { nanosecond: true, bigEndian: true, snapLength: 1500 }),
    ];
    const wants = await Promise.all(files.map(oracle));
    for (const w of wants) expect(w.records.length).toBe(packets.length);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 3 }), fc.array(fc.nat(), { maxLength: 60 }), async (which, at) => {
        const got = await ours(cut(files[which], at));
        expect(got.error).toBeNull();
        expect(got.records).toEqual(wants[which].records);
      }),
      { numRuns: 200 },
    );
  });

  test('a cut anywhere in the last record is reported, whatever the chunking', async () => {
    const file = writePcap(ajaxSession().packets);
    const want = await oracle(file);
    const lastLength = 16 + want.records[want.records.length - 1].capturedLength;
    for (let keep = 1; keep < lastLength; keep += 5) {
      const short = file.subarray(0, file.length - lastLength + keep);
      const got = await ours(cut(short, [3, 24, 40, short.length - 2]));
      expect(got.records).toEqual(want.records.slice(0, -1));
      expect(got.error).toBe(`file is cut off: ${keep} byte${keep === 1 ? '' : 's'} of an incomplete record after frame ${want.records.length - 1}`);
    }
  });
});

describe('reading a file with reads in flight', () => {
  test('a capture of many read chunks: the same analysis as from one buffer in memory', async () => {
    const { analyzeFile, analyzeStream } = await import('../src/analyze.js');
    const { tempFile } = await import('./helpers/synth.js');
    // About 1.6 MB: seven reads of 256 KiB, records cut at read boundaries, data kept in dissectors
    // (WebSocket-free plain TCP and HTTP bodies) across them.
    const s = session().handshake();
    for (let i = 0; i < 2000; i++) s.send(i % 2 ? 'server' : 'client', `${i} ${'z'.repeat(1 + ((i * 7919) % 1400))}\n`, { ack: i % 3 === 0 });
    const bytes = writePcap([...ajaxSession().packets, ...s.close().packets]);
    expect(bytes.length).toBeGreaterThan(1_500_000);
    const file = tempFile(bytes);
    const options = { collectMessages: true, keepUpdates: true, dissect: { keepBytes: true } };
    const fromFile = await analyzeFile(file, options);
    const fromMemory = await analyzeStream(file, Readable.from([bytes]), options);
    expect(fromFile.error).toBeNull();
    expect(fromFile.packets).toBe(fromMemory.packets);
    expect(JSON.stringify(fromFile)).toBe(JSON.stringify(fromMemory));
  });
});
