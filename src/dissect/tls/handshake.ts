import { createHash, X509Certificate } from 'node:crypto';

// TLS handshake messages as a capture shows them without keys: the hellos (and in TLS 1.2
// the Certificate) travel in the clear. The record layer is the caller's; this module gets
// the fragments of handshake records (ContentType 22) in order, one reader per direction.

/** RFC 8446 §5.1: ContentType values, and RFC 6520's heartbeat. */
const CHANGE_CIPHER_SPEC = 20;
const HEARTBEAT = 24;
const HANDSHAKE = 22;
/** RFC 5246 §6.2.3: TLSCiphertext.length MUST NOT exceed 2^14 + 2048 (TLS 1.3 is tighter). */
const MAX_RECORD = (1 << 14) + 2048;

/** RFC 8446 §4 HandshakeType, with the TLS 1.2 ones (RFC 5246 §7.4) and later registrations. */
export const HANDSHAKE_TYPE = {
  hello_request: 0,
  client_hello: 1,
  server_hello: 2,
  hello_verify_request: 3, // DTLS, RFC 6347
  new_session_ticket: 4,
  end_of_early_data: 5,
  encrypted_extensions: 8,
  certificate: 11,
  server_key_exchange: 12,
  certificate_request: 13,
  server_hello_done: 14,
  certificate_verify: 15,
  client_key_exchange: 16,
  finished: 20,
  certificate_url: 21, // RFC 6066
  certificate_status: 22, // RFC 6066
  supplemental_data: 23, // RFC 4680
  key_update: 24,
  compressed_certificate: 25, // RFC 8879
  ekt_key: 26, // RFC 8870
  message_hash: 254,
} as const;
const KNOWN_TYPES = new Set<number>(Object.values(HANDSHAKE_TYPE));

/** RFC 8446 §4.2 ExtensionType values this module reads. */
const EXT = {
  server_name: 0,
  encrypt_then_mac: 22,
  extended_master_secret: 23,
  pre_shared_key: 41,
  early_data: 42,
  supported_versions: 43,
  key_share: 51,
  application_layer_protocol_negotiation: 16,
} as const;

/** At most this many entries of any list are kept (the rest are still checked). */
const MAX_LIST = 1024;
const DEFAULT_MAX_MESSAGE = 256 * 1024;

/** RFC 8446 §4.1.3: a HelloRetryRequest is a ServerHello whose random is SHA-256("HelloRetryRequest"). */
export const HELLO_RETRY_REQUEST_RANDOM: Uint8Array = new Uint8Array(createHash('sha256').update('HelloRetryRequest').digest());

/**
 * RFC 8446 §5.1 / RFC 5246 §6.2.1 record header probe: true = a TLS record starts here,
 * false = not TLS, undefined = need more bytes. By default the bytes are a stream's first,
 * so a handshake record must open with a ClientHello or ServerHello; with `midStream` any
 * known handshake type will do.
 */
export function probeTlsRecord(head: Uint8Array, options?: { midStream?: boolean }): boolean | undefined {
  const n = head.length;
  if (n < 1) return undefined;
  const type = head[0];
  if (type < CHANGE_CIPHER_SPEC || type > HEARTBEAT) return false;
  if (n < 2) return undefined;
  // ProtocolVersion legacy_record_version: SSL 3.0 (0x0300) to 0x0304, major always 3.
  if (head[1] !== 3) return false;
  if (n < 3) return undefined;
  if (head[2] > 4) return false;
  if (n < 5) return undefined;
  const length = (head[3] << 8) | head[4];
  if (length > MAX_RECORD) return false;
  // RFC 8446 §5.1: zero-length fragments are allowed for application data only.
  if (length === 0 && type !== 23) return false;
  if (type === CHANGE_CIPHER_SPEC) {
    // RFC 5246 §7.1: one byte of value 1 (a protected one, in renegotiation, is longer).
    if (n < 6) return undefined;
    return head[5] === 1 || length > 1;
  }
  if (type !== HANDSHAKE) return true;
  if (n < 6) return undefined;
  const msgType = head[5];
  if (options?.midStream) return KNOWN_TYPES.has(msgType);
  if (msgType !== HANDSHAKE_TYPE.client_hello && msgType !== HANDSHAKE_TYPE.server_hello) return false;
  // Checked when present, so random bytes that pass the header rarely pass these: a hello
  // body is at least 38 bytes (version, random, session id, suite, compression) and starts
  // with legacy_version 3.x. Only bytes of this record count: a hello may be split into
  // records as short as one byte (RFC 8446 §5.1).
  if (n >= 9 && length >= 4) {
    const bodyLength = (head[6] << 16) | (head[7] << 8) | head[8];
    if (bodyLength < 38) return false;
  }
  if (n >= 10 && length >= 5 && head[9] !== 3) return false;
  return true;
}

