import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { LIMITS } from '../src/limits.js';
import { dissect } from './helpers/dissect.js';
import { run } from './helpers/run.js';
import { enc } from './helpers/split.js';
import { pcapFile, session } from './helpers/synth.js';

/*
 * HTTP/1 robustness (issues 18 and 19): framing by RFC 9112 §6.3, resynchronisation that
 * does not skip a message, content codings undone or said not to be, bounded request queues
 * and event data. Every expectation is the protocol's (RFC 9110, RFC 9112, WHATWG HTML
 * §9.2.6) or an arithmetic fact about the bytes sent.
 */

const cat = (...parts: Array<string | Uint8Array>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
const get = (path: string) => enc(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
const responses = (msgs: any[]) => msgs.filter((m) => m.kind === 'http-response').map((m) => [m.status, m.bodyLength, m.body ?? null]);
const requests = (msgs: any[]) => msgs.filter((m) => m.kind === 'http-request').map((m) => m.target);

describe('Content-Length by RFC 9110 §8.6 and RFC 9112 §6.3 (issue 19.2)', () => {
  const twoResponses = (cl: string) =>
    dissect([[0, get('/a')], [0, get('/b')], [1, enc(`HTTP/1.1 200 OK\r\nContent-Length: ${cl}\r\n\r\nA`)], [1, enc('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nBB')]]);

  test('a list of one value repeated is that value: no warning', () => {
    for (const cl of ['1, 1', '1,1', '1,,1']) {
      const r = twoResponses(cl);
      expect(responses(r.msgs), cl).toEqual([[200, 1, 'A'], [200, 2, 'BB']]);
      expect(r.warnings, cl).toEqual([]);
    }
  });

  test('two field lines with the same value are one value', () => {
    const r = dissect([[0, get('/a')], [1, enc('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc')]]);
    expect(responses(r.msgs)).toEqual([[200, 3, 'abc']]);
    expect(r.warnings).toEqual([]);
  });

  test('an invalid or conflicting length is an error, said once with the RFC; the next response is still read', () => {
    for (const cl of ['-1', '1, 2', 'abc', '0x10', '99999999999999999']) {
      const r = twoResponses(cl);
      // The head is a message without a body; the stray "A" is not a response; "BB" is.
      expect(responses(r.msgs), cl).toEqual([[200, 0, null], [200, 2, 'BB']]);
      expect(r.warnings[0], cl).toBe(`invalid Content-Length ${JSON.stringify(cl)}: the response body cannot be delimited (RFC 9112 §6.3); skipping to the next status line`);
      expect(r.warnings.join('\n'), cl).not.toContain('NaN');
    }
  });

  test('in a request too: the next request, on a line of its own, is read and answered', () => {
    const r = dissect([
      [0, enc('POST /a HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello\r\n')],
      [0, get('/b')],
      [1, enc('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')],
      [1, enc('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB')],
    ]);
    expect(requests(r.msgs)).toEqual(['/a', '/b']);
    expect(responses(r.msgs)).toEqual([[400, 0, null], [200, 1, 'B']]);
    expect(r.warnings[0]).toBe('invalid Content-Length "5, 6": the request body cannot be delimited (RFC 9112 §6.3); skipping to the next request line');
  });

  test('Transfer-Encoding overrides Content-Length; a request whose last coding is not chunked cannot be delimited', () => {
    const ok = dissect([[0, get('/a')], [1, enc('HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n')]]);
    expect(responses(ok.msgs)).toEqual([[200, 1, 'A']]);
    const bad = dissect([[0, enc('POST /a HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n')], [0, get('/b')]]);
    expect(requests(bad.msgs)).toEqual(['/a', '/b']);
    expect(bad.warnings[0]).toBe('Transfer-Encoding "chunked, gzip" does not end with chunked: the request body cannot be delimited (RFC 9112 §6.3); skipping to the next request line');
  });
});

describe('resynchronisation finds the next message (issue 19.6)', () => {
  test('a status line inside the 8 bytes judged not to start a response is read', () => {
    const r = dissect([[0, get('/a')], [1, enc('ab\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA')]]);
    expect(responses(r.msgs)).toEqual([[200, 1, 'A']]);
    expect(r.warnings).toEqual(['not an HTTP response at stream offset 0: skipping to the next line that starts one']);
  });

  test('a status line right after a body that did not end with a line end, in the same junk line', () => {
    const r = dissect([[0, get('/a')], [0, get('/b')], [1, enc('garbage garbage HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 204 No Content\r\n\r\n')]]);
    expect(responses(r.msgs)).toEqual([[200, 1, 'A'], [204, 0, null]]);
  });

  test('"HTTP/" inside a header line is not a status line', () => {
    const r = dissect([[0, get('/a')], [1, enc('xxxxxxxx\r\nVia: HTTP/1.1 proxy\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA')]]);
    expect(responses(r.msgs)).toEqual([[200, 1, 'A']]);
  });

  test('a request line after bytes lost where a request would start still pairs with its response', () => {
    const s = session().handshake();
    s.send('client', 'GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
    const lost = s.packets.length;
    s.send('client', 'GET /lost HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('client', 'GET /kept HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlost');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept');
    s.close();
    const packets = s.packets.filter((_p, i) => i !== lost);
    return run('--json', pcapFile(packets)).then((r) => {
      const c = JSON.parse(r.stdout).captures[0];
      const msgs = c.connections[0].messages;
      expect(requests(msgs)).toEqual(['/first', '/kept']);
      expect(responses(msgs)).toEqual([[200, 5, 'first'], [200, 4, 'lost'], [200, 4, 'kept']]);
      // The answer to the lost request is not taken for the answer to /kept: the update that
      // holds /kept holds the response "kept", not "lost".
      const frameOf = (pred: (m: any) => boolean) => msgs.find(pred).frames[0];
      const update = c.updates.find((u: any) => u.frames.includes(frameOf((m) => m.target === '/kept')));
      expect(update.frames).toContain(frameOf((m) => m.body === 'kept'));
      expect(update.frames).not.toContain(frameOf((m) => m.body === 'lost'));
    });
  });
});

describe('content codings: undone, or said not to be (issue 19.7, and gzip nested 5,000 times from issue 18)', () => {
  const response = (coding: string, body: Uint8Array) => dissect([[0, get('/a')], [1, cat(`HTTP/1.1 200 OK\r\nContent-Encoding: ${coding}\r\nContent-Length: ${body.length}\r\n\r\n`, body)]]);
  const only = (r: { msgs: any[] }) => r.msgs.find((m) => m.kind === 'http-response');

  test('codings are undone last applied first (RFC 9110 §8.4): br then gzip twice', () => {
    const body = gzipSync(gzipSync(brotliCompressSync(Buffer.from('hello'))));
    const r = response('br, gzip, gzip', body);
    expect([only(r).body, only(r).bodyDecodedLength, only(r).bodyLength]).toEqual(['hello', 5, body.length]);
    expect(r.warnings).toEqual([]);
  });

  test('a coding list the body does not match: a warning at the body\'s frame, shown as sent, not labelled decoded', () => {
    const body = gzipSync(Buffer.from('hello'));
    const r = response('gzip, gzip, br', body);
    const m = only(r);
    expect(m.bodyDecodedLength).toBeUndefined();
    expect(m.bodyNotDecoded).toMatch(/^does not decode \(/);
    expect(m.bodyHex ?? m.body).toBeDefined();
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^gzip, gzip, br body does not decode \(.*\) \(br, coding 3 of 3\): shown as sent$/);
  });

  test('a body past the inflation cap: said with the cap, at the frame that ended it, shown as sent', () => {
    const body = gzipSync(Buffer.alloc(LIMITS.inflatedBytesPerMessage + 1, 0x61));
    const frames: number[] = [];
    const r = dissect([[0, get('/a')], [1, enc(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${body.length}\r\n\r\n`)], [1, body]]);
    const m = only(r);
    frames.push(...m.frames);
    expect(frames).toEqual([2, 3]);
    expect(m.bodyDecodedLength).toBeUndefined();
    expect(m.bodyNotDecoded).toBe(`inflates beyond ${LIMITS.inflatedBytesPerMessage} bytes`);
    expect(r.warnings).toEqual([`gzip body inflates beyond ${LIMITS.inflatedBytesPerMessage} bytes: shown as sent`]);
  });

  test('more codings than LIMITS.encodingDepth: one refusal, no inflation', () => {
    let body: Buffer = Buffer.from('deep');
    const n = 5000;
    for (let i = 0; i < 50; i++) body = gzipSync(body, { level: 1 });
    const r = response(Array(n).fill('gzip').join(', '), body);
    expect(only(r).bodyNotDecoded).toBe(`${n} codings, more than ${LIMITS.encodingDepth}`);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(new RegExp(`names ${n} codings, more than the ${LIMITS.encodingDepth} sockstat undoes: body shown as sent$`));
  });

  test('a coding sockstat does not know: said once per connection', () => {
    const r = dissect([
      [0, get('/a')],
      [0, get('/b')],
      [1, enc('HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\nContent-Length: 3\r\n\r\nabc')],
      [1, enc('HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\nContent-Length: 3\r\n\r\ndef')],
    ]);
    expect(r.msgs.filter((m: any) => m.kind === 'http-response').map((m: any) => [m.body, m.bodyNotDecoded])).toEqual([['abc', 'compress is not decoded'], ['def', 'compress is not decoded']]);
    expect(r.warnings).toEqual(['content coding "compress" is not one sockstat decodes: such bodies are shown as sent']);
  });

  test('a body larger than what is kept is not decoded, and says why', () => {
    const body = gzipSync(Buffer.from(Array.from({ length: 40_000 }, (_, i) => String(i * 7919)).join(',')));
    expect(body.length).toBeGreaterThan(LIMITS.keptBytesPerMessage);
    const m = only(response('gzip', body));
    expect([m.bodyTruncated, m.bodyDecodedLength, m.bodyNotDecoded]).toEqual([true, undefined, `only its first ${LIMITS.keptBytesPerMessage} bytes were kept`]);
  });
});

describe('bounded state (issue 18)', () => {
  test(`more than LIMITS.unansweredRequests pipelined requests: counted, said once, the responses still pair in order`, () => {
    const n = LIMITS.unansweredRequests + 10;
    const reqs = cat(...Array.from({ length: n }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`));
    const res = cat(...Array.from({ length: n }, (_, i) => `HTTP/1.1 200 OK\r\nContent-Length: ${String(i).length}\r\n\r\n${i}`));
    const r = dissect([[0, reqs], [1, res]]);
    expect(requests(r.msgs)).toHaveLength(n);
    expect(responses(r.msgs).map((x) => x[2])).toEqual(Array.from({ length: n }, (_, i) => String(i)));
    expect(r.warnings).toEqual([`more than ${LIMITS.unansweredRequests} HTTP requests wait for their responses: later ones are counted, not kept (a response to a HEAD or an Upgrade among them is read as if to a GET)`]);
  });

  const events = (body: string | Uint8Array) => dissect([[0, enc('GET /ev HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n')], [1, cat('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n', body)]]);

  test('data lines that no blank line dispatches: no event, and the end says so (WHATWG HTML §9.2.6)', () => {
    const r = events('data: a\n\ndata: b\ndata: c\n');
    expect(r.msgs.filter((m: any) => m.kind === 'sse-event').map((m: any) => m.data)).toEqual(['a']);
    expect(r.warnings).toEqual(['event stream ended inside an event with 2 bytes of data that no blank line dispatched: not an event']);
  });

  test('event data past LIMITS.sseEventData: its beginning kept, all of it counted, the event marked', () => {
    const line = `data: ${'x'.repeat(1000)}\n`;
    const lines = Math.ceil(LIMITS.sseEventData / 1001) + 10;
    const r = events(`${line.repeat(lines)}\n`);
    const e = r.msgs.find((m: any) => m.kind === 'sse-event') as any;
    expect(e.dataTruncated).toBe(true);
    expect(e.data.length).toBeLessThanOrEqual(LIMITS.sseEventData);
    expect(e.wire.useful).toBe(1000 * lines);
    expect(r.warnings).toEqual([`SSE event data longer than ${LIMITS.sseEventData} bytes: the rest of this event is counted, not kept`]);
  });
});

describe('a skipped head lets go of its bytes (issue 19.8)', () => {
  test('the request after a head past LIMITS.httpHead prints with its own head text', async () => {
    const s = session().handshake();
    s.send('client', `GET /big HTTP/1.1\r\nX-Big: ${'z'.repeat(LIMITS.httpHead + 1000)}\r\n\r\n`);
    s.send('client', 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbig');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext');
    s.close();
    const r = await run('--payloads', pcapFile(s.packets));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('GET /next HTTP/1.1');
    expect(r.stdout).not.toContain('zzzzzzzz');
  });
});

describe('SSE event times (issue 13.3)', () => {
  test("an event's time is that of the frame whose blank line dispatched it, not of bytes before it", async () => {
    const s = session().handshake();
    s.send('client', 'GET /ev HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n');
    s.wait(1);
    s.send('server', 'retry: 100\n\n'); // a block without data: no event
    s.wait(1);
    const second = s.packets.length + 1;
    s.send('server', 'data: one\n');
    s.wait(1);
    const third = s.packets.length + 1;
    s.send('server', '\n'); // the blank line that dispatches "one"
    s.close('server');
    const t0 = s.packets[0].tsSec + s.packets[0].tsNsec / 1e9;
    const at = (frame: number) => Math.round((s.packets[frame - 1].tsSec + s.packets[frame - 1].tsNsec / 1e9 - t0) * 1e6) / 1e6;
    const r = await run('--json', pcapFile(s.packets));
    const event = JSON.parse(r.stdout).captures[0].connections[0].messages.find((m: any) => m.kind === 'sse-event');
    expect(event.data).toBe('one');
    expect(event.frames).toContain(second);
    expect(event.frames).toContain(third);
    expect(Math.round(event.time * 1e6) / 1e6).toBe(at(third));
  });
});
