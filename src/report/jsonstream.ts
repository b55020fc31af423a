import { appendFileSync, closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaptureReport, ConnectionReport } from '../analyze.js';
import type { Update } from '../analysis/updates.js';
import { captureSummaryJson, connectionFiguresJson, messageJson, SCHEMA_VERSION, updateJson } from './json.js';
import { safeJson } from './sanitize.js';

export interface Output {
  /** Text, or bytes of UTF-8 (a spool copied as it lies: a piece may end inside a character). */
  write(s: string | Uint8Array): unknown;
}

/** Spool folders not yet removed, whoever made them: every way out of the process removes them. */
const liveSpools = new Set<string>();
let exitHooked = false;

/**
 * Removes every spool folder still there. Runs on the process's 'exit' (a normal end, an
 * error, process.exit() after a closed pipe); bin/sockstat calls it on SIGINT, SIGTERM and
 * SIGHUP too, which end a process without 'exit'. Synchronous, so it can run in either.
 */
export function removeSpools(): void {
  for (const dir of liveSpools) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Nothing more can be done on the way out; the folder is in the temporary directory.
    }
  }
  liveSpools.clear();
}

/** Output gathered up to this many characters before it is written: few writes, no big string. */
const PIECE = 64 * 1024;
/** Spool files are read back in pieces of this many bytes. */
const COPY = 1 << 20;
/**
 * Characters of ended connections' last messages held, over all of them, while they wait to be
 * written (see Ended); past it, the oldest go to their spool files.
 */
const ENDED_CHARS = 4 * 1024 * 1024;

type Phase = 'connections' | 'messages' | 'updates' | 'summary';

interface OpenConnection {
  /** Messages written so far (spooled or not): every one after the first takes a comma. */
  messages: number;
  spool: string | null;
  /** Bytes of the spool file written whole: what a failed append left past them is not read. */
  spoolBytes: number;
}

/**
 * A connection that has ended, waiting to be written: its messages are all known (rendered as
 * text here, or spooled), but its figures are not final until the analysis lets it go (the ACK
 * of its last FIN comes after its end). Written once it is let go, in the order the connections
 * ended: one let go early waits for those that ended before it.
 */
interface Ended {
  c: ConnectionReport;
  st: OpenConnection;
  text: string;
  done: boolean;
}

/**
 * Writes the --json document as the analysis goes, so that memory does not grow with the
 * capture: each connection is written once it has ended and the analysis has let it go (a long
 * one spooled in batches of messages; its protocol and figures last, since an HTTP connection
 * may turn into a WebSocket one and the ACK of its FIN comes after its end), updates are
 * spooled to a temporary file as they settle and copied in when the capture ends, and the
 * capture's own figures close its object. One message or update per line.
 *
 * The shape is the documented one; connections come in the order they ended and updates in
 * the order they settled (each carries its id or index).
 *
 * It never throws from connection() or update(), which run inside the analysis (where a
 * dissector's guard would take a throw for its own failure): a failure (a full temporary
 * disk, say) is kept in `failed`, what could not be written is left out, and the document
 * stays valid: endCapture() closes whatever was open.
 */
export class JsonStreamWriter {
  /** The first failure to write a spool file (or to render a message), if any. */
  failed: Error | null = null;
  private capturesWritten = 0;
  private captureOpen = false;
  private phase: Phase = 'connections';
  /** Fields of the capture's closing figures written so far. */
  private fields = 0;
  private connectionsWritten = 0;
  /** The connection being written (phase 'messages'): its protocol closes it. */
  private current: ConnectionReport | null = null;
  private open = new Map<number, OpenConnection>();
  /** Ended connections not yet written, in the order they ended; the characters of their text. */
  private ended = new Map<number, Ended>();
  private endedChars = 0;
  private spoolDir: string | null = null;
  private spoolFd = -1;
  private spoolBytes = 0;
  /** Updates spooled so far, and those gathered for the next spool write. */
  private updates = 0;
  private pendingUpdates: string[] = [];
  private pendingUpdateChars = 0;
  private pendingUpdateCount = 0;
  private pieces: string[] = [];
  private pieceChars = 0;

