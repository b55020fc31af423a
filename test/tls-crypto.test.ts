import { execFileSync } from 'node:child_process';
import { constants, createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RecordDecrypter, type DecryptedRecord } from '../src/dissect/tls/decrypt.js';
import { KeyLog, parseKeyLog, parseKeyLogBytes, TLS_KEY_LOG_SECRETS_TYPE } from '../src/dissect/tls/keylog.js';
import { hkdfExpandLabel, nextTrafficSecret, prf, tls12KeyBlock, tls13TrafficKeys } from '../src/dissect/tls/keys.js';
import { cipherSuite, cipherSuiteName, decryptableSuites, GREASE, isGrease, type CipherSuite } from '../src/dissect/tls/suites.js';

/** Hex as the RFCs print it: bytes separated by spaces and line breaks. */
function h(text: string): Buffer {
  const digits = text.replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new Error(`bad hex: ${text}`);
  return Buffer.from(digits, 'hex');
}

function suite(id: number): CipherSuite {
  const s = cipherSuite(id);
  if (!s) throw new Error(`suite 0x${id.toString(16)} is not decryptable`);
  return s;
}

/** A whole record as printed (header + fragment) split for decrypt(). */
function split(record: Buffer): [Buffer, Buffer] {
  return [record.subarray(0, 5), record.subarray(5)];
}

function accounted(r: DecryptedRecord, fragmentLength: number): void {
  expect(r.explicitNonce + r.plaintext.length + r.innerType + r.padding + r.tag).toBe(fragmentLength);
}

// ---------------------------------------------------------------------------------------------
// RFC 8448 §3, Simple 1-RTT Handshake (TLS_AES_128_GCM_SHA256). Values typed from the RFC text.
// ---------------------------------------------------------------------------------------------
const R8448 = {
  earlySecret: h('33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 f9 2a'),
  emptyHash: h('e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55'),
  derived: h('6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 16 c0 76 18 9c 48 25 0c eb ea c3 57 6c 36 11 ba'),
  handshakeSecret: h('1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac'),
  helloHash: h('86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8'),
  clientHandshakeSecret: h('b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21'),
  serverHandshakeSecret: h('b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38'),
  serverFinishedKey: h('00 8d 3b 66 f8 16 ea 55 9f 96 b5 37 e8 85 c3 1f c0 68 bf 49 2c 65 2f 01 f2 88 a1 d8 cd c1 9f c8'),
  clientTrafficSecret: h('9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5'),
  serverTrafficSecret: h('a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43'),
  serverHandshakeKey: h('3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc'),
  serverHandshakeIv: h('5d 31 3e b2 67 12 76 ee 13 00 0b 30'),
  clientHandshakeKey: h('db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01'),
  clientHandshakeIv: h('5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f'),
  serverAppKey: h('9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56'),
  serverAppIv: h('cf 78 2b 88 dd 83 54 9a ad f1 e9 84'),
  clientAppKey: h('17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51'),
  clientAppIv: h('5b 78 92 3d ee 08 57 90 33 e5 23 d9'),
  /** {server} send handshake record: EncryptedExtensions, Certificate, CertificateVerify, Finished. */
  serverHandshakeRecord: h(`
    17 03 03 02 a2 d1 ff 33 4a 56 f5 bf f6 59 4a 07 cc 87 b5 80 23 3f 50 0f 45 e4 89 e7 f3 3a f3 5e
    df 78 69 fc f4 0a a4 0a a2 b8 ea 73 f8 48 a7 ca 07 61 2e f9 f9 45 cb 96 0b 40 68 90 51 23 ea 78
    b1 11 b4 29 ba 91 91 cd 05 d2 a3 89 28 0f 52 61 34 aa dc 7f c7 8c 4b 72 9d f8 28 b5 ec f7 b1 3b
    d9 ae fb 0e 57 f2 71 58 5b 8e a9 bb 35 5c 7c 79 02 07 16 cf b9 b1 18 3e f3 ab 20 e3 7d 57 a6 b9
    d7 47 76 09 ae e6 e1 22 a4 cf 51 42 73 25 25 0c 7d 0e 50 92 89 44 4c 9b 3a 64 8f 1d 71 03 5d 2e
    d6 5b 0e 3c dd 0c ba e8 bf 2d 0b 22 78 12 cb b3 60 98 72 55 cc 74 41 10 c4 53 ba a4 fc d6 10 92
    8d 80 98 10 e4 b7 ed 1a 8f d9 91 f0 6a a6 24 82 04 79 7e 36 a6 a7 3b 70 a2 55 9c 09 ea d6 86 94
    5b a2 46 ab 66 e5 ed d8 04 4b 4c 6d e3 fc f2 a8 94 41 ac 66 27 2f d8 fb 33 0e f8 19 05 79 b3 68
    45 96 c9 60 bd 59 6e ea 52 0a 56 a8 d6 50 f5 63 aa d2 74 09 96 0d ca 63 d3 e6 88 61 1e a5 e2 2f
    44 15 cf 95 38 d5 1a 20 0c 27 03 42 72 96 8a 26 4e d6 54 0c 84 83 8d 89 f7 2c 24 46 1a ad 6d 26
    f5 9e ca ba 9a cb bb 31 7b 66 d9 02 f4 f2 92 a3 6a c1 b6 39 c6 37 ce 34 31 17 b6 59 62 22 45 31
    7b 49 ee da 0c 62 58 f1 00 d7 d9 61 ff b1 38 64 7e 92 ea 33 0f ae ea 6d fa 31 c7 a8 4d c3 bd 7e
    1b 7a 6c 71 78 af 36 87 90 18 e3 f2 52 10 7f 24 3d 24 3d c7 33 9d 56 84 c8 b0 37 8b f3 02 44 da
    8c 87 c8 43 f5 e5 6e b4 c5 e8 28 0a 2b 48 05 2c f9 3b 16 49 9a 66 db 7c ca 71 e4 59 94 26 f7 d4
    61 e6 6f 99 88 2b d8 9f c5 08 00 be cc a6 2d 6c 74 11 6d bd 29 72 fd a1 fa 80 f8 5d f8 81 ed be
    5a 37 66 89 36 b3 35 58 3b 59 91 86 dc 5c 69 18 a3 96 fa 48 a1 81 d6 b6 fa 4f 9d 62 d5 13 af bb
    99 2f 2b 99 2f 67 f8 af e6 7f 76 91 3f a3 88 cb 56 30 c8 ca 01 e0 c6 5d 11 c6 6a 1e 2a c4 c8 59
    77 b7 c7 a6 99 9b bf 10 dc 35 ae 69 f5 51 56 14 63 6c 0b 9b 68 c1 9e d2 e3 1c 0b 3b 66 76 30 38
    eb ba 42 f3 b3 8e dc 03 99 f3 a9 f2 3f aa 63 97 8c 31 7f c9 fa 66 a7 3f 60 f0 50 4d e9 3b 5b 84
    5e 27 55 92 c1 23 35 ee 34 0b bc 4f dd d5 02 78 40 16 e4 b3 be 7e f0 4d da 49 f4 b4 40 a3 0c b5
    d2 af 93 98 28 fd 4a e3 79 4e 44 f9 4d f5 a6 31 ed e4 2c 17 19 bf da bf 02 53 fe 51 75 be 89 8e
    75 0e dc 53 37 0d 2b`),
  /** {client} send handshake record: the client's Finished. */
  clientFinishedRecord: h(`
    17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9 3c 7a 4b fc
    44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46`),
  clientFinished: h(`
    14 00 00 20 a8 ec 43 6d 67 76 34 ae 52 5a c1 fc eb e1 1a 03 9e c1 76 94 fa c6 e9 85 27 b6 42 f2
    ed d5 ce 61`),
  /** {server} send handshake record: NewSessionTicket, the server's first record under its application keys. */
  newSessionTicketRecord: h(`
    17 03 03 00 de 3a 6b 8f 90 41 4a 97 d6 95 9c 34 87 68 0d e5 13 4a 2b 24 0e 6c ff ac 11 6e 95 d4
    1d 6a f8 f6 b5 80 dc f3 d1 1d 63 c7 58 db 28 9a 01 59 40 25 2f 55 71 3e 06 1d c1 3e 07 88 91 a3
    8e fb cf 57 53 ad 8e f1 70 ad 3c 73 53 d1 6d 9d a7 73 b9 ca 7f 2b 9f a1 b6 c0 d4 a3 d0 3f 75 e0
    9c 30 ba 1e 62 97 2a c4 6f 75 f7 b9 81 be 63 43 9b 29 99 ce 13 06 46 15 13 98 91 d5 e4 c5 b4 06
    f1 6e 3f c1 81 a7 7c a4 75 84 00 25 db 2f 0a 77 f8 1b 5a b0 5b 94 c0 13 46 75 5f 69 23 2c 86 51
    9d 86 cb ee ac 87 aa c3 47 d1 43 f9 60 5d 64 f6 50 db 4d 02 3e 70 e9 52 ca 49 fe 51 37 12 1c 74
    bc 26 97 68 7e 24 87 46 d6 df 35 30 05 f3 bc e1 86 96 12 9c 81 53 55 6b 3b 6c 67 79 b3 7b f1 59
    85 68 4f`),
  /** {client} send application_data record: payload 00 01 02 ... 31. */
  clientAppRecord: h(`
    17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa 66 bc ab 3f
    2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6
    3a ee bb 21 69 49 15 e4`),
  /** {server} send application_data record: the same 50 bytes. */
  serverAppRecord: h(`
    17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f 82 aa 1b 36
    e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54
    0d d0 32 e1 67 c2 95 5d`),
  /** {client} / {server} send alert record: close_notify. */
  clientAlertRecord: h('17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3'),
  serverAlertRecord: h('17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9'),
  appPayload: Buffer.from(Array.from({ length: 50 }, (_, i) => i)),
};

