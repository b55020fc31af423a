// The benchmark's load generator: browsers' traffic patterns against server.mjs. Each part
// is a count of concurrent loops; every loop is bounded by --max iterations and --duration.
// On SIGTERM it stops the loops, closes WebSockets with the closing handshake, and prints
// what it did as JSON on stderr.
//
//   --polls N         Ajax JSON polling, each on its own keep-alive connection
//   --ws N            WebSocket request/response loops (/ws/rpc); every other one deflated
//   --sse N           SSE firehose subscribers (/sse/firehose)
//   --short N         Ajax polling without keep-alive: a new connection per request
//   --wsfire N        WebSocket firehose receivers (/ws/firehose), of several extension set-ups
//   --subs N          SSE fan-out subscribers (/sse/fanout), opened over --ramp-ms
//   --sources N       spread connections over N source addresses 127.0.0.2... (loopback only)
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, prng } from './ws.mjs';
import { options } from './common.mjs';

const o = options({
  host: '127.0.0.1', port: 8080, duration: 600, max: 10_000_000, seed: 2,
  polls: 0, ws: 0, sse: 0, short: 0, wsfire: 0, subs: 0,
  'think-ms': 5, 'short-think-ms': 0, 'ramp-ms': 4000, sources: 1,
});
const deadline = Date.now() + o.duration * 1000;
let stopping = false;
const live = () => !stopping && Date.now() < deadline;
const rand = prng(o.seed);
const stats = { connections: 0, requests: 0, answers: 0, errors: 0, wsConnections: 0, wsSent: 0, wsReceived: 0, wsCompressedReceived: 0, wsErrors: 0, sseStreams: 0, sseBytes: 0 };
const seen = new WeakSet();
const sockets = new Set();
const wsConns = new Set();
const think = (ms) => (ms > 0 ? sleep(ms * 2 * rand()) : Promise.resolve());
let nextSource = 0;
const source = () => (o.sources > 1 && o.host.startsWith('127.') ? `127.0.0.${2 + (nextSource++ % o.sources)}` : undefined);

function track(req) {
  req.on('socket', (s) => {
    if (seen.has(s)) return;
    seen.add(s);
    stats.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
}

/** One request; resolves with the answer's body length, or -1 on an error. */
function request(agent, method, path, body) {
  return new Promise((resolve) => {
    const headers = { Accept: 'application/json', 'User-Agent': 'sockstat-bench' };
    if (body) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    const req = http.request({ host: o.host, port: o.port, method, path, headers, agent, localAddress: agent === false ? source() : undefined });
    track(req);
    stats.requests++;
    req.on('response', (res) => {
      let n = 0;
      res.on('data', (d) => (n += d.length));
      res.on('end', () => {
        stats.answers++;
        resolve(n);
      });
      res.on('error', () => resolve(-1));
    });
    req.on('error', () => {
      stats.errors++;
      resolve(-1);
    });
    req.end(body);
  });
}

async function pollLoop(i, keepAlive) {
  // maxSockets 1: exactly one keep-alive connection per loop, as one page's poller has.
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: source() }) : false;
  const thinkMs = keepAlive ? o['think-ms'] : o['short-think-ms'];
  for (let n = 0; n < o.max && live(); n++) {
    const size = Math.round(60 + rand() * rand() * (keepAlive ? 3000 : 500));
    if (keepAlive && rand() < 0.2) await request(agent, 'POST', `/api/poll?size=${size}`, JSON.stringify({ client: i, seq: n, since: Date.now() - 1000 }));
    else {
      const r = await request(agent, 'GET', `/api/poll?size=${size}&client=${i}&seq=${n}`);
      if (r < 0) await sleep(50); // do not spin on a refused connection
    }
    await think(thinkMs);
  }
  if (agent) agent.destroy();
}

async function wsOpen(path, deflate, seed) {
  try {
    const ws = await connect({ host: o.host, port: o.port, path, localAddress: source(), deflate, seed });
    stats.wsConnections++;
    stats.connections++;
    wsConns.add(ws);
    ws.onclose = () => account(ws);
    return ws;
  } catch {
    stats.errors++;
    return null;
  }
}

function account(ws) {
  if (!wsConns.delete(ws)) return;
  stats.wsErrors += ws.received.errors;
  stats.wsCompressedReceived += ws.received.compressed;
}

