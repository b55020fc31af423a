import type { HeaderList } from './types.js';

/** The first value of a header field, by case-insensitive name. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const n = name.toLowerCase();
  // Lengths first: most names differ in length, and need no lower-casing to tell.
  for (const [k, v] of headers) if (k.length === n.length && k.toLowerCase() === n) return v;
  return undefined;
}

/**
 * Every field line of a name as one comma-separated value, as RFC 9110 §5.3 reads them: "A
 * recipient MAY combine multiple field lines within a field section that have the same field
 * name into one field line ... by appending each subsequent field line value to the initial
 * field line value in order, separated by a comma". undefined when the field is absent.
 */
export function combinedValue(headers: HeaderList, name: string): string | undefined {
  const n = name.toLowerCase();
  let out: string | undefined;
  for (const [k, v] of headers) {
    if (k.length !== n.length || k.toLowerCase() !== n) continue;
    out = out === undefined ? v : `${out}, ${v}`;
  }
  return out;
}

/**
 * The members of a list-based field value (RFC 9110 §5.6.1), trimmed, lower-cased; empty
 * members are dropped ("a recipient MUST parse and ignore a reasonable number of empty list
 * elements"). For token lists only: a quoted comma is not understood.
 */
export function listMembers(value: string): string[] {
  const out: string[] = [];
  for (const m of value.split(',')) {
    const t = m.trim().toLowerCase();
    if (t) out.push(t);
  }
  return out;
}

/** What a message's Content-Length fields say, by RFC 9110 §8.6 and RFC 9112 §6.3. */
export type ContentLength = { length: number } | { invalid: string } | undefined;

/**
 * Content-Length = 1*DIGIT (RFC 9110 §8.6), across every field line of the name. RFC 9112 §6.3:
 * an invalid value makes the framing "an unrecoverable error, unless the field value can be
 * successfully parsed as a comma-separated list ..., all values in the list are valid, and all
 * values in the list are the same (in which case, the message is processed with that single
 * value used as the Content-Length field value)". A value past 2^53 cannot be counted: invalid.
 */
export function contentLength(headers: HeaderList): ContentLength {
  const value = combinedValue(headers, 'content-length');
  if (value === undefined) return undefined;
  let length = -1;
  for (const m of value.split(',')) {
    const t = m.trim();
    if (t === '') continue;
    if (!/^[0-9]{1,16}$/.test(t)) return { invalid: value };
    const n = parseInt(t, 10);
    if (!Number.isSafeInteger(n) || (length >= 0 && n !== length)) return { invalid: value };
    length = n;
  }
  return length < 0 ? { invalid: value } : { length };
}

/** The content codings of a message, in the order applied (RFC 9110 §8.4). */
export function contentCodings(headers: HeaderList): string[] {
  const ce = combinedValue(headers, 'content-encoding');
  // "identity" is no coding (RFC 9110 §8.4.1); an empty member is none either.
  return ce === undefined ? [] : listMembers(ce).filter((c) => c !== 'identity');
}

/**
 * The media type of a Content-Type value, as the hand-off table is keyed: type/subtype in
 * lower case, parameters stripped (RFC 9110 §8.3.1: "The type and subtype tokens are
 * case-insensitive"; WHATWG MIME Sniffing calls it the essence).
 */
export function mediaType(value: string | undefined): string {
  if (value === undefined) return '';
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/** A parameter of a Content-Type value, lower-cased, quotes removed (RFC 9110 §5.6.6); undefined when absent. */
export function mediaParam(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  for (const part of value.split(';').slice(1)) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim().toLowerCase() !== name) continue;
    return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
}