export interface ClientHello {
  legacyVersion: number;
  random: Uint8Array /* 32 */;
  sessionId: Uint8Array;
  cipherSuites: number[];
  serverName?: string;
  alpn: string[];
  supportedVersions: number[];
  keyShareGroups: number[];
  /** Extension types in order. */
  extensions: number[];
  pskOffered: boolean;
  earlyData: boolean;
  encryptThenMac: boolean;
  extendedMasterSecret: boolean;
}

export interface ServerHello {
  legacyVersion: number;
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuite: number;
  /** supported_versions' selected_version if present, else legacyVersion. */
  version: number;
  /** TLS 1.2 carries the selected protocol here (TLS 1.3 in EncryptedExtensions). */
  alpn?: string;
  /** RFC 8446 §4.1.3: the special random. */
  helloRetryRequest: boolean;
  /** key_share: the server's group (RFC 8446 §4.2.8), or the one a HelloRetryRequest asks for. */
  keyShareGroup?: number;
  extensions: number[];
  encryptThenMac: boolean;
  extendedMasterSecret: boolean;
}

/** Of the first (leaf) certificate; empty when the list is empty. */
export interface CertificateInfo {
  /** Node's X509Certificate form, RDNs joined with ', ' (commas in values come escaped). */
  subject?: string;
  issuer?: string;
  /** As node prints them: 'DNS:example.com', 'IP Address:127.0.0.1'. */
  subjectAltNames?: string[];
  /** ISO 8601 when node's validTo parses as a date, else as node gives it. */
  notAfter?: string;
}

/**
 * offset: where the message starts in this direction's handshake byte stream; length: the
 * whole message, its 4-byte header included, so the events tile the stream.
 */
export type HandshakeEvent =
  | { type: 'client-hello'; hello: ClientHello; offset: number; length: number }
  | { type: 'server-hello'; hello: ServerHello; offset: number; length: number }
  | { type: 'encrypted-extensions'; alpn?: string; offset: number; length: number }
  | { type: 'certificate'; info: CertificateInfo; offset: number; length: number }
  | { type: 'other'; handshakeType: number; offset: number; length: number }
  | { type: 'malformed'; handshakeType: number; reason: string; offset: number };

/** Thrown inside the parsers only; feed turns it into a 'malformed' event. */
class Malformed extends Error {}

/** A bounds-checked reader over one message body. */
class Cursor {
  constructor(
    private readonly b: Uint8Array,
    public pos = 0,
    public end = b.length,
  ) {}
  get left(): number {
    return this.end - this.pos;
  }
  private need(n: number, what: string): void {
    if (n > this.end - this.pos) throw new Malformed(`${what}: needs ${n} bytes, ${this.end - this.pos} left`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.pos++];
  }
  u16(what: string): number {
    this.need(2, what);
    const v = (this.b[this.pos] << 8) | this.b[this.pos + 1];
    this.pos += 2;
    return v;
  }
  u24(what: string): number {
    this.need(3, what);
    const v = (this.b[this.pos] << 16) | (this.b[this.pos + 1] << 8) | this.b[this.pos + 2];
    this.pos += 3;
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  /** RFC 8446 §3.4 vector opaque x<min..max> with a length prefix of `prefix` bytes: a sub-cursor over it. */
  vector(prefix: 1 | 2 | 3, min: number, max: number, what: string): Cursor {
    const n = prefix === 1 ? this.u8(what) : prefix === 2 ? this.u16(what) : this.u24(what);
    if (n < min || n > max) throw new Malformed(`${what}: length ${n} outside ${min}..${max}`);
    this.need(n, what);
    const sub = new Cursor(this.b, this.pos, this.pos + n);
    this.pos += n;
    return sub;
  }
  done(what: string): void {
    if (this.pos !== this.end) throw new Malformed(`${what}: ${this.end - this.pos} trailing bytes`);
  }
}

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
/**
 * A plain Uint8Array copy: the body may be a view of the caller's fragment, which it may
 * reuse (and a Buffer's slice is a view, not a copy).
 */
const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b);

