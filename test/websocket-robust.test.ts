import { roleOf } from '../src/analysis/roles.js';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { ConnectionDissector } from '../src/dissect/connection.js';
import { DISSECTORS, FALLBACK } from '../src/dissect/registry.js';
import { DEFAULT_DISSECT_OPTIONS, type DissectOptions, type Message } from '../src/dissect/types.js';
import { looksLikeWebSocket, websocketSpec, type WebSocketParams } from '../src/dissect/websocket.js';
import type { Connection, Dir } from '../src/reassembly/types.js';
import { pcapFile } from './helpers/synth.js';
import { run } from './helpers/run.js';
import { deflateMessage, frame, hugeFrameWithHole, KEY, switching, upgradeHeldTooLong, upgradeRequest } from './helpers/ws-hostile.js';
import { websocketAccept } from '../src/dissect/websocket.js';

// Every inflation the dissector does, and how many bytes it made: the work a deflate bomb
// costs. Counted by wrapping zlib's own function: syncBuiltinESMExports makes the named import
// that websocket.ts holds see the wrapper.
const inflations = { calls: 0, bytes: 0 };
const zlibModule = createRequire(import.meta.url)('node:zlib') as typeof zlib;
const realInflateRawSync = zlibModule.inflateRawSync;
function countingInflateRawSync(buf: zlib.InputType, opts?: zlib.ZlibOptions): Buffer {
  inflations.calls++;
  try {
    const out = realInflateRawSync(buf, opts);
    inflations.bytes += out.length;
    return out;
  } catch (e) {
    // Past the cap it got that far; a stream that is broken fails where it breaks (not counted).
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') inflations.bytes += opts?.maxOutputLength ?? 0;
    throw e;
  }
}
beforeAll(() => {
  zlibModule.inflateRawSync = countingInflateRawSync as typeof zlib.inflateRawSync;
  syncBuiltinESMExports();
});
afterAll(() => {
  zlibModule.inflateRawSync = realInflateRawSync;
  syncBuiltinESMExports();
});

// Elements Array.prototype.includes looked at: a search of a frame list per frame is quadratic.
let includesWork = 0;
const realIncludes = Array.prototype.includes;
beforeEach(() => {
  includesWork = 0;
  inflations.calls = inflations.bytes = 0;
  Array.prototype.includes = function (this: unknown[], ...args: [unknown, number?]) {
    includesWork += this.length;
    return realIncludes.apply(this, args);
  };
});
afterEach(() => {
  Array.prototype.includes = realIncludes;
});

const CONN: Connection = { id: 1, client: '10.0.0.1:50000', server: '10.0.0.2:8000', serverPort: 8000, firstFrame: 1, firstTime: 0, rolesGuessed: false };
const KiB = 1024;
const MiB = 1024 * KiB;

type Part = [Dir, Uint8Array] | ['gap', Dir, number] | ['skip', Dir, number];

/**
 * Drives a WebSocket dissector directly: each data part is one chunk with its own frame number;
 * ['gap', dir, n] is a gap the reassembler reports, ['skip', dir, n] bytes that never reach the
 * dissector (the stream offset moves on without a word, as when a hold overflowed).
 */
function ws(parts: Part[], o: { ext?: string; options?: Partial<DissectOptions>; params?: Partial<WebSocketParams> } = {}) {
  const msgs: Message[] = [];
  const warnings: string[] = [];
  const sink = { message: (_c: Connection, m: Message) => msgs.push(m), warning: (_f: number, _code: string, w: string) => warnings.push(w), protocol: () => {} };
  const cd = new ConnectionDissector(CONN, DISSECTORS, FALLBACK, sink, { ...DEFAULT_DISSECT_OPTIONS, keepBytes: true, ...o.options });
  const params: WebSocketParams = {
    requestHeaders: [['Sec-WebSocket-Key', KEY]],
    responseHeaders: [['Sec-WebSocket-Accept', websocketAccept(KEY)], ...(o.ext ? [['Sec-WebSocket-Extensions', o.ext] as [string, string]] : [])],
    frame: 1,
    ...o.params,
  };
  (cd as any).start(websocketSpec, params);
  const offsets = [0, 0];
  parts.forEach((p, i) => {
    if (p[0] === 'gap') {
      cd.gap(p[1], offsets[p[1]], p[2], i + 1);
      offsets[p[1]] += p[2];
    } else if (p[0] === 'skip') offsets[p[1]] += p[2];
    else {
      cd.data(p[0], { bytes: p[1], offset: offsets[p[0]], frame: i + 1, time: i });
      offsets[p[0]] += p[1].length;
    }
  });
  cd.end(0, 'eof', parts.length);
  cd.end(1, 'eof', parts.length);
  return { msgs, warnings, frames: msgs.filter((m) => m.kind === 'ws-frame') as any[], messages: msgs.filter((m) => m.kind === 'ws-message') as any[] };
}