/**
 * The test's own TLS 1.3 record sealer, straight from RFC 8446 §5.2-§5.3 (checked below to
 * reproduce RFC 8448's records byte for byte), for records the RFC does not print.
 */
function seal13(cipher: string, key: Uint8Array, iv: Uint8Array, seq: bigint, innerType: number, content: Uint8Array, zeros = 0, tagLength = 16): Buffer {
  const inner = Buffer.concat([content, Buffer.from([innerType]), Buffer.alloc(zeros)]);
  const header = Buffer.from([23, 3, 3, 0, 0]);
  header.writeUInt16BE(inner.length + tagLength, 3);
  const nonce = Buffer.from(iv);
  const s = Buffer.alloc(8);
  s.writeBigUInt64BE(seq);
  for (let i = 0; i < 8; i++) nonce[4 + i] ^= s[i];
  const c = createCipheriv(cipher as 'aes-128-gcm', key, nonce, { authTagLength: tagLength });
  c.setAAD(header, { plaintextLength: inner.length });
  const body = Buffer.concat([c.update(inner), c.final()]);
  return Buffer.concat([header, body, c.getAuthTag()]);
}

describe('RFC 8448 §3: key schedule', () => {
  const s = suite(0x1301);

  test('HKDF-Expand-Label with a context: Derive-Secret "derived" and "c hs traffic", "s hs traffic"', () => {
    expect(hkdfExpandLabel('sha256', R8448.earlySecret, 'derived', R8448.emptyHash, 32)).toEqual(R8448.derived);
    expect(hkdfExpandLabel('sha256', R8448.handshakeSecret, 'c hs traffic', R8448.helloHash, 32)).toEqual(R8448.clientHandshakeSecret);
    expect(hkdfExpandLabel('sha256', R8448.handshakeSecret, 's hs traffic', R8448.helloHash, 32)).toEqual(R8448.serverHandshakeSecret);
    expect(hkdfExpandLabel('sha256', R8448.serverHandshakeSecret, 'finished', new Uint8Array(0), 32)).toEqual(R8448.serverFinishedKey);
  });

  test.each([
    ['server handshake', R8448.serverHandshakeSecret, R8448.serverHandshakeKey, R8448.serverHandshakeIv],
    ['client handshake', R8448.clientHandshakeSecret, R8448.clientHandshakeKey, R8448.clientHandshakeIv],
    ['server application', R8448.serverTrafficSecret, R8448.serverAppKey, R8448.serverAppIv],
    ['client application', R8448.clientTrafficSecret, R8448.clientAppKey, R8448.clientAppIv],
  ])('%s traffic key and IV', (_name, secret, key, iv) => {
    const keys = tls13TrafficKeys(s, secret);
    expect(Buffer.from(keys.key)).toEqual(key);
    expect(Buffer.from(keys.iv)).toEqual(iv);
  });

  test("the test's sealer reproduces the RFC's records", () => {
    expect(seal13('aes-128-gcm', R8448.clientAppKey, R8448.clientAppIv, 0n, 23, R8448.appPayload)).toEqual(R8448.clientAppRecord);
    expect(seal13('aes-128-gcm', R8448.serverAppKey, R8448.serverAppIv, 1n, 23, R8448.appPayload)).toEqual(R8448.serverAppRecord);
    expect(seal13('aes-128-gcm', R8448.clientHandshakeKey, R8448.clientHandshakeIv, 0n, 22, R8448.clientFinished)).toEqual(R8448.clientFinishedRecord);
  });
});

