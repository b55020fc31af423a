import type { Readable } from 'node:stream';
import { readCapture, readStream } from './capture/open.js';
import { CaptureError, linkTypeName, type CaptureInfo, type CaptureResult, type Packet } from './capture/types.js';
import { PacketDecoder } from './decode/packet.js';
import { ConnectionDissector, type MessageSink } from './dissect/connection.js';
import { DISSECTORS, FALLBACK } from './dissect/registry.js';
import { DEFAULT_DISSECT_OPTIONS, type DissectOptions, type Message } from './dissect/types.js';
import { ANOMALIES, type AnomalyCode } from './anomalies.js';
import { KeyLog } from './dissect/tls/keylog.js';
import { LIMITS, MemoryBudget } from './limits.js';
import { Reassembler } from './reassembly/tcp.js';
import type { Connection, Dir, ReassemblyStats, SegmentInfo, StreamChunk, StreamConsumer } from './reassembly/types.js';
import { addPacket, emptyFigures, type Figures } from './analysis/figures.js';
import { UpdateTracker, type Latency, type SetupNote, type Update } from './analysis/updates.js';
import { ByteLedger, type ByteAccounting } from './analysis/accounting.js';
import { ConnectionTraffic } from './analysis/connections.js';
import { CadenceTotals, PushStream, type CaptureCadence } from './analysis/cadence.js';

/** Connections listed in the report when messages are not collected (the summary shows a few). */
const MAX_LISTED_CONNECTIONS = 1000;

export interface Warning {
  /** The frame it concerns, or null for the file as a whole. */
  frame: number | null;
  /** What happened, as src/anomalies.ts names it. */
  code: AnomalyCode;
  message: string;
}

export interface ConnectionReport {
  id: number;
  client: string;
  server: string;
  protocol: string;
  firstFrame: number;
  rolesGuessed: boolean;
  /** Collected only when AnalyzeOptions.collectMessages is set. */
  messages: Message[];
  messageCount: number;
  closed: boolean;
  /** What its layers found out about it, by layer (tls: version, cipher suite, names). */
  layers?: Record<string, unknown>;
  /** Its packets and bytes each way, start, duration, updates and own steady state (--connections; analysis/connections.ts). */
  traffic: ConnectionTraffic;
  /** Its server-to-client pushes, for their cadence (analysis/cadence.ts): made at its first HTTP or WebSocket message; null before, or when updates are not counted. */
  push: PushStream | null;
}

export interface CaptureReport {
  file: string;
  format: CaptureInfo['format'] | null;
  linkTypes: string[];
  packets: number;
  /** Epoch seconds of the first packet, and seconds from the first to the last. */
  startTime: number | null;
  duration: number;
  overall: Figures;
  /** Link + network header bytes (and padding) over all TCP packets, plus whole non-TCP frames. */
  linkNetBytes: number;
  /** Where the bytes of the TCP packets went, per direction, by layer and role (analysis/accounting.ts). */
  bytes: ByteAccounting;
  /** Packets that carry no TCP sockstat can use, by kind. */
  otherPackets: Record<string, number>;
  /** Every connection with collectMessages; otherwise the first MAX_LISTED_CONNECTIONS. */
  connections: ConnectionReport[];
  connectionCount: number;
  /** Connections by what they carried: tcp, http, sse, websocket. */
  protocols: Record<string, number>;
  reassembly: ReassemblyStats;
  /** Every update with keepUpdates; otherwise empty (onUpdate receives them as they settle). */
  updates: Update[];
  updateCount: number;
  steady: Update | null;
  /** The steady state of each technique's updates (by what their connection carried): a mixed capture has one for each. */
  steadyByProtocol: Array<{ protocol: string; updateCount: number; steady: Update | null }>;
  /** What the set-up holds beyond handshakes, and why (the page load, what the page fetched, subscriptions). */
  setupNotes: Array<SetupNote & { connection: number }>;
  /** Medians over the updates. */
  latency: Latency;
  /** Every pushed stream (SSE, server-pushed WebSocket messages) together; null (or absent) when there was none. */
  cadence?: CaptureCadence | null;
  setup: Figures;
  teardown: Figures;
  /** Packets for an update that had already been reported (a retransmission, a very late ACK). */
  late: Figures;
  warnings: Warning[];
  warningCount: number;
  comments: string[];
  /** Where TLS keys came from, when any were given or found (key log files, the capture's own DSBs). */
  tlsKeys?: { sources: string[]; secretsInCapture: number };
  /** Why reading stopped early (a cut-off or corrupt file); what was read is still reported. */
  error: string | null;
}

