import { closeSync, constants as fsConstants, fstatSync, ftruncateSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { analyzeFile, type AnalyzeOptions, type CaptureReport } from './analyze.js';
import { CaptureError } from './capture/types.js';
import { LIMITS } from './limits.js';
import { KeyLog } from './dissect/tls/keylog.js';
import { DEFAULT_DISSECT_OPTIONS } from './dissect/types.js';
import { renderHtml, type HtmlCapture } from './report/html.js';
import { captureSummaryJson, messageJson, SCHEMA_VERSION, updateJson } from './report/json.js';
import { readLadder } from './report/ladder.js';
import { JsonStreamWriter } from './report/jsonstream.js';
import { PayloadPrinter, payloadsHeader } from './report/payloads.js';
import { safeJson, safeLine } from './report/sanitize.js';
import { renderStats, STATS_FORMATS, statsTables, type StatsFormat } from './report/stats.js';
import { connectionsText, warningText, writeSummary } from './report/summary.js';

export { removeSpools } from './report/jsonstream.js';

interface Writable {
  /** Text, or bytes already encoded as UTF-8 (--payloads renders straight to bytes). */
  write(s: string | Uint8Array): unknown;
  writableNeedDrain?: boolean;
  once?(event: 'drain', fn: () => void): unknown;
}

interface Flags {
  stats?: StatsFormat;
  payloads?: boolean;
  json?: boolean;
  ndjson?: boolean;
  warnings: number;
  maxMemory: number;
  maxPayload?: number;
  keylog?: string[];
  html?: string;
  connections?: boolean;
}

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** --warnings: a whole number, 0 or more. */
export function parseCount(s: string): number {
  const t = s.trim();
  if (!/^\d+$/.test(t)) throw new InvalidArgumentError('Expected a whole number, 0 or more.');
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('Too large.');
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * --max-memory: bytes, or a number with K, M, G or T (powers of 1024, as memory is counted;
 * KB, KiB and the like mean the same), at least one byte.
 */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?$/i.exec(s.trim());
  if (!m) throw new InvalidArgumentError('Expected a size such as 256M or 1G.');
  const bytes = Math.floor(parseFloat(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]);
  if (bytes < 1) throw new InvalidArgumentError('Expected at least one byte.');
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('Too large.');
  return bytes;
}

/** --max-payload's ceiling: what one message may keep to show is far below the memory budget. */
const MAX_PAYLOAD = 16 * 2 ** 20;

const HELP_AFTER = `
Examples:
  sockstat capture.pcap                          summary, overall table, one update's cost
  sockstat --stats markdown a.pcap b.pcap        the statistics tables, ready to paste
  sockstat --payloads capture.pcap               what each side sent, in order
  sockstat --json capture.pcap > report.json     everything, as one JSON document
  sockstat --html report.html a.pcap b.pcap      a self-contained web page of the captures side by side
  sockstat --ndjson capture.pcap | jq 'select(.kind=="ws-message") | .text'
  tcpdump -U -w - port 8080 | sockstat -         a capture read from standard input as it comes
  sockstat --max-memory 1G big.pcapng            a larger memory budget for a big capture

Exit status:
  0  every capture was read whole
  1  a capture could not be read or was cut off, or the output could not be written
     (each such file gets one line on stderr, "sockstat: FILE: what is wrong", and the
     other files are still analysed)
  2  usage error
`;

function program(stdout: Writable, stderr: (s: string) => void): Command {
  return new Command()
    .name('sockstat')
    .description('What realtime web traffic costs on the wire: reads pcap/pcapng captures, reassembles TCP, dissects HTTP/1.x, SSE and WebSocket, and counts packets and bytes per update.')
    .version(version(), '-V, --version')
    .argument('<capture...>', 'capture files (pcap, pcapng, gzip-compressed or not); - reads standard input')
    .addOption(new Option('--stats <format>', 'print only the statistics tables, one row per capture').choices(STATS_FORMATS))
    .option('--payloads', 'print the reconstructed application payloads of each connection')
    // A machine-readable output is the whole of stdout: it cannot share it with another.
    .addOption(new Option('--json', 'print everything as one JSON document').conflicts(['ndjson', 'stats', 'payloads']))
    .addOption(new Option('--ndjson', 'print one JSON line per message as it is found').conflicts(['stats', 'payloads']))
    .option('--connections', 'also print a table of the connections: endpoints, protocol, start, duration, packets and bytes each way, messages, updates, steady update (in --stats\'s format with --stats; --json always carries them)')
    .option('--html <file>', 'write a self-contained HTML report of the captures, side by side, to <file> (goes with any other output)')
    .addOption(new Option('--warnings <n>', 'warnings to print per capture').argParser(parseCount).default(10))
    .addOption(
      new Option('--keylog <file>', 'TLS key log (NSS format: SSLKEYLOGFILE) to decrypt TLS with; repeatable. Without it, $SSLKEYLOGFILE is read when set')
        .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
    )
    .addOption(
      new Option('--max-memory <size>', "memory budget of each capture's analysis, e.g. 512M or 2G (K, M, G: powers of 1024); past it, what is kept only for display is let go, with a warning, and counting goes on")
        .argParser(parseSize)
        .default(LIMITS.memoryBudget, `${LIMITS.memoryBudget / 2 ** 20}M`),
    )
    .addOption(
      new Option('--max-payload <size>', `bytes of each message, body or frame payload kept to show (--payloads, --json, --ndjson), e.g. 4K or 1M, at most ${MAX_PAYLOAD / 2 ** 20}M; the rest is counted, and every cut says so`)
        .argParser((v: string) => {
          const n = parseSize(v);
          if (n > MAX_PAYLOAD) throw new InvalidArgumentError(`At most ${MAX_PAYLOAD / 2 ** 20}M.`);
          return n;
        })
        .default(undefined, `${DEFAULT_DISSECT_OPTIONS.maxKeptBytes / 1024}K`),
    )
    .addHelpText('after', HELP_AFTER)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => stdout.write(s),
      // Usage errors read like every other sockstat error: one line, naming the tool. They
      // quote the arguments, which may hold anything: escaped like capture text.
      writeErr: (s) => stderr(s.startsWith('error: ') ? `sockstat: ${safeLine(s.slice(7).trimEnd().replace(/\s*\n\s*/g, ' '))} (see sockstat --help)\n` : s),
    });
}