describe('RFC 8448 §3: records', () => {
  const s = suite(0x1301);

  test("server's encrypted handshake flight: EncryptedExtensions, Certificate, CertificateVerify, Finished", () => {
    const d = RecordDecrypter.tls13(s, R8448.serverHandshakeSecret);
    const [header, fragment] = split(R8448.serverHandshakeRecord);
    const r = d.decrypt(header, fragment);
    expect(r).not.toBeNull();
    expect(r!.contentType).toBe(22);
    expect(r!.plaintext.length).toBe(657);
    const p = Buffer.from(r!.plaintext);
    // Message boundaries from the RFC's message lengths: 40 + 445 + 136 + 36.
    expect(p.subarray(0, 12)).toEqual(h('08 00 00 24 00 22 00 0a 00 14 00 12'));
    expect(p.subarray(40, 44)).toEqual(h('0b 00 01 b9'));
    expect(p.subarray(485, 489)).toEqual(h('0f 00 00 84'));
    expect(p.subarray(621, 629)).toEqual(h('14 00 00 20 9b 9b 14 1d'));
    expect(r).toMatchObject({ seq: 0n, explicitNonce: 0, tag: 16, innerType: 1, padding: 0 });
    accounted(r!, fragment.length);
    expect(d.seq).toBe(1n);
  });

  test("client's Finished under the client handshake secret", () => {
    const d = RecordDecrypter.tls13(s, R8448.clientHandshakeSecret);
    const r = d.decrypt(...split(R8448.clientFinishedRecord));
    expect(r?.contentType).toBe(22);
    expect(Buffer.from(r!.plaintext)).toEqual(R8448.clientFinished);
  });

  test('server application records in order: NewSessionTicket (seq 0), data (1), close_notify (2)', () => {
    const d = RecordDecrypter.tls13(s, R8448.serverTrafficSecret);
    const nst = d.decrypt(...split(R8448.newSessionTicketRecord));
    expect(nst?.contentType).toBe(22);
    expect(nst!.plaintext.length).toBe(205);
    expect(Buffer.from(nst!.plaintext.subarray(0, 12))).toEqual(h('04 00 00 c9 00 00 00 1e fa d6 aa c5'));
    const data = d.decrypt(...split(R8448.serverAppRecord));
    expect(data?.contentType).toBe(23);
    expect(data?.seq).toBe(1n);
    expect(Buffer.from(data!.plaintext)).toEqual(R8448.appPayload);
    const alert = d.decrypt(...split(R8448.serverAlertRecord));
    expect(alert?.contentType).toBe(21);
    expect(Buffer.from(alert!.plaintext)).toEqual(h('01 00'));
    expect(d.seq).toBe(3n);
  });

  test('client application records: data (seq 0), close_notify (1)', () => {
    const d = RecordDecrypter.tls13(s, R8448.clientTrafficSecret);
    const data = d.decrypt(...split(R8448.clientAppRecord));
    expect(data?.contentType).toBe(23);
    expect(Buffer.from(data!.plaintext)).toEqual(R8448.appPayload);
    accounted(data!, 0x43);
    const alert = d.decrypt(...split(R8448.clientAlertRecord));
    expect(alert?.contentType).toBe(21);
    expect(Buffer.from(alert!.plaintext)).toEqual(h('01 00'));
  });

  test('a lost NewSessionTicket: decrypt fails at seq 0, resync finds seq 1 and carries on', () => {
    const d = RecordDecrypter.tls13(s, R8448.serverTrafficSecret);
    const [header, fragment] = split(R8448.serverAppRecord);
    expect(d.decrypt(header, fragment)).toBeNull();
    expect(d.seq).toBe(0n);
    expect(d.decryptAt(header, fragment, 1)?.seq).toBe(1n);
    expect(d.seq).toBe(0n); // decryptAt changes nothing
    expect(d.resync(header, fragment)?.seq).toBe(1n);
    expect(d.seq).toBe(2n);
    expect(d.decrypt(...split(R8448.serverAlertRecord))?.contentType).toBe(21);
  });
});

describe('failures return null and leave the state alone', () => {
  const s = suite(0x1301);

  test('a flipped byte anywhere (header, ciphertext, tag) fails', () => {
    const record = R8448.clientAppRecord;
    for (const at of [0, 2, 4, 5, 20, record.length - 17, record.length - 1]) {
      const bad = Buffer.from(record);
      bad[at] ^= 0x01;
      const d = RecordDecrypter.tls13(s, R8448.clientTrafficSecret);
      expect(d.decrypt(...split(bad))).toBeNull();
      expect(d.seq).toBe(0n);
      // The good record still decrypts at the same number afterwards.
      expect(d.decrypt(...split(record))?.seq).toBe(0n);
    }
  });

  test('wrong keys: the other direction, the handshake secret, another suite', () => {
    expect(RecordDecrypter.tls13(s, R8448.serverTrafficSecret).decrypt(...split(R8448.clientAppRecord))).toBeNull();
    expect(RecordDecrypter.tls13(s, R8448.clientHandshakeSecret).decrypt(...split(R8448.clientAppRecord))).toBeNull();
    expect(RecordDecrypter.tls13(suite(0x1303), R8448.clientTrafficSecret).decrypt(...split(R8448.clientAppRecord))).toBeNull();
  });

  test('truncated, empty and headerless input never throws', () => {
    const d = RecordDecrypter.tls13(s, R8448.clientTrafficSecret);
    const [header, fragment] = split(R8448.clientAppRecord);
    for (const f of [fragment.subarray(0, 10), fragment.subarray(0, 16), fragment.subarray(0, 17), new Uint8Array(0)]) {
      expect(d.decrypt(header, f)).toBeNull();
    }
    expect(d.decrypt(header.subarray(0, 3), fragment)).toBeNull();
    expect(d.decryptAt(header, fragment, -1)).toBeNull();
    expect(d.decryptAt(header, fragment, 1n << 64n)).toBeNull();
    const d12 = RecordDecrypter.tls12(suite(0xc02f), { key: new Uint8Array(16), iv: new Uint8Array(4), macKey: new Uint8Array(0) });
    for (const f of [new Uint8Array(0), new Uint8Array(8), new Uint8Array(23), new Uint8Array(24), randomBytes(100)]) {
      expect(d12.decrypt(h('17 03 03 00 00'), f)).toBeNull();
    }
    const cbc = RecordDecrypter.tls12(suite(0xc027), { key: new Uint8Array(16), iv: new Uint8Array(0), macKey: new Uint8Array(32) });
    for (const f of [new Uint8Array(0), new Uint8Array(16), new Uint8Array(31), new Uint8Array(48), randomBytes(80)]) {
      expect(cbc.decrypt(h('17 03 03 00 00'), f)).toBeNull();
    }
    expect(cbc.seq).toBe(0n);
  });

  test('TLS 1.3 plaintext of zeros only has no content type (RFC 8446 §5.4)', () => {
    const k = tls13TrafficKeys(s, R8448.clientTrafficSecret);
    const record = seal13('aes-128-gcm', k.key, k.iv, 0n, 0, new Uint8Array(0), 5);
    expect(RecordDecrypter.tls13(s, R8448.clientTrafficSecret).decrypt(...split(record))).toBeNull();
  });

  test('keys of the wrong size are refused when the decrypter is made', () => {
    expect(() => RecordDecrypter.tls12(suite(0xc02f), { key: new Uint8Array(32), iv: new Uint8Array(4), macKey: new Uint8Array(0) })).toThrow(RangeError);
    expect(() => RecordDecrypter.tls13(suite(0xc02f), R8448.clientTrafficSecret)).toThrow(TypeError);
  });
});

