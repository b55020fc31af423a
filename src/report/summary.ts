import type { CaptureReport } from '../analyze.js';
import type { TlsInfo } from '../dissect/tls/layer.js';
import { FIGURE_COLUMNS, type Figures } from '../analysis/figures.js';
import { commentCount, usefulPercent } from './json.js';
import { captureName, CONNECTION_COLUMNS, connectionRows, connectionsNote, frameList, framingLayersOf, layerSums, terminalTable } from './stats.js';
import type { CadenceFigures } from '../analysis/cadence.js';
import { cut, safeLine } from './sanitize.js';

function figureCells(f: Figures): number[] {
  return FIGURE_COLUMNS.map(([k]) => f[k]);
}

function seconds(t: number): string {
  return `${t.toFixed(3)} s`;
}

function ms(t: number | null): string {
  return t === null ? '-' : `${(t * 1000).toFixed(3)} ms`;
}

/** Connections listed one by one in the summary. */
const MAX_SHOWN = 20;
/** Comments shown, and the characters shown of each: a capture may carry thousands. */
const COMMENTS_SHOWN = 5;
const COMMENT_CHARS = 200;
/** Characters shown of one warning: most are short, but some quote the capture. */
const WARNING_CHARS = 1000;

/** A warning as one terminal line's text: cut, then escaped. */
export function warningText(message: string): string {
  return safeLine(cut(message, WARNING_CHARS));
}

/** UTC time of an epoch timestamp; a capture's clock may be anything, so out-of-range ones are shown raw. */
function utc(epoch: number): string {
  const d = new Date(Math.floor(epoch * 1000));
  if (Number.isNaN(d.getTime())) return `epoch ${epoch} s (not a representable date)`;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}


/** The default report, as one string (for tests; sockstat itself streams it with writeSummary). */
export function renderSummary(r: CaptureReport, maxWarnings: number): string {
  const out: string[] = [];
  writeSummary(r, maxWarnings, (s) => out.push(s));
  return out.join('');
}

/** Lines gathered up to this many characters before they are written. */
const PIECE = 64 * 1024;

/**
 * The default report: what the capture holds, the overall figures, one update's cost. Written
 * a piece at a time; every part that grows with the capture is bounded before it is built.
 */
