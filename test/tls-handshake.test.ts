import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  HandshakeReader,
  HELLO_RETRY_REQUEST_RANDOM,
  probeTlsRecord,
  type ClientHello,
  type HandshakeEvent,
} from '../src/dissect/tls/handshake.js';
import { rng } from '../src/synth/random.js';

// Real handshakes: node:tls on both ends of an in-memory pipe, each end's writes recorded.
// The record layer is the integrator's; a minimal splitter here stands in for it.

interface TlsRecord {
  type: number;
  version: number;
  fragment: Uint8Array;
}

/** RFC 8446 §5.1 TLSPlaintext: type(1) legacy_record_version(2) length(2) fragment. Complete records only. */
function records(bytes: Uint8Array): TlsRecord[] {
  const out: TlsRecord[] = [];
  let i = 0;
  while (i + 5 <= bytes.length) {
    const length = (bytes[i + 3] << 8) | bytes[i + 4];
    if (i + 5 + length > bytes.length) break;
    out.push({ type: bytes[i], version: (bytes[i + 1] << 8) | bytes[i + 2], fragment: bytes.subarray(i + 5, i + 5 + length) });
    i += 5 + length;
  }
  return out;
}

/** One end of an in-memory pipe that keeps what it was given to write. */
class End extends Duplex {
  other!: End;
  readonly wrote: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.wrote.push(Buffer.from(chunk));
    const other = this.other;
    setImmediate(() => other.push(chunk));
    cb();
  }
  override _read(): void {}
  override _final(cb: (e?: Error | null) => void): void {
    const other = this.other;
    setImmediate(() => other.push(null));
    cb();
  }
}

interface Session {
  client: Uint8Array;
  server: Uint8Array;
  cipher: tls.CipherNameAndProtocol;
  alpn: string | false | null;
  protocol: string | null;
}

let dir = '';
let key: Buffer;
let cert: Buffer;

async function handshake(o: { maxVersion?: tls.SecureVersion; clientCurve?: string; serverCurve?: string } = {}): Promise<Session> {
  const a = new End();
  const b = new End();
  a.other = b;
  b.other = a;
  const server = tls.createServer({ key, cert, ALPNProtocols: ['h2', 'http/1.1'], maxVersion: o.maxVersion, ecdhCurve: o.serverCurve });
  const accepted = new Promise<tls.TLSSocket>((resolve) => server.once('secureConnection', resolve));
  // tls.Server takes any Duplex injected as a 'connection'.
  server.emit('connection', b);
  const client = tls.connect({
    socket: a,
    servername: 'sockstat.test',
    ALPNProtocols: ['h2', 'http/1.1'],
    ca: cert,
    maxVersion: o.maxVersion,
    ecdhCurve: o.clientCurve,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('secureConnect', () => resolve());
    client.once('error', reject);
  });
  const s = await accepted;
  // One round of data, so TLS 1.3's NewSessionTicket and the like are written too.
  client.write('ping');
  await new Promise((resolve) => s.once('data', resolve));
  const session: Session = {
    client: Buffer.concat(a.wrote),
    server: Buffer.concat(b.wrote),
    cipher: client.getCipher(),
    alpn: client.alpnProtocol,
    protocol: client.getProtocol(),
  };
  client.destroy();
  s.destroy();
  server.close();
  return session;
}

/**
 * What the integrator does: handshake records' fragments to the reader, in order. TLS 1.2:
 * after a ChangeCipherSpec the handshake records are ciphertext (RFC 5246 §7.1).
 */
function handshakeEvents(bytes: Uint8Array, version = 0, reader = new HandshakeReader()): HandshakeEvent[] {
  if (version) reader.version = version;
  const events: HandshakeEvent[] = [];
  for (const r of records(bytes)) {
    if (r.type === 20 && reader.version !== 0 && reader.version <= 0x0303) reader.encrypted = true;
    if (r.type === 22) events.push(...reader.feed(r.fragment));
  }
  return events;
}

