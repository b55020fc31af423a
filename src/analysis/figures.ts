/** The five columns of the write-up's tables. */
export interface Figures {
  /** Every packet. */
  totalPackets: number;
  /** TCP segments carrying at least one byte of payload. */
  appPackets: number;
  /** Sum of frame lengths (on the wire, not as captured). */
  frameBytes: number;
  /** Sum of TCP header lengths, options included. */
  tcpBytes: number;
  /** Sum of TCP payload lengths. */
  appBytes: number;
}

export function emptyFigures(): Figures {
  return { totalPackets: 0, appPackets: 0, frameBytes: 0, tcpBytes: 0, appBytes: 0 };
}

export function addPacket(f: Figures, frameBytes: number, tcpBytes: number, appBytes: number): void {
  f.totalPackets++;
  if (appBytes > 0) f.appPackets++;
  f.frameBytes += frameBytes;
  f.tcpBytes += tcpBytes;
  f.appBytes += appBytes;
}

export function addFigures(into: Figures, f: Figures): void {
  into.totalPackets += f.totalPackets;
  into.appPackets += f.appPackets;
  into.frameBytes += f.frameBytes;
  into.tcpBytes += f.tcpBytes;
  into.appBytes += f.appBytes;
}

export function sameFigures(a: Figures, b: Figures): boolean {
  return a.totalPackets === b.totalPackets && a.appPackets === b.appPackets && a.frameBytes === b.frameBytes && a.tcpBytes === b.tcpBytes && a.appBytes === b.appBytes;
}

export const FIGURE_COLUMNS: Array<[keyof Figures, string]> = [
  ['totalPackets', 'Total Packets'],
  ['appPackets', 'App Packets'],
  ['frameBytes', 'Frame Bytes'],
  ['tcpBytes', 'TCP Bytes'],
  ['appBytes', 'App Bytes'],
];