/**
 * Standard output as sockstat writes it: a write that throws (a full disk, a closed file
 * descriptor) is remembered, and every later write is dropped; the run then stops.
 */
class Output implements Writable {
  failed: Error | null = null;
  constructor(private readonly to: Writable) {}

  write(s: string | Uint8Array): unknown {
    if (this.failed) return false;
    try {
      return this.to.write(s);
    } catch (e) {
      this.failed = e instanceof Error ? e : new Error(String(e));
      return false;
    }
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function internal(e: unknown): string {
  return `internal error: ${messageOf(e)} (please report this with the capture)`;
}

/** Runs sockstat; returns the exit status: 0 all read, 1 some input unreadable or cut off (or output failed), 2 usage. */
export async function main(argv: string[], stdout: Writable, stderr: Writable): Promise<number> {
  const err = (s: string) => {
    try {
      stderr.write(s);
    } catch {
      // Standard error is gone too: there is nowhere left to say anything.
    }
  };
  const prog = program(stdout, err);
  let flags: Flags;
  try {
    prog.parse(argv, { from: 'user' });
    flags = prog.opts<Flags>();
    // CSV and JSON are for machines: neither can share stdout with the payloads. (The table
    // and markdown follow the payloads, for a reader.)
    if (flags.payloads && (flags.stats === 'csv' || flags.stats === 'json')) {
      prog.error(`error: option '--payloads' cannot be used with option '--stats ${flags.stats}'`, { exitCode: 2, code: 'sockstat.conflictingOption' });
    }
    if (flags.html === '-' || flags.html === '') {
      prog.error("error: option '--html <file>' needs a file name: the page is written to a file, not to standard output", { exitCode: 2, code: 'sockstat.invalidArgument' });
    }
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    err(`sockstat: ${safeLine(internal(e))}\n`);
    return 1;
  }

  // The HTML report's file is opened first: a file that cannot be written fails the run
  // before any capture is read.
  let htmlFd: number | null = null;
  if (flags.html !== undefined) {
    const opened = openHtmlFile(flags.html, prog.args);
    if ('error' in opened) {
      err(`sockstat: ${safeLine(flags.html)}: ${safeLine(opened.error)}\n`);
      return opened.status;
    }
    htmlFd = opened.fd;
  }

  const out = new Output(stdout);
  let json: JsonStreamWriter | null = null;
  const html: HtmlCapture[] | null = htmlFd !== null ? [] : null;
  try {
    json = flags.json ? new JsonStreamWriter(out) : null;
    let status = await analyzeAll(prog.args, flags, out, stdout, json, err, html);
    if (html && htmlFd !== null && !writeHtml(flags.html!, htmlFd, prog.args, await ladders(html), flags, err)) status = 1;
    if (out.failed) return outputFailed(out.failed, status, err);
    return status;
  } catch (e) {
    if (out.failed) return outputFailed(out.failed, 1, err);
    if (process.env.SOCKSTAT_DEBUG) err(`${(e as Error)?.stack}\n`);
    err(`sockstat: ${safeLine(internal(e))}\n`);
    return 1;
  } finally {
    json?.dispose();
    if (htmlFd !== null) closeSync(htmlFd);
  }
}

/** Why a file cannot be written, in a few words. */
function fileTrouble(e: unknown): string {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT': return 'no such directory';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'is a directory';
    case 'ENOSPC': return 'no space left on the device';
    case 'EROFS': return 'read-only file system';
    default: return messageOf(e);
  }
}

/**
 * Opens the --html file for writing without truncating it (that waits until the page is
 * ready, so a failed run leaves an old report whole); returns its descriptor, or what is wrong.
 */
function openHtmlFile(path: string, captures: string[]): { fd: number } | { error: string; status: number } {
  try {
    const target = statSync(path, { throwIfNoEntry: false });
    const same = (c: string) => {
      const s = c === '-' ? undefined : statSync(c, { throwIfNoEntry: false });
      return s !== undefined && s.dev === target!.dev && s.ino === target!.ino;
    };
    // The page must never overwrite a capture it reports on: a usage error.
    if (target?.isFile() && captures.some(same)) return { error: 'is a capture on the command line: the HTML report would overwrite it', status: 2 };
    return { fd: openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o666) };
  } catch (e) {
    return { error: `cannot write the HTML report: ${fileTrouble(e)}`, status: 1 };
  }
}