const enc = (s: string) => new TextEncoder().encode(s);
const MASK = [1, 2, 3, 4];

describe('permessage-deflate: bounded inflation (issue 18)', () => {
  // 16 MiB - 1 KiB of zeros: under the cap, so inflated whole; 16 KiB on the wire.
  const NEAR_CAP = 16 * MiB - KiB;
  const bombs = (n: number) => Array.from({ length: n }, () => [1, frame(2, deflateMessage(new Uint8Array(NEAR_CAP)), { rsv1: true })] as Part);

  test('when only figures are wanted (no bytes kept), nothing is inflated and every figure stays', () => {
    const figures = (keepBytes: boolean) => ws(bombs(4), { ext: 'permessage-deflate', options: { keepBytes, trace: keepBytes } });
    const shown = figures(true);
    const work = inflations.bytes;
    expect(work).toBe(4 * NEAR_CAP); // shown: each inflated once, to its real size
    inflations.calls = inflations.bytes = 0;
    const counted = figures(false);
    expect(inflations).toEqual({ calls: 0, bytes: 0 });
    // What the update tracker reads of a message (analysis/updates.ts): kind and wire range, role, useful bytes.
    const tracked = (ms: Message[]) => ms.map((m) => [m.kind, m.wire.dir, m.wire.start, m.wire.end, roleOf(m), m.wire.useful]);
    expect(tracked(counted.msgs)).toEqual(tracked(shown.msgs));
    expect(counted.warnings).toEqual([]);
  });

  test('a message inflated whole keeps only its first 64 KiB, its frame too; its length is the inflated one', () => {
    const r = ws(bombs(2), { ext: 'permessage-deflate' });
    expect(r.messages.map((m) => m.length)).toEqual([NEAR_CAP, NEAR_CAP]);
    for (const m of [...r.messages, ...r.frames]) expect(m.wire.payload.length).toBeLessThanOrEqual(64 * KiB);
    expect(r.messages[0].wire.payload).toEqual(new Uint8Array(64 * KiB));
    expect(r.frames[0].payloadLength).toBe(deflateMessage(new Uint8Array(NEAR_CAP)).length);
    expect(r.warnings).toEqual([]);
  });

  test('a bomb past the cap costs the cap, no more; later messages that need its window are not inflated, the others are', () => {
    // Under context takeover (RFC 7692 §7.2.3.2) a message may refer to the last 32 KiB of the
    // one before; after a message not inflated, those bytes are not known.
    const bomb = deflateMessage(new Uint8Array(64 * MiB));
    const text = Uint8Array.from([...new Uint8Array(40), ...enc('needs the window')]);
    // Compressed, as a sender does, against the window the messages before left: the bomb's
    // zeros, and then also 'self-contained'. Each refers back past what is known since the bomb.
    const tail = Buffer.from([0, 0, 0xff, 0xff]);
    const against = (dictionary: Uint8Array) => {
      const c = zlib.deflateRawSync(text, { dictionary, finishFlush: zlib.constants.Z_SYNC_FLUSH });
      return c.subarray(0, c.length - 4);
    };
    const selfContained = enc('self-contained');
    const second = against(new Uint8Array(32 * KiB));
    const fourth = against(Uint8Array.from([...new Uint8Array(32 * KiB - selfContained.length), ...selfContained]));
    const sync = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
    expect(() => zlib.inflateRawSync(Buffer.concat([second, tail]), sync)).toThrow(/too far back/);
    expect(() => zlib.inflateRawSync(Buffer.concat([fourth, tail]), { ...sync, dictionary: selfContained })).toThrow(/too far back/);
    const r = ws([
      [1, frame(2, bomb, { rsv1: true })],
      [1, frame(2, second, { rsv1: true })],
      [1, frame(1, deflateMessage(selfContained), { rsv1: true })],
      [1, frame(2, fourth, { rsv1: true })],
    ], { ext: 'permessage-deflate' });
    expect(inflations.bytes).toBeLessThanOrEqual(16 * MiB + 3 * 64 * KiB);
    expect(r.messages.map((m) => m.text)).toEqual([undefined, undefined, 'self-contained', undefined]);
    expect(r.warnings).toEqual([
      'compressed WebSocket message inflates beyond 16777216 bytes: not shown',
      'compressed WebSocket message not inflated: it refers to bytes of an earlier message of this direction that was not inflated (frame 1; context takeover, RFC 7692 §7.2.3.2)',
    ]);
  });

  test('a compressed message with bytes not captured is not inflated, and says so', () => {
    const c = frame(1, deflateMessage(enc('x'.repeat(300) + 'tail')), { rsv1: true });
    const r = ws([[1, c.subarray(0, 4)], ['gap', 1, 2], [1, c.subarray(6)], [1, frame(1, deflateMessage(enc('next')), { rsv1: true })]], { ext: 'permessage-deflate' });
    expect(r.messages.map((m) => m.text)).toEqual([undefined, 'next']);
    expect(r.warnings).toContain('compressed WebSocket message with 2 bytes not captured: not inflated');
  });
});

