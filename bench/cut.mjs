#!/usr/bin/env node
// node bench/cut.mjs in.pcap out.pcap K: writes the first K records of a classic pcap file
// (the global header, then K records as they are), streaming. The benchmark times sockstat
// on such prefixes to see how its time grows with the capture.
import { closeSync, openSync, readSync, renameSync, writeSync } from 'node:fs';

const [input, output, countArg] = process.argv.slice(2);
const want = Number(countArg);
if (!input || !output || !Number.isInteger(want) || want < 0) {
  process.stderr.write('usage: node bench/cut.mjs in.pcap out.pcap K\n');
  process.exit(2);
}

const fin = openSync(input, 'r');
const part = `${output}.part`;
const fout = openSync(part, 'w');
let buf = Buffer.allocUnsafe(4 << 20);
let start = 0; // unread bytes are buf[start, end)
let end = 0;
let eof = false;

/** Makes at least n unread bytes available, unless the file ends first. */
function fill(n) {
  if (end - start >= n || eof) return end - start >= n;
  if (start > 0) {
    buf.copy(buf, 0, start, end);
    end -= start;
    start = 0;
  }
  if (n > buf.length) {
    const bigger = Buffer.allocUnsafe(Math.max(n, buf.length * 2));
    buf.copy(bigger, 0, 0, end);
    buf = bigger;
  }
  while (end < n && !eof) {
    const got = readSync(fin, buf, end, buf.length - end, null);
    if (got === 0) eof = true;
    end += got;
  }
  return end - start >= n;
}

if (!fill(24)) throw new Error(`${input}: too short for a pcap file`);
const magic = buf.readUInt32LE(0);
// pcap's magic, microsecond or nanosecond, either byte order; pcapng starts 0a0d0d0a.
const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
if (!little && magic !== 0xd4c3b2a1 && magic !== 0x4d3cb2a1) throw new Error(`${input}: not a classic pcap file (magic ${magic.toString(16)})`);
let pending = 24; // bytes to copy out before the next record header
let records = 0;
for (;;) {
  // Copy out what is owed, then look at the next record header.
  if (pending > 0) {
    if (!fill(1)) break;
    const k = Math.min(pending, end - start);
    writeSync(fout, buf, start, k);
    start += k;
    pending -= k;
    continue;
  }
  if (records === want || !fill(16)) break;
  const incl = little ? buf.readUInt32LE(start + 8) : buf.readUInt32BE(start + 8);
  pending = 16 + incl;
  records++;
}
closeSync(fout);
closeSync(fin);
if (pending > 0) throw new Error(`${input}: the last record is cut short`);
renameSync(part, output);
process.stdout.write(`${records}\n`);
