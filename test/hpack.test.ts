import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { type HeaderList, HpackDecoder, HpackError } from '../src/dissect/http2/hpack.js';

/** Bytes from a hex dump as the RFC prints it (spaces and line breaks ignored). */
function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

function bytes(...parts: Array<number | string | number[]>): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') out.push(...Buffer.from(p, 'latin1'));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

/** Literal Header Field with Incremental Indexing, new name, raw strings shorter than 127 (§6.2.1). */
function literal(name: string, value: string): Uint8Array {
  return bytes(0x40, name.length, name, value.length, value);
}

/**
 * The dynamic table, newest first, read through the decoder's own API: an Indexed Header
 * Field (§6.1) reads an entry and changes nothing, so indices 62, 63, ... list the table.
 */
function entries(d: HpackDecoder): HeaderList {
  const n = d.tableLength;
  expect(n).toBeLessThan(127 - 61); // one-byte indices suffice here
  return d.decode(Uint8Array.from({ length: n }, (_, i) => 0x80 | (62 + i)));
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof HpackError) return e.code;
    throw e;
  }
  throw new Error('no HpackError thrown');
}

interface Step {
  wire: string;
  headers: HeaderList;
  /** Dynamic table after decoding, newest first, and its size, as the RFC lists them. */
  table: HeaderList;
  size: number;
}

function runSteps(d: HpackDecoder, steps: Step[]): void {
  for (const [i, s] of steps.entries()) {
    expect(d.decode(hex(s.wire)), `block ${i + 1}`).toEqual(s.headers);
    expect(d.tableSize, `table size after block ${i + 1}`).toBe(s.size);
    expect(entries(d), `table after block ${i + 1}`).toEqual(s.table);
  }
}

