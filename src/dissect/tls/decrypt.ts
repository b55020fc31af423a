import { createDecipheriv, createHmac, createSecretKey, timingSafeEqual, type CipherGCMTypes, type KeyObject } from 'node:crypto';
import { nextTrafficSecret, tls12KeyBlock, tls13TrafficKeys, type Tls12Keys } from './keys.js';
import type { CipherSuite } from './suites.js';

/**
 * Record decryption, one direction of one connection: RFC 8446 §5.2-§5.4 for TLS 1.3,
 * RFC 5246 §6.2.3 for TLS 1.2 (AEAD: RFC 5288 GCM, RFC 6655 CCM, RFC 7905 ChaCha20-Poly1305;
 * CBC with MAC-then-encrypt, or RFC 7366 encrypt-then-MAC).
 *
 * Losing records (a TCP gap): every AEAD nonce or CBC MAC covers the 64-bit sequence number,
 * which counts records, not bytes, so after a gap the next record's number is unknown.
 * Recommended: when the stream has a gap, find the next record header again, and decrypt that
 * record with resync() instead of decrypt(). resync() tries seq, seq+1, ... seq+maxSkip and
 * keeps the number that authenticates. For TLS 1.2 GCM/CCM it first tries the number the
 * record's explicit nonce implies: in practice a counter that moves with the sequence number
 * (equal to it in some stacks, a random start plus it in OpenSSL), so the decrypter keeps the
 * difference seen on the last record it decrypted and a gap of any length costs one attempt.
 * For TLS 1.3 a KeyUpdate may have been lost in the gap too: resync() with keyUpdate also
 * tries the next generation's keys. Each candidate costs one AEAD (or HMAC) attempt; a gap of
 * more than maxSkip records (TLS 1.3, ChaCha20, CBC) stays unrecovered, and resync() can be
 * tried again on later records with a larger maxSkip.
 */

/**
 * One record's content, and where its other bytes went (for byte accounting): always
 * fragment.length = explicitNonce + plaintext.length + innerType + padding + tag.
 */
export interface DecryptedRecord {
  /** TLS 1.3: the inner content type (RFC 8446 §5.4, after the zero padding); TLS 1.2: the header's type. */
  contentType: number;
  /** The content: for TLS 1.3 without the inner type byte and padding; for CBC without MAC and padding. */
  plaintext: Uint8Array;
  /** The sequence number the record authenticated at. */
  seq: bigint;
  /** Bytes before the ciphertext: the TLS 1.2 GCM/CCM explicit nonce (8), the CBC IV (the block size), else 0. */
  explicitNonce: number;
  /** The AEAD tag (16, or 8 for CCM_8), or the CBC HMAC (20/32/48). */
  tag: number;
  /** 1 for TLS 1.3 (the inner content type byte), 0 for TLS 1.2. */
  innerType: number;
  /** TLS 1.3: the zero bytes after the inner type byte; CBC: the padding with its padding_length byte; else 0. */
  padding: number;
}

export interface ResyncOptions {
  /** Sequence numbers tried past the expected one (default 32). */
  maxSkip?: number;
  /** TLS 1.3: when no number fits, also try the next traffic secret (a KeyUpdate lost in the gap) at 0..maxSkip. */
  keyUpdate?: boolean;
}

const MAX_SEQ = (1n << 64n) - 1n;

export class RecordDecrypter {
  readonly suite: CipherSuite;
  /** RFC 7366, negotiated by the encrypt_then_mac extension; only meaningful for CBC suites. */
  readonly encryptThenMac: boolean;
  #seq = 0n;
  #generation = 0;
  #trafficSecret: Uint8Array | undefined;
  #key: KeyObject;
  /** TLS 1.3 / ChaCha20: the 12-byte IV XORed with seq; TLS 1.2 GCM/CCM: the 4-byte salt; CBC: empty. */
  #iv: Uint8Array;
  #macKey: KeyObject | undefined;
  // Scratch buffers, reused record after record: node:crypto copies what it is given.
  readonly #nonce = Buffer.alloc(12);
  readonly #seqBytes = Buffer.alloc(8);
  /** TLS 1.2 additional data / MAC prefix: seq_num(8) + type(1) + version(2) + length(2). */
  readonly #header12 = Buffer.alloc(13);
  /** TLS 1.2 GCM/CCM: explicit nonce minus seq (mod 2^64) on the last record decrypted; 0 until one is. */
  #nonceDelta = 0n;

