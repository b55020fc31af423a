import { constants, createDeflateRaw, deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { websocketAccept, websocketSpec } from '../src/dissect/websocket.js';
import { dissect } from './helpers/dissect.js';
import { enc, forEachSplit } from './helpers/split.js';
import { analyze, messages, session } from './helpers/synth.js';

/** A frame as RFC 6455 §5.2 lays it out. */
function frame(opcode: number, payload: Uint8Array, o: { fin?: boolean; mask?: number[]; rsv1?: boolean } = {}): Uint8Array {
  const len = payload.length;
  const head = [((o.fin ?? true) ? 0x80 : 0) | (o.rsv1 ? 0x40 : 0) | opcode];
  const m = o.mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  if (o.mask) head.push(...o.mask);
  const body = o.mask ? payload.map((b, i) => b ^ o.mask![i & 3]) : payload;
  return Uint8Array.from([...head, ...body]);
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const params = (ext = '') => ({
  requestHeaders: [['Sec-WebSocket-Key', KEY]],
  responseHeaders: [['Sec-WebSocket-Accept', websocketAccept(KEY)], ...(ext ? [['Sec-WebSocket-Extensions', ext]] : [])],
  frame: 1,
});
const ws = (parts: Array<[0 | 1, Uint8Array]>, ext = '') => dissect(parts, { start: { spec: websocketSpec, params: params(ext) } });

describe('WebSocket (RFC 6455)', () => {
  test('the RFC\'s sample key gives the RFC\'s accept value', () => {
    expect(websocketAccept(KEY)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo='); // RFC 6455 §1.3
  });

  test('the write-up\'s C1 frame, split at every offset, unmasks to get-time', () => {
    const c1 = Uint8Array.from([0x81, 0x88, 0x36, 0x0d, 0x29, 0x16, 0x51, 0x68, 0x5d, 0x3b, 0x42, 0x64, 0x44, 0x73]);
    forEachSplit(c1, (parts, label) => {
      const r = ws(parts.map((p) => [0, p]));
      const f = r.msgs.find((m) => m.kind === 'ws-frame') as any;
      expect([f.text, f.maskKey, f.payloadLength, f.frames], label).toEqual(['get-time', '360d2916', 8, parts.map((_, i) => i + 1)]);
      expect(r.warnings, label).toEqual([]);
    });
  });

  test('unmasking a masked payload gives the original, whatever the key and chunking (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70000 }), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 1, max: 9000 }), (payload, mask, cut) => {
        const f = frame(2, payload, { mask });
        const parts: Array<[0, Uint8Array]> = [];
        for (let o = 0; o < f.length; o += cut) parts.push([0, f.subarray(o, o + cut)]);
        const r = ws(parts);
        const m = r.msgs.find((x) => x.kind === 'ws-message') as any;
        expect(m.length).toBe(payload.length);
        expect(Buffer.from(m.wire.payload)).toEqual(Buffer.from(payload));
      }),
      { numRuns: 60 },
    );
  });

  test('7-, 16- and 64-bit lengths; fragments joined; control frames between fragments', () => {
    const big = enc('x'.repeat(70000));
    const r = ws([
      [1, frame(1, enc('y'.repeat(300)))],
      [1, frame(2, big)],
      [1, frame(1, enc('Hel'), { fin: false })],
      [1, frame(9, enc('ping!'))],
      [1, frame(0, enc('lo'), { fin: false })],
      [1, frame(0, enc(' there'))],
      [0, frame(10, enc('ping!'), { mask: [1, 2, 3, 4] })],
      [0, frame(8, Uint8Array.from([0x03, 0xe8, ...enc('bye')]), { mask: [9, 9, 9, 9] })],
    ]);
    const frames = r.msgs.filter((m) => m.kind === 'ws-frame') as any[];
    expect(frames.map((f) => [f.opcode, f.payloadLength, f.fin])).toEqual([[1, 300, true], [2, 70000, true], [1, 3, false], [9, 5, true], [0, 2, false], [0, 6, true], [10, 5, true], [8, 5, true]]);
    const messages = r.msgs.filter((m) => m.kind === 'ws-message') as any[];
    expect(messages.map((m) => [m.opcode, m.length, m.text?.slice(0, 12)])).toEqual([[1, 300, 'yyyyyyyyyyyy'], [2, 70000, 'xxxxxxxxxxxx'], [1, 11, 'Hello there']]);
    expect(messages[2].frames).toEqual([3, 5, 6]);
    expect(frames[7]).toMatchObject({ closeCode: 1000, closeReason: 'bye' });
    expect(r.warnings).toEqual([]);
  });

  test('fragments that share one segment are joined, not mistaken for a one-frame message', () => {
    const r = ws([[1, Uint8Array.from([...frame(1, enc('one '), { fin: false }), ...frame(0, enc('two '), { fin: false }), ...frame(0, enc('three'))])]]);
    const m = r.msgs.find((x) => x.kind === 'ws-message') as any;
    expect([m.text, m.frames]).toEqual(['one two three', [1]]);
  });

  test('violations are warnings and the frames around them are still read', () => {
    const r = ws([
      [0, frame(1, enc('unmasked'))],
      [1, frame(1, enc('masked'), { mask: [1, 1, 1, 1] })],
      [1, frame(9, enc('p'.repeat(126)))],
      [1, frame(0, enc('orphan'))],
      [1, frame(3, enc('?'))],
      [1, frame(1, enc('ok'))],
    ]);
    expect(r.warnings).toEqual([
      'client WebSocket frame is not masked (RFC 6455 §5.1)',
      'server WebSocket frame is masked (RFC 6455 §5.1)',
      'WebSocket control frame (opcode 9) of 126 > 125 bytes',
      'WebSocket continuation frame with no message to continue',
      'WebSocket frame with reserved opcode 3',
    ]);
    expect((r.msgs.filter((m) => m.kind === 'ws-message').pop() as any).text).toBe('ok');
  });

  test('a 2^63 length stops that direction with a warning, never a crash or an allocation', () => {
    const r = ws([[1, Uint8Array.from([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3])], [1, frame(1, enc('after'))]]);
    expect(r.warnings[0]).toBe('WebSocket frame claims a payload of 9223372036854775808 bytes: not a frame sockstat can follow; the rest of this direction is not dissected');
    expect(r.msgs).toEqual([]);
  });

  test('permessage-deflate, with and without context takeover (RFC 7692)', async () => {
    const texts = ['{"time": "09:43:38"}', '{"time": "09:43:48"}', '{"time": "09:43:58"}'];
    for (const takeover of [true, false]) {
      const compressed: Uint8Array[] = [];
      let d = createDeflateRaw();
      for (const t of texts) {
        if (!takeover) d = createDeflateRaw();
        compressed.push(await new Promise<Uint8Array>((resolve) => {
          const out: Buffer[] = [];
          const on = (b: Buffer) => out.push(b);
          d.on('data', on);
          d.write(t);
          d.flush(constants.Z_SYNC_FLUSH, () => {
            d.off('data', on);
            const all = Buffer.concat(out);
            resolve(all.subarray(0, all.length - 4)); // drop 00 00 ff ff (§7.2.1)
          });
        }));
      }
      if (takeover) expect(compressed[2].length).toBeLessThan(compressed[0].length); // the window pays off
      const ext = takeover ? 'permessage-deflate' : 'permessage-deflate; server_no_context_takeover';
      const r = ws(compressed.map((c) => [1, frame(1, c, { rsv1: true })]), ext);
      const msgs = r.msgs.filter((m) => m.kind === 'ws-message') as any[];
      expect(msgs.map((m) => [m.text, m.compressed])).toEqual(texts.map((t) => [t, true]));
      expect(r.warnings).toEqual([]);
    }
  });

  test('a compressed message that inflates without bound is capped with a warning', () => {
    const bomb = deflateRawSync(Buffer.alloc(32 * 1024 * 1024), { level: 9 }).subarray(0);
    const r = ws([[1, frame(2, bomb, { rsv1: true })], [1, frame(1, enc('next'))]], 'permessage-deflate');
    expect(r.warnings).toEqual(['compressed WebSocket message inflates beyond 16777216 bytes: not shown']);
    expect((r.msgs.filter((m) => m.kind === 'ws-message').pop() as any).text).toBe('next');
  });

  test('through the whole pipeline: the handshake, an Accept mismatch, frames split across segments', async () => {
    const s = session().handshake();
    s.send('client', `GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    // The 101 and the first server frame arrive in one segment; a client frame is split in three.
    s.send('server', Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n'), frame(1, enc('hello'))]));
    s.send('client', frame(1, enc('get-time'), { mask: [0x36, 0x0d, 0x29, 0x16] }), { split: [1, 5, 8] });
    s.send('server', frame(1, enc('{"time": "09:43:38"}')));
    s.close();
    const c = await analyze(s.packets);
    expect(c.connections[0].protocol).toBe('websocket');
    expect(c.warnings.map((w: any) => w.message)).toEqual([`Sec-WebSocket-Accept bm90IHRoZSByaWdodCBvbmU= does not match the key ${KEY} (expected s3pPLMBiTxaQ9kYGzzhZRbK+xOo=)`]);
    const texts = messages(c, 'ws-message').map((m: any) => [m.from, m.text, m.frames.length]);
    expect(texts).toEqual([['server', 'hello', 1], ['client', 'get-time', 3], ['server', '{"time": "09:43:38"}', 1]]);
    expect(c.updates.map((u: any) => u.messages)).toEqual([['ws-message'], ['ws-message', 'ws-message']]);
  });

  test('--payloads: a fragmented message is shown joined; text is escaped for the terminal', async () => {
    const { pcapFile } = await import('./helpers/synth.js');
    const { run } = await import('./helpers/run.js');
    // Text by RFC 6455's rules (valid UTF-8, no C0 control but tab), yet unsafe on a terminal:
    // a C1 CSI, a bidi override, a tab; and a message of two fragments with a ping between.
    const evil = 'a\u009b31m \u202eb\tc';
    const s = session().handshake();
    s.send('client', `GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    s.send('server', `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${websocketAccept(KEY)}\r\n\r\n`);
    s.send('server', frame(1, enc('plain {"t": 1}')));
    s.send('server', frame(1, enc(evil)));
    s.send('server', Buffer.concat([frame(1, enc(evil), { fin: false }), frame(9, enc('ping')), frame(0, enc('!'))]));
    const r = await run('--payloads', pcapFile(s.close().packets));
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    const escaped = 'a\\x9b31m \\u{202e}b\\tc';
    expect(r.stdout).toContain(`   plain {"t": 1}  (text)`);
    expect(r.stdout).toContain(`   ${escaped}  (text)`);
    expect(r.stdout).toContain(`=> server message (text, 14 bytes): ${escaped}!`);
  });

  test('--payloads: a frame with lost bytes shows zeros for them in its first 64 bytes', async () => {
    const { pcapFile } = await import('./helpers/synth.js');
    const { run } = await import('./helpers/run.js');
    const s = session().handshake();
    s.send('client', `GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    s.send('server', `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${websocketAccept(KEY)}\r\n\r\n`);
    // A 204-byte frame (4 header bytes, 200 of text) in three segments; the middle one is lost.
    const first = s.packets.length;
    s.send('server', frame(1, enc('x'.repeat(200))), { split: [10, 30, 164] });
    s.packets.splice(first + 1, 1);
    s.send('client', frame(1, enc('ok'), { mask: [1, 2, 3, 4] }));
    const r = await run('--payloads', pcapFile(s.close().packets));
    const hexOf = (n: number, byte: string) => Array(n).fill(byte).join(' ');
    // Lines over WRAP bytes wrap (issue 13.8): joined again to look for the frame.
    expect(r.stdout.replace(/\n {3}\+ /g, '')).toContain(`S1: 81 7e 00 c8 ${hexOf(6, '78')} ${hexOf(30, '00')} ${hexOf(24, '78')} ... (204 bytes)`);
  });
});
