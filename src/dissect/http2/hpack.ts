/**
 * HPACK (RFC 7541) decoding of HTTP/2 header blocks as captured: one HpackDecoder per
 * direction of a connection, fed every header block of that direction in order.
 */
import { HUFFMAN_EOS, huffmanDecode, huffmanMaxLength } from './huffman.js';

/** Name and value pairs in wire order; the same shape as HeaderList in ../types.ts. */
export type HeaderList = Array<[string, string]>;

/** ISO-8859-1, one character per byte: header bytes keep their values whatever they are. */
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/**
 * Why a header block cannot be decoded: code is one of hpack-bad-index, hpack-bad-integer,
 * hpack-bad-huffman, hpack-truncated, hpack-table-size, hpack-too-large.
 */
export class HpackError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HpackError';
  }
}

/** Appendix A, index 1 to 61. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_NAMES = STATIC_TABLE.map((e) => e[0]);
const STATIC_VALUES = STATIC_TABLE.map((e) => e[1]);
const STATIC_LENGTH = STATIC_TABLE.length;

/** §4.1: an entry's size is its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;
/** The largest integer accepted (§5.1 sets no bound; a table size or string length past 2^31 - 1 is an attack, not traffic). */
const MAX_INTEGER = 0x7fffffff;
/** Continuation bytes of an integer: 5 carry 31 bits; one more allows an encoder's redundant zero byte. */
const MAX_INTEGER_BYTES = 6;

/**
 * The decoding context of one direction (§2.2). The table's maximum size changes only by the
 * size updates the encoder sends (§4.2, §6.3); setMaxTableSize sets the limit they may not
 * exceed, and a limit below the current maximum shrinks the table at once and makes the next
 * block owe an update.
 */
export class HpackDecoder {
  /** The limit a size update may not exceed (§4.2: SETTINGS_HEADER_TABLE_SIZE as acknowledged). */
  private limit: number;
  /** The dynamic table's maximum size (§4.2), as the encoder last set it. */
  private capacity: number;
  private size = 0;
  /** The dynamic table as a ring, oldest entry at `first`: names[i] and values[i] make one entry. */
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  private first = 0;
  private count = 0;
  /** The limit fell below the capacity: the next block must open with a size update (§4.2). */
  private updateDue = false;
  /** The smallest limit since the last block, which that update must not exceed (§4.2). */
  private smallestLimit = Infinity;
  private broken: HpackError | null = null;
  /** Where the last readInteger / readString left off. */
  private pos = 0;
  /** Huffman output, reused from string to string. */
  private scratch = new Uint8Array(256);

  constructor(
    maxTableSize = 4096,
    private readonly maxHeaderListBytes = 64 * 1024,
  ) {
    checkSize(maxTableSize);
    this.limit = maxTableSize;
    this.capacity = maxTableSize;
  }

  /** Current dynamic table size (§4.1: the sum of name + value + 32 over the entries). */
  get tableSize(): number {
    return this.size;
  }

  /** Entries in the dynamic table. */
  get tableLength(): number {
    return this.count;
  }

  /** The limit a dynamic table size update may not exceed (the peer's SETTINGS_HEADER_TABLE_SIZE as acknowledged). */
  setMaxTableSize(n: number): void {
    checkSize(n);
    this.limit = n;
    if (n < this.capacity) {
      // §4.2: the encoder must shrink its table and signal it at the start of its next block;
      // shrinking here already evicts what that update will.
      this.updateDue = true;
      this.smallestLimit = Math.min(this.smallestLimit, n);
      this.capacity = n;
      this.evictTo(n);
    }
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads joined). Throws
   * HpackError; after a throw the table no longer matches the encoder's, and every later call
   * throws the same error.
   */
  decode(block: Uint8Array): HeaderList {
    if (this.broken) throw this.broken;
    try {
      return this.decodeBlock(block);
    } catch (e) {
      if (e instanceof HpackError) this.broken = e;
      throw e;
    }
  }

  private decodeBlock(b: Uint8Array): HeaderList {
    const end = b.length;
    const headers: HeaderList = [];
    const max = this.maxHeaderListBytes;
    let total = 0;
    let p = 0;

    // §6.3: size updates come first in a block; §4.2: one is required after the limit fell below the table's size.
    if (this.updateDue && (end === 0 || (b[0] & 0xe0) !== 0x20)) {
      throw new HpackError('hpack-table-size', `the header block does not open with the dynamic table size update required after the limit fell to ${this.smallestLimit}`);
    }
    while (p < end && (b[p] & 0xe0) === 0x20) {
      let n = b[p++] & 0x1f;
      if (n === 0x1f) {
        n = this.readInteger(b, p, 0x1f);
        p = this.pos;
      }
      const bound = this.updateDue ? this.smallestLimit : this.limit;
      if (n > bound) throw new HpackError('hpack-table-size', `dynamic table size update to ${n} exceeds the limit ${bound}`);
      this.updateDue = false;
      this.smallestLimit = Infinity;
      this.capacity = n;
      this.evictTo(n);
    }

    while (p < end) {
      const c = b[p++];
      let name: string;
      let value: string;
      if (c & 0x80) {
        // §6.1 Indexed Header Field.
        let index = c & 0x7f;
        if (index === 0x7f) {
          index = this.readInteger(b, p, 0x7f);
          p = this.pos;
        }
        if (index === 0) throw new HpackError('hpack-bad-index', 'indexed header field with index 0');
        if (index <= STATIC_LENGTH) {
          name = STATIC_NAMES[index - 1];
          value = STATIC_VALUES[index - 1];
        } else {
          const slot = this.slotOf(index);
          name = this.names[slot];
          value = this.values[slot];
        }
      } else if ((c & 0xe0) === 0x20) {
        throw new HpackError('hpack-table-size', 'dynamic table size update after a header field (§4.2: only at the start of a block)');
      } else {
        // §6.2.1 with incremental indexing (01, 6-bit prefix); §6.2.2 without indexing (0000) and
        // §6.2.3 never indexed (0001), 4-bit prefix. Never-indexed is a hint for intermediaries
        // re-encoding the field; a decoder handles it as without indexing.
        const indexing = (c & 0x40) !== 0;
        const prefix = indexing ? 0x3f : 0x0f;
        let index = c & prefix;
        if (index === prefix) {
          index = this.readInteger(b, p, prefix);
          p = this.pos;
        }
        if (index === 0) {
          name = this.readString(b, p);
          p = this.pos;
        } else if (index <= STATIC_LENGTH) {
          name = STATIC_NAMES[index - 1];
        } else {
          name = this.names[this.slotOf(index)];
        }
        if (total + name.length > max) throw tooLarge(max);
        value = this.readString(b, p);
        p = this.pos;
        if (indexing) this.add(name, value);
      }
      total += name.length + value.length;
      if (total > max) throw tooLarge(max);
      headers.push([name, value]);
    }
    return headers;
  }