export interface AnalyzeOptions {
  dissect?: Partial<DissectOptions>;
  /** Keep every message on its connection (for --json and --payloads). */
  collectMessages?: boolean;
  /**
   * Work out each connection's own steady state (--connections, --json): its update shapes are
   * counted for the connections the report lists and, with onConnectionDone, for every one.
   * Default true; off, ConnectionTraffic.steady() is null (the other per-connection figures are
   * counted anyway).
   */
  connectionSteady?: boolean;
  /** Keep every update in the report; by default only counts and the steady state are kept. */
  keepUpdates?: boolean;
  /** Called for each update as it settles (for streaming JSON). */
  onUpdate?: (u: Update) => void;
  /** Called for each message as it is found (for --ndjson). */
  onMessage?: (conn: ConnectionReport, m: Message) => void;
  /**
   * Called where a connection's stream loses bytes, is cut off inside a message, or has a copy
   * of bytes that differ from the first: a note in words, at that point among its messages
   * (for --payloads).
   */
  onStreamNote?: (conn: ConnectionReport, dir: Dir, frame: number, note: string) => void;
  /** Called for every warning as it is said, listed in the report or not (for --ndjson). */
  onWarning?: (frame: number | null, code: AnomalyCode, message: string) => void;
  /**
   * Called when a connection has ended, and whenever it has collected maxHeldMessages
   * messages: the receiver prints them and may empty conn.messages (for --payloads).
   */
  onMessages?: (conn: ConnectionReport, final: boolean) => void;
  /**
   * Called when a connection will not be seen again (after its end, and the packets that
   * follow it: the ACK of its last FIN): its traffic figures and cadence are final.
   */
  onConnectionDone?: (conn: ConnectionReport) => void;
  maxHeldMessages?: number;
  /** Most warnings kept in the report; the rest are only counted. */
  maxWarnings?: number;
  /**
   * Count updates (default true). Off when nothing printed needs them (--payloads alone): the
   * report's updates, steady state, latency and setup figures are then empty.
   */
  updates?: boolean;
  /** Awaited between chunks of input: resolves when the output can take more. */
  drain?: () => Promise<void> | undefined;
  /** The memory budget of this capture's analysis, in bytes (LIMITS.memoryBudget by default). */
  maxMemory?: number;
}

/** Reads one capture and runs every stage over it. Rejects only with CaptureError. */
export function analyzeFile(path: string, options: AnalyzeOptions = {}): Promise<CaptureReport> {
  return run(path, options, (a) => readCapture(path, a));
}

/** Like analyzeFile, for a capture that is already a stream (standard input, a test's buffer). */
export function analyzeStream(name: string, source: Readable, options: AnalyzeOptions = {}): Promise<CaptureReport> {
  return run(name, options, (a) => readStream(source, a));
}

async function run(name: string, options: AnalyzeOptions, read: (a: Analysis) => Promise<CaptureResult>): Promise<CaptureReport> {
  const a = new Analysis(name, options);
  let result;
  try {
    result = await read(a);
  } catch (e) {
    if (e instanceof CaptureError) throw e;
    throw new CaptureError((e as Error).message);
  }
  return a.finish(result.info, result.error);
}

/** Warnings that a stream ended inside a message: --payloads says them where they happen. */
const CUT_CODES: ReadonlySet<AnomalyCode> = new Set<AnomalyCode>(['http-cut', 'sse-cut', 'ws-cut', 'tls-cut', 'h2-cut']);

/**
 * A connection's dissector, made when its first byte (or gap) comes: most connections of a
 * SYN flood, and of a capture that starts or ends mid-handshake, never carry one, and a
 * dissector with its frame maps and context is over a kilobyte each. An end with nothing
 * before it has nothing to end.
 */
