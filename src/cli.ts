import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { analyzeFile, type AnalyzeOptions, type CaptureReport } from './analyze.js';
import { CaptureError } from './capture/types.js';
import { messageJson } from './report/json.js';
import { JsonStreamWriter } from './report/jsonstream.js';
import { PayloadPrinter, payloadsHeader } from './report/payloads.js';
import { safeJson, safeLine } from './report/sanitize.js';
import { renderStats, STATS_FORMATS, type StatsFormat } from './report/stats.js';
import { renderSummary } from './report/summary.js';

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
  warnings: string;
}

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

function program(stdout: Writable, stderr: Writable): Command {
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
    .option('--warnings <n>', 'warnings to print per capture', '10')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => stdout.write(s),
      // Usage errors read like every other sockstat error: one line, naming the tool.
      writeErr: (s) => stderr.write(s.startsWith('error: ') ? `sockstat: ${s.slice(7).trimEnd()} (see sockstat --help)\n` : s),
    });
}

/** Runs sockstat; returns the exit status: 0 all read, 1 some input unreadable or cut off, 2 usage. */
export async function main(argv: string[], stdout: Writable, stderr: Writable): Promise<number> {
  const prog = program(stdout, stderr);
  try {
    prog.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  const flags = prog.opts<Flags>();
  const files = prog.args;
  const maxWarnings = Math.max(0, parseInt(flags.warnings, 10) || 0);
  const wantMessages = !!(flags.json || flags.payloads);
  let status = 0;
  const reports: CaptureReport[] = [];
  const fail = (file: string, message: string) => {
    stderr.write(`sockstat: ${safeLine(file)}: ${safeLine(message)}\n`);
    status = 1;
  };

  // Output that streams (--json, --payloads, --ndjson) must not outrun a slow reader of it.
  const drain = () => (stdout.writableNeedDrain && stdout.once ? new Promise<void>((resolve) => stdout.once!('drain', resolve)) : undefined);
  const json = flags.json ? new JsonStreamWriter(stdout) : null;

  for (const file of files) {
    const options: AnalyzeOptions = {
      drain,
      collectMessages: wantMessages,
      dissect: { keepBytes: wantMessages || !!flags.ndjson, trace: wantMessages || !!flags.ndjson },
    };
    if (json) {
      // Written as it goes: connections as they end, updates as they settle.
      options.onMessages = (c, final) => json.connection(file, c, final);
      options.onUpdate = (u) => json.update(file, u);
      options.maxHeldMessages = 1000;
    }
    if (flags.payloads && !flags.json) {
      // Messages are rendered as they come and printed as each connection ends: memory stays
      // bounded whatever the capture's size, and no message is held with its bytes.
      let headed = false;
      const printer = new PayloadPrinter((b) => {
        if (!headed) stdout.write(payloadsHeader(file));
        headed = true;
        stdout.write(b);
      });
      options.collectMessages = false;
      // Alone, --payloads prints no figure: counting updates would be work thrown away.
      if (!flags.stats) options.updates = false;
      options.onMessage = (c, m) => printer.message(c, m);
      options.onMessages = (c, final) => printer.connection(c, final);
    }
    if (flags.ndjson) {
      options.onMessage = (c, m) => stdout.write(safeJson({ file, connection: c.id, client: c.client, server: c.server, ...messageJson(m) }) + '\n');
    }
    let report: CaptureReport;
    try {
      report = await analyzeFile(file, options);
    } catch (e) {
      const message = e instanceof CaptureError ? e.message : `internal error: ${(e as Error).message} (please report this with the capture)`;
      fail(file, message);
      if (!(e instanceof CaptureError) && process.env.SOCKSTAT_DEBUG) stderr.write(`${(e as Error).stack}\n`);
      await json?.endCapture(file, null, message, drain);
      continue;
    }
    await json?.endCapture(file, report, null, drain);
    if (!flags.json && !flags.stats && !flags.ndjson) {
      if (flags.payloads) stdout.write('\n');
      else stdout.write((reports.length > 0 ? '\n' : '') + renderSummary(report, maxWarnings));
    } else if (flags.stats && !flags.json) {
      for (const w of report.warnings.slice(0, maxWarnings)) stderr.write(`sockstat: ${safeLine(file)}: warning: ${w.frame !== null ? `frame ${w.frame}: ` : ''}${safeLine(w.message)}\n`);
      if (report.warningCount > maxWarnings) stderr.write(`sockstat: ${safeLine(file)}: ${report.warningCount - Math.min(maxWarnings, report.warnings.length)} more warnings\n`);
    }
    if (report.error) fail(file, report.error);
    reports.push(report);
  }

  json?.end();
  if (flags.stats && !flags.json && reports.length > 0) stdout.write(renderStats(reports, flags.stats));
  return status;
}