function handshakeStream(bytes: Uint8Array): Uint8Array {
  const rs = records(bytes);
  const cut = rs.findIndex((r) => r.type === 20);
  return Buffer.concat((cut < 0 ? rs : rs.slice(0, cut)).filter((r) => r.type === 22).map((r) => r.fragment));
}

function only<T extends HandshakeEvent['type']>(events: HandshakeEvent[], type: T): Array<Extract<HandshakeEvent, { type: T }>> {
  return events.filter((e): e is Extract<HandshakeEvent, { type: T }> => e.type === type);
}

/** Events of well-framed messages tile the stream: each starts where the one before ended. */
function expectTiled(events: HandshakeEvent[]): void {
  let at = 0;
  for (const e of events) {
    expect(e.offset).toBe(at);
    if (e.type !== 'malformed') at += e.length;
  }
}

/** The IANA names node's getCipher().standardName gives, for the suites a default node picks. */
const SUITE: Record<string, number> = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 0xc02f,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 0xc030,
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca8,
};


const u16 = (v: number) => [v >> 8, v & 0xff];
const u24 = (v: number) => [v >> 16, (v >> 8) & 0xff, v & 0xff];
const message = (type: number, body: ArrayLike<number>) => Uint8Array.from([type, ...u24(body.length), ...Array.from(body)]);
const ext = (type: number, data: number[]) => [...u16(type), ...u16(data.length), ...data];

/** A ClientHello body by hand (RFC 8446 §4.1.2), for what node will not send. */
function clientHelloBody(o: { suites?: number[]; extensions?: number[][] } = {}): number[] {
  const suites = (o.suites ?? [0x1301]).flatMap(u16);
  const exts = (o.extensions ?? []).flat();
  return [0x03, 0x03, ...new Array(32).fill(7), 0, ...u16(suites.length), ...suites, 1, 0, ...u16(exts.length), ...exts];
}

