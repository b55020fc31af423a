// Issue 15: HTTP/2 as one more layer: h2 over TLS by ALPN, h2c by its preface, streams
// multiplexed, and SSE read from DATA frames as they arrive. Oracles: the fixtures' own
// server logs (fixtures/h2/*.log) and tshark's frame numbers in fixtures/h2/EXPECTED.md.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ROOT, runJson } from './helpers/run.js';

const H2 = resolve(ROOT, 'fixtures/h2');
const pcap = (name: string) => join(H2, `${name}.pcap`);
const keys = (name: string) => join(H2, `${name}.keys`);
const serverLog = (name: string): any[] => readFileSync(join(H2, `${name}.log`), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.side === 'server');
const capture = (j: any) => j.captures[0];
const connection = (j: any) => j.captures[0].connections[0];

describe('HTTP/2 with SSE interleaved with polls (RFC 9113, WHATWG HTML §9.2)', () => {
  for (const [name, args, eventFrames, pollRequests, pollResponses] of [
    // tshark -Y http2 (EXPECTED.md): stream 1's DATA frames carrying events; /poll on streams 3, 5, 7.
    ['h2c-prior-knowledge-sse', [], [13, 15, 20, 22, 27, 29, 34, 36, 38, 40], [17, 24, 31], [18, 25, 32]],
    ['h2-tls-sse', ['--keylog', keys('h2-tls-sse')], [17, 19, 24, 26, 31, 33, 38, 40, 42, 44], [21, 28, 35], [22, 29, 36]],
  ] as Array<[string, string[], number[], number[], number[]]>) {
    test(`${name}: every event the server wrote, at the frames that carried it; the polls answered`, async () => {
      const j = await runJson(...args, pcap(name));
      const c = connection(j);
      const log = serverLog(name);
      const sent = log.filter((e) => e.event === 'sse-event');
      expect(c.protocol).toBe('sse');
      const events = c.messages.filter((m: any) => m.kind === 'sse-event');
      expect(events.map((m: any) => [m.id, m.event, m.data])).toEqual(sent.map((e) => [e.id, e.type, e.data]));
      expect(events.map((m: any) => m.frames)).toEqual(eventFrames.map((f) => [f]));
      const polls = c.messages.filter((m: any) => m.kind === 'http-request' && m.target === '/poll');
      expect(polls.map((m: any) => m.frames.at(-1))).toEqual(pollRequests);
      const answers = c.messages.filter((m: any) => m.kind === 'http-response' && m.bodyLength !== null);
      expect(answers.map((m: any) => m.frames.at(-1))).toEqual(pollResponses);
      expect(answers.map((m: any) => m.streamId)).toEqual([3, 5, 7]);
      expect(answers.every((m: any) => m.version === 'HTTP/2')).toBe(true);
      // An update per event and per poll, as over HTTP/1.
      expect(capture(j).updateCount).toBe(sent.length + polls.length);
    });
  }
});

test('h2-tls-poll: ALPN h2 hands the plaintext to HTTP/2; the bodies the server logged, one update per poll', async () => {
  const j = await runJson('--keylog', keys('h2-tls-poll'), pcap('h2-tls-poll'));
  const c = connection(j);
  const logged = serverLog('h2-tls-poll').filter((e) => e.event === 'response');
  expect(c.protocol).toBe('http2');
  expect(c.tls).toMatchObject({ version: 'TLS 1.3', alpn: { selected: 'h2' }, decrypted: true });
  const responses = c.messages.filter((m: any) => m.kind === 'http-response');
  expect(responses.map((m: any) => [m.streamId, m.status, m.body])).toEqual(logged.map((e) => [e.stream, e.status, e.body]));
  expect(c.messages.filter((m: any) => m.kind === 'http-request').map((m: any) => m.frames.at(-1))).toEqual([14, 17, 20, 23, 26]);
  expect(capture(j).updateCount).toBe(logged.length);
  // The useful payload of an update is the body of its poll (update n answers poll n).
  expect(capture(j).steadyState.overhead.payload).toBe(logged[capture(j).steadyState.update - 1].bodyBytes);
});

test('without the key, h2 over TLS is measured as records, said once with its code', async () => {
  const j = await runJson(pcap('h2-tls-poll'));
  expect(connection(j).protocol).toBe('tls');
  expect(capture(j).warnings.map((w: any) => w.code)).toContain('tls-encrypted');
});

test('h2c-upgrade: Upgrade: h2c hands the connection to HTTP/2; the upgraded request is answered on stream 1', async () => {
  const j = await runJson(pcap('h2c-upgrade'));
  const c = connection(j);
  expect(c.protocol).toBe('http2');
  const responses = c.messages.filter((m: any) => m.kind === 'http-response');
  // nghttp fetched the file twice (h2c-upgrade.log): the 101, then stream 1's answer, then stream 13's.
  expect(responses.map((m: any) => [m.version, m.status, m.streamId])).toEqual([['HTTP/1.1', 101, undefined], ['HTTP/2', 200, 1], ['HTTP/2', 200, 13]]);
});