function pushBounded<T>(list: T[], v: T): void {
  if (list.length < MAX_LIST) list.push(v);
}

/**
 * RFC 8446 §4.2: Extension extensions<..2^16-1>, each { ExtensionType; opaque extension_data<0..2^16-1> }.
 * "There MUST NOT be more than one extension of the same type."
 */
function readExtensions(c: Cursor, types: number[], each: (type: number, data: Cursor) => void): void {
  const list = c.vector(2, 0, 0xffff, 'extensions');
  const seen = new Set<number>();
  while (list.left > 0) {
    const type = list.u16('extension type');
    const data = list.vector(2, 0, 0xffff, `extension ${type}`);
    if (seen.has(type)) throw new Malformed(`extension ${type} appears twice`);
    seen.add(type);
    pushBounded(types, type);
    each(type, data);
  }
}

/** RFC 7301 §3.1: ProtocolNameList protocol_name_list<2..2^16-1>, ProtocolName<1..2^8-1>. */
function readAlpn(data: Cursor, into: string[]): void {
  const list = data.vector(2, 2, 0xffff, 'application_layer_protocol_negotiation');
  data.done('application_layer_protocol_negotiation');
  while (list.left > 0) {
    const name = list.vector(1, 1, 0xff, 'ProtocolName');
    pushBounded(into, latin1(name.bytes(name.left, 'ProtocolName')));
  }
}

/** RFC 6066 §3: ServerNameList server_name_list<1..2^16-1>; the first host_name (0) is the SNI. */
function readServerName(data: Cursor): string | undefined {
  const list = data.vector(2, 1, 0xffff, 'server_name');
  data.done('server_name');
  let host: string | undefined;
  while (list.left > 0) {
    const nameType = list.u8('NameType');
    const name = list.vector(2, 1, 0xffff, 'HostName');
    // Only host_name is defined; an unknown NameType's body has the same shape in practice.
    if (nameType === 0 && host === undefined) host = latin1(name.bytes(name.left, 'HostName'));
  }
  return host;
}

/** RFC 8446 §4.2.11: identities<7..2^16-1> then binders<33..2^16-1>. */
function readPreSharedKey(data: Cursor): void {
  const identities = data.vector(2, 7, 0xffff, 'pre_shared_key identities');
  while (identities.left > 0) {
    identities.vector(2, 1, 0xffff, 'PskIdentity.identity');
    identities.bytes(4, 'obfuscated_ticket_age');
  }
  const binders = data.vector(2, 33, 0xffff, 'pre_shared_key binders');
  while (binders.left > 0) binders.vector(1, 32, 255, 'PskBinderEntry');
  data.done('pre_shared_key');
}

