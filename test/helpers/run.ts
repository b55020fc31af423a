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
  let stdout = '';
  let stderr = '';
  const text = (s: string | Uint8Array) => (typeof s === 'string' ? s : Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('utf8'));
  const code = await main(args, { write: (s) => (stdout += text(s)) }, { write: (s) => (stderr += text(s)) });
  return { code, stdout, stderr };
}

export async function runJson(...args: string[]): Promise<any> {
  const r = await run('--json', ...args);
  if (r.code !== 0) throw new Error(`sockstat --json failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