let tls13: Session;
let tls12: Session;
let hrr: Session;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sockstat-tls-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=sockstat.test', '-addext', 'subjectAltName=DNS:sockstat.test', '-days', '1', '-keyout', join(dir, 'K'), '-out', join(dir, 'C')],
    { stdio: 'ignore' },
  );
  key = readFileSync(join(dir, 'K'));
  cert = readFileSync(join(dir, 'C'));
  tls13 = await handshake();
  tls12 = await handshake({ maxVersion: 'TLSv1.2' });
  // The client's one key share is X25519; a server that takes P-256 only must ask again.
  hrr = await handshake({ clientCurve: 'X25519:P-256', serverCurve: 'P-256' });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TLS handshake from node:tls', () => {
  test('TLS 1.3: the ClientHello has SNI, both ALPN ids, 1.3 offered; the ServerHello says 1.3 and the suite node used', () => {
    expect(tls13.protocol).toBe('TLSv1.3');
    const client = handshakeEvents(tls13.client);
    const server = handshakeEvents(tls13.server);
    // Everything after the ServerHello rides in application_data records (RFC 8446 §5.2).
    expect(client.map((e) => e.type)).toEqual(['client-hello']);
    expect(server.map((e) => e.type)).toEqual(['server-hello']);
    expectTiled(client);
    const ch = only(client, 'client-hello')[0].hello;
    expect(ch.serverName).toBe('sockstat.test');
    expect(ch.alpn).toEqual(['h2', 'http/1.1']);
    expect(ch.supportedVersions).toContain(0x0304);
    expect(ch.cipherSuites).toContain(0x1301);
    expect(ch.legacyVersion).toBe(0x0303);
    expect(ch.random.length).toBe(32);
    expect(ch.keyShareGroups.length).toBeGreaterThan(0);
    expect(ch.extensions).toEqual(expect.arrayContaining([0, 16, 43, 51]));
    const sh = only(server, 'server-hello')[0].hello;
    expect(sh.version).toBe(0x0304);
    expect(sh.legacyVersion).toBe(0x0303);
    expect(sh.helloRetryRequest).toBe(false);
    expect(sh.cipherSuite).toBe(SUITE[tls13.cipher.standardName]);
    expect(ch.cipherSuites).toContain(sh.cipherSuite);
    expect(ch.keyShareGroups).toContain(sh.keyShareGroup);
    // RFC 8446 §4.1.3: legacy_session_id_echo.
    expect(sh.sessionId).toEqual(ch.sessionId);
    expect(sh.alpn).toBeUndefined();
  });

  test('TLS 1.2: the ServerHello says 1.2 and carries ALPN; the Certificate is in the clear', () => {
    expect(tls12.protocol).toBe('TLSv1.2');
    const server = handshakeEvents(tls12.server);
    expect(only(server, 'malformed')).toEqual([]);
    expectTiled(server);
    // ServerHello, Certificate, ServerKeyExchange, ServerHelloDone, NewSessionTicket; the Finished is protected.
    expect(server.map((e) => (e.type === 'other' ? e.handshakeType : e.type))).toEqual(['server-hello', 'certificate', 12, 14, 4]);
    const sh = only(server, 'server-hello')[0].hello;
    expect(sh.version).toBe(0x0303);
    expect(sh.alpn).toBe(tls12.alpn);
    expect(sh.alpn).toBe('h2');
    expect(sh.cipherSuite).toBe(SUITE[tls12.cipher.standardName]);
    expect(sh.extendedMasterSecret).toBe(true);
    const info = only(server, 'certificate')[0].info;
    expect(info.subject).toContain('CN=sockstat.test');
    expect(info.issuer).toContain('CN=sockstat.test');
    expect(info.subjectAltNames).toEqual(['DNS:sockstat.test']);
    const days = (Date.parse(info.notAfter!) - Date.now()) / 86400e3;
    expect(days).toBeGreaterThan(0.9);
    expect(days).toBeLessThan(1.1);

    const client = handshakeEvents(tls12.client, sh.version);
    expect(client.map((e) => (e.type === 'other' ? e.handshakeType : e.type))).toEqual(['client-hello', 16]);
    const ch = only(client, 'client-hello')[0].hello;
    expect(ch.serverName).toBe('sockstat.test');
    expect(ch.extendedMasterSecret).toBe(true);
    expect(ch.encryptThenMac).toBe(true);
  });

  test('HelloRetryRequest: recognised by its random; the second ServerHello follows the dummy ChangeCipherSpec', () => {
    expect(Buffer.from(HELLO_RETRY_REQUEST_RANDOM)).toEqual(createHash('sha256').update('HelloRetryRequest').digest());
    // RFC 8446 §4.1.3 prints the value.
    expect(Buffer.from(HELLO_RETRY_REQUEST_RANDOM).toString('hex')).toBe('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c');
    const server = handshakeEvents(hrr.server);
    const hellos = only(server, 'server-hello').map((e) => e.hello);
    expect(hellos.map((h) => [h.helloRetryRequest, h.version])).toEqual([
      [true, 0x0304],
      [false, 0x0304],
    ]);
    expect(hellos[0].keyShareGroup).toBe(23); // secp256r1
    const clients = only(handshakeEvents(hrr.client), 'client-hello').map((e) => e.hello);
    expect(clients.length).toBe(2);
    expect(clients[0].keyShareGroups).toContain(29); // x25519
    expect(clients[1].keyShareGroups).toEqual([23]);
  });
});

