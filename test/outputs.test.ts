import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { run, runJson } from './helpers/run.js';
import { analyze, messages, pcapFile, session } from './helpers/synth.js';

describe('the command line', () => {
  test('usage errors: one line, status 2; --help and --version: status 0', async () => {
    expect(await run()).toEqual({ code: 2, stdout: '', stderr: "sockstat: missing required argument 'capture' (see sockstat --help)\n" });
    const bad = await run('--stats', 'xml', 'x.pcap');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("sockstat: option '--stats <format>' argument 'xml' is invalid. Allowed choices are table, markdown, csv, json. (see sockstat --help)\n");
    expect((await run('--bogus', 'x.pcap')).stderr).toBe("sockstat: unknown option '--bogus' (see sockstat --help)\n");
    const help = await run('--help');
    expect([help.code, help.stdout.split('\n')[0]]).toEqual([0, 'Usage: sockstat [options] <capture...>']);
    expect(await run('--version')).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
    // Two outputs cannot share stdout when one of them is for machines.
    expect((await run('--json', '--ndjson', 'x.pcap')).stderr).toBe("sockstat: option '--json' cannot be used with option '--ndjson' (see sockstat --help)\n");
    expect((await run('--ndjson', '--stats', 'csv', 'x.pcap')).code).toBe(2);
  });
});

describe('--ndjson', () => {
  test('one JSON line per message, as found, with the file and connection', async () => {
    const r = await run('--ndjson', 'fixtures/demo-ws.pcap', 'fixtures/synth-sse.pcap');
    expect(r.code).toBe(0);
    const all = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    // Messages (18 in demo-ws, 6 in synth-sse: as listed by --json), then the other records.
    const lines = all.filter((l) => !['update', 'warning', 'capture'].includes(l.kind));
    expect(lines.length).toBe(18 + 6);
    expect(lines[0]).toMatchObject({ file: 'fixtures/demo-ws.pcap', connection: 1, client: '127.0.0.1:49240', server: '127.0.0.1:18085', kind: 'http-request', from: 'client', frames: [4] });
    const ws = lines.filter((l) => l.kind === 'ws-message');
    expect(ws.map((l) => l.text)).toEqual(['get-time', '{"time":"08:36:57"}', 'get-time', '{"time":"08:36:57"}', 'get-time', '{"time":"08:36:58"}']);
    expect(lines.filter((l) => l.kind === 'sse-event').map((l) => [l.file, l.id, l.data])).toEqual([
      ['fixtures/synth-sse.pcap', '1', '{"time":"12:00:10"}'],
      ['fixtures/synth-sse.pcap', '2', '{"time":"12:00:20"}'],
      ['fixtures/synth-sse.pcap', '3', '{"time":"12:00:30"}'],
    ]);
  });
});

describe('--ndjson carries the figures too (issue 13.7)', () => {
  test('a record per warning and per update as found, and per capture at its end, the same as --json', async () => {
    for (const file of ['fixtures/synth-ajax-lossy.pcap', 'fixtures/demo-sse.pcap']) {
      const records = (await run('--ndjson', file)).stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
      const doc = (await runJson(file)).captures[0];
      const of = (kind: string) => records.filter((r) => r.kind === kind).map(({ file: _f, kind: _k, ...rest }) => rest);
      const byIndex = (us: any[]) => [...us].sort((a, b) => a.index - b.index);
      expect(of('update').length, file).toBeGreaterThan(0);
      expect(byIndex(of('update')), file).toEqual(byIndex(doc.updates));
      expect(of('warning'), file).toEqual(doc.warnings);
      const capture = records[records.length - 1];
      expect(capture.kind, file).toBe('capture');
      const { file: _f, kind: _k, schemaVersion, ...figures } = capture;
      expect(schemaVersion, file).toBe(1);
      const { connections: _c, updates: _u, file: _df, ...docFigures } = doc;
      expect(figures, file).toEqual(docFigures);
    }
  });
});

