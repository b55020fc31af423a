import { createRequire } from 'node:module';
import type TableType from 'cli-table3';
import type { CaptureReport } from '../analyze.js';
import { connectionFiguresJson, SCHEMA_VERSION, steadyJson, usefulPercent } from './json.js';
import { FIGURE_COLUMNS, type Figures } from '../analysis/figures.js';
import type { DirectionBytes } from '../analysis/accounting.js';
import { safeJson, safeLine } from './sanitize.js';

const require = createRequire(import.meta.url);

export type StatsFormat = 'table' | 'markdown' | 'csv' | 'json';
export const STATS_FORMATS: StatsFormat[] = ['table', 'markdown', 'csv', 'json'];

export interface StatsTable {
  key: 'overall' | 'perUpdate' | 'serverToClient' | 'overhead' | 'bytes' | 'connections';
  title: string;
  columns: string[];
  rows: Array<[string, ...Array<number | string>]>;
  /** A line under the table, when some captures have no row in it. */
  note?: string;
}

const OVERHEAD_COLUMNS = ['Link+IP Bytes', 'TCP Header Bytes', 'App Framing Bytes', 'Payload Bytes', 'Useful %'];

/** Layers whose framing the byte-accounting table shows, in the order they nest; plain TCP bytes have none. */
export const FRAMING_LAYERS: ReadonlyArray<[string, string]> = [
  ['tls', 'TLS'],
  ['http', 'HTTP'],
  ['http2', 'HTTP/2'],
  ['websocket', 'WebSocket'],
  ['sse', 'SSE'],
];

/** What a direction's bytes come to, summed over its layers. */
export function layerSums(d: DirectionBytes): { payload: number; lost: number; framing: Record<string, number> } {
  let payload = 0;
  let lost = 0;
  const framing: Record<string, number> = {};
  for (const [name, l] of Object.entries(d.layers)) {
    payload += l.payload;
    lost += l.lost;
    framing[name] = (framing[name] ?? 0) + l.framing;
  }
  return { payload, lost, framing };
}

/** The framing layers some capture has bytes of: the table shows only those. */
export function framingLayersOf(ds: DirectionBytes[]): Array<[string, string]> {
  return FRAMING_LAYERS.filter(([name]) => ds.some((d) => (d.layers[name]?.framing ?? 0) > 0));
}

const DIRECTIONS = [['client', 'client to server'], ['server', 'server to client']] as const;

/** The CSV columns of a `connection` row, in the order of CONNECTION_COLUMNS. */
const CONNECTION_CSV = ['connection_id', 'client', 'server', 'protocol', 'start_seconds', 'duration_seconds', 'c2s_packets', 'c2s_frame_bytes', 's2c_packets', 's2c_frame_bytes', 'messages', 'updates', 'steady_update', 'steady_total_packets', 'steady_frame_bytes'];

/** A capture's file name without its directories, as the tables show it. */
export function captureName(file: string): string {
  const parts = file.split(/[\\/]/);
  return parts[parts.length - 1] || file;
}

function figureRow(name: string, f: Figures): [string, ...Array<number | string>] {
  return [name, ...FIGURE_COLUMNS.map(([k]) => f[k])];
}


/** The columns of the per-connection table (--connections), after the capture's name where there is one. */
export const CONNECTION_COLUMNS = ['ID', 'Client', 'Server', 'Protocol', 'Start (s)', 'Duration (s)', 'C->S Packets', 'C->S Bytes', 'S->C Packets', 'S->C Bytes', 'Messages', 'Updates', 'Steady Update', 'Steady Packets', 'Steady Bytes'];

/**
 * One row per connection the report lists (the first 1,000 of a capture unless every one is
 * kept): its endpoints, what it carried, when it started (seconds from the capture's first
 * packet) and how long it lasted, packets and frame bytes each way, messages, updates, and its
 * own steady update (its index, packets and frame bytes; '-' without updates).
 */