  private constructor(suite: CipherSuite, key: Uint8Array, iv: Uint8Array, macKey: Uint8Array | undefined, encryptThenMac: boolean) {
    if (key.length !== suite.keyLength) throw new RangeError(`${suite.name}: key is ${key.length} bytes, expected ${suite.keyLength}`);
    if (iv.length !== suite.ivLength) throw new RangeError(`${suite.name}: IV is ${iv.length} bytes, expected ${suite.ivLength}`);
    if (suite.mode === 'cbc' && macKey?.length !== suite.macLength) {
      throw new RangeError(`${suite.name}: MAC key is ${macKey?.length ?? 0} bytes, expected ${suite.macLength}`);
    }
    this.suite = suite;
    this.encryptThenMac = encryptThenMac && suite.mode === 'cbc';
    this.#key = createSecretKey(key);
    this.#iv = Uint8Array.from(iv);
    this.#macKey = suite.mode === 'cbc' && macKey ? createSecretKey(macKey) : undefined;
  }

  /** TLS 1.3, from a traffic secret (the key log's *_TRAFFIC_SECRET_* lines); the sequence number starts at 0 (RFC 8446 §5.3). */
  static tls13(suite: CipherSuite, trafficSecret: Uint8Array): RecordDecrypter {
    if (suite.version !== '1.3') throw new TypeError(`${suite.name} is not a TLS 1.3 suite`);
    const { key, iv } = tls13TrafficKeys(suite, trafficSecret);
    const d = new RecordDecrypter(suite, key, iv, undefined, false);
    d.#trafficSecret = Uint8Array.from(trafficSecret);
    return d;
  }

  /** TLS 1.2, from one side's keys out of tls12KeyBlock; the sequence number starts at 0 after ChangeCipherSpec (RFC 5246 §6.1). */
  static tls12(suite: CipherSuite, keys: Tls12Keys, encryptThenMac = false): RecordDecrypter {
    if (suite.version !== '1.2') throw new TypeError(`${suite.name} is not a TLS 1.2 suite`);
    return new RecordDecrypter(suite, keys.key, keys.iv, keys.macKey, encryptThenMac);
  }

  /** Both directions of a TLS 1.2 connection, from the key log's master secret and the hellos' randoms. */
  static tls12Pair(
    suite: CipherSuite,
    masterSecret: Uint8Array,
    clientRandom: Uint8Array,
    serverRandom: Uint8Array,
    encryptThenMac = false,
  ): { client: RecordDecrypter; server: RecordDecrypter } {
    const block = tls12KeyBlock(suite, masterSecret, clientRandom, serverRandom);
    return { client: RecordDecrypter.tls12(suite, block.client, encryptThenMac), server: RecordDecrypter.tls12(suite, block.server, encryptThenMac) };
  }

  /** The sequence number the next record is expected at. */
  get seq(): bigint {
    return this.#seq;
  }

