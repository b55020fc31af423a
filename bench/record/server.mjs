// The benchmark's recording server: one node `http` server with the endpoints every shape
// needs. Every push loop is bounded in count and in time (--duration), and the process
// exits by itself a little after the duration whatever happens.
//
//   GET  /api/poll?size=N    a JSON answer (Content-Length) of about N bytes
//   POST /api/poll           the same, after reading a JSON request body
//   GET  /sse/firehose       SSE, chunked: writes of ~50 events each (--sse-rate bytes/s)
//   GET  /sse/fanout         SSE, chunked: one event every --fanout-ms (jittered) per subscriber
//   WS   /ws/rpc             answers each request message with one JSON message
//   WS   /ws/firehose        pushes messages of 20 B to 200 KB (--ws-rate bytes/s per connection);
//                            ?fragment=N sends messages larger than N in frames of N bytes
//
// Usage: node server.mjs --host 127.0.0.1 --port 8080 --duration 600 [--sse-rate 8e6] ...
import http from 'node:http';
import { acceptUpgrade, prng } from './ws.mjs';
import { jsonBody, options, pacer, sseEvent } from './common.mjs';

const o = options({ host: '127.0.0.1', port: 8080, duration: 600, 'sse-rate': 8e6, 'ws-rate': 4e6, 'fanout-ms': 300, seed: 1 });
const deadline = Date.now() + o.duration * 1000;
const live = () => Date.now() < deadline;
const rand = prng(o.seed);
const ssePace = pacer(o['sse-rate']);
const stats = { requests: 0, sseStreams: 0, sseEvents: 0, wsConnections: 0, wsSent: 0, wsDeflate: 0 };
const MAX_EVENTS = 1e9; // a count bound on every loop, besides the deadline

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/api/poll') {
    stats.requests++;
    const size = Number(url.searchParams.get('size') ?? 300);
    const answer = () => {
      const body = jsonBody(rand, size, stats.requests);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method === 'POST') {
      req.resume();
      req.on('end', answer);
    } else answer();
    return;
  }
  if (url.pathname === '/sse/firehose' || url.pathname === '/sse/fanout') {
    stats.sseStreams++;
    // No Content-Length on HTTP/1.1: node sends the stream chunked, one chunk per write.
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    res.write(': stream open\n\nretry: 2000\n\n');
    let stopped = false;
    res.on('close', () => (stopped = true)); // not req's: it closes once the request is read
    res.on('error', () => (stopped = true));
    if (url.pathname === '/sse/firehose') firehose(res, () => stopped);
    else fanout(res, () => stopped);
    return;
  }
  res.writeHead(404, { 'Content-Length': 0 }).end();
});

/** ~50 events per write, so one segment holds many events and events span segments. */
async function firehose(res, stopped) {
  let id = 0;
  for (let writes = 0; writes < MAX_EVENTS && live() && !stopped(); writes++) {
    const n = 40 + Math.floor(rand() * 21);
    let text = '';
    for (let i = 0; i < n; i++) text += sseEvent(rand, ++id);
    if (rand() < 0.05) text += ': keep-alive\n\n';
    stats.sseEvents += n;
    res.write(text);
    await ssePace(Buffer.byteLength(text));
    // Asked after the pause: a 'drain' during it has come and gone.
    if (res.writableNeedDrain && !stopped()) await new Promise((r) => res.once('drain', r));
  }
  if (!stopped()) res.end();
}

/** One event every few hundred ms, jittered per subscriber so they do not move in lockstep. */
function fanout(res, stopped) {
  let id = 0;
  const tick = () => {
    if (stopped() || !live() || id >= MAX_EVENTS) {
      if (!stopped()) res.end();
      return;
    }
    res.write(sseEvent(rand, ++id, 60 + Math.floor(rand() * rand() * 1500)));
    stats.sseEvents++;
    setTimeout(tick, o['fanout-ms'] * (0.5 + rand()));
  };
  setTimeout(tick, o['fanout-ms'] * rand());
}

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x');
  const ws = acceptUpgrade(req, socket, head, { seed: Math.floor(rand() * 2 ** 31) });
  if (!ws) return;
  stats.wsConnections++;
  if (ws.deflate) stats.wsDeflate++;
  if (url.pathname === '/ws/rpc') {
    ws.onmessage = (opcode, data) => {
      if (!live()) return ws.close(1001);
      let size = 200;
      try {
        size = JSON.parse(data.toString()).want ?? 200;
      } catch {}
      ws.send(jsonBody(rand, size, ws.sent.messages), { compress: size >= 256 });
      stats.wsSent++;
    };
  } else if (url.pathname === '/ws/firehose') {
    pushLoop(ws, Number(url.searchParams.get('fragment') ?? 0));
  } else ws.close(1008);
});

/** Mixed sizes, log-uniform from 20 B to 200 KB: JSON text mostly, some binary. */
async function pushLoop(ws, fragment) {
  const pace = pacer(o['ws-rate']);
  const pinger = setInterval(() => ws.ping(Buffer.from(String(Date.now()))), 2000);
  for (let n = 0; n < MAX_EVENTS && live() && !ws.closing && !ws.closed; n++) {
    const size = Math.round(20 * Math.pow(10000, rand()));
    const binary = rand() < 0.25;
    const data = binary ? randomBinary(size) : jsonBody(rand, size, n);
    // Like common servers, small messages go uncompressed (RFC 7692 6: per message, RSV1).
    await ws.send(data, { binary, compress: size >= 128, fragment });
    stats.wsSent++;
    await pace(size);
    if (ws.socket.writableNeedDrain) await new Promise((r) => ws.socket.once('drain', r));
  }
  clearInterval(pinger);
  if (!ws.closed) ws.close(1001);
}

function randomBinary(size) {
  const b = Buffer.allocUnsafe(size + 3);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((rand() * 4294967296) >>> 0, i);
  return b.subarray(0, size);
}

server.keepAliveTimeout = 30000;
server.headersTimeout = 35000;
server.maxHeadersCount = 100;
server.listen(o.port, o.host, () => process.stdout.write(`listening ${o.host}:${o.port}\n`));
const stop = () => {
  process.stderr.write(`server: ${JSON.stringify(stats)}\n`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, (o.duration + 30) * 1000).unref();
