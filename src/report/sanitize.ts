import { TERMINAL_UNSAFE } from '../dissect/bytes.js';

/**
 * Capture bytes are untrusted: nothing from them may reach a terminal as a control or escape
 * sequence. These helpers make any string safe to print.
 */

// C0 controls but TAB and LF, DEL, C1 controls, and the Unicode bidirectional overrides that
// can reorder what a reader sees.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
const UNSAFE_ONE_LINE = new RegExp(`[${TERMINAL_UNSAFE}]`, 'g');

function escapeChar(ch: string): string {
  const c = ch.codePointAt(0)!;
  if (c === 0x0d) return '\\r';
  if (c === 0x0a) return '\\n';
  if (c === 0x09) return '\\t';
  return c < 0x100 ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u{${c.toString(16)}}`;
}

/** Escapes every control character but LF and TAB: for multi-line text. A CRLF pair keeps its LF. */
export function safeText(s: string): string {
  return s.replace(/\r\n/g, '\n').replace(UNSAFE, escapeChar);
}

/** Escapes every control character, line ends included: for one table cell or one line. */
export function safeLine(s: string): string {
  return s.replace(UNSAFE_ONE_LINE, escapeChar);
}

/** JSON text that is also safe on a terminal: C1 controls and bidi overrides escaped too. */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g, (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}
