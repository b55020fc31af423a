import type { CaptureReport } from '../analyze.js';
import { FIGURE_COLUMNS, type Figures } from '../analysis/figures.js';
import { captureName, terminalTable, usefulPercent } from './stats.js';
import { safeLine } from './sanitize.js';

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

/** UTC time of an epoch timestamp; a capture's clock may be anything, so out-of-range ones are shown raw. */
function utc(epoch: number): string {
  const d = new Date(Math.floor(epoch * 1000));
  if (Number.isNaN(d.getTime())) return `epoch ${epoch} s (not a representable date)`;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

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

/** The default report: what the capture holds, the overall figures, one update's cost. */
export function renderSummary(r: CaptureReport, maxWarnings: number): string {
  const out: string[] = [];
  const name = safeLine(captureName(r.file));
  out.push(`${name}: ${r.format ?? 'unknown format'}, ${r.linkTypes.join(' + ') || 'no interfaces'}, ${r.packets} packet${r.packets === 1 ? '' : 's'}` +
    (r.startTime !== null ? ` over ${seconds(r.duration)} from ${utc(r.startTime)}` : ''));
  for (const c of r.comments) out.push(`  comment: ${safeLine(c)}`);
  const others = Object.entries(r.otherPackets);
  if (others.length) out.push(`Not TCP: ${others.map(([k, n]) => `${n} ${k}`).join(', ')}`);
  const protocols = Object.entries(r.protocols).sort((a, b) => b[1] - a[1]).map(([p, n]) => `${n} ${p}`);
  out.push(`TCP connections: ${r.connectionCount}${r.connectionCount > 1 ? ` (${protocols.join(', ')})` : ''}`);
  for (const c of r.connections.slice(0, MAX_SHOWN)) {
    out.push(`  #${c.id}  ${c.client} -> ${c.server}  ${c.protocol}, ${c.messageCount} message${c.messageCount === 1 ? '' : 's'}, from frame ${c.firstFrame}${c.rolesGuessed ? ' (roles guessed: no handshake)' : ''}`);
  }
  if (r.connectionCount > MAX_SHOWN) out.push(`  ... and ${r.connectionCount - MAX_SHOWN} more (--json lists them all)`);
  const rs = r.reassembly;
  const trouble = [
    rs.retransmittedSegments ? `${rs.retransmittedSegments} retransmitted segments (${rs.retransmittedBytes} bytes)` : '',
    rs.outOfOrderSegments ? `${rs.outOfOrderSegments} out of order` : '',
    rs.overlapBytes ? `${rs.overlapBytes} overlapping bytes` : '',
    rs.gaps ? `${rs.gaps} gaps (${rs.gapBytes} bytes not captured)` : '',
  ].filter(Boolean);
  if (trouble.length) out.push(`TCP: ${trouble.join(', ')}`);
  out.push('');
  out.push('Overall');
  out.push(terminalTable(FIGURE_COLUMNS.map(([, t]) => t), [figureCells(r.overall)]));
  if (r.steady) {
    const s = r.steady;
    out.push('');
    out.push(`Updates: ${r.updateCount}; the steady state is update ${s.index} (frames ${frameList(s.frames)})`);
    const rows: Array<Array<string | number>> = [['Per update', ...figureCells(s.figures)]];
    if (s.serverOnly) rows.push(['Server to client only', ...figureCells(s.serverOnly)]);
    out.push(terminalTable(['', ...FIGURE_COLUMNS.map(([, t]) => t)], rows));
    const o = s.overhead;
    const total = s.figures.frameBytes;
    const pct = (n: number) => (total ? `${((n / total) * 100).toFixed(1)}%` : '-');
    out.push('');
    out.push(`Where the ${total} bytes of one update go:`);
    out.push(terminalTable(['', 'Bytes', 'Share'], [
      ['Link and IP headers', o.linkNet, pct(o.linkNet)],
      ['TCP headers', o.tcpHeaders, pct(o.tcpHeaders)],
      ['Application framing', o.framing, pct(o.framing)],
      ['Useful payload', o.payload, `${usefulPercent(o).toFixed(1)}%`],
    ]));
    out.push(`Latency, median over ${r.updateCount} update${r.updateCount === 1 ? '' : 's'}: request to first byte of the answer ${ms(r.latency.requestToFirstByte)}; last byte of the answer to its ACK ${ms(r.latency.lastByteToAck)}`);
  } else {
    out.push('');
    out.push('Updates: none found');
  }
  if (r.warningCount > 0) {
    out.push('');
    out.push(`Warnings: ${r.warningCount}`);
    for (const w of r.warnings.slice(0, maxWarnings)) out.push(`  ${w.frame !== null ? `frame ${w.frame}` : 'file'}: ${safeLine(w.message)}`);
    if (r.warningCount > Math.min(maxWarnings, r.warnings.length)) out.push(`  ... ${r.warningCount - Math.min(maxWarnings, r.warnings.length)} more (--json lists ${r.warnings.length})`);
  }
  return out.join('\n') + '\n';
}