describe('TLS 1.3 padding, key update, resynchronisation', () => {
  test('zero padding is stripped and counted', () => {
    for (const id of [0x1301, 0x1302, 0x1303, 0x1304, 0x1305]) {
      const s = suite(id);
      const secret = randomBytes(s.prfHash === 'sha384' ? 48 : 32);
      const k = tls13TrafficKeys(s, secret);
      const content = Buffer.from('GET / HTTP/1.1\r\n\r\n');
      const record = seal13(s.cipher, k.key, k.iv, 7n, 23, content, 13, s.tagLength);
      const d = RecordDecrypter.tls13(s, secret);
      d.setSeq(7);
      const r = d.decrypt(...split(record));
      expect(r).toMatchObject({ contentType: 23, padding: 13, innerType: 1, tag: s.tagLength, seq: 7n });
      expect(Buffer.from(r!.plaintext)).toEqual(content);
      accounted(r!, record.length - 5);
    }
  });

  test('keyUpdate moves to application_traffic_secret_N+1 with seq 0 (RFC 8446 §7.2)', () => {
    const s = suite(0x1302);
    const secret0 = randomBytes(48);
    const secret1 = hkdfExpandLabel('sha384', secret0, 'traffic upd', new Uint8Array(0), 48);
    expect(Buffer.from(nextTrafficSecret('sha384', secret0))).toEqual(Buffer.from(secret1));
    const k0 = tls13TrafficKeys(s, secret0);
    const k1 = tls13TrafficKeys(s, secret1);
    const d = RecordDecrypter.tls13(s, secret0);
    expect(d.decrypt(...split(seal13(s.cipher, k0.key, k0.iv, 0n, 22, h('18 00 00 01 00')))))?.toMatchObject({ contentType: 22 });
    const after = seal13(s.cipher, k1.key, k1.iv, 0n, 23, Buffer.from('after the update'));
    expect(d.decrypt(...split(after))).toBeNull();
    expect(d.keyUpdate()).toBe(true);
    expect(d.generation).toBe(1);
    expect(d.seq).toBe(0n);
    expect(Buffer.from(d.decrypt(...split(after))!.plaintext).toString()).toBe('after the update');
  });

  test('resync: a gap of records, within and beyond maxSkip, and a KeyUpdate lost in the gap', () => {
    const s = suite(0x1303);
    const secret0 = randomBytes(32);
    const k0 = tls13TrafficKeys(s, secret0);
    const record = (seq: bigint) => seal13(s.cipher, k0.key, k0.iv, seq, 23, Buffer.from(`record ${seq}`));
    const d = RecordDecrypter.tls13(s, secret0);
    expect(d.decrypt(...split(record(0n)))?.seq).toBe(0n);
    expect(d.resync(...split(record(20n)))?.seq).toBe(20n);
    expect(d.seq).toBe(21n);
    // 40 records lost: beyond the default 32, found with a larger window; nothing changes on failure.
    expect(d.resync(...split(record(61n)))).toBeNull();
    expect(d.seq).toBe(21n);
    expect(d.resync(...split(record(61n)), { maxSkip: 64 })?.seq).toBe(61n);
    // A KeyUpdate in the gap: the record is under the next secret, at seq 3 of the new generation.
    const k1 = tls13TrafficKeys(s, nextTrafficSecret('sha256', secret0));
    const updated = seal13(s.cipher, k1.key, k1.iv, 3n, 23, Buffer.from('new keys'));
    expect(d.resync(...split(updated))).toBeNull();
    expect(d.generation).toBe(0);
    const r = d.resync(...split(updated), { keyUpdate: true });
    expect(Buffer.from(r!.plaintext).toString()).toBe('new keys');
    expect(d.generation).toBe(1);
    expect(d.seq).toBe(4n);
  });
});

describe('TLS 1.2 PRF (RFC 5246 §5) known answers', () => {
  // The TLS 1.2 PRF test vectors posted to the IETF TLS working group list (also mbed TLS's self-test).
  test('P_SHA256, 100 bytes', () => {
    const out = prf('sha256', h('9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35'), 'test label', h('a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c'), 100);
    expect(Buffer.from(out)).toEqual(
      h(`e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
         6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
         4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01
         87 34 7b 66`),
    );
  });

  test('P_SHA384, 148 bytes', () => {
    const out = prf('sha384', h('b8 0b 73 3d 6c ee fc dc 71 56 6e a4 8e 55 67 df'), 'test label', h('cd 66 5c f6 a8 44 7d d6 ff 8b 27 55 5e db 74 65'), 148);
    expect(Buffer.from(out)).toEqual(
      h(`7b 0c 18 e9 ce d4 10 ed 18 04 f2 cf a3 4a 33 6a 1c 14 df fb 49 00 bb 5f d7 94 21 07 e8 1c 83 cd
         e9 ca 0f aa 60 be 9f e3 4f 82 b1 23 3c 91 46 a0 e5 34 cb 40 0f ed 27 00 88 4f 9d c2 36 f8 0e dd
         8b fa 96 11 44 c9 e8 d7 92 ec a7 22 a7 b3 2f c3 d4 16 d4 73 eb c2 c5 fd 4a bf da d0 5d 91 84 25
         9b 5b f8 cd 4d 90 fa 0d 31 e2 de c4 79 e4 f1 a2 60 66 f2 ee a9 a6 92 36 a3 e5 26 55 c9 e9 ae e6
         91 c8 f3 a2 68 54 30 8d 5e aa 3b e8 5e 09 90 70 3d 73 e5 6f`),
    );
  });

  test('key block lengths and order (RFC 5246 §6.3)', () => {
    const ms = randomBytes(48);
    const cr = randomBytes(32);
    const sr = randomBytes(32);
    const cbc = suite(0xc028); // AES-256-CBC, HMAC-SHA384, PRF SHA-384
    const block = prf('sha384', ms, 'key expansion', Buffer.concat([sr, cr]), 2 * (48 + 32));
    const kb = tls12KeyBlock(cbc, ms, cr, sr);
    expect(Buffer.from(kb.client.macKey)).toEqual(block.subarray(0, 48));
    expect(Buffer.from(kb.server.macKey)).toEqual(block.subarray(48, 96));
    expect(Buffer.from(kb.client.key)).toEqual(block.subarray(96, 128));
    expect(Buffer.from(kb.server.key)).toEqual(block.subarray(128, 160));
    expect(kb.client.iv.length).toBe(0);
    const gcm = tls12KeyBlock(suite(0xc02f), ms, cr, sr);
    expect([gcm.client.macKey.length, gcm.client.key.length, gcm.client.iv.length]).toEqual([0, 16, 4]);
    const sha1 = suite(0xc014);
    expect([sha1.hash, sha1.prfHash, sha1.macLength]).toEqual(['sha1', 'sha256', 20]);
  });
});

/**
 * The test's own TLS 1.2 CBC record builder (RFC 5246 §6.2.3.2, RFC 7366 §3), for cases a real
 * stack will not produce: 3DES, long and bad padding.
 */
