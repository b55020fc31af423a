import { Decompress, Gunzip } from 'fflate';

/**
 * A content coding undone as the body arrives (RFC 9110 §8.4.1), for bodies read while they
 * stream: an event stream a compressing proxy gzips and flushes mid-event. Node's zlib
 * inflates a stream only asynchronously, or a whole buffer at once; fflate inflates pushed
 * pieces synchronously, keeping its state between them.
 */
export type StreamCoding = 'gzip' | 'deflate';

/** The codings this module undoes as they stream; brotli and zstd are not among them. */
export function streamCoding(codings: readonly string[]): StreamCoding | null | undefined {
  if (codings.length === 0) return undefined;
  if (codings.length > 1) return null;
  const c = codings[0];
  if (c === 'gzip' || c === 'x-gzip') return 'gzip';
  if (c === 'deflate') return 'deflate';
  return null;
}

/**
 * Input is pushed in pieces of at most this many bytes, so that one push inflates to at most
 * about a thousand times as much (deflate's ratio is bounded near 1032:1): a bomb cannot make
 * one piece of output of more than about 1 MiB.
 */
const PIECE = 1024;

export class InflateStream {
  private readonly engine: Gunzip | Decompress;
  private out: Uint8Array[] = [];
  /** Bytes inflated so far. */
  inflated = 0;

  constructor(coding: StreamCoding) {
    const ondata = (chunk: Uint8Array) => {
      if (chunk.length > 0) this.out.push(chunk);
    };
    // "deflate" is meant to be zlib-wrapped (RFC 9110 §8.4.1.2); Decompress also takes the raw
    // deflate some servers send, and gzip.
    this.engine = coding === 'gzip' ? new Gunzip(ondata) : new Decompress(ondata);
  }

  /**
   * Inflates `bytes`, calling `each(output, inputEnd)` for every piece of input that gave
   * output, with the index in `bytes` where that piece ends. Throws on corrupt input.
   */
  push(bytes: Uint8Array, each: (output: Uint8Array, inputEnd: number) => void): void {
    for (let i = 0; i < bytes.length; i += PIECE) {
      const end = Math.min(bytes.length, i + PIECE);
      this.engine.push(bytes.subarray(i, end), false);
      if (this.out.length === 0) continue;
      const out = this.out.length === 1 ? this.out[0] : concat(this.out);
      this.out = [];
      this.inflated += out.length;
      each(out, end);
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
