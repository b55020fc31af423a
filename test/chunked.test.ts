import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ChunkedDecoder } from '../src/dissect/chunked.js';
import { enc, forEachSplit } from './helpers/split.js';

function decode(parts: Uint8Array[]) {
  const body: number[] = [];
  const events: string[] = [];
  let rest = 0;
  const d = new ChunkedDecoder({
    data: (b) => body.push(...b),
    chunkEnd: (o) => events.push(`end@${o}`),
    done: (o) => events.push(`done@${o}`),
    error: (m, o) => events.push(`error@${o}: ${m}`),
  });
  let offset = 0;
  for (const p of parts) {
    const used = d.feed(p, offset);
    rest += p.length - used;
    offset += p.length;
  }
  return { body: Buffer.from(body).toString('latin1'), events, framing: d.framing, rest, d };
}

describe('chunked transfer coding (RFC 9112 §7.1)', () => {
  const wire = enc('1c\r\ndata: {"time": "11:42:14"}\n\n\r\n4;name=value\r\nabcd\r\n0\r\nExpires: never\r\n\r\nNEXT');

  test('size lines, extensions, trailers and the last chunk, split anywhere', () => {
    forEachSplit(wire, (parts, label) => {
      const r = decode(parts);
      expect(r.body, label).toBe('data: {"time": "11:42:14"}\n\nabcd');
      expect(r.events, label).toEqual(['end@34', 'end@54', 'done@75']);
      expect(r.rest, label).toBe(4); // "NEXT" follows the body
      expect(r.framing, label).toBe(75 - 32);
      expect(r.d.extensions).toEqual(['name=value']);
      expect(r.d.trailers).toEqual(['Expires: never']);
    });
  });

  test('any chunking of a body decodes to the same body (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (body, sizes, feeds) => {
        const parts: string[] = [];
        for (let off = 0, i = 0; off < body.length; i++) {
          const n = Math.min(sizes[i % sizes.length], body.length - off);
          parts.push(n.toString(16) + '\r\n' + Buffer.from(body.subarray(off, off + n)).toString('latin1') + '\r\n');
          off += n;
        }
        const w = Buffer.from(parts.join('') + '0\r\n\r\n', 'latin1');
        const pieces: Uint8Array[] = [];
        for (let off = 0, i = 0; off < w.length; i++) {
          pieces.push(w.subarray(off, off + feeds[i % feeds.length]));
          off += feeds[i % feeds.length];
        }
        const r = decode(pieces);
        expect(Buffer.from(r.body, 'latin1')).toEqual(Buffer.from(body));
        expect(r.events[r.events.length - 1]).toBe(`done@${w.length}`);
      }),
    );
  });

  test('bare LF line ends are accepted', () => {
    expect(decode([enc('3\nabc\n0\n\n')]).body).toBe('abc');
  });

  test('an invalid chunk size is an error with its offset, not an exception', () => {
    expect(decode([enc('zz\r\nabc')]).events).toEqual(['error@4: invalid chunk size "zz"']);
    expect(decode([enc('3\r\nabcX')]).events).toEqual(['error@6: chunk data is not followed by CRLF']);
    expect(decode([enc('fffffffffffffff\r\n')]).events[0]).toMatch(/^error@17: invalid chunk size/);
  });
});
