import { httpSpec } from './http.js';
import { textSpec } from './text.js';
import { tlsSpec } from './tls/layer.js';
import { http2Spec } from './http2/layer.js';
import type { Registry } from './host.js';
import type { DissectorSpec } from './types.js';
import { websocketSpec } from './websocket.js';

/**
 * Every dissector sockstat knows, in the order their probes are asked. Dissectors never
 * import each other: HTTP reaches WebSocket through ctx.handoffBy('upgrade', 'websocket').
 */
export const DISSECTORS: readonly DissectorSpec[] = [tlsSpec, http2Spec, httpSpec, websocketSpec];

/**
 * Hand-offs as data, as Wireshark registers dissector_add_string("tls.alpn", "h2", ...): the
 * layer that runs a stream once an Upgrade (RFC 9110 §7.8) or ALPN (RFC 7301) names its
 * protocol. A protocol not in a table is said (a coded warning), never guessed.
 */
export const HANDOFFS: Registry['tables'] = {
  upgrade: { websocket: 'websocket', h2c: 'http2' },
  alpn: { 'http/1.1': 'http', 'http/1.0': 'http', h2: 'http2' },
};

/** Takes a connection no probe claimed. */
export const FALLBACK: DissectorSpec = textSpec;