describe('--json streams and stays one valid document', () => {
  test('with an unreadable file and a cut-off one among good ones', async () => {
    const { writePcap } = await import('../src/capture/writer.js');
    const { tempFile } = await import('./helpers/synth.js');
    const packets = session().handshake().send('client', 'hi\n').send('server', 'ho\n').close().packets;
    const whole = writePcap(packets);
    const cut = tempFile(whole.subarray(0, whole.length - 5));
    // What is left of the last record: its 16-byte header and its frame, less the 5 bytes cut.
    const left = 16 + packets[packets.length - 1].data.length - 5;
    const r = await run('--json', 'fixtures/demo-tcp.pcap', 'no-such.pcap', cut, 'fixtures/synth-sse.pcap');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.captures.map((c: any) => [c.file, c.error])).toEqual([
      ['fixtures/demo-tcp.pcap', null],
      [cut, `file is cut off: ${left} bytes of an incomplete record after frame 9`],
      ['fixtures/synth-sse.pcap', null],
    ]);
    expect(doc.captures[1].connections[0].messages.map((m: any) => m.text)).toEqual(['hi\n', 'ho\n']);
    expect(r.stderr).toBe(`sockstat: no-such.pcap: no such file\nsockstat: ${cut}: file is cut off: ${left} bytes of an incomplete record after frame 9\n`);
  });
});

describe('--json with long connections', () => {
  test('two interleaved connections of 1500 messages each: both whole, neither inside the other', async () => {
    const a = session({ client: { ip: '10.0.0.1', port: 40001 } }).handshake();
    const b = session({ client: { ip: '10.0.0.3', port: 40002 } }).handshake();
    for (let i = 0; i < 750; i++) {
      for (const s of [a, b]) s.setTime(...(a.now() > b.now() ? a : b).clock).send('client', `ping ${i}\n`).send('server', `pong ${i}\n`);
    }
    const { merge } = await import('../src/synth/tcp.js');
    const file = pcapFile(merge(a.close(), b.close()));
    const r = await run('--json', file);
    const c = JSON.parse(r.stdout).captures[0];
    expect(c.connections.map((k: any) => [k.id, k.messages.length, k.protocol])).toEqual([[1, 1500, 'tcp'], [2, 1500, 'tcp']]);
    expect(c.connections[1].messages[1499].text).toBe('pong 749\n');
    expect(c.updates.length).toBe(c.updateCount);
  });
});

describe('memory', () => {
  test('collecting messages (--payloads) does not keep the update list; only asking for it does', async () => {
    const { analyzeFile } = await import('../src/analyze.js');
    const collected = await analyzeFile('fixtures/demo-ws.pcap', { collectMessages: true });
    expect([collected.updates.length, collected.updateCount]).toEqual([0, 3]);
    const kept = await analyzeFile('fixtures/demo-ws.pcap', { keepUpdates: true });
    expect(kept.updates.map((u) => u.index)).toEqual([1, 2, 3]);
  });
});

describe('--payloads of binary TCP data', () => {
  test('a hex dump: offset, 16 bytes in hex padded to 47 columns, and dots for all but printable ASCII', async () => {
    const s = session({ server: { ip: '10.0.0.2', port: 7000 } }).handshake();
    s.send('client', Uint8Array.from({ length: 20 }, (_, i) => (i < 16 ? i * 17 : 0x41 + i)));
    const out = (await run('--payloads', pcapFile(s.close().packets))).stdout;
    // 0x00, 0x11, ... 0xff: only 0x22 (") to 0x77 (w) are printable; then 0x51-0x54 are Q R S T.
    const dump = [
      '00000000  00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff  ..\"3DUfw........',
      `00000010  51 52 53 54${' '.repeat(47 - 11)}  QRST`,
    ];
    expect(out).toContain(`>> client 20 bytes [frame 4, 0.000300 s]\n${dump.join('\n')}\n`);
  });
});

