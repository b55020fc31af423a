import { Readable } from 'node:stream';
export { rng } from '../../src/synth/random.js';
import { analyzeStream } from '../../src/analyze.js';
import { CaptureError } from '../../src/capture/types.js';
import { captureJson } from '../../src/report/json.js';
import { PayloadPrinter } from '../../src/report/payloads.js';
import { safeJson } from '../../src/report/sanitize.js';
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
  let b = Uint8Array.from(pick(seeds));
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
export async function exercise(input: Uint8Array): Promise<void> {
  let report;
  try {
    report = await analyzeStream('fuzz.pcap', Readable.from([Buffer.from(input)]), {
      collectMessages: true,
      keepUpdates: true,
      dissect: { keepBytes: true, trace: true, maxInflatedBytes: 1 << 20 },
      onMessages: () => {},
    });
  } catch (e) {
    if (e instanceof CaptureError) {
      if (e.message.includes('\n')) throw new Error(`multi-line error: ${JSON.stringify(e.message)}`);
      return;
    }
    throw e;
  }
  const outputs: Record<string, string> = {
    summary: renderSummary(report, 100),
    markdown: renderStats([report], 'markdown'),
    csv: renderStats([report], 'csv'),
    json: safeJson(captureJson(report)),
    payloads: '',
  };
  const printer = new PayloadPrinter((s) => (outputs.payloads += s));
  for (const c of report.connections) printer.connection(c, true);
  for (const [mode, out] of Object.entries(outputs)) {
    const m = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.exec(out);
    if (m) throw new Error(`control character U+${m[0].charCodeAt(0).toString(16)} reached the ${mode} output: ${JSON.stringify(out.slice(Math.max(0, m.index - 60), m.index + 20))}`);
  }
}