describe('linear work and bounded memory (issues 18, 19)', () => {
  test('a message of 10^5 tiny fragments with pings between: frame lists without searches, 64 KiB kept', () => {
    const n = 100_000;
    const parts: Part[] = [];
    for (let i = 0; i < n; i++) {
      parts.push([1, frame(i === 0 ? 1 : 0, 'abcd', { fin: i === n - 1 })]);
      if (i % 1000 === 999) parts.push([1, frame(9, 'ping')]);
    }
    const r = ws(parts);
    const pings = n / 1000;
    expect(r.messages).toHaveLength(1);
    const m = r.messages[0];
    expect([m.length, m.wire.fragments, m.frames.length]).toEqual([4 * n, n, n]);
    // The message's frames are those of its fragments, not the pings': part i+1 is frame i+1.
    expect(m.frames[1000]).toBe(1002);
    expect(m.frames[n - 1]).toBe(n + pings - 1); // the last ping comes after the last fragment
    expect(m.wire.payload.length).toBe(64 * KiB);
    expect(m.text).toBe('abcd'.repeat(16 * KiB));
    expect(r.frames.filter((f) => f.opcode === 9)).toHaveLength(pings);
    expect(includesWork).toBeLessThan(10 * n);
  });

  test('a frame in 1-byte segments: its frame list is made in one pass, 64 KiB of it kept', () => {
    const size = 200_000;
    const f = frame(1, new Uint8Array(size).fill(0x61));
    const parts: Part[] = Array.from(f, (b) => [1, Uint8Array.of(b)] as Part);
    const r = ws(parts);
    expect(r.frames[0].frames).toEqual(Array.from({ length: f.length }, (_, i) => i + 1));
    expect(r.frames[0].wire.payload.length).toBe(64 * KiB);
    expect(r.messages[0].length).toBe(size);
    expect(includesWork).toBeLessThan(10 * f.length);
  });

  test('a frame announcing 2^40 bytes with a hole in it keeps at most 64 KiB', () => {
    const head = Uint8Array.of(0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0); // 2^40
    const r = ws([[1, head], [1, new Uint8Array(1000).fill(0x55)], ['gap', 1, 100 * MiB], [1, new Uint8Array(1000).fill(0x66)]]);
    expect(r.frames).toEqual([]);
    expect(r.warnings).toEqual([
      '104857600 bytes of a WebSocket payload were not captured; the frame is kept, its payload is incomplete',
      `connection closed inside a WebSocket frame (${2 ** 40 - 2000 - 100 * MiB} payload bytes missing)`,
    ]);
    // One that ends: its kept payload is the 64 KiB display cap, the hole as zeros.
    const len = 5 * MiB;
    const whole = Uint8Array.of(0x82, 127, 0, 0, 0, 0, 0, 0x50, 0, 0);
    const g = ws([[1, whole], [1, new Uint8Array(1000).fill(0x55)], ['gap', 1, len - 2000], [1, new Uint8Array(1000).fill(0x66)]]);
    expect(g.frames[0].payloadLength).toBe(len);
    expect(g.frames[0].wire.payload.length).toBe(64 * KiB);
    expect(g.frames[0].wire.payload.subarray(995, 1005)).toEqual(Uint8Array.of(0x55, 0x55, 0x55, 0x55, 0x55, 0, 0, 0, 0, 0));
    expect(g.messages[0].length).toBe(len);
  });

  test('the same through the whole pipeline: a hole in a frame announced at 2^40', async () => {
    const r = await run('--json', pcapFile(hugeFrameWithHole(2 ** 40, 1_000_000).packets));
    const c = JSON.parse(r.stdout).captures[0];
    expect(c.warnings.map((w: any) => w.message)).toContain('1000000 bytes of a WebSocket payload were not captured; the frame is kept, its payload is incomplete');
  });
});

