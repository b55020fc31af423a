/** A WebSocket frame laid out as RFC 6455 §5.2 says, masked when a key is given. */
export function wsFrame(opcode: number, payload: string | Uint8Array, mask?: ArrayLike<number>, fin = true): Uint8Array {
  const p = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  const len = p.length;
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  const out = new Uint8Array(head.length + (mask ? 4 : 0) + len);
  out.set(head);
  let o = head.length;
  if (mask) {
    for (let i = 0; i < 4; i++) out[o + i] = mask[i];
    o += 4;
    for (let i = 0; i < len; i++) out[o + i] = p[i] ^ mask[i & 3];
  } else out.set(p, o);
  return out;
}
