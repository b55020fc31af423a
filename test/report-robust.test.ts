import { ByteLedger } from '../src/analysis/accounting.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { AnalyzeOptions, CaptureReport } from '../src/analyze.js';
import { LINKTYPE } from '../src/capture/types.js';
import { PcapWriter, writePcapng, type OutPacket } from '../src/capture/writer.js';
import { main } from '../src/cli.js';
import { LIMITS } from '../src/limits.js';
import { captureSummaryJson } from '../src/report/json.js';
import { cut, safeJson, safeLine, safeText } from '../src/report/sanitize.js';
import { renderSummary } from '../src/report/summary.js';
import { wsFrame } from '../src/synth/websocket.js';
import { ROOT, run } from './helpers/run.js';
import { pcapFile, session, tempFile } from './helpers/synth.js';
import { collect, synFlood } from './helpers/tcp-hostile.js';

// The analysis, seen from the command line: every call's options are recorded, and a test may
// stand in for it (to hand the report a shape no capture reader makes any more).
type AnalyzeFile = (file: string, options: AnalyzeOptions) => Promise<CaptureReport>;
const hooks = vi.hoisted(() => ({
  seen: [] as Array<Record<string, unknown>>,
  analyze: null as null | ((real: AnalyzeFile, file: string, options: AnalyzeOptions) => Promise<CaptureReport>),
}));
vi.mock('../src/analyze.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/analyze.js')>();
  return {
    ...real,
    analyzeFile: (file: string, options: AnalyzeOptions) => {
      hooks.seen.push(options as Record<string, unknown>);
      return hooks.analyze ? hooks.analyze(real.analyzeFile, file, options) : real.analyzeFile(file, options);
    },
  };
});
beforeEach(() => {
  hooks.seen = [];
  hooks.analyze = null;
});

/** A fresh directory, for TMPDIR: whatever sockstat leaves in it is seen. */
function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'sockstat-robust-'));
}

/** Runs main() in-process with TMPDIR set to `tmp` (os.tmpdir() reads it at each call). */
async function runIn(tmp: string, ...args: string[]) {
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    return await run(...args);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

/** One connection of `exchanges` client/server messages, each side's text made by the functions. */
function exchanges(n: number, client: (i: number) => string, server: (i: number) => string, close = true): OutPacket[] {
  const s = session().handshake();
  for (let i = 0; i < n; i++) s.send('client', client(i)).send('server', server(i));
  return close ? s.close().packets : s.packets;
}

const INVISIBLE = [0x061c, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2060, 0x2066, 0x2067, 0x2068, 0x2069, 0xfeff];
const RAW_TRAP = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

describe('A: --json copies its spool without splitting characters', () => {
  test('messages spooled in batches keep every four-byte character whole', async () => {
    // 1100 exchanges: the first 1000 and 2000 messages are spooled (the writer holds 1000 at a
    // time), then copied in 1 MiB pieces. A client text is 2500 emoji, 10,000 bytes of UTF-8:
    // about ten piece boundaries fall in the spool, nearly all inside a four-byte character.
    const text = `${'\u{1F600}'.repeat(2500)}\n`;
    const file = pcapFile(exchanges(1100, () => text, (i) => `ok ${i}\n`));
    const r = await run('--json', file);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).not.toContain('\ufffd');
    const messages = JSON.parse(r.stdout).captures[0].connections[0].messages;
    expect(messages.length).toBe(2200);
    const client = messages.filter((m: any) => m.from === 'client');
    expect(client.length).toBe(1100);
    expect(client.filter((m: any) => m.text !== text).length).toBe(0);
    expect(messages[2199].text).toBe('ok 1099\n');
  });
});

