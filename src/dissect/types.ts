import type { AnomalyCode } from '../anomalies.js';
import type { KeyLog } from './tls/keylog.js';
import type { Connection, Dir, StreamChunk } from '../reassembly/types.js';

/**
 * What a message does in the exchange, for grouping messages into updates (analysis/):
 * request: the client asks for new data; answer: the server's reply to a request;
 * push: data the server sends unasked; prelude: set-up that travels with the next update
 * (the headers of an event stream); setup: connection set-up (a page load, a handshake);
 * control: keep-alives and the like; close: tear-down; none: counted through another message.
 */
/**
 * What a message is to the update rule (src/analysis/updates.ts). 'unpaired' is an answer to
 * a request that was never a message (lost in a gap): an update of its own, answering none
 * of the requests that wait. 'more' continues the message before it in its direction (the
 * next TLS record of a run sent at once): it goes where that one went.
 */
export type Role = 'request' | 'answer' | 'push' | 'unpaired' | 'prelude' | 'setup' | 'control' | 'close' | 'more' | 'none';

/** Where a message lies on the wire; not part of the JSON output. */
export interface Wire {
  dir: Dir;
  /** Half-open range of stream offsets, framing included. */
  start: number;
  end: number;
  /**
   * What the message is to the update rule, said only by layers of opaque bytes (plain TCP
   * bursts, TLS records not read, HTTP/2 control frames); analysis/roles.ts decides it for
   * HTTP messages, SSE events and WebSocket frames and messages, from what they are.
   */
  role?: Role;
  /** Bytes of useful payload (the body, the event data, the frame payload); the rest is framing. */
  useful: number;
  /** The wire bytes, when the caller asked to keep them (for --payloads); capped. */
  raw?: Uint8Array;
  /** When raw holds only the beginning (a WebSocket frame's 64 bytes): how many bytes were captured in all. */
  rawLength?: number;
  /** Unmasked/decoded payload bytes for display, when kept. */
  payload?: Uint8Array;
  /**
   * Bytes that are not text, whose hex the message carries as its `hex` field: made by the
   * report that writes the message out (messageHex), not by the dissector, since most
   * outputs never show it (--payloads prints a frame's first bytes only).
   */
  hexOf?: Uint8Array;
  /** The message's text holds nothing a terminal line must escape (found while decoding it). */
  plainText?: boolean;
  /** A WebSocket message: how many data frames carried it (a one-frame message is shown through its frame). */
  fragments?: number;
  /**
   * The ranges that carried the message when it is not one range (HTTP/2 frames of one stream
   * among others'), [s0, e0, s1, e1, ...], as the layer emits it in its own offsets; once
   * emitted from a child stream, root TCP ranges. `below`: the framing bytes each layer under
   * it wrapped around it, by layer ({tls: 29}).
   */
  extents?: number[];
  below?: Record<string, number>;
}

export type HeaderList = Array<[string, string]>;

interface MessageBase {
  from: 'client' | 'server';
  frames: number[];
  /** Seconds since the capture's first packet, of the packet carrying the first byte. */
  time: number;
  wire: Wire;
}

export interface HttpRequest extends MessageBase {
  kind: 'http-request';
  method: string;
  target: string;
  version: string;
  headers: HeaderList;
  bodyLength: number;
  body?: string;
  bodyHex?: string;
  bodyTruncated?: boolean;
}

export interface HttpResponse extends MessageBase {
  kind: 'http-response';
  status: number;
  reason: string;
  version: string;
  headers: HeaderList;
  /** null for an event stream, whose body is reported as sse-event messages. */
  bodyLength: number | null;
  /** It answers a request lost in a gap: an exchange of its own, answering none that wait. */
  requestLost?: boolean;
  body?: string;
  bodyHex?: string;
  bodyTruncated?: boolean;
}

export interface SseEvent extends MessageBase {
  kind: 'sse-event';
  event: string;
  data: string;
  id?: string;
  retry?: number;
}

export interface SseComment extends MessageBase {
  kind: 'sse-comment';
  text: string;
}

/**
 * A block of fields without data (`retry: 3000` alone, an `id:` that moves the last event ID):
 * the EventSource dispatches no event for it, yet takes its retry and id (WHATWG HTML §9.2.6).
 */
export interface SseFields extends MessageBase {
  kind: 'sse-fields';
  event?: string;
  id?: string;
  retry?: number;
}

export interface WsFrame extends MessageBase {
  kind: 'ws-frame';
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  maskKey?: string;
  payloadLength: number;
  text?: string;
  hex?: string;
  closeCode?: number;
  closeReason?: string;
}

export interface WsMessage extends MessageBase {
  kind: 'ws-message';
  opcode: number;
  text?: string;
  hex?: string;
  compressed: boolean;
  length: number;
}

export interface DataMessage extends MessageBase {
  kind: 'data';
  length: number;
  text?: string;
  hex?: string;
}

/**
 * A message of a layer itself, all framing: the TLS layer's handshake, ChangeCipherSpec and
 * alert records, and application-data records that could not be read (no key); HTTP/2's
 * control frames and connection preface. `length`: their bytes, headers included.
 */