describe('--payloads alone counts no updates', () => {
  test('the same messages with and without update counting; --payloads --stats still prints both', async () => {
    const { analyzeFile } = await import('../src/analyze.js');
    const counted = await analyzeFile('fixtures/demo-ws.pcap', { collectMessages: true });
    const uncounted = await analyzeFile('fixtures/demo-ws.pcap', { collectMessages: true, updates: false });
    expect(uncounted.connections.map((c) => c.messages)).toEqual(counted.connections.map((c) => c.messages));
    expect([counted.updateCount, uncounted.updateCount, uncounted.steady]).toEqual([3, 0, null]);
    const alone = (await run('--payloads', 'fixtures/demo-ws.pcap')).stdout;
    const both = (await run('--payloads', '--stats', 'markdown', 'fixtures/demo-ws.pcap')).stdout;
    // With --stats the updates are counted: the tables are the markdown golden's (figures checked
    // against tshark), where --payloads alone ends with a blank line.
    expect(alone.endsWith('\n\n')).toBe(true);
    expect(both).toBe(alone.slice(0, -1) + readFileSync('test/golden/demo-ws.pcap.markdown.txt', 'utf8'));
  });
});

describe('--stats in every format', () => {
  test('csv and json carry the same figures as markdown', async () => {
    const csv = (await run('--stats', 'csv', 'fixtures/demo-tcp.pcap')).stdout.trim().split('\n');
    expect(csv[0]).toBe('table,pcap,total_packets,app_packets,frame_bytes,tcp_bytes,app_bytes,link_ip_bytes,tcp_header_bytes,app_framing_bytes,payload_bytes,useful_percent,' +
      'direction,resent_bytes,tls_layer_framing_bytes,http_layer_framing_bytes,http2_layer_framing_bytes,websocket_layer_framing_bytes,sse_layer_framing_bytes,layer_payload_bytes,unclaimed_bytes,lost_bytes');
    const none = ',,,,,,,,,,';
    // The byte-accounting rows' figures per direction are tshark's (frame.len - tcp.hdr_len -
    // tcp.len, tcp.hdr_len, tcp.len summed by tcp.dstport): 374/360/15 to the server, 238/232/60 back.
    expect(csv.slice(1)).toEqual([
      `overall,demo-tcp.pcap,18,7,1279,592,75,,,,,${none}`,
      `perUpdate,demo-tcp.pcap,3,2,213,96,15,,,,,${none}`,
      `serverToClient,demo-tcp.pcap,2,1,142,64,10,,,,,${none}`,
      `overhead,demo-tcp.pcap,,,,,,102,96,0,15,7.0${none}`,
      'bytes,demo-tcp.pcap,,,,,,374,360,,,,client to server,0,0,0,0,0,0,15,0,0',
      'bytes,demo-tcp.pcap,,,,,,238,232,,,,server to client,0,0,0,0,0,0,60,0,0',
    ]);
    const json = JSON.parse((await run('--stats', 'json', 'fixtures/demo-tcp.pcap')).stdout);
    expect(json.captures[0]).toMatchObject({ overall: { totalPackets: 18, frameBytes: 1279 }, steadyState: { totalPackets: 3, frameBytes: 213, serverOnly: { frameBytes: 142 } }, updateCount: 3 });
    // One contract (issue 13.11): the fields --stats json prints are --json's, value for value.
    const full = (await runJson('fixtures/demo-tcp.pcap')).captures[0];
    for (const key of Object.keys(json.captures[0])) expect(json.captures[0][key], key).toEqual(full[key]);
    const table = (await run('--stats', 'table', 'fixtures/demo-tcp.pcap')).stdout;
    expect(table).toContain('│ demo-tcp.pcap │ 18            │ 7           │ 1279        │ 592       │ 75        │');
  });
});