describe('B: text traps are escaped in every output', () => {
  test('sanitize: terminal text shows \\u{...}, JSON writes \\uXXXX that parses back to the same text', () => {
    for (const c of [...INVISIBLE, 0x9b]) {
      const ch = String.fromCodePoint(c);
      const shown = c < 0x100 ? `\\x${c.toString(16)}` : `\\u{${c.toString(16)}}`;
      expect(safeLine(`a${ch}b`)).toBe(`a${shown}b`);
      expect(safeText(`a${ch}b\nc`)).toBe(`a${shown}b\nc`);
      const json = safeJson({ t: `a${ch}b` });
      expect(json).toBe(`{"t":"a\\u${c.toString(16).padStart(4, '0')}b"}`);
      expect(JSON.parse(json).t).toBe(`a${ch}b`);
    }
    // Emoji and other visible text are left alone.
    expect(safeLine('d\u00e9j\u00e0 \u{1F600}')).toBe('d\u00e9j\u00e0 \u{1F600}');
  });

  test('cut: bounded, never half a surrogate pair, says the length', () => {
    expect(cut('abc', 3)).toBe('abc');
    expect(cut('abcdef', 3)).toBe('abc... (6 characters, cut)');
    // U+1F600 is two UTF-16 units: a cut after one unit keeps neither.
    expect(cut('a\u{1F600}b', 2)).toBe('a... (4 characters, cut)');
  });

  test('file names: --stats json escapes C1 controls and bidi overrides; every mode shows them escaped', async () => {
    const file = tempFile(readFixture(), 'evil\u202egnp.\u009b[2Jcap');
    const stats = await run('--stats', 'json', file);
    expect(stats.code).toBe(0);
    expect(stats.stdout).not.toMatch(RAW_TRAP);
    expect(stats.stdout).toContain('\\u202e');
    expect(stats.stdout).toContain('\\u009b');
    expect(JSON.parse(stats.stdout).captures[0].file).toBe(file);
    for (const args of [[], ['--stats', 'table'], ['--stats', 'markdown'], ['--stats', 'csv'], ['--payloads'], ['--json'], ['--ndjson']]) {
      const r = await run(...args, file);
      expect(r.stdout + r.stderr, args.join(' ')).not.toMatch(RAW_TRAP);
    }
    expect((await run(file)).stdout).toContain('evil\\u{202e}gnp.\\x9b[2Jcap');
  });

  test('CSV: a cell a spreadsheet would take for a formula gets a quote before it, and is quoted', async () => {
    const bytes = readFixture();
    const dir = freshDir();
    const names = ['=HYPERLINK("x")', '+1+2', '-2+3', '@SUM(A1)'].map((n) => {
      const p = join(dir, `${n}.pcap`);
      writeFileSync(p, bytes);
      return p;
    });
    const csv = (await run('--stats', 'csv', ...names)).stdout.split('\n').filter((l) => l.startsWith('overall,'));
    expect(csv.map((l) => l.split(',').slice(0, 2).join(',').replace(/,\d+$/, ''))).toEqual([
      `overall,"'=HYPERLINK(""x"").pcap"`,
      `overall,"'+1+2.pcap"`,
      `overall,"'-2+3.pcap"`,
      `overall,"'@SUM(A1).pcap"`,
    ]);
    // A name that starts with anything else is as it was.
    const plain = (await run('--stats', 'csv', tempFile(bytes, 'a=b.pcap'))).stdout;
    expect(plain).toMatch(/^overall,\d+-a=b\.pcap,/m);
  });

  test('message text: TCP data, WebSocket text and SSE data show them escaped; JSON and NDJSON carry them escaped, parsing to the text', async () => {
    const trap = `a${INVISIBLE.map((c, i) => `${String.fromCodePoint(c)}${i}`).join('')}z`;
    const shown = `a${INVISIBLE.map((c, i) => `\\u{${c.toString(16)}}${i}`).join('')}z`;
    const tcp = pcapFile(exchanges(1, () => `${trap}\n`, () => 'ok\n'));

    const ws = session({ server: { ip: '10.0.0.2', port: 8080 } }).handshake();
    ws.send('client', 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    ws.send('server', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    ws.send('server', wsFrame(1, trap));
    const wsFile = pcapFile(ws.close().packets);

    const sse = session().handshake();
    sse.send('client', 'GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n');
    sse.send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n');
    sse.send('server', `data: ${trap}\n\n`);
    const sseFile = pcapFile(sse.close().packets);

    for (const file of [tcp, wsFile, sseFile]) {
      // Lines over WRAP bytes wrap (issue 13.8): joined again to look for the text.
      const payloads = (await run('--payloads', file)).stdout.replace(/\n {3}\+ /g, '');
      expect(payloads, file).not.toMatch(RAW_TRAP);
      expect(payloads, file).toContain(shown);
      for (const mode of ['--json', '--ndjson']) {
        const out = (await run(mode, file)).stdout;
        expect(out, `${mode} ${file}`).not.toMatch(RAW_TRAP);
        const texts = JSON.stringify(JSON.parse(mode === '--json' ? out : `[${out.trimEnd().split('\n').join(',')}]`));
        expect(texts).toContain(JSON.stringify(trap).slice(1, -1));
      }
    }
  });

  test('a pcapng comment with a bidi override and a zero-width space: escaped in the summary', async () => {
    const packets = exchanges(1, () => 'hi\n', () => 'ho\n');
    const file = tempFile(writePcapng(packets, { comment: 'rev\u202eersed\u200bhidden' }), 'c.pcapng');
    const out = (await run(file)).stdout;
    expect(out).not.toMatch(RAW_TRAP);
    expect(out).toContain('  comment: rev\\u{202e}ersed\\u{200b}hidden\n');
  });
});

/** A small capture's bytes, for files that differ only in their names. */
function readFixture(): Uint8Array {
  const w = new PcapWriter();
  const packets = exchanges(3, (i) => `ping ${i}\n`, (i) => `pong ${i}\n`);
  return Buffer.concat([w.header(), ...packets.map((p) => w.record(p))]);
}

describe('C: no failure escapes; the sizes that grow with the input are bounded', () => {
  // 600,000 comments of 1000 characters: 600 M characters, past the longest string V8 makes
  // (2^29 - 24), if they were ever joined. One string shared: the test holds 1000 characters.
  const flood = (r: CaptureReport) => Object.assign(r, { comments: new Array<string>(600_000).fill('c'.repeat(1000)) });

  test('a comment flood: the summary shows five, each cut, and how many more', () => {
    const r = flood(emptyReport());
    r.comments[0] = 'x'.repeat(5000);
    const out = renderSummary(r, 10);
    const comments = out.split('\n').filter((l) => l.startsWith('  comment: '));
    expect(comments.length).toBe(5);
    expect(comments[0]).toBe(`  comment: ${'x'.repeat(200)}... (5000 characters, cut)`);
    expect(comments[1]).toBe(`  comment: ${'c'.repeat(200)}... (1000 characters, cut)`);
    expect(out).toContain('\n  ... 599995 more comments\n');
    // The JSON keeps LIMITS.commentsKept of them and counts the rest.
    const j = captureSummaryJson(r);
    expect([(j.comments as string[]).length, j.commentsNotKept]).toEqual([LIMITS.commentsKept, 600_000 - LIMITS.commentsKept]);
  });

  test('counted comments (the capture layer keeps a few and counts the rest) are said too', () => {
    const r = Object.assign(emptyReport(), { comments: ['one', 'two'], commentsNotKept: 40 });
    expect(renderSummary(r, 10)).toContain('  comment: two\n  ... 40 more comments\n');
    expect(captureSummaryJson(r)).toMatchObject({ comments: ['one', 'two'], commentsNotKept: 40 });
    // No count when none were left out: the documented shape, as before.
    expect('commentsNotKept' in captureSummaryJson(emptyReport())).toBe(false);
  });

  test('a comment flood through the command line: every mode ends normally', async () => {
    hooks.analyze = async (real, file, o) => flood(await real(file, o));
    const file = pcapFile(exchanges(3, (i) => `ping ${i}\n`, (i) => `pong ${i}\n`));
    const summary = await run(file);
    expect([summary.code, summary.stderr]).toEqual([0, '']);
    expect(summary.stdout).toContain('  ... 599995 more comments\n');
    const json = await run('--json', file);
    expect([json.code, json.stderr]).toEqual([0, '']);
    const c = JSON.parse(json.stdout).captures[0];
    expect([c.comments.length, c.commentsNotKept, c.connections.length]).toEqual([LIMITS.commentsKept, 600_000 - LIMITS.commentsKept, 1]);
  });

  test('a failure while writing the output: one line naming the file, status 1, the other files go on, JSON stays one document', async () => {
    const tmp = freshDir();
    const good = pcapFile(exchanges(1200, (i) => `ping ${i}\n`, (i) => `pong ${i}\n`));
    const bad = pcapFile(exchanges(1200, (i) => `ping ${i}\n`, (i) => `pong ${i}\n`));
    for (const mode of [[], ['--json'], ['--stats', 'markdown']]) {
      // A report that fails as it is read, as an unforeseen bug in a writer would: on a field
      // this mode's writer reads (the statistics tables never read the reassembly counts).
      const field = mode[0] === '--stats' ? 'overall' : 'reassembly';
      hooks.analyze = async (real, file, o) => {
        const r = await real(file, o);
        if (file === bad) Object.defineProperty(r, field, { get: () => { throw new Error('boom'); } });
        return r;
      };
      const r = await runIn(tmp, ...mode, bad, good);
      expect(r.code, mode.join(' ')).toBe(1);
      expect(r.stderr, mode.join(' ')).toBe(`sockstat: ${bad}: internal error: boom (please report this with the capture)\n`);
      if (mode[0] === '--json') {
        const doc = JSON.parse(r.stdout);
        expect(doc.captures.map((c: any) => [c.file, c.error])).toEqual([
          [bad, 'internal error: boom (please report this with the capture)'],
          [good, null],
        ]);
        // What was written of the failed capture before the failure is whole.
        expect(doc.captures[0].connections[0].messages.length).toBe(2400);
      } else if (mode[0] === '--stats') {
        // The tables hold the good capture's rows and none of the failed one's.
        expect(r.stdout).toContain(`| ${basename(good)} `);
        expect(r.stdout).not.toContain(basename(bad));
      } else expect(r.stdout.split("\n").filter((l) => l.startsWith(`${basename(good)}: `)).length).toBe(1);
      expect(readdirSync(tmp), mode.join(' ')).toEqual([]);
    }
    rmSync(tmp, { recursive: true });
  });

  test('standard output failing (a full disk): one line, status 1, the run stops; a closed pipe is no error', async () => {
    const file = pcapFile(exchanges(3, (i) => `ping ${i}\n`, (i) => `pong ${i}\n`));
    for (const mode of [[], ['--json'], ['--payloads'], ['--ndjson'], ['--stats', 'csv']]) {
      for (const code of ['ENOSPC', 'EPIPE']) {
        let writes = 0;
        let stderr = '';
        const failing = {
          write: () => {
            writes++;
            throw Object.assign(new Error(`${code}: it failed, write`), { code });
          },
        };
        const status = await main([...mode, file, file], failing, { write: (s: string | Uint8Array) => (stderr += String(s)) });
        expect(writes, mode.join(' ')).toBe(1);
        if (code === 'EPIPE') expect([status, stderr]).toEqual([0, '']);
        else expect([status, stderr]).toEqual([1, `sockstat: standard output: ENOSPC: it failed, write\n`]);
      }
    }
  });
});

function emptyReport(): CaptureReport {
  const figures = { totalPackets: 0, appPackets: 0, frameBytes: 0, tcpBytes: 0, appBytes: 0 };
  return {
    file: 'x.pcapng', format: 'pcapng', linkTypes: ['Ethernet'], packets: 0, startTime: null, duration: 0, overall: figures, linkNetBytes: 0,
    otherPackets: {}, connections: [], connectionCount: 0, protocols: {},
    reassembly: { connections: 0, retransmittedSegments: 0, retransmittedBytes: 0, outOfOrderSegments: 0, overlapBytes: 0, gaps: 0, gapBytes: 0 },
    updates: [], updateCount: 0, steady: null, steadyByProtocol: [], setupNotes: [], latency: { requestToFirstByte: null, lastByteToAck: null }, setup: figures, teardown: figures, late: figures,
    warnings: [], warningCount: 0, comments: [], error: null,
    bytes: new ByteLedger(() => undefined).finish(),
  };
}

// ---------------------------------------------------------------------------------------------
// D: the spool folder of --json, whatever ends the process. bin/sockstat runs as a process of
// its own, with a TMPDIR of the test's own.

const BIN = join(ROOT, 'bin/sockstat');

function start(args: string[], tmp: string, stdout: 'pipe' | number = 'pipe'): ChildProcess & { stderrText: string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['pipe', stdout, 'pipe'] }) as ChildProcess & { stderrText: string };
  child.stderrText = '';
  child.stderr!.on('data', (d) => (child.stderrText += d));
  return child;
}

