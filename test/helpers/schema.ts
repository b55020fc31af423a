import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './run.js';

/** schema/sockstat.schema.json, compiled once by ajv (draft 2020-12, strict). */
const ajv = new Ajv2020({ allErrors: true, strict: true });
ajv.addSchema(JSON.parse(readFileSync(join(ROOT, 'schema/sockstat.schema.json'), 'utf8')), 'sockstat');

export type SchemaDef = 'jsonDocument' | 'statsDocument' | 'ndjsonRecord';

/** The first few ways `value` breaks the schema's definition `def`, as lines; [] when it follows it. */
export function schemaErrors(def: SchemaDef, value: unknown): string[] {
  const v = ajv.getSchema(`sockstat#/$defs/${def}`)!;
  return v(value) ? [] : v.errors!.slice(0, 5).map((e: ErrorObject) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}
