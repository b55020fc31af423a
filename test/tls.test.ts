// Issue 14: TLS read through its record layer, decrypted with a key log (files, SSLKEYLOGFILE,
// a pcapng Decryption Secrets Block), and measured without one. The oracles are the recorded
// fixtures' own logs (fixtures/tls/*.log, JSON lines written by the server and client as they
// spoke) and tshark's view in fixtures/tls/EXPECTED.md, never sockstat's output.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { writePcapng, type OutPacket } from '../src/capture/writer.js';
import { ROOT, run, runJson } from './helpers/run.js';

const TLS = resolve(ROOT, 'fixtures/tls');
const pcap = (name: string) => join(TLS, `${name}.pcap`);
const keys = (name: string) => join(TLS, `${name}.keys`);
const log = (name: string): any[] => readFileSync(join(TLS, `${name}.log`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const serverLog = (name: string) => log(name).filter((e) => e.side === 'server');
const tmp = mkdtempSync(join(tmpdir(), 'sockstat-tls-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Classic pcap records (the fixtures are tcpdump's: little-endian, microseconds). */
function records(file: string): OutPacket[] {
  const b = readFileSync(file);
  const out: OutPacket[] = [];
  for (let at = 24; at + 16 <= b.length; ) {
    const len = b.readUInt32LE(at + 8);
    out.push({ tsSec: b.readUInt32LE(at), tsNsec: b.readUInt32LE(at + 4) * 1000, data: b.subarray(at + 16, at + 16 + len), originalLength: b.readUInt32LE(at + 12) });
    at += 16 + len;
  }
  return out;
}

const connection = (j: any) => j.captures[0].connections[0];
const capture = (j: any) => j.captures[0];

describe('HTTPS polling: decrypted with the key log, the messages the server logged', () => {
  // name, TLS version and suite as node reported them (the log's "tls" lines), frames of the GETs and 200s from tshark -o tls.keylog_file (EXPECTED.md)
  const cases: Array<[string, string, string, number[], number[]]> = [
    ['https-poll-tls13', 'TLS 1.3', 'TLS_AES_256_GCM_SHA384', [8, 11, 14, 17, 20], [9, 12, 15, 18, 21]],
    ['https-poll-tls12', 'TLS 1.2', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', [10, 13, 16, 19, 22], [11, 14, 17, 20, 23]],
    ['https-poll-tls12-chacha', 'TLS 1.2', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', [10, 13, 16], [11, 14, 17]],
    ['https-poll-tls13-chacha', 'TLS 1.3', 'TLS_CHACHA20_POLY1305_SHA256', [8, 11, 14], [9, 12, 15]],
    ['https-poll-tls12-cbc', 'TLS 1.2', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', [10, 13, 16], [11, 14, 17]],
  ];
  for (const [name, version, suite, gets, oks] of cases) {
    test(`${name}: ${version} ${suite}`, async () => {
      const j = await runJson('--keylog', keys(name), pcap(name));
      const c = connection(j);
      const logged = serverLog(name).filter((e) => e.event === 'http');
      expect(c.protocol).toBe('http');
      expect(c.tls).toMatchObject({ version, cipherSuite: suite, sni: 'sockstat.test', decrypted: true, alpn: { offered: ['http/1.1'], selected: 'http/1.1' } });
      const requests = c.messages.filter((m: any) => m.kind === 'http-request');
      const responses = c.messages.filter((m: any) => m.kind === 'http-response');
      expect(requests.map((m: any) => `${m.method} ${m.target}`)).toEqual(logged.map((e) => `${e.method} ${e.path}`));
      expect(responses.map((m: any) => m.body)).toEqual(logged.map((e) => e.body));
      expect(requests.map((m: any) => m.frames.at(-1))).toEqual(gets);
      expect(responses.map((m: any) => m.frames.at(-1))).toEqual(oks);
      // One update per poll, as for cleartext polling.
      expect(capture(j).updateCount).toBe(logged.length);
    });
  }

  test('TLS framing of an update: 5-byte headers plus each suite\'s tag and inner type (RFC 8446 §5.2)', async () => {
    // A poll is one record each way; TLS 1.3 AES-GCM adds 5 + 16 + 1 per record, TLS 1.2
    // AES-GCM 5 + 8 (explicit nonce, RFC 5288) + 16, ChaCha20 in TLS 1.2 5 + 16 (RFC 7905).
    const expected: Array<[string, number]> = [['https-poll-tls13', 2 * 22], ['https-poll-tls12', 2 * 29], ['https-poll-tls12-chacha', 2 * 21]];
    for (const [name, tls] of expected) {
      const j = await runJson('--keylog', keys(name), pcap(name));
      const o = capture(j).steadyState.overhead;
      expect(o.tls).toBe(tls);
      // The parts add up to the update's frame bytes.
      expect(o.linkNet + o.tcpHeaders + o.tls + o.framing + o.payload).toBe(capture(j).steadyState.frameBytes);
      // The useful payload is the JSON body the server logged for that poll (update n is poll n).
      expect(o.payload).toBe(Buffer.byteLength(serverLog(name).filter((e) => e.event === 'http')[capture(j).steadyState.update - 1].body));
    }
  });
});

describe('SSE over HTTPS and WSS: the events and messages their ends logged', () => {
  test('sse-https: every event the server wrote, one update each', async () => {
    const j = await runJson('--keylog', keys('sse-https'), pcap('sse-https'));
    const c = connection(j);
    const sent = serverLog('sse-https').filter((e) => e.event === 'sse-event');
    expect(c.protocol).toBe('sse');
    const events = c.messages.filter((m: any) => m.kind === 'sse-event');
    expect(events.map((m: any) => [m.id, m.event, m.data])).toEqual(sent.map((e) => [e.id, e.type, e.data]));
    expect(c.messages.filter((m: any) => m.kind === 'sse-comment')).toHaveLength(serverLog('sse-https').filter((e) => e.event === 'sse-comment').length);
    expect(capture(j).updateCount).toBe(sent.length);
  });

  test('wss: the client\'s messages, the answers and the pushes', async () => {
    const j = await runJson('--keylog', keys('wss'), pcap('wss'));
    const c = connection(j);
    const received = serverLog('wss').filter((e) => e.event === 'ws-recv' && e.opcode === 1);
    const sent = serverLog('wss').filter((e) => e.event === 'ws-send' && e.opcode === 1);
    expect(c.protocol).toBe('websocket');
    const texts = (from: string) => c.messages.filter((m: any) => m.kind === 'ws-frame' && m.from === from && m.opcode === 1).map((m: any) => m.text);
    expect(texts('client')).toEqual(received.map((e) => e.text));
    expect(texts('server')).toEqual(sent.map((e) => e.text));
    // Each message the client sent and its answer is an update, and so is each push.
    expect(capture(j).updateCount).toBe(received.length + sent.filter((e) => e.kind === 'push').length);
  });

  test('https-split-hello: a ClientHello over four segments is still TLS, and decrypts', async () => {
    const j = await runJson('--keylog', keys('https-split-hello'), pcap('https-split-hello'));
    const c = connection(j);
    expect(c.tls.sni).toBe('sockstat.test');
    expect(c.messages.find((m: any) => m.kind === 'tls-handshake').frames).toEqual([4, 6, 8, 10]);
    expect(c.messages.filter((m: any) => m.kind === 'http-response').map((m: any) => m.body)).toEqual(serverLog('https-split-hello').filter((e) => e.event === 'http').map((e) => e.body));
  });
});

describe('without keys, with a wrong key, and with the keys inside the capture', () => {
  const figures = (j: any) => ({ overall: capture(j).overall, updateCount: capture(j).updateCount, steady: capture(j).steadyState.frames });

  test('no key: measured, not read; the same packets, bytes and updates; one coded warning', async () => {
    const withKeys = await runJson('--keylog', keys('https-poll-tls13'), pcap('https-poll-tls13'));
    const without = await runJson(pcap('https-poll-tls13'));
    expect(figures(without)).toEqual(figures(withKeys));
    const c = connection(without);
    expect(c.protocol).toBe('tls');
    expect(c.tls).toMatchObject({ version: 'TLS 1.3', cipherSuite: 'TLS_AES_256_GCM_SHA384', sni: 'sockstat.test', decrypted: false });
    expect(capture(without).warnings.map((w: any) => w.code)).toEqual(['tls-encrypted']);
    // The requests and responses are records of the sizes tshark lists (EXPECTED.md: app 142 and 254 bytes + 5-byte headers).
    const polls = c.messages.filter((m: any) => m.kind === 'tls-record' && m.frames[0] === 17);
    expect(polls.map((m: any) => m.length)).toEqual([147]);
  });

  test('no key, TLS 1.2: the close_notify alerts (frames 25, 27 in tshark) are tear-down, not an update', async () => {
    const j = await runJson(pcap('https-poll-tls12'));
    const alerts = connection(j).messages.filter((m: any) => m.kind === 'tls-alert');
    expect(alerts.map((m: any) => [m.from, m.frames, m.length])).toEqual([['client', [25], 31], ['server', [27], 31]]);
    expect(capture(j).updateCount).toBe(5);
  });

  test('a wrong key: said with its code and frame, and the figures still hold', async () => {
    const wrong = readFileSync(keys('https-poll-tls12'), 'utf8').replace(/ ([0-9a-f]{8})([0-9a-f]+)$/m, (_, a, b) => ` ${a.split('').reverse().join('')}${b}`);
    const file = join(tmp, 'wrong.keys');
    writeFileSync(file, wrong);
    const good = await runJson('--keylog', keys('https-poll-tls12'), pcap('https-poll-tls12'));
    const bad = await runJson('--keylog', file, pcap('https-poll-tls12'));
    expect(capture(bad).overall).toEqual(capture(good).overall);
    const codes = capture(bad).warnings.map((w: any) => w.code);
    expect(codes).toContain('tls-decrypt-failed');
    expect(capture(bad).warnings.find((w: any) => w.code === 'tls-decrypt-failed').frame).toBe(8);
  });

  test('a session the key log does not hold: named by its client random', async () => {
    const j = await runJson('--keylog', keys('https-poll-tls12'), pcap('https-poll-tls13'));
    const w = capture(j).warnings.find((x: any) => x.code === 'tls-no-key');
    expect(w.message).toMatch(/client random [0-9a-f]{64}/);
  });

  test('SSLKEYLOGFILE is read when no --keylog is given, and the summary says so', async () => {
    const before = process.env.SSLKEYLOGFILE;
    process.env.SSLKEYLOGFILE = keys('https-poll-tls13');
    try {
      const r = await run(pcap('https-poll-tls13'));
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`TLS keys: ${keys('https-poll-tls13')}`);
      expect(r.stdout).toMatch(/http over TLS 1\.3 TLS_AES_256_GCM_SHA384 to sockstat\.test \(decrypted\)/);
    } finally {
      if (before === undefined) delete process.env.SSLKEYLOGFILE;
      else process.env.SSLKEYLOGFILE = before;
    }
  });

  test('a key log that cannot be read: one line naming it, and the capture still analysed', async () => {
    const r = await run('--keylog', join(tmp, 'absent.keys'), pcap('https-poll-tls13'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sockstat: .*absent\.keys: cannot read the key log: ENOENT\n/);
    expect(r.stdout).toContain('Updates: 5');
  });

  test('keys in a pcapng Decryption Secrets Block, mid-file, need no option', async () => {
    const packets = records(pcap('https-poll-tls13'));
    const file = join(tmp, 'embedded.pcapng');
    // Before the first packet the keys are needed for (the ServerHello is frame 6).
    writeFileSync(file, writePcapng(packets, { secrets: [{ beforePacket: 3, secretsType: 0x544c534b, data: readFileSync(keys('https-poll-tls13')) }] }));
    const j = await runJson(file);
    expect(connection(j).tls.decrypted).toBe(true);
    expect(connection(j).messages.filter((m: any) => m.kind === 'http-response').map((m: any) => m.body)).toEqual(serverLog('https-poll-tls13').filter((e) => e.event === 'http').map((e) => e.body));
  });
});
