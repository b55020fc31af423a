import type { Dir, StreamChunk } from '../../reassembly/types.js';
import type { ChildStream, DissectContext, Dissector, DissectorSpec, Role, LayerMessage } from '../types.js';
import { RecordDecrypter, type DecryptedRecord } from './decrypt.js';
import { HandshakeReader, probeTlsRecord, type ClientHello, type ServerHello } from './handshake.js';
import { cipherSuite, cipherSuiteName } from './suites.js';

/** RFC 5246 §6.2 / RFC 8446 §5.1 content types. */
const CHANGE_CIPHER_SPEC = 20;
const ALERT = 21;
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
/** RFC 8446 §5.2: a TLSCiphertext fragment may be 2^14 + 256 bytes; TLS 1.2 allows 2^14 + 2048 (RFC 5246 §6.2.3). */
const MAX_RECORD = (1 << 14) + 2048;
/** Handshake types (RFC 8446 §4) the layer acts on. */
const FINISHED = 20;
const KEY_UPDATE = 24;
/**
 * Without keys, application-data records that follow one another this closely, with nothing
 * from the other side between them, are taken as one message (a response head and body, a
 * message split by the sender's TLS stack): separate events are farther apart than this.
 */
const RUN_SECONDS = 0.002;

/** What the connection report says of a TLS connection (JSON `tls`). */
export interface TlsInfo {
  version: string | null;
  cipherSuite: string | null;
  sni: string | null;
  alpn: { offered: string[]; selected: string | null };
  certificate?: string;
  decrypted: boolean;
  records: { client: number; server: number };
}

interface Side {
  /** The bytes of a record not yet complete (its header included), and where it starts. */
  buf: Uint8Array;
  have: number;
  need: number;
  recordStart: number;
  firstFrame: number;
  firstTime: number;
  handshake: HandshakeReader;
  decrypter: RecordDecrypter | null;
  /** TLS 1.3: the application traffic secret's decrypter, switched to after this side's Finished. */
  appDecrypter: RecordDecrypter | null;
  /** TLS 1.2: a ChangeCipherSpec was seen; what follows is encrypted. */
  changedCipher: boolean;
  /** Bytes were lost: nothing more of this direction is framed or decrypted. */
  stopped: boolean;
  records: number;
  /** End time of the last application-data record (for runs, without keys). */
  lastAppEnd: number;
  /** TLS 1.3 without keys: this side's encrypted handshake is over (its first application record is its Finished, for the client). */
  handshakeDone: boolean;
}

function newSide(): Side {
  return {
    buf: new Uint8Array(0), have: 0, need: 5, recordStart: 0, firstFrame: 0, firstTime: 0,
    handshake: new HandshakeReader(), decrypter: null, appDecrypter: null, changedCipher: false,
    stopped: false, records: 0, lastAppEnd: -1, handshakeDone: false,
  };
}

function versionName(v: number): string {
  if (v === 0x0304) return 'TLS 1.3';
  if (v === 0x0303) return 'TLS 1.2';
  if (v === 0x0302) return 'TLS 1.1';
  if (v === 0x0301) return 'TLS 1.0';
  if (v === 0x0300) return 'SSL 3.0';
  return `0x${v.toString(16).padStart(4, '0')}`;
}

/**
 * The TLS record layer (RFC 8446 §5, RFC 5246 §6.2): frames records in each direction, reads
 * the handshake, and with a key for the session decrypts application data into a child
 * stream that the layer ALPN names (or the probes pick) reads as if it were cleartext. Zeek's
 * SSL analyzer forwarding decrypted data to a child is the model. Without a key, each
 * application-data record (or run of them) is a message of its own: an update still costs
 * what it costs, only its content is unknown.
 */
class TlsLayer implements Dissector {
  private sides: [Side, Side] = [newSide(), newSide()];
  private clientHello: ClientHello | null = null;
  private serverHello: ServerHello | null = null;
  private child: ChildStream | null = null;
  private readonly info: TlsInfo = { version: null, cipherSuite: null, sni: null, alpn: { offered: [], selected: null }, decrypted: false, records: { client: 0, server: 0 } };
  private keysTried = false;
  /** ALPN named a protocol no layer reads. */
  private noLayer = false;
  private noKeySaid = false;
  private encryptedSaid = false;
  /** The last application-data message without keys, by direction: a run continues it. */
  private lastApp: Dir | -1 = -1;
  private version = 0;

