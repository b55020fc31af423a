import { headerValue, listMembers } from '../dissect/headers.js';
import type { HeaderList, Message, Role } from '../dissect/types.js';

/**
 * What a message is to the update rule (updates.ts), decided here from what the message is,
 * whichever layer and transport carried it: an HTTP/2 request is a request as an HTTP/1 one
 * is, an SSE event is a push over either, a WebSocket message the same over TCP or TLS.
 * Layers of opaque bytes alone (plain TCP bursts, TLS records that could not be read, HTTP/2
 * control frames) say what their messages are themselves (`wire.role`): nothing in the bytes
 * tells this function, and only the layer knows (a greeting before the client spoke, a record
 * that continues a run, a SETTINGS frame before the first request).
 */
export function roleOf(m: Message): Role {
  switch (m.kind) {
    case 'http-request':
      // An upgrade (RFC 9110 §7.8), an extended CONNECT (RFC 8441) or an event-stream
      // subscription sets up a channel: it asks for no single update.
      return upgrades(m.headers) || m.method === 'CONNECT' || acceptsEventStream(m.headers) ? 'setup' : 'request';
    case 'http-response':
      if (m.requestLost) return 'unpaired';
      if (m.status === 101) return 'setup';
      // Interim responses (RFC 9110 §15.2) and the head of an event stream travel with the next update.
      if (m.status >= 100 && m.status < 200) return 'prelude';
      return m.bodyLength === null ? 'prelude' : 'answer';
    case 'sse-event':
      return 'push';
    case 'sse-comment':
    case 'sse-fields':
      // A heartbeat, a retry or id alone: the stream's upkeep, no update of its own.
      return 'control';
    case 'ws-frame':
      // Data frames are counted through their message; control frames are their own (RFC 6455 §5.5).
      if (m.opcode < 8) return 'none';
      return m.opcode === 8 ? 'close' : 'control';
    case 'ws-message':
      return m.from === 'client' ? 'request' : 'push';
    default:
      return m.wire.role ?? 'none';
  }
}

/** Upgrade present and named in Connection (RFC 9110 §7.6.1, §7.8). */
function upgrades(headers: HeaderList): boolean {
  if (headerValue(headers, 'upgrade') === undefined) return false;
  const connection = headerValue(headers, 'connection');
  return connection !== undefined && listMembers(connection).includes('upgrade');
}

function acceptsEventStream(headers: HeaderList): boolean {
  return (headerValue(headers, 'accept') ?? '').includes('text/event-stream');
}
