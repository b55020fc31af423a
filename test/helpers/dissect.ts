import { ConnectionDissector } from '../../src/dissect/connection.js';
import { DISSECTORS, FALLBACK } from '../../src/dissect/registry.js';
import { DEFAULT_DISSECT_OPTIONS, type DissectorSpec, type Message } from '../../src/dissect/types.js';
import type { Connection, Dir } from '../../src/reassembly/types.js';

const CONN: Connection = { id: 1, client: '10.0.0.1:50000', server: '10.0.0.2:8000', serverPort: 8000, firstFrame: 1, firstTime: 0, rolesGuessed: false };

/**
 * Drives one connection's dissection directly: each part is delivered as one chunk (its own
 * frame number), in the order given. Returns the messages and warnings.
 */
export function dissect(parts: Array<[Dir, Uint8Array]>, opts: { start?: { spec: DissectorSpec; params: unknown }; keepBytes?: boolean } = {}) {
  const msgs: Message[] = [];
  const warnings: string[] = [];
  const codes: string[] = [];
  const sink = { message: (_c: Connection, m: Message) => msgs.push(m), warning: (_f: number, code: string, w: string) => { warnings.push(w); codes.push(code); }, protocol: () => {} };
  const specs = opts.start ? [...DISSECTORS] : DISSECTORS;
  const cd = new ConnectionDissector(CONN, specs, FALLBACK, sink, { ...DEFAULT_DISSECT_OPTIONS, keepBytes: opts.keepBytes ?? true });
  if (opts.start) cd.start(opts.start.spec, opts.start.params);
  const offsets = [0, 0];
  parts.forEach(([dir, bytes], i) => {
    cd.data(dir, { bytes, offset: offsets[dir], frame: i + 1, time: i });
    offsets[dir] += bytes.length;
  });
  cd.end(0, 'eof', parts.length);
  cd.end(1, 'eof', parts.length);
  return { msgs, warnings, codes };
}