  constructor(private readonly out: Output) {
    // schemaVersion: the version of schema/sockstat.schema.json this document follows.
    out.write(`{"schemaVersion": ${SCHEMA_VERSION}, "captures": [`);
  }

  /**
   * Takes a connection's messages so far. Objects of different connections must not
   * interleave, so a batch before the connection's end is spooled to a file of its own,
   * and the connection is written in one piece when it ends.
   */
  connection(file: string, c: ConnectionReport, final: boolean): void {
    try {
      this.beginCapture(file);
      let st = this.open.get(c.id);
      if (!st) {
        st = { messages: 0, spool: null, spoolBytes: 0 };
        this.open.set(c.id, st);
      }
      // In the order the analysis completed them: stream order within a direction, the order
      // of the packets that completed them across directions (issue 13.5). Never sorted by
      // time: under loss a message held behind a hole completes after the next one in its
      // stream, and a sort put the later one first (and the order then hung on where a
      // batch was cut).
      const messages = c.messages;
      c.messages = [];
      if (!final) {
        if (this.failed) return;
        st.spool ??= join(this.dir(), `connection-${c.id}.json`);
        // Appended a piece at a time; a message is counted (for its comma) once it is on disk.
        let text = '';
        let count = 0;
        for (const m of messages) {
          text += `${st.messages + count++ ? ',' : ''}\n${safeJson(messageJson(m))}`;
          if (text.length >= COPY) {
            this.spoolTo(st, text, count);
            text = '';
            count = 0;
          }
        }
        if (count) this.spoolTo(st, text, count);
        return;
      }
      // Rendered now (the messages and their bytes can go), written once the connection is let go.
      let text = '';
      for (const m of messages) text += `${st.messages++ ? ',' : ''}\n${safeJson(messageJson(m))}`;
      this.open.delete(c.id);
      this.ended.set(c.id, { c, st, text, done: false });
      this.endedChars += text.length;
      if (this.endedChars > ENDED_CHARS) this.spill();
    } catch (e) {
      this.failed ??= e as Error;
    }
  }

  /**
   * The analysis let the connection go (AnalyzeOptions.onConnectionDone): its figures are
   * final. It is written, with every connection that ended before it and was let go.
   */
  connectionDone(file: string, c: ConnectionReport): void {
    try {
      if (!this.ended.has(c.id)) this.connection(file, c, true);
      const e = this.ended.get(c.id);
      if (e) e.done = true;
      for (const [id, first] of this.ended) {
        if (!first.done) break;
        this.ended.delete(id);
        this.writeEnded(first);
      }
    } catch (e) {
      this.failed ??= e as Error;
    }
  }

  /** Moves the text of the connections that ended first to their spool files, until half the allowance is left. */
  private spill(): void {
    if (this.failed) return;
    for (const e of this.ended.values()) {
      if (this.endedChars <= ENDED_CHARS / 2) break;
      if (e.text.length === 0) continue;
      e.st.spool ??= join(this.dir(), `connection-${e.c.id}.json`);
      appendFileSync(e.st.spool, e.text);
      e.st.spoolBytes += Buffer.byteLength(e.text);
      this.endedChars -= e.text.length;
      e.text = '';
    }
  }

  private writeEnded(e: Ended): void {
    const { c, st } = e;
    this.endedChars -= e.text.length;
    const head = safeJson({ id: c.id, client: c.client, server: c.server, firstFrame: c.firstFrame, rolesGuessed: c.rolesGuessed });
    this.put(`${this.connectionsWritten++ ? ',' : ''}\n${head.slice(0, -1)}, "messages": [`);
    this.phase = 'messages';
    this.current = c;
    if (st.spool) {
      this.copy(st.spool, st.spoolBytes);
      rmSync(st.spool, { force: true });
      st.spool = null;
    }
    this.put(e.text);
    this.closeConnection();
  }