  constructor(private readonly ctx: DissectContext) {
    ctx.info('tls', this.info);
  }

  data(dir: Dir, c: StreamChunk): void {
    const s = this.sides[dir];
    if (s.stopped) return;
    const b = c.bytes;
    let i = 0;
    while (i < b.length) {
      if (s.have === 0) {
        s.recordStart = c.offset + i;
        s.firstFrame = c.frame;
        s.firstTime = c.time;
        // A whole record inside this chunk: a view, no copy.
        if (b.length - i >= 5) {
          const len = (b[i + 3] << 8) | b[i + 4];
          if (!this.headerOk(dir, s, b, i, len, c.frame)) return;
          if (b.length - i >= 5 + len) {
            this.record(dir, s, b.subarray(i, i + 5 + len), c.frame, c.time);
            i += 5 + len;
            continue;
          }
        }
      }
      // Gather the header, then the rest of the record, into the side's buffer.
      const want = s.need - s.have;
      const take = Math.min(want, b.length - i);
      if (s.buf.length < s.need) {
        const grown = new Uint8Array(s.need === 5 ? 5 + 256 : s.need);
        grown.set(s.buf.subarray(0, s.have));
        s.buf = grown;
      }
      s.buf.set(b.subarray(i, i + take), s.have);
      s.have += take;
      i += take;
      if (s.have < s.need) break;
      if (s.need === 5) {
        const len = (s.buf[3] << 8) | s.buf[4];
        if (!this.headerOk(dir, s, s.buf, 0, len, c.frame)) return;
        s.need = 5 + len;
        if (len > 0) continue;
      }
      const rec = s.buf.subarray(0, s.need);
      s.have = 0;
      s.need = 5;
      this.record(dir, s, rec, c.frame, c.time);
      // The record was handed on: its buffer may be read later (kept bytes), so it is not reused.
      s.buf = new Uint8Array(0);
    }
  }

  /** A record header that TLS allows; otherwise this direction is given up, said once. */
  private headerOk(dir: Dir, s: Side, b: Uint8Array, at: number, len: number, frame: number): boolean {
    const type = b[at];
    if (type < 20 || type > 24 || b[at + 1] !== 3) {
      this.stop(dir, s, frame, 'tls-malformed', `not a TLS record header at stream offset ${s.recordStart} (${dir === 0 ? 'client' : 'server'} side): the rest of this direction is not framed`);
      return false;
    }
    if (len > MAX_RECORD) {
      this.stop(dir, s, frame, 'tls-record-too-large', `TLS record of ${len} bytes, more than the ${MAX_RECORD} RFC 5246 §6.2.3 allows: the rest of this direction is not framed`);
      return false;
    }
    return true;
  }

  private stop(dir: Dir, s: Side, frame: number, code: 'tls-malformed' | 'tls-record-too-large' | 'tls-gap' | 'tls-decrypt-failed', message: string): void {
    s.stopped = true;
    this.ctx.warn(frame, code, message);
    this.child?.end(dir, frame);
    this.ctx.release(dir, Number.MAX_SAFE_INTEGER);
  }

