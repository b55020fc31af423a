// --payloads says where a stream lost bytes, was cut off, or had a copy with different bytes,
// among the messages where it happened; every cut of what is shown says so with the full
// length; --max-payload sets what is kept; long lines wrap (issue 13.7, 13.8, 13.16).
import { describe, expect, test } from 'vitest';
import { writePcap } from '../src/capture/writer.js';
import { WRAP } from '../src/report/payloads.js';
import { wsFrame } from '../src/synth/websocket.js';
import { conflictingCopies } from './helpers/tcp-hostile.js';
import { ROOT, run } from './helpers/run.js';
import { session, tempFile } from './helpers/synth.js';

const lines = (s: string) => s.split('\n');
/** The output with wrapped lines joined again. */
const unwrapped = (s: string) => lines(s.replace(/\n {3}\+ /g, ''));

describe('notes among the messages', () => {
  test('a gap: the 37 client bytes tshark flags at frame 12 (tcp.analysis.ack_lost_segment; seq jumps 71 -> 108), just before the response they asked for', async () => {
    const r = await run('--payloads', `${ROOT}/fixtures/synth-ajax-lossy.pcap`);
    const out = lines(r.stdout);
    const at = out.indexOf('   [gap: 37 bytes of client data missing before frame 12]');
    expect(at).toBeGreaterThan(0);
    // The response to the lost request (frame 12) comes right after the note.
    expect(out[at + 1]).toBe('<< server HTTP 200 OK [frame 12, 20.000900 s]');
    expect(out.filter((l) => l.includes('[gap:'))).toHaveLength(1);
  });

  test('a copy with different bytes, at the request it concerns, saying which copy is shown', async () => {
    const c = conflictingCopies();
    const r = await run('--payloads', tempFile(writePcap(c.packets)));
    const notes = lines(r.stdout).filter((l) => l.includes('retransmitted with different bytes'));
    expect(notes).toEqual([
      `   [retransmitted with different bytes: 4 bytes of frame ${c.retransmission} differ from the first copy (frame ${c.firstRetransmitted}), which is the one shown]`,
      `   [retransmitted with different bytes: 4 bytes of frame ${c.overlapping} differ from the first copy (frame ${c.firstHeld}), which is the one shown]`,
    ]);
    // Shown is the first copy: "/good".
    expect(r.stdout).toContain('>> client HTTP GET /good');
    expect(r.stdout).not.toContain('GET /evil');
  });

  test('a body cut off by the end of the capture: said after the messages before it', async () => {
    const s = session().handshake();
    s.send('client', 'GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(40));
    const r = await run('--payloads', tempFile(writePcap(s.packets)));
    const out = lines(r.stdout);
    const cut = out.findIndex((l) => l.startsWith('   [cut: '));
    expect(cut).toBeGreaterThan(out.findIndex((l) => l.startsWith('>> client HTTP GET /big')));
    expect(out[cut]).toMatch(/^ {3}\[cut: .*60.*\]$/);
  });
});

describe('what is shown, and every cut of it', () => {
  // A WebSocket connection: the server pushes one 1,000-byte text message of digits.
  const s = session().handshake();
  s.send('client', 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  s.send('server', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
  const text = Array.from({ length: 1000 }, (_, i) => String(i % 10)).join('');
  s.send('server', wsFrame(1, text));
  s.close();
  const file = tempFile(writePcap(s.packets));

  test('--max-payload 100: the frame shows its first 100 bytes and says of how many; each HTTP head its first 100', async () => {
    const r = await run('--payloads', '--max-payload', '100', file);
    const frame = unwrapped(r.stdout).find((l) => l.startsWith('S1: '))!;
    expect(frame).toContain(`${text.slice(0, 100)}  [cut: the first 100 of 1000 bytes shown]`);
    expect(lines(r.stdout).filter((l) => /^ {3}\[cut: the first 100 of its \d+ bytes on the wire shown\]$/.test(l))).toHaveLength(2);
  });

  test('by default (64 KiB) nothing is cut, and the 1,000 digits wrap at WRAP bytes, continuations marked', async () => {
    const r = await run('--payloads', file);
    expect(r.stdout).not.toContain('[cut:');
    for (const l of lines(r.stdout)) expect(Buffer.byteLength(l)).toBeLessThanOrEqual(WRAP + '   + '.length);
    const frame = unwrapped(r.stdout).find((l) => l.startsWith('S1: '))!;
    expect(frame).toContain(`${text}  (text)`);
    // Wrapped into ceil(length / WRAP) lines: the first, and continuations.
    const at = lines(r.stdout).findIndex((l) => l.startsWith('S1: '));
    const continued = lines(r.stdout).slice(at + 1).findIndex((l) => !l.startsWith('   + '));
    expect(continued + 1).toBe(Math.ceil(Buffer.byteLength(frame) / WRAP));
  });

  test('--max-payload takes a size, and refuses nonsense with a usage error', async () => {
    for (const bad of ['0', 'abc', '-1', '1G']) {
      const r = await run('--max-payload', bad, file);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toMatch(/^sockstat: option '--max-payload <size>' argument .* is invalid/);
    }
  });

  test('the header says in what order connections come', async () => {
    const r = await run('--payloads', file);
    expect(lines(r.stdout).slice(1, 3).join(' ')).toMatch(/^\(connections are printed as they end, .*#N numbers them in the order they began/);
  });
});