  /** TLS 1.3: how many key updates have been applied (the N of application_traffic_secret_N when built from _0). */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Decrypts one record's fragment (the bytes after the 5-byte header) at the expected
   * sequence number; header is the 5 header bytes (the additional data covers them). Returns
   * null when the record does not authenticate (wrong keys, corrupt or truncated data, a lost
   * record before it); never throws on bad input. The sequence number advances on success
   * only. Not for TLS 1.3's unprotected records (ChangeCipherSpec, type 20).
   */
  decrypt(header: Uint8Array, fragment: Uint8Array): DecryptedRecord | null {
    const r = this.decryptAt(header, fragment, this.#seq);
    if (r !== null) this.#found(r, fragment);
    return r;
  }

  /** A record authenticated: the next is expected after it, and its explicit nonce says how nonces relate to numbers. */
  #found(r: DecryptedRecord, fragment: Uint8Array): void {
    this.#seq = r.seq + 1n;
    const explicit = this.#explicitNonce(fragment);
    if (explicit !== undefined) this.#nonceDelta = BigInt.asUintN(64, explicit - r.seq);
  }

  /** TLS 1.2 GCM/CCM: the record's 8-byte explicit nonce as a number. */
  #explicitNonce(fragment: Uint8Array): bigint | undefined {
    if (this.suite.version !== '1.2' || this.suite.recordIvLength !== 8 || fragment.length < 8) return undefined;
    const f = fragment;
    const hi = ((f[0] << 24) | (f[1] << 16) | (f[2] << 8) | f[3]) >>> 0;
    const lo = ((f[4] << 24) | (f[5] << 16) | (f[6] << 8) | f[7]) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Decrypts at a given sequence number, changing nothing (to probe; see resync). */
  decryptAt(header: Uint8Array, fragment: Uint8Array, seq: bigint | number): DecryptedRecord | null {
    try {
      const s = BigInt(seq);
      if (s < 0n || s > MAX_SEQ || header.length < 5) return null;
      switch (this.suite.mode) {
        case 'cbc':
          return this.encryptThenMac ? this.#openCbcEtm(header, fragment, s) : this.#openCbc(header, fragment, s);
        default:
          return this.suite.version === '1.3' ? this.#open13(header, fragment, s) : this.#openAead12(header, fragment, s);
      }
    } catch {
      return null;
    }
  }

