import { describe, expect, test } from 'vitest';
import { CadenceBudget, IntervalStore } from '../src/analysis/cadence.js';
import { writePcap } from '../src/capture/writer.js';
import { LIMITS } from '../src/limits.js';
import { merge, type TcpSession } from '../src/synth/tcp.js';
import { wsFrame } from '../src/synth/websocket.js';
import { run, runJson } from './helpers/run.js';
import { schemaErrors } from './helpers/schema.js';
import { session, tempFile } from './helpers/synth.js';

// Issue 16, cadence per pushed stream: time to the first event, inter-event intervals
// (nearest-rank median, p95, p99, max), events per second, wire bytes per event and per useful
// byte. The captures are built with the project's synthesizer at event times chosen here, and
// the expected figures are worked out here by hand from those times and the bytes sent; the
// recorded fixture's are tshark's frame times.

const START = 1_767_225_600;

/** Moves a session's clock to START + t seconds exactly (t given in whole microseconds). */
function at(s: TcpSession, t: number): TcpSession {
  const us = Math.round(t * 1e6);
  return s.setTime(START + Math.floor(us / 1e6), (us % 1e6) * 1000);
}

/** Frame bytes of a packet with `payload` bytes: Ethernet 14 + IPv4 20 + TCP 20. */
const frame = (payload: number) => 54 + payload;

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n';
const SUBSCRIBE = 'GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n';

/**
 * An SSE stream: the subscription at `t0`, its head 10 ms later, then an event at each of
 * `times` (seconds from START), each `data: {"n":i}` in a segment of its own, ACKed by the client.
 */
function sseStream(port: number, t0: number, times: number[]): { s: TcpSession; data: string[] } {
  const s = session({ client: { ip: '10.0.0.1', port }, server: { ip: '10.0.0.2', port: 8000 }, start: START });
  at(s, t0 - 0.001).handshake();
  at(s, t0).send('client', SUBSCRIBE);
  at(s, t0 + 0.01).send('server', HEAD);
  const data: string[] = [];
  times.forEach((t, i) => {
    const d = `{"n":${i + 1}}`;
    data.push(d);
    at(s, t).send('server', `data: ${d}\n\n`);
  });
  at(s, times[times.length - 1] + 1).close('client');
  return { s, data };
}

/** Intervals chosen for the SSE stream (seconds), 20 of them. */
const SSE_INTERVALS = [0.1, 0.105, 0.098, 0.25, 0.101, 0.099, 0.102, 0.5, 0.1, 0.097, 0.103, 0.1, 0.104, 0.096, 1.25, 0.1, 0.101, 0.099, 0.3, 0.1];
// Sorted by hand: 0.096 0.097 0.098 0.099 0.099 0.100 0.100 0.100 0.100 0.100 | 0.101 0.101 0.102
// 0.103 0.104 0.105 0.250 0.300 0.500 1.250. Nearest rank of n = 20: the median is the
// ceil(0.5 x 20) = 10th, 0.100; p95 the 19th, 0.500; p99 the ceil(19.8) = 20th, 1.250 = max.
// The sum is 3.905 s: 20 intervals over 3.905 s is 5.122 events/s.
const SSE_EXPECTED = { median: 0.1, p95: 0.5, p99: 1.25, max: 1.25, sum: 3.905 };

function sseTimes(first: number): number[] {
  const times = [first];
  for (const dt of SSE_INTERVALS) times.push(Math.round((times[times.length - 1] + dt) * 1e6) / 1e6);
  return times;
}

/**
 * A WebSocket stream: the upgrade, its 101 at `t101`, server pushes at t101 + `pushes`, and one
 * client message (at t101 + 0.2) answered 10 ms later: an answer, not a push.
 */