class LazyDissector implements StreamConsumer {
  private d: ConnectionDissector | null = null;
  constructor(
    private readonly make: () => ConnectionDissector,
    private readonly ledger: ByteLedger,
    private readonly id: number,
    private readonly clock: { time: number },
    private readonly note: ((dir: Dir, frame: number, note: string) => void) | null = null,
  ) {}
  differs(dir: Dir, frame: number, bytes: number, firstFrame: number): void {
    this.note?.(dir, frame, `retransmitted with different bytes: ${bytes} byte${bytes === 1 ? '' : 's'} of frame ${frame} differ from the first copy${firstFrame > 0 ? ` (frame ${firstFrame})` : ''}, which is the one shown`);
  }
  data(dir: Dir, chunk: StreamChunk): void {
    // Counted here, as the reassembler hands them on: the ledger's count of delivered bytes
    // owes nothing to what the layers make of them.
    this.ledger.delivered(this.id, dir, chunk.offset, chunk.bytes.length);
    // The messages these bytes complete were completed by this chunk's packet (their cadence's time).
    this.clock.time = chunk.time;
    (this.d ??= this.make()).data(dir, chunk);
  }
  gap(dir: Dir, offset: number, length: number, frame: number): void {
    this.ledger.gap(this.id, dir, offset, length);
    this.note?.(dir, frame, `gap: ${length} byte${length === 1 ? '' : 's'} of ${dir === 0 ? 'client' : 'server'} data missing before frame ${frame}`);
    (this.d ??= this.make()).gap(dir, offset, length, frame);
  }
  end(dir: Dir, reason: 'fin' | 'rst' | 'eof', frame: number): void {
    this.d?.end(dir, reason, frame);
  }
}

class Analysis {
  private readonly overall = emptyFigures();
  private linkNetBytes = 0;
  private readonly other: Record<string, number> = {};
  private readonly warnings: Warning[] = [];
  private warningCount = 0;
  private readonly maxWarnings: number;
  private readonly conns = new Map<number, ConnectionReport>();
  /** Connections kept for the report, in order of first packet. */
  private readonly listed: ConnectionReport[] = [];
  /** Listed connections not yet over: those whose pushed streams keep their intervals (the others count in the capture's totals only). */
  private readonly detailed = new Set<ConnectionReport>();
  private readonly protocols: Record<string, number> = {};
  private connectionCount = 0;
  private readonly tracker: UpdateTracker;
  private readonly ledger: ByteLedger;
  private readonly track: boolean;
  private readonly decoder = new PacketDecoder();
  private readonly reassembler: Reassembler;
  private readonly dissectOptions: DissectOptions;
  private t0Sec = -1;
  private t0Nsec = 0;
  private lastTime = 0;
  private lastFrame = 0;
  private packets = 0;
  private problemsByKind = new Map<string, number>();
  private listedByCode = new Map<AnomalyCode, number>();
  /** Secrets found in the capture itself (pcapng DSBs). */
  private embeddedSecrets = 0;
  /** The time of the packet whose bytes are being dissected: what a message emitted now was completed by. */
  private readonly clock = { time: 0 };
  /** Every pushed stream's cadence together. */
  private readonly cadence = new CadenceTotals();
  /** The connection of the last packet counted, and its report: a packet's connection is usually the one before's. */
  private lastSegConn: Connection | null = null;
  private lastSegReport: ConnectionReport | undefined = undefined;

