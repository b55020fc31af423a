import type { HeaderList } from './types.js';

/** The first value of a header field, by case-insensitive name. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const n = name.toLowerCase();
  // Lengths first: most names differ in length, and need no lower-casing to tell.
  for (const [k, v] of headers) if (k.length === n.length && k.toLowerCase() === n) return v;
  return undefined;
}
