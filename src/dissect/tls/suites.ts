import { getCiphers } from 'node:crypto';

/**
 * TLS cipher suites by their 16-bit id: the names (IANA's TLS Cipher Suites registry) and, for
 * the suites sockstat can decrypt, the record protection parameters. A suite's parameters are
 * read from its IANA name, which spells them out (TLS_<kx>_WITH_<cipher>_<mode>_<hash>), so a
 * row cannot say one thing in its name and another in its numbers.
 */

/** The bulk cipher, as node:crypto names it (createDecipheriv takes it as it is). */
export type CipherName =
  | 'aes-128-gcm'
  | 'aes-256-gcm'
  | 'aria-128-gcm'
  | 'aria-256-gcm'
  | 'camellia-128-gcm'
  | 'camellia-256-gcm'
  | 'chacha20-poly1305'
  | 'aes-128-ccm'
  | 'aes-256-ccm'
  | 'aes-128-cbc'
  | 'aes-256-cbc'
  | 'aria-128-cbc'
  | 'aria-256-cbc'
  | 'camellia-128-cbc'
  | 'camellia-256-cbc'
  | 'des-ede3-cbc';

export type HashName = 'sha1' | 'sha256' | 'sha384';

export interface CipherSuite {
  id: number;
  /** IANA name, e.g. TLS_AES_128_GCM_SHA256. */
  name: string;
  /** '1.3' for the TLS 1.3 suites; '1.2' for the rest (TLS 1.2 record protection and key block). */
  version: '1.2' | '1.3';
  cipher: CipherName;
  /** How records are protected: an AEAD (which one matters for nonces and node's API), or CBC with HMAC. */
  mode: 'gcm' | 'ccm' | 'chacha20-poly1305' | 'cbc';
  /**
   * The hash in the suite's name: for TLS 1.3 the HKDF hash, for CBC suites the HMAC hash
   * (sha1 for the _SHA suites), for TLS 1.2 AEAD suites the PRF hash.
   */
  hash: HashName;
  /**
   * The TLS 1.2 PRF hash (RFC 5246 §5): SHA-256 unless the suite says SHA384, the _SHA (SHA-1
   * MAC) and CCM suites included (RFC 5246 §5, RFC 6655 §3). For TLS 1.3, the HKDF hash.
   */
  prfHash: 'sha256' | 'sha384';
  keyLength: number;
  /**
   * Fixed IV from the key schedule: 4 (the salt) for TLS 1.2 GCM/CCM (RFC 5288 §3, RFC 6655 §3),
   * 12 for TLS 1.3 and for ChaCha20-Poly1305 (RFC 7905 §2), 0 for CBC: TLS 1.1 and later send the
   * IV in each record and the key block has none (RFC 5246 §6.3).
   */
  ivLength: number;
  /** HMAC length for CBC suites: 20 (SHA-1), 32 (SHA-256), 48 (SHA-384); 0 for AEAD suites. */
  macLength: number;
  /** Bytes at the start of each record's fragment: 8 (explicit nonce) for TLS 1.2 GCM/CCM, the block size (the IV) for CBC, 0 otherwise. */
  recordIvLength: number;
  /** CBC block size (16, 8 for 3DES); 0 for AEAD suites. */
  blockLength: number;
  /** AEAD tag length: 16, or 8 for the CCM_8 suites; 0 for CBC (see macLength). */
  tagLength: number;
}