/** RFC 8446 §4.1.2 ClientHello. */
function parseClientHello(body: Uint8Array): ClientHello {
  const c = new Cursor(body);
  const legacyVersion = c.u16('legacy_version');
  const random = copy(c.bytes(32, 'random'));
  const sid = c.vector(1, 0, 32, 'legacy_session_id');
  const sessionId = copy(sid.bytes(sid.left, 'legacy_session_id'));
  const suites = c.vector(2, 2, 0xfffe, 'cipher_suites');
  if (suites.left % 2) throw new Malformed('cipher_suites: odd length');
  const cipherSuites: number[] = [];
  while (suites.left > 0) pushBounded(cipherSuites, suites.u16('CipherSuite'));
  c.vector(1, 1, 0xff, 'legacy_compression_methods');
  const hello: ClientHello = {
    legacyVersion,
    random,
    sessionId,
    cipherSuites,
    alpn: [],
    supportedVersions: [],
    keyShareGroups: [],
    extensions: [],
    pskOffered: false,
    earlyData: false,
    encryptThenMac: false,
    extendedMasterSecret: false,
  };
  // RFC 5246 §7.4.1.2: a ClientHello may end after compression_methods (no extensions).
  if (c.left === 0) return hello;
  let last = -1;
  readExtensions(c, hello.extensions, (type, data) => {
    last = type;
    switch (type) {
      case EXT.server_name:
        hello.serverName = readServerName(data);
        break;
      case EXT.application_layer_protocol_negotiation:
        readAlpn(data, hello.alpn);
        break;
      case EXT.supported_versions: {
        // RFC 8446 §4.2.1: ProtocolVersion versions<2..254>.
        const list = data.vector(1, 2, 254, 'supported_versions');
        data.done('supported_versions');
        if (list.left % 2) throw new Malformed('supported_versions: odd length');
        while (list.left > 0) pushBounded(hello.supportedVersions, list.u16('ProtocolVersion'));
        break;
      }
      case EXT.key_share: {
        // RFC 8446 §4.2.8: KeyShareEntry client_shares<0..2^16-1>, each { NamedGroup; opaque key_exchange<1..2^16-1> }.
        const list = data.vector(2, 0, 0xffff, 'key_share');
        data.done('key_share');
        while (list.left > 0) {
          pushBounded(hello.keyShareGroups, list.u16('NamedGroup'));
          list.vector(2, 1, 0xffff, 'key_exchange');
        }
        break;
      }
      case EXT.pre_shared_key:
        readPreSharedKey(data);
        hello.pskOffered = true;
        break;
      case EXT.early_data:
        hello.earlyData = true;
        break;
      case EXT.encrypt_then_mac:
        hello.encryptThenMac = true;
        break;
      case EXT.extended_master_secret:
        hello.extendedMasterSecret = true;
        break;
    }
  });
  // RFC 8446 §4.2.11: pre_shared_key "MUST be the last extension in the ClientHello".
  if (hello.pskOffered && last !== EXT.pre_shared_key) throw new Malformed('pre_shared_key is not the last extension');
  c.done('ClientHello');
  return hello;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** RFC 8446 §4.1.3 ServerHello (and HelloRetryRequest), RFC 5246 §7.4.1.3. */
function parseServerHello(body: Uint8Array): ServerHello {
  const c = new Cursor(body);
  const legacyVersion = c.u16('legacy_version');
  const random = copy(c.bytes(32, 'random'));
  const sid = c.vector(1, 0, 32, 'legacy_session_id_echo');
  const sessionId = copy(sid.bytes(sid.left, 'legacy_session_id_echo'));
  const cipherSuite = c.u16('cipher_suite');
  c.u8('legacy_compression_method');
  const hello: ServerHello = {
    legacyVersion,
    random,
    sessionId,
    cipherSuite,
    version: legacyVersion,
    helloRetryRequest: sameBytes(random, HELLO_RETRY_REQUEST_RANDOM),
    extensions: [],
    encryptThenMac: false,
    extendedMasterSecret: false,
  };
  if (c.left === 0) return hello;
  readExtensions(c, hello.extensions, (type, data) => {
    switch (type) {
      case EXT.supported_versions:
        // RFC 8446 §4.2.1: ServerHello carries ProtocolVersion selected_version.
        hello.version = data.u16('selected_version');
        data.done('supported_versions');
        break;
      case EXT.application_layer_protocol_negotiation: {
        const names: string[] = [];
        readAlpn(data, names);
        // RFC 7301 §3.1: the server's list "MUST contain exactly one ProtocolName".
        if (names.length !== 1) throw new Malformed(`application_layer_protocol_negotiation: ${names.length} names in a ServerHello`);
        hello.alpn = names[0];
        break;
      }
      case EXT.key_share:
        // RFC 8446 §4.2.8: a HelloRetryRequest names selected_group; a ServerHello sends a KeyShareEntry.
        hello.keyShareGroup = data.u16('NamedGroup');
        if (!hello.helloRetryRequest) data.vector(2, 1, 0xffff, 'key_exchange');
        data.done('key_share');
        break;
      case EXT.encrypt_then_mac:
        hello.encryptThenMac = true;
        break;
      case EXT.extended_master_secret:
        hello.extendedMasterSecret = true;
        break;
    }
  });
  c.done('ServerHello');
  return hello;
}

/** RFC 8446 §4.3.1 EncryptedExtensions: Extension extensions<0..2^16-1>. */
function parseEncryptedExtensions(body: Uint8Array): { alpn?: string } {
  const c = new Cursor(body);
  const out: { alpn?: string } = {};
  readExtensions(c, [], (type, data) => {
    if (type !== EXT.application_layer_protocol_negotiation) return;
    const names: string[] = [];
    readAlpn(data, names);
    if (names.length !== 1) throw new Malformed(`application_layer_protocol_negotiation: ${names.length} names in EncryptedExtensions`);
    out.alpn = names[0];
  });
  c.done('EncryptedExtensions');
  return out;
}

/** Splits node's subjectAltName ('DNS:a, DNS:"b, c"') at the commas outside quotes. */
function splitAltNames(s: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quoted && ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === ',' && s[i + 1] === ' ') {
      out.push(s.slice(start, i));
      start = i + 2;
      i++;
    }
  }
  if (start < s.length) out.push(s.slice(start));
  return out.slice(0, MAX_LIST);
}

