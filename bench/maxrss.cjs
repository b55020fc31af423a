// Preloaded into each timed process: writes its peak RSS (KiB) where the benchmark asks.
// VmHWM, the peak of this process's own memory map, where Linux has it: getrusage's maxrss
// is "preserved across an execve(2)" (getrusage(2)), so a child forked from a large process
// (a test runner) would report its parent's peak.
const { readFileSync, writeFileSync } = require('node:fs');
process.on('exit', () => {
  if (!process.env.BENCH_RSS_FILE) return;
  let kib = process.resourceUsage().maxRSS;
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) kib = Number(m[1]);
  } catch {
    // Not Linux: maxrss it is.
  }
  writeFileSync(process.env.BENCH_RSS_FILE, String(kib));
});
