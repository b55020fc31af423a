/**
 * The NSS key log format (SSLKEYLOGFILE; draft-ietf-tls-keylogfile): one secret a line,
 * `<label> <client_random, 64 hex digits> <secret, hex>`, `#` comments, blank lines. The same
 * text is what a pcapng Decryption Secrets Block of type TLS_KEY_LOG_SECRETS_TYPE carries.
 * Nothing here throws on bad input: a line that cannot be used is reported and skipped.
 */

/** pcapng Decryption Secrets Block secrets type for TLS key logs ('TLSK'). */
export const TLS_KEY_LOG_SECRETS_TYPE = 0x544c534b;

/** The labels a TLS 1.2 or 1.3 decryption can use, with the secret lengths each may have. */
const LABELS: ReadonlyMap<string, readonly number[]> = new Map([
  // TLS 1.2 and earlier: the 48-byte master secret (RFC 5246 §8.1).
  ['CLIENT_RANDOM', [48]],
  // TLS 1.3 (RFC 8446 §7.1): secrets are Hash.length long, 32 (SHA-256) or 48 (SHA-384).
  ['CLIENT_EARLY_TRAFFIC_SECRET', [32, 48]],
  ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', [32, 48]],
  ['SERVER_HANDSHAKE_TRAFFIC_SECRET', [32, 48]],
  ['CLIENT_TRAFFIC_SECRET_0', [32, 48]],
  ['SERVER_TRAFFIC_SECRET_0', [32, 48]],
  ['EXPORTER_SECRET', [32, 48]],
  ['EARLY_EXPORTER_SECRET', [32, 48]],
]);

export type KeyLogLabel =
  | 'CLIENT_RANDOM'
  | 'CLIENT_EARLY_TRAFFIC_SECRET'
  | 'CLIENT_HANDSHAKE_TRAFFIC_SECRET'
  | 'SERVER_HANDSHAKE_TRAFFIC_SECRET'
  | 'CLIENT_TRAFFIC_SECRET_0'
  | 'SERVER_TRAFFIC_SECRET_0'
  | 'EXPORTER_SECRET'
  | 'EARLY_EXPORTER_SECRET';

export interface KeyLogEntry {
  label: KeyLogLabel;
  /** Lowercase hex of the 32-byte client random: the key the log is looked up by. */
  clientRandom: string;
  secret: Uint8Array;
  /** 1-based line number in its text. */
  line: number;
}

export interface KeyLogParse {
  /** Lines in the text, comments and blank lines included. */
  lines: number;
  entries: KeyLogEntry[];
  /**
   * Well-formed lines with a label sockstat does not use: RSA (keyed by the encrypted premaster
   * secret, not the client random), PMS_CLIENT_RANDOM, ECH and QUIC labels, anything new.
   * Counted by label.
   */
  ignored: Map<string, number>;
  malformed: Array<{ line: number; reason: string }>;
}

export interface KeyLogAddResult {
  /** Lines in the text, comments and blank lines included. */
  lines: number;
  /** Secrets stored (a secret seen before counts again: the later line replaces the earlier). */
  used: number;
  /** Lines with labels sockstat does not use (RSA, unknown), by label. */
  ignored: Map<string, number>;
  malformed: Array<{ line: number; reason: string }>;
}

const HEX = /^[0-9a-fA-F]*$/;
const LABEL = /^[A-Z][A-Z0-9_]*$/;
/** Whatever separates fields; tabs and runs of spaces are tolerated, as Wireshark does. */
const FIELDS = /[ \t]+/;

