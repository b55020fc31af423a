/**
 * Capture bytes are untrusted: nothing from them may reach a terminal as a control or escape
 * sequence, or as an invisible character that changes what a reader sees. These helpers make
 * any string safe to print.
 */

/**
 * Characters that show nothing, or reorder or join what is around them, on top of the C0 and
 * C1 controls: U+061C ARABIC LETTER MARK; U+200B-U+200F zero-width space, non-joiner, joiner,
 * and the LRM/RLM marks; U+2028/U+2029 line and paragraph separators (line ends to some
 * terminals and editors, and to pre-ES2019 JavaScript); U+202A-U+202E the bidirectional
 * embeddings and overrides; U+2060-U+206F word joiner, invisible operators, the bidirectional
 * isolates (U+2066-U+2069) and the deprecated format controls; U+FEFF the byte order mark
 * (zero-width no-break space); U+FFF9-U+FFFB interlinear annotation controls.
 * (Unicode TR #9 for the bidirectional controls; "Trojan Source", CVE-2021-42574.)
 */
const INVISIBLE = '\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb';

// Multi-line text keeps TAB and LF; one line keeps neither.
const UNSAFE = new RegExp(`[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f${INVISIBLE}]`, 'g');
const UNSAFE_ONE_LINE = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f${INVISIBLE}]`, 'g');
const INVISIBLE_ONE = new RegExp(`[${INVISIBLE}]`);
// JSON.stringify escapes C0 controls, quotes, backslashes and lone surrogates itself.
const UNSAFE_JSON = new RegExp(`[\\u007f-\\u009f${INVISIBLE}]`, 'g');

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

/**
 * True when `s` holds one of the invisible characters above. Text a dissector found free of
 * controls (Wire.plainText) may still hold them: the dissector's set is the smaller one.
 */
export function hasInvisible(s: string): boolean {
  return INVISIBLE_ONE.test(s);
}

/** JSON.stringify's escape of one character: \uXXXX, which parses back to the same character. */
function jsonEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * JSON text that is also safe on a terminal: DEL, C1 controls and the invisible characters
 * escaped too. Outside strings JSON text holds only ASCII, so every one of them is inside a
 * string, where \uXXXX stands for the same character: the parsed value does not change.
 */
export function safeJson(value: unknown, indent?: number): string {
  const j = JSON.stringify(value, null, indent);
  // Most JSON is ASCII (hex payloads, figures, names): when no character is past U+007F (its
  // UTF-8 is as long as it is) and there is no DEL, there is nothing to escape, and the
  // native checks cost less than the regular expression's scan.
  if (Buffer.byteLength(j, 'utf8') === j.length && j.indexOf('\x7f') < 0) return j;
  return j.replace(UNSAFE_JSON, jsonEscape);
}

/**
 * The first `max` characters of `s` (never half a surrogate pair), and the length it had when
 * it was longer: for capture text shown on a terminal line, cut before it is escaped.
 */
export function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}... (${s.length} characters, cut)`;
}
