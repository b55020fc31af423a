import { wsFrame } from '../../src/synth/websocket.js';
import { session, tempFile } from './synth.js';
import { writePcap } from '../../src/capture/writer.js';

/** Markup that runs script if a page ever writes it unescaped. */
export const SCRIPT = '<script>alert(1)</script>';
export const IMG = '<img src=x onerror=alert(1)>';
export const JS_URL = 'javascript:alert(1)';
export const QUOTES = `"'`;

/** A file name holding all of them (a file name cannot hold a slash, so no closing tag). */
export const HOSTILE_NAME = `${QUOTES}><img src=x onerror=alert(1)><script>alert(1)${JS_URL}.pcap`;

/**
 * Captures whose every text a report shows (file name, HTTP target and headers, SSE data and
 * field names, WebSocket text, close reasons and handshake headers) is markup, and whose steady
 * updates begin with it, so that the ladder's payload peek and the warnings quote it.
 * Returns their paths.
 */
export function hostileCaptures(): string[] {
  const files: string[] = [];

  // Raw TCP: the request and the answer are markup.
  const tcp = session().handshake();
  for (let i = 0; i < 3; i++) {
    tcp.wait(1).send('client', `${SCRIPT}\n`);
    tcp.send('server', `${IMG}${QUOTES}${JS_URL}\n`);
  }
  files.push(tempFile(writePcap(tcp.wait(1).close().packets), HOSTILE_NAME));

  // HTTP polling: markup in the target and the headers; an unknown content coding is quoted by its warning.
  const http = session({ client: { ip: '10.0.0.3', port: 50001 } }).handshake();
  for (let i = 0; i < 3; i++) {
    http.wait(1).send('client', `GET /${SCRIPT}?u=${JS_URL} HTTP/1.1\r\nHost: x\r\nX-Trap: ${IMG}${QUOTES}\r\n\r\n`);
    http.send('server', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: ${IMG}\r\nX-Trap: ${SCRIPT}\r\nContent-Length: 4\r\n\r\n"x"\n`);
  }
  files.push(tempFile(writePcap(http.wait(1).close().packets), 'http.pcap'));

  // SSE: markup as event data and as a field name (quoted by its warning).
  const sse = session({ client: { ip: '10.0.0.4', port: 50002 } }).handshake();
  sse.send('client', 'GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
  sse.send('server', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n');
  for (let i = 0; i < 3; i++) sse.wait(1).send('server', `data: ${SCRIPT}\n${IMG}: ${QUOTES}\n\n`);
  files.push(tempFile(writePcap(sse.wait(1).close().packets), 'sse.pcap'));

  // WebSocket: markup as the Accept header (quoted by its warning), as text messages and as close reasons.
  const ws = session({ client: { ip: '10.0.0.5', port: 50003 }, server: { ip: '10.0.0.2', port: 8080 } }).handshake();
  ws.send('client', 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  ws.send('server', `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${SCRIPT}\r\n\r\n`);
  const mask = [1, 2, 3, 4];
  for (let i = 0; i < 3; i++) {
    ws.wait(1).send('client', wsFrame(1, `${IMG}${QUOTES}`, mask));
    ws.send('server', wsFrame(1, `${SCRIPT}${QUOTES}${JS_URL}`));
  }
  const reason = (text: string) => Uint8Array.from([0x03, 0xe8, ...new TextEncoder().encode(text)]);
  ws.wait(1).send('client', wsFrame(8, reason(IMG), mask));
  ws.send('server', wsFrame(8, reason(SCRIPT)));
  files.push(tempFile(writePcap(ws.wait(1).close().packets), 'ws.pcap'));

  return files;
}