// Everything expected below is typed from RFC 7541 Appendix C.
describe('RFC 7541 Appendix C', () => {
  test('C.2.1 literal header field with indexing', () => {
    const d = new HpackDecoder();
    runSteps(d, [
      {
        wire: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
        headers: [['custom-key', 'custom-header']],
        table: [['custom-key', 'custom-header']],
        size: 55,
      },
    ]);
  });

  test('C.2.2 literal header field without indexing', () => {
    const d = new HpackDecoder();
    runSteps(d, [{ wire: '040c 2f73 616d 706c 652f 7061 7468', headers: [[':path', '/sample/path']], table: [], size: 0 }]);
  });

  test('C.2.3 literal header field never indexed', () => {
    const d = new HpackDecoder();
    runSteps(d, [{ wire: '1008 7061 7373 776f 7264 0673 6563 7265 74', headers: [['password', 'secret']], table: [], size: 0 }]);
  });

  test('C.2.4 indexed header field', () => {
    const d = new HpackDecoder();
    runSteps(d, [{ wire: '82', headers: [[':method', 'GET']], table: [], size: 0 }]);
  });

  const request1: HeaderList = [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ];
  const request2: HeaderList = [...request1, ['cache-control', 'no-cache']];
  const request3: HeaderList = [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ];
  const requestTables: HeaderList[] = [
    [[':authority', 'www.example.com']],
    [
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
  ];

  test('C.3 requests without Huffman coding, one context', () => {
    runSteps(new HpackDecoder(), [
      { wire: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', headers: request1, table: requestTables[0], size: 57 },
      { wire: '8286 84be 5808 6e6f 2d63 6163 6865', headers: request2, table: requestTables[1], size: 110 },
      {
        wire: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
        headers: request3,
        table: requestTables[2],
        size: 164,
      },
    ]);
  });

  test('C.4 requests with Huffman coding, one context', () => {
    runSteps(new HpackDecoder(), [
      { wire: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', headers: request1, table: requestTables[0], size: 57 },
      { wire: '8286 84be 5886 a8eb 1064 9cbf', headers: request2, table: requestTables[1], size: 110 },
      { wire: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', headers: request3, table: requestTables[2], size: 164 },
    ]);
  });

  const response1: HeaderList = [
    [':status', '302'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['location', 'https://www.example.com'],
  ];
  const response2: HeaderList = [[':status', '307'], ...response1.slice(1)];
  const response3: HeaderList = [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'],
    ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ];
  const responseTables: HeaderList[] = [
    [
      ['location', 'https://www.example.com'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['cache-control', 'private'],
      [':status', '302'],
    ],
    [
      [':status', '307'],
      ['location', 'https://www.example.com'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['cache-control', 'private'],
    ],
    [
      ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
      ['content-encoding', 'gzip'],
      ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ],
  ];

  test('C.5 responses without Huffman coding, table size 256, evictions', () => {
    runSteps(new HpackDecoder(256), [
      {
        wire: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
               2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
               6c65 2e63 6f6d`,
        headers: response1,
        table: responseTables[0],
        size: 222,
      },
      { wire: '4803 3330 37c1 c0bf', headers: response2, table: responseTables[1], size: 222 },
      {
        wire: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
               54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
               5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
               3d31`,
        headers: response3,
        table: responseTables[2],
        size: 215,
      },
    ]);
  });

  test('C.6 responses with Huffman coding, table size 256, evictions', () => {
    runSteps(new HpackDecoder(256), [
      {
        wire: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
               2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        headers: response1,
        table: responseTables[0],
        size: 222,
      },
      { wire: '4883 640e ffc1 c0bf', headers: response2, table: responseTables[1], size: 222 },
      {
        wire: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
               77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
               9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        headers: response3,
        table: responseTables[2],
        size: 215,
      },
    ]);
  });
});

// http2jp/hpack-test-case, kept in ../shared beside the checkout (never copied into the repo).
const VECTOR_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../shared/vectors/hpack-test-case');
const HAVE_VECTORS = existsSync(resolve(VECTOR_DIR, 'SOURCE.md'));
const ENCODERS = HAVE_VECTORS ? readdirSync(VECTOR_DIR, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : [];
if (!HAVE_VECTORS) {
  console.warn(`HPACK test vectors not found at ${VECTOR_DIR}: the hpack-test-case stories are skipped (CI has ../shared beside the checkout)`);
}

interface Story {
  cases: Array<{ seqno?: number; header_table_size?: number; wire: string; headers: Array<Record<string, string>> }>;
}

/**
 * Decodes every story of one encoder, each in its own context; returns the first mismatch,
 * described, or null. The JSON holds the headers as text, and its non-ASCII characters stand
 * for the UTF-8 bytes on the wire, which the decoder gives back one char per byte (latin1).
 */
function firstMismatch(encoder: string): { mismatch: string | null; stories: number; blocks: number } {
  const dir = resolve(VECTOR_DIR, encoder);
  const files = readdirSync(dir).filter((f) => /^story_\d+\.json$/.test(f)).sort();
  let blocks = 0;
  for (const file of files) {
    const story = JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as Story;
    const d = new HpackDecoder();
    for (const [i, c] of story.cases.entries()) {
      const where = `${encoder}/${file} case ${i} (seqno ${c.seqno ?? '?'})`;
      if (c.header_table_size !== undefined) d.setMaxTableSize(c.header_table_size);
      let got: HeaderList;
      try {
        got = d.decode(hex(c.wire));
      } catch (e) {
        return { mismatch: `${where}: ${e instanceof HpackError ? e.code + ': ' : ''}${(e as Error).message}`, stories: files.length, blocks };
      }
      blocks++;
      const want: HeaderList = c.headers.map((h) => {
        const [name, value] = Object.entries(h)[0];
        return [Buffer.from(name, 'utf8').toString('latin1'), Buffer.from(value, 'utf8').toString('latin1')];
      });
      if (got.length !== want.length) {
        return { mismatch: `${where}: ${got.length} headers decoded, ${want.length} expected`, stories: files.length, blocks };
      }
      for (let k = 0; k < want.length; k++) {
        if (got[k][0] !== want[k][0] || got[k][1] !== want[k][1]) {
          return { mismatch: `${where}, header ${k}: got ${JSON.stringify(got[k])}, expected ${JSON.stringify(want[k])}`, stories: files.length, blocks };
        }
      }
    }
  }
  return { mismatch: null, stories: files.length, blocks };
}

test('the HPACK test vectors are there when they are required (SOCKSTAT_REQUIRE_SEEDS=1)', () => {
  const required = process.env.SOCKSTAT_REQUIRE_SEEDS === '1';
  expect(HAVE_VECTORS || !required, `HPACK test vectors not found at ${VECTOR_DIR}`).toBe(true);
});

describe.skipIf(!HAVE_VECTORS)('hpack-test-case stories', () => {
  test('four encoders are kept', () => {
    expect(ENCODERS).toEqual(['go-hpack', 'haskell-http2-linear-huffman', 'nghttp2', 'nghttp2-change-table-size']);
  });

  for (const encoder of ENCODERS) {
    test(`every story of ${encoder} decodes to its headers`, () => {
      const r = firstMismatch(encoder);
      if (r.mismatch !== null) expect.fail(r.mismatch);
      expect(r.stories).toBeGreaterThan(0);
      expect(r.blocks).toBeGreaterThan(r.stories);
    });
  }
});

describe('malformed header blocks', () => {
  test('index 0 (§6.1)', () => {
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x80)))).toBe('hpack-bad-index');
  });

  test('an index past the static and dynamic tables (§2.3.3)', () => {
    expect(codeOf(() => new HpackDecoder().decode(bytes(0xbe)))).toBe('hpack-bad-index'); // 62, table empty
    const d = new HpackDecoder();
    d.decode(literal('k', 'v'));
    expect(d.decode(bytes(0xbe))).toEqual([['k', 'v']]);
    expect(codeOf(() => d.decode(bytes(0xbf)))).toBe('hpack-bad-index');
    // A literal's name index is checked the same way.
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x7e, 0x01, 'v')))).toBe('hpack-bad-index');
    // A large index spelled with continuation bytes: 127 + 62 + 127 * 128.
    expect(codeOf(() => new HpackDecoder().decode(bytes(0xff, 0xbe, 0xff, 0x00)))).toBe('hpack-bad-index');
  });

  test('a truncated integer (§5.1)', () => {
    expect(codeOf(() => new HpackDecoder().decode(bytes(0xff)))).toBe('hpack-truncated');
    expect(codeOf(() => new HpackDecoder().decode(bytes(0xff, 0x80)))).toBe('hpack-truncated');
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x3f)))).toBe('hpack-truncated');
  });

  test('an integer past 2^31 - 1 or with too many continuation bytes (§5.1)', () => {
    expect(codeOf(() => new HpackDecoder().decode(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0x0f)))).toBe('hpack-bad-integer');
    expect(codeOf(() => new HpackDecoder().decode(bytes(0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)))).toBe('hpack-bad-integer');
    // Redundant zero continuation bytes within the bound are still an integer: index 127 + 0.
    expect(codeOf(() => new HpackDecoder().decode(bytes(0xff, 0x80, 0x00)))).toBe('hpack-bad-index');
  });

  test('a truncated string literal (§5.2)', () => {
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x40, 0x0a, 'cust')))).toBe('hpack-truncated');
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x40)))).toBe('hpack-truncated'); // no name
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x04)))).toBe('hpack-truncated'); // :path, no value
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x04, 0x7f)))).toBe('hpack-truncated'); // length integer cut
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x04, 0x8c, 0xf1, 0xe3)))).toBe('hpack-truncated'); // Huffman, 12 announced
  });

  test('Huffman: EOS in the string, padding over 7 bits, padding not all ones (§5.2)', () => {
    // 'a' is 00011: with 3 one bits of padding it is 0x1f.
    expect(new HpackDecoder().decode(bytes(0x04, 0x81, 0x1f))).toEqual([[':path', 'a']]);
    // 30 one bits are EOS.
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x04, 0x84, 0xff, 0xff, 0xff, 0xff)))).toBe('hpack-bad-huffman');
    // EOS after a symbol: 'a' (5 bits), then EOS in the next 30 of 35 bits.
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x04, 0x85, 0x1f, 0xff, 0xff, 0xff, 0xff)))).toBe('hpack-bad-huffman');
    // 8 and 11 one bits of padding.
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x04, 0x81, 0xff)))).toBe('hpack-bad-huffman');
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x04, 0x82, 0x1f, 0xff)))).toBe('hpack-bad-huffman');
    // 'a' then 000: padding that is not a prefix of EOS.
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x04, 0x81, 0x18)))).toBe('hpack-bad-huffman');
    // The name string is checked as well as the value.
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x00, 0x81, 0x18, 0x00)))).toBe('hpack-bad-huffman');
  });

  test('a dynamic table size update above the limit (§6.3)', () => {
    // 4097 = 31 + 0x62 + 0x1f * 128.
    expect(codeOf(() => new HpackDecoder(4096).decode(bytes(0x3f, 0xe2, 0x1f)))).toBe('hpack-table-size');
    const d = new HpackDecoder(4096);
    expect(d.decode(bytes(0x3f, 0xe1, 0x1f, 0x82))).toEqual([[':method', 'GET']]); // 4096 is fine
    expect(codeOf(() => new HpackDecoder(0).decode(bytes(0x21)))).toBe('hpack-table-size');
  });

  test('a dynamic table size update after a header field (§4.2)', () => {
    expect(codeOf(() => new HpackDecoder().decode(bytes(0x82, 0x20)))).toBe('hpack-table-size');
    // Several at the start are fine.
    expect(new HpackDecoder().decode(bytes(0x20, 0x3f, 0xe1, 0x1f, 0x82))).toEqual([[':method', 'GET']]);
  });

  test('after the limit falls below the table size, the next block must open with a size update no larger than the smallest limit (§4.2)', () => {
    const d = new HpackDecoder();
    d.decode(literal('custom-key', 'custom-header'));
    d.setMaxTableSize(0);
    expect(d.tableLength).toBe(0);
    expect(codeOf(() => d.decode(bytes(0x82)))).toBe('hpack-table-size');

    const e = new HpackDecoder();
    e.setMaxTableSize(100);
    e.setMaxTableSize(4096);
    expect(codeOf(() => e.decode(bytes(0x3f, 0xe1, 0x1f, 0x82)))).toBe('hpack-table-size'); // 4096 alone skips 100

    const f = new HpackDecoder();
    f.setMaxTableSize(100);
    f.setMaxTableSize(4096);
    expect(f.decode(bytes(0x3f, 0x45, 0x3f, 0xe1, 0x1f, 0x82))).toEqual([[':method', 'GET']]); // 100, then 4096
    expect(f.decode(bytes(0x82))).toEqual([[':method', 'GET']]); // only the next block owes one

    // A raised limit asks for nothing: the encoder may keep its table as it is.
    const g = new HpackDecoder();
    g.setMaxTableSize(8192);
    expect(g.decode(bytes(0x82))).toEqual([[':method', 'GET']]);
  });

  test('a header list over the cap on name and value bytes', () => {
    expect(codeOf(() => new HpackDecoder(4096, 10).decode(literal('custom-key', 'custom-header')))).toBe('hpack-too-large');
    // ':method' + 'GET' is 10 bytes: two fit a 20-byte cap exactly, a third does not.
    expect(new HpackDecoder(4096, 20).decode(bytes(0x82, 0x82))).toHaveLength(2);
    expect(codeOf(() => new HpackDecoder(4096, 20).decode(bytes(0x82, 0x82, 0x82)))).toBe('hpack-too-large');
    // The cap is per block.
    const d = new HpackDecoder(4096, 20);
    for (let i = 0; i < 5; i++) expect(d.decode(bytes(0x82, 0x82))).toHaveLength(2);
  });

  test('after an error the decoder keeps failing', () => {
    const d = new HpackDecoder();
    expect(codeOf(() => d.decode(bytes(0x80)))).toBe('hpack-bad-index');
    expect(codeOf(() => d.decode(bytes(0x82)))).toBe('hpack-bad-index');
  });
});

