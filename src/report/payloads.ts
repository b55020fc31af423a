import type { ConnectionReport } from '../analyze.js';
import { hex } from '../dissect/bytes.js';
import type { Message, WsFrame, WsMessage } from '../dissect/types.js';
import { closeCodeMeaning, FRAME_PREVIEW, OPCODE } from '../dissect/websocket.js';
import { messageHex } from './json.js';
import { captureName } from './stats.js';
import { dots, safeLine, safeText } from './sanitize.js';

const OPCODE_NAMES: Record<number, string> = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
/** Hex of a frame longer than this is cut, with its length said. */
const MAX_HEX_BYTES = FRAME_PREVIEW;
const utf8 = new TextDecoder('utf-8');

function wireText(b: Uint8Array | undefined): string {
  if (!b || b.length === 0) return '';
  return safeText(utf8.decode(b));
}

/** A WebSocket text for one line: escaped, unless decoding it found nothing to escape. */
function lineOf(m: WsFrame | WsMessage): string {
  return m.wire.plainText ? m.text! : safeLine(m.text!);
}

function where(m: Message): string {
  const f = m.frames.length === 0 ? 'no frame' : m.frames.length === 1 ? `frame ${m.frames[0]}` : `frames ${m.frames[0]}-${m.frames[m.frames.length - 1]}`;
  return `${f}, ${m.time.toFixed(6)} s`;
}

/**
 * One message as printed: its lines, and where it sorts. A WebSocket frame's label (C1, S2...)
 * is given when the connection is printed, in time order.
 */
interface Block {
  time: number;
  frame: number;
  side: 'C' | 'S' | null;
  text: string;
}

/** The lines of one message, as the write-up's Payloads sections show them; null for none. */
function renderMessage(m: Message): Block | null {
  const arrow = m.from === 'client' ? '>>' : '<<';
  const block = (text: string, side: 'C' | 'S' | null = null): Block => {
    // Held until the connection is printed: an indexed read makes V8 flatten the rope of
    // pieces a template builds into one string, one object to keep instead of dozens.
    text.charCodeAt(0);
    return { time: m.time, frame: m.frames[0] ?? 0, side, text };
  };
  switch (m.kind) {
    case 'http-request':
    case 'http-response': {
      const what = m.kind === 'http-request' ? `${m.method} ${m.target}` : `${m.status} ${m.reason}${m.bodyLength === null ? ' (event stream)' : ''}`;
      const out = [`${arrow} ${m.from} HTTP ${safeLine(what)} [${where(m)}]`, wireText(m.wire.raw).replace(/\n?$/, '')];
      const encoding = m.headers.find(([k]) => k.toLowerCase() === 'content-encoding')?.[1];
      if (encoding && m.wire.payload && (m.body !== undefined || m.bodyHex !== undefined)) {
        out.push(`   [${safeLine(encoding)} body decoded: ${m.wire.payload.length} bytes]`);
        out.push(m.body !== undefined ? safeText(m.body) : `   ${m.bodyHex}`);
      }
      if (m.bodyTruncated) out.push('   [body cut: only the beginning is kept]');
      return block(out.join('\n'));
    }
    case 'sse-event':
      return block(
        `${arrow} server SSE event [${where(m)}]\n${wireText(m.wire.raw).replace(/\n?$/, '')}\n` +
          `   => event: ${safeLine(m.event)}${m.id !== undefined ? `, id: ${safeLine(m.id)}` : ''}${m.retry !== undefined ? `, retry: ${m.retry}` : ''}, data: ${safeLine(m.data)}`,
      );
    case 'sse-comment':
      return block(`${arrow} server SSE comment [${where(m)}]: ${safeLine(m.text)}`);
    case 'ws-frame': {
      const raw = m.wire.raw ?? new Uint8Array(0);
      const shown = raw.subarray(0, MAX_HEX_BYTES);
      const kept = m.wire.rawLength ?? raw.length;
      let line = `${hex(shown, ' ')}${kept > shown.length ? ` ... (${kept} bytes)` : ''}`;
      const notes: string[] = [OPCODE_NAMES[m.opcode] ?? `opcode ${m.opcode}`];
      if (!m.fin) notes.push('not final');
      if (m.rsv1) notes.push('compressed');
      if (m.masked) notes.push(`masked, key ${m.maskKey}`);
      if (m.opcode === OPCODE.CLOSE) {
        notes.push(m.closeCode !== undefined ? `code ${m.closeCode} (${closeCodeMeaning(m.closeCode)})${m.closeReason ? `, reason ${JSON.stringify(safeLine(m.closeReason))}` : ''}` : 'no payload');
      }
      const payload = m.wire.payload;
      let text = '';
      if (m.opcode !== OPCODE.CLOSE && payload && payload.length > 0 && !m.rsv1) text = m.text !== undefined ? lineOf(m) : dots(payload.subarray(0, MAX_HEX_BYTES));
      line += `   ${text ? `${text}  ` : ''}(${notes.join(', ')}) [${where(m)}]`;
      return block(line, m.from === 'client' ? 'C' : 'S');
    }
    case 'ws-message': {
      // A one-frame uncompressed message was shown whole on its frame's line.
      if ((m.wire.fragments ?? 1) <= 1 && !m.compressed) return null;
      const body = m.text !== undefined ? lineOf(m) : messageHex(m) ?? '';
      return block(`   => ${m.from} message (${OPCODE_NAMES[m.opcode] ?? m.opcode}${m.compressed ? ', inflated' : ''}, ${m.length} bytes): ${body}`);
    }
    case 'data': {
      const head = `${arrow} ${m.from} ${m.length} byte${m.length === 1 ? '' : 's'} [${where(m)}]`;
      if (m.text !== undefined) return block(`${head}\n${safeText(m.text).replace(/\n$/, '')}`);
      return block(m.wire.raw ? `${head}\n${hexDump(m.wire.raw)}` : head);
    }
  }
}