  /** §5.1: the rest of an integer whose prefix bits were all ones, from b[p]; sets this.pos past it. */
  private readInteger(b: Uint8Array, p: number, prefix: number): number {
    let n = prefix;
    let factor = 1;
    for (let i = 0; i < MAX_INTEGER_BYTES; i++) {
      if (p >= b.length) throw new HpackError('hpack-truncated', 'header block ends inside an integer');
      const byte = b[p++];
      n += (byte & 0x7f) * factor;
      if (n > MAX_INTEGER) throw new HpackError('hpack-bad-integer', `integer exceeds ${MAX_INTEGER}`);
      if ((byte & 0x80) === 0) {
        this.pos = p;
        return n;
      }
      factor *= 128;
    }
    throw new HpackError('hpack-bad-integer', `integer longer than ${MAX_INTEGER_BYTES} continuation bytes`);
  }

  /** §5.2: a string literal from b[p]; sets this.pos past it. */
  private readString(b: Uint8Array, p: number): string {
    if (p >= b.length) throw new HpackError('hpack-truncated', 'header block ends before a string literal');
    const huffman = (b[p] & 0x80) !== 0;
    let len = b[p++] & 0x7f;
    if (len === 0x7f) {
      len = this.readInteger(b, p, 0x7f);
      p = this.pos;
    }
    const end = p + len;
    if (end > b.length) throw new HpackError('hpack-truncated', `string literal of ${len} bytes runs past the end of the header block`);
    this.pos = end;
    if (len === 0) return '';
    if (!huffman) return latin1Slice.call(b, p, end);
    const need = huffmanMaxLength(len);
    if (this.scratch.length < need) this.scratch = new Uint8Array(Math.max(need, 2 * this.scratch.length));
    const n = huffmanDecode(b, p, end, this.scratch);
    if (n < 0) {
      throw new HpackError('hpack-bad-huffman', n === HUFFMAN_EOS ? 'Huffman string contains EOS' : 'Huffman string padding is not up to 7 one bits');
    }
    return latin1Slice.call(this.scratch, 0, n);
  }

  /** The ring slot of index (> 61) in the index address space (§2.3.3), newest dynamic entry first. */
  private slotOf(index: number): number {
    const k = index - STATIC_LENGTH - 1;
    if (k >= this.count) {
      throw new HpackError('hpack-bad-index', `index ${index} is past the end of the tables (${STATIC_LENGTH} static + ${this.count} dynamic)`);
    }
    return (this.first + this.count - 1 - k) & this.mask;
  }

  /** §4.4: evict from the oldest until the entry fits; an entry larger than the table empties it. */
  private add(name: string, value: string): void {
    const s = name.length + value.length + ENTRY_OVERHEAD;
    if (s > this.capacity) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - s);
    if (this.count > this.mask) this.grow();
    const slot = (this.first + this.count) & this.mask;
    this.names[slot] = name;
    this.values[slot] = value;
    this.count++;
    this.size += s;
  }

  /** §4.3: evicts oldest entries until the table size is at most n. */
  private evictTo(n: number): void {
    while (this.size > n) {
      const slot = this.first;
      this.size -= this.names[slot].length + this.values[slot].length + ENTRY_OVERHEAD;
      // Drop the strings: an evicted header must not stay alive through the ring.
      this.names[slot] = this.values[slot] = '';
      this.first = (slot + 1) & this.mask;
      this.count--;
    }
  }

  private grow(): void {
    const cap = this.names.length;
    const names = new Array<string>(2 * cap).fill('');
    const values = new Array<string>(2 * cap).fill('');
    for (let i = 0; i < this.count; i++) {
      const slot = (this.first + i) & this.mask;
      names[i] = this.names[slot];
      values[i] = this.values[slot];
    }
    this.names = names;
    this.values = values;
    this.first = 0;
    this.mask = 2 * cap - 1;
  }
}

function tooLarge(max: number): HpackError {
  return new HpackError('hpack-too-large', `decoded header list exceeds ${max} bytes of names and values`);
}

function checkSize(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`HPACK table size must be an integer from 0 to 2^32 - 1, not ${n}`);
}