export function writeSummary(r: CaptureReport, maxWarnings: number, write: (s: string) => void): void {
  let out: string[] = [];
  let size = 0;
  const line = (s: string) => {
    out.push(s);
    size += s.length + 1;
    if (size >= PIECE) flush();
  };
  const flush = () => {
    if (out.length) write(out.join('\n') + '\n');
    out = [];
    size = 0;
  };
  const name = safeLine(captureName(r.file));
  line(`${name}: ${r.format ?? 'unknown format'}, ${r.linkTypes.join(' + ') || 'no interfaces'}, ${r.packets} packet${r.packets === 1 ? '' : 's'}` +
    (r.startTime !== null ? ` over ${seconds(r.duration)} from ${utc(r.startTime)}` : ''));
  const shown = Math.min(COMMENTS_SHOWN, r.comments.length);
  for (let i = 0; i < shown; i++) line(`  comment: ${safeLine(cut(r.comments[i], COMMENT_CHARS))}`);
  const moreComments = commentCount(r) - shown;
  if (moreComments > 0) line(`  ... ${moreComments} more comment${moreComments === 1 ? '' : 's'}`);
  const others = Object.entries(r.otherPackets);
  if (others.length) line(`Not TCP: ${others.map(([k, n]) => `${n} ${safeLine(k)}`).join(', ')}`);
  const protocols = Object.entries(r.protocols).sort((a, b) => b[1] - a[1]).map(([p, n]) => `${n} ${p}`);
  if (r.tlsKeys) {
    const from = [...r.tlsKeys.sources.filter((s) => !s.endsWith('(decryption secrets block)')).map((s) => safeLine(s)), ...(r.tlsKeys.secretsInCapture ? [`${r.tlsKeys.secretsInCapture} secrets in the capture's decryption secrets blocks`] : [])];
    line(`TLS keys: ${from.length ? from.join(', ') : 'none read'}`);
  }
  line(`TCP connections: ${r.connectionCount}${r.connectionCount > 1 ? ` (${protocols.join(', ')})` : ''}`);
  for (const c of r.connections.slice(0, MAX_SHOWN)) {
    const tls = c.layers?.tls as TlsInfo | undefined;
    const over = tls ? ` over ${safeLine(tls.version ?? 'TLS')}${tls.cipherSuite ? ` ${safeLine(tls.cipherSuite)}` : ''}${tls.sni ? ` to ${safeLine(tls.sni)}` : ''} (${tls.decrypted ? 'decrypted' : 'not decrypted'})` : '';
    line(`  #${c.id}  ${c.client} -> ${c.server}  ${c.protocol}${over}, ${c.messageCount} message${c.messageCount === 1 ? '' : 's'}, from frame ${c.firstFrame}${c.rolesGuessed ? ' (roles guessed: no handshake)' : ''}`);
  }
  if (r.connectionCount > MAX_SHOWN) line(`  ... and ${r.connectionCount - MAX_SHOWN} more (--json lists them all)`);
  const rs = r.reassembly;
  const trouble = [
    rs.retransmittedSegments ? `${rs.retransmittedSegments} retransmitted segments (${rs.retransmittedBytes} bytes)` : '',
    rs.outOfOrderSegments ? `${rs.outOfOrderSegments} out of order` : '',
    rs.overlapBytes ? `${rs.overlapBytes} overlapping bytes` : '',
    rs.gaps ? `${rs.gaps} gaps (${rs.gapBytes} bytes not captured)` : '',
  ].filter(Boolean);
  if (trouble.length) line(`TCP: ${trouble.join(', ')}`);
  line('');
  line('Overall');
  line(terminalTable(FIGURE_COLUMNS.map(([, t]) => t), [figureCells(r.overall)]));
  bytesByLayer(r, line);
  if (r.setupNotes.length > 0) {
    // What the update rule took for set-up rather than updates, and why: a reader can check it.
    line('');
    line('Set-up, outside every update:');
    for (const n of r.setupNotes.slice(0, 5)) line(`  connection #${n.connection}: ${safeLine(n.text)}`);
    if (r.setupNotes.length > 5) line(`  ... ${r.setupNotes.length - 5} more (--json lists them)`);
  }
  if (r.steady) {
    const s = r.steady;
    line('');
    line(`Updates: ${r.updateCount}; the steady state is update ${s.index} (frames ${frameList(s.frames)})`);
    const rows: Array<Array<string | number>> = [['Per update', ...figureCells(s.figures)]];
    if (s.serverOnly) rows.push(['Server to client only', ...figureCells(s.serverOnly)]);
    line(terminalTable(['', ...FIGURE_COLUMNS.map(([, t]) => t)], rows));
    const o = s.overhead;
    const total = s.figures.frameBytes;
    const pct = (n: number) => (total ? `${((n / total) * 100).toFixed(1)}%` : '-');
    line('');
    line(`Where the ${total} bytes of one update go:`);
    line(terminalTable(['', 'Bytes', 'Share'], [
      ['Link and IP headers', o.linkNet, pct(o.linkNet)],
      ['TCP headers', o.tcpHeaders, pct(o.tcpHeaders)],
      ...(o.tls ? [['TLS framing', o.tls, pct(o.tls)]] : []),
      ['Application framing', o.framing, pct(o.framing)],
      ['Useful payload', o.payload, `${usefulPercent(o).toFixed(1)}%`],
    ]));
    line(`Latency, median over ${r.updateCount} update${r.updateCount === 1 ? '' : 's'}: request to first byte of the answer ${ms(r.latency.requestToFirstByte)}; last byte of the answer to its ACK ${ms(r.latency.lastByteToAck)}`);
    // A capture that mixes techniques: the rows above are the capture's most frequent shape,
    // which stands for one technique only; each technique's own steady state follows.
    const techniques = r.steadyByProtocol.filter((t) => t.steady !== null);
    if (techniques.length > 1) {
      line('');
      line(`By technique (each one's steady state, from its own updates; the rows above are update ${s.index}'s, the capture's most frequent shape):`);
      line(terminalTable(['Technique', 'Updates', 'Update', ...FIGURE_COLUMNS.map(([, t]) => t), 'Useful %'], techniques.map((t) => [safeLine(t.protocol), t.updateCount, t.steady!.index, ...figureCells(t.steady!.figures), usefulPercent(t.steady!.overhead).toFixed(1)])));
    }
  } else {
    line('');
    line('Updates: none found');
  }
  cadenceTable(r, line);
  if (r.warningCount > 0) {
    line('');
    line(`Warnings: ${r.warningCount}`);
    const n = Math.min(maxWarnings, r.warnings.length);
    for (let i = 0; i < n; i++) {
      const w = r.warnings[i];
      line(`  ${w.frame !== null ? `frame ${w.frame}` : 'file'}: ${warningText(w.message)}`);
    }
    if (r.warningCount > n) line(`  ... ${r.warningCount - n} more (--json lists ${r.warnings.length})`);
  }
  flush();
}