describe('decoding', () => {
  test('the whole static table (Appendix A), first and last entries', () => {
    const got = new HpackDecoder().decode(Uint8Array.from({ length: 61 }, (_, i) => 0x80 | (i + 1)));
    expect(got).toHaveLength(61);
    expect(got[0]).toEqual([':authority', '']);
    expect(got[15]).toEqual(['accept-encoding', 'gzip, deflate']);
    expect(got[60]).toEqual(['www-authenticate', '']);
  });

  test('bytes come back as latin1, one char per byte, from raw and Huffman strings', () => {
    const d = new HpackDecoder();
    expect(d.decode(bytes(0x00, 0x01, 'x', 0x04, 0x00, 0xff, 0xe9, 0x80))).toEqual([['x', '\u0000\u00ff\u00e9\u0080']]);
    // Symbol 0 is the 13-bit code 1ff8: 11111111 11000 + 3 one bits of padding.
    expect(d.decode(bytes(0x00, 0x01, 'x', 0x82, 0xff, 0xc7))).toEqual([['x', '\u0000']]);
  });

  test('a string longer than 127 bytes (multi-byte length, §5.1)', () => {
    const v = 'v'.repeat(300); // 300 = 127 + 0x2d + 1 * 128
    const d = new HpackDecoder();
    expect(d.decode(bytes(0x40, 0x01, 'k', 0x7f, 0xad, 0x01, v))).toEqual([['k', v]]);
    expect(d.tableSize).toBe(1 + 300 + 32);
  });

  test('an empty block is an empty header list, and a block of size updates only is fine', () => {
    const d = new HpackDecoder();
    expect(d.decode(new Uint8Array(0))).toEqual([]);
    expect(d.decode(bytes(0x20))).toEqual([]);
  });

  test('works on a view into a larger buffer', () => {
    const big = new Uint8Array(100);
    big.set(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'), 40);
    const view = big.subarray(40, 57);
    expect(new HpackDecoder().decode(view)).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
  });
});

describe('dynamic table eviction (§4.4)', () => {
  test('adding entries to a small table evicts the oldest', () => {
    const d = new HpackDecoder(100); // room for two entries of 36
    d.decode(literal('k1', 'v1'));
    d.decode(literal('k2', 'v2'));
    expect([d.tableLength, d.tableSize]).toEqual([2, 72]);
    d.decode(literal('k3', 'v3'));
    expect([d.tableLength, d.tableSize]).toEqual([2, 72]);
    expect(entries(d)).toEqual([
      ['k3', 'v3'],
      ['k2', 'v2'],
    ]);
    // An entry of exactly the table's size evicts everything else.
    const v = 'x'.repeat(100 - 32 - 1);
    d.decode(literal('n', v));
    expect([d.tableLength, d.tableSize]).toEqual([1, 100]);
    expect(entries(d)).toEqual([['n', v]]);
  });

  test('an entry larger than the table empties it, and is still decoded', () => {
    const d = new HpackDecoder(100);
    d.decode(literal('k1', 'v1'));
    const v = 'x'.repeat(100 - 32); // 1 + 68 + 32 = 101
    expect(d.decode(literal('n', v))).toEqual([['n', v]]);
    expect([d.tableLength, d.tableSize]).toEqual([0, 0]);
    expect(codeOf(() => d.decode(bytes(0xbe)))).toBe('hpack-bad-index');
  });

  test('a new entry may name the entry its insertion evicts', () => {
    const d = new HpackDecoder(40);
    d.decode(literal('k1', 'v1')); // 36
    // Incremental indexing, name index 62 (k1), value v2.
    expect(d.decode(bytes(0x7e, 0x02, 'v2'))).toEqual([['k1', 'v2']]);
    expect(entries(d)).toEqual([['k1', 'v2']]);
  });

  test('a size update evicts down to the new size, and the table may grow again up to the limit', () => {
    const d = new HpackDecoder(200);
    for (let i = 0; i < 5; i++) d.decode(literal(`k${i}`, `v${i}`)); // 5 * 36 = 180
    expect(d.tableLength).toBe(5);
    expect(d.decode(bytes(0x3f, 0x2a))).toEqual([]); // size update to 31 + 42 = 73
    expect(entries(d)).toEqual([
      ['k4', 'v4'],
      ['k3', 'v3'],
    ]);
    d.decode(bytes(0x3f, 0xa9, 0x01)); // 31 + 41 + 128 = 200
    for (let i = 5; i < 8; i++) d.decode(literal(`k${i}`, `v${i}`));
    expect(d.tableLength).toBe(5);
    expect(entries(d)[4]).toEqual(['k3', 'v3']);
  });

  test('many entries through the ring: indices stay newest first', () => {
    const d = new HpackDecoder(36 * 50);
    for (let i = 0; i < 1000; i++) {
      const k = `k${i % 10}`;
      const v = `v${i % 10}`;
      d.decode(literal(k, v));
      expect(d.decode(bytes(0xbe))).toEqual([[k, v]]);
    }
    expect(d.tableLength).toBe(50);
    expect(d.tableSize).toBe(36 * 50);
    expect(entries(d)[49]).toEqual(['k0', 'v0']); // 1000 - 50 = 950: k0
  });
});