  private spoolTo(st: OpenConnection, text: string, count: number): void {
    // appendFileSync writes the whole text or throws (writeFileSync loops over short writes).
    appendFileSync(st.spool!, text);
    st.spoolBytes += Buffer.byteLength(text);
    st.messages += count;
  }

  private closeConnection(): void {
    // The layers' facts (tls) are known once the connection has ended: written after its messages.
    const layers = this.current!.layers;
    // Its figures (packets and bytes each way, updates, steady state, cadence) after them: final once it was let go.
    const figures = safeJson(connectionFiguresJson(this.current!));
    this.put(`\n], "protocol": ${safeJson(this.current!.protocol)}${layers?.tls ? `, "tls": ${safeJson(layers.tls)}` : ''}, ${figures.slice(1)}`);
    this.flush();
    this.phase = 'connections';
    this.current = null;
  }

  private dir(): string {
    if (!this.spoolDir) {
      if (!exitHooked) {
        exitHooked = true;
        process.once('exit', removeSpools);
      }
      this.spoolDir = mkdtempSync(join(tmpdir(), 'sockstat-'));
      liveSpools.add(this.spoolDir);
    }
    return this.spoolDir;
  }

  /**
   * The first `bytes` bytes of a spool, COPY bytes at a time, as bytes: the spool is UTF-8
   * already, so it is not decoded (a character cut by a piece's end is whole again in the
   * output). Each piece is a buffer of its own, since a stream may still hold it after
   * write() returns.
   */
  private *spoolPieces(fd: number, bytes: number): Generator<Buffer> {
    for (let pos = 0; pos < bytes; ) {
      const buf = Buffer.allocUnsafe(Math.min(COPY, bytes - pos));
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return;
      pos += n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  }

  /** Copies a spool to the output, awaiting `drain` after each piece (the updates at a capture's end). */
  private async copyFd(fd: number, bytes: number, drain: () => Promise<void> | undefined): Promise<void> {
    this.flush();
    for (const piece of this.spoolPieces(fd, bytes)) {
      this.out.write(piece);
      const wait = drain();
      if (wait) await wait;
    }
  }

  /** Copies a connection's spool without waiting (it is written while the analysis runs). */
  private copy(path: string, bytes: number): void {
    this.flush();
    const fd = openSync(path, 'r');
    try {
      for (const piece of this.spoolPieces(fd, bytes)) this.out.write(piece);
    } finally {
      closeSync(fd);
    }
  }

  update(file: string, u: Update): void {
    try {
      this.beginCapture(file);
      if (this.failed) return;
      const line = `${this.updates + this.pendingUpdateCount ? ',' : ''}\n${safeJson(updateJson(u))}`;
      this.pendingUpdates.push(line);
      this.pendingUpdateChars += line.length;
      this.pendingUpdateCount++;
      if (this.pendingUpdateChars >= PIECE) this.spoolUpdates();
    } catch (e) {
      this.failed ??= e as Error;
    }
  }

  /** Writes the gathered updates to their spool; they count once all their bytes are there. */
  private spoolUpdates(): void {
    if (this.pendingUpdateCount === 0) return;
    const b = Buffer.from(this.pendingUpdates.join(''));
    const count = this.pendingUpdateCount;
    this.pendingUpdates = [];
    this.pendingUpdateChars = 0;
    this.pendingUpdateCount = 0;
    if (this.spoolFd < 0) this.spoolFd = openSync(join(this.dir(), 'updates.json'), 'w+');
    for (let o = 0; o < b.length; ) o += writeSync(this.spoolFd, b, o, b.length - o, this.spoolBytes + o);
    this.spoolBytes += b.length;
    this.updates += count;
  }

  /**
   * Closes the capture's object with its figures (or its error, when reading failed). Called
   * again after a failure part way (with the error), it closes what the first call left open.
   */
  async endCapture(file: string, r: CaptureReport | null, error: string | null, drain: () => Promise<void> | undefined): Promise<void> {
    if (!r && !this.captureOpen) return; // nothing was written for it: it is left out, as before
    this.beginCapture(file);
    if (this.phase === 'messages') this.closeConnection();
    // Connections that ended and were not let go yet (the analysis stopped early, or no one
    // said): written now, as they are, in the order they ended.
    if (this.phase === 'connections' && this.ended.size > 0) {
      try {
        const ended = [...this.ended.values()];
        this.ended.clear();
        for (const e of ended) this.writeEnded(e);
      } catch (e) {
        this.failed ??= e as Error;
        if ((this.phase as Phase) === 'messages') this.closeConnection();
      }
    }
    if (this.phase === 'connections') {
      // Connections still open when the capture stopped early were never written: their
      // spools go with the folder.
      this.put(`\n], "updates": [`);
      this.phase = 'updates';
      try {
        this.spoolUpdates();
      } catch (e) {
        this.failed ??= e as Error;
      }
      if (this.spoolFd >= 0) {
        await this.copyFd(this.spoolFd, this.spoolBytes, drain);
        this.closeSpool();
        rmSync(join(this.dir(), 'updates.json'), { force: true });
      }
    }
    if (this.phase === 'updates') {
      this.put('\n], ');
      this.phase = 'summary';
      this.fields = 0;
    }
    // The figures, a field at a time, as JSON.stringify would write the object: the lists
    // (warnings, comments) an element at a time, so that no string grows with them.
    const summary = r ? captureSummaryJson(r) : { error };
    if (r && this.fields === 0) {
      for (const [key, value] of Object.entries(summary)) {
        if (value === undefined) continue;
        const name = `${this.fields ? ',' : ''}${safeJson(key)}:`;
        if (Array.isArray(value) && (key === 'warnings' || key === 'comments')) {
          this.put(`${name}[`);
          value.forEach((v, i) => this.put(`${i ? ',' : ''}${safeJson(v)}`));
          this.put(']');
        } else this.put(`${name}${safeJson(value)}`);
        this.fields++;
      }
    } else if (!r) {
      // A second call, after the figures failed part way: the error closes the object.
      this.put(`${this.fields ? ',' : ''}"error":${safeJson(error)}`);
    }
    this.put('}');
    this.flush();
    this.captureOpen = false;
  }

  end(): void {
    this.removeSpool();
    this.out.write(`${this.capturesWritten ? '\n' : ''}]}\n`);
  }

  /** Lets go of the spool folder without finishing the document (the run stopped). */
  dispose(): void {
    this.removeSpool();
  }

  private put(s: string): void {
    this.pieces.push(s);
    this.pieceChars += s.length;
    if (this.pieceChars >= PIECE) this.flush();
  }

  private flush(): void {
    if (this.pieces.length === 0) return;
    const s = this.pieces.length === 1 ? this.pieces[0] : this.pieces.join('');
    this.pieces = [];
    this.pieceChars = 0;
    this.out.write(s);
  }

  private beginCapture(file: string): void {
    if (this.captureOpen) return;
    this.captureOpen = true;
    this.phase = 'connections';
    this.fields = 0;
    this.current = null;
    this.connectionsWritten = 0;
    this.updates = 0;
    this.spoolBytes = 0;
    this.pendingUpdates = [];
    this.pendingUpdateChars = 0;
    this.pendingUpdateCount = 0;
    this.failed = null;
    this.open.clear();
    this.ended.clear();
    this.endedChars = 0;
    this.put(`${this.capturesWritten++ ? ',' : ''}\n{"file": ${safeJson(file)}, "connections": [`);
    this.flush();
  }

  private closeSpool(): void {
    if (this.spoolFd >= 0) closeSync(this.spoolFd);
    this.spoolFd = -1;
  }

  /** Removes the spool folder: once the document is complete, or the run has stopped. */
  private removeSpool(): void {
    this.closeSpool();
    if (this.spoolDir) {
      try {
        rmSync(this.spoolDir, { recursive: true, force: true });
        liveSpools.delete(this.spoolDir);
      } catch {
        // Left for removeSpools() at exit.
      }
    }
    this.spoolDir = null;
  }
}