describe('HandshakeReader framing', () => {
  test('a ClientHello split anywhere, in 2, 3 or 1-byte fragments, gives the same result', () => {
    const stream = handshakeStream(tls13.client);
    const whole = new HandshakeReader().feed(stream);
    expect(whole.length).toBe(1);
    const feedAll = (parts: Uint8Array[]) => {
      const r = new HandshakeReader();
      return parts.flatMap((p) => r.feed(p));
    };
    // Inside the header, inside the random, and one byte before the end.
    expect(feedAll([stream.subarray(0, 3), stream.subarray(3, 17), stream.subarray(17, stream.length - 1), stream.subarray(stream.length - 1)])).toEqual(whole);
    expect(feedAll([stream.subarray(0, 1), stream.subarray(1, 250), stream.subarray(250)])).toEqual(whole);
    expect(feedAll(Array.from(stream, (_, i) => stream.subarray(i, i + 1)))).toEqual(whole);
    for (let i = 1; i < stream.length; i++) expect(feedAll([stream.subarray(0, i), stream.subarray(i)])).toEqual(whole);
  });

  test('the reader copies what it keeps: a fragment reused by the caller does not change the result', () => {
    const stream = handshakeStream(tls13.client);
    const expected = new HandshakeReader().feed(stream);
    const r = new HandshakeReader();
    const buf = new Uint8Array(64);
    const events: HandshakeEvent[] = [];
    for (let i = 0; i < stream.length; i += 64) {
      const n = Math.min(64, stream.length - i);
      buf.set(stream.subarray(i, i + n));
      events.push(...r.feed(buf.subarray(0, n)));
      buf.fill(0xee);
    }
    expect(events).toEqual(expected);
  });

  test('several handshake messages in one fragment', () => {
    const stream = handshakeStream(tls12.server);
    const perRecord = handshakeEvents(tls12.server);
    const r = new HandshakeReader();
    // The 1.2 server's whole flight, NewSessionTicket included, in one fragment.
    expect(r.feed(stream)).toEqual(perRecord);
    // Two by hand: a ServerHelloDone (empty body) right after a ServerHello.
    const sh = Uint8Array.from([0x03, 0x03, ...new Array(32).fill(1), 0, 0x13, 0x01, 0]);
    const two = Uint8Array.from([...message(2, sh), ...message(14, [])]);
    const events = new HandshakeReader().feed(two);
    expect(events.map((e) => e.type)).toEqual(['server-hello', 'other']);
    expect(events[1]).toEqual({ type: 'other', handshakeType: 14, offset: 4 + sh.length, length: 4 });
  });

  test('a declared length over the limit: one malformed event, the message skipped, the next one read', () => {
    const big = message(11, new Array(300).fill(0));
    const next = message(14, []);
    const all = Uint8Array.from([...big, ...next]);
    for (const cut of [1, 4, 5, 100, 304, 305]) {
      const r = new HandshakeReader(256);
      const events = [...r.feed(all.subarray(0, cut)), ...r.feed(all.subarray(cut))];
      expect(events).toEqual([
        { type: 'malformed', handshakeType: 11, reason: expect.stringContaining('300'), offset: 0 },
        { type: 'other', handshakeType: 14, offset: 304, length: 4 },
      ]);
    }
  });

  test('reset drops the partial message; offsets go on counting the bytes fed', () => {
    const stream = handshakeStream(tls13.client);
    const r = new HandshakeReader();
    expect(r.feed(stream.subarray(0, 100))).toEqual([]);
    r.reset();
    const events = r.feed(stream);
    expect(events.map((e) => [e.type, e.offset])).toEqual([['client-hello', 100]]);
  });

  test('an unknown handshake type: one malformed event, then nothing until reset', () => {
    const r = new HandshakeReader();
    expect(r.feed(Uint8Array.from([0x63, 0, 0, 0, 1, 2, 3]))).toEqual([
      { type: 'malformed', handshakeType: 0x63, reason: expect.stringContaining('unknown'), offset: 0 },
    ]);
    expect(r.feed(message(14, []))).toEqual([]);
    r.reset();
    expect(r.feed(message(14, []))).toEqual([{ type: 'other', handshakeType: 14, offset: 11, length: 4 }]);
  });

  test('encrypted: handshake records after a TLS 1.2 ChangeCipherSpec are counted, not read', () => {
    const r = new HandshakeReader();
    r.encrypted = true;
    expect(r.feed(Uint8Array.from([15, 0, 0, 2, 9, 9]))).toEqual([]);
  });

  test('hand-made ClientHellos: lists kept to 1024, duplicate extensions and a misplaced pre_shared_key are malformed', () => {
    const suites = Array.from({ length: 2000 }, (_, i) => i);
    const [e] = new HandshakeReader().feed(message(1, clientHelloBody({ suites })));
    expect(e.type).toBe('client-hello');
    expect((e as { hello: ClientHello }).hello.cipherSuites).toEqual(suites.slice(0, 1024));

    const dup = new HandshakeReader().feed(message(1, clientHelloBody({ extensions: [ext(23, []), ext(23, [])] })));
    expect(dup).toEqual([{ type: 'malformed', handshakeType: 1, reason: expect.stringContaining('twice'), offset: 0 }]);

    const psk = ext(41, [...u16(7), ...u16(1), 0xaa, 0, 0, 0, 0, ...u16(33), 32, ...new Array(32).fill(0)]);
    const last = new HandshakeReader().feed(message(1, clientHelloBody({ extensions: [ext(42, []), psk] })));
    expect(last.map((x) => x.type === 'client-hello' && [x.hello.pskOffered, x.hello.earlyData])).toEqual([[true, true]]);
    const notLast = new HandshakeReader().feed(message(1, clientHelloBody({ extensions: [psk, ext(42, [])] })));
    expect(notLast.map((x) => x.type)).toEqual(['malformed']);

    // RFC 5246 §7.4.1.2: no extensions at all is a valid (TLS 1.2) ClientHello.
    const bare = clientHelloBody().slice(0, -2);
    expect(new HandshakeReader().feed(message(1, bare)).map((x) => x.type)).toEqual(['client-hello']);
  });

  test('a Certificate whose leaf is not X.509 is malformed, an empty one is empty', () => {
    const junk = [0x30, 0x03, 1, 2, 3];
    const body = [...u24(3 + junk.length), ...u24(junk.length), ...junk];
    expect(new HandshakeReader().feed(message(11, body)).map((e) => e.type)).toEqual(['malformed']);
    expect(new HandshakeReader().feed(message(11, u24(0)))).toEqual([{ type: 'certificate', info: {}, offset: 0, length: 7 }]);
    // TLS 1.3 layout: certificate_request_context first.
    const r = new HandshakeReader();
    r.version = 0x0304;
    expect(r.feed(message(11, [0, ...u24(0)]))).toEqual([{ type: 'certificate', info: {}, offset: 0, length: 8 }]);
  });
});