function sealCbc(s: CipherSuite, key: Uint8Array, macKey: Uint8Array, seq: bigint, type: number, content: Uint8Array, etm: boolean, padLength: number): Buffer {
  const header = Buffer.from([type, 3, 3, 0, 0]);
  const macInput = (data: Uint8Array) => {
    const pre = Buffer.alloc(13);
    pre.writeBigUInt64BE(seq);
    pre[8] = type;
    pre[9] = 3;
    pre[10] = 3;
    pre.writeUInt16BE(data.length, 11);
    return createHmac(s.hash, macKey).update(pre).update(data).digest();
  };
  const iv = randomBytes(s.blockLength);
  const padding = Buffer.alloc(padLength + 1, padLength);
  const c = createCipheriv(s.cipher, key, iv);
  c.setAutoPadding(false);
  let fragment: Buffer;
  if (etm) {
    const enc = Buffer.concat([iv, c.update(Buffer.concat([content, padding])), c.final()]);
    fragment = Buffer.concat([enc, macInput(enc)]);
  } else {
    fragment = Buffer.concat([iv, c.update(Buffer.concat([content, macInput(content), padding])), c.final()]);
  }
  header.writeUInt16BE(fragment.length, 3);
  return Buffer.concat([header, fragment]);
}

describe('TLS 1.2 CBC, built by hand', () => {
  test.each(
    (
      [
        [0xc014, false],
        [0xc027, true],
        [0x000a, false], // 3DES: 8-byte blocks
        [0x000a, true],
      ] as const
    ).map(([id, etm]) => [cipherSuiteName(id), id, etm] as const),
  )('%s, encrypt-then-MAC %s: padding lengths, bad MAC, wrong seq, wrong type', (_name, id, etm) => {
    const s = suite(id);
    const key = randomBytes(s.keyLength);
    const macKey = randomBytes(s.macLength);
    const d = RecordDecrypter.tls12(s, { key, iv: new Uint8Array(0), macKey }, etm);
    let seq = 0n;
    for (const contentLength of [0, 1, 15, 16, 100]) {
      const content = randomBytes(contentLength);
      const base = contentLength + (etm ? 0 : s.macLength) + 1;
      const minPad = (s.blockLength - (base % s.blockLength)) % s.blockLength;
      for (const padLength of [minPad, minPad + 2 * s.blockLength]) {
        const record = sealCbc(s, key, macKey, seq, 23, content, etm, padLength);
        const r = d.decrypt(...split(record));
        expect(r).not.toBeNull();
        expect(Buffer.from(r!.plaintext)).toEqual(content);
        expect(r).toMatchObject({ contentType: 23, seq, explicitNonce: s.blockLength, tag: s.macLength, padding: padLength + 1, innerType: 0 });
        accounted(r!, record.length - 5);
        seq++;
      }
    }
    const good = sealCbc(s, key, macKey, seq, 23, Buffer.from('x'), etm, (s.blockLength - ((1 + (etm ? 0 : s.macLength) + 1) % s.blockLength)) % s.blockLength);
    // A record at a later number, a changed MAC byte, or a changed type do not authenticate.
    expect(d.decryptAt(...split(good), seq + 1n)).toBeNull();
    const badMac = Buffer.from(good);
    badMac[badMac.length - 1] ^= 1;
    expect(d.decrypt(...split(badMac))).toBeNull();
    const badType = Buffer.from(good);
    badType[0] = 22;
    expect(d.decrypt(...split(badType))).toBeNull();
    expect(d.decrypt(...split(good))?.seq).toBe(seq);
  });

  test('padding bytes that disagree with padding_length fail (MAC-then-encrypt)', () => {
    const s = suite(0xc027);
    const key = randomBytes(16);
    const macKey = randomBytes(32);
    // content 15 + MAC 32 + padding: pad 0 would be 48; a hand-made bad padding of 0x01 0x00.
    const content = randomBytes(14);
    const pre = Buffer.alloc(13);
    pre[8] = 23;
    pre[9] = 3;
    pre[10] = 3;
    pre.writeUInt16BE(content.length, 11);
    const mac = createHmac('sha256', macKey).update(pre).update(content).digest();
    const iv = randomBytes(16);
    const c = createCipheriv('aes-128-cbc', key, iv);
    c.setAutoPadding(false);
    const fragment = Buffer.concat([iv, c.update(Buffer.concat([content, mac, Buffer.from([0x00, 0x01])])), c.final()]);
    const d = RecordDecrypter.tls12(s, { key, iv: new Uint8Array(0), macKey });
    expect(d.decrypt(h('17 03 03 00 40'), fragment)).toBeNull();
  });
});

