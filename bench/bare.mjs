// The baseline: pcap-parser alone iterating over every packet of a file, touching each one.
import { createReadStream } from 'node:fs';
import pcapParser from 'pcap-parser';

const parser = pcapParser.parse(createReadStream(process.argv[2], { highWaterMark: 1 << 20 }));
let packets = 0;
let bytes = 0;
parser.on('packet', (p) => {
  packets++;
  bytes += p.header.originalLength;
});
parser.on('end', () => process.stdout.write(`${packets} ${bytes}\n`));
