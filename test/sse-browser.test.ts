// SSE as a browser parses it (issue 13.4). Headless Chromium's EventSource is the oracle: a
// local server sends each case's bytes, exactly, to an EventSource in the page, and the events
// the page receives (type, data, lastEventId) are the expected values. sockstat reads a capture
// of the same bytes, cut into TCP segments of 7 bytes so that events split anywhere, and must
// give the same events. The cases are the topics of the web-platform-tests EventSource format
// suite (BOM, comments, data before the final blank line, data/event/id/retry fields, NUL,
// UTF-8, line ends), written for this test, plus event streams coded with gzip and deflate and
// flushed mid-event, as a compressing proxy sends them.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { merge } from '../src/synth/tcp.js';
import { flushedPieces } from './helpers/coding.js';
import { HAVE_CHROMIUM, launchChromium, type Browser } from './helpers/browser.js';
import { analyze, session } from './helpers/synth.js';

interface Case {
  /** The body's pieces, as the server writes them (and the capture's server segments hold them). */
  body: Array<string | Uint8Array>;
  contentType?: string;
  coding?: 'gzip' | 'deflate';
}

const u8 = (...b: number[]) => Uint8Array.from(b);

const CASES: Record<string, Case> = {
  // A BOM is skipped only at the very start of the stream; later on it starts a field name.
  'bom': { body: ['\uFEFFdata: 1\n\n\uFEFFdata: 2\n\ndata: 3\n\n'] },
  'bom-twice': { body: ['\uFEFF\uFEFFdata: 1\n\ndata: 2\n\ndata: 3\n\n'] },
  'bom-split': { body: [u8(0xef), u8(0xbb, 0xbf), 'data: a\n\n'] },
  'comments': { body: ['data: 1\n:\n: comment\ndata: 2\n\n:' + 'x'.repeat(3000) + '\ndata: 3\n\n: trailing\n'] },
  'data-before-final-blank-line': { body: ['retry: 1000\ndata: test1\n\nid: test\ndata: test2'] },
  'field-data': { body: ['data:\n\ndata\ndata\n\ndata:test\n\ndata: two\ndata\n\n'] },
  'field-event': { body: ['event: test\ndata: x\n\ndata: y\n\nevent:\ndata: z\n\nevent: a\nevent: b\ndata: w\n\n'] },
  'field-id': { body: ['id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 2\n\ndata: d\n\nid: 3\nid:\ndata: e\n\n'] },
  'field-id-null': { body: ['id: 1\ndata: a\n\nid: x\u0000y\ndata: b\n\n'] },
  'field-retry': { body: ['retry: 500\n\ndata: x\n\nretry: 5x\ndata: y\n\nretry\ndata: z\n\n'] },
  'field-unknown': { body: ['foo: bar\ndata: x\n\nData: y\ndata: z\n\n data: w\n\ndata : v\ndata: u\n\n'] },
  'field-spaces': { body: ['data:  two\n\ndata:none\n\ndata: \n\ndata:\ttab\n\n'] },
  'null-character': { body: ['data: a\u0000b\n\n'] },
  'utf-8': { body: ['data: é ☃ \u{1F600}\n\n', u8(0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xff, 0xfe, 0x41, 0x0a, 0x0a), 'data: \u00e9\n\n'] },
  'utf-8-split': { body: [u8(0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xe2), u8(0x98), u8(0x83, 0x0a, 0x0a)] },
  'line-ends': { body: ['data: a\r\rdata: b\r\n\r\ndata: c\n\r\ndata: d\r\n\ndata: e\r', '\n\r\n', 'data: f\n\n'] },
  'gzip-flushed-mid-event': { coding: 'gzip', body: ['data: one\n\nevent: tick\nda', 'ta: two\n', '\n', 'id: 9\ndata: three\n\n: ping\n\nretry: 100\n\ndata: ' + 'four '.repeat(2000) + '\n\n'] },
  'deflate-flushed-mid-event': { coding: 'deflate', body: ['data: alpha\n', '\ndata: be', 'ta\n\n'] },
};

const enc = (p: string | Uint8Array) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));

/** A case's body as sent: each piece, compressed and flushed where the case is coded. */
async function wireBody(c: Case): Promise<Buffer[]> {
  return c.coding ? flushedPieces(c.body, c.coding) : c.body.map(enc);
}

/** The response as the server writes it: a head, then each body piece as a chunk of its own. */
function response(c: Case, body: Buffer[]): Buffer[] {
  const head = ['HTTP/1.1 200 OK', `Content-Type: ${c.contentType ?? 'text/event-stream'}`, 'Cache-Control: no-store', 'Transfer-Encoding: chunked', 'Connection: close'];
  if (c.coding) head.push(`Content-Encoding: ${c.coding}`);
  const chunks = body.filter((b) => b.length > 0).map((b) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]));
  return [Buffer.from(head.join('\r\n') + '\r\n\r\n'), ...chunks, Buffer.from('0\r\n\r\n')];
}

interface Got {
  type: string;
  data: string;
  lastEventId: string;
}

const bodies = new Map<string, Buffer[]>();
let server: Server;
let port = 0;
let browser: Browser | undefined;
const sockets = new Set<Socket>();

