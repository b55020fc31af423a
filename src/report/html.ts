import { createHash } from 'node:crypto';
import type { CaptureReport } from '../analyze.js';
import type { Overhead } from '../analysis/updates.js';
import { usefulPercent } from './json.js';
import type { Ladder, LadderPacket } from './ladder.js';
import { cut, safeLine } from './sanitize.js';
import { captureName, frameList, statsTables, type StatsTable } from './stats.js';
import { CADENCE_COLUMNS, cadenceRows, warningText } from './summary.js';

/**
 * The HTML report: one self-contained page (no request of any kind, no script) with the
 * captures side by side: the write-up's tables, and per capture its steady update's overhead
 * as a stacked bar, its packets as a ladder diagram, and the cadence of its pushed streams.
 */

/** One capture on the command line, as the page shows it. */
export interface HtmlCapture {
  file: string;
  /** Null when the capture could not be read at all. */
  report: CaptureReport | null;
  /** Why it could not be read, or why reading stopped early (then the report holds what was read). */
  failure: string | null;
  /** The steady update's packets, or why they could not be read again; null without a steady update. */
  ladder: Ladder | { error: string } | null;
}

export interface HtmlOptions {
  /** Warnings listed per capture (--warnings), as the summary lists them. */
  maxWarnings: number;
  version: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML text and for quoted attribute values alike. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** Capture text (names, messages, payload bytes): controls and invisible characters shown escaped, as on a terminal, then HTML-escaped. */
function text(s: string): string {
  return escapeHtml(safeLine(s));
}

/** The parts of one update's bytes, in the order they nest on the wire; TLS only when there is some. */
const PARTS: Array<[keyof Overhead, string, string]> = [
  ['linkNet', 'Link and IP headers', '#9aa3ad'],
  ['tcpHeaders', 'TCP headers', '#4f79b5'],
  ['tls', 'TLS framing', '#8a63c0'],
  ['framing', 'Application framing', '#e3a33b'],
  ['payload', 'Useful payload', '#2f9a5a'],
];

const CSS = `:root{color-scheme:light}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0 auto;max-width:1240px;padding:16px;color:#1b1b1b;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:1.2rem;margin:1.8rem 0 .6rem;padding-bottom:.2rem;border-bottom:1px solid #d8dbe0}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
h4{font-size:.95rem;margin:1rem 0 .3rem}
article h3{margin-top:0;overflow-wrap:anywhere}
p{margin:.3rem 0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.875rem}
th,td{border:1px solid #c9cdd3;padding:.2rem .5rem;text-align:left;white-space:nowrap;vertical-align:top}
thead th{background:#eef1f5}
td.n{text-align:right}
.note,figcaption{color:#4a4f57;font-size:.85rem}
.failed{color:#9b1c1c}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,340px),1fr));gap:16px}
article{border:1px solid #d8dbe0;border-radius:6px;padding:12px;min-width:0}
figure{margin:.8rem 0}
svg{display:block;width:100%;height:auto}
svg text{font-size:13px;fill:#1b1b1b}
svg .lane{font-weight:600}
svg .time{font-size:11px;fill:#4a4f57}
figcaption ul{list-style:none;padding:0;margin:.3rem 0}
.key{display:inline-block;width:.8em;height:.8em;margin-right:.35em;vertical-align:-.05em;border:1px solid #0003}
${PARTS.map(([k, , colour]) => `.k-${k}{background:${colour}}`).join('')}
.warnings{padding-left:1.1em;margin:.3rem 0;font-size:.875rem;overflow-wrap:anywhere}
.warnings li{margin:.2rem 0}
code{font:.8rem ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef1f5;padding:0 .2em;border-radius:3px}
.frame{color:#4a4f57}
.c2s{color:#1f5fa8}.s2c{color:#b4501a}
@media print{body{max-width:none;padding:0;font-size:10pt}.scroll{overflow:visible}.grid{display:block}article{margin-bottom:12px}article,figure,table{break-inside:avoid}}
`;

/** The whole page, for the captures in command-line order. */
export function renderHtml(captures: HtmlCapture[], o: HtmlOptions): string {
  const reports = captures.flatMap((c) => (c.report ? [c.report] : []));
  const names = captures.map((c) => captureName(c.file));
  const body = [
    '<header>',
    '<h1>sockstat report</h1>',
    `<p>${captures.length} capture${captures.length === 1 ? '' : 's'}: ${names.map(text).join(', ')}. Made by sockstat ${escapeHtml(o.version)}.</p>`,
    '</header>',
    '<main>',
    reports.length > 0 ? tablesSection(statsTables(reports)) : '',
    '<section aria-labelledby="h-captures">',
    '<h2 id="h-captures">One update of each capture</h2>',
    '<p class="note">Each capture\'s steady-state update: where its bytes go, and its packets in order, client on the left, server on the right. Each arrow is one packet, labelled with its frame number, TCP flags and TCP payload bytes (dashed: no payload); times are from the update\'s first packet as the capture saw them, to scale, except that arrows closer than a label\'s height are spread apart.</p>',
    '<div class="grid">',
    ...captures.map((c, i) => captureCard(c, i, o)),
    '</div>',
    '</section>',
    '</main>',
  ].join('\n');
  // The policy allows the one style block by its hash and nothing else: no script, no request.
  const hash = createHash('sha256').update(CSS, 'utf8').digest('base64');
  const title = `sockstat: ${names.join(', ')}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'sha256-${hash}'; img-src data:; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${text(cut(title, 200))}</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function tablesSection(tables: StatsTable[]): string {
  const out = ['<section aria-labelledby="h-tables">', '<h2 id="h-tables">Statistics</h2>'];
  // The tables --stats prints: an empty one is left out, as there, but for the overall one.
  for (const t of tables.filter((t) => t.rows.length > 0 || t.key === 'overall')) {
    out.push(`<h3 id="t-${t.key}">${escapeHtml(t.title)}</h3>`);
    out.push(`<div class="scroll"><table aria-labelledby="t-${t.key}">`);
    out.push(`<thead><tr>${t.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('')}</tr></thead>`);
    out.push('<tbody>');
    for (const [name, ...cells] of t.rows) {
      // Cells as the text outputs print them: numbers as they are, text escaped.
      out.push(`<tr><th scope="row">${text(name)}</th>${cells.map((v) => (typeof v === 'number' ? `<td class="n">${v}</td>` : `<td${/^-?\d+(\.\d+)?$/.test(v) ? ' class="n"' : ''}>${text(v)}</td>`)).join('')}</tr>`);
    }
    out.push('</tbody></table></div>');
    if (t.note) out.push(`<p class="note">${text(t.note)}</p>`);
  }
  out.push('</section>');
  return out.join('\n');
}

function captureCard(c: HtmlCapture, index: number, o: HtmlOptions): string {
  // The name as the tables show it; the path as given, in a tooltip.
  const heading = `<h3 title="${text(c.file)}">${text(captureName(c.file))}</h3>`;
  const r = c.report;
  if (!r) return `<article>\n${heading}\n<p class="failed">Could not be read: ${text(c.failure ?? 'unknown error')}</p>\n</article>`;
  const out = ['<article>', heading];
  out.push(`<p>${text(r.format ?? 'unknown format')}, ${text(r.linkTypes.join(' + ') || 'no interfaces')}, ${r.packets} packet${r.packets === 1 ? '' : 's'} over ${r.duration.toFixed(3)} s, ${r.connectionCount} TCP connection${r.connectionCount === 1 ? '' : 's'}</p>`);
  if (c.failure) out.push(`<p class="failed">Reading stopped early: ${text(c.failure)}</p>`);
  const s = r.steady;
  if (s) {
    out.push(`<p>Updates: ${r.updateCount}; the steady state is update ${s.index} (frames ${escapeHtml(frameList(s.frames))})</p>`);
    out.push(overheadFigure(s.overhead, s.figures.frameBytes, index));
    if (c.ladder && 'error' in c.ladder) out.push(`<p class="note">No ladder: ${text(c.ladder.error)}</p>`);
    else if (c.ladder) out.push(ladderFigure(c.ladder, s.index, s.connection, index));
  } else out.push('<p>Updates: none found</p>');
  out.push(cadencePart(r, index));
  out.push(warningsPart(r, o.maxWarnings));
  out.push('</article>');
  return out.join('\n');
}

function pct(n: number, total: number): string {
  return total ? `${((n / total) * 100).toFixed(1)}%` : '-';
}

/** The steady update's bytes as one stacked bar; the caption says the same numbers in words. */
function overheadFigure(ov: Overhead, total: number, index: number): string {
  const parts = PARTS.filter(([k]) => k !== 'tls' || (ov.tls ?? 0) > 0).map(([k, label, colour]) => ({ k, label, colour, n: ov[k] ?? 0 }));
  const useful = `${usefulPercent(ov).toFixed(1)}%`;
  const W = 360;
  const top = 22;
  const svg = [`<svg viewBox="0 0 ${W} ${top + 24}" role="img" aria-labelledby="bar-${index}">`];
  svg.push(`<text x="0" y="14">Useful payload: ${useful} of ${total} bytes</text>`);
  let x = 0;
  for (const p of parts) {
    const w = total ? (p.n / total) * W : 0;
    if (w > 0) svg.push(`<rect x="${x.toFixed(2)}" y="${top}" width="${w.toFixed(2)}" height="20" fill="${p.colour}"><title>${escapeHtml(p.label)}: ${p.n} bytes (${pct(p.n, total)})</title></rect>`);
    x += w;
  }
  svg.push('</svg>');
  const caption = [`<figcaption id="bar-${index}">Where the ${total} bytes of one update go:<ul>`];
  for (const p of parts) caption.push(`<li><span class="key k-${p.k}"></span>${escapeHtml(p.label)}: ${p.n} bytes (${p.k === 'payload' ? useful : pct(p.n, total)})</li>`);
  caption.push('</ul></figcaption>');
  return `<figure>\n${svg.join('\n')}\n${caption.join('')}\n</figure>`;
}

// The ladder's geometry, in viewBox units (the drawing is scaled to its column's width).
const LADDER_W = 360;
const LANE_X = { client: 80, server: 320 } as const;
const FIRST_Y = 52;
/** Least distance between two arrows, so their labels never overlap. */
const MIN_GAP = 30;
/** How far an arrow falls from its sender to its receiver. */
const SLANT = 10;
const COLOURS = { client: '#1f5fa8', server: '#b4501a' } as const;

function duration(t: number): string {
  return t >= 1 ? `+${t.toFixed(3)} s` : `+${(t * 1000).toFixed(3)} ms`;
}

/** Where each arrow starts: to scale over a span that grows with the packets, never closer than MIN_GAP. */
function arrowRows(packets: LadderPacket[]): number[] {
  const span = packets.length > 1 ? (packets.length - 1) * MIN_GAP * 1.5 : 0;
  const end = packets.length ? packets[packets.length - 1].time : 0;
  const scale = end > 0 ? span / end : 0;
  const ys: number[] = [];
  for (const p of packets) {
    const y = FIRST_Y + p.time * scale;
    ys.push(ys.length ? Math.max(y, ys[ys.length - 1] + MIN_GAP) : y);
  }
  return ys;
}

function ladderFigure(l: Ladder, update: number, connection: number, index: number): string {
  const ys = arrowRows(l.packets);
  const height = (ys.length ? ys[ys.length - 1] : FIRST_Y) + SLANT + 16;
  const svg = [`<svg viewBox="0 0 ${LADDER_W} ${Math.ceil(height)}" role="img" aria-labelledby="ladder-${index}" aria-describedby="ladder-desc-${index}">`];
  // The text alternative: every arrow in words, in order (each arrow's tooltip says the same).
  const described: string[] = [];
  for (const side of ['client', 'server'] as const) {
    svg.push(`<text class="lane" x="${LANE_X[side]}" y="16" text-anchor="middle">${side}</text>`);
    svg.push(`<line x1="${LANE_X[side]}" y1="24" x2="${LANE_X[side]}" y2="${Math.ceil(height) - 4}" stroke="#8a9099" stroke-width="1.5"/>`);
  }
  l.packets.forEach((p, i) => {
    const y = ys[i];
    const x1 = LANE_X[p.from];
    const x2 = LANE_X[p.from === 'client' ? 'server' : 'client'];
    const y2 = y + SLANT;
    const colour = COLOURS[p.from];
    // The arrowhead along the line's own direction.
    const len = Math.hypot(x2 - x1, y2 - y);
    const ux = (x2 - x1) / len;
    const uy = (y2 - y) / len;
    const bx = x2 - ux * 9;
    const by = y2 - uy * 9;
    const head = `${x2},${y2.toFixed(1)} ${(bx - uy * 4).toFixed(1)},${(by + ux * 4).toFixed(1)} ${(bx + uy * 4).toFixed(1)},${(by - ux * 4).toFixed(1)}`;
    const dir = p.from === 'client' ? 'client to server' : 'server to client';
    const label = `#${p.frame} ${p.flags.join(' ')} ${p.payloadBytes} B`;
    const what = `frame ${p.frame}, ${dir} at ${duration(p.time)}: ${p.flags.join(', ') || 'no flags'}, ${p.payloadBytes} bytes of TCP payload, ${p.frameBytes} on the wire${p.peek ? `; payload begins "${p.peek}"` : ''}`;
    described.push(what);
    svg.push(`<g data-frame="${p.frame}" data-from="${p.from}">`);
    svg.push(`<title>${text(what)}</title>`);
    svg.push(`<line x1="${x1}" y1="${y.toFixed(1)}" x2="${bx.toFixed(1)}" y2="${by.toFixed(1)}" stroke="${colour}" stroke-width="${p.payloadBytes > 0 ? 2 : 1.2}"${p.payloadBytes > 0 ? '' : ' stroke-dasharray="4 3"'}/>`);
    svg.push(`<polygon points="${head}" fill="${colour}"/>`);
    svg.push(`<text x="${(LANE_X.client + LANE_X.server) / 2}" y="${(y + SLANT / 2 - 5).toFixed(1)}" text-anchor="middle">${escapeHtml(label)}</text>`);
    svg.push(`<text class="time" x="2" y="${(y + 4).toFixed(1)}">${duration(p.time)}</text>`);
    svg.push('</g>');
  });
  svg.push('</svg>');
  svg.splice(1, 0, `<desc id="ladder-desc-${index}">${text(described.join('; '))}</desc>`);
  const notes = [
    l.rolesGuessed ? ' Client and server guessed from the ports.' : '',
    l.notDrawn ? ` The first ${l.packets.length + l.missing.length} packets are drawn, ${l.notDrawn} more are not.` : '',
    l.missing.length ? ` Frames ${escapeHtml(frameList(l.missing))} were not found when the capture was read again.` : '',
  ].join('');
  const caption = `<figcaption id="ladder-${index}">Update ${update} on connection #${connection}, ${l.packets.length} packet${l.packets.length === 1 ? '' : 's'}: <span class="c2s">client ${text(l.client)}</span>, <span class="s2c">server ${text(l.server)}</span>.${notes}</figcaption>`;
  return `<figure>\n${svg.join('\n')}\n${caption}\n</figure>`;
}