describe('probeTlsRecord', () => {
  test('recorded TLS says yes at every record; HTTP, an HTTP/2 preface, SSH say no; a short head asks for more', () => {
    for (const s of [tls13, tls12, hrr]) {
      expect(probeTlsRecord(s.client)).toBe(true);
      expect(probeTlsRecord(s.server)).toBe(true);
      // All but a TLS 1.2 Finished: after the ChangeCipherSpec a handshake record holds ciphertext.
      for (const bytes of [s.client, s.server]) {
        let at = 0;
        let ccs = false;
        for (const r of records(bytes)) {
          ccs ||= r.type === 20;
          if (!(ccs && r.type === 22 && s.protocol === 'TLSv1.2')) expect(probeTlsRecord(bytes.subarray(at), { midStream: true })).toBe(true);
          at += 5 + r.fragment.length;
        }
      }
    }
    const enc = (x: string) => new TextEncoder().encode(x);
    expect(probeTlsRecord(enc('GET / HTTP/1.1\r\n'))).toBe(false);
    expect(probeTlsRecord(enc('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))).toBe(false);
    expect(probeTlsRecord(enc('SSH-2.0-OpenSSH_9.6\r\n'))).toBe(false);
    for (let n = 0; n < 6; n++) expect(probeTlsRecord(tls13.client.subarray(0, n))).toBeUndefined();
    expect(probeTlsRecord(tls13.client.subarray(0, 3))).toBeUndefined();
    // A handshake record that starts with a Finished does not start a stream.
    expect(probeTlsRecord(Uint8Array.from([22, 3, 3, 0, 40, 20, 0, 0, 36]))).toBe(false);
    expect(probeTlsRecord(Uint8Array.from([22, 3, 3, 0x48, 0x01, 1]))).toBe(false); // longer than 2^14 + 2048
    // A ClientHello fragmented into one-byte records: the bytes after the first belong to the next record.
    expect(probeTlsRecord(Uint8Array.from([22, 3, 1, 0, 1, 1, 22, 3, 1, 0, 1, 0]))).toBe(true);
  });

  test('random binary is not TLS', () => {
    const rand = rng(7);
    let yes = 0;
    for (let i = 0; i < 20000; i++) {
      const b = Uint8Array.from({ length: 16 }, () => Math.floor(rand() * 256));
      if (probeTlsRecord(b) === true) yes++;
    }
    expect(yes).toBe(0);
  });
});

describe('hostile handshake bytes', () => {
  /** Feeding must return; every event must be one of the union's shapes at an offset inside what was fed. */
  function check(events: HandshakeEvent[], fed: number): void {
    for (const e of events) {
      expect(e.offset).toBeGreaterThanOrEqual(0);
      expect(e.offset).toBeLessThan(fed);
      if (e.type === 'client-hello') {
        expect(e.hello.random.length).toBe(32);
        expect(e.hello.sessionId.length).toBeLessThanOrEqual(32);
        expect(e.hello.cipherSuites.length).toBeLessThanOrEqual(1024);
        expect(e.hello.extensions.length).toBeLessThanOrEqual(1024);
      }
      if (e.type === 'malformed') expect(typeof e.reason).toBe('string');
    }
  }

  test('every truncation of a real ClientHello', () => {
    const stream = handshakeStream(tls13.client);
    const body = stream.subarray(4);
    for (let n = 0; n < body.length; n++) {
      // Cut off, the header still promising the rest: the reader waits.
      const r = new HandshakeReader();
      expect(r.feed(stream.subarray(0, 4 + n))).toEqual([]);
      // Cut off with the header saying so: a message whose insides come up short.
      const events = new HandshakeReader().feed(message(1, body.subarray(0, n)));
      expect(events.length).toBe(1);
      check(events, 4 + n);
      expect(['client-hello', 'malformed']).toContain(events[0].type);
    }
  });

  test('every truncation of a real TLS 1.2 server flight', () => {
    const stream = handshakeStream(tls12.server);
    for (let n = 0; n < stream.length; n++) check(new HandshakeReader().feed(stream.subarray(0, n)), n);
  });

  test('2,000 random byte flips over a real ClientHello, in random fragments', () => {
    const stream = handshakeStream(tls13.client);
    const rand = rng(20261121);
    const kinds = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from(stream);
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
      const r = new HandshakeReader();
      const events: HandshakeEvent[] = [];
      for (let at = 0; at < b.length; ) {
        const n = 1 + Math.floor(rand() * 200);
        events.push(...r.feed(b.subarray(at, at + n)));
        at += n;
      }
      check(events, b.length);
      for (const e of events) kinds.set(e.type, (kinds.get(e.type) ?? 0) + 1);
      // After a reset the reader reads a good message again.
      r.reset();
      expect(r.feed(stream).map((e) => e.type)).toEqual(['client-hello']);
    }
    // The flips reach the checks: some ClientHellos stay readable, many do not.
    expect(kinds.get('client-hello')).toBeGreaterThan(0);
    expect(kinds.get('malformed')).toBeGreaterThan(0);
  });

  test('random byte flips over a real TLS 1.2 server flight (Certificate included)', () => {
    const stream = handshakeStream(tls12.server);
    const rand = rng(99);
    for (let i = 0; i < 300; i++) {
      const b = Uint8Array.from(stream);
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
      const r = new HandshakeReader();
      check(r.feed(b), b.length);
    }
  });
});
