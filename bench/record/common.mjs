// Helpers shared by the recording server and load generator: options, pacing, payloads.
import { setTimeout as sleep } from 'node:timers/promises';

/** --name value options over defaults; a value is a number when its default is. */
export function options(defaults) {
  const o = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(.+)$/.exec(argv[i]);
    if (!m || !(m[1] in defaults)) throw new Error(`unknown option ${argv[i]} (known: ${Object.keys(defaults).join(', ')})`);
    const v = argv[++i];
    if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
    o[m[1]] = typeof defaults[m[1]] === 'number' ? Number(v) : v;
    if (typeof defaults[m[1]] === 'number' && !Number.isFinite(o[m[1]])) throw new Error(`${argv[i - 1]}: not a number: ${v}`);
  }
  return o;
}

/** A token bucket over time: resolves when `bytes` more fit in `rate` bytes/s (50 ms burst). */
export function pacer(rate) {
  let t = performance.now();
  return (bytes) => {
    const now = performance.now();
    t = Math.max(t, now - 50) + (bytes / rate) * 1000;
    return t - now > 2 ? sleep(t - now) : Promise.resolve();
  };
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor', 'whiskey', 'xray', 'yankee', 'zulu'];
const SYMBOLS = ['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'TSLA', 'META', 'IBM', 'ORCL', 'SAP'];

/** A JSON document of about `size` bytes (at least ~40), shaped like an API answer. */
export function jsonBody(rand, size, seq) {
  const head = `{"seq":${seq},"ts":${Date.now()},"status":"ok","items":[`;
  const parts = [];
  let len = head.length + 2;
  for (let i = 0; len < size; i++) {
    const item =
      `{"id":${Math.floor(rand() * 1e6)},"symbol":"${SYMBOLS[Math.floor(rand() * SYMBOLS.length)]}",` +
      `"price":${(rand() * 1000).toFixed(2)},"volume":${Math.floor(rand() * 1e5)},` +
      `"note":"${WORDS[Math.floor(rand() * WORDS.length)]} ${WORDS[Math.floor(rand() * WORDS.length)]}"}`;
    parts.push(item);
    len += item.length + 1;
  }
  return head + parts.join(',') + ']}';
}

/** One SSE event: id, sometimes an event name, data on one or two lines (RFC-less, WHATWG). */
export function sseEvent(rand, id, size = 80 + Math.floor(rand() * 320)) {
  const json = jsonBody(rand, size, id);
  let ev = `id: ${id}\n`;
  if (rand() < 0.3) ev += `event: ${rand() < 0.5 ? 'quote' : 'trade'}\n`;
  if (rand() < 0.2) {
    const cut = json.length >> 1;
    ev += `data: ${json.slice(0, cut)}\ndata: ${json.slice(cut)}\n\n`;
  } else ev += `data: ${json}\n\n`;
  return ev;
}