/** Each steady update's packets, read again from its capture for the ladder diagram. */
async function ladders(captures: HtmlCapture[]): Promise<HtmlCapture[]> {
  for (const c of captures) {
    const s = c.report?.steady;
    if (!s) continue;
    const client = c.report!.connections.find((k) => k.id === s.connection)?.client ?? null;
    try {
      c.ladder = await readLadder(c.file, s.frames, client);
    } catch (e) {
      c.ladder = { error: e instanceof CaptureError ? e.message : internal(e) };
    }
  }
  return captures;
}

/** Writes the page; false (the failure said on stderr) when it could not be written. */
function writeHtml(path: string, fd: number, files: string[], captures: HtmlCapture[], flags: Flags, err: (s: string) => void): boolean {
  // Captures after a failure of standard output were not analysed: the page says so.
  const all = [...captures, ...files.slice(captures.length).map((file): HtmlCapture => ({ file, report: null, failure: 'not analysed: the run stopped before it', ladder: null }))];
  let page: string;
  try {
    page = renderHtml(all, { maxWarnings: flags.warnings, version: version() });
  } catch (e) {
    err(`sockstat: ${safeLine(path)}: ${safeLine(internal(e))}\n`);
    return false;
  }
  try {
    // A regular file is emptied first; a pipe or a terminal (--html /dev/stdout) cannot be.
    if (fstatSync(fd).isFile()) ftruncateSync(fd, 0);
    writeFileSync(fd, page);
    return true;
  } catch (e) {
    err(`sockstat: ${safeLine(path)}: cannot write the HTML report: ${safeLine(fileTrouble(e))}\n`);
    return false;
  }
}

/**
 * The key logs given (or $SSLKEYLOGFILE), read once for every capture. A file that cannot be
 * read is an error of its own (the captures are still analysed, without its keys); a line that
 * cannot be read is a warning with its line number.
 */
