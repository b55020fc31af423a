// Issue 12: anomalies are data. One table (src/anomalies.ts), documented in README and in the
// JSON Schema; a layer added by one module and one table row (docs/architecture.md).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ANOMALIES } from '../src/anomalies.js';
import { ConnectionDissector } from '../src/dissect/connection.js';
import { DISSECTORS, FALLBACK } from '../src/dissect/registry.js';
import { DEFAULT_DISSECT_OPTIONS, type DataMessage, type DissectContext, type Dissector, type DissectorSpec, type Message } from '../src/dissect/types.js';
import type { Connection, Dir, StreamChunk } from '../src/reassembly/types.js';
import { ROOT } from './helpers/run.js';

describe('the anomaly table', () => {
  test('README lists every code with its severity, and nothing else', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const listed = [...readme.matchAll(/^\| `([a-z0-9-]+)` \| (error|warn|note) \|/gm)].map((m) => [m[1], m[2]]);
    expect(listed).toEqual(Object.entries(ANOMALIES).map(([code, a]) => [code, a.severity]));
  });

  test('the JSON Schema allows exactly the table\'s codes', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schema/sockstat.schema.json'), 'utf8'));
    expect(schema.$defs.anomalyCode.enum).toEqual(Object.keys(ANOMALIES));
  });

  test('every code used in src/ is in the table, and every code in the table is used', () => {
    const src = execFileSync('grep', ['-rhoE', '--exclude=anomalies.ts', "(warn|warning)\\([^,]+, '[a-z0-9-]+'", join(ROOT, 'src')], { encoding: 'utf8' });
    const used = new Set([...src.matchAll(/'([a-z0-9-]+)'$/gm)].map((m) => m[1]));
    for (const code of used) expect(Object.keys(ANOMALIES), code).toContain(code);
    // Codes reached through a variable (the TLS layer's stop(), SSE's parser) are found by name.
    const all = execFileSync('grep', ['-rhoE', '--exclude=anomalies.ts', "'[a-z0-9]+(-[a-z0-9]+)+'", join(ROOT, 'src')], { encoding: 'utf8' });
    const named = new Set([...all.matchAll(/'([a-z0-9-]+)'/g)].map((m) => m[1]));
    const unused = Object.keys(ANOMALIES).filter((c) => !named.has(c));
    expect(unused).toEqual([]);
  });
});

// docs/architecture.md's example layer, as written there.
class LinesLayer implements Dissector {
  private start: [number, number] = [0, 0];
  constructor(private readonly ctx: DissectContext) {}
  data(dir: Dir, c: StreamChunk): void {
    for (let i = 0; i < c.bytes.length; i++) {
      if (c.bytes[i] !== 0x0a) continue;
      const end = c.offset + i + 1;
      const start = this.start[dir];
      const m: DataMessage = {
        kind: 'data', from: dir === 0 ? 'client' : 'server', length: end - start,
        frames: this.ctx.framesFor(dir, start, end), time: this.ctx.timeAt(dir, start),
        wire: { dir, start, end, role: dir === 0 ? 'request' : 'push', useful: end - start - 1 },
      };
      this.ctx.emit(m);
      this.ctx.release(dir, end);
      this.start[dir] = end;
    }
  }
  gap(dir: Dir, offset: number, length: number): void {
    this.start[dir] = offset + length;
  }
  end(): void {}
}
const linesSpec: DissectorSpec = {
  name: 'lines',
  protocol: 'lines',
  probe: (_dir, head) => (head.length < 6 ? undefined : String.fromCharCode(...head.subarray(0, 6)) === 'LINES '),
  create: (ctx) => new LinesLayer(ctx),
};

test('a new layer is one module and one table row: the architecture notes\' example runs', () => {
  const conn: Connection = { id: 1, client: '10.0.0.1:5000', server: '10.0.0.2:7000', serverPort: 7000, firstFrame: 1, firstTime: 0, rolesGuessed: false };
  const msgs: Message[] = [];
  const protocols: string[] = [];
  const cd = new ConnectionDissector(conn, [...DISSECTORS, linesSpec], FALLBACK, { message: (_c, m) => msgs.push(m), warning: () => {}, protocol: (_c, p) => protocols.push(p) }, DEFAULT_DISSECT_OPTIONS);
  const send = (dir: Dir, offset: number, text: string, frame: number) => cd.data(dir, { bytes: Buffer.from(text), offset, frame, time: frame });
  send(0, 0, 'LINES hello\n', 1);
  send(1, 0, 'one\ntw', 2);
  send(1, 6, 'o\n', 3);
  expect(protocols).toEqual(['lines']);
  expect(msgs.map((m) => [m.from, m.frames, (m as DataMessage).length, m.wire.role])).toEqual([
    ['client', [1], 12, 'request'],
    ['server', [2], 4, 'push'],
    ['server', [2, 3], 4, 'push'],
  ]);
});