  private record(dir: Dir, s: Side, rec: Uint8Array, frame: number, time: number): void {
    const type = rec[0];
    const start = s.recordStart;
    const end = start + rec.length;
    s.records++;
    if (dir === 0) this.info.records.client++;
    else this.info.records.server++;
    const fragment = rec.subarray(5);
    if (type === CHANGE_CIPHER_SPEC) {
      // TLS 1.2: from here this side's records are encrypted (RFC 5246 §7.1); in TLS 1.3 a
      // dummy for middleboxes (RFC 8446 Appendix D.4).
      if (this.version !== 0x0304) {
        s.changedCipher = true;
        s.handshake.encrypted = true;
      }
      this.own(dir, start, end, 'tls-change-cipher-spec', 'setup', 0);
      return;
    }
    const encrypted = type === APPLICATION_DATA || (this.version !== 0x0304 && s.changedCipher);
    if (!encrypted) {
      if (type === HANDSHAKE) this.handshake(dir, s, fragment, frame);
      this.own(dir, start, end, type === HANDSHAKE ? 'tls-handshake' : type === ALERT ? 'tls-alert' : 'tls-record', type === ALERT ? 'close' : 'setup', 0);
      return;
    }
    this.tryKeys(frame);
    const d = s.decrypter;
    if (d === null) {
      this.opaque(dir, s, type, start, end, time);
      return;
    }
    const plain = d.decrypt(rec.subarray(0, 5), fragment);
    if (plain === null) {
      // The first record that fails tells the key is wrong (or a record was lost unseen).
      this.own(dir, start, end, 'tls-record', 'control', 0);
      this.stop(dir, s, frame, 'tls-decrypt-failed', `TLS record ${s.records} of the ${dir === 0 ? 'client' : 'server'} does not authenticate with the logged key (wrong key, or a record lost): this direction is not decrypted further`);
      return;
    }
    this.decrypted(dir, s, plain, start, end, frame, time);
  }

  /** A decrypted record: application data to the child stream, the rest the layer's own. */
  private decrypted(dir: Dir, s: Side, r: DecryptedRecord, start: number, end: number, frame: number, time: number): void {
    if (r.contentType === APPLICATION_DATA) {
      if (this.openChild(frame)) this.child!.data(dir, r.plaintext, start + 5 + r.explicitNonce, start, end, frame, time);
      else this.opaque(dir, s, APPLICATION_DATA, start, end, time);
      return;
    }
    if (r.contentType === HANDSHAKE) {
      // Decrypted, the handshake reads as any other (TLS 1.2's Finished after ChangeCipherSpec).
      s.handshake.encrypted = false;
      const done = this.handshake(dir, s, r.plaintext, frame);
      // NewSessionTicket and KeyUpdate after the handshake are control messages, not set-up.
      this.own(dir, start, end, 'tls-handshake', s.handshakeDone && !done ? 'control' : 'setup', 0);
      return;
    }
    this.own(dir, start, end, r.contentType === ALERT ? 'tls-alert' : 'tls-record', r.contentType === ALERT ? 'close' : 'control', 0);
  }

  /** Reads handshake messages; answers whether this side's Finished was among them. */
  private handshake(dir: Dir, s: Side, fragment: Uint8Array, frame: number): boolean {
    let finished = false;
    for (const e of s.handshake.feed(fragment)) {
      switch (e.type) {
        case 'client-hello':
          this.clientHello = e.hello;
          this.info.sni = e.hello.serverName ?? null;
          this.info.alpn.offered = e.hello.alpn.slice(0, 16);
          break;
        case 'server-hello':
          if (e.hello.helloRetryRequest) break;
          this.serverHello = e.hello;
          this.version = e.hello.version;
          this.sides[0].handshake.version = e.hello.version;
          this.sides[1].handshake.version = e.hello.version;
          this.info.version = versionName(e.hello.version);
          this.info.cipherSuite = cipherSuiteName(e.hello.cipherSuite);
          if (e.hello.alpn !== undefined) this.info.alpn.selected = e.hello.alpn;
          this.keysTried = false;
          this.tryKeys(frame);
          break;
        case 'encrypted-extensions':
          if (e.alpn !== undefined) this.info.alpn.selected = e.alpn;
          break;
        case 'certificate':
          if (e.info.subject !== undefined) this.info.certificate = e.info.subject;
          break;
        case 'other':
          if (e.handshakeType === FINISHED && !s.handshakeDone) {
            finished = true;
            s.handshakeDone = true;
            // RFC 8446 §7.2: after its Finished, a side protects records with its application traffic secret.
            if (this.version === 0x0304 && s.appDecrypter !== null) s.decrypter = s.appDecrypter;
          } else if (e.handshakeType === KEY_UPDATE && this.version === 0x0304) s.decrypter?.keyUpdate();
          break;
        case 'malformed':
          this.ctx.warn(frame, 'tls-malformed', `malformed TLS handshake message (type ${e.handshakeType}): ${e.reason}`);
          break;
      }
    }
    return finished;
  }