function ended(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
}

/** Waits for a spool folder with a file in it: the process is then mid-run. Bounded. */
async function spoolAppears(tmp: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const dirs = readdirSync(tmp);
    if (dirs.some((d) => existsSync(join(tmp, d)) && readdirSync(join(tmp, d)).length > 0)) return;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`sockstat ended before spooling: ${child.exitCode ?? child.signalCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no spool folder appeared');
}

/** A capture of 1100 exchanges (2200 messages: a batch of 1000 is spooled), not closed. */
function stalledCapture(): Buffer {
  const w = new PcapWriter();
  const packets = exchanges(1100, (i) => `ping ${i}\n`, (i) => `pong ${i}\n`, false);
  return Buffer.concat([w.header(), ...packets.map((p) => w.record(p))]);
}

describe('D: --json leaves nothing in the temporary directory', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`on ${signal} mid-run: the spool is removed and the process ends by the signal`, async () => {
      const tmp = freshDir();
      const child = start(['--json', '-'], tmp);
      const done = ended(child);
      // Standard input stays open: sockstat waits for the rest of the capture.
      child.stdin!.write(stalledCapture());
      child.stdout!.resume();
      await spoolAppears(tmp, child);
      child.kill(signal);
      const { code, signal: by } = await done;
      expect([code, by, child.stderrText]).toEqual([null, signal, '']);
      expect(readdirSync(tmp)).toEqual([]);
      rmSync(tmp, { recursive: true });
    });
  }

  test('when the reader closes the pipe early (| head): the spool is removed, status 0', async () => {
    const tmp = freshDir();
    const file = pcapFile(exchanges(3000, (i) => `ping ${i} ${'x'.repeat(200)}\n`, (i) => `pong ${i} ${'y'.repeat(200)}\n`));
    const child = start(['--json', file], tmp);
    const done = ended(child);
    // Not read: the pipe fills, and sockstat waits to write the connection it has spooled.
    await spoolAppears(tmp, child);
    child.stdout!.destroy();
    const { code, signal } = await done;
    expect([code, signal, child.stderrText]).toEqual([0, null, '']);
    expect(readdirSync(tmp)).toEqual([]);
    rmSync(tmp, { recursive: true });
  });

  test('when standard output fails (/dev/full): one line, status 1, the spool is removed', async () => {
    const tmp = freshDir();
    const file = pcapFile(exchanges(1200, (i) => `ping ${i}\n`, (i) => `pong ${i}\n`));
    const full = openSync('/dev/full', 'w');
    const child = start(['--json', file], tmp, full);
    closeSync(full);
    const { code, signal } = await ended(child);
    expect([code, signal]).toEqual([1, null]);
    expect(child.stderrText).toMatch(/^sockstat: standard output: ENOSPC[^\n]*\n$/);
    expect(readdirSync(tmp)).toEqual([]);
    rmSync(tmp, { recursive: true });
  });
});

describe('E: usage errors', () => {
  test('--warnings takes a whole number, 0 or more', async () => {
    for (const bad of ['abc', '-1', '1.5', '', '10x']) {
      const r = await run('--warnings', bad, 'x.pcap');
      expect([r.code, r.stdout], bad).toEqual([2, '']);
      expect(r.stderr, bad).toBe(`sockstat: option '--warnings <n>' argument '${bad}' is invalid. Expected a whole number, 0 or more. (see sockstat --help)\n`);
    }
    const file = pcapFile(exchanges(1, () => 'hi\n', () => 'ho\n'));
    expect((await run('--warnings', '0', file)).code).toBe(0);
  });

  test('--payloads with --stats csv or json: both would write to stdout, refused', async () => {
    for (const format of ['csv', 'json']) {
      const r = await run('--stats', format, '--payloads', 'x.pcap');
      expect(r).toEqual({ code: 2, stdout: '', stderr: `sockstat: option '--payloads' cannot be used with option '--stats ${format}' (see sockstat --help)\n` });
    }
  });

  test('a usage error quoting an argument escapes it, on one line', async () => {
    const r = await run('--stats', 'x\u001b[2J\u202e', 'x.pcap');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("sockstat: option '--stats <format>' argument 'x\\x1b[2J\\u{202e}' is invalid. Allowed choices are table, markdown, csv, json. (see sockstat --help)\n");
    // Commander's suggestion comes on a line of its own: joined to the error's.
    expect((await run('--jsn', 'x.pcap')).stderr).toBe("sockstat: unknown option '--jsn' (Did you mean --json?) (see sockstat --help)\n");
  });
});

describe('F: --max-memory', () => {
  test('sizes in bytes or K, M, G (powers of 1024) reach the analysis as maxMemory; the default is LIMITS.memoryBudget', async () => {
    const file = pcapFile(exchanges(1, () => 'hi\n', () => 'ho\n'));
    const cases: Array<[string[], number]> = [
      [[], LIMITS.memoryBudget],
      [['--max-memory', '256MB'], 256 * 1024 * 1024],
      [['--max-memory', '1G'], 1024 ** 3],
      [['--max-memory', '512k'], 512 * 1024],
      [['--max-memory', '1.5GiB'], 1.5 * 1024 ** 3],
      [['--max-memory', '1048576'], 1048576],
    ];
    for (const [args, bytes] of cases) {
      hooks.seen = [];
      const r = await run(...args, '--stats', 'csv', file);
      expect(r.code, args.join(' ')).toBe(0);
      expect(hooks.seen.map((o) => o.maxMemory), args.join(' ')).toEqual([bytes]);
    }
  });

  test('the budget is the one the reassembler keeps connections within', async () => {
    // 3,000 connections that never carry a byte: within the default budget all are held; in
    // 1 MiB, at most 1 MiB over what one connection is charged (CONNECTION_BYTES and what the
    // later stages hold, 4,856 bytes) are, and the rest are closed early, each counted.
    const file = pcapFile(collect((emit) => synFlood(3000, emit)));
    const held = (r: { stdout: string }) => JSON.parse(r.stdout).captures[0].reassembly;
    const plenty = held(await run('--json', file));
    expect([plenty.connections, plenty.evictedConnections]).toEqual([3000, undefined]);
    const tight = held(await run('--json', '--max-memory', '1M', file));
    expect(tight.connections).toBe(3000);
    expect(tight.evictedConnections).toBeGreaterThanOrEqual(3000 - Math.floor(2 ** 20 / 4856));
  });

  test('anything else is a usage error', async () => {
    for (const bad of ['abc', '0', '-5', '12Q', '1.5.2G', '', 'G']) {
      const r = await run('--max-memory', bad, 'x.pcap');
      expect([r.code, r.stdout, r.stderr.split('\n').length], bad).toEqual([2, '', 2]);
      expect(r.stderr, bad).toMatch(/^sockstat: option '--max-memory <size>' argument '.*' is invalid\. .* \(see sockstat --help\)\n$/);
    }
    expect(hooks.seen).toEqual([]);
  });

  test('--help documents it, with examples and the exit codes', async () => {
    const help = (await run('--help')).stdout;
    expect(help).toContain('--max-memory <size>');
    expect(help).toContain('(default: 256M)');
    expect(help).toContain('\nExamples:\n  sockstat capture.pcap');
    expect(help).toMatch(/\nExit status:\n  0  every capture was read whole\n  1  [^\n]+\n[\s\S]*\n  2  usage error\n/);
  });
});

describe('G: --payloads labels a coded body by what was done (issue 19.7)', () => {
  test('decoded: both sizes; not decoded: why, and no second copy of the body', async () => {
    const text = 'hello, decoded world\n'.repeat(20);
    const small = gzipSync(Buffer.from(text));
    const bomb = gzipSync(Buffer.alloc(LIMITS.inflatedBytesPerMessage + 1, 0x61));
    expect(bomb.length).toBeLessThan(LIMITS.keptBytesPerMessage);
    const s = session().handshake();
    s.send('client', 'GET /small HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${small.length}\r\n\r\n`), small]));
    s.send('client', 'GET /bomb HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`), bomb]));
    s.close();
    const r = await run('--payloads', pcapFile(s.packets));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`\n   [gzip body decoded: ${small.length} bytes sent, ${text.length} decoded]\n${text}`);
    expect(r.stdout).toContain(`\n   [gzip body not decoded (inflates beyond ${LIMITS.inflatedBytesPerMessage} bytes): shown as sent]`);
    expect(r.stdout.match(/body decoded/g)).toHaveLength(1);
  });
});

describe('H: JSON says how many warnings it does not list (issue 13.10)', () => {
  test('20 packets cut by the snap length: 20 counted, the first 5 listed, 15 not listed', async () => {
    const s = session().handshake();
    for (let i = 0; i < 20; i++) s.send('client', `${'x'.repeat(100)}\n`, { ack: false });
    s.close();
    // Each data frame cut to 60 bytes on the wire's record: Ethernet 14 + IPv4 20 + TCP 20 + 6.
    const cutPackets = s.packets.map((p) => (p.data.length > 60 ? { ...p, data: p.data.subarray(0, 60), originalLength: p.data.length } : p));
    const c = JSON.parse((await run('--json', pcapFile(cutPackets))).stdout).captures[0];
    const snap = c.warnings.filter((w: any) => w.message.startsWith('packet cut by the snap length'));
    expect(snap).toHaveLength(5);
    expect(c.warningCount - c.warnings.length).toBe(15);
    expect(c.warningsNotListed).toBe(15);
    // A capture whose warnings are all listed has no such field.
    const whole = JSON.parse((await run('--json', pcapFile(s.packets))).stdout).captures[0];
    expect('warningsNotListed' in whole).toBe(false);
  });
});
