import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { escapeHtml } from '../src/report/html.js';
import { LADDER_MAX_PACKETS, readLadder } from '../src/report/ladder.js';
import { writePcap } from '../src/capture/writer.js';
import { HAVE_CHROMIUM, launchChromium, openFile, type Browser } from './helpers/browser.js';
import { HOSTILE_NAME, hostileCaptures, IMG, JS_URL, SCRIPT } from './helpers/hostile-html.js';
import { HAVE_SEEDS, ROOT, run, runJson, SEED_DIR, seed } from './helpers/run.js';
import { session, tempFile } from './helpers/synth.js';

const SEEDS = ['tcpapp.pcap', 'webapp.pcap', 'ajaxapp.pcap', 'sseapp.pcap', 'wsapp.pcap'];
/** The tables of EXPECTED.md, by their headings there, and the keys the page gives them. */
const EXPECTED_TABLES: Array<[string, string]> = [
  ['Overall statistics', 'overall'],
  ['Per update statistics', 'perUpdate'],
  ['Per update, server to client only', 'serverToClient'],
];
const OUT_DIR = resolve(ROOT, 'test-output/html');

/** EXPECTED.md's tables as it writes them: heading -> capture -> its five figures. */
function expectedTables(): Record<string, Record<string, number[]>> {
  const md = readFileSync(resolve(SEED_DIR, 'EXPECTED.md'), 'utf8');
  const out: Record<string, Record<string, number[]>> = {};
  for (const section of md.split(/^## /m).slice(1)) {
    const rows = section.split('\n').filter((l) => /^\|\s*\w+\.pcap\s*\|/.test(l));
    if (rows.length === 0) continue;
    out[section.split('\n')[0].trim()] = Object.fromEntries(rows.map((l) => {
      const [name, ...cells] = l.split('|').slice(1, -1).map((c) => c.trim());
      return [name, cells.map(Number)];
    }));
  }
  return out;
}

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

/** One table of the page, by its key: its column heads and rows (the first cell of each its capture). */
function pageTable(page: string, key: string): { columns: string[]; rows: string[][] } | null {
  const m = new RegExp(`<table aria-labelledby="t-${key}">([\\s\\S]*?)</table>`).exec(page);
  if (!m) return null;
  const cells = (row: string) => [...row.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => unescape(c[1]));
  const [head, ...rows] = [...m[1].matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) => cells(r[1]));
  return { columns: head, rows };
}