/**
 * RFC 8446 §4.4.2 (TLS 1.3: certificate_request_context, then entries with extensions) or
 * RFC 5246 §7.4.2 (TLS 1.2: ASN.1Cert certificate_list<0..2^24-1>). Only the leaf is read.
 */
function parseCertificate(body: Uint8Array, tls13: boolean): CertificateInfo {
  const c = new Cursor(body);
  if (tls13) c.vector(1, 0, 0xff, 'certificate_request_context');
  const list = c.vector(3, 0, 0xffffff, 'certificate_list');
  c.done('Certificate');
  let leaf: Uint8Array | undefined;
  while (list.left > 0) {
    const cert = list.vector(3, 1, 0xffffff, 'cert_data');
    if (tls13) list.vector(2, 0, 0xffff, 'CertificateEntry extensions');
    leaf ??= cert.bytes(cert.left, 'cert_data');
  }
  if (!leaf) return {};
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(leaf);
  } catch {
    throw new Malformed('leaf certificate: not a DER X.509 certificate node can read');
  }
  const info: CertificateInfo = {};
  // Reading a field of an odd certificate may throw too: each one on its own.
  try {
    info.subject = x509.subject.split('\n').join(', ');
  } catch {}
  try {
    info.issuer = x509.issuer.split('\n').join(', ');
  } catch {}
  try {
    const san = x509.subjectAltName;
    if (san !== undefined) info.subjectAltNames = splitAltNames(san);
  } catch {}
  try {
    const validTo = x509.validTo;
    const t = Date.parse(validTo);
    info.notAfter = Number.isFinite(t) ? new Date(t).toISOString() : validTo;
  } catch {}
  return info;
}

/**
 * Reassembles handshake messages that span records (RFC 8446 §5.1: handshake messages may
 * be fragmented across records, and several may share one) for one direction.
 */
export class HandshakeReader {
  /**
   * TLS 1.3 Certificate messages have a certificate_request_context and per-certificate
   * extensions (RFC 8446 §4.4.2); TLS 1.2 ones do not (RFC 5246 §7.4.2). The integrator sets
   * this after the ServerHello; a reader that parses a ServerHello sets it itself.
   */
  version = 0;
  /**
   * TLS 1.2 (RFC 5246 §7.1): after a ChangeCipherSpec in this direction the handshake records
   * (the Finished) are ciphertext. Set this then: feed counts those bytes and says nothing.
   * Not for TLS 1.3, whose ChangeCipherSpec is a compatibility dummy (RFC 8446 §D.4): a
   * second ClientHello or ServerHello may follow it in the clear.
   */
  encrypted = false;

  private readonly maxMessageBytes: number;
  /** Bytes fed so far: the stream offset of the next fragment's first byte. */
  private position = 0;
  private readonly header = new Uint8Array(4);
  private headerFill = 0;
  private msgType = 0;
  private msgStart = 0;
  /** Body bytes still missing, and the ones already here (copies, or views of this fragment). */
  private bodyLength = 0;
  private bodyParts: Uint8Array[] = [];
  private bodyFill = 0;
  private inBody = false;
  /** Bytes of an oversized message still to pass over. */
  private skip = 0;
  /** Framing lost (an unknown HandshakeType): nothing is read until reset(). */
  private lost = false;