describe('key log parsing', () => {
  const cr1 = 'a'.repeat(64);
  const cr2 = '0123456789ABCDEF'.repeat(4);
  const ms = 'ab'.repeat(48);
  const s32 = 'cd'.repeat(32);
  const s48 = 'ef'.repeat(48);

  test('comments, blank lines, CRLF, several secrets for one client random', () => {
    const text = [
      '# SSL/TLS secrets log file, generated by NSS',
      '',
      `CLIENT_HANDSHAKE_TRAFFIC_SECRET ${cr2} ${s32}`,
      `SERVER_HANDSHAKE_TRAFFIC_SECRET ${cr2} ${s32}`,
      `CLIENT_TRAFFIC_SECRET_0 ${cr2} ${s48}`,
      `SERVER_TRAFFIC_SECRET_0 ${cr2} ${s48}`,
      `EXPORTER_SECRET\t${cr2}  ${s32}   `,
      '   ',
      `CLIENT_RANDOM ${cr1} ${ms}`,
    ].join('\r\n') + '\r\n';
    const log = new KeyLog();
    const r = log.add(text, 'sslkeylog.txt');
    expect(r).toEqual({ lines: 9, used: 6, ignored: new Map(), malformed: [] });
    expect(log.size).toBe(2);
    expect(log.sources).toEqual(['sslkeylog.txt']);
    const tls13 = log.secrets(Buffer.from(cr2, 'hex'));
    expect([...tls13!.keys()].sort()).toEqual([
      'CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'EXPORTER_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_TRAFFIC_SECRET_0',
    ]);
    expect(Buffer.from(tls13!.get('SERVER_TRAFFIC_SECRET_0')!)).toEqual(Buffer.from(s48, 'hex'));
    expect(Buffer.from(log.secret(Buffer.from(cr1, 'hex'), 'CLIENT_RANDOM')!)).toEqual(Buffer.from(ms, 'hex'));
    expect(log.secrets(new Uint8Array(32))).toBeUndefined();
  });

  test('malformed lines are reported by line number and never throw; RSA and unknown labels are counted', () => {
    const text = [
      `CLIENT_RANDOM ${cr1} ${ms}`,
      `CLIENT_RANDOM ${cr1.slice(1)} ${ms}`, // odd hex in the random
      `CLIENT_RANDOM ${cr1} ${ms.slice(2)}`, // 47 bytes
      `CLIENT_RANDOM ${cr1} ${ms}0`, // odd hex
      `CLIENT_TRAFFIC_SECRET_0 ${cr1} ${'cd'.repeat(40)}`, // 40 bytes: no hash is that long
      `SERVER_TRAFFIC_SECRET_0 ${cr1} ${'zz'.repeat(32)}`, // not hex
      `CLIENT_RANDOM ${cr1}`, // missing field
      `CLIENT_RANDOM ${cr1} ${ms} extra`,
      `RSA 0123456789abcdef ${'00'.repeat(48)}`,
      `CLIENT_FUTURE_SECRET ${cr1} ${s32}`,
      `ECH_SECRET ${cr1} ${s32}`,
      'hello world',
      '\u0000\u00ff binary junk',
    ].join('\n');
    let r: ReturnType<KeyLog['add']> | undefined;
    const log = new KeyLog();
    expect(() => (r = log.add(text, 'bad.log'))).not.toThrow();
    expect(r!.used).toBe(1);
    expect(r!.lines).toBe(13);
    expect(r!.malformed.map((m) => m.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 12, 13]);
    expect(r!.malformed[1].reason).toMatch(/47 bytes/);
    expect(r!.malformed[0].reason).toMatch(/odd/);
    expect(Object.fromEntries(r!.ignored)).toEqual({ RSA: 1, CLIENT_FUTURE_SECRET: 1, ECH_SECRET: 1 });
    expect(log.size).toBe(1);
  });

  test('client randoms are case-insensitive; a later line replaces an earlier one', () => {
    const log = new KeyLog();
    log.add(`CLIENT_RANDOM ${cr2.toLowerCase()} ${ms}\n`, 'a');
    log.add(`CLIENT_RANDOM ${cr2} ${'11'.repeat(48)}\n`, 'b');
    expect(log.size).toBe(1);
    expect(Buffer.from(log.secret(Buffer.from(cr2, 'hex'), 'CLIENT_RANDOM')!)).toEqual(Buffer.alloc(48, 0x11));
  });

  test('bytes and pcapng Decryption Secrets Blocks (with zero padding)', () => {
    const text = `# dsb\nCLIENT_RANDOM ${cr1} ${ms}\n`;
    const padded = Buffer.concat([Buffer.from(text), Buffer.alloc(3)]);
    expect(parseKeyLogBytes(padded).entries).toHaveLength(1);
    const log = new KeyLog();
    expect(log.addDecryptionSecrets(TLS_KEY_LOG_SECRETS_TYPE, padded, 'DSB #1')).toMatchObject({ used: 1, malformed: [] });
    expect(log.addDecryptionSecrets(0x57474b4c /* WireGuard */, padded, 'DSB #2')).toBeNull();
    expect(log.size).toBe(1);
    expect(parseKeyLog('').lines).toBe(0);
    expect(parseKeyLog('\ufeffCLIENT_RANDOM ' + cr1 + ' ' + ms).entries).toHaveLength(1);
  });
});

describe('cipher suite table', () => {
  test('names, unknown ids, GREASE', () => {
    expect(cipherSuiteName(0x1301)).toBe('TLS_AES_128_GCM_SHA256');
    expect(cipherSuiteName(0xc02f)).toBe('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    expect(cipherSuiteName(0xcca8)).toBe('TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256');
    expect(cipherSuiteName(0x0005)).toBe('TLS_RSA_WITH_RC4_128_SHA');
    expect(cipherSuite(0x0005)).toBeUndefined(); // named, not decryptable
    expect(cipherSuiteName(0x1337)).toBe('0x1337');
    expect(cipherSuiteName(0x00)).toBe('TLS_NULL_WITH_NULL_NULL');
    expect(cipherSuiteName(0x0a0b)).toBe('0x0a0b');
    expect(cipherSuiteName(0xdada)).toBe('GREASE (0xdada)');
    expect(GREASE).toHaveLength(16);
    expect(GREASE.every(isGrease)).toBe(true);
    expect(GREASE[0]).toBe(0x0a0a);
    expect(GREASE[15]).toBe(0xfafa);
    expect([0x0a0b, 0x1a2a, 0x0a1a, 0xabab, 0x0000, 0x1301, 0x10a0a].some(isGrease)).toBe(false);
  });

  test('parameters read from the names', () => {
    expect(cipherSuite(0x1301)).toMatchObject({ version: '1.3', cipher: 'aes-128-gcm', hash: 'sha256', keyLength: 16, ivLength: 12, recordIvLength: 0, tagLength: 16 });
    expect(cipherSuite(0x1302)).toMatchObject({ cipher: 'aes-256-gcm', hash: 'sha384', keyLength: 32 });
    expect(cipherSuite(0x1305)).toMatchObject({ cipher: 'aes-128-ccm', mode: 'ccm', tagLength: 8 });
    expect(cipherSuite(0xc030)).toMatchObject({ version: '1.2', cipher: 'aes-256-gcm', prfHash: 'sha384', keyLength: 32, ivLength: 4, recordIvLength: 8, macLength: 0 });
    expect(cipherSuite(0xcca9)).toMatchObject({ cipher: 'chacha20-poly1305', ivLength: 12, recordIvLength: 0, keyLength: 32 });
    expect(cipherSuite(0x002f)).toMatchObject({ cipher: 'aes-128-cbc', mode: 'cbc', hash: 'sha1', prfHash: 'sha256', macLength: 20, ivLength: 0, recordIvLength: 16 });
    expect(cipherSuite(0xc024)).toMatchObject({ cipher: 'aes-256-cbc', hash: 'sha384', prfHash: 'sha384', macLength: 48 });
    expect(cipherSuite(0xc0a0)).toMatchObject({ cipher: 'aes-128-ccm', tagLength: 8, ivLength: 4, recordIvLength: 8, prfHash: 'sha256' });
    expect(cipherSuite(0xd005)).toMatchObject({ cipher: 'aes-128-ccm', tagLength: 16 });
    expect(cipherSuite(0x000a)).toMatchObject({ cipher: 'des-ede3-cbc', keyLength: 24, blockLength: 8, macLength: 20 });
    for (const s of decryptableSuites()) expect(cipherSuiteName(s.id)).toBe(s.name);
  });
});

// ---------------------------------------------------------------------------------------------
// Real sessions: node:tls on both ends of an in-memory pipe, every byte each side writes kept,
// the client's 'keylog' lines as the key log; then the records are decrypted here and must give
// back exactly what the applications wrote.
// ---------------------------------------------------------------------------------------------

let certDir = '';
let key: Buffer;
let cert: Buffer;

beforeAll(() => {
  certDir = mkdtempSync(join(tmpdir(), 'sockstat-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=sockstat.test', '-days', '1', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'ignore' });
  key = readFileSync(join(certDir, 'key.pem'));
  cert = readFileSync(join(certDir, 'cert.pem'));
});

afterAll(() => {
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

interface Session {
  /** Bytes the client wrote, and the server. */
  c2s: Buffer;
  s2c: Buffer;
  keylog: string;
  clientData: Buffer;
  serverData: Buffer;
  standardName: string;
}

/** `ciphers` takes TLS 1.3 suite names too (node splits the list; it has no separate ciphersuites option). */
interface SessionOptions {
  ciphers: string;
  maxVersion?: tls.SecureVersion;
  secureOptions?: number;
}

async function runSession(opts: SessionOptions, clientData: Buffer, serverData: Buffer): Promise<Session> {
  const c2s: Buffer[] = [];
  const s2c: Buffer[] = [];
  let clientEnd: Duplex, serverEnd: Duplex;
  clientEnd = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      c2s.push(Buffer.from(chunk));
      serverEnd.push(chunk);
      cb();
    },
  });
  serverEnd = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      s2c.push(Buffer.from(chunk));
      clientEnd.push(chunk);
      cb();
    },
  });
  const context = { ciphers: opts.ciphers, maxVersion: opts.maxVersion, secureOptions: opts.secureOptions };
  const server = new tls.TLSSocket(serverEnd, { isServer: true, secureContext: tls.createSecureContext({ key, cert, dhparam: 'auto', ...context }) });
  const client = tls.connect({ socket: clientEnd, rejectUnauthorized: false, ...context });
  const lines: string[] = [];
  client.on('keylog', (line: Buffer) => lines.push(line.toString('latin1')));
  let standardName = '';
  const got = { server: 0, client: 0 };
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      if (got.server === clientData.length && got.client === serverData.length) resolve();
    };
    client.on('error', reject);
    server.on('error', reject);
    client.on('secureConnect', () => {
      standardName = client.getCipher().standardName;
      client.write(clientData.subarray(0, 5));
      client.write(clientData.subarray(5));
    });
    server.on('secure', () => server.write(serverData));
    server.on('data', (b: Buffer) => {
      got.server += b.length;
      done();
    });
    client.on('data', (b: Buffer) => {
      got.client += b.length;
      done();
    });
  });
  client.destroy();
  server.destroy();
  return { c2s: Buffer.concat(c2s), s2c: Buffer.concat(s2c), keylog: lines.join(''), clientData, serverData, standardName };
}

