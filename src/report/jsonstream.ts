import { appendFileSync, closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaptureReport, ConnectionReport } from '../analyze.js';
import type { Update } from '../analysis/updates.js';
import { captureSummaryJson, messageJson, updateJson } from './json.js';
import { safeJson } from './sanitize.js';

export interface Output {
  write(s: string): unknown;
}

/**
 * Writes the --json document as the analysis goes, so that memory does not grow with the
 * capture: each connection is written when it ends (a long one in batches of messages, its
 * protocol last, since an HTTP connection may turn into a WebSocket one), updates are
 * spooled to a temporary file as they settle and copied in when the capture ends, and the
 * capture's own figures close its object. One message or update per line.
 *
 * The shape is the documented one; connections come in the order they ended and updates in
 * the order they settled (each carries its id or index).
 */
export class JsonStreamWriter {
  private capturesWritten = 0;
  private captureOpen = false;
  private connectionsWritten = 0;
  private open = new Map<number, { messages: number; spool: string | null }>();
  private spoolDir: string | null = null;
  private spoolFd = -1;
  private updates = 0;

  constructor(private readonly out: Output) {
    out.write('{"captures": [');
  }

  /**
   * Takes a connection's messages so far. Objects of different connections must not
   * interleave, so a batch before the connection's end is spooled to a file of its own,
   * and the connection is written in one piece when it ends.
   */
  connection(file: string, c: ConnectionReport, final: boolean): void {
    this.beginCapture(file);
    let st = this.open.get(c.id);
    if (!st) {
      st = { messages: 0, spool: null };
      this.open.set(c.id, st);
    }
    const messages = [...c.messages].sort((a, b) => a.time - b.time || a.wire.dir - b.wire.dir);
    c.messages = [];
    let text = '';
    for (const m of messages) text += `${st.messages++ ? ',' : ''}\n${safeJson(messageJson(m))}`;
    if (!final) {
      st.spool ??= join(this.dir(), `connection-${c.id}.json`);
      appendFileSync(st.spool, text);
      return;
    }
    const head = safeJson({ id: c.id, client: c.client, server: c.server, firstFrame: c.firstFrame, rolesGuessed: c.rolesGuessed });
    this.out.write(`${this.connectionsWritten++ ? ',' : ''}\n${head.slice(0, -1)}, "messages": [`);
    if (st.spool) {
      this.copy(st.spool);
      rmSync(st.spool, { force: true });
    }
    this.out.write(`${text}\n], "protocol": ${safeJson(c.protocol)}}`);
    this.open.delete(c.id);
  }

  private dir(): string {
    this.spoolDir ??= mkdtempSync(join(tmpdir(), 'sockstat-'));
    return this.spoolDir;
  }

  /** Copies a spool file to the output in 1 MiB pieces. */
  private copy(path: string): void {
    const fd = openSync(path, 'r');
    const buf = Buffer.alloc(1 << 20);
    try {
      for (let pos = 0; ; ) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        pos += n;
        this.out.write(buf.toString('utf8', 0, n));
      }
    } finally {
      closeSync(fd);
    }
  }

  update(file: string, u: Update): void {
    this.beginCapture(file);
    if (this.spoolFd < 0) this.spoolFd = openSync(join(this.dir(), 'updates.json'), 'w+');
    writeSync(this.spoolFd, `${this.updates++ ? ',' : ''}\n${safeJson(updateJson(u))}`);
  }

  /** Closes the capture's object with its figures (or its error, when reading failed). */
  async endCapture(file: string, r: CaptureReport | null, error: string | null, drain: () => Promise<void> | undefined): Promise<void> {
    if (!r && !this.captureOpen) return; // nothing was written for it: it is left out, as before
    this.beginCapture(file);
    this.out.write(`\n], "updates": [`);
    if (this.spoolFd >= 0) {
      const buf = Buffer.alloc(1 << 20);
      for (let pos = 0; ; ) {
        const n = readSync(this.spoolFd, buf, 0, buf.length, pos);
        if (n === 0) break;
        pos += n;
        this.out.write(buf.toString('utf8', 0, n));
        const wait = drain();
        if (wait) await wait;
      }
      this.closeSpool();
      rmSync(join(this.dir(), 'updates.json'), { force: true });
    }
    this.out.write(`\n], ${safeJson(r ? captureSummaryJson(r) : { error }).slice(1)}`);
    this.captureOpen = false;
  }

  end(): void {
    this.removeSpool();
    this.out.write(`${this.capturesWritten ? '\n' : ''}]}\n`);
  }

  private beginCapture(file: string): void {
    if (this.captureOpen) return;
    this.captureOpen = true;
    this.connectionsWritten = 0;
    this.updates = 0;
    this.open.clear();
    this.out.write(`${this.capturesWritten++ ? ',' : ''}\n{"file": ${safeJson(file)}, "connections": [`);
  }

  private closeSpool(): void {
    if (this.spoolFd >= 0) closeSync(this.spoolFd);
    this.spoolFd = -1;
  }

  /** Removes the spool directory; called once the document is complete. */
  private removeSpool(): void {
    this.closeSpool();
    if (this.spoolDir) rmSync(this.spoolDir, { recursive: true, force: true });
    this.spoolDir = null;
  }
}
