import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { readPcap } from './pcap.js';
import { readPcapng } from './pcapng.js';
import { CaptureError, type CaptureResult, type CaptureSink } from './types.js';

const READ_CHUNK = 256 * 1024;

/**
 * Reads a capture from a file path (or `-` for standard input), choosing the reader by the
 * file's magic number, never by its name. Rejects with CaptureError, whose message is one
 * line for the user, when the input is not a capture at all.
 */
export async function readCapture(path: string, sink: CaptureSink): Promise<CaptureResult> {
  let source: Readable;
  if (path === '-') {
    source = process.stdin;
  } else {
    try {
      const st = await stat(path);
      if (st.isDirectory()) throw new CaptureError('is a directory');
      if (st.size === 0) throw new CaptureError('empty file');
    } catch (e) {
      throw toCaptureError(e);
    }
    source = createReadStream(path, { highWaterMark: READ_CHUNK });
  }
  return readStream(source, sink);
}

export async function readStream(source: Readable, sink: CaptureSink): Promise<CaptureResult> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    let head: Buffer = Buffer.alloc(0);
    // The magic needs 4 bytes; a pipe may hand them over in pieces.
    while (head.length < 4) {
      const r = await it.next();
      if (r.done) break;
      head = head.length === 0 ? r.value : Buffer.concat([head, r.value]);
    }
    if (head.length === 0) throw new CaptureError('empty file');
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      // tshark reads gzip-compressed captures too; so do we, through Node's own zlib.
      const gunzip = createGunzip();
      const feed = (async () => {
        gunzip.write(head);
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          if (!gunzip.write(r.value)) await new Promise((res) => gunzip.once('drain', res));
        }
        gunzip.end();
      })();
      feed.catch((e) => gunzip.destroy(e));
      try {
        return await readStream(gunzip, sink);
      } catch (e) {
        throw e instanceof CaptureError ? e : new CaptureError(`gzip: ${(e as Error).message}`);
      }
    }
    if (head.length < 4) throw new CaptureError(`file is too short to be a capture (${head.length} bytes)`);
    const magic = head.readUInt32BE(0);
    const chunks = rest(head, it);
    switch (magic) {
      case 0xa1b2c3d4:
      case 0xd4c3b2a1:
        return await readPcap(chunks, sink, false);
      case 0xa1b23c4d:
      case 0x4d3cb2a1:
        return await readPcap(chunks, sink, true);
      case 0x0a0d0d0a:
        return await readPcapng(chunks, sink);
      default:
        throw new CaptureError(`not a capture file: unknown magic number 0x${head.subarray(0, 4).toString('hex')} (sockstat reads pcap and pcapng)`);
    }
  } catch (e) {
    throw toCaptureError(e);
  } finally {
    await it.return?.();
  }
}

async function* rest(head: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield head;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield r.value;
  }
}

function toCaptureError(e: unknown): CaptureError {
  if (e instanceof CaptureError) return e;
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT': return new CaptureError('no such file');
    case 'EACCES': return new CaptureError('permission denied');
    case 'EISDIR': return new CaptureError('is a directory');
    case 'Z_DATA_ERROR':
    case 'Z_BUF_ERROR': return new CaptureError(`gzip data is corrupt (${err.message})`);
    default: return new CaptureError(err?.message ? err.message.split('\n')[0] : String(e));
  }
}
