import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { rng } from '../src/synth/random.js';
import { ROOT, run } from './helpers/run.js';
import { schemaErrors, type SchemaDef } from './helpers/schema.js';
import { structuredCase } from './helpers/structfuzz.js';
import { tempFile } from './helpers/synth.js';

// Issue 13.12: every JSON sockstat writes follows schema/sockstat.schema.json (draft
// 2020-12), checked by ajv, a validator kept by others: the goldens, every fixture in every
// JSON mode, and a sample of the structure-aware fuzzer's hostile captures.
const check = (def: SchemaDef, value: unknown, what: string) => expect(schemaErrors(def, value), what).toEqual([]);

async function everyMode(file: string, what: string): Promise<void> {
  check('jsonDocument', JSON.parse((await run('--json', file)).stdout), `${what} --json`);
  check('statsDocument', JSON.parse((await run('--stats', 'json', file)).stdout), `${what} --stats json`);
  const lines = (await run('--ndjson', file)).stdout.split('\n').filter(Boolean);
  for (const line of lines) check('ndjsonRecord', JSON.parse(line), `${what} --ndjson`);
}

describe('the JSON schema', () => {
  test('the schema is valid draft 2020-12, and every golden --json output follows it', () => {
    const goldens = readdirSync(join(ROOT, 'test/golden')).filter((f) => f.endsWith('.json.txt'));
    expect(goldens.length).toBeGreaterThan(10);
    for (const f of goldens) check('jsonDocument', JSON.parse(readFileSync(join(ROOT, 'test/golden', f), 'utf8')), f);
  });

  test('every fixture in --json, --stats json and --ndjson', async () => {
    const fixtures = readdirSync(join(ROOT, 'fixtures')).filter((f) => /\.pcap(ng)?$/.test(f));
    for (const f of fixtures) await everyMode(join(ROOT, 'fixtures', f), f);
  });

  test('the TLS fixtures, with their keys and without, and the HTTP/2 ones (measured as TLS or TCP)', async () => {
    for (const dir of ['tls', 'h2']) {
      for (const f of readdirSync(join(ROOT, 'fixtures', dir)).filter((x) => x.endsWith('.pcap'))) {
        const file = join(ROOT, 'fixtures', dir, f);
        await everyMode(file, f);
        const keys = file.replace(/\.pcap$/, '.keys');
        if (existsSync(keys)) {
          const j = JSON.parse((await run('--json', '--keylog', keys, file)).stdout);
          check('jsonDocument', j, `${f} --json --keylog`);
        }
      }
    }
  });

  test('40 hostile captures of the structure-aware fuzzer, and a file that cannot be read', async () => {
    const random = rng(20261213);
    for (let i = 0; i < 40; i++) await everyMode(tempFile(structuredCase(random).bytes), `case ${i}`);
    await everyMode(tempFile('not a capture at all'), 'not a capture');
  });

  test('it is strict: a field the schema does not know, or a wrong type, fails', () => {
    const doc = JSON.parse(readFileSync(join(ROOT, 'test/golden/demo-ws.pcap.json.txt'), 'utf8'));
    expect(schemaErrors('jsonDocument', doc)).toEqual([]);
    doc.captures[0].connections[0].messages[0].surprise = 1;
    expect(schemaErrors('jsonDocument', doc).length).toBeGreaterThan(0);
    delete doc.captures[0].connections[0].messages[0].surprise;
    doc.captures[0].overall.frameBytes = '12';
    expect(schemaErrors('jsonDocument', doc).length).toBeGreaterThan(0);
  });
});
