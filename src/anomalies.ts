/**
 * Every anomaly sockstat reports, by code, in one table: Zeek's weird names and Wireshark's
 * expert info are the models. A warning is data: the code says what happened (tests and
 * other tools match on it), the frame where, the message in words for a person. Codes are
 * kebab-case, prefixed by the layer that finds them, and never renamed once released.
 *
 * severity: 'error' means something was not analysed (bytes lost, a layer gave up); 'warn'
 * means it was analysed in a way the reader should know (a guess, a cap); 'note' is a fact of
 * the capture worth saying (a retransmission). listed: how many of the code are listed in
 * the report's warnings, the rest counted (per code, so one flood cannot hide the others).
 */
export type Severity = 'error' | 'warn' | 'note';

interface Anomaly {
  severity: Severity;
  listed: number;
  description: string;
}

const A = (severity: Severity, description: string, listed = 100): Anomaly => ({ severity, listed, description });

export const ANOMALIES = {
  // analysis/
  'accounting-mismatch': A('error', 'bytes claimed by two messages, claimed past the end of the stream, or a message whose payload and lower framing exceed its bytes: a layer miscounted (please report the capture)'),
  'update-split-unfitted': A('warn', "an update whose messages' payload and TLS framing do not fit its own packets (their bytes rode in other updates' packets): its split is cut to fit"),
  // capture/
  'capture-version': A('warn', 'a pcap file of a version other than 2.4'),
  'capture-length': A('warn', 'a record whose original length is less than its captured length'),
  'capture-record-too-large': A('error', 'a record or block larger than a capture block may be (LIMITS.captureBlock): skipped'),
  'capture-block-malformed': A('error', 'a pcapng block whose contents contradict its length or type'),
  'capture-interface-limit': A('error', 'pcapng interfaces past LIMITS.pcapngInterfaces, or packets naming an interface not described: skipped'),
  // decode/
  'packet-malformed': A('error', 'a link, IP or TCP header that cannot be read: the packet is counted, not analysed', 5),
  'ip-length': A('warn', 'an IP length that says more bytes than the frame holds: figures from the frame'),
  'packet-cut': A('warn', 'a packet cut by the snap length: its missing bytes are lost to the stream', 5),
  // reassembly/
  'tcp-port-reused': A('note', 'a new SYN on a connection that had not closed: a new connection starts'),
  'tcp-no-handshake': A('warn', 'a connection whose handshake was not captured: client and server guessed from the ports'),
  'tcp-retransmission': A('note', 'data already received, sent again'),
  'tcp-overlap': A('note', 'a segment overlapping bytes already received; the first copy is kept'),
  'tcp-out-of-order': A('note', 'data ahead of the stream, held until the hole in front fills'),
  'tcp-hole-timeout': A('error', 'bytes held behind a hole past LIMITS.pendingBytesPerDirection: the hole is reported as a gap'),
  'tcp-retransmission-differs': A('warn', 'a second copy of data whose bytes differ from the first (an evasion signal); the first is kept'),
  'tcp-gap': A('error', 'stream bytes never captured (lost, or missed by the capture)'),
  'memory-budget': A('error', 'the memory budget was reached: held data or a quiet connection was let go'),
  // dissect/ (every layer)
  'dissector-failed': A('error', 'a layer failed on input it did not foresee: the rest of its stream is not dissected'),
  // dissect/http
  'http-gap': A('error', 'HTTP stream bytes lost: the layer resumes at the next request or status line'),
  'http-not-http': A('error', 'bytes that do not start an HTTP message where one must start: skipped to the next that does'),
  'http-head-too-long': A('error', 'an HTTP head longer than LIMITS.httpHead: skipped'),
  'http-bad-start-line': A('warn', 'a malformed request or status line'),
  'http-unrequested-response': A('warn', 'an HTTP response with no request seen before it'),
  'http-too-many-pending': A('warn', 'more requests waiting for responses than LIMITS.unansweredRequests'),
  'http-body-undelimited': A('error', 'a body whose length cannot be told (RFC 9112 §6.3): skipped to the next message'),
  'http-chunk-error': A('error', 'a malformed chunked body: the rest of the body cannot be followed'),
  'http-cut': A('error', 'the connection ended inside an HTTP head or body'),
  'http-coding': A('warn', 'a content coding not undone (unknown, too deep, or failed): the body is shown as sent'),
  'http-upgrade-unknown': A('warn', 'a connection upgraded to a protocol no layer dissects'),
  // dissect/sse
  'sse-cut': A('warn', 'an event stream that ended inside an event'),
  'sse-line-too-long': A('warn', 'an SSE line longer than LIMITS.sseLine: cut'),
  'sse-data-too-long': A('warn', 'event data longer than LIMITS.sseEventData: counted, not kept'),
  'sse-charset': A('warn', 'an event stream whose Content-Type names a charset other than UTF-8: read as UTF-8 (WHATWG HTML §9.2.5); Chromium dispatches none of its events'),
  'sse-bad-field': A('note', 'an unknown SSE field, or a retry value that is not a number: ignored (as the standard says)'),
  // dissect/websocket
  'ws-no-handshake': A('warn', 'WebSocket frames whose 101 answer was not captured: extensions unknown'),
  'ws-accept-mismatch': A('warn', 'a Sec-WebSocket-Accept missing, or not matching the key'),
  'ws-gap': A('error', 'WebSocket bytes lost: frame boundaries are searched for again'),
  'ws-resync': A('warn', 'WebSocket frames found again after a loss, or not found before the end'),
  'ws-cut': A('error', 'the connection ended inside a WebSocket frame or message'),
  'ws-frame-too-large': A('error', 'a WebSocket frame claiming a payload no capture can hold: the direction is not dissected further'),
  'ws-protocol-violation': A('warn', 'a frame breaking RFC 6455: reserved opcode or RSV bits, a bad control frame, wrong masking, a continuation out of place'),
  'ws-inflate': A('warn', 'a compressed message not inflated (too large, corrupt, or depending on one not inflated)'),
  // dissect/tls
  'tls-encrypted': A('note', 'TLS application data without keys: measured, not read'),
  'tls-no-key': A('warn', 'a TLS session whose key the key logs do not hold'),
  'tls-decrypt-failed': A('error', 'a TLS record that does not authenticate with the logged key: that direction stops decrypting'),
  'tls-gap': A('error', 'TLS bytes lost: that direction cannot be decrypted or framed further'),
  'tls-record-too-large': A('error', 'a TLS record longer than RFC 8446 §5.1 / RFC 5246 §6.2 allow'),
  'tls-malformed': A('error', 'a TLS record or handshake message that cannot be parsed'),
  'tls-cut': A('warn', 'the connection ended inside a TLS record'),
  'tls-unsupported': A('warn', 'a TLS session sockstat cannot decrypt (cipher suite, version, compression)'),
  'keylog-malformed': A('warn', 'a key log line that cannot be read'),
  // dissect/http2
  'h2-not-dissected': A('warn', 'an HTTP/2 connection, not dissected'),
  'h2-malformed': A('error', 'an HTTP/2 frame that breaks RFC 9113: the connection is not dissected further'),
  'h2-gap': A('error', 'HTTP/2 bytes lost: frames cannot be found again, the connection is not dissected further'),
  'h2-hpack': A('error', 'a header block that does not decode (RFC 7541): that direction is not dissected further'),
  'h2-cut': A('warn', 'the connection ended inside an HTTP/2 frame or stream'),
} as const satisfies Record<string, Anomaly>;

export type AnomalyCode = keyof typeof ANOMALIES;
