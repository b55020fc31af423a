declare module 'pcap-parser' {
  import { EventEmitter } from 'node:events';
  export interface GlobalHeader {
    magicNumber: number;
    majorVersion: number;
    minorVersion: number;
    gmtOffset: number;
    timestampAccuracy: number;
    snapshotLength: number;
    linkLayerType: number;
  }
  export interface PacketHeader {
    timestampSeconds: number;
    timestampMicroseconds: number;
    capturedLength: number;
    originalLength: number;
  }
  export interface ParsedPacket {
    header: PacketHeader;
    data: Buffer;
  }
  export interface Parser extends EventEmitter {
    errored: boolean;
  }
  export function parse(input: string | NodeJS.ReadableStream | EventEmitter): Parser;
  const _default: { parse: typeof parse };
  export default _default;
}
