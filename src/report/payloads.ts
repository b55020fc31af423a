import type { ConnectionReport } from '../analyze.js';
import { hex } from '../dissect/bytes.js';
import type { Message } from '../dissect/types.js';
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

function where(m: Message): string {
  const f = m.frames.length === 0 ? 'no frame' : m.frames.length === 1 ? `frame ${m.frames[0]}` : `frames ${m.frames[0]}-${m.frames[m.frames.length - 1]}`;
  return `${f}, ${m.time.toFixed(6)} s`;
}

/** What printing a connection in several batches must remember between them. */
export interface PayloadState {
  printed: boolean;
  counters: { client: number; server: number };
  lastMessageFrames: number;
}

/**
 * Prints a connection's messages in time order, as the write-up's Payloads sections show
 * them. A long connection may be printed in several batches, carrying `state` between them.
 */
export function renderConnectionPayloads(c: ConnectionReport, state: PayloadState = { printed: false, counters: { client: 0, server: 0 }, lastMessageFrames: 0 }): string {
  const out: string[] = [];
  out.push(`--- connection #${c.id}: ${c.client} -> ${c.server} (${c.protocol})${state.printed ? ', continued' : ''} ---`);
  state.printed = true;
  const messages = [...c.messages].sort((a, b) => a.time - b.time || (a.frames[0] ?? 0) - (b.frames[0] ?? 0));
  const counters = state.counters;
  let lastMessageFrames = state.lastMessageFrames;
  for (const m of messages) {
    const arrow = m.from === 'client' ? '>>' : '<<';
    switch (m.kind) {
      case 'http-request':
      case 'http-response': {
        const what = m.kind === 'http-request' ? `${m.method} ${m.target}` : `${m.status} ${m.reason}${m.bodyLength === null ? ' (event stream)' : ''}`;
        out.push(`${arrow} ${m.from} HTTP ${safeLine(what)} [${where(m)}]`);
        out.push(wireText(m.wire.raw).replace(/\n?$/, ''));
        const encoding = m.headers.find(([k]) => k.toLowerCase() === 'content-encoding')?.[1];
        if (encoding && m.wire.payload && (m.body !== undefined || m.bodyHex !== undefined)) {
          out.push(`   [${safeLine(encoding)} body decoded: ${m.wire.payload.length} bytes]`);
          out.push(m.body !== undefined ? safeText(m.body) : `   ${m.bodyHex}`);
        }
        if (m.bodyTruncated) out.push('   [body cut: only the beginning is kept]');
        break;
      }
      case 'sse-event':
        out.push(`${arrow} server SSE event [${where(m)}]`);
        out.push(wireText(m.wire.raw).replace(/\n?$/, ''));
        out.push(`   => event: ${safeLine(m.event)}${m.id !== undefined ? `, id: ${safeLine(m.id)}` : ''}${m.retry !== undefined ? `, retry: ${m.retry}` : ''}, data: ${safeLine(m.data)}`);
        break;
      case 'sse-comment':
        out.push(`${arrow} server SSE comment [${where(m)}]: ${safeLine(m.text)}`);
        break;
      case 'ws-frame': {
        const n = m.from === 'client' ? ++counters.client : ++counters.server;
        const label = `${m.from === 'client' ? 'C' : 'S'}${n}`;
        const raw = m.wire.raw ?? new Uint8Array(0);
        const shown = raw.subarray(0, MAX_HEX_BYTES);
        const kept = m.wire.rawLength ?? raw.length;
        let line = `${label}: ${hex(shown, ' ')}${kept > shown.length ? ` ... (${kept} bytes)` : ''}`;
        const notes: string[] = [OPCODE_NAMES[m.opcode] ?? `opcode ${m.opcode}`];
        if (!m.fin) notes.push('not final');
        if (m.rsv1) notes.push('compressed');
        if (m.masked) notes.push(`masked, key ${m.maskKey}`);
        if (m.opcode === OPCODE.CLOSE) {
          notes.push(m.closeCode !== undefined ? `code ${m.closeCode} (${closeCodeMeaning(m.closeCode)})${m.closeReason ? `, reason ${JSON.stringify(safeLine(m.closeReason))}` : ''}` : 'no payload');
        }
        const payload = m.wire.payload;
        let text = '';
        if (m.opcode !== OPCODE.CLOSE && payload && payload.length > 0 && !m.rsv1) text = m.text !== undefined ? safeLine(m.text) : dots(payload.subarray(0, MAX_HEX_BYTES));
        line += `   ${text ? `${text}  ` : ''}(${notes.join(', ')}) [${where(m)}]`;
        out.push(line);
        // Data frames since the last message: control frames may come between fragments.
        if (m.opcode < 8) lastMessageFrames++;
        break;
      }
      case 'ws-message':
        // A one-frame uncompressed message was shown whole on its frame's line.
        if (lastMessageFrames > 1 || m.compressed) {
          const body = m.text !== undefined ? safeLine(m.text) : messageHex(m) ?? '';
          out.push(`   => ${m.from} message (${OPCODE_NAMES[m.opcode] ?? m.opcode}${m.compressed ? ', inflated' : ''}, ${m.length} bytes): ${body}`);
        }
        lastMessageFrames = 0;
        break;
      case 'data':
        out.push(`${arrow} ${m.from} ${m.length} byte${m.length === 1 ? '' : 's'} [${where(m)}]`);
        if (m.text !== undefined) out.push(safeText(m.text).replace(/\n$/, ''));
        else if (m.wire.raw) out.push(hexDump(m.wire.raw));
        break;
    }
  }
  state.lastMessageFrames = lastMessageFrames;
  return out.join('\n') + '\n';
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

/** Prints connections as they end, so a capture of any size streams through in bounded memory. */
export class PayloadPrinter {
  private states = new Map<number, PayloadState>();
  constructor(private readonly write: (s: string) => void) {}

  connection(c: ConnectionReport, final: boolean): void {
    let st = this.states.get(c.id);
    if (!st) {
      st = { printed: false, counters: { client: 0, server: 0 }, lastMessageFrames: 0 };
      this.states.set(c.id, st);
    }
    if (c.messages.length > 0 || !st.printed) {
      // Two writes: prepending to the rendered text would copy all of it once more.
      this.write('\n');
      this.write(renderConnectionPayloads(c, st));
    }
    c.messages = [];
    if (final) this.states.delete(c.id);
  }
}