  /**
   * After records were lost: tries, for TLS 1.2 GCM/CCM, the number the explicit nonce implies;
   * then seq .. seq+maxSkip; then (keyUpdate, TLS 1.3) the next traffic secret at 0..maxSkip.
   * On success the state moves to where the record was found (a key update is adopted); on
   * failure nothing changes.
   */
  resync(header: Uint8Array, fragment: Uint8Array, options: ResyncOptions = {}): DecryptedRecord | null {
    const maxSkip = BigInt(Math.max(0, Math.floor(options.maxSkip ?? 32)));
    const explicit = this.#explicitNonce(fragment);
    if (explicit !== undefined) {
      const implied = BigInt.asUintN(64, explicit - this.#nonceDelta);
      if (implied >= this.#seq) {
        const r = this.decryptAt(header, fragment, implied);
        if (r !== null) {
          this.#found(r, fragment);
          return r;
        }
      }
    }
    for (let s = this.#seq; s <= this.#seq + maxSkip && s <= MAX_SEQ; s++) {
      const r = this.decryptAt(header, fragment, s);
      if (r !== null) {
        this.#found(r, fragment);
        return r;
      }
    }
    if (options.keyUpdate && this.#trafficSecret !== undefined) {
      const next = RecordDecrypter.tls13(this.suite, nextTrafficSecret(this.suite.prfHash, this.#trafficSecret));
      for (let s = 0n; s <= maxSkip; s++) {
        const r = next.decryptAt(header, fragment, s);
        if (r !== null) {
          this.keyUpdate();
          this.#found(r, fragment);
          return r;
        }
      }
    }
    return null;
  }

  /** Moves the expected sequence number (e.g. when the integrator knows how many records a gap held). */
  setSeq(seq: bigint | number): void {
    const s = BigInt(seq);
    if (s < 0n || s > MAX_SEQ) throw new RangeError(`sequence number ${s} is out of range`);
    this.#seq = s;
  }

  /**
   * TLS 1.3 (RFC 8446 §4.6.3, §7.2): after this direction sent a KeyUpdate message, its later
   * records use application_traffic_secret_N+1, with the sequence number back at 0. Call it
   * after the record carrying the KeyUpdate. False (nothing done) for TLS 1.2.
   */
  keyUpdate(): boolean {
    if (this.#trafficSecret === undefined) return false;
    this.#trafficSecret = nextTrafficSecret(this.suite.prfHash, this.#trafficSecret);
    const { key, iv } = tls13TrafficKeys(this.suite, this.#trafficSecret);
    this.#key = createSecretKey(key);
    this.#iv = iv;
    this.#seq = 0n;
    this.#generation++;
    return true;
  }

  /** RFC 8446 §5.3: nonce = iv XOR the 64-bit seq left-padded to iv_length; RFC 7905 §2 the same for TLS 1.2 ChaCha20. */
  #xorNonce(seq: bigint): Buffer {
    const nonce = this.#nonce;
    const iv = this.#iv;
    this.#seqBytes.writeBigUInt64BE(seq, 0);
    nonce.set(iv, 0);
    for (let i = 0; i < 8; i++) nonce[4 + i] = iv[4 + i] ^ this.#seqBytes[i];
    return nonce;
  }

  #aead(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Buffer {
    const suite = this.suite;
    // node types GCM, CCM and ChaCha20-Poly1305 deciphers apart; this call is the same for all three.
    const d = createDecipheriv(suite.cipher as CipherGCMTypes, this.#key, nonce, { authTagLength: suite.tagLength });
    d.setAuthTag(tag);
    // CCM authenticates the length first, so node wants it before the data (RFC 3610 §2.2).
    if (suite.mode === 'ccm') d.setAAD(aad, { plaintextLength: ciphertext.length });
    else d.setAAD(aad);
    const plain = d.update(ciphertext);
    d.final(); // throws when the tag does not verify
    return plain;
  }

  /** RFC 8446 §5.2: additional_data is the record header as sent; TLSInnerPlaintext = content | type | zeros. */
  #open13(header: Uint8Array, fragment: Uint8Array, seq: bigint): DecryptedRecord | null {
    const tagLength = this.suite.tagLength;
    if (fragment.length < tagLength + 1) return null;
    const cut = fragment.length - tagLength;
    const plain = this.#aead(this.#xorNonce(seq), header.subarray(0, 5), fragment.subarray(0, cut), fragment.subarray(cut));
    // §5.4: the type is the last non-zero byte; none at all is an unexpected_message.
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    if (end < 0) return null;
    return { contentType: plain[end], plaintext: plain.subarray(0, end), seq, explicitNonce: 0, tag: tagLength, innerType: 1, padding: plain.length - 1 - end };
  }

  /** RFC 5246 §6.2.3.3: additional_data = seq_num + type + version + length (of the plaintext). */
  #fillHeader12(header: Uint8Array, seq: bigint, length: number): Buffer {
    const h = this.#header12;
    h.writeBigUInt64BE(seq, 0);
    h[8] = header[0];
    h[9] = header[1];
    h[10] = header[2];
    h.writeUInt16BE(length, 11);
    return h;
  }

  /**
   * TLS 1.2 AEAD. GCM/CCM (RFC 5288 §3, RFC 6655 §3): nonce = salt(4) + explicit nonce(8), the
   * explicit part first in the fragment. ChaCha20 (RFC 7905 §2): nonce = iv XOR seq, nothing in
   * the fragment.
   */
  #openAead12(header: Uint8Array, fragment: Uint8Array, seq: bigint): DecryptedRecord | null {
    const { recordIvLength, tagLength } = this.suite;
    if (fragment.length < recordIvLength + tagLength) return null;
    let nonce: Buffer;
    if (recordIvLength === 8) {
      nonce = this.#nonce;
      nonce.set(this.#iv, 0);
      nonce.set(fragment.subarray(0, 8), 4);
    } else {
      nonce = this.#xorNonce(seq);
    }
    const cut = fragment.length - tagLength;
    const aad = this.#fillHeader12(header, seq, cut - recordIvLength);
    const plain = this.#aead(nonce, aad, fragment.subarray(recordIvLength, cut), fragment.subarray(cut));
    return { contentType: header[0], plaintext: plain, seq, explicitNonce: recordIvLength, tag: tagLength, innerType: 0, padding: 0 };
  }

  #cbcDecrypt(iv: Uint8Array, ciphertext: Uint8Array): Buffer {
    const d = createDecipheriv(this.suite.cipher, this.#key, iv);
    d.setAutoPadding(false); // TLS padding is not PKCS#7: checked below
    const plain = d.update(ciphertext);
    d.final();
    return plain;
  }

  /** RFC 5246 §6.2.3.2: every padding byte, and padding_length itself, hold padding_length. */
  static #paddingOk(plain: Uint8Array, padLength: number): boolean {
    for (let i = plain.length - 1 - padLength; i < plain.length; i++) if (plain[i] !== padLength) return false;
    return true;
  }

  /** RFC 5246 §6.2.3.1: MAC = HMAC(MAC_write_key, seq_num + type + version + length + data). */
  #macOk(header: Uint8Array, seq: bigint, data: Uint8Array, mac: Uint8Array): boolean {
    const h = createHmac(this.suite.hash, this.#macKey as KeyObject);
    h.update(this.#fillHeader12(header, seq, data.length));
    h.update(data);
    return timingSafeEqual(h.digest(), mac);
  }

  /**
   * MAC-then-encrypt (RFC 5246 §6.2.3.2): fragment = IV + E(content + MAC + padding +
   * padding_length). The IV is explicit in TLS 1.1 and later, so each record decrypts alone.
   */
  #openCbc(header: Uint8Array, fragment: Uint8Array, seq: bigint): DecryptedRecord | null {
    const { blockLength, macLength } = this.suite;
    if (fragment.length < 2 * blockLength || fragment.length % blockLength !== 0) return null;
    const plain = this.#cbcDecrypt(fragment.subarray(0, blockLength), fragment.subarray(blockLength));
    const padLength = plain[plain.length - 1];
    if (padLength + 1 + macLength > plain.length || !RecordDecrypter.#paddingOk(plain, padLength)) return null;
    const contentLength = plain.length - padLength - 1 - macLength;
    const content = plain.subarray(0, contentLength);
    if (!this.#macOk(header, seq, content, plain.subarray(contentLength, contentLength + macLength))) return null;
    return { contentType: header[0], plaintext: content, seq, explicitNonce: blockLength, tag: macLength, innerType: 0, padding: padLength + 1 };
  }

  /**
   * Encrypt-then-MAC (RFC 7366 §3): fragment = IV + E(content + padding + padding_length) + MAC,
   * the MAC over seq_num + type + version + length of (IV + ciphertext) + IV + ciphertext.
   */
  #openCbcEtm(header: Uint8Array, fragment: Uint8Array, seq: bigint): DecryptedRecord | null {
    const { blockLength, macLength } = this.suite;
    const macAt = fragment.length - macLength;
    if (macAt < 2 * blockLength || macAt % blockLength !== 0) return null;
    if (!this.#macOk(header, seq, fragment.subarray(0, macAt), fragment.subarray(macAt))) return null;
    const plain = this.#cbcDecrypt(fragment.subarray(0, blockLength), fragment.subarray(blockLength, macAt));
    const padLength = plain[plain.length - 1];
    if (padLength + 1 > plain.length || !RecordDecrypter.#paddingOk(plain, padLength)) return null;
    return {
      contentType: header[0], plaintext: plain.subarray(0, plain.length - padLength - 1), seq, explicitNonce: blockLength, tag: macLength,
      innerType: 0, padding: padLength + 1,
    };
  }
}