/** Parses key log text; never throws. CRLF and a UTF-8 BOM are tolerated, NULs at the end (block padding) ignored. */
export function parseKeyLog(text: string): KeyLogParse {
  const result: KeyLogParse = { lines: 0, entries: [], ignored: new Map(), malformed: [] };
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text = text.replace(/\0+$/, '');
  if (text === '') return result;
  const lines = text.split('\n');
  // A final newline ends the last line; it does not begin another.
  if (lines[lines.length - 1] === '') lines.pop();
  result.lines = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(FIELDS);
    const label = fields[0];
    if (!LABEL.test(label)) {
      result.malformed.push({ line: lineNo, reason: `not a key log line (no label)` });
      continue;
    }
    const lengths = LABELS.get(label);
    if (lengths === undefined) {
      // RSA lines and labels from elsewhere (QUIC, ECH) or later: fine to meet, of no use here.
      result.ignored.set(label, (result.ignored.get(label) ?? 0) + 1);
      continue;
    }
    if (fields.length !== 3) {
      result.malformed.push({ line: lineNo, reason: `${label}: ${fields.length - 1} fields after the label, expected 2` });
      continue;
    }
    const random = fields[1];
    const secret = fields[2];
    const bad = hexProblem(random, [32], 'client random') ?? hexProblem(secret, lengths, 'secret');
    if (bad !== undefined) {
      result.malformed.push({ line: lineNo, reason: `${label}: ${bad}` });
      continue;
    }
    result.entries.push({ label: label as KeyLogLabel, clientRandom: random.toLowerCase(), secret: Buffer.from(secret, 'hex'), line: lineNo });
  }
  return result;
}

function hexProblem(hex: string, lengths: readonly number[], what: string): string | undefined {
  if (!HEX.test(hex)) return `${what} is not hex`;
  if (hex.length % 2 !== 0) return `${what} has an odd number of hex digits (${hex.length})`;
  if (!lengths.includes(hex.length / 2)) return `${what} is ${hex.length / 2} bytes, expected ${lengths.join(' or ')}`;
  return undefined;
}

/**
 * Parses key log bytes: a file's contents, or the secrets data of a pcapng Decryption Secrets
 * Block whose secrets type is TLS_KEY_LOG_SECRETS_TYPE (the same text, perhaps with the
 * block's zero padding after it). Bytes that are not ASCII cannot be hex, so decoding them
 * one character a byte is enough; it never throws.
 */
export function parseKeyLogBytes(data: Uint8Array): KeyLogParse {
  return parseKeyLog(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1'));
}

/** Secrets gathered from any number of key logs, by client random. */
export class KeyLog {
  readonly #byRandom = new Map<string, Map<string, Uint8Array>>();
  readonly #sources: string[] = [];

  /** Adds key log text; `source` (a file name, "pcapng DSB #2") is remembered for reporting. */
  add(text: string, source: string): KeyLogAddResult {
    return this.#store(parseKeyLog(text), source);
  }

  /** Adds key log bytes (a file read as bytes, a Decryption Secrets Block's data). */
  addBytes(data: Uint8Array, source: string): KeyLogAddResult {
    return this.#store(parseKeyLogBytes(data), source);
  }

  /**
   * Adds a pcapng Decryption Secrets Block's secrets. Returns null, storing nothing, for a
   * secrets type other than TLS key log (WireGuard, ZigBee, ...).
   */
  addDecryptionSecrets(secretsType: number, data: Uint8Array, source: string): KeyLogAddResult | null {
    return secretsType === TLS_KEY_LOG_SECRETS_TYPE ? this.addBytes(data, source) : null;
  }

  #store(parsed: KeyLogParse, source: string): KeyLogAddResult {
    this.#sources.push(source);
    for (const e of parsed.entries) {
      let secrets = this.#byRandom.get(e.clientRandom);
      if (secrets === undefined) this.#byRandom.set(e.clientRandom, (secrets = new Map()));
      secrets.set(e.label, e.secret);
    }
    return { lines: parsed.lines, used: parsed.entries.length, ignored: parsed.ignored, malformed: parsed.malformed };
  }

  /** Every secret logged for the connection with this client random, by label; undefined when none. */
  secrets(clientRandom: Uint8Array): Map<string, Uint8Array> | undefined {
    return this.#byRandom.get(hexOf(clientRandom));
  }

  /** One secret, e.g. secret(clientRandom, 'SERVER_TRAFFIC_SECRET_0'). */
  secret(clientRandom: Uint8Array, label: KeyLogLabel): Uint8Array | undefined {
    return this.secrets(clientRandom)?.get(label);
  }

  /** How many connections (client randoms) have secrets. */
  get size(): number {
    return this.#byRandom.size;
  }

  /** Where the secrets came from, in the order added. */
  get sources(): readonly string[] {
    return this.#sources;
  }
}

function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
