import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { SseParser, type ParsedSseEvent, type ParsedSseFields } from '../src/dissect/sse.js';
import { enc, forEachSplit } from './helpers/split.js';

function parse(parts: Uint8Array[]) {
  const events: ParsedSseEvent[] = [];
  const comments: string[] = [];
  const warnings: string[] = [];
  const fields: ParsedSseFields[] = [];
  const p = new SseParser({ event: (e) => events.push(e), fields: (f) => fields.push(f), comment: (t) => comments.push(t), warning: (_code, m) => warnings.push(m) });
  let off = 0;
  for (const b of parts) {
    p.feed(b, off);
    off += b.length;
  }
  return { events, comments, warnings, fields };
}

const simple = (events: ParsedSseEvent[]) => events.map(({ event, data, id }) => (id === undefined ? { event, data } : { event, data, id }));

describe('SSE (WHATWG HTML §9.2.6)', () => {
  test('the spec\'s stock-ticker example: multi-line data joins with LF', () => {
    const r = parse([enc('data: YHOO\ndata: +2\ndata: 10\n\n')]);
    expect(simple(r.events)).toEqual([{ event: 'message', data: 'YHOO\n+2\n10' }]);
  });

  test('a block of fields without data dispatches no event, and is reported with what it set (issue 13.3)', () => {
    const body = 'retry: 3000\n\n: beat\n\nid: 7\nevent: x\n\ndata: a\n\nbogus: 1\n\n';
    const r = parse([enc(body)]);
    expect(simple(r.events)).toEqual([{ event: 'message', data: 'a' }]);
    // A comment alone is no block of fields; an unknown field alone is one (it set nothing).
    expect(r.fields).toEqual([
      { retry: 3000, end: 'retry: 3000\n\n'.length },
      { id: '7', event: 'x', end: 'retry: 3000\n\n: beat\n\nid: 7\nevent: x\n\n'.length },
      { end: body.length },
    ]);
  });

  test('the spec\'s four-block example: comment, id, empty data, a block with no dispatch', () => {
    const r = parse([enc(': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n')]);
    expect(simple(r.events)).toEqual([
      { event: 'message', data: 'first event', id: '1' },
      { event: 'message', data: 'second event', id: '' },
    ]);
    expect(r.comments).toEqual(['test stream']);
  });

  test('the spec\'s example: "data" and "data:" give empty strings, and only one space is stripped', () => {
    const r = parse([enc('data\n\ndata\ndata\n\ndata:\n')]);
    expect(simple(r.events)).toEqual([
      { event: 'message', data: '' },
      { event: 'message', data: '\n' },
    ]);
    expect(simple(parse([enc('data:test\n\ndata: test\n\n')]).events)).toEqual([
      { event: 'message', data: 'test' },
      { event: 'message', data: 'test' },
    ]);
  });

  test('event types, retry, an id with NUL ignored, CR and CRLF line ends, a leading BOM', () => {
    const wire = enc('\ufeffevent: tick\r\nretry: 3000\rdata: a\r\nid: x\u0000y\r\n\r\nevent: add\ndata: b\n\n');
    forEachSplit(wire, (parts, label) => {
      const r = parse(parts);
      expect(r.events.map(({ event, data, id, retry }) => ({ event, data, id, retry })), label).toEqual([
        { event: 'tick', data: 'a', id: undefined, retry: 3000 },
        { event: 'add', data: 'b', id: undefined, retry: undefined },
      ]);
    });
  });

  test('event ends and data byte counts are byte positions in the body', () => {
    const body = enc('data: {"time": "11:42:14"}\n\n: ping\n\ndata: é\n\n');
    const r = parse([body]);
    expect(r.events.map((e) => [e.end, e.dataBytes])).toEqual([[28, 20], [46, 2]]);
  });

  test('invalid retry and unknown fields are warnings', () => {
    const r = parse([enc('retry: soon\nfoo: bar\ndata: x\n\n')]);
    expect(r.events.length).toBe(1);
    expect(r.warnings).toEqual(['invalid SSE retry value "soon": ignored', 'unknown SSE field "foo": ignored']);
  });

  test('agrees with eventsource-parser on any stream cut anywhere (property)', () => {
    const line = fc.oneof(
      fc.constantFrom('', ':', ': keep-alive', 'data', 'data:', 'id: 7', 'event: update', 'retry: 10', 'bogus: 1'),
      fc.string({ maxLength: 12 }).map((s) => 'data: ' + s.replace(/[\r\n]/g, '')),
      fc.string({ maxLength: 8 }).map((s) => 'event:' + s.replace(/[\r\n]/g, '')),
    );
    const eol = fc.constantFrom('\n', '\r\n', '\r');
    const stream = fc.array(fc.tuple(line, eol), { maxLength: 30 }).map((ls) => ls.map(([l, e]) => l + e).join(''));
    fc.assert(
      fc.property(stream, fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1 }), (generated, cuts) => {
        // eventsource-parser holds a CR at the very end of its input (an LF may follow in the
        // next chunk); ours ends the line at once, as the spec's CR rule says. Ending every
        // stream with a blank line makes the two comparable without hiding other differences.
        const text = generated + '\n\n';
        const expected: Array<{ event: string; data: string; id?: string }> = [];
        const oracle = createParser({ onEvent: (e) => expected.push(e.id === undefined ? { event: e.event ?? 'message', data: e.data } : { event: e.event ?? 'message', data: e.data, id: e.id }) });
        oracle.feed(text);
        const bytes = enc(text);
        const parts: Uint8Array[] = [];
        for (let off = 0, i = 0; off < bytes.length; i++) {
          parts.push(bytes.subarray(off, off + cuts[i % cuts.length]));
          off += cuts[i % cuts.length];
        }
        expect(simple(parse(parts).events)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
