// Records decrypted per second by src/dissect/tls/decrypt.ts (issue 14's target: 200,000/s):
// TLS 1.3 records of a given plaintext size sealed here with node:crypto (RFC 8446 §5.2
// nonce and AAD), then opened by RecordDecrypter. Usage: node bench/tls-records.mjs [records] [size]
import { createCipheriv, randomBytes } from 'node:crypto';
import { RecordDecrypter } from '../dist/dissect/tls/decrypt.js';
import { tls13TrafficKeys } from '../dist/dissect/tls/keys.js';
import { cipherSuite } from '../dist/dissect/tls/suites.js';

const n = Number(process.argv[2] ?? 200000);
const size = Number(process.argv[3] ?? 100);
for (const id of [0x1301, 0x1302, 0x1303]) {
  const suite = cipherSuite(id);
  const secret = randomBytes(suite.hash === 'sha384' ? 48 : 32);
  const { key, iv } = tls13TrafficKeys(suite, secret);
  const records = [];
  for (let seq = 0; seq < n; seq++) {
    const nonce = Buffer.from(iv);
    for (let i = 0; i < 8; i++) nonce[nonce.length - 1 - i] ^= Number((BigInt(seq) >> BigInt(8 * i)) & 0xffn);
    const inner = Buffer.concat([randomBytes(size), Buffer.from([23])]);
    const header = Buffer.from([23, 3, 3, (inner.length + 16) >> 8, (inner.length + 16) & 0xff]);
    const c = createCipheriv(suite.cipher, key, nonce, { authTagLength: 16 });
    c.setAAD(header);
    const body = Buffer.concat([c.update(inner), c.final(), c.getAuthTag()]);
    records.push([header, body]);
  }
  const d = RecordDecrypter.tls13(suite, secret);
  const t = process.hrtime.bigint();
  let ok = 0;
  for (const [h, b] of records) if (d.decrypt(h, b)) ok++;
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`${suite.name}: ${ok}/${n} records of ${size} bytes in ${s.toFixed(3)} s: ${Math.round(n / s)} records/s`);
}