  constructor(maxMessageBytes: number = DEFAULT_MAX_MESSAGE) {
    this.maxMessageBytes = maxMessageBytes;
  }

  feed(fragment: Uint8Array): HandshakeEvent[] {
    const events: HandshakeEvent[] = [];
    const base = this.position;
    this.position += fragment.length;
    if (this.lost || this.encrypted) return events;
    const n = fragment.length;
    let i = 0;
    // Each pass consumes at least one byte or completes a message: the loop ends.
    while (i < n || (this.inBody && this.bodyFill === this.bodyLength)) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i);
        this.skip -= k;
        i += k;
        continue;
      }
      if (!this.inBody) {
        if (this.headerFill === 0) this.msgStart = base + i;
        while (this.headerFill < 4 && i < n) this.header[this.headerFill++] = fragment[i++];
        if (this.headerFill < 4) break;
        this.headerFill = 0;
        // RFC 8446 §4: struct { HandshakeType msg_type; uint24 length; ... } Handshake.
        this.msgType = this.header[0];
        this.bodyLength = (this.header[1] << 16) | (this.header[2] << 8) | this.header[3];
        if (!KNOWN_TYPES.has(this.msgType)) {
          // A length behind an unknown type is no more trustworthy than the type: stop here.
          events.push({ type: 'malformed', handshakeType: this.msgType, reason: `unknown handshake type ${this.msgType}`, offset: this.msgStart });
          this.lost = true;
          return events;
        }
        if (this.bodyLength > this.maxMessageBytes) {
          events.push({
            type: 'malformed',
            handshakeType: this.msgType,
            reason: `declared length ${this.bodyLength} exceeds ${this.maxMessageBytes}`,
            offset: this.msgStart,
          });
          this.skip = this.bodyLength;
          continue;
        }
        this.inBody = true;
        this.bodyParts = [];
        this.bodyFill = 0;
        continue;
      }
      if (this.bodyFill < this.bodyLength) {
        const k = Math.min(this.bodyLength - this.bodyFill, n - i);
        const whole = this.bodyFill + k === this.bodyLength;
        // A view does while the message ends in this fragment; else the caller may reuse it.
        this.bodyParts.push(whole ? fragment.subarray(i, i + k) : copy(fragment.subarray(i, i + k)));
        this.bodyFill += k;
        i += k;
        if (!whole) break;
      }
      this.inBody = false;
      const body = this.bodyParts.length === 1 ? this.bodyParts[0] : concat(this.bodyParts, this.bodyLength);
      this.bodyParts = [];
      events.push(this.message(this.msgType, body, this.msgStart));
    }
    return events;
  }

  /** Bytes lost: drop the partial message; the next feed starts a message. */
  reset(): void {
    this.headerFill = 0;
    this.inBody = false;
    this.bodyParts = [];
    this.bodyFill = 0;
    this.skip = 0;
    this.lost = false;
  }

  private message(type: number, body: Uint8Array, offset: number): HandshakeEvent {
    const length = 4 + body.length;
    try {
      switch (type) {
        case HANDSHAKE_TYPE.client_hello:
          return { type: 'client-hello', hello: parseClientHello(body), offset, length };
        case HANDSHAKE_TYPE.server_hello: {
          const hello = parseServerHello(body);
          if (!hello.helloRetryRequest) this.version = hello.version;
          return { type: 'server-hello', hello, offset, length };
        }
        case HANDSHAKE_TYPE.encrypted_extensions:
          return { type: 'encrypted-extensions', ...parseEncryptedExtensions(body), offset, length };
        case HANDSHAKE_TYPE.certificate:
          return { type: 'certificate', info: parseCertificate(body, this.version >= 0x0304), offset, length };
        default:
          return { type: 'other', handshakeType: type, offset, length };
      }
    } catch (e) {
      // Malformed is ours; anything else would be a bug, still reported rather than thrown.
      const reason = e instanceof Malformed ? e.message : `parse error: ${String(e)}`;
      return { type: 'malformed', handshakeType: type, reason, offset };
    }
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
