import { describe, expect, test, vi } from 'vitest';
import { analyzeFile } from '../src/analyze.js';
import { pcapFile, session } from './helpers/synth.js';
import { collect, synFlood } from './helpers/tcp-hostile.js';

// Every ConnectionDissector the analysis makes is counted, by a subclass put in its place.
const counter = vi.hoisted(() => ({ made: 0 }));
vi.mock('../src/dissect/connection.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../src/dissect/connection.js')>();
  class Counted extends m.ConnectionDissector {
    constructor(...args: ConstructorParameters<typeof m.ConnectionDissector>) {
      super(...args);
      counter.made++;
    }
  }
  return { ...m, ConnectionDissector: Counted };
});

describe('a connection that never carries a byte makes no dissector (issue 18)', () => {
  test('1,000 SYNs: none made; beside them, one connection with data: one made', async () => {
    const flood = collect((emit) => synFlood(1000, emit));
    const r = await analyzeFile(pcapFile(flood));
    expect([r.connectionCount, counter.made]).toEqual([1000, 0]);
    const s = session().handshake().send('client', 'hello\n').close();
    const r2 = await analyzeFile(pcapFile([...flood, ...s.packets]));
    expect([r2.connectionCount, counter.made]).toEqual([1001, 1]);
  });
});