  /** Finds the session's keys in the key log, once the ServerHello has said version and suite. */
  private tryKeys(frame: number): void {
    if (this.keysTried || this.clientHello === null || this.serverHello === null) return;
    this.keysTried = true;
    const keyLog = this.ctx.options.keyLog;
    const suite = cipherSuite(this.serverHello.cipherSuite);
    const random = this.clientHello.random;
    const hex = Buffer.from(random).toString('hex');
    const secrets = keyLog?.secrets(random);
    if (!keyLog || keyLog.size === 0) return;
    if (secrets === undefined) {
      if (!this.noKeySaid) this.ctx.warn(frame, 'tls-no-key', `no key in the key log for this TLS session (client random ${hex}): its application data is measured, not read`);
      this.noKeySaid = true;
      return;
    }
    if (suite === undefined) {
      this.ctx.warn(frame, 'tls-unsupported', `cipher suite ${cipherSuiteName(this.serverHello.cipherSuite)} is not one sockstat decrypts`);
      return;
    }
    const [c, s] = this.sides;
    if (this.version === 0x0304) {
      const chs = secrets.get('CLIENT_HANDSHAKE_TRAFFIC_SECRET');
      const shs = secrets.get('SERVER_HANDSHAKE_TRAFFIC_SECRET');
      const cts = secrets.get('CLIENT_TRAFFIC_SECRET_0');
      const sts = secrets.get('SERVER_TRAFFIC_SECRET_0');
      if (cts) c.appDecrypter = RecordDecrypter.tls13(suite, cts);
      if (sts) s.appDecrypter = RecordDecrypter.tls13(suite, sts);
      c.decrypter = chs ? RecordDecrypter.tls13(suite, chs) : null;
      s.decrypter = shs ? RecordDecrypter.tls13(suite, shs) : null;
      if (!chs || !shs || !cts || !sts) this.ctx.warn(frame, 'tls-no-key', `the key log lacks some TLS 1.3 secrets of this session (client random ${hex}): the directions without them are measured, not read`);
      return;
    }
    const master = secrets.get('CLIENT_RANDOM');
    if (!master) {
      this.ctx.warn(frame, 'tls-no-key', `no CLIENT_RANDOM master secret in the key log for this TLS 1.2 session (client random ${hex})`);
      return;
    }
    const etm = this.clientHello.encryptThenMac && this.serverHello.encryptThenMac;
    const pair = RecordDecrypter.tls12Pair(suite, master, random, this.serverHello.random, etm);
    c.decrypter = pair.client;
    s.decrypter = pair.server;
  }

  /**
   * The child stream for the plaintext, run by the layer ALPN names (RFC 7301, through the
   * hand-off table) or, without ALPN, by the one the plaintext's first bytes pick. False when
   * ALPN names a protocol no layer reads: the records are then measured as without keys.
   */
  private openChild(frame: number): boolean {
    if (this.child !== null) return true;
    if (this.noLayer) return false;
    const alpn = this.info.alpn.selected;
    let name: string | undefined;
    if (alpn !== null) {
      name = this.ctx.lookup('alpn', alpn);
      if (name === undefined) {
        this.noLayer = true;
        this.ctx.warn(frame, alpn === 'h2' ? 'h2-not-dissected' : 'tls-unsupported', `the TLS session carries ALPN ${JSON.stringify(alpn)}, which sockstat does not dissect yet: its records are measured, not read`);
        return false;
      }
    }
    this.info.decrypted = true;
    this.child = this.ctx.openChild('tls', name);
    return true;
  }

