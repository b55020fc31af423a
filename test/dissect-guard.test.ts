import { describe, expect, test } from 'vitest';
import { ConnectionDissector } from '../src/dissect/connection.js';
import { DEFAULT_DISSECT_OPTIONS, type DissectorSpec } from '../src/dissect/types.js';
import type { Connection } from '../src/reassembly/types.js';

const CONN: Connection = { id: 1, client: '10.0.0.1:50000', server: '10.0.0.2:8000', serverPort: 8000, firstFrame: 1, firstTime: 0, rolesGuessed: false };

describe('a dissector that fails (issue 12)', () => {
  test('leaves the rest of its connection undissected: no fresh dissector after a gap, an end or more data', () => {
    const made: string[] = [];
    const calls: string[] = [];
    const spec = (name: string, claims: boolean): DissectorSpec => ({
      name,
      protocol: name,
      probe: () => claims,
      create: () => {
        made.push(name);
        return {
          data: () => {
            calls.push(`${name} data`);
            throw new Error('unforeseen');
          },
          gap: () => calls.push(`${name} gap`),
          end: () => calls.push(`${name} end`),
        };
      },
    });
    const warnings: Array<[number, string]> = [];
    const sink = { message: () => {}, warning: (f: number, _code: string, w: string) => warnings.push([f, w]), protocol: () => {} };
    const cd = new ConnectionDissector(CONN, [spec('first', true)], spec('fallback', false), sink, DEFAULT_DISSECT_OPTIONS);
    const bytes = new Uint8Array([1, 2, 3]);
    cd.data(0, { bytes, offset: 0, frame: 4, time: 0 });
    cd.gap(0, 3, 100, 5);
    cd.data(0, { bytes, offset: 103, frame: 6, time: 0 });
    cd.gap(1, 0, 10, 7);
    cd.end(0, 'fin', 8);
    cd.end(1, 'fin', 9);
    expect(made).toEqual(['first']);
    expect(calls).toEqual(['first data']);
    expect(warnings).toEqual([[4, 'first dissector failed (unforeseen); the rest of connection 10.0.0.1:50000 -> 10.0.0.2:8000 is not dissected']]);
  });
});