function wsStream(port: number, t101: number, pushes: number[]): { s: TcpSession; payloads: string[] } {
  const s = session({ client: { ip: '10.0.0.1', port }, server: { ip: '10.0.0.2', port: 8001 }, start: START });
  at(s, t101 - 0.01).handshake();
  s.send('client', 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  at(s, t101).send('server', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
  const payloads: string[] = [];
  const events = [...pushes.map((t) => ({ t, push: true })), { t: 0.2, push: false }].sort((a, b) => a.t - b.t);
  for (const e of events) {
    if (e.push) {
      const p = `{"tick":${payloads.length + 1}}`;
      payloads.push(p);
      at(s, t101 + e.t).send('server', wsFrame(1, p));
    } else {
      at(s, t101 + e.t).send('client', wsFrame(1, 'what-time', [1, 2, 3, 4]));
      at(s, t101 + e.t + 0.01).send('server', wsFrame(1, '{"time":"12:00"}'));
    }
  }
  at(s, t101 + pushes[pushes.length - 1] + 1).close('client');
  return { s, payloads };
}

/** Pushes 20 ms, 120, 320, 350 and 750 ms after the 101: intervals 0.100 0.200 0.030 0.400. */
const WS_PUSHES = [0.02, 0.12, 0.32, 0.35, 0.75];
// Sorted: 0.030 0.100 0.200 0.400; n = 4: median the 2nd, 0.100; p95 and p99 the 4th, 0.400 = max.
const WS_EXPECTED = { median: 0.1, p95: 0.4, p99: 0.4, max: 0.4 };

describe('IntervalStore: nearest-rank percentiles in bounded memory', () => {
  test('exact: the ceil(p/100 x n)-th smallest, never an average', () => {
    const s = new IntervalStore();
    for (const x of [5, 1, 4, 2, 3]) s.add(x);
    // n = 5: median the 3rd (3), p95 and p99 the 5th.
    expect(s.percentiles([50, 95, 99])).toEqual([3, 5, 5]);
    const h = new IntervalStore();
    for (let i = 100; i >= 1; i--) h.add(i);
    // n = 100: the 50th, 95th and 99th smallest (an interpolating median would say 50.5).
    expect(h.percentiles([50, 95, 99])).toEqual([50, 95, 99]);
    expect([h.max, h.exact, new IntervalStore().percentiles([50])]).toEqual([100, true, [null]]);
  });

  test(`past LIMITS.cadenceExactIntervals (${LIMITS.cadenceExactIntervals}) values, a log histogram: within 0.55%, the maximum exact`, () => {
    const s = new IntervalStore();
    const values: number[] = [];
    let x = 12345;
    for (let i = 0; i < LIMITS.cadenceExactIntervals + 5000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const v = (x % 1_000_000) / 1e6 + (i % 97 === 0 ? 3 : 0); // 1 us to 1 s, and a tail near 3 s
      values.push(v);
      s.add(v);
    }
    expect(s.exact).toBe(false);
    const sorted = values.slice().sort((a, b) => a - b);
    const rank = (p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1];
    const got = s.percentiles([50, 95, 99]) as number[];
    [50, 95, 99].forEach((p, i) => expect(Math.abs(got[i] - rank(p)) / rank(p)).toBeLessThan(0.0055));
    expect(s.max).toBe(sorted[sorted.length - 1]);
  });

  test("the capture's budget of exact intervals: past it, new growth goes to a histogram", () => {
    const budget = new CadenceBudget(64);
    const a = new IntervalStore(budget);
    const b = new IntervalStore(budget);
    for (let i = 0; i < 40; i++) a.add(i / 1000);
    for (let i = 0; i < 40; i++) b.add(i / 1000);
    // a grew to 64 slots (16, 32, 64): the budget is spent, so b is a histogram from its first value.
    expect([a.exact, b.exact]).toEqual([true, false]);
    expect(b.percentiles([50])[0]).toBeCloseTo(0.019, 3);
  });
});

describe('cadence of pushed streams', () => {
  const sse = sseStream(50000, 1, sseTimes(1.04));
  const ws = wsStream(50001, 2, WS_PUSHES);
  const file = tempFile(writePcap(merge(sse.s, ws.s), { nanosecond: true }));

  test('an SSE stream at chosen times: time to first event, median, p95, p99, max, events/s, bytes', async () => {
    const doc = await runJson(file);
    expect(schemaErrors('jsonDocument', doc)).toEqual([]);
    const c = doc.captures[0].connections.find((k: any) => k.protocol === 'sse');
    const k = c.cadence;
    expect(k.kind).toBe('sse');
    expect(k.events).toBe(21);
    // The first event 40 ms after the request (at 1.000 s; the capture starts at 0.999 s).
    expect(k.timeToFirstEvent).toBeCloseTo(0.04, 9);
    expect(k.firstEvent).toBeCloseTo(0.041, 9);
    expect(k.interval).toEqual({ count: 20, median: expect.closeTo(SSE_EXPECTED.median, 9), p95: expect.closeTo(SSE_EXPECTED.p95, 9), p99: expect.closeTo(SSE_EXPECTED.p99, 9), max: expect.closeTo(SSE_EXPECTED.max, 9), exact: true });
    expect(k.eventsPerSecond).toBeCloseTo(20 / SSE_EXPECTED.sum, 3);
    // On the wire: each event's segment and the client's ACK of it; the first update also
    // carries the event stream's head and its ACK. Useful: the events' data.
    const wire = sse.data.reduce((n, d) => n + frame(`data: ${d}\n\n`.length) + frame(0), 0) + frame(HEAD.length) + frame(0);
    const useful = sse.data.reduce((n, d) => n + d.length, 0);
    expect([k.wireBytes, k.usefulBytes]).toEqual([wire, useful]);
    expect(k.bytesPerEvent).toBeCloseTo(wire / 21, 1);
    expect(k.wireBytesPerUsefulByte).toBeCloseTo(wire / useful, 3);
  });

  test('server-pushed WebSocket messages, timed from the 101; a message answering the client is no push', async () => {
    const doc = await runJson(file);
    const k = doc.captures[0].connections.find((c: any) => c.protocol === 'websocket').cadence;
    expect(k.kind).toBe('websocket');
    expect(k.events).toBe(5);
    expect(k.timeToFirstEvent).toBeCloseTo(0.02, 9);
    expect(k.interval).toEqual({ count: 4, median: expect.closeTo(WS_EXPECTED.median, 9), p95: expect.closeTo(WS_EXPECTED.p95, 9), p99: expect.closeTo(WS_EXPECTED.p99, 9), max: expect.closeTo(WS_EXPECTED.max, 9), exact: true });
    // 4 intervals over 0.730 s.
    expect(k.eventsPerSecond).toBeCloseTo(4 / 0.73, 3);
    const wire = ws.payloads.reduce((n, p) => n + frame(2 + p.length) + frame(0), 0);
    expect([k.wireBytes, k.usefulBytes]).toEqual([wire, ws.payloads.reduce((n, p) => n + p.length, 0)]);
  });

  test('the capture: every stream together, in JSON, the summary and the HTML report', async () => {
    const cap = (await runJson(file)).captures[0];
    // Pooled: 20 + 4 = 24 intervals. Sorted by hand: 0.030 0.096 0.097 0.098 0.099 0.099 0.100 x 6
    // (5 of SSE, 1 of WS) | 0.101 0.101 0.102 0.103 0.104 0.105 0.200 0.250 0.300 0.400 0.500 1.250:
    // the 12th (median) is 0.100, the 23rd (p95: ceil(22.8)) 0.500, the 24th (p99) 1.250.
    expect(cap.cadence).toMatchObject({ streams: 2, events: 26, interval: { count: 24, median: expect.closeTo(0.1, 9), p95: expect.closeTo(0.5, 9), p99: expect.closeTo(1.25, 9), max: expect.closeTo(1.25, 9), exact: true } });
    // Time to first event: the median of 0.040 and 0.020 by nearest rank is the 1st, 0.020.
    expect(cap.cadence.timeToFirstEvent).toBeCloseTo(0.02, 9);
    // 25 gaps between 26 events, from the first (SSE's, at 1.040 s) to the last (SSE's too, at 1.040 + 3.905 s).
    expect(cap.cadence.eventsPerSecond).toBeCloseTo(25 / SSE_EXPECTED.sum, 3);
    const summary = (await run(file)).stdout;
    const table = summary.slice(summary.indexOf('Cadence of pushed streams'));
    const row = (name: string) => table.split('\n').find((l) => l.startsWith(`│ ${name} `))!.split('│').slice(1, -1).map((c) => c.trim());
    expect(row('#1 sse')).toEqual(['#1 sse', '21', '40.000', '100.000', '500.000', '1250.000', '1250.000', (20 / SSE_EXPECTED.sum).toFixed(3), row('#1 sse')[8], row('#1 sse')[9]]);
    expect(row('#2 websocket').slice(0, 7)).toEqual(['#2 websocket', '5', '20.000', '100.000', '400.000', '400.000', '400.000']);
    expect(row('all 2 streams').slice(0, 4)).toEqual(['all 2 streams', '26', '20.000', '100.000']);
    const html = tempFile('', 'report.html');
    expect((await run('--html', html, file)).code).toBe(0);
    const page = (await import('node:fs')).readFileSync(html, 'utf8');
    expect(page).toContain('<h4 id="cadence-0">Cadence of pushed streams</h4>');
    expect(page).toMatch(/<tr><th scope="row">#1 sse<\/th><td class="n">21<\/td><td class="n">40\.000<\/td><td class="n">100\.000<\/td><td class="n">500\.000<\/td>/);
  });

  test('the summary lists 10 streams, then says how many more, and the line for all of them', async () => {
    const streams = Array.from({ length: 12 }, (_, i) => sseStream(51000 + i, 1 + i, [1.05 + i, 1.15 + i, 1.35 + i]).s);
    const out = (await run(tempFile(writePcap(merge(...streams), { nanosecond: true })))).stdout;
    const table = out.slice(out.indexOf('Cadence of pushed streams'));
    expect(table.split('\n').filter((l) => /^│ #\d+ sse /.test(l)).length).toBe(10);
    expect(table).toContain('... 2 more streams');
    // Every stream: first event 50 ms after its request, intervals of 100 and 200 ms.
    const all = table.split('\n').find((l) => l.startsWith('│ all 12 streams'))!.split('│').slice(1, -1).map((c) => c.trim());
    // 24 intervals: 12 of 0.100, 12 of 0.200: the 12th is 0.100, the 23rd and 24th 0.200.
    expect(all.slice(0, 7)).toEqual(['all 12 streams', '36', '50.000', '100.000', '200.000', '200.000', '200.000']);
  });
});

describe('a recorded capture against tshark', () => {
  test('fixtures/recorded-curl-sse.pcap: the times of the frames carrying the events', async () => {
    // `tshark -r fixtures/recorded-curl-sse.pcap -T fields -e frame.number -e frame.time_relative
    // -e tcp.srcport -e tcp.len`: the request is frame 4 (0.000086); the server's frames 6 (the
    // head with event 1), 8, 10, ... 24 carry the ten events, at these times.
    const request = 0.000086;
    const events = [0.10774, 0.207717, 0.308636, 0.408697, 0.509397, 0.609178, 0.708809, 0.808668, 0.909353, 1.009325];
    const intervals = events.slice(1).map((t, i) => Math.round((t - events[i]) * 1e6) / 1e6);
    const sorted = intervals.slice().sort((a, b) => a - b);
    const rank = (p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1];
    const k = (await runJson('fixtures/recorded-curl-sse.pcap')).captures[0].connections[0].cadence;
    expect(k.events).toBe(10);
    expect(k.timeToFirstEvent).toBeCloseTo(events[0] - request, 9);
    expect(k.interval.median).toBeCloseTo(rank(50), 9);
    expect(k.interval.p95).toBeCloseTo(rank(95), 9);
    expect(k.interval.p99).toBeCloseTo(rank(99), 9);
    expect(k.interval.max).toBeCloseTo(Math.max(...intervals), 9);
    expect(k.eventsPerSecond).toBeCloseTo(9 / (events[9] - events[0]), 3);
    // tshark's frame lengths: frames 6+7 (275 + 66), 8 of 86 + 66 (frames 8-23), 24+25 (93 + 66).
    expect(k.wireBytes).toBe(275 + 66 + 8 * (86 + 66) + 93 + 66);
    // The same in --stats mode, where messages are not traced: the times are the packets'.
    const stats = JSON.parse((await run('--stats', 'json', '--connections', 'fixtures/recorded-curl-sse.pcap')).stdout).captures[0].connections[0].cadence;
    expect(stats).toEqual(k);
  });
});