export function connectionRows(r: CaptureReport): Array<Array<string | number>> {
  return r.connections.map((c) => {
    const t = c.traffic;
    const s = t.steady();
    return [c.id, c.client, c.server, c.protocol, t.start.toFixed(6), t.duration.toFixed(6), t.toServer.packets, t.toServer.frameBytes, t.toClient.packets, t.toClient.frameBytes, c.messageCount, t.updateCount, s ? s.update : '-', s ? s.totalPackets : '-', s ? s.frameBytes : '-'];
  });
}

/** The line under a capture's per-connection table when it lists fewer connections than the capture had; undefined otherwise. */
export function connectionsNote(r: CaptureReport): string | undefined {
  const more = r.connectionCount - r.connections.length;
  return more > 0 ? `${safeLine(captureName(r.file))}: ${more} more connection${more === 1 ? '' : 's'} not listed (the first ${r.connections.length} are; --json lists them all)` : undefined;
}

/** The per-connection table of every capture (--stats ... --connections). */
function connectionsTable(reports: CaptureReport[]): StatsTable {
  const notes = reports.map(connectionsNote).filter((n): n is string => n !== undefined);
  return {
    key: 'connections',
    title: 'Connections',
    columns: ['PCAP', ...CONNECTION_COLUMNS],
    rows: reports.flatMap((r) => connectionRows(r).map((row): [string, ...Array<number | string>] => [captureName(r.file), ...row])),
    note: notes.length ? notes.join('\n') : undefined,
  };
}

export interface StatsOptions {
  /** The per-connection table too (--connections). */
  connections?: boolean;
}

/** The write-up's three tables, one row per capture, then where one update's bytes go. */
export function statsTables(reports: CaptureReport[]): StatsTable[] {
  const anyTls = hasTls(reports);
  const cols = ['PCAP', ...FIGURE_COLUMNS.map(([, t]) => t)];
  // The notes are printed as they are: the names in them are escaped here (the cells when printed).
  const noUpdates = reports.filter((r) => !r.steady).map((r) => safeLine(captureName(r.file)));
  const noPush = reports.filter((r) => r.steady && !r.steady.serverOnly).map((r) => safeLine(captureName(r.file)));
  return [
    { key: 'overall', title: 'Overall statistics', columns: cols, rows: reports.map((r) => figureRow(captureName(r.file), r.overall)) },
    {
      key: 'perUpdate',
      title: 'Per update statistics',
      columns: cols,
      rows: reports.filter((r) => r.steady).map((r) => figureRow(captureName(r.file), r.steady!.figures)),
      note: noUpdates.length ? `No updates found in ${noUpdates.join(', ')}.` : undefined,
    },
    {
      key: 'serverToClient',
      title: 'Per update, server to client only',
      columns: cols,
      rows: reports.filter((r) => r.steady?.serverOnly).map((r) => figureRow(captureName(r.file), r.steady!.serverOnly!)),
      note: noPush.length ? `Not for ${noPush.join(', ')}: request/response only, the server cannot push.` : undefined,
    },
    {
      key: 'overhead',
      title: 'Where the bytes of one update go',
      // A TLS column only when a capture has TLS framing: cleartext tables stay as they were.
      columns: ['PCAP', ...OVERHEAD_COLUMNS.slice(0, 2), ...(anyTls ? ['TLS Framing Bytes'] : []), ...OVERHEAD_COLUMNS.slice(2)],
      rows: reports.filter((r) => r.steady).map((r) => {
        const o = r.steady!.overhead;
        return [captureName(r.file), o.linkNet, o.tcpHeaders, ...(anyTls ? [o.tls ?? 0] : []), o.framing, o.payload, usefulPercent(o).toFixed(1)];
      }),
    },
    bytesTable(reports),
  ];
}

/**
 * Where every byte of the TCP packets went, per direction: the columns of a row add up to the
 * direction's Frame Bytes. Lost bytes were never captured: beside the sum, not in it.
 */
