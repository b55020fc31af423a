import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePcap, type OutPacket, type PcapOptions } from '../../src/capture/writer.js';
import { TcpSession, type SessionOptions } from '../../src/synth/tcp.js';

const dir = mkdtempSync(join(tmpdir(), 'sockstat-test-'));
let n = 0;

/** Writes bytes to a fresh temporary file and returns its path. */
export function tempFile(bytes: Uint8Array | string, name = 'capture.pcap'): string {
  const p = join(dir, `${++n}-${name}`);
  writeFileSync(p, bytes);
  return p;
}

export function session(o: Partial<SessionOptions> = {}): TcpSession {
  return new TcpSession({ client: { ip: '10.0.0.1', port: 50000 }, server: { ip: '10.0.0.2', port: 8000 }, start: 1_700_000_000, ...o });
}

/** An Ajax-style exchange: page load, then `updates` polls of /time, then close. */
export function ajaxSession(o: Partial<SessionOptions> = {}, updates = 3): TcpSession {
  const s = session(o).handshake();
  s.send('client', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  s.send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello');
  for (let i = 0; i < updates; i++) {
    s.wait(1);
    s.send('client', 'GET /time HTTP/1.1\r\nHost: x\r\n\r\n');
    s.send('server', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"time":"10:00:0${i}"}\n`);
  }
  return s.wait(1).close();
}

export function pcapFile(packets: OutPacket[], o: PcapOptions = {}): string {
  return tempFile(writePcap(packets, o));
}

/** Runs `sockstat --json` on packets written to a temporary pcap; returns the one capture. */
export async function analyze(packets: OutPacket[], o: PcapOptions = {}): Promise<any> {
  const { runJson } = await import('./run.js');
  const j = await runJson(pcapFile(packets, o));
  return j.captures[0];
}

/** All messages of a capture, in connection order. */
export function messages(capture: any, kind?: string): any[] {
  const all = capture.connections.flatMap((c: any) => c.messages);
  return kind ? all.filter((m: any) => m.kind === kind) : all;
}
