/**
 * TCP sequence arithmetic (RFC 9293 §3.4): sequence numbers live modulo 2^32, so they are
 * only ever compared through their signed 32-bit difference, never with a raw `<`.
 */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