function readKeyLogs(files: string[], fail: (file: string, message: string) => void, err: (s: string) => void): KeyLog | undefined {
  if (files.length === 0) return undefined;
  const keyLog = new KeyLog();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch (e) {
      fail(file, `cannot read the key log: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`);
      continue;
    }
    const r = keyLog.add(text, file);
    for (const m of r.malformed.slice(0, 10)) err(`sockstat: ${safeLine(file)}: warning: key log line ${m.line}: ${safeLine(m.reason)}\n`);
    if (r.malformed.length > 10) err(`sockstat: ${safeLine(file)}: warning: ${r.malformed.length - 10} more key log lines cannot be read\n`);
  }
  return keyLog;
}

/** Standard output failed: one line, unless its reader merely stopped reading (`| head`). */
function outputFailed(e: Error, status: number, err: (s: string) => void): number {
  if ((e as NodeJS.ErrnoException).code === 'EPIPE') return status;
  err(`sockstat: standard output: ${safeLine(messageOf(e))}\n`);
  return 1;
}

async function analyzeAll(files: string[], flags: Flags, out: Output, stdout: Writable, json: JsonStreamWriter | null, err: (s: string) => void, html: HtmlCapture[] | null): Promise<number> {
  const maxWarnings = flags.warnings;
  const wantMessages = !!(flags.json || flags.payloads);
  let status = 0;
  const reports: CaptureReport[] = [];
  const fail = (file: string, message: string) => {
    err(`sockstat: ${safeLine(file)}: ${safeLine(message)}\n`);
    status = 1;
  };
  const keyLog = readKeyLogs(flags.keylog ?? (process.env.SSLKEYLOGFILE ? [process.env.SSLKEYLOGFILE] : []), fail, err);

  /**
   * A failure while rendering inside the analysis (where a dissector's guard would take a
   * throw for its own): kept, and the analysis is stopped at its next chunk.
   */
  let renderFailed: Error | null = null;
  const guarded = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A) => {
    if (renderFailed) return;
    try {
      fn(...a);
    } catch (e) {
      renderFailed = e instanceof Error ? e : new Error(String(e));
    }
  };
  // Output that streams (--json, --payloads, --ndjson) must not outrun a slow reader of it.
  const outDrain = () => {
    if (out.failed) return Promise.reject(out.failed);
    return stdout.writableNeedDrain && stdout.once ? new Promise<void>((resolve) => stdout.once!('drain', resolve)) : undefined;
  };
  const drain = () => {
    const broken = renderFailed ?? json?.failed;
    return broken ? Promise.reject(broken) : outDrain();
  };

  for (const file of files) {
    if (out.failed) break;
    renderFailed = null;
    const options: AnalyzeOptions = {
      drain,
      collectMessages: wantMessages,
      dissect: { keepBytes: wantMessages || !!flags.ndjson, trace: wantMessages || !!flags.ndjson, keyLog, ...(flags.maxPayload !== undefined ? { maxKeptBytes: flags.maxPayload } : {}) },
      // The memory budget (LIMITS.memoryBudget unless --max-memory says otherwise).
      maxMemory: flags.maxMemory,
      // Each connection's own steady state: only where it is printed.
      connectionSteady: !!(flags.connections || flags.json),
    };
    if (json) {
      // Written as it goes: connections as they end, updates as they settle.
      const j = json;
      options.onMessages = (c, final) => j.connection(file, c, final);
      options.onUpdate = (u) => j.update(file, u);
      // A connection is written once let go: its figures then include the packets after its end.
      options.onConnectionDone = (c) => j.connectionDone(file, c);
      options.maxHeldMessages = 100;
    }
    if (flags.payloads && !flags.json) {
      // Messages are rendered as they come and printed as each connection ends: memory stays
      // bounded whatever the capture's size, and no message is held with its bytes.
      let headed = false;
      const printer = new PayloadPrinter((b) => {
        if (!headed) out.write(payloadsHeader(file));
        headed = true;
        out.write(b);
      });
      options.collectMessages = false;
      // Alone, --payloads prints no figure: counting updates would be work thrown away.
      if (!flags.stats && !flags.html && !flags.connections) options.updates = false;
      options.onMessage = guarded((c, m) => printer.message(c, m));
      options.onMessages = guarded((c, final) => printer.connection(c, final));
      // Gaps, cuts and differing copies, inline where they happened (issue 13.7).
      options.onStreamNote = guarded((c, _dir, _frame, note) => printer.note(c, note));
    }
    if (flags.ndjson) {
      // A record per message, warning and update as each is found, and one per capture at its
      // end with the figures of the tables: a streaming reader gets everything (issue 13.7).
      options.onMessage = guarded((c, m) => out.write(safeJson({ file, connection: c.id, client: c.client, server: c.server, ...messageJson(m) }) + '\n'));
      options.onWarning = guarded((frame, code, message) => out.write(safeJson({ file, kind: 'warning', frame, code, message }) + '\n'));
      options.onUpdate = guarded((u) => out.write(safeJson({ file, kind: 'update', ...updateJson(u) }) + '\n'));
    }

    let report: CaptureReport | null = null;
    let failure: string | null = null;
    try {
      report = await analyzeFile(file, options);
    } catch (e) {
      if (out.failed) break;
      failure = e instanceof CaptureError ? e.message : internal(e);
      if (!(e instanceof CaptureError) && process.env.SOCKSTAT_DEBUG) err(`${(e as Error).stack}\n`);
    }
    // What stopped the analysis from inside says more than the analysis's own error.
    const broken: Error | null = renderFailed ?? json?.failed ?? null;
    if (broken) {
      failure = json?.failed === broken ? `cannot write the --json output: ${messageOf(broken)}` : internal(broken);
      report = null;
    }
    try {
      if (!report) {
        fail(file, failure!);
        html?.push({ file, report: null, failure, ladder: null });
        if (flags.ndjson) out.write(safeJson({ schemaVersion: SCHEMA_VERSION, file, kind: 'capture', error: failure }) + '\n');
        await json?.endCapture(file, null, failure, outDrain);
        continue;
      }
      await output(file, report);
    } catch (e) {
      if (out.failed) break;
      fail(file, internal(e));
      html?.push({ file, report: null, failure: internal(e), ladder: null });
      // The capture's object is closed, with the error, whatever part of it was written.
      try {
        await json?.endCapture(file, null, internal(e), outDrain);
      } catch {
        // The document cannot be mended: the error line says why.
      }
      continue;
    }
    if (report.error) fail(file, report.error);
    html?.push({ file, report, failure: report.error, ladder: null });
    reports.push(report);
  }

  async function output(file: string, report: CaptureReport): Promise<void> {
    await json?.endCapture(file, report, null, outDrain);
    if (flags.ndjson) out.write(safeJson({ schemaVersion: SCHEMA_VERSION, file, kind: 'capture', ...captureSummaryJson(report) }) + '\n');
    // --html writes a file: alone, it leaves standard output empty.
    if (!flags.json && !flags.stats && !flags.ndjson && (flags.payloads || !flags.html)) {
      if (flags.payloads) out.write('\n');
      else {
        if (reports.length > 0) out.write('\n');
        writeSummary(report, maxWarnings, (s) => out.write(s));
      }
      if (flags.connections) out.write(`${flags.payloads ? '' : '\n'}${connectionsText(report)}`);
    } else if (flags.connections && !flags.json && !flags.stats && !flags.ndjson) {
      // --html with --connections: the table alone on stdout.
      out.write(`${reports.length > 0 ? '\n' : ''}${connectionsText(report)}`);
    } else if (flags.stats && !flags.json) {
      // The tables are drawn once, for every capture, at the end: a capture whose rows cannot
      // be drawn fails here, under its own name, and the others are drawn without it.
      statsTables([report]);
      const n = Math.min(maxWarnings, report.warnings.length);
      for (let i = 0; i < n; i++) {
        const w = report.warnings[i];
        err(`sockstat: ${safeLine(file)}: warning: ${w.frame !== null ? `frame ${w.frame}: ` : ''}${warningText(w.message)}\n`);
      }
      if (report.warningCount > n) err(`sockstat: ${safeLine(file)}: ${report.warningCount - n} more warnings\n`);
    }
  }

  if (json && !out.failed) json.end();
  // JSON is always a document, even of no capture (every file failed); the tables are not drawn empty.
  if (flags.stats && !flags.json && (reports.length > 0 || flags.stats === 'json') && !out.failed) {
    try {
      out.write(renderStats(reports, flags.stats, { connections: flags.connections }));
    } catch (e) {
      if (!out.failed) {
        err(`sockstat: ${safeLine(internal(e))}\n`);
        status = 1;
      }
    }
  }
  return status;
}