function bytesTable(reports: CaptureReport[]): StatsTable {
  const layers = framingLayersOf(reports.flatMap((r) => [r.bytes.client, r.bytes.server]));
  return {
    key: 'bytes',
    title: 'Where the bytes go, by layer',
    columns: ['PCAP', 'Direction', 'Link+IP Bytes', 'TCP Header Bytes', 'Resent Bytes', ...layers.map(([, t]) => `${t} Framing Bytes`), 'Payload Bytes', 'Unclaimed Bytes', 'Lost Bytes'],
    rows: reports.flatMap((r) => DIRECTIONS.map(([key, name]): [string, ...Array<number | string>] => {
      const d = r.bytes[key];
      const sums = layerSums(d);
      return [captureName(r.file), name, d.linkNet, d.tcpHeaders, d.notDelivered, ...layers.map(([l]) => sums.framing[l] ?? 0), sums.payload, d.unclaimed, d.lostInGaps];
    })),
  };
}

function cell(v: string | number): string {
  return typeof v === 'number' ? String(v) : safeLine(v);
}

export function markdownTable(columns: string[], rows: Array<Array<string | number>>): string {
  const cells = [columns, ...rows.map((r) => r.map(cell))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i].replace(/\|/g, '\\|').length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.replace(/\|/g, '\\|').padEnd(widths[i])).join(' | ') + ' |';
  return [line(columns), '| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |', ...cells.slice(1).map(line)].join('\n');
}