export interface LayerMessage extends MessageBase {
  kind: 'tls-handshake' | 'tls-change-cipher-spec' | 'tls-alert' | 'tls-record' | 'h2-control';
  length: number;
}

export type Message = HttpRequest | HttpResponse | SseEvent | SseComment | SseFields | WsFrame | WsMessage | DataMessage | LayerMessage;

export interface DissectOptions {
  /** Keep wire and payload bytes on messages (for --payloads and bodies in JSON). */
  keepBytes: boolean;
  /**
   * Describe messages fully: the frames and time of each, mask keys as hex. Off when only
   * figures are wanted (--stats): then messages carry no frames and time 0.
   */
  trace: boolean;
  /** Cap on bytes kept per message for display. */
  maxKeptBytes: number;
  /** Cap on the size a compressed body or message may inflate to. */
  maxInflatedBytes: number;
  /** TLS session secrets (--keylog, SSLKEYLOGFILE, pcapng Decryption Secrets Blocks). */
  keyLog?: KeyLog;
}

export const DEFAULT_DISSECT_OPTIONS: DissectOptions = {
  keepBytes: false,
  trace: true,
  maxKeptBytes: 64 * 1024,
  maxInflatedBytes: 16 * 1024 * 1024,
};

/** What a dissector may ask of the connection it works on. */
export interface DissectContext {
  readonly conn: Connection;
  readonly options: DissectOptions;
  emit(m: Message): void;
  warn(frame: number, code: AnomalyCode, message: string): void;
  /** Frame numbers of the packets that carried stream bytes [start, end) of a direction. */
  framesFor(dir: Dir, start: number, end: number): number[];
  /** Time of the packet that carried the byte at `offset`. */
  timeAt(dir: Dir, offset: number): number;
  /** Frame of the packet that carried the byte at `offset`. */
  frameAt(dir: Dir, offset: number): number;
  /** Lets the bytes before `offset` be forgotten: no message will ask for them again. */
  release(dir: Dir, offset: number): void;
  /** Hands the rest of this stream to another registered layer, by name. */
  handoff(name: string, params: unknown): Dissector;
  /**
   * Hands the rest of this stream to the layer a hand-off table names for `key` (an Upgrade
   * token, an ALPN id), or answers null when no layer is registered for it.
   */
  handoffBy(table: HandoffTable, key: string, params: unknown): Dissector | null;
  /** The layer a hand-off table names for `key`, without starting it (for a child stream). */
  lookup(table: HandoffTable, key: string): string | undefined;
  /**
   * Opens a child stream of this one (TLS plaintext, an HTTP message body): its bytes are
   * numbered from 0 and mapped onto this stream's, and it runs a layer of its own, the one
   * named or, without a name, the one its first bytes' probes pick. `layer` names this layer
   * in the byte accounting (the framing it wraps around the child's bytes). A layer named by
   * the content-type table reads a body that lies in this stream as it is (between chunk
   * lines, inside DATA frames): its messages are shown in this stream's offsets and bytes.
   */
  openChild(layer: string, name?: string, params?: unknown): ChildStream;
  /** A fact about the connection for the report (the TLS layer's version, suite, names). */
  info(key: string, value: unknown): void;
  /** Names what the connection turned out to carry (an HTTP connection that streams events is "sse"). */
  setProtocol(protocol: string): void;
}

/**
 * Hand-off tables: Upgrade tokens (RFC 9110 §7.8, lower case), ALPN protocol ids (RFC 7301),
 * and media types of message bodies (RFC 9110 §8.3.1: type/subtype in lower case, parameters
 * stripped) whose consumer layer reads the body as a child stream.
 */
export type HandoffTable = 'upgrade' | 'alpn' | 'content-type';

/** A child stream, as the layer that opened it feeds it. */
export interface ChildStream {
  /**
   * The next child bytes of a direction, found at `parentStart` in the parent stream, inside
   * the unit [unitStart, unitEnd) of the parent (the TLS record) whose framing they share.
   * Empty bytes still map the unit (a record that carried no child bytes).
   */
  data(dir: Dir, bytes: Uint8Array, parentStart: number, unitStart: number, unitEnd: number, frame: number, time: number): void;
  /** `length` child bytes were lost. */
  gap(dir: Dir, length: number, frame: number): void;
  end(dir: Dir, frame: number): void;
}

/** A protocol parser for one stream, fed both directions' ordered bytes. */
export interface Dissector {
  data(dir: Dir, chunk: StreamChunk): void;
  gap(dir: Dir, offset: number, length: number, frame: number): void;
  end(dir: Dir, frame: number): void;
}

/** A registered dissector: how to recognise its streams, and how to make one. */
export interface DissectorSpec {
  name: string;
  /** The protocol name it reports for a connection (tcp, http, websocket). */
  protocol: string;
  /**
   * Looks at the first bytes a direction sent: true claims the connection, false declines,
   * undefined asks for more bytes. Specs without probe are reached only by handoff.
   */
  probe?(dir: Dir, head: Uint8Array): boolean | undefined;
  /**
   * Its messages carry the wire bytes they show (wire.raw) themselves, or none: from the
   * moment it takes over, the connection stops keeping a copy of the stream for display.
   */
  keepsOwnRaw?: boolean;
  create(ctx: DissectContext, params?: unknown): Dissector;
}