/** Where the TCP packets' bytes went, per direction and by layer: each column adds up to its direction's frame bytes. */
function bytesByLayer(r: CaptureReport, line: (s: string) => void): void {
  const c = r.bytes.client;
  const sv = r.bytes.server;
  const total = c.linkNet + c.tcpHeaders + c.tcpPayload + sv.linkNet + sv.tcpHeaders + sv.tcpPayload;
  if (total === 0) return;
  const cs = layerSums(c);
  const ss = layerSums(sv);
  const rows: Array<Array<string | number>> = [
    ['Link and IP headers', c.linkNet, sv.linkNet],
    ['TCP headers', c.tcpHeaders, sv.tcpHeaders],
  ];
  if (c.notDelivered + sv.notDelivered > 0) rows.push(['Resent TCP payload', c.notDelivered, sv.notDelivered]);
  for (const [name, title] of framingLayersOf([c, sv])) rows.push([`${title} framing`, cs.framing[name] ?? 0, ss.framing[name] ?? 0]);
  rows.push(['Useful payload', cs.payload, ss.payload]);
  if (c.unclaimed + sv.unclaimed > 0) rows.push(['Claimed by no layer', c.unclaimed, sv.unclaimed]);
  line('');
  line(`Where the ${total} bytes of TCP packets go:`);
  line(terminalTable(['', 'Client to server', 'Server to client'], rows));
  if (c.lostInGaps + sv.lostInGaps > 0) line(`Never captured (gaps, outside the sums): ${c.lostInGaps} bytes client to server, ${sv.lostInGaps} server to client`);
}

/** Pushed streams listed one by one in the summary's cadence table (the capture's line covers them all). */
const CADENCE_SHOWN = 10;

export const CADENCE_COLUMNS = ['Stream', 'Events', 'First event (ms)', 'Median (ms)', 'p95 (ms)', 'p99 (ms)', 'Max (ms)', 'Events/s', 'Bytes/event', 'Bytes/useful byte'];

function msCell(t: number | null, exact = true): string {
  return t === null ? '-' : `${exact ? '' : '~'}${(t * 1000).toFixed(3)}`;
}

/** One row of the cadence table: after the stream's name, its figures ('-' where there is none; '~' for percentiles from the histogram). */
export function cadenceCells(c: CadenceFigures): Array<string | number> {
  const i = c.interval;
  const exact = i?.exact ?? true;
  return [
    c.events,
    msCell(c.timeToFirstEvent),
    msCell(i?.median ?? null, exact),
    msCell(i?.p95 ?? null, exact),
    msCell(i?.p99 ?? null, exact),
    msCell(i?.max ?? null),
    c.eventsPerSecond === null ? '-' : c.eventsPerSecond.toFixed(3),
    c.bytesPerEvent === null ? '-' : c.bytesPerEvent.toFixed(1),
    c.wireBytesPerUsefulByte === null ? '-' : c.wireBytesPerUsefulByte.toFixed(3),
  ];
}

/** The rows of a capture's cadence table: its first CADENCE_SHOWN pushed streams, and (with more than one) all of them together. */
export function cadenceRows(r: CaptureReport): { rows: Array<Array<string | number>>; more: number } {
  const rows: Array<Array<string | number>> = [];
  let listed = 0;
  for (const c of r.connections) {
    const k = c.push?.cadence();
    if (!k) continue;
    listed++;
    if (rows.length < CADENCE_SHOWN) rows.push([`#${c.id} ${k.kind}`, ...cadenceCells(k)]);
  }
  const all = r.cadence;
  if (all && all.streams > 1) rows.push([`all ${all.streams} streams`, ...cadenceCells(all)]);
  return { rows, more: (all?.streams ?? listed) - Math.min(listed, CADENCE_SHOWN) };
}

/**
 * The cadence of the capture's pushed streams (SSE event streams, WebSocket messages the
 * server sent unasked): time to the first event, intervals between events (nearest-rank
 * percentiles), events per second, and wire bytes per event and per useful byte.
 */
function cadenceTable(r: CaptureReport, line: (s: string) => void): void {
  if (!r.cadence) return;
  const { rows, more } = cadenceRows(r);
  line('');
  line('Cadence of pushed streams (times from the packet that completed each event; intervals are nearest-rank percentiles):');
  line(terminalTable(CADENCE_COLUMNS, rows));
  if (more > 0) line(`  ... ${more} more stream${more === 1 ? '' : 's'} (--json lists each one's cadence)`);
}

/** The per-connection table (--connections), for the terminal: one row per connection the report lists. */
export function connectionsText(r: CaptureReport): string {
  const note = connectionsNote(r);
  return `Connections of ${safeLine(captureName(r.file))}\n${terminalTable(CONNECTION_COLUMNS, connectionRows(r))}\n${note ? `${note}\n` : ''}`;
}