export function terminalTable(columns: string[], rows: Array<Array<string | number>>): string {
  // No colours: output must be the same on a terminal, in a pipe and in golden files.
  // Loaded on first use: the other outputs need no table library, and it costs 10 ms to load.
  const Table = require('cli-table3') as typeof TableType;
  const t = new Table({ head: columns, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map(cell));
  return t.toString();
}

/**
 * A CSV cell. A text cell a spreadsheet would take for a formula (one starting with =, +, -,
 * @, TAB or CR; a file name can) is neutralised as OWASP's "CSV Injection" advice says: a
 * single quote before it, and the cell quoted.
 */
export function csvField(v: string | number): string {
  const s = cell(v);
  // "-" alone (standard input's name) cannot be read as a formula.
  if (typeof v === 'string' && s !== '-' && /^[=+\-@\t\r]/.test(s)) return `"'${s.replace(/"/g, '""')}"`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderStats(reports: CaptureReport[], format: StatsFormat, options: StatsOptions = {}): string {
  const tables = statsTables(reports);
  // The per-connection table (--connections) goes last, after the capture's own tables.
  if (options.connections && format !== 'csv' && format !== 'json') tables.push(connectionsTable(reports));
  switch (format) {
    case 'markdown':
      return tables
        .filter((t) => t.rows.length > 0 || t.key === 'overall')
        .map((t) => `### ${t.title}\n\n${markdownTable(t.columns, t.rows)}\n${t.note ? `\n${t.note}\n` : ''}`)
        .join('\n');
    case 'table':
      return tables
        .filter((t) => t.rows.length > 0 || t.key === 'overall')
        .map((t) => `${t.title}\n${terminalTable(t.columns, t.rows)}\n${t.note ? `${t.note}\n` : ''}`)
        .join('\n');
    case 'csv': {
      const anyTls = hasTls(reports);
      const overheadNames = ['link_ip_bytes', 'tcp_header_bytes', ...(anyTls ? ['tls_framing_bytes'] : []), 'app_framing_bytes', 'payload_bytes', 'useful_percent'];
      // The byte-accounting rows: every framing layer always has its column, so a script's columns do not move.
      const layerNames = FRAMING_LAYERS.map(([l]) => `${l}_layer_framing_bytes`);
      const bytesNames = ['direction', 'resent_bytes', ...layerNames, 'layer_payload_bytes', 'unclaimed_bytes', 'lost_bytes'];
      // With --connections, rows `connection` with columns of their own after all the others (absent otherwise, so scripts' columns do not move).
      const connNames = options.connections ? CONNECTION_CSV : [];
      const lines = ['table,pcap,' + ['total_packets', 'app_packets', 'frame_bytes', 'tcp_bytes', 'app_bytes', ...overheadNames, ...bytesNames, ...connNames].join(',')];
      const blank = (n: number) => new Array<string>(n).fill('');
      for (const t of tables) {
        if (t.key === 'bytes') continue;
        for (const [name, ...nums] of t.rows) {
          const values = t.key === 'overhead' ? [...blank(5), ...nums, ...blank(bytesNames.length + connNames.length)] : [...nums, ...blank(overheadNames.length + bytesNames.length + connNames.length)];
          lines.push([t.key, csvField(name), ...values.map((v) => (v === '' ? '' : csvField(v)))].join(','));
        }
      }
      for (const r of reports) {
        for (const [key, name] of DIRECTIONS) {
          const d = r.bytes[key];
          const sums = layerSums(d);
          const o: Record<string, number | string> = { link_ip_bytes: d.linkNet, tcp_header_bytes: d.tcpHeaders };
          const shared = overheadNames.map((n) => o[n] ?? '');
          const own = [name, d.notDelivered, ...FRAMING_LAYERS.map(([l]) => sums.framing[l] ?? 0), sums.payload, d.unclaimed, d.lostInGaps];
          lines.push(['bytes', csvField(captureName(r.file)), ...blank(5), ...shared, ...own, ...blank(connNames.length)].map((v) => (v === '' ? '' : csvField(v))).join(','));
        }
      }
      if (options.connections) {
        for (const r of reports) {
          for (const row of connectionRows(r)) {
            const cells = row.map((v) => (v === '-' ? '' : v));
            lines.push(['connection', csvField(captureName(r.file)), ...blank(5 + overheadNames.length + bytesNames.length), ...cells.map((v) => (v === '' ? '' : csvField(v)))].join(','));
          }
        }
      }
      return lines.join('\n') + '\n';
    }
    case 'json': {
      // The names of --json (issue 13.11): one set of names for one set of figures. These are
      // the fields of a capture's --json object that the three tables show.
      const out = reports.map((r) => ({
        file: r.file,
        overall: r.overall,
        updateCount: r.updateCount,
        steadyState: steadyJson(r.steady),
        steadyByProtocol: r.steadyByProtocol.map((t) => ({ protocol: t.protocol, updateCount: t.updateCount, steadyState: steadyJson(t.steady) })),
        bytes: r.bytes,
        // With --connections: the connections the report lists, each with its figures (those of --json's connections).
        ...(options.connections ? {
          connections: r.connections.map((c) => ({ id: c.id, client: c.client, server: c.server, protocol: c.protocol, firstFrame: c.firstFrame, rolesGuessed: c.rolesGuessed, ...connectionFiguresJson(c) })),
          ...(r.connectionCount > r.connections.length ? { connectionsNotListed: r.connectionCount - r.connections.length } : {}),
        } : {}),
      }));
      return safeJson({ schemaVersion: SCHEMA_VERSION, captures: out }, 2) + '\n';
    }
  }
}

/** Some capture's steady update carries TLS framing (the tables then show a column for it). */
function hasTls(reports: CaptureReport[]): boolean {
  return reports.some((r) => (r.steady?.overhead.tls ?? 0) > 0);
}

/** Frame numbers as a reader writes them: runs of three or more as first-last, the rest listed ("6, 8, 10-14"). */
export function frameList(frames: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < frames.length; ) {
    let j = i;
    while (j + 1 < frames.length && frames[j + 1] === frames[j] + 1) j++;
    out.push(j - i >= 2 ? `${frames[i]}-${frames[j]}` : frames.slice(i, j + 1).join(', '));
    i = j + 1;
  }
  return out.join(', ');
}