describe('frames found again after lost bytes (issue 19.3)', () => {
  const clientFrames = (n: number, from = 0) => Array.from({ length: n }, (_, i) => [0, frame(1, `client frame ${from + i}`, { mask: MASK })] as Part);

  test('client bytes that never reach the dissector: said, and the masked frames after them read', () => {
    const r = ws([...clientFrames(3), ['skip', 0, 61_454], ...clientFrames(3, 3), [1, frame(1, 'server')]]);
    expect(r.messages.filter((m) => m.from === 'client').map((m) => m.text)).toEqual(['client frame 0', 'client frame 1', 'client frame 2', 'client frame 3', 'client frame 4', 'client frame 5']);
    const at = 3 * frame(1, 'client frame 0', { mask: MASK }).length;
    expect(r.warnings).toEqual([
      `61454 bytes never passed on between WebSocket frames (client side, stream offset ${at}): frame boundaries are lost; looking for the next client frame`,
      `WebSocket client frames found again at stream offset ${at + 61_454}, 0 bytes after the loss passed over`,
    ]);
  });

  test('a loss from inside a frame into the next: no bogus frame is made of payload bytes', () => {
    const big = frame(2, Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919) & 0xff), { mask: MASK });
    const f0 = frame(1, 'client frame 0', { mask: MASK });
    const rest = Buffer.concat(clientFrames(4, 1).map((p) => p[1] as Uint8Array));
    // Lost: from byte 1000 of the big frame to byte 10 of the next one.
    const r = ws([[0, big.subarray(0, 1000)], ['gap', 0, big.length - 1000 + 10], [0, f0.subarray(10)], [0, rest]]);
    expect(r.messages.map((m) => m.text)).toEqual(['client frame 1', 'client frame 2', 'client frame 3', 'client frame 4']);
    expect(r.warnings).toEqual([
      `${big.length - 1000 + 10} bytes lost past the end of the WebSocket frame they were in (client side, stream offset 1000): frame boundaries are lost; looking for the next client frame; the message being assembled is not reported`,
      `WebSocket client frames found again at stream offset ${big.length + f0.length}, ${f0.length - 10} bytes after the loss passed over`,
    ]);
  });

  test('a hold that overflowed while the Upgrade waited for its 101, through the pipeline: no bogus frame, the loss said', async () => {
    const r = await run('--json', pcapFile(upgradeHeldTooLong(undefined, 2 * MiB).packets));
    const c = JSON.parse(r.stdout).captures[0];
    const warnings: string[] = c.warnings.map((w: any) => w.message);
    expect(warnings.filter((w) => /opcode|RSV|not masked|fragmented|masked \(RFC/.test(w))).toEqual([]);
    expect(warnings.some((w) => /client side.*looking for the next client frame/.test(w))).toBe(true);
    const msgs = c.connections[0].messages.filter((m: any) => m.kind === 'ws-message');
    const client = msgs.filter((m: any) => m.from === 'client');
    // Every client message read is one the client sent: a 60 KiB binary one, a small text one, the last.
    for (const m of client) expect(m.opcode === 2 ? m.length === 60 * KiB : /^small frame \d{8}$|^last$/.test(m.text)).toBe(true);
    expect(client.at(-1).text).toBe('last');
    expect(msgs.filter((m: any) => m.from === 'server').map((m: any) => m.text)).toEqual(['welcome']);
  });

  test('no 101 captured: masked client frames are read, the server frames found in its stream', () => {
    const serverJunk = enc('ion: Upgrade\r\n\r\n'); // the tail of a 101 whose start was lost
    const parts: Part[] = [[1, serverJunk]];
    for (let i = 0; i < 4; i++) parts.push([0, frame(1, `get-time ${i}`, { mask: MASK })], [1, frame(1, `{"time": ${i}}`)]);
    const r = ws(parts, { params: { noHandshake: true, responseHeaders: [], resync: [false, true] } });
    expect(r.messages.filter((m) => m.from === 'client').map((m) => m.text)).toEqual(['get-time 0', 'get-time 1', 'get-time 2', 'get-time 3']);
    expect(r.messages.filter((m) => m.from === 'server').map((m) => m.text)).toEqual(['{"time": 0}', '{"time": 1}', '{"time": 2}', '{"time": 3}']);
    expect(r.warnings).toEqual([
      'the 101 answer to the WebSocket Upgrade was not captured: frames are read without their handshake (extensions unknown: compressed messages are not inflated)',
      `WebSocket server frames found again at stream offset ${serverJunk.length}, ${serverJunk.length} bytes after the loss passed over`,
    ]);
  });

  test('the bytes after an Upgrade are told from HTTP and from noise by their frames', () => {
    const masked = Buffer.concat([frame(1, 'get-time', { mask: MASK }), frame(9, '', { mask: MASK }), frame(1, 'again', { mask: MASK })]);
    expect(looksLikeWebSocket(masked, true)).toBe(true);
    expect(looksLikeWebSocket(masked.subarray(0, frame(1, 'get-time', { mask: MASK }).length), true)).toBe(true);
    expect(looksLikeWebSocket(masked, false)).toBe(false); // a server never masks
    expect(looksLikeWebSocket(enc(upgradeRequest()), true)).toBe(false);
    // Noise from a fixed-seed generator: a run of three plausible headers is rare.
    let x = 12345;
    let found = 0;
    for (let k = 0; k < 20_000; k++) {
      const b = new Uint8Array(200);
      for (let i = 0; i < b.length; i++) b[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
      if (looksLikeWebSocket(b, true)) found++;
    }
    expect(found).toBeLessThan(20);
  });
});

describe('--payloads says when a message is cut (issue 13.8)', () => {
  test('a 100,000-byte text message in two fragments: its first 64 KiB shown, and the cut said', async () => {
    const { run } = await import('./helpers/run.js');
    const { pcapFile, session } = await import('./helpers/synth.js');
    const { LIMITS } = await import('../src/limits.js');
    const s = session().handshake();
    s.send('client', upgradeRequest());
    s.send('server', switching());
    const text = 'y'.repeat(100_000);
    s.send('server', Buffer.concat([frame(1, text.slice(0, 60_000), { fin: false }), frame(0, text.slice(60_000))]));
    s.close();
    // Lines over WRAP bytes wrap (issue 13.8): joined again to look for the message.
    const out = (await run('--payloads', pcapFile(s.packets))).stdout.replace(/\n {3}\+ /g, '');
    expect(out).toContain(`server message (text, 100000 bytes): ${'y'.repeat(LIMITS.keptBytesPerMessage)} ... [cut: the first ${LIMITS.keptBytesPerMessage} of 100000 bytes shown]`);
  });
});