/** The tables `--stats markdown` printed, by title: columns and rows as text. */
function markdownTables(md: string): Record<string, { columns: string[]; rows: string[][] }> {
  const out: Record<string, { columns: string[]; rows: string[][] }> = {};
  for (const section of md.split(/^### /m).slice(1)) {
    const lines = section.split('\n').filter((l) => l.startsWith('| '));
    const split = (l: string) => l.slice(2, -2).split(' | ').map((c) => c.trim());
    out[section.split('\n')[0]] = { columns: split(lines[0]), rows: lines.slice(2).map(split) };
  }
  return out;
}

/** The page --html writes for these arguments, with the run's result. */
async function htmlOf(...args: string[]): Promise<{ page: string; file: string; code: number; stdout: string; stderr: string }> {
  const file = tempFile('', 'report.html');
  const r = await run('--html', file, ...args);
  return { page: existsSync(file) ? readFileSync(file, 'utf8') : '', file, ...r };
}

/** Every tag of the page (capture text is escaped, so each `<` that is left is the page's own). */
const tags = (page: string) => page.match(/<[a-zA-Z][^>]*>/g) ?? [];

describe('the ladder: an update\'s packets read again from the capture', () => {
  test('direction, flags, payload bytes and times are those of the packets written', async () => {
    // Frames: 1 SYN, 2 SYN/ACK, 3 ACK, 4 "ping\n" (client), 5 its ACK, 6 "pong!\n" (server), 7 its ACK.
    const s = session().handshake();
    s.wait(1).send('client', 'ping\n').send('server', 'pong!\n');
    const file = tempFile(writePcap(s.close().packets));
    const l = await readLadder(file, [4, 5, 6, 7], '10.0.0.1:50000');
    expect(l.client).toBe('10.0.0.1:50000');
    expect(l.server).toBe('10.0.0.2:8000');
    expect(l.rolesGuessed).toBe(false);
    expect(l.packets.map((p) => [p.frame, p.from, p.payloadBytes, p.flags.join(' ')])).toEqual([
      [4, 'client', 5, 'PSH ACK'],
      [5, 'server', 0, 'ACK'],
      [6, 'server', 6, 'PSH ACK'],
      [7, 'client', 0, 'ACK'],
    ]);
    // The session's clock: 50 us after each data segment, 100 us after each ACK.
    expect(l.packets.map((p) => p.time)).toEqual([0, 0.00005, 0.00015, 0.0002]);
    // Ethernet 14 + IPv4 20 + TCP 20 + payload.
    expect(l.packets.map((p) => p.frameBytes)).toEqual([59, 54, 60, 54]);
    expect(l.packets[0].peek).toBe('ping.');
    expect(l.missing).toEqual([]);
    expect(l.notDrawn).toBe(0);
  });

  test('the handshake has its flags; without the client named, the lower port is the server', async () => {
    const file = tempFile(writePcap(session().handshake().close().packets));
    const l = await readLadder(file, [1, 2, 3, 4, 5, 6], null);
    expect(l.rolesGuessed).toBe(true);
    expect(l.client).toBe('10.0.0.1:50000');
    expect(l.packets.map((p) => `${p.from} ${p.flags.join('/')}`)).toEqual(['client SYN', 'server SYN/ACK', 'client ACK', 'client FIN/ACK', 'server FIN/ACK', 'client ACK']);
  });

  test('frames the capture does not have are said missing; past the limit they are counted, not drawn', async () => {
    const s = session().handshake();
    for (let i = 0; i < LADDER_MAX_PACKETS; i++) s.send('client', 'x');
    const file = tempFile(writePcap(s.packets));
    const total = s.packets.length;
    const l = await readLadder(file, Array.from({ length: total }, (_, i) => i + 1), '10.0.0.1:50000');
    expect(l.packets.length).toBe(LADDER_MAX_PACKETS);
    expect(l.notDrawn).toBe(total - LADDER_MAX_PACKETS);
    const gone = await readLadder(file, [2, total + 5], '10.0.0.1:50000');
    expect(gone.packets.map((p) => p.frame)).toEqual([2]);
    expect(gone.missing).toEqual([total + 5]);
  });

  test('standard input cannot be read twice: said, not guessed', async () => {
    await expect(readLadder('-', [1], null)).rejects.toThrow('standard input cannot be read a second time');
  });
});

describe('escapeHtml', () => {
  test('escapes the five characters that matter in text and in quoted attributes', () => {
    expect(escapeHtml(`<a href="x" title='y'>&amp;</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  });
});

describe('--html: the command', () => {
  test('alone, it writes the page and nothing on standard output; with --stats, stdout has the tables', async () => {
    const s = session().handshake();
    s.wait(1).send('client', 'time\n').send('server', '12:00:00\n');
    const capture = tempFile(writePcap(s.close().packets));
    const alone = await htmlOf(capture);
    expect([alone.code, alone.stdout, alone.stderr]).toEqual([0, '', '']);
    expect(alone.page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(alone.page.endsWith('</html>\n')).toBe(true);
    const file = tempFile('', 'with-stats.html');
    const both = await run('--stats', 'markdown', '--html', file, capture);
    expect(both.code).toBe(0);
    expect(both.stdout).toContain('### Overall statistics');
    expect(readFileSync(file, 'utf8')).toContain('<table aria-labelledby="t-overall">');
  });

  test('an old, longer file is replaced whole', async () => {
    const capture = tempFile(writePcap(session().handshake().close().packets));
    const file = tempFile('x'.repeat(1_000_000), 'old.html');
    expect((await run('--html', file, capture)).code).toBe(0);
    const page = readFileSync(file, 'utf8');
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page).not.toContain('xxx');
  });

  test('a FILE that cannot be written is one line on stderr and status 1, before any capture is read', async () => {
    const capture = tempFile(writePcap(session().handshake().close().packets));
    const missing = resolve(tempFile('', 'dir-parent'), '..', 'no-such-dir', 'report.html');
    const r = await run('--html', missing, capture);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `sockstat: ${missing}: cannot write the HTML report: no such directory\n` });
    const dir = resolve(missing, '../..');
    const d = await run('--html', dir, capture);
    expect(d).toEqual({ code: 1, stdout: '', stderr: `sockstat: ${dir}: cannot write the HTML report: is a directory\n` });
  });

  test('FILE naming a capture of the command line is a usage error: the capture is left as it was', async () => {
    const bytes = writePcap(session().handshake().close().packets);
    const capture = tempFile(bytes);
    const r = await run('--html', capture, capture);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`sockstat: ${capture}: is a capture on the command line: the HTML report would overwrite it\n`);
    expect(Buffer.compare(readFileSync(capture), Buffer.from(bytes))).toBe(0);
    expect((await run('--html', '-', capture)).code).toBe(2);
  });

  test('a capture that cannot be read is said on stderr and in the page; the others are reported', async () => {
    const good = tempFile(writePcap(session().handshake().close().packets), 'good.pcap');
    const bad = tempFile('not a capture at all', 'bad.pcap');
    const r = await htmlOf(bad, good);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sockstat: ${bad}: not a capture file: unknown magic number 0x6e6f7420 (sockstat reads pcap and pcapng)\n`);
    expect(r.page).toContain('Could not be read: not a capture file: unknown magic number 0x6e6f7420');
    expect(pageTable(r.page, 'overall')!.rows.map((row) => row[0])).toEqual([good.split('/').pop()]);
  });

  test('warnings are listed as the summary lists them: --warnings of them, the rest counted', async () => {
    // Twelve events, each with a retry value that is not a number: twelve sse-bad-field warnings.
    const s = session().handshake();
    s.send('client', 'GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n');
    for (let i = 0; i < 12; i++) s.wait(1).send('server', `data: ${i}\nretry: bogus${i}\n\n`);
    const capture = tempFile(writePcap(s.close().packets));
    const { page } = await htmlOf('--warnings', '3', capture);
    const rows = [...page.matchAll(/<li><code>([\w-]+)<\/code> <span class="frame">frame (\d+)<\/span>: ([^<]*)<\/li>/g)];
    expect(rows.map((m) => [m[1], unescape(m[3])])).toEqual([0, 1, 2].map((i) => ['sse-bad-field', `invalid SSE retry value "bogus${i}": ignored`]));
    expect(page).toContain('Warnings: 12</h4>');
    expect(page).toContain('... 9 more (--json lists 12)');
  });
});

describe('--html: the page', () => {
  test('the Content-Security-Policy allows the one style block by its hash, and nothing else is loaded', async () => {
    const capture = tempFile(writePcap(session().handshake().close().packets));
    const { page } = await htmlOf(capture);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(page);
    expect(csp).not.toBeNull();
    const styles = [...page.matchAll(/<style>([\s\S]*?)<\/style>/g)];
    expect(styles.length).toBe(1);
    const hash = createHash('sha256').update(styles[0][1], 'utf8').digest('base64');
    expect(csp![1]).toBe(`default-src 'none'; style-src 'sha256-${hash}'; img-src data:; base-uri 'none'; form-action 'none'`);
    // Before anything the policy must cover: the first element of the head but the charset.
    expect(page.indexOf('http-equiv="Content-Security-Policy"')).toBeLessThan(page.indexOf('<style>'));
    expect(page).not.toMatch(/<script|<link rel="stylesheet"|\sstyle=|https?:\/\/|@import|url\(/i);
  });

  test('tables: every cell is the --stats markdown one, for every fixture and a decrypted TLS capture', async () => {
    const fixtures = readdirSync(resolve(ROOT, 'fixtures')).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => resolve(ROOT, 'fixtures', f));
    const tls = ['--keylog', resolve(ROOT, 'fixtures/tls/https-poll-tls12.keys'), resolve(ROOT, 'fixtures/tls/https-poll-tls12.pcap')];
    for (const args of [fixtures, tls]) {
      const md = markdownTables((await run('--stats', 'markdown', ...args)).stdout);
      const { page } = await htmlOf(...args);
      const keys: Record<string, string> = {
        'Overall statistics': 'overall', 'Per update statistics': 'perUpdate', 'Per update, server to client only': 'serverToClient',
        'Where the bytes of one update go': 'overhead', 'Where the bytes go, by layer': 'bytes',
      };
      expect(Object.keys(md).length).toBeGreaterThanOrEqual(4);
      for (const [title, t] of Object.entries(md)) expect(pageTable(page, keys[title]), title).toEqual(t);
    }
    // The TLS capture's tables have the TLS column: the check above covered it.
    const { page } = await htmlOf(...tls);
    expect(pageTable(page, 'overhead')!.columns).toContain('TLS Framing Bytes');
  });

  test('hostile capture text never becomes markup; it is shown, escaped', async () => {
    const { page, code } = await htmlOf(...hostileCaptures());
    expect(code).toBe(0);
    expect(page).not.toMatch(/<script|<img|<svg on|<iframe/i);
    // Attribute values are quoted and escaped: outside them, no handler and no script URL.
    for (const tag of tags(page)) {
      expect(tag.replace(/"[^"]*"/g, '""'), tag).not.toMatch(/\son\w+\s*=|javascript:|'/i);
    }
    // The traps reached the page: as text (file name, ladder peeks, warnings) and in an attribute (the full path).
    expect(page).toContain(escapeHtml(SCRIPT));
    expect(page).toContain(escapeHtml(IMG));
    expect(page).toContain(escapeHtml(JS_URL));
    expect(page).toContain(escapeHtml(HOSTILE_NAME));
    expect(page).toMatch(new RegExp(`<h3 title="[^"]*${escapeHtml(HOSTILE_NAME).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}">`));
    // The ladders' payload peeks: the HTTP target, the SSE data.
    expect(page).toContain(escapeHtml(`"GET /${SCRIPT}`));
    expect(page).toContain(escapeHtml(`"data: ${SCRIPT}`));
    // Warnings that quote the capture: the WebSocket Accept header, the SSE field name.
    expect(page).toContain(`Sec-WebSocket-Accept ${escapeHtml(SCRIPT)} does not match`);
    expect(page).toContain(`unknown SSE field ${escapeHtml(JSON.stringify(IMG))}`);
  });
});

describe.skipIf(!HAVE_SEEDS)('--html on the seed captures', () => {
  test('the tables hold EXPECTED.md\'s figures, and the overhead split adds up to them', async () => {
    const expected = expectedTables();
    const { page, code, stderr } = await htmlOf(...SEEDS.map(seed));
    expect([code, stderr]).toEqual([0, '']);
    for (const [heading, key] of EXPECTED_TABLES) {
      const t = pageTable(page, key)!;
      expect(t.columns).toEqual(['PCAP', 'Total Packets', 'App Packets', 'Frame Bytes', 'TCP Bytes', 'App Bytes']);
      expect(Object.fromEntries(t.rows.map(([name, ...cells]) => [name, cells.map(Number)])), heading).toEqual(expected[heading]);
    }
    // EXPECTED.md: Frame Bytes = 34 x Total Packets + TCP Bytes + App Bytes; the payload is what its "Payload facts" list.
    const payload: Record<string, number> = {
      'tcpapp.pcap': 'time\n'.length + 10,
      'webapp.pcap': 435,
      'ajaxapp.pcap': '{"time":"08:04:23"}\n'.length,
      'sseapp.pcap': '{"time": "11:42:14"}'.length,
      'wsapp.pcap': 'get-time'.length + '{"time": "09:43:38"}'.length,
    };
    const per = expected['Per update statistics'];
    const overhead = pageTable(page, 'overhead')!;
    expect(overhead.columns).toEqual(['PCAP', 'Link+IP Bytes', 'TCP Header Bytes', 'App Framing Bytes', 'Payload Bytes', 'Useful %']);
    expect(Object.fromEntries(overhead.rows.map(([name, ...cells]) => [name, cells]))).toEqual(Object.fromEntries(SEEDS.map((n) => {
      const [packets, , frameBytes, tcpBytes, appBytes] = per[n];
      return [n, [34 * packets, tcpBytes, appBytes - payload[n], payload[n], ((payload[n] / frameBytes) * 100).toFixed(1)].map(String)];
    })));
    // By layer: the two directions' columns add up to the capture's Frame Bytes, link+IP to 34 per packet.
    const bytes = pageTable(page, 'bytes')!;
    const overall = expected['Overall statistics'];
    for (const n of SEEDS) {
      const rows = bytes.rows.filter((r) => r[0] === n).map((r) => r.slice(2).map(Number));
      expect(rows.length).toBe(2);
      const lost = bytes.columns.length - 3;
      const sum = rows.reduce((a, r) => a + r.slice(0, lost).reduce((x, y) => x + y, 0), 0);
      expect(sum, n).toBe(overall[n][2]);
      expect(rows[0][0] + rows[1][0], n).toBe(34 * overall[n][0]);
      expect(rows[0][1] + rows[1][1], n).toBe(overall[n][3]);
    }
  });
});

// Away from CI, a machine without Chromium skips these with the message above; CI (.ci/run
// installs Chromium and sets SOCKSTAT_REQUIRE_CHROMIUM=1, as it does for the seeds) fails
// instead, so a missing browser cannot pass for a green run.
test('Chromium is there when it is required (SOCKSTAT_REQUIRE_CHROMIUM=1)', () => {
  expect(HAVE_CHROMIUM || process.env.SOCKSTAT_REQUIRE_CHROMIUM !== '1', '/usr/bin/chromium is missing on CI: .ci/run should have installed it').toBe(true);
});

describe.skipIf(!HAVE_CHROMIUM)('--html in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(OUT_DIR, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Opens a page and checks it was quiet: no request but the document, no console message, error or dialog. */
  async function quietPage(file: string, width?: number) {
    const opened = await openFile(browser, file, width);
    const { events, url } = opened;
    expect(events.requests).toEqual([url]);
    expect(events.console).toEqual([]);
    expect(events.errors).toEqual([]);
    expect(events.dialogs).toEqual([]);
    return opened;
  }

  test.skipIf(!HAVE_SEEDS)('seed captures: EXPECTED.md in the cells, one ladder arrow per frame of each steady update', async () => {
    const { file } = await htmlOf(...SEEDS.map(seed));
    const { page } = await quietPage(file);
    const expected = expectedTables();
    for (const [heading, key] of EXPECTED_TABLES) {
      const rows = await page.$$eval(`table[aria-labelledby="t-${key}"] tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.textContent ?? '')));
      expect(Object.fromEntries(rows.map(([name, ...cells]) => [name, cells.map(Number)])), heading).toEqual(expected[heading]);
    }
    const json = await runJson(...SEEDS.map(seed));
    const arrows: Record<string, string[]> = {};
    for (const c of json.captures) {
      const name = c.file.split('/').pop();
      const card = page.locator('article', { has: page.locator('h3', { hasText: name }) });
      const frames = await card.locator('svg [data-frame]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-frame'))));
      expect(frames, name).toEqual(c.steadyState.frames);
      expect(await card.locator('figure svg[role="img"]').count(), name).toBe(2);
      arrows[name] = await card.locator('svg [data-frame]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-from')} ${/ (\d+) B$/.exec(e.querySelector('text:not(.time)')?.textContent ?? '')?.[1]}`));
    }
    // Who sent each packet and its TCP payload, as EXPECTED.md's payload facts have them: tcpapp
    // `time\n` and a 10-byte answer; sseapp one 34-byte chunk; wsapp the 14-byte masked get-time
    // frame (C1) and the 22-byte answer (S1); each then ACKed by the client.
    expect(arrows['tcpapp.pcap']).toEqual(['client 5', 'server 10', 'client 0']);
    expect(arrows['sseapp.pcap']).toEqual(['server 34', 'client 0']);
    expect(arrows['wsapp.pcap']).toEqual([`client ${'81 88 36 0d 29 16 51 68 5d 3b 42 64 44 73'.split(' ').length}`, `server ${'81 14'.split(' ').length + 0x14}`, 'client 0']);
    await page.screenshot({ path: resolve(OUT_DIR, 'seeds.png'), fullPage: true });
    // At 400 px the page does not scroll sideways: wide tables scroll inside their wrappers.
    await page.setViewportSize({ width: 400, height: 900 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);
    await page.screenshot({ path: resolve(OUT_DIR, 'seeds-400px.png'), fullPage: true });
    await page.close();
  });

  test('hostile captures: no script runs, no element comes from their text, and the text is shown as it is', async () => {
    const files = hostileCaptures();
    const { file } = await htmlOf(...files);
    const { page } = await quietPage(file);
    expect(await page.evaluate(() => document.querySelectorAll('script, img, iframe, object, embed, svg svg').length)).toBe(0);
    const handlers = await page.evaluate(() => [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name) || (/^(href|src|action|formaction|xlink:href)$/i.test(a.name) && /javascript:/i.test(a.value))).map((a) => `${e.tagName} ${a.name}`)));
    expect(handlers).toEqual([]);
    // Text round-trips: the page shows the capture's name and its full path as they are.
    const title = await page.locator('h3', { hasText: HOSTILE_NAME }).first().getAttribute('title');
    expect(title).toBe(files[0]);
    expect(await page.title()).toContain(HOSTILE_NAME);
    expect(await page.locator('body').innerText()).toContain(SCRIPT);
    await page.screenshot({ path: resolve(OUT_DIR, 'hostile.png'), fullPage: true });
    await page.close();
  });

  test('a page of fixtures, failures included, is quiet and printable', async () => {
    const bad = tempFile('not a capture', 'bad.pcap');
    const { file, page: html } = await htmlOf(resolve(ROOT, 'fixtures/demo-ws.pcap'), resolve(ROOT, 'fixtures/synth-ajax-lossy.pcap'), bad);
    expect(html).toContain('Could not be read');
    const { page } = await quietPage(file);
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('table').count()).toBeGreaterThan(0);
    const pdf = await page.pdf({ format: 'A4' });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    writeFileSync(resolve(OUT_DIR, 'fixtures.pdf'), pdf);
    await page.emulateMedia({ media: 'screen' });
    await page.screenshot({ path: resolve(OUT_DIR, 'fixtures.png'), fullPage: true });
    expect(statSync(resolve(OUT_DIR, 'fixtures.png')).size).toBeGreaterThan(0);
    await page.close();
  });
});
