import { stat } from 'node:fs/promises';
import { readCapture } from '../capture/open.js';
import { CaptureError, type Packet } from '../capture/types.js';
import { formatEndpoint, ipAddress } from '../decode/ip.js';
import { PacketDecoder } from '../decode/packet.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../decode/tcp.js';

/**
 * The packets of one update, read again from the capture for a ladder (sequence) diagram: the
 * report keeps no per-packet details, and keeping them for every packet would cost memory on
 * big captures. Only the update's frames are kept.
 */

/** Packets drawn at most: a ladder of more is unreadable, and the page would grow with the update. */
export const LADDER_MAX_PACKETS = 200;
/** Payload bytes shown of each packet (as printable ASCII). */
const PEEK_BYTES = 32;

export type Side = 'client' | 'server';

export interface LadderPacket {
  frame: number;
  /** Seconds since the first packet drawn. */
  time: number;
  from: Side;
  /** TCP payload bytes, from the IP length (what App Bytes counts). */
  payloadBytes: number;
  /** The frame's length on the wire (what Frame Bytes counts). */
  frameBytes: number;
  /** Of SYN, FIN, RST, PSH, ACK, those set, in that order. */
  flags: string[];
  /** The first captured payload bytes, printable ASCII kept and every other byte a '.'. */
  peek: string;
}

export interface Ladder {
  client: string;
  server: string;
  /** True when the report did not say which endpoint is the client: guessed from the ports. */
  rolesGuessed: boolean;
  /** In frame order. */
  packets: LadderPacket[];
  /** Frames of the update the second read did not find (the file changed, or was cut). */
  missing: number[];
  /** Frames of the update past LADDER_MAX_PACKETS, not drawn. */
  notDrawn: number;
}

const FLAG_NAMES: Array<[number, string]> = [[TCP_SYN, 'SYN'], [TCP_FIN, 'FIN'], [TCP_RST, 'RST'], [TCP_PSH, 'PSH'], [TCP_ACK, 'ACK']];

/** Thrown from the sink once every wanted frame has been seen: the rest of the file is not read. */
class AllFound extends CaptureError {}

/**
 * Reads `file` again and returns the ladder of the given frames (an update's `frames`).
 * `client` is the client's endpoint as the report writes it ("ip:port"), or null when the
 * report did not list the connection. Rejects with CaptureError, with a message for the reader.
 */
export async function readLadder(file: string, frames: number[], client: string | null): Promise<Ladder> {
  // Standard input and pipes are gone once read: the ladder needs a file it can read twice.
  if (file === '-') throw new CaptureError('standard input cannot be read a second time for the ladder');
  let isFile = false;
  try {
    isFile = (await stat(file)).isFile();
  } catch (e) {
    throw new CaptureError(`cannot read the capture again: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!isFile) throw new CaptureError('a pipe cannot be read a second time for the ladder');

  const drawn = [...frames].sort((a, b) => a - b).slice(0, LADDER_MAX_PACKETS);
  const wanted = new Set(drawn);
  const last = drawn.length ? drawn[drawn.length - 1] : 0;
  const decoder = new PacketDecoder();
  const found: Array<{ frame: number; sec: number; nsec: number; src: string; dst: string; srcPort: number; dstPort: number; payloadBytes: number; frameBytes: number; flags: number; peek: string }> = [];

  const packet = (p: Packet) => {
    if (p.frame > last) throw new AllFound('all found');
    if (!wanted.has(p.frame)) return;
    const d = decoder.decode(p);
    if (d.kind !== 'tcp') return;
    found.push({
      frame: p.frame, sec: p.tsSec, nsec: p.tsNsec,
      src: formatEndpoint(ipAddress(d.data, d.ip, 'src'), d.tcp.srcPort), dst: formatEndpoint(ipAddress(d.data, d.ip, 'dst'), d.tcp.dstPort),
      srcPort: d.tcp.srcPort, dstPort: d.tcp.dstPort,
      payloadBytes: d.payloadLength, frameBytes: p.originalLength, flags: d.tcp.flags, peek: peekOf(d.payload),
    });
  };
  if (drawn.length > 0) {
    try {
      await readCapture(file, { packet, warning: () => {} });
    } catch (e) {
      if (!(e instanceof AllFound)) throw e;
    }
  }

  const first = found[0];
  let clientEnd = client;
  let rolesGuessed = false;
  if (first && (clientEnd === null || (first.src !== clientEnd && first.dst !== clientEnd))) {
    // The lower port is the server's, as the reassembler guesses without a handshake.
    clientEnd = first.srcPort > first.dstPort ? first.src : first.dst;
    rolesGuessed = true;
  }
  const serverEnd = first ? (first.src === clientEnd ? first.dst : first.src) : '';
  const seen = new Set(found.map((f) => f.frame));
  return {
    client: clientEnd ?? '',
    server: serverEnd,
    rolesGuessed,
    packets: found.map((f) => ({
      frame: f.frame,
      // Whole seconds and nanoseconds apart, rounded to the nanosecond (a double cannot hold epoch nanoseconds).
      time: Math.round((f.sec - first.sec) * 1e9 + (f.nsec - first.nsec)) / 1e9,
      from: f.src === clientEnd ? 'client' : 'server',
      payloadBytes: f.payloadBytes,
      frameBytes: f.frameBytes,
      flags: FLAG_NAMES.filter(([bit]) => f.flags & bit).map(([, name]) => name),
      peek: f.peek,
    })),
    missing: drawn.filter((n) => !seen.has(n)),
    notDrawn: Math.max(0, frames.length - drawn.length),
  };
}

function peekOf(payload: Uint8Array): string {
  let s = '';
  const n = Math.min(PEEK_BYTES, payload.length);
  for (let i = 0; i < n; i++) {
    const c = payload[i];
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  }
  return s;
}
