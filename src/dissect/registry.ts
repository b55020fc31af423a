import { httpSpec } from './http.js';
import { textSpec } from './text.js';
import { tlsSpec } from './tls/layer.js';
import { http2Spec } from './http2/layer.js';
import type { Registry } from './host.js';
import { sseSpec } from './sselayer.js';
import type { DissectorSpec } from './types.js';
import { websocketSpec } from './websocket.js';

/**
 * Every dissector sockstat knows, in the order their probes are asked. Dissectors never
 * import each other: HTTP reaches WebSocket through ctx.handoffBy('upgrade', 'websocket'),
 * and SSE, which has no probe (it is never the first thing on a stream), through the
 * content-type table.
 */
export const DISSECTORS: readonly DissectorSpec[] = [tlsSpec, http2Spec, httpSpec, websocketSpec, sseSpec];

/**
 * Hand-offs as data, as Wireshark registers dissector_add_string("tls.alpn", "h2", ...): the
 * layer that runs a stream once an Upgrade (RFC 9110 §7.8) or ALPN (RFC 7301) names its
 * protocol, and the layer that consumes a response body (a child stream of the HTTP layer,
 * HTTP/1 or HTTP/2) by its media type: type/subtype in lower case, parameters stripped, as
 * WHATWG MIME Sniffing calls a MIME type's essence. A protocol not in a table is said (a
 * coded warning), never guessed; a body of a type not in the table is the HTTP layer's own.
 */
export const HANDOFFS: Registry['tables'] = {
  upgrade: { websocket: 'websocket', h2c: 'http2' },
  alpn: { 'http/1.1': 'http', 'http/1.0': 'http', h2: 'http2' },
  'content-type': { 'text/event-stream': 'sse' },
};

/** Takes a connection no probe claimed. */
export const FALLBACK: DissectorSpec = textSpec;