  constructor(private readonly file: string, private readonly options: AnalyzeOptions) {
    this.maxWarnings = options.maxWarnings ?? 1000;
    this.dissectOptions = { ...DEFAULT_DISSECT_OPTIONS, ...options.dissect };
    this.tracker = new UpdateTracker(options.keepUpdates ?? false, options.onUpdate);
    this.track = options.updates ?? true;
    this.tracker.onSplitMismatch = (frame, text) => this.warning(frame || null, 'update-split-unfitted', text);
    this.tracker.onHandOver = (g) => {
      const c = this.conns.get(g.connId);
      if (!c) return;
      c.traffic.update(g);
      c.push?.update(g);
    };
    this.ledger = new ByteLedger((connection, dir, what) =>
      this.warning(this.lastFrame || null, 'accounting-mismatch', `connection ${connection}, ${dir === 0 ? 'client to server' : 'server to client'}: ${what}`));
    const self = this;
    this.reassembler = new Reassembler({
      connection(conn: Connection) {
        // Streamed connections (onMessages) are written as they end: the report keeps only a few.
        const listed = (options.collectMessages && !options.onMessages) || self.listed.length < MAX_LISTED_CONNECTIONS;
        const steady = (options.connectionSteady ?? true) && (listed || options.onConnectionDone !== undefined);
        const report: ConnectionReport = {
          id: conn.id, client: conn.client, server: conn.server, protocol: 'tcp',
          firstFrame: conn.firstFrame, rolesGuessed: conn.rolesGuessed, messages: [], messageCount: 0, closed: false,
          traffic: new ConnectionTraffic(conn.firstTime, steady), push: null,
        };
        self.conns.set(conn.id, report);
        self.connectionCount++;
        if (listed) {
          self.listed.push(report);
          self.detailed.add(report);
        }
        const onNote = options.onStreamNote;
        const note = onNote ? (dir: Dir, frame: number, text: string) => onNote(report, dir, frame, text) : null;
        // A sink per connection that knows its report: no lookup by id per message.
        const sink: MessageSink = {
          message: (c, m) => self.message(report, c, m),
          warning: (frame, code, message) => {
            self.warning(frame, code, message);
            if (note && CUT_CODES.has(code)) note(1, frame, `cut: ${message}`);
          },
          info: (_c, key, value) => {
            (report.layers ??= {})[key] = value;
          },
          protocol: (c, p) => self.protocol(report, c, p),
        };
        return new LazyDissector(() => new ConnectionDissector(conn, DISSECTORS, FALLBACK, sink, self.dissectOptions), self.ledger, conn.id, self.clock, note);
      },
      closed(conn: Connection) {
        if (self.track) self.tracker.closed(conn);
        const c = self.conns.get(conn.id);
        if (c && !c.closed) {
          c.closed = true;
          self.options.onMessages?.(c, true);
        }
      },
      forget(conn: Connection) {
        if (self.track) self.tracker.forget(conn);
        self.ledger.forget(conn.id);
        const c = self.conns.get(conn.id);
        if (self.lastSegConn === conn) self.lastSegConn = null;
        if (c) {
          // Its figures are final: worked out once, and what only they needed let go.
          c.traffic.freeze();
          c.push?.freeze();
          self.detailed.delete(c);
          self.options.onConnectionDone?.(c);
          self.protocols[c.protocol] = (self.protocols[c.protocol] ?? 0) + 1;
          self.conns.delete(conn.id);
        }
      },
      segment(info: SegmentInfo) {
        self.ledger.segment(info);
        if (self.track) self.tracker.segment(info);
        if (info.conn !== self.lastSegConn) {
          self.lastSegConn = info.conn;
          self.lastSegReport = self.conns.get(info.conn.id);
        }
        self.lastSegReport?.traffic.packet(info.dir, info.time, info.frameBytes, info.appBytes);
      },
      warning(frame: number, code: AnomalyCode, message: string) {
        self.warning(frame, code, message);
      },
    }, {}, new MemoryBudget(options.maxMemory ?? LIMITS.memoryBudget));
  }

  packet(p: Packet): void {
    this.packets++;
    this.lastFrame = p.frame;
    if (this.t0Sec < 0) {
      this.t0Sec = p.tsSec;
      this.t0Nsec = p.tsNsec;
    }
    // Rounded to the nanosecond so sums of seconds and fractions print without float noise.
    const time = Math.round((p.tsSec - this.t0Sec) * 1e9 + (p.tsNsec - this.t0Nsec)) / 1e9;
    if (time > this.lastTime) this.lastTime = time;
    // Messages completed by a gap or an end (not by bytes) are this packet's.
    this.clock.time = time;
    const d = this.decoder.decode(p);
    if (d.kind === 'other') {
      addPacket(this.overall, p.originalLength, 0, 0);
      this.linkNetBytes += p.originalLength;
      this.other[d.what] = (this.other[d.what] ?? 0) + 1;
      if (d.problem) {
        // One warning per kind of problem and frame would drown the report; the first few say enough.
        const seen = this.problemsByKind.get(d.what) ?? 0;
        this.problemsByKind.set(d.what, seen + 1);
        if (seen < 5) this.warning(p.frame, 'packet-malformed', d.problem);
        else this.warningCount++;
      }
      return;
    }
    addPacket(this.overall, p.originalLength, d.tcp.headerLength, d.payloadLength);
    this.linkNetBytes += d.linkNetBytes;
    if (d.payload.length < d.payloadLength || d.ip.truncated) {
      const seen = this.problemsByKind.get('snap') ?? 0;
      this.problemsByKind.set('snap', seen + 1);
      if (seen < 5) this.warning(p.frame, 'packet-cut', `packet cut by the snap length: ${d.payload.length} of ${d.payloadLength} payload bytes captured`);
      else this.warningCount++;
    }
    this.reassembler.segment(d, p.frame, time, p.originalLength);
  }

