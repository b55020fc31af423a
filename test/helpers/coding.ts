import { constants as zlibConstants, createDeflate, createGzip } from 'node:zlib';

/**
 * Pieces compressed with gzip (or zlib-wrapped deflate) as a compressing proxy sends them:
 * flushed (Z_SYNC_FLUSH) after each piece, so each output is what that flush gave; the last
 * output is the stream's end (the gzip trailer).
 */
export async function flushedPieces(pieces: Array<string | Uint8Array>, coding: 'gzip' | 'deflate' = 'gzip'): Promise<Buffer[]> {
  const z = coding === 'gzip' ? createGzip() : createDeflate();
  const out: Buffer[] = [];
  let current: Buffer[] = [];
  z.on('data', (d: Buffer) => current.push(d));
  for (const p of pieces) {
    z.write(typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));
    await new Promise<void>((r) => z.flush(zlibConstants.Z_SYNC_FLUSH, () => r()));
    out.push(Buffer.concat(current));
    current = [];
  }
  z.end();
  await new Promise<void>((r) => z.on('end', () => r()));
  out.push(Buffer.concat(current));
  return out;
}