interface WireRecord {
  header: Buffer;
  fragment: Buffer;
}

/** The record splitter: 5-byte headers (type, version, length), no more. */
function records(stream: Buffer): WireRecord[] {
  const out: WireRecord[] = [];
  let off = 0;
  while (off + 5 <= stream.length) {
    const length = stream.readUInt16BE(off + 3);
    out.push({ header: stream.subarray(off, off + 5), fragment: stream.subarray(off + 5, off + 5 + length) });
    off += 5 + length;
  }
  expect(off).toBe(stream.length);
  return out;
}

interface Hello {
  random: Buffer;
  cipherSuite: number;
  extensions: Set<number>;
}

/** ClientHello / ServerHello: handshake header 4, legacy_version 2, random 32, session id, then (ServerHello) the suite. */
function hello(record: WireRecord, type: 1 | 2): Hello {
  const f = record.fragment;
  expect(record.header[0]).toBe(22);
  expect(f[0]).toBe(type);
  const random = Buffer.from(f.subarray(6, 38));
  let off = 38;
  off += 1 + f[off]; // legacy_session_id
  if (type === 1) return { random, cipherSuite: -1, extensions: new Set() };
  const cipherSuite = f.readUInt16BE(off);
  off += 3; // cipher_suite, legacy_compression_method
  const extensions = new Set<number>();
  const end = off + 2 + f.readUInt16BE(off);
  for (off += 2; off < end; off += 4 + f.readUInt16BE(off + 2)) extensions.add(f.readUInt16BE(off));
  return { random, cipherSuite, extensions };
}

interface DirectionResult {
  appData: Buffer;
  handshakeRecords: number;
  /** The application data records, with the sequence numbers they decrypted at. */
  appRecords: Array<WireRecord & { seq: bigint }>;
}

/**
 * Decrypts one direction the way the integrator would. TLS 1.3: records after the plaintext
 * hellos (and middlebox ChangeCipherSpec) are under the handshake secret until the Finished
 * message, then the application secret. TLS 1.2: everything after ChangeCipherSpec.
 */
function decryptDirection(recs: WireRecord[], handshake: RecordDecrypter | null, application: RecordDecrypter): DirectionResult {
  let current: RecordDecrypter | null = handshake;
  let protectedNow = false;
  let hs = Buffer.alloc(0);
  const app: Buffer[] = [];
  const appRecords: Array<WireRecord & { seq: bigint }> = [];
  let handshakeRecords = 0;
  for (const rec of recs) {
    const type = rec.header[0];
    if (handshake === null) {
      // TLS 1.2: protection starts after this side's ChangeCipherSpec (RFC 5246 §7.1).
      if (!protectedNow) {
        if (type === 20) protectedNow = true;
        continue;
      }
      const r = application.decrypt(rec.header, rec.fragment);
      expect(r, `record of type ${type} at seq ${application.seq}`).not.toBeNull();
      accounted(r!, rec.fragment.length);
      if (r!.contentType === 23) {
        app.push(Buffer.from(r!.plaintext));
        appRecords.push({ ...rec, seq: r!.seq });
      } else handshakeRecords++;
      continue;
    }
    if (type !== 23) continue; // the hellos, and the compatibility-mode ChangeCipherSpec
    const d: RecordDecrypter = current ?? application;
    const r = d.decrypt(rec.header, rec.fragment);
    expect(r, `record at seq ${d.seq} under the ${current ? 'handshake' : 'application'} secret`).not.toBeNull();
    accounted(r!, rec.fragment.length);
    if (current !== null) {
      expect(r!.contentType).toBe(22);
      handshakeRecords++;
      hs = Buffer.concat([hs, r!.plaintext]);
      // Walk whole handshake messages; after Finished (type 20) the application secret takes over.
      while (hs.length >= 4 && hs.length >= 4 + hs.readUIntBE(1, 3)) {
        const msgType = hs[0];
        hs = hs.subarray(4 + hs.readUIntBE(1, 3));
        if (msgType === 20) current = null;
      }
    } else if (r!.contentType === 23) {
      app.push(Buffer.from(r!.plaintext));
      appRecords.push({ ...rec, seq: r!.seq });
    }
  }
  return { appData: Buffer.concat(app), handshakeRecords, appRecords };
}

interface Decoded {
  suite: CipherSuite;
  client: DirectionResult;
  server: DirectionResult;
  /** Fresh decrypters for the application records, to replay them with gaps. */
  freshClient: () => RecordDecrypter;
  freshServer: () => RecordDecrypter;
  etm: boolean;
}