/** The cadence of the capture's pushed streams: the summary's table, the same rows and numbers. */
function cadencePart(r: CaptureReport, index: number): string {
  if (!r.cadence) return '';
  const { rows, more } = cadenceRows(r);
  const out = [`<h4 id="cadence-${index}">Cadence of pushed streams</h4>`];
  out.push('<p class="note">Per stream (SSE events, WebSocket messages the server sent unasked): time from the request to the first event, intervals between events (nearest-rank percentiles; ~ from the histogram), events per second, and frame bytes of the updates that carried the events, per event and per useful byte.</p>');
  out.push(`<div class="scroll"><table aria-labelledby="cadence-${index}">`);
  out.push(`<thead><tr>${CADENCE_COLUMNS.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('')}</tr></thead>`);
  out.push('<tbody>');
  for (const [name, ...cells] of rows) {
    out.push(`<tr><th scope="row">${text(String(name))}</th>${cells.map((v) => `<td class="n">${text(String(v))}</td>`).join('')}</tr>`);
  }
  out.push('</tbody></table></div>');
  if (more > 0) out.push(`<p class="note">... ${more} more stream${more === 1 ? '' : 's'} (--json lists each one's cadence)</p>`);
  return out.join('\n');
}

/** The capture's warnings, as many as the summary lists (--warnings), and how many more there are. */
function warningsPart(r: CaptureReport, maxWarnings: number): string {
  if (r.warningCount === 0) return '<p>Warnings: none</p>';
  const n = Math.min(maxWarnings, r.warnings.length);
  const out = [`<h4>Warnings: ${r.warningCount}</h4>`];
  // A list, not a table: a card is too narrow for a message column.
  if (n > 0) {
    out.push('<ul class="warnings">');
    for (const w of r.warnings.slice(0, n)) {
      out.push(`<li><code>${text(w.code)}</code> <span class="frame">${w.frame !== null ? `frame ${w.frame}` : 'file'}</span>: ${escapeHtml(warningText(w.message))}</li>`);
    }
    out.push('</ul>');
  }
  if (r.warningCount > n) out.push(`<p class="note">... ${r.warningCount - n} more (--json lists ${r.warnings.length})</p>`);
  return out.join('\n');
}