  /** An encrypted record without a key: measured, as a message of its own or the rest of a run. */
  private opaque(dir: Dir, s: Side, type: number, start: number, end: number, time: number): void {
    if (!this.encryptedSaid) {
      this.encryptedSaid = true;
      this.ctx.warn(this.ctx.frameAt(dir, start), 'tls-encrypted', 'TLS application data without a key: records are measured, not read (give the session keys with --keylog FILE or SSLKEYLOGFILE)');
    }
    const len = end - start;
    // TLS 1.3 hides the handshake in application-data records: the server's until the
    // client's Finished, which is the client's first one (RFC 8446 §2).
    if (this.version === 0x0304 && !s.handshakeDone) {
      if (dir === 0) {
        s.handshakeDone = true;
        this.sides[1].handshakeDone = true;
      }
      this.own(dir, start, end, 'tls-record', 'setup', 0);
      return;
    }
    if (this.version !== 0x0304 && type !== APPLICATION_DATA) {
      // TLS 1.2: the encrypted Finished after ChangeCipherSpec, or an encrypted alert (close_notify).
      if (type === ALERT) this.own(dir, start, end, 'tls-alert', 'close', 0);
      else this.own(dir, start, end, 'tls-handshake', 'setup', 0);
      return;
    }
    const overhead = this.recordOverhead();
    const useful = Math.max(0, len - 5 - overhead);
    // An encrypted alert (close_notify before the FIN) has two bytes of content (RFC 8446 §6):
    // with a known suite, a record of that size is taken for one, tear-down, not an update.
    if (overhead > 0 && useful === 2) {
      this.own(dir, start, end, 'tls-alert', 'close', 0);
      return;
    }
    let role: Role;
    if (this.lastApp === dir && s.lastAppEnd >= 0 && this.ctx.timeAt(dir, start) - s.lastAppEnd <= RUN_SECONDS) role = 'more';
    else role = dir === 0 ? 'request' : 'answer';
    this.lastApp = dir;
    s.lastAppEnd = time;
    this.own(dir, start, end, 'tls-record', role, useful, len - useful);
  }

  /** Bytes of a record's fragment that are not plaintext, by the suite (0 when unknown). */
  private recordOverhead(): number {
    const suite = this.serverHello ? cipherSuite(this.serverHello.cipherSuite) : undefined;
    if (!suite) return 0;
    if (suite.version === '1.3') return suite.tagLength + 1;
    if (suite.mode === 'cbc') return suite.recordIvLength + suite.macLength;
    return suite.recordIvLength + suite.tagLength;
  }

  /** A message of the TLS layer itself, over whole records [start, end) of its stream. */
  private own(dir: Dir, start: number, end: number, kind: 'tls-handshake' | 'tls-change-cipher-spec' | 'tls-alert' | 'tls-record', role: Role, useful: number, tlsFraming = end - start): void {
    const ctx = this.ctx;
    const m: LayerMessage = {
      kind,
      from: dir === 0 ? 'client' : 'server',
      frames: ctx.framesFor(dir, start, end),
      time: ctx.timeAt(dir, start),
      length: end - start,
      wire: { dir, start, end, role, useful, below: { tls: tlsFraming } },
    };
    ctx.emit(m);
    if (this.child === null) ctx.release(dir, end);
  }

  gap(dir: Dir, offset: number, length: number, frame: number): void {
    const s = this.sides[dir];
    if (s.stopped) return;
    // Record boundaries and sequence numbers are lost with the bytes: this direction stops.
    this.stop(dir, s, frame, 'tls-gap', `${length} bytes of TLS lost at stream offset ${offset} (${dir === 0 ? 'client' : 'server'} side): the rest of this direction is not framed or decrypted`);
  }

  end(dir: Dir, frame: number): void {
    const s = this.sides[dir];
    if (!s.stopped && s.have > 0) this.ctx.warn(frame, 'tls-cut', `the connection ended inside a TLS record (${s.have} of ${s.need} bytes)`);
    this.child?.end(dir, frame);
    this.ctx.info('tls', this.info);
  }
}

export const tlsSpec: DissectorSpec = {
  name: 'tls',
  protocol: 'tls',
  probe: (_dir, head) => probeTlsRecord(head),
  create: (ctx) => new TlsLayer(ctx),
};