/** IANA names (https://www.iana.org/assignments/tls-parameters, TLS Cipher Suites). */
const NAMES: ReadonlyArray<readonly [number, string]> = [
  // Null, RC4, DES, IDEA: named, never decrypted.
  [0x0000, 'TLS_NULL_WITH_NULL_NULL'],
  [0x0001, 'TLS_RSA_WITH_NULL_MD5'],
  [0x0002, 'TLS_RSA_WITH_NULL_SHA'],
  [0x0003, 'TLS_RSA_EXPORT_WITH_RC4_40_MD5'],
  [0x0004, 'TLS_RSA_WITH_RC4_128_MD5'],
  [0x0005, 'TLS_RSA_WITH_RC4_128_SHA'],
  [0x0007, 'TLS_RSA_WITH_IDEA_CBC_SHA'],
  [0x0009, 'TLS_RSA_WITH_DES_CBC_SHA'],
  [0x000a, 'TLS_RSA_WITH_3DES_EDE_CBC_SHA'],
  [0x000d, 'TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA'],
  [0x0010, 'TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA'],
  [0x0013, 'TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA'],
  [0x0015, 'TLS_DHE_RSA_WITH_DES_CBC_SHA'],
  [0x0016, 'TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA'],
  [0x0018, 'TLS_DH_anon_WITH_RC4_128_MD5'],
  [0x001b, 'TLS_DH_anon_WITH_3DES_EDE_CBC_SHA'],
  [0x002c, 'TLS_PSK_WITH_NULL_SHA'],
  // RFC 5246 AES-CBC
  [0x002f, 'TLS_RSA_WITH_AES_128_CBC_SHA'],
  [0x0030, 'TLS_DH_DSS_WITH_AES_128_CBC_SHA'],
  [0x0031, 'TLS_DH_RSA_WITH_AES_128_CBC_SHA'],
  [0x0032, 'TLS_DHE_DSS_WITH_AES_128_CBC_SHA'],
  [0x0033, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA'],
  [0x0034, 'TLS_DH_anon_WITH_AES_128_CBC_SHA'],
  [0x0035, 'TLS_RSA_WITH_AES_256_CBC_SHA'],
  [0x0036, 'TLS_DH_DSS_WITH_AES_256_CBC_SHA'],
  [0x0037, 'TLS_DH_RSA_WITH_AES_256_CBC_SHA'],
  [0x0038, 'TLS_DHE_DSS_WITH_AES_256_CBC_SHA'],
  [0x0039, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA'],
  [0x003a, 'TLS_DH_anon_WITH_AES_256_CBC_SHA'],
  [0x003b, 'TLS_RSA_WITH_NULL_SHA256'],
  [0x003c, 'TLS_RSA_WITH_AES_128_CBC_SHA256'],
  [0x003d, 'TLS_RSA_WITH_AES_256_CBC_SHA256'],
  [0x003e, 'TLS_DH_DSS_WITH_AES_128_CBC_SHA256'],
  [0x003f, 'TLS_DH_RSA_WITH_AES_128_CBC_SHA256'],
  [0x0040, 'TLS_DHE_DSS_WITH_AES_128_CBC_SHA256'],
  [0x0041, 'TLS_RSA_WITH_CAMELLIA_128_CBC_SHA'],
  [0x0044, 'TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA'],
  [0x0045, 'TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA'],
  [0x0067, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256'],
  [0x0068, 'TLS_DH_DSS_WITH_AES_256_CBC_SHA256'],
  [0x0069, 'TLS_DH_RSA_WITH_AES_256_CBC_SHA256'],
  [0x006a, 'TLS_DHE_DSS_WITH_AES_256_CBC_SHA256'],
  [0x006b, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256'],
  [0x006c, 'TLS_DH_anon_WITH_AES_128_CBC_SHA256'],
  [0x006d, 'TLS_DH_anon_WITH_AES_256_CBC_SHA256'],
  [0x0084, 'TLS_RSA_WITH_CAMELLIA_256_CBC_SHA'],
  [0x0087, 'TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA'],
  [0x0088, 'TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA'],
  // RFC 4279 PSK
  [0x008a, 'TLS_PSK_WITH_RC4_128_SHA'],
  [0x008b, 'TLS_PSK_WITH_3DES_EDE_CBC_SHA'],
  [0x008c, 'TLS_PSK_WITH_AES_128_CBC_SHA'],
  [0x008d, 'TLS_PSK_WITH_AES_256_CBC_SHA'],
  [0x008f, 'TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA'],
  [0x0090, 'TLS_DHE_PSK_WITH_AES_128_CBC_SHA'],
  [0x0091, 'TLS_DHE_PSK_WITH_AES_256_CBC_SHA'],
  [0x0093, 'TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA'],
  [0x0094, 'TLS_RSA_PSK_WITH_AES_128_CBC_SHA'],
  [0x0095, 'TLS_RSA_PSK_WITH_AES_256_CBC_SHA'],
  [0x0096, 'TLS_RSA_WITH_SEED_CBC_SHA'],
  [0x009a, 'TLS_DHE_RSA_WITH_SEED_CBC_SHA'],
  // RFC 5288 AES-GCM
  [0x009c, 'TLS_RSA_WITH_AES_128_GCM_SHA256'],
  [0x009d, 'TLS_RSA_WITH_AES_256_GCM_SHA384'],
  [0x009e, 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0x009f, 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0x00a0, 'TLS_DH_RSA_WITH_AES_128_GCM_SHA256'],
  [0x00a1, 'TLS_DH_RSA_WITH_AES_256_GCM_SHA384'],
  [0x00a2, 'TLS_DHE_DSS_WITH_AES_128_GCM_SHA256'],
  [0x00a3, 'TLS_DHE_DSS_WITH_AES_256_GCM_SHA384'],
  [0x00a4, 'TLS_DH_DSS_WITH_AES_128_GCM_SHA256'],
  [0x00a5, 'TLS_DH_DSS_WITH_AES_256_GCM_SHA384'],
  [0x00a6, 'TLS_DH_anon_WITH_AES_128_GCM_SHA256'],
  [0x00a7, 'TLS_DH_anon_WITH_AES_256_GCM_SHA384'],
  // RFC 5487 PSK with SHA-256/384 and GCM
  [0x00a8, 'TLS_PSK_WITH_AES_128_GCM_SHA256'],
  [0x00a9, 'TLS_PSK_WITH_AES_256_GCM_SHA384'],
  [0x00aa, 'TLS_DHE_PSK_WITH_AES_128_GCM_SHA256'],
  [0x00ab, 'TLS_DHE_PSK_WITH_AES_256_GCM_SHA384'],
  [0x00ac, 'TLS_RSA_PSK_WITH_AES_128_GCM_SHA256'],
  [0x00ad, 'TLS_RSA_PSK_WITH_AES_256_GCM_SHA384'],
  [0x00ae, 'TLS_PSK_WITH_AES_128_CBC_SHA256'],
  [0x00af, 'TLS_PSK_WITH_AES_256_CBC_SHA384'],
  [0x00b0, 'TLS_PSK_WITH_NULL_SHA256'],
  [0x00b1, 'TLS_PSK_WITH_NULL_SHA384'],
  [0x00b2, 'TLS_DHE_PSK_WITH_AES_128_CBC_SHA256'],
  [0x00b3, 'TLS_DHE_PSK_WITH_AES_256_CBC_SHA384'],
  [0x00b6, 'TLS_RSA_PSK_WITH_AES_128_CBC_SHA256'],
  [0x00b7, 'TLS_RSA_PSK_WITH_AES_256_CBC_SHA384'],
  [0x00ba, 'TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256'],
  [0x00be, 'TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256'],
  [0x00c0, 'TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256'],
  [0x00c4, 'TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256'],
  // RFC 8998 ShangMi (TLS 1.3), named only
  [0x00c6, 'TLS_SM4_GCM_SM3'],
  [0x00c7, 'TLS_SM4_CCM_SM3'],
  // Signalling values
  [0x00ff, 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV'],
  [0x5600, 'TLS_FALLBACK_SCSV'],
  // RFC 8446 TLS 1.3
  [0x1301, 'TLS_AES_128_GCM_SHA256'],
  [0x1302, 'TLS_AES_256_GCM_SHA384'],
  [0x1303, 'TLS_CHACHA20_POLY1305_SHA256'],
  [0x1304, 'TLS_AES_128_CCM_SHA256'],
  [0x1305, 'TLS_AES_128_CCM_8_SHA256'],
  // RFC 4492 / 8422 ECC
  [0xc001, 'TLS_ECDH_ECDSA_WITH_NULL_SHA'],
  [0xc002, 'TLS_ECDH_ECDSA_WITH_RC4_128_SHA'],
  [0xc003, 'TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA'],
  [0xc004, 'TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA'],
  [0xc005, 'TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA'],
  [0xc006, 'TLS_ECDHE_ECDSA_WITH_NULL_SHA'],
  [0xc007, 'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA'],
  [0xc008, 'TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA'],
  [0xc009, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'],
  [0xc00a, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA'],
  [0xc00b, 'TLS_ECDH_RSA_WITH_NULL_SHA'],
  [0xc00c, 'TLS_ECDH_RSA_WITH_RC4_128_SHA'],
  [0xc00d, 'TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA'],
  [0xc00e, 'TLS_ECDH_RSA_WITH_AES_128_CBC_SHA'],
  [0xc00f, 'TLS_ECDH_RSA_WITH_AES_256_CBC_SHA'],
  [0xc010, 'TLS_ECDHE_RSA_WITH_NULL_SHA'],
  [0xc011, 'TLS_ECDHE_RSA_WITH_RC4_128_SHA'],
  [0xc012, 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA'],
  [0xc013, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA'],
  [0xc014, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA'],
  [0xc015, 'TLS_ECDH_anon_WITH_NULL_SHA'],
  [0xc017, 'TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA'],
  [0xc018, 'TLS_ECDH_anon_WITH_AES_128_CBC_SHA'],
  [0xc019, 'TLS_ECDH_anon_WITH_AES_256_CBC_SHA'],
  // RFC 5054 SRP
  [0xc01a, 'TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA'],
  [0xc01b, 'TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA'],
  [0xc01d, 'TLS_SRP_SHA_WITH_AES_128_CBC_SHA'],
  [0xc01e, 'TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA'],
  [0xc01f, 'TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA'],
  [0xc020, 'TLS_SRP_SHA_WITH_AES_256_CBC_SHA'],
  [0xc021, 'TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA'],
  [0xc022, 'TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA'],
  // RFC 5289 ECC with SHA-256/384 and GCM
  [0xc023, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256'],
  [0xc024, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384'],
  [0xc025, 'TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256'],
  [0xc026, 'TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384'],
  [0xc027, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256'],
  [0xc028, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384'],
  [0xc029, 'TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256'],
  [0xc02a, 'TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384'],
  [0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  [0xc02c, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  [0xc02d, 'TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256'],
  [0xc02e, 'TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384'],
  [0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0xc030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0xc031, 'TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256'],
  [0xc032, 'TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384'],
  // RFC 5489 ECDHE-PSK
  [0xc034, 'TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA'],
  [0xc035, 'TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA'],
  [0xc036, 'TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA'],
  [0xc037, 'TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256'],
  [0xc038, 'TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384'],
  [0xc039, 'TLS_ECDHE_PSK_WITH_NULL_SHA'],
  [0xc03a, 'TLS_ECDHE_PSK_WITH_NULL_SHA256'],
  [0xc03b, 'TLS_ECDHE_PSK_WITH_NULL_SHA384'],
  // RFC 6209 ARIA
  [0xc03c, 'TLS_RSA_WITH_ARIA_128_CBC_SHA256'],
  [0xc03d, 'TLS_RSA_WITH_ARIA_256_CBC_SHA384'],
  [0xc044, 'TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256'],
  [0xc045, 'TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384'],
  [0xc048, 'TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256'],
  [0xc049, 'TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384'],
  [0xc04c, 'TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256'],
  [0xc04d, 'TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384'],
  [0xc050, 'TLS_RSA_WITH_ARIA_128_GCM_SHA256'],
  [0xc051, 'TLS_RSA_WITH_ARIA_256_GCM_SHA384'],
  [0xc052, 'TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256'],
  [0xc053, 'TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384'],
  [0xc05c, 'TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256'],
  [0xc05d, 'TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384'],
  [0xc060, 'TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256'],
  [0xc061, 'TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384'],
  [0xc06a, 'TLS_PSK_WITH_ARIA_128_GCM_SHA256'],
  [0xc06b, 'TLS_PSK_WITH_ARIA_256_GCM_SHA384'],
  [0xc06c, 'TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256'],
  [0xc06d, 'TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384'],
  [0xc06e, 'TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256'],
  [0xc06f, 'TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384'],
  // RFC 6367 Camellia
  [0xc072, 'TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256'],
  [0xc073, 'TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384'],
  [0xc076, 'TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256'],
  [0xc077, 'TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384'],
  [0xc07a, 'TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256'],
  [0xc07b, 'TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384'],
  [0xc07c, 'TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256'],
  [0xc07d, 'TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384'],
  [0xc086, 'TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256'],
  [0xc087, 'TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384'],
  [0xc08a, 'TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256'],
  [0xc08b, 'TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384'],
  // RFC 6655 / 7251 AES-CCM
  [0xc09c, 'TLS_RSA_WITH_AES_128_CCM'],
  [0xc09d, 'TLS_RSA_WITH_AES_256_CCM'],
  [0xc09e, 'TLS_DHE_RSA_WITH_AES_128_CCM'],
  [0xc09f, 'TLS_DHE_RSA_WITH_AES_256_CCM'],
  [0xc0a0, 'TLS_RSA_WITH_AES_128_CCM_8'],
  [0xc0a1, 'TLS_RSA_WITH_AES_256_CCM_8'],
  [0xc0a2, 'TLS_DHE_RSA_WITH_AES_128_CCM_8'],
  [0xc0a3, 'TLS_DHE_RSA_WITH_AES_256_CCM_8'],
  [0xc0a4, 'TLS_PSK_WITH_AES_128_CCM'],
  [0xc0a5, 'TLS_PSK_WITH_AES_256_CCM'],
  [0xc0a6, 'TLS_DHE_PSK_WITH_AES_128_CCM'],
  [0xc0a7, 'TLS_DHE_PSK_WITH_AES_256_CCM'],
  [0xc0a8, 'TLS_PSK_WITH_AES_128_CCM_8'],
  [0xc0a9, 'TLS_PSK_WITH_AES_256_CCM_8'],
  [0xc0aa, 'TLS_PSK_DHE_WITH_AES_128_CCM_8'],
  [0xc0ab, 'TLS_PSK_DHE_WITH_AES_256_CCM_8'],
  [0xc0ac, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM'],
  [0xc0ad, 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM'],
  [0xc0ae, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8'],
  [0xc0af, 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8'],
  // RFC 9150 integrity-only (TLS 1.3), named only
  [0xc0b4, 'TLS_SHA256_SHA256'],
  [0xc0b5, 'TLS_SHA384_SHA384'],
  // Pre-RFC ChaCha20 (a different nonce than RFC 7905), named only
  [0xcc13, 'OLD_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xcc14, 'OLD_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xcc15, 'OLD_TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  // RFC 7905 ChaCha20-Poly1305
  [0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xcca9, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xccaa, 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xccab, 'TLS_PSK_WITH_CHACHA20_POLY1305_SHA256'],
  [0xccac, 'TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256'],
  [0xccad, 'TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256'],
  [0xccae, 'TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256'],
  // RFC 8442 ECDHE-PSK AEAD
  [0xd001, 'TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256'],
  [0xd002, 'TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384'],
  [0xd003, 'TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256'],
  [0xd005, 'TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256'],
];

const MAC_LENGTH: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48 };
const HASH_OF: Record<string, HashName> = { SHA: 'sha1', SHA256: 'sha256', SHA384: 'sha384' };

/** Ciphers this node's OpenSSL has: a suite whose cipher is missing is named but not decryptable. */
const AVAILABLE = new Set(getCiphers());

/** The TLS 1.3 AEADs (RFC 8446 §B.4): the IV is always 12 bytes (§5.3), the nonce iv XOR seq. */
function tls13Suite(id: number, name: string): CipherSuite | undefined {
  const m = /^TLS_(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305|AES_128_CCM|AES_128_CCM_8)_(SHA256|SHA384)$/.exec(name);
  if (!m) return undefined;
  const hash = HASH_OF[m[2]] as 'sha256' | 'sha384';
  const bulk = m[1];
  const [cipher, mode, keyLength]: [CipherName, CipherSuite['mode'], number] =
    bulk === 'AES_128_GCM' ? ['aes-128-gcm', 'gcm', 16]
    : bulk === 'AES_256_GCM' ? ['aes-256-gcm', 'gcm', 32]
    : bulk === 'CHACHA20_POLY1305' ? ['chacha20-poly1305', 'chacha20-poly1305', 32]
    : ['aes-128-ccm', 'ccm', 16];
  return {
    id, name, version: '1.3', cipher, mode, hash, prfHash: hash, keyLength, ivLength: 12, macLength: 0, recordIvLength: 0,
    blockLength: 0, tagLength: bulk === 'AES_128_CCM_8' ? 8 : 16,
  };
}

/** TLS 1.2 (and 1.1: the same record format) suites, from the part of the name after _WITH_. */
function tls12Suite(id: number, name: string): CipherSuite | undefined {
  const w = name.indexOf('_WITH_');
  if (!name.startsWith('TLS_') || w < 0) return undefined;
  const bulk = name.slice(w + 6);
  const prfHash = bulk.endsWith('_SHA384') ? 'sha384' : 'sha256';
  let m: RegExpExecArray | null;
  // RFC 5288 §3, RFC 6209, RFC 6367: GCM with a 4-byte salt and an 8-byte explicit nonce.
  if ((m = /^(AES|ARIA|CAMELLIA)_(128|256)_GCM_(SHA256|SHA384)$/.exec(bulk))) {
    const bits = Number(m[2]);
    return {
      id, name, version: '1.2', cipher: `${m[1].toLowerCase()}-${bits}-gcm` as CipherName, mode: 'gcm', hash: HASH_OF[m[3]],
      prfHash, keyLength: bits / 8, ivLength: 4, macLength: 0, recordIvLength: 8, blockLength: 0, tagLength: 16,
    };
  }
  // RFC 6655 §3, RFC 7251, RFC 8442: CCM like GCM (salt + explicit nonce); _8 is the 8-byte tag. PRF SHA-256.
  if ((m = /^AES_(128|256)_CCM(_8)?(?:_SHA256)?$/.exec(bulk))) {
    const bits = Number(m[1]);
    return {
      id, name, version: '1.2', cipher: `aes-${bits}-ccm` as CipherName, mode: 'ccm', hash: 'sha256', prfHash: 'sha256',
      keyLength: bits / 8, ivLength: 4, macLength: 0, recordIvLength: 8, blockLength: 0, tagLength: m[2] ? 8 : 16,
    };
  }
  // RFC 7905 §2: a 12-byte fixed IV XORed with the sequence number; nothing in the record.
  if (bulk === 'CHACHA20_POLY1305_SHA256') {
    return {
      id, name, version: '1.2', cipher: 'chacha20-poly1305', mode: 'chacha20-poly1305', hash: 'sha256', prfHash: 'sha256',
      keyLength: 32, ivLength: 12, macLength: 0, recordIvLength: 0, blockLength: 0, tagLength: 16,
    };
  }
  // RFC 5246 §6.2.3.2: CBC with an explicit IV per record and an HMAC over the plaintext.
  if ((m = /^(AES|ARIA|CAMELLIA)_(128|256)_CBC_(SHA|SHA256|SHA384)$/.exec(bulk)) || (m = /^(3DES)_EDE_CBC_(SHA)$/.exec(bulk))) {
    const des = m[1] === '3DES';
    const bits = des ? 192 : Number(m[2]);
    const hash = HASH_OF[des ? m[2] : m[3]];
    const block = des ? 8 : 16;
    return {
      id, name, version: '1.2', cipher: (des ? 'des-ede3-cbc' : `${m[1].toLowerCase()}-${bits}-cbc`) as CipherName, mode: 'cbc',
      hash, prfHash, keyLength: bits / 8, ivLength: 0, macLength: MAC_LENGTH[hash], recordIvLength: block, blockLength: block,
      tagLength: 0,
    };
  }
  return undefined;
}

const BY_ID = new Map<number, string>(NAMES);
const SUITES = new Map<number, CipherSuite>();
for (const [id, name] of NAMES) {
  const suite = id >= 0x1301 && id <= 0x1305 ? tls13Suite(id, name) : tls12Suite(id, name);
  if (suite && AVAILABLE.has(suite.cipher)) SUITES.set(id, Object.freeze(suite));
}

/** The suite's parameters when sockstat can decrypt it; undefined for unknown ids and suites named only (RC4, NULL, ...). */
export function cipherSuite(id: number): CipherSuite | undefined {
  return SUITES.get(id);
}

/** Every suite cipherSuite() answers, in id order. */
export function decryptableSuites(): CipherSuite[] {
  return [...SUITES.values()];
}

/** The IANA name; GREASE values as `GREASE (0x1a1a)`; anything else as `0x%04x`. */
export function cipherSuiteName(id: number): string {
  const name = BY_ID.get(id);
  if (name !== undefined) return name;
  const hex = `0x${id.toString(16).padStart(4, '0')}`;
  return isGrease(id) ? `GREASE (${hex})` : hex;
}

/** RFC 8701 §2: the 16 reserved values 0x0A0A, 0x1A1A, ... 0xFAFA, for cipher suites, extensions, groups and versions alike. */
export const GREASE: readonly number[] = Object.freeze(Array.from({ length: 16 }, (_, i) => ((i << 4) | 0x0a) * 0x0101));

/** True for an RFC 8701 GREASE value: both bytes equal, each of the form 0x?A. */
export function isGrease(id: number): boolean {
  return (id & 0xffff) === id && (id & 0x0f0f) === 0x0a0a && id >> 8 === (id & 0xff);
}
