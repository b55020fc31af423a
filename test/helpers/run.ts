import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The seed captures live in ../shared beside the checkout (CI has it); never in the repo. */
export const SEED_DIR = process.env.SOCKSTAT_SEED_DIR ?? resolve(ROOT, '../shared/captures/seed');
export const HAVE_SEEDS = existsSync(resolve(SEED_DIR, 'wsapp.pcap'));
if (!HAVE_SEEDS) {
  console.warn(`seed captures not found at ${SEED_DIR}: the acceptance tests against EXPECTED.md are skipped (CI has ../shared beside the checkout)`);
}

export function seed(name: string): string {
  return resolve(SEED_DIR, name);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, as `sockstat ...args` would. */
export async function run(...args: string[]): Promise<RunResult> {
  // Bytes gathered and decoded at the end, as a terminal or a file would take them: a piece
  // written as bytes may end inside a character that the next piece completes.
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const bytes = (s: string | Uint8Array) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s));
  const code = await main(args, { write: (s) => out.push(bytes(s)) }, { write: (s) => err.push(bytes(s)) });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

export async function runJson(...args: string[]): Promise<any> {
  const r = await run('--json', ...args);
  if (r.code !== 0) throw new Error(`sockstat --json failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