/** Serves the page at / and each case at /case/NAME, writing its pieces one after another, then closing. */
function serve(socket: Socket): void {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  let got = '';
  socket.on('data', async (d) => {
    got += d.toString('latin1');
    if (!got.includes('\r\n\r\n')) return;
    const path = /^GET (\S+)/.exec(got)?.[1] ?? '';
    got = '';
    const name = path.startsWith('/case/') ? decodeURIComponent(path.slice(6)) : null;
    const pieces = name !== null ? bodies.get(name) : undefined;
    if (!pieces) {
      const page = '<!doctype html><title>sse oracle</title>';
      socket.end(`HTTP/1.1 ${path === '/' ? '200 OK' : '404 Not Found'}\r\nContent-Type: text/html\r\nContent-Length: ${page.length}\r\nConnection: close\r\n\r\n${page}`);
      return;
    }
    for (const p of pieces) {
      socket.write(p);
      await new Promise((r) => setTimeout(r, 5));
    }
    socket.end();
  });
}

/** What the page's EventSource dispatches for a case, until the stream ends (the EventSource then errors, and is closed). */
async function browserEvents(name: string): Promise<Got[]> {
  const page = await browser!.context.newPage();
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    // Listeners for every event type the case names: EventSource dispatches by type.
    const types = [...new Set(Buffer.concat(CASES[name].body.map(enc)).toString('utf8').match(/(?<=(^|[\r\n])event:) ?[^\r\n]*/g) ?? [])].map((t) => t.replace(/^ /, ''));
    return await page.evaluate(({ url, types }) => new Promise<Got[]>((resolve) => {
      const got: Got[] = [];
      const es = new EventSource(url);
      const on = (ev: Event) => {
        const e = ev as MessageEvent;
        got.push({ type: e.type, data: e.data, lastEventId: e.lastEventId });
      };
      es.addEventListener('message', on);
      for (const t of types) if (t !== '' && t !== 'message' && t !== 'error' && t !== 'open') es.addEventListener(t, on);
      es.onerror = () => {
        es.close();
        resolve(got);
      };
    }), { url: `/case/${encodeURIComponent(name)}`, types });
  } finally {
    await page.close();
  }
}

/**
 * Where sockstat parts from Chromium on purpose: a stream naming a charset other than UTF-8.
 * The standard reads it as UTF-8 anyway; Chromium refuses it and dispatches nothing. sockstat
 * reads the events that were on the wire, and warns that a browser would not have.
 */
const DIVERGING: Record<string, Case> = {
  'charset-other': { body: ['data: \u00e9\n\n'], contentType: 'text/event-stream; charset=windows-1252' },
};
Object.assign(CASES, DIVERGING);

const names = Object.keys(CASES);
const agreeing = names.filter((n) => !(n in DIVERGING));
let sockstatEvents: Map<string, Got[]>;
let warnings: Array<{ code: string; message: string }>;
let mismatches: number;

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  for (const name of names) bodies.set(name, response(CASES[name], await wireBody(CASES[name])));
  server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
  browser = await launchChromium();

  // One capture, a connection per case: the server's bytes in segments of 7 bytes.
  const sessions = names.map((name, i) => {
    const s = session({ client: { ip: '127.0.0.1', port: 41000 + i }, server: { ip: '127.0.0.1', port: 8000 }, mss: 7 }).handshake();
    s.send('client', `GET /case/${encodeURIComponent(name)} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: text/event-stream\r\nAccept-Encoding: gzip, deflate\r\n\r\n`);
    for (const piece of bodies.get(name)!) s.wait(0.001).send('server', piece);
    return s.close('server');
  });
  const capture = await analyze(merge(...sessions));
  warnings = capture.warnings;
  mismatches = capture.bytes.mismatches;
  sockstatEvents = new Map();
  for (const conn of capture.connections) {
    const name = names[Number(conn.client.split(':').pop()) - 41000];
    // lastEventId as the EventSource keeps it: set by every id field, events' and data-less blocks' alike.
    let lastEventId = '';
    const got: Got[] = [];
    for (const m of conn.messages) {
      if ((m.kind === 'sse-event' || m.kind === 'sse-fields') && m.id !== undefined) lastEventId = m.id;
      if (m.kind === 'sse-event') got.push({ type: m.event, data: m.data, lastEventId });
    }
    sockstatEvents.set(name, got);
  }
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

describe.skipIf(!HAVE_CHROMIUM)('sockstat dispatches the events Chromium\'s EventSource dispatches', () => {
  test.each(agreeing)('%s', async (name) => {
    const expected = await browserEvents(name);
    expect(sockstatEvents.get(name)).toEqual(expected);
  });

  test('the oracle is not vacuous: every case dispatched something, and the BOM case is the browser\'s 1, 3', async () => {
    expect(await browserEvents('bom')).toEqual([
      { type: 'message', data: '1', lastEventId: '' },
      { type: 'message', data: '3', lastEventId: '' },
    ]);
    for (const name of names) expect(sockstatEvents.get(name)!.length, name).toBeGreaterThan(0);
  });

  test('a coded stream says nothing went wrong, and every byte is claimed once', () => {
    expect(warnings.filter((w) => w.code === 'http-coding')).toEqual([]);
    expect(mismatches).toBe(0);
  });

  test('another charset: Chromium dispatches nothing; sockstat reads the UTF-8 event, and says a browser would not', async () => {
    expect(await browserEvents('charset-other')).toEqual([]);
    expect(sockstatEvents.get('charset-other')).toEqual([{ type: 'message', data: '\u00e9', lastEventId: '' }]);
    expect(warnings.filter((w) => w.code === 'sse-charset').map((w) => w.message)).toEqual([expect.stringContaining('"windows-1252"')]);
  });
});
