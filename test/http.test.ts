import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { dissect } from './helpers/dissect.js';
import { run } from './helpers/run.js';
import { enc, forEachSplit } from './helpers/split.js';
import { analyze, messages, pcapFile, session } from './helpers/synth.js';

const kinds = (msgs: any[]) => msgs.filter((m) => m.kind.startsWith('http')).map((m) => (m.kind === 'http-request' ? `${m.method} ${m.target}` : `${m.status} ${m.bodyLength}`));

describe('HTTP/1.x', () => {
  test('a response with a Content-Length body, split at every offset', () => {
    const req = enc('GET /time HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = enc('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"time":"08:04:23"}\n');
    forEachSplit(res, (parts, label) => {
      const r = dissect([[0, req], ...parts.map((p) => [1, p] as [1, Uint8Array])]);
      const m = r.msgs.find((x) => x.kind === 'http-response') as any;
      expect([m.status, m.bodyLength, m.body, m.wire.end - m.wire.start], label).toEqual([200, 20, '{"time":"08:04:23"}\n', res.length]);
      expect(m.headers, label).toEqual([['Content-Type', 'application/json'], ['Content-Length', '20']]);
      expect(r.warnings, label).toEqual([]);
    });
  });

  test('pipelined requests in one segment are answered in order', () => {
    const r = dissect([
      [0, enc('GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc')],
      [1, enc('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n')],
    ]);
    expect(kinds(r.msgs)).toEqual(['GET /a', 'HEAD /b', 'POST /c', '200 1', '200 0', '201 0']);
    expect(r.warnings).toEqual([]);
  });

  test('an HTTP/1.0 response without a length runs to the close of the connection', () => {
    const r = dissect([[0, enc('GET / HTTP/1.0\r\n\r\n')], [1, enc('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nline 1\n')], [1, enc('line 2\n')]]);
    expect(kinds(r.msgs)).toEqual(['GET /', '200 14']);
    expect((r.msgs[1] as any).body).toBe('line 1\nline 2\n');
  });

  test('100 Continue, 204 and 304 have no body', () => {
    const r = dissect([
      [0, enc('PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n')],
      [1, enc('HTTP/1.1 100 Continue\r\n\r\n')],
      [0, enc('hiGET /y HTTP/1.1\r\n\r\nGET /z HTTP/1.1\r\n\r\n')],
      [1, enc('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')],
    ]);
    const byTime = [...r.msgs].sort((a, b) => a.time - b.time);
    expect(kinds(byTime)).toEqual(['PUT /x', '100 0', 'GET /y', 'GET /z', '204 0', '304 0', '200 0']);
  });

  test('gzip, deflate and br bodies are decoded for display; a bomb is capped', () => {
    const body = 'x'.repeat(1000);
    for (const [name, bytes] of [['gzip', gzipSync(body)], ['deflate', deflateSync(body)], ['br', brotliCompressSync(body)]] as const) {
      const head = enc(`HTTP/1.1 200 OK\r\nContent-Encoding: ${name}\r\nContent-Length: ${bytes.length}\r\n\r\n`);
      const r = dissect([[0, enc('GET / HTTP/1.1\r\n\r\n')], [1, Uint8Array.from([...head, ...bytes])]]);
      const m = r.msgs[1] as any;
      expect([m.bodyLength, m.body?.length], name).toEqual([bytes.length, 1000]);
    }
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const r = dissect([[0, enc('GET / HTTP/1.1\r\n\r\n')], [1, Uint8Array.from([...enc(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`), ...bomb])]]);
    expect(r.warnings).toEqual(['gzip body inflates beyond 16777216 bytes: shown as sent']);
    expect((r.msgs[1] as any).bodyLength).toBe(bomb.length);
  });

  test('a chunked body with a gzip encoding and a trailer', () => {
    const z = gzipSync('hello, chunked world');
    const wire = Uint8Array.from([...enc(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n5\r\n`), ...z.subarray(0, 5), ...enc(`\r\n${(z.length - 5).toString(16)}\r\n`), ...z.subarray(5), ...enc('\r\n0\r\nX-Checksum: 1\r\n\r\n')]);
    const r = dissect([[0, enc('GET / HTTP/1.1\r\n\r\n')], [1, wire]]);
    expect(r.msgs[1]).toMatchObject({ bodyLength: z.length, body: 'hello, chunked world' });
  });

  test('garbage before a request is skipped with one warning; the request is still read', () => {
    const r = dissect([[0, enc('GET / HTTP/1.1\r\n\r\n')], [0, enc('\u0016\u0003\u0001 binary junk\r\nmore junk\r\nGET /after HTTP/1.1\r\n\r\n')]]);
    expect(kinds(r.msgs)).toEqual(['GET /', 'GET /after']);
    expect(r.warnings).toEqual(['not an HTTP request at stream offset 18: skipping to the next line that starts one']);
  });

  test('invalid chunk sizes and Content-Lengths are warnings', () => {
    const r = dissect([[0, enc('GET / HTTP/1.1\r\n\r\n')], [1, enc('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')]]);
    expect(r.warnings).toEqual(['invalid chunk size "zz": the rest of this body cannot be followed; skipping to the next status line', 'HTTP response 200 with no request seen before it']);
    expect((r.msgs.pop() as any).body).toBe('ok');
  });

  test('after bytes the capture missed, HTTP resynchronises at the next request', async () => {
    const s = session().handshake();
    s.send('client', 'GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none');
    const lost = 'GET /two HTTP/1.1\r\nHost: x\r\n\r\n';
    s.advance('client', lost.length); // never captured
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo');
    s.send('client', 'GET /three HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree');
    const c = await analyze(s.close().packets);
    expect(kinds(messages(c))).toEqual(['GET /one', '200 3', '200 3', 'GET /three', '200 5']);
    expect(c.warnings.map((w: any) => w.message)).not.toContain('HTTP response 200 with no request seen before it');
    expect(c.warnings.map((w: any) => w.message)).toContain(`${lost.length} bytes of client data at stream offset 30 were not captured (lost or missed)`);
    expect(c.reassembly.gapBytes).toBe(lost.length);
  });
});

describe('terminal safety', () => {
  test('control and escape sequences from a capture never reach the output raw', async () => {
    const evil = '\u001b[31mRED\u001b]0;owned\u0007 \u009b31m \u202eevil\r';
    const s = session().handshake();
    s.send('client', `GET /${encodeURIComponent('x')} HTTP/1.1\r\nX-Evil: ${evil}\r\n\r\n`);
    s.send('server', `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(evil)}\r\n\r\n${evil}`);
    s.send('client', `${evil}\n`);
    const file = pcapFile(s.close().packets);
    for (const args of [[], ['--payloads'], ['--json'], ['--ndjson'], ['--stats', 'table']]) {
      const r = await run(...args, file);
      expect(r.stdout, args.join(' ')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    }
    const p = await run('--payloads', file);
    expect(p.stdout).toContain('X-Evil: \\x1b[31mRED\\x1b]0;owned\\x07 \\x9b31m \\u{202e}evil');
  });
});