export function hexDump(b: Uint8Array): string {
  const lines: string[] = [];
  for (let o = 0; o < b.length; o += 16) {
    const row = b.subarray(o, o + 16);
    lines.push(`${o.toString(16).padStart(8, '0')}  ${hex(row, ' ').padEnd(47)}  ${dots(row)}`);
  }
  return lines.join('\n');
}

export function payloadsHeader(file: string): string {
  return `=== ${safeLine(captureName(file))} ===\n`;
}

interface ConnectionState {
  printed: boolean;
  counters: { C: number; S: number };
  blocks: Block[];
  /** Messages since the last print, those shown through others included. */
  held: number;
}

/**
 * Prints each connection's messages in time order when the connection ends (or every
 * `maxHeld` messages, as a "continued" section), so a capture of any size streams through in
 * bounded memory. Each message is rendered as it arrives: what a connection holds until it is
 * printed is its text, not its messages with their bytes.
 */
export class PayloadPrinter {
  private states = new Map<number, ConnectionState>();
  constructor(
    private readonly write: (s: string) => void,
    private readonly maxHeld = 1000,
  ) {}

  private state(c: ConnectionReport): ConnectionState {
    let st = this.states.get(c.id);
    if (!st) {
      st = { printed: false, counters: { C: 0, S: 0 }, blocks: [], held: 0 };
      this.states.set(c.id, st);
    }
    return st;
  }

  message(c: ConnectionReport, m: Message): void {
    const st = this.state(c);
    const b = renderMessage(m);
    if (b) st.blocks.push(b);
    if (++st.held >= this.maxHeld) this.flush(c, st);
  }

  /** The connection has ended (final) or is to be printed so far. */
  connection(c: ConnectionReport, final: boolean): void {
    const st = this.state(c);
    if (st.held > 0 || !st.printed) this.flush(c, st);
    if (final) this.states.delete(c.id);
  }

  private flush(c: ConnectionReport, st: ConnectionState): void {
    const out = [`--- connection #${c.id}: ${c.client} -> ${c.server} (${c.protocol})${st.printed ? ', continued' : ''} ---`];
    st.printed = true;
    // A stable sort: messages of the same time and frame keep the order they completed in.
    const blocks = st.blocks.sort((a, b) => a.time - b.time || a.frame - b.frame);
    for (const b of blocks) out.push(b.side ? `${b.side}${++st.counters[b.side]}: ${b.text}` : b.text);
    st.blocks = [];
    st.held = 0;
    // Two writes: prepending to the rendered text would copy all of it once more.
    this.write('\n');
    this.write(out.join('\n') + '\n');
  }
}
