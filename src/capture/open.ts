import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { constants as zlibConstants, createGunzip } from 'node:zlib';
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
  if (path === '-') return readStream(process.stdin, sink);
  let file: FileHandle;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new CaptureError('is a directory');
    // A pipe (`sockstat <(zcat x.pcap.gz)`, a FIFO) has no size and no positions: it streams.
    if (!st.isFile()) return await readStream(createReadStream(path, { highWaterMark: READ_CHUNK }), sink);
    if (st.size === 0) throw new CaptureError('empty file');
    file = await open(path, 'r');
  } catch (e) {
    throw toCaptureError(e);
  }
  try {
    return await readStream(fileChunks(file), sink);
  } finally {
    await file.close();
  }
}

/** Reads in flight ahead of the analysis. */
const READ_AHEAD = 3;

/**
 * A file's bytes, chunk by chunk, with a few reads in flight: the kernel's copies happen on
 * libuv's threads while the analysis runs, so it never waits for them (a read stream keeps
 * one read in flight, and left the analysis idle 5% of a benchmark run). Each chunk is a
 * fresh buffer, since packets are views into it.
 */
async function* fileChunks(file: FileHandle): AsyncGenerator<Buffer> {
  let position = 0;
  const inFlight: Array<Promise<{ bytesRead: number; buffer: Buffer; at: number }>> = [];
  const issue = () => {
    const at = position;
    position += READ_CHUNK;
    inFlight.push(file.read(Buffer.allocUnsafeSlow(READ_CHUNK), 0, READ_CHUNK, at).then((r) => ({ ...r, at })));
  };
  try {
    for (let i = 0; i < READ_AHEAD; i++) issue();
    for (;;) {
      const { bytesRead, buffer, at } = await inFlight.shift()!;
      if (bytesRead === 0) return;
      if (bytesRead < READ_CHUNK) {
        // End of file (or a short read): the reads issued past it are dropped, and reading
        // goes on from where this one stopped.
        await Promise.allSettled(inFlight.splice(0));
        position = at + bytesRead;
      }
      issue();
      yield bytesRead === READ_CHUNK ? buffer : buffer.subarray(0, bytesRead);
    }
  } catch (e) {
    throw toCaptureError(e);
  } finally {
    await Promise.allSettled(inFlight);
  }
}

/** Reads a capture from a stream or any source of byte chunks (standard input, a test's buffers). */
export async function readStream(source: Readable | AsyncIterable<Buffer>, sink: CaptureSink): Promise<CaptureResult> {
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
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return await readGzip(head, it, sink);
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

/**
 * A gzip-compressed capture (tshark reads them too), through Node's own zlib. A compressed
 * stream that breaks (cut short: "unexpected end of file"; corrupt) ends the capture as a cut
 * plain file does (issue 13.9): the packets inflated before the break are analysed, and the
 * break is the capture's error. Only when nothing could be inflated at all is it the file's.
 */
async function readGzip(head: Buffer, it: AsyncIterator<Buffer>, sink: CaptureSink): Promise<CaptureResult> {
  // Large output chunks: at the default 16 KiB, the stream machinery costs more than inflating.
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  let stopped = false;
  /** Waits for `start` to call its callback, or for gunzip to close (once it has failed it never calls back). */
  const settled = (start: (done: () => void) => void) =>
    new Promise<void>((res) => {
      const done = () => { gunzip.off('close', done); res(); };
      gunzip.once('close', done);
      start(done);
    });
  const feed = (async () => {
    gunzip.write(head);
    while (!stopped) {
      const r = await it.next();
      if (r.done || stopped || gunzip.destroyed) break;
      if (!gunzip.write(r.value)) await settled((done) => gunzip.once('drain', done));
    }
    if (stopped || gunzip.destroyed) return;
    // The last input is inflated as far as it goes before the end: a chunk still queued when
    // the stream ends is inflated with Z_FINISH, and on a cut stream zlib drops that chunk's
    // whole output with its "unexpected end of file".
    await settled((done) => gunzip.flush(zlibConstants.Z_SYNC_FLUSH, done));
    if (!gunzip.destroyed) gunzip.end();
  })();
  feed.catch((e) => gunzip.destroy(e));
  let broken: NodeJS.ErrnoException | null = null;
  async function* inflated(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (!isZlibError(err)) throw err;
      broken = err;
    }
  }
  let r: CaptureResult;
  try {
    r = await readStream(inflated(), sink);
  } catch (e) {
    if (broken) throw toCaptureError(broken);
    throw e instanceof CaptureError ? e : new CaptureError(`gzip: ${(e as Error).message}`);
  } finally {
    stopped = true;
    gunzip.destroy();
  }
  const b = broken as NodeJS.ErrnoException | null;
  // The reader's own complaint stands when it came first (a corrupt record, read before the
  // break); one that says only that the input ended too soon is the break's doing.
  if (b && (r.error === null || r.endedEarly)) {
    r.error = `${gzipTrouble(b)} after frame ${r.packets} (${b.message})`;
    r.endedEarly = true;
  }
  return r;
}

/** "unexpected end of file" (Z_BUF_ERROR) is a stream cut short; the other zlib errors, a corrupt one. */
function gzipTrouble(e: NodeJS.ErrnoException): string {
  return e.code === 'Z_BUF_ERROR' ? 'gzip data is cut off' : 'gzip data is corrupt';
}

function isZlibError(e: NodeJS.ErrnoException): boolean {
  return typeof e?.code === 'string' && e.code.startsWith('Z_');
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
    case 'Z_BUF_ERROR': return new CaptureError(`${gzipTrouble(err)} (${err.message})`);
    default: return new CaptureError(err?.message ? err.message.split('\n')[0] : String(e));
  }
}