describe('warnings name their frame in every mode', () => {
  test('--stats (no frame maps) and --json give the same frames', async () => {
    const s = session().handshake();
    s.send('client', 'GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    const event = 'retry: soon\ndata: x\n\n';
    s.send('server', `${event.length.toString(16)}\r\n${event}\r\n`);
    s.send('server', 'zz\r\n');
    const file = pcapFile(s.close().packets);
    const json = (await run('--json', file)).stdout;
    const frames = JSON.parse(json).captures[0].warnings.map((w: any) => `frame ${w.frame}: ${w.message}`);
    expect(frames).toEqual([
      'frame 8: invalid SSE retry value "soon": ignored',
      'frame 10: invalid chunk size "zz": the rest of this body cannot be followed; skipping to the next status line',
    ]);
    const stats = await run('--stats', 'csv', file);
    expect(stats.stderr).toBe(frames.map((f: string) => `sockstat: ${file}: warning: ${f}\n`).join(''));
  });
});

describe('snap-length cuts', () => {
  test('a packet cut by the snap length: what is known is counted, the rest is a gap, with a warning', async () => {
    const s = session().handshake();
    s.send('client', 'GET / HTTP/1.1\r\n\r\n');
    s.send('server', `HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(1000)}`);
    s.send('client', 'GET /next HTTP/1.1\r\n\r\n');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const packets = s.close().packets.map((p) => (p.data.length > 200 ? { ...p, data: p.data.subarray(0, 200), originalLength: p.data.length } : p));
    const c = await analyze(packets, { snapLength: 200 });
    expect(c.overall.appBytes).toBe(18 + 1041 + 22 + 40); // request, 17+22+2+1000, request, 17+19+2+2
    expect(c.warnings[0].message).toBe('packet cut by the snap length: 146 of 1041 payload bytes captured');
    const responses = messages(c, 'http-response');
    expect(responses.map((m: any) => [m.status, m.bodyLength])).toEqual([[200, 1000], [200, 2]]);
    expect(responses[1].body).toBe('ok');
  });
});

describe('IPv4 fragments and other traffic', () => {
  test('are counted by kind and reported, never dropped silently', async () => {
    const s = session().handshake().send('client', 'hello');
    const frag = Uint8Array.from(s.packets[3].data);
    frag[14 + 6] |= 0x20; // More Fragments
    const arp = Uint8Array.from([...Array(12).fill(0xff), 0x08, 0x06, ...Array(28).fill(0)]);
    const file = pcapFile([...s.packets.slice(0, 3), { ...s.packets[3], data: frag }, { ...s.packets[3], data: arp }]);
    const r = await run(file);
    expect(r.stdout).toContain('Not TCP: 1 IPv4 fragment, 1 ARP');
    expect(r.stdout).toContain('frame 4: IPv4 fragment: not reassembled');
  });
});

describe('stream order under loss (issue 13.5)', () => {
  test('a message held behind a hole is listed before the next one in its stream, in --json and --payloads', async () => {
    // Two pipelined requests; the first one's segment is lost and comes again after the
    // second's (held out of order until then): both complete at the retransmission.
    const first = 'GET /first HTTP/1.1\r\nHost: x\r\n\r\n';
    const second = 'GET /second HTTP/1.1\r\nHost: x\r\n\r\n';
    const s = session().handshake();
    s.segmentAt('client', first.length, second);
    s.wait(0.2);
    s.segmentAt('client', 0, first);
    s.advance('client', first.length + second.length).ack('server');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1');
    s.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2');
    s.close();
    const file = pcapFile(s.packets);
    const msgs = (await runJson(file)).captures[0].connections[0].messages;
    expect(msgs.filter((m: any) => m.kind === 'http-request').map((m: any) => m.target)).toEqual(['/first', '/second']);
    const out = (await run('--payloads', file)).stdout;
    expect(out.indexOf('GET /first')).toBeGreaterThan(0);
    expect(out.indexOf('GET /first')).toBeLessThan(out.indexOf('GET /second'));
  });
});