function decodeSession(session: Session): Decoded {
  const c2s = records(session.c2s);
  const s2c = records(session.s2c);
  const clientHello = hello(c2s[0], 1);
  const serverHello = hello(s2c[0], 2);
  const s = cipherSuite(serverHello.cipherSuite);
  expect(s?.name).toBe(session.standardName);
  const log = new KeyLog();
  const added = log.add(session.keylog, 'node keylog');
  expect(added.malformed).toEqual([]);
  // OpenSSL logs an RSA line too when the key exchange is RSA: counted, not used.
  expect([...added.ignored.keys()].every((label) => label === 'RSA')).toBe(true);
  const secrets = log.secrets(clientHello.random)!;
  expect(secrets).toBeDefined();
  if (s!.version === '1.3') {
    const need = (label: string) => {
      const v = secrets.get(label);
      if (!v) throw new Error(`no ${label} in the key log`);
      return v;
    };
    const freshClient = () => RecordDecrypter.tls13(s!, need('CLIENT_TRAFFIC_SECRET_0'));
    const freshServer = () => RecordDecrypter.tls13(s!, need('SERVER_TRAFFIC_SECRET_0'));
    return {
      suite: s!,
      client: decryptDirection(c2s, RecordDecrypter.tls13(s!, need('CLIENT_HANDSHAKE_TRAFFIC_SECRET')), freshClient()),
      server: decryptDirection(s2c, RecordDecrypter.tls13(s!, need('SERVER_HANDSHAKE_TRAFFIC_SECRET')), freshServer()),
      freshClient,
      freshServer,
      etm: false,
    };
  }
  const masterSecret = secrets.get('CLIENT_RANDOM')!;
  const etm = serverHello.extensions.has(0x0016); // RFC 7366 encrypt_then_mac
  const pair = () => RecordDecrypter.tls12Pair(s!, masterSecret, clientHello.random, serverHello.random, etm);
  const fresh = pair();
  return {
    suite: s!,
    client: decryptDirection(c2s, null, fresh.client),
    server: decryptDirection(s2c, null, fresh.server),
    freshClient: () => pair().client,
    freshServer: () => pair().server,
    etm,
  };
}

const NO_ETM = constants.SSL_OP_NO_ENCRYPT_THEN_MAC;

describe('real sessions with node:tls', () => {
  const clientData = Buffer.concat([Buffer.from('GET /stream HTTP/1.1\r\nHost: sockstat.test\r\n\r\n'), randomBytes(20000)]);
  const serverData = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), randomBytes(40000)]);

  test.each<[string, SessionOptions, { etm?: boolean }]>([
    ['TLS_AES_128_GCM_SHA256', { ciphers: 'TLS_AES_128_GCM_SHA256' }, {}],
    ['TLS_AES_256_GCM_SHA384', { ciphers: 'TLS_AES_256_GCM_SHA384' }, {}],
    ['TLS_CHACHA20_POLY1305_SHA256', { ciphers: 'TLS_CHACHA20_POLY1305_SHA256' }, {}],
    ['TLS_AES_128_CCM_SHA256', { ciphers: 'TLS_AES_128_CCM_SHA256' }, {}],
    ['TLS_AES_128_CCM_8_SHA256', { ciphers: 'TLS_AES_128_CCM_8_SHA256' }, {}],
    ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' }, {}],
    ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', { ciphers: 'ECDHE-RSA-AES256-GCM-SHA384', maxVersion: 'TLSv1.2' }, {}],
    ['TLS_DHE_RSA_WITH_AES_128_GCM_SHA256', { ciphers: 'DHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' }, {}],
    ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', { ciphers: 'ECDHE-RSA-CHACHA20-POLY1305', maxVersion: 'TLSv1.2' }, {}],
    ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', { ciphers: 'ECDHE-RSA-AES128-SHA256', maxVersion: 'TLSv1.2' }, { etm: true }],
    ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', { ciphers: 'ECDHE-RSA-AES128-SHA256', maxVersion: 'TLSv1.2', secureOptions: NO_ETM }, { etm: false }],
    ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384', { ciphers: 'ECDHE-RSA-AES256-SHA384', maxVersion: 'TLSv1.2', secureOptions: NO_ETM }, { etm: false }],
    ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', { ciphers: 'ECDHE-RSA-AES256-SHA', maxVersion: 'TLSv1.2' }, { etm: true }],
    ['TLS_RSA_WITH_AES_128_CBC_SHA', { ciphers: 'AES128-SHA', maxVersion: 'TLSv1.2', secureOptions: NO_ETM }, { etm: false }],
    ['TLS_RSA_WITH_AES_128_CCM', { ciphers: 'AES128-CCM', maxVersion: 'TLSv1.2' }, {}],
    ['TLS_RSA_WITH_AES_128_CCM_8', { ciphers: 'AES128-CCM8', maxVersion: 'TLSv1.2' }, {}],
    ['TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256', { ciphers: 'ECDHE-ARIA128-GCM-SHA256', maxVersion: 'TLSv1.2' }, {}],
    ['TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256', { ciphers: 'CAMELLIA128-SHA256', maxVersion: 'TLSv1.2', secureOptions: NO_ETM }, { etm: false }],
  ])('%s %o', async (name, opts, expected) => {
    const session = await runSession(opts, clientData, serverData);
    expect(session.standardName).toBe(name);
    const decoded = decodeSession(session);
    expect(decoded.suite.name).toBe(name);
    if (expected.etm !== undefined) expect(decoded.etm).toBe(expected.etm);
    expect(decoded.client.appData.equals(clientData)).toBe(true);
    expect(decoded.server.appData.equals(serverData)).toBe(true);
    expect(decoded.client.handshakeRecords).toBeGreaterThan(0); // the Finished, at least
    expect(decoded.server.handshakeRecords).toBeGreaterThan(0);
  });

  test('gaps in real traffic: TLS 1.3 resync by trial, TLS 1.2 GCM by the explicit nonce counter', async () => {
    const big = randomBytes(50 * 16384);
    for (const opts of [{ ciphers: 'TLS_AES_256_GCM_SHA384' }, { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' as const }]) {
      const session = await runSession(opts, Buffer.from('hi'), big);
      const decoded = decodeSession(session);
      const recs = decoded.server.appRecords;
      expect(recs.length).toBeGreaterThanOrEqual(50);
      const d = decoded.freshServer();
      const seq0 = recs[0].seq;
      if (decoded.suite.version === '1.2') expect(seq0).toBe(1n); // after the Finished
      expect(recs.every((r, i) => r.seq === seq0 + BigInt(i))).toBe(true);
      d.setSeq(seq0);
      expect(d.decrypt(recs[0].header, recs[0].fragment)).not.toBeNull();
      // Three records lost.
      expect(d.decrypt(recs[4].header, recs[4].fragment)).toBeNull();
      expect(d.resync(recs[4].header, recs[4].fragment)?.seq).toBe(recs[4].seq);
      // Forty lost: beyond maxSkip 8 by trial; TLS 1.2 GCM finds it by the explicit nonce anyway (OpenSSL's: a random start plus seq).
      const found = d.resync(recs[45].header, recs[45].fragment, { maxSkip: 8 });
      if (decoded.suite.version === '1.2') expect(found?.seq).toBe(recs[45].seq);
      else {
        expect(found).toBeNull();
        expect(d.seq).toBe(recs[4].seq + 1n);
        expect(d.resync(recs[45].header, recs[45].fragment, { maxSkip: 64 })?.seq).toBe(recs[45].seq);
      }
      expect(d.decrypt(recs[46].header, recs[46].fragment)?.seq).toBe(recs[46].seq);
    }
  });
});

