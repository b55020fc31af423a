import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ascii, isAsciiLines, isPrintableAscii, TERMINAL_UNSAFE, textOf } from '../src/dissect/bytes.js';

// Bytes that are mostly printable, with now and then a byte from the edges of the range
// (controls, DEL, UTF-8 lead and continuation bytes), at any offset in a larger buffer so the
// word-at-a-time scan meets every alignment.
const edgy = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 1, arbitrary: fc.constantFrom(0x00, 0x09, 0x0a, 0x0d, 0x1f, 0x7f, 0x80, 0x9f, 0xc2, 0xe2, 0xef, 0xbb, 0xbf, 0xff) },
);
const placed = fc.record({ pre: fc.integer({ min: 0, max: 7 }), body: fc.array(edgy, { maxLength: 300 }) }).map(({ pre, body }) => {
  const b = new Uint8Array(pre + body.length + 5);
  b.set(body, pre);
  return b.subarray(pre, pre + body.length);
});

/** What textOf must answer, by its definition: valid UTF-8 and no control but TAB, CR, LF. */
function reference(b: Uint8Array): { text: string | null; plain: boolean } {
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return { text: null, plain: false };
  }
  const plain = !new RegExp(`[${TERMINAL_UNSAFE}]`).test(s);
  // Text: valid UTF-8 without NUL whose C0 controls (but TAB, LF, CR) and DEL are at most one
  // UTF-16 unit in eight (issue 13.13); counted unit by unit here, not by a pattern.
  let controls = 0;
  let nul = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) nul = true;
    if (c <= 0x08 || c === 0x0b || c === 0x0c || (c >= 0x0e && c <= 0x1f) || c === 0x7f) controls++;
  }
  return { text: plain || controls === 0 || (!nul && controls * 8 <= s.length) ? s : null, plain };
}

describe('byte scans', () => {
  test('isPrintableAscii agrees with a byte-by-byte check, at every alignment', () => {
    fc.assert(
      fc.property(placed, (b) => {
        expect(isPrintableAscii(b)).toBe(b.every((c) => c >= 0x20 && c <= 0x7e));
      }),
      { numRuns: 3000 },
    );
  });

  test('a failing byte is found in every lane of a word, first or last of a long run', () => {
    for (const bad of [0x00, 0x1f, 0x7f, 0x80, 0xff]) {
      for (let at = 0; at < 80; at++) {
        const b = new Uint8Array(80).fill(0x61);
        b[at] = bad;
        expect(isPrintableAscii(b), `0x${bad.toString(16)} at ${at}`).toBe(false);
      }
    }
    expect(isPrintableAscii(new Uint8Array(80).fill(0x7e))).toBe(true);
    expect(isPrintableAscii(new Uint8Array(80).fill(0x20))).toBe(true);
  });

  test('isAsciiLines: printable ASCII, TAB, LF and CRLF only, at every alignment', () => {
    const ok = (b: Uint8Array) => b.every((c, i) => (c >= 0x20 && c <= 0x7e) || c === 0x09 || c === 0x0a || (c === 0x0d && b[i + 1] === 0x0a));
    fc.assert(
      fc.property(placed, (b) => {
        expect(isAsciiLines(b)).toBe(ok(b));
      }),
      { numRuns: 3000 },
    );
    // A CR whose LF is the first byte past the end does not count: the view ends before it.
    const line = new TextEncoder().encode(`${'x'.repeat(70)}\r\n`);
    expect([isAsciiLines(line), isAsciiLines(line.subarray(0, 71))]).toEqual([true, false]);
  });

  test('ascii() reads every byte as the ISO-8859-1 decoder does, from any view', () => {
    const all = Uint8Array.from({ length: 260 }, (_, i) => i & 0xff);
    const latin1 = new TextDecoder('latin1');
    expect(ascii(all)).toBe(latin1.decode(all));
    expect(ascii(all.subarray(3, 200))).toBe(latin1.decode(all.subarray(3, 200)));
  });

  test('textOf decodes and judges text as its definition says, fast path or not', () => {
    fc.assert(
      fc.property(placed, (b) => {
        const plain = { plain: false };
        const text = textOf(b, plain);
        const want = reference(b);
        expect(text).toBe(want.text);
        if (text !== null) expect(plain.plain).toBe(want.plain);
      }),
      { numRuns: 3000 },
    );
    // A leading byte-order mark is not printable ASCII: the UTF-8 path takes it, and drops it.
    expect(textOf(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61))).toBe('a');
    // A line in colour is text; bytes with a NUL, or mostly controls, are not.
    expect(textOf(new TextEncoder().encode('\x1b[31mred\x1b[0m alert\n'))).toBe('\x1b[31mred\x1b[0m alert\n');
    expect(textOf(Uint8Array.of(0x61, 0x00, 0x62))).toBeNull();
    expect(textOf(Uint8Array.of(0x01, 0x02, 0x03, 0x61))).toBeNull();
  });
});

describe('payload text as bytes', () => {
  test('seconds() writes what toFixed(6) writes (whole nanoseconds, halves, any double); int() what String() writes', async () => {
    const { ByteOut } = await import('../src/report/payloads.js');
    const check = (t: number) => {
      const o = new ByteOut(16);
      o.seconds(t);
      expect(o.buf.subarray(0, o.len).toString('latin1'), `${t}`).toBe(t.toFixed(6));
    };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4e15 }), (ns) => check(Math.round(ns) / 1e9)),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4e12 }), (us) => check((us * 1000 + 500) / 1e9)),
      { numRuns: 2000 },
    );
    fc.assert(fc.property(fc.double({ noNaN: true }), check), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.constantFrom(0xffffffff, 0x100000000, 2 ** 53, -0)), (v) => {
        const o = new ByteOut(1);
        o.int(v);
        expect(o.buf.subarray(0, o.len).toString('latin1')).toBe(String(v));
      }),
      { numRuns: 3000 },
    );
    for (const t of [0, 0.0000005, 0.0000015, 0.0000025, 1.0000005, 999999.9999995, 1e6, -0.0000005, -1.5, 1e21]) check(t);
  });
});
