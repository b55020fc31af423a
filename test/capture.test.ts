import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { LINKTYPE } from '../src/capture/types.js';
import { PcapWriter, writePcap, writePcapng } from '../src/capture/writer.js';
import { ROOT, run } from './helpers/run.js';
import { ajaxSession, pcapFile, session, tempFile } from './helpers/synth.js';

const good = () => pcapFile(ajaxSession().packets);

describe('bad input gives one line, the right status, and the other files are still read', () => {
  const cases: Array<[string, () => string, string]> = [
    ['a missing file', () => join(ROOT, 'no-such-file.pcap'), 'no such file'],
    ['a directory', () => { const d = tempFile('', 'x'); const p = d + '.dir'; mkdirSync(p); return p; }, 'is a directory'],
    ['an empty file', () => tempFile(''), 'empty file'],
    ['a text file', () => tempFile('GET / HTTP/1.1\r\n\r\n'), 'not a capture file: unknown magic number 0x47455420 (sockstat reads pcap and pcapng)'],
    ['a file shorter than a magic number', () => tempFile('ab'), 'file is too short to be a capture (2 bytes)'],
    ['a pcap header cut short', () => tempFile(writePcap([]).subarray(0, 10)), 'file is too short for a pcap header (10 bytes)'],
  ];
  for (const [what, make, message] of cases) {
    test(what, async () => {
      const bad = make();
      const ok = good();
      const r = await run('--stats', 'csv', bad, ok);
      expect(r.stderr).toBe(`sockstat: ${bad}: ${message}\n`);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`overall,${ok.split('/').pop()},`);
    });
  }

  test('a file cut off inside a record: what was read is reported, with the error', async () => {
    const whole = writePcap(ajaxSession().packets);
    const cut = tempFile(whole.subarray(0, whole.length - 7));
    const r = await run(cut);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sockstat: .*: file is cut off: \d+ bytes of an incomplete record after frame 21\n$/);
    expect(r.stdout).toContain('21 packets');
  });

  test('a record longer than the snap length stops reading there', async () => {
    const w = new PcapWriter({ snapLength: 65535 });
    const pkts = ajaxSession().packets;
    const bogus = w.record(pkts[3]);
    bogus.writeUInt32LE(70000, 8);
    const file = tempFile(Buffer.concat([w.header(), w.record(pkts[0]), w.record(pkts[1]), w.record(pkts[2]), bogus, Buffer.alloc(4000)]));
    const r = await run('--stats', 'csv', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sockstat: ${file}: record 4 claims 70000 bytes, more than the snap length 65535: the file is corrupt from here\n`);
    expect(r.stdout).toMatch(/overall,[^,]+,3,/);
  });

  test('no stack trace and no Node warning on stderr, whatever the input', () => {
    // A capture larger than one read chunk, so records span chunks.
    const s = session().handshake();
    for (let i = 0; i < 900; i++) s.send('server', 'x'.repeat(1400), { ack: i % 10 === 0 });
    const big = pcapFile(s.close().packets);
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/sockstat'), '--stats', 'csv', big, join(ROOT, 'nope.pcap')], { encoding: 'utf8' });
    expect(r.stderr).toBe(`sockstat: ${join(ROOT, 'nope.pcap')}: no such file\n`);
    expect(r.status).toBe(1);
  });
});

describe('a named pipe', () => {
  test('is read as a stream (sockstat <(zcat capture.pcap.gz)), with the same figures as the file', async () => {
    const { spawn } = await import('node:child_process');
    const { constants, createWriteStream, openSync, closeSync, readFileSync } = await import('node:fs');
    const file = good();
    const fifo = tempFile('', 'x') + '.fifo';
    execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [join(ROOT, 'bin/sockstat'), '--stats', 'csv', fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // Written from libuv's threads: opening a pipe for writing waits for a reader.
    const writer = createWriteStream(fifo);
    writer.on('error', () => {});
    writer.end(readFileSync(file));
    const code = await new Promise((resolve) => child.on('close', resolve));
    // Had sockstat never opened the pipe, the writer would wait for ever: be its reader.
    if (writer.pending) closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    const fromFile = await run('--stats', 'csv', file);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const figures = (out: string) => out.split('\n').filter((l) => /^(overall|perUpdate)/.test(l)).map((l) => l.split(',').slice(2).join(','));
    expect(figures(stdout)).toEqual(figures(fromFile.stdout));
    expect(figures(stdout).length).toBe(2);
  });
});

describe('output to a reader that stops early', () => {
  test('sockstat ... | head: no stack trace, status 0', async () => {
    const { spawn } = await import('node:child_process');
    const s = session().handshake();
    for (let i = 0; i < 3000; i++) s.send('client', `line ${i}\n`).send('server', `answer ${i}\n`);
    const file = pcapFile(s.close().packets);
    const child = spawn(process.execPath, [join(ROOT, 'bin/sockstat'), '--payloads', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('container formats: the same exchange gives the same figures', () => {
  const packets = ajaxSession().packets;
  const base = async (file: string) => {
    const r = await run('--stats', 'json', file);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout).captures[0];
  };
  test('microsecond, nanosecond, big-endian pcap, pcapng (both byte orders, ns resolution) and gzip', async () => {
    const reference = await base(pcapFile(packets));
    expect(reference.overall.totalPackets).toBe(packets.length);
    const variants = [
      pcapFile(packets, { nanosecond: true }),
      pcapFile(packets, { bigEndian: true }),
      tempFile(writePcapng(packets)),
      tempFile(writePcapng(packets, { bigEndian: true, interfaces: [{ linkType: LINKTYPE.ETHERNET, tsresol: 9 }] })),
      tempFile(gzipSync(writePcap(packets))),
    ];
    for (const v of variants) {
      const c = await base(v);
      expect({ overall: c.overall, steadyState: c.steadyState, updateCount: c.updateCount }).toEqual({ overall: reference.overall, steadyState: reference.steadyState, updateCount: reference.updateCount });
    }
  });

  test('nanosecond timestamps survive in pcap and pcapng', async () => {
    const s = session().handshake();
    s.wait(0.000000123).send('client', 'hi');
    for (const file of [pcapFile(s.packets, { nanosecond: true }), tempFile(writePcapng(s.packets, { interfaces: [{ linkType: 1, tsresol: 9 }] }))]) {
      const r = await run('--json', file);
      const c = JSON.parse(r.stdout).captures[0];
      expect(c.connections[0].messages[0].time).toBeCloseTo(0.000300123, 9);
    }
  });

  test('pcapng with two interfaces of different link types, comments shown', async () => {
    const eth = session().handshake().send('client', 'one\n');
    const raw = session({ link: 'raw', client: { ip: '10.0.0.3', port: 40000 } }).handshake().send('client', 'two\n');
    const merged = [...eth.packets.map((p) => ({ ...p, interfaceId: 0 })), ...raw.packets.map((p) => ({ ...p, interfaceId: 1 }))];
    const file = tempFile(writePcapng(merged, { comment: 'two links', interfaces: [{ linkType: LINKTYPE.ETHERNET }, { linkType: LINKTYPE.RAW, comment: 'tun0' }] }));
    const r = await run(file);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('pcapng, Ethernet + raw IP, 10 packets');
    expect(r.stdout).toContain('comment: two links');
    expect(r.stdout).toContain('TCP connections: 2');
  });

  test('standard input', () => {
    const out = execFileSync(process.execPath, [join(ROOT, 'bin/sockstat'), '--stats', 'csv', '-'], { input: writePcap(packets) });
    expect(out.toString()).toMatch(/^overall,-,22,/m);
  });
});
