#!/usr/bin/env node
// Screenshots a page sockstat --html wrote, with Debian's Chromium (playwright-core downloads no
// browser). docs/report.png is made with:
//   node bin/sockstat --html /tmp/report.html fixtures/demo-tcp.pcap fixtures/demo-sse.pcap fixtures/demo-ws.pcap
//   node docs/screenshot.mjs /tmp/report.html docs/report.png 1100 --full
// Usage: node docs/screenshot.mjs PAGE.html OUT.png [width, default 1240] [--full]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const full = args.includes('--full');
const [page, out, width = '1240'] = args.filter((a) => a !== '--full');
if (!page || !out) {
  console.error('usage: node docs/screenshot.mjs PAGE.html OUT.png [width] [--full]');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'sockstat-chromium-'));
// A fresh profile (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: Number(width), height: 900 },
});
try {
  const p = await browser.newPage();
  await p.goto(pathToFileURL(resolve(page)).href);
  await p.screenshot({ path: out, fullPage: full });
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
