import { createHmac } from 'node:crypto';
import type { CipherSuite } from './suites.js';

/**
 * Key derivation: the TLS 1.2 PRF and key block (RFC 5246 §5, §6.3) and the TLS 1.3
 * HKDF-Expand-Label schedule from a traffic secret (RFC 8446 §7.1-§7.3). The key log gives the
 * master secret (1.2) or the traffic secrets (1.3), so nothing before them is needed here:
 * neither the premaster secret nor the extended master secret's session hash.
 */

export type KdfHash = 'sha256' | 'sha384';

export interface Tls12Keys {
  /** client_write_key / server_write_key */
  key: Uint8Array;
  /** client_write_IV / server_write_IV: the implicit part of the nonce (AEAD only; empty for CBC). */
  iv: Uint8Array;
  /** client_write_MAC_key / server_write_MAC_key (CBC only; empty for AEAD). */
  macKey: Uint8Array;
}

export interface Tls13Keys {
  key: Uint8Array;
  iv: Uint8Array;
}

const HASH_LENGTH: Record<KdfHash, number> = { sha256: 32, sha384: 48 };

/**
 * RFC 5246 §5: PRF(secret, label, seed) = P_<hash>(secret, label + seed), where
 * P_hash = HMAC(secret, A(1) + seed') + HMAC(secret, A(2) + seed') + ... with A(0) = seed' and
 * A(i) = HMAC(secret, A(i-1)); seed' = label + seed. The label is ASCII.
 */
export function prf(hash: KdfHash, secret: Uint8Array, label: string, seed: Uint8Array, length: number): Uint8Array {
  const labelSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const out = Buffer.allocUnsafe(length);
  let a: Uint8Array = labelSeed;
  for (let off = 0; off < length; ) {
    a = createHmac(hash, secret).update(a).digest();
    const block = createHmac(hash, secret).update(a).update(labelSeed).digest();
    off += block.copy(out, off, 0, Math.min(block.length, length - off));
  }
  return out;
}

/**
 * RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion", server_random + client_random),
 * cut into client_write_MAC_key, server_write_MAC_key, client_write_key, server_write_key,
 * client_write_IV, server_write_IV. TLS 1.2 makes IVs only for AEAD's implicit nonce part
 * (suite.ivLength is 0 for CBC, whose IV travels in each record).
 */
export function tls12KeyBlock(
  suite: CipherSuite,
  masterSecret: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): { client: Tls12Keys; server: Tls12Keys } {
  const mac = suite.macLength;
  const key = suite.keyLength;
  const iv = suite.ivLength;
  const block = prf(suite.prfHash, masterSecret, 'key expansion', Buffer.concat([serverRandom, clientRandom]), 2 * (mac + key + iv));
  let off = 0;
  const take = (n: number) => block.subarray(off, (off += n));
  const clientMac = take(mac);
  const serverMac = take(mac);
  const clientKey = take(key);
  const serverKey = take(key);
  const clientIv = take(iv);
  const serverIv = take(iv);
  return {
    client: { key: clientKey, iv: clientIv, macKey: clientMac },
    server: { key: serverKey, iv: serverIv, macKey: serverMac },
  };
}

/**
 * RFC 5869 §2.3 HKDF-Expand(PRK, info, L): T(i) = HMAC(PRK, T(i-1) | info | i), the first L
 * bytes of T(1) | T(2) | ...
 */
function hkdfExpand(hash: KdfHash, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const out = Buffer.allocUnsafe(length);
  let t: Uint8Array = new Uint8Array(0);
  const counter = new Uint8Array(1);
  for (let off = 0, i = 1; off < length; i++) {
    counter[0] = i;
    t = createHmac(hash, prk).update(t).update(info).update(counter).digest();
    off += (t as Buffer).copy(out, off, 0, Math.min(t.length, length - off));
  }
  return out;
}

/**
 * RFC 8446 §7.1: HKDF-Expand-Label(Secret, Label, Context, Length) = HKDF-Expand(Secret,
 * HkdfLabel, Length), with HkdfLabel = uint16 length, opaque label<7..255> = "tls13 " + Label,
 * opaque context<0..255> = Context.
 */
export function hkdfExpandLabel(hash: KdfHash, secret: Uint8Array, label: string, context: Uint8Array, length: number): Uint8Array {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.allocUnsafe(2 + 1 + fullLabel.length + 1 + context.length);
  let off = info.writeUInt16BE(length, 0);
  off = info.writeUInt8(fullLabel.length, off);
  off += fullLabel.copy(info, off);
  off = info.writeUInt8(context.length, off);
  info.set(context, off);
  return hkdfExpand(hash, secret, info, length);
}

/** RFC 8446 §7.3: write_key = HKDF-Expand-Label(Secret, "key", "", key_length); write_iv likewise with "iv", iv_length. */
export function tls13TrafficKeys(suite: CipherSuite, trafficSecret: Uint8Array): Tls13Keys {
  const empty = new Uint8Array(0);
  return {
    key: hkdfExpandLabel(suite.prfHash, trafficSecret, 'key', empty, suite.keyLength),
    iv: hkdfExpandLabel(suite.prfHash, trafficSecret, 'iv', empty, suite.ivLength),
  };
}

/** RFC 8446 §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length). */
export function nextTrafficSecret(hash: KdfHash, secret: Uint8Array): Uint8Array {
  return hkdfExpandLabel(hash, secret, 'traffic upd', new Uint8Array(0), HASH_LENGTH[hash]);
}