async function wsRpcLoop(i) {
  const deflate = i % 2 === 1 ? { serverNoContextTakeover: i % 4 === 3, clientNoContextTakeover: i % 4 === 3 } : null;
  const ws = await wsOpen('/ws/rpc', deflate, 100 + i);
  if (!ws) return;
  let wake = null;
  ws.onmessage = () => {
    stats.wsReceived++;
    wake?.();
  };
  for (let n = 0; n < o.max && live() && !ws.closed; n++) {
    const got = new Promise((r) => (wake = r));
    const want = Math.round(40 + rand() * rand() * 2000);
    ws.send(JSON.stringify({ op: 'get', seq: n, want, topic: `room-${i}` }));
    stats.wsSent++;
    await Promise.race([got, sleep(5000)]);
    await think(o['think-ms']);
  }
  ws.close(1000);
}

/** Firehose receivers: plain, deflate with and without context takeover, fragmented. */
const FIREHOSE = [
  { deflate: null, fragment: 0 },
  { deflate: { serverNoContextTakeover: false, clientNoContextTakeover: false }, fragment: 0 },
  { deflate: null, fragment: 16384 },
  { deflate: { serverNoContextTakeover: true, clientNoContextTakeover: true }, fragment: 0 },
  { deflate: null, fragment: 0 },
  { deflate: { serverNoContextTakeover: false, clientNoContextTakeover: false }, fragment: 16384 },
  { deflate: null, fragment: 0 },
  { deflate: { serverNoContextTakeover: false, clientNoContextTakeover: true }, fragment: 0 },
];

async function wsFirehose(i) {
  const { deflate, fragment } = FIREHOSE[i % FIREHOSE.length];
  const ws = await wsOpen(`/ws/firehose?fragment=${fragment}`, deflate, 200 + i);
  if (!ws) return;
  let n = 0;
  ws.onmessage = (opcode, data) => {
    stats.wsReceived++;
    if (opcode === 1) {
      // Checks our own deflate and framing: every text message the server sends is JSON.
      try {
        JSON.parse(data.toString());
      } catch {
        stats.wsErrors++;
      }
    }
    // A small acknowledgement now and then: masked client frames, compressed when agreed.
    if (++n % 50 === 0 && live()) {
      ws.send(JSON.stringify({ ack: n, at: Date.now() }));
      stats.wsSent++;
    }
  };
  while (live() && !ws.closed) await sleep(200);
  ws.close(1000);
}

function sseSubscribe(path) {
  return new Promise((resolve) => {
    const req = http.get({ host: o.host, port: o.port, path, agent: false, localAddress: source(), headers: { Accept: 'text/event-stream', 'Cache-Control': 'no-cache' } });
    track(req);
    req.on('response', (res) => {
      stats.sseStreams++;
      res.on('data', (d) => (stats.sseBytes += d.length));
      res.on('end', resolve);
      res.on('error', resolve);
    });
    req.on('error', () => {
      stats.errors++;
      resolve();
    });
    const timer = setInterval(() => {
      if (!live()) {
        clearInterval(timer);
        req.destroy();
        resolve();
      }
    }, 200);
    req.on('close', () => clearInterval(timer));
  });
}

const loops = [];
for (let i = 0; i < o.polls; i++) loops.push(pollLoop(i, true));
for (let i = 0; i < o.ws; i++) loops.push(wsRpcLoop(i));
for (let i = 0; i < o.sse; i++) loops.push(sseSubscribe('/sse/firehose'));
for (let i = 0; i < o.short; i++) loops.push(pollLoop(i, false));
for (let i = 0; i < o.wsfire; i++) loops.push(wsFirehose(i));
for (let i = 0; i < o.subs; i++) loops.push(sleep((o['ramp-ms'] * i) / o.subs).then(() => (live() ? sseSubscribe('/sse/fanout') : null)));

let done = false;
async function finish() {
  if (done) return;
  done = true;
  stopping = true;
  for (const ws of wsConns) ws.close(1000);
  await Promise.race([Promise.allSettled(loops), sleep(2500)]);
  for (const s of sockets) s.destroy();
  for (const ws of [...wsConns]) {
    account(ws);
    ws.socket.destroy();
  }
  process.stderr.write(`client: ${JSON.stringify(stats)}\n`);
  process.exit(0);
}
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
Promise.allSettled(loops).then(finish);
setTimeout(finish, (o.duration + 10) * 1000).unref();
