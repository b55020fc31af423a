import { Readable } from 'node:stream';
export { rng } from '../../src/synth/random.js';
import { analyzeStream } from '../../src/analyze.js';
import type { KeyLog } from '../../src/dissect/tls/keylog.js';
import { CaptureError } from '../../src/capture/types.js';
import { JsonStreamWriter } from '../../src/report/jsonstream.js';
import { PayloadPrinter } from '../../src/report/payloads.js';
import { renderStats } from '../../src/report/stats.js';
import { renderSummary } from '../../src/report/summary.js';


const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 65535, 65536, 262144];
const INTERESTING_8 = [0, 1, 0x7e, 0x7f, 0x80, 0xfe, 0xff, 0x0d, 0x0a, 0x3a];

/**
 * One mutation of one or two seed inputs: bit flips, byte insertions and deletions, a
 * truncation, a splice of two inputs, interesting values written over fields, a range
 * duplicated. Most cases stack two or three mutations. The 24-byte pcap header is spared
 * half of the time, so that mutations reach the packets rather than only the file header.
 */
export function mutate(random: () => number, seeds: Uint8Array[]): Uint8Array {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  let b: Uint8Array = Uint8Array.from(pick(seeds));
  const rounds = 1 + Math.floor(random() * 3);
  for (let r = 0; r < rounds; r++) {
    const lo = random() < 0.5 ? Math.min(24, b.length) : 0;
    const at = () => lo + Math.floor(random() * Math.max(1, b.length - lo));
    switch (Math.floor(random() * 8)) {
      case 0: // bit flips
        for (let k = 1 + Math.floor(random() * 8); k > 0 && b.length > 0; k--) {
          const i = at();
          if (i < b.length) b[i] ^= 1 << Math.floor(random() * 8);
        }
        break;
      case 1: { // insert random bytes
        const i = at();
        const ins = Uint8Array.from({ length: 1 + Math.floor(random() * 16) }, () => Math.floor(random() * 256));
        b = concat(b.subarray(0, i), ins, b.subarray(i));
        break;
      }
      case 2: { // delete a range
        const i = at();
        b = concat(b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + Math.floor(random() * 32))));
        break;
      }
      case 3: // truncate
        b = b.subarray(0, at());
        break;
      case 4: { // splice two inputs
        const other = pick(seeds);
        b = concat(b.subarray(0, at()), other.subarray(Math.floor(random() * other.length)));
        break;
      }
      case 5: { // an interesting 32-bit value, either byte order
        const i = at();
        if (i + 4 <= b.length) {
          const v = pick(INTERESTING_32);
          const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
          dv.setUint32(i, v, random() < 0.5);
        }
        break;
      }
      case 6: { // interesting bytes
        for (let k = 1 + Math.floor(random() * 4); k > 0; k--) {
          const i = at();
          if (i < b.length) b[i] = pick(INTERESTING_8);
        }
        break;
      }
      case 7: { // duplicate a range
        const i = at();
        const n = Math.floor(random() * 200);
        b = concat(b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n));
        break;
      }
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Runs every stage and every output on one input. Resolves when sockstat handled it (a
 * report, or a CaptureError: a one-line refusal); rejects on anything else.
 */
export async function exercise(input: Uint8Array, keyLog?: KeyLog): Promise<void> {
  const analyze = (options: Parameters<typeof analyzeStream>[2]) =>
    analyzeStream('fuzz.pcap', Readable.from([Buffer.from(input)]), { ...options, dissect: { keepBytes: true, trace: true, maxInflatedBytes: 1 << 20, keyLog } });
  // Pass 1: the streamed --json document, which must parse, and the summary and tables.
  const pieces: Buffer[] = [];
  const writer = new JsonStreamWriter({ write: (s) => pieces.push(typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s)) });
  const text = () => Buffer.concat(pieces).toString('utf8');
  let json = '';
  let report;
  try {
    report = await analyze({
      collectMessages: true,
      keepUpdates: false,
      onMessages: (c, final) => writer.connection('fuzz.pcap', c, final),
      onUpdate: (u) => writer.update('fuzz.pcap', u),
      maxHeldMessages: 50,
    });
  } catch (e) {
    if (e instanceof CaptureError) {
      if (e.message.includes('\n')) throw new Error(`multi-line error: ${JSON.stringify(e.message)}`);
      await writer.endCapture('fuzz.pcap', null, e.message, () => undefined);
      writer.end();
      JSON.parse(text());
      return;
    }
    throw e;
  }
  // Every delivered byte claimed once, or left unclaimed: a layer that miscounts is a bug the fuzzer reports.
  if (report.bytes.mismatches !== 0) {
    const w = report.warnings.find((x) => x.code === 'accounting-mismatch');
    throw new Error(`byte accounting mismatch (${report.bytes.mismatches}): frame ${w?.frame}: ${w?.message}`);
  }
  await writer.endCapture('fuzz.pcap', report, null, () => undefined);
  writer.end();
  json = text();
  const doc = JSON.parse(json);
  if (doc.captures[0].connections.length !== report.connectionCount) throw new Error('--json lost a connection');
  // Pass 2: the payload dump, as --payloads prints it.
  let payloads = '';
  const printer = new PayloadPrinter((b) => (payloads += Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')), 50);
  await analyze({ onMessage: (c, m) => printer.message(c, m), onMessages: (c, final) => printer.connection(c, final) });
  const outputs: Record<string, string> = {
    summary: renderSummary(report, 100),
    markdown: renderStats([report], 'markdown'),
    csv: renderStats([report], 'csv'),
    json,
    payloads,
  };
  for (const [mode, out] of Object.entries(outputs)) {
    // Controls, and the bidirectional and invisible characters sanitize.ts escapes (issue 19.9).
    const m = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/.exec(out);
    if (m) throw new Error(`control character U+${m[0].charCodeAt(0).toString(16)} reached the ${mode} output: ${JSON.stringify(out.slice(Math.max(0, m.index - 60), m.index + 20))}`);
  }
}
