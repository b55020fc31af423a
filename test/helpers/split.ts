/** Calls fn with the bytes whole, byte by byte, and split in two at every offset. */
export function forEachSplit(bytes: Uint8Array, fn: (parts: Uint8Array[], label: string) => void): void {
  fn([bytes], 'whole');
  fn(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)), 'byte by byte');
  for (let i = 1; i < bytes.length; i++) fn([bytes.subarray(0, i), bytes.subarray(i)], `split at ${i}`);
}

export const enc = (s: string) => new TextEncoder().encode(s);