  drain(): Promise<void> | undefined {
    return this.options.drain?.();
  }

  /** Keys inside the capture (a pcapng DSB): added to the key log, for the sessions after them. */
  secrets(secretsType: number, data: Uint8Array): void {
    const keyLog = (this.dissectOptions.keyLog ??= new KeyLog());
    const r = keyLog.addDecryptionSecrets(secretsType, data, `${this.file} (decryption secrets block)`);
    if (r === null) return;
    this.embeddedSecrets += r.used;
    for (const m of r.malformed.slice(0, 5)) this.warning(this.lastFrame || null, 'keylog-malformed', `decryption secrets block, line ${m.line}: ${m.reason}`);
  }

  warning(frame: number | null, code: AnomalyCode, message: string): void {
    this.warningCount++;
    this.options.onWarning?.(frame, code, message);
    // Each code lists its first ANOMALIES[code].listed: a flood of one kind cannot hide the others.
    const n = (this.listedByCode.get(code) ?? 0) + 1;
    this.listedByCode.set(code, n);
    if (n <= ANOMALIES[code].listed && this.warnings.length < this.maxWarnings) this.warnings.push({ frame, code, message });
  }

  private message(c: ConnectionReport, conn: Connection, m: Message): void {
    const lost = this.ledger.message(conn.id, m);
    if (this.track) {
      this.tracker.message(conn, m, lost);
      const k = m.kind;
      if (c.push !== null || k === 'http-request' || k === 'http-response' || k === 'sse-event' || k === 'ws-message') {
        (c.push ??= new PushStream(this.detailed.has(c) || this.options.onConnectionDone !== undefined, this.cadence.budget, this.cadence)).message(m, this.clock.time);
      }
    }
    c.messageCount++;
    if (this.options.collectMessages) {
      c.messages.push(m);
      if (this.options.onMessages && c.messages.length >= (this.options.maxHeldMessages ?? Infinity)) this.options.onMessages(c, false);
    }
    this.options.onMessage?.(c, m);
  }

  private protocol(c: ConnectionReport, conn: Connection, protocol: string): void {
    // http may become sse or websocket, never the reverse.
    // Over TLS, what runs inside names the connection; plain bytes inside leave it tls.
    if (c.protocol === 'tls' && protocol === 'tcp') return;
    if (c.protocol === 'tcp' || c.protocol === 'tls' || protocol !== 'http') c.protocol = protocol;
    if (this.track) this.tracker.setProtocol(conn, protocol);
  }

  finish(info: CaptureInfo, error: string | null): CaptureReport {
    this.reassembler.finish(this.lastFrame);
    const updates = this.tracker.finish();
    const bytes = this.ledger.finish();
    const { setup, teardown, late } = this.tracker.setupFigures();
    for (const c of this.conns.values()) this.protocols[c.protocol] = (this.protocols[c.protocol] ?? 0) + 1;
    return {
      file: this.file,
      format: info.format,
      linkTypes: [...new Set(info.linkTypes)].map(linkTypeName),
      packets: this.packets,
      startTime: this.t0Sec < 0 ? null : this.t0Sec + this.t0Nsec / 1e9,
      duration: Math.round(this.lastTime * 1e6) / 1e6,
      overall: this.overall,
      linkNetBytes: this.linkNetBytes,
      bytes,
      otherPackets: this.other,
      connections: this.listed,
      connectionCount: this.connectionCount,
      protocols: this.protocols,
      reassembly: this.reassembler.stats,
      updates,
      updateCount: this.tracker.updateCount,
      steady: this.tracker.steadyState(),
      steadyByProtocol: this.tracker.steadyByProtocol(),
      setupNotes: this.tracker.setupNotes,
      latency: this.tracker.medianLatency(),
      cadence: this.cadence.figures(),
      setup,
      teardown,
      late,
      warnings: this.warnings,
      warningCount: this.warningCount,
      comments: info.comments,
      error,
      ...(this.dissectOptions.keyLog ? { tlsKeys: { sources: [...this.dissectOptions.keyLog.sources], secretsInCapture: this.embeddedSecrets } } : {}),
    };
  }
}
