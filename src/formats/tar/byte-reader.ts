// A pull reader over a stream of byte chunks, for parsers of block formats (tar).
// It hands out views into the source's own chunks whenever a request fits in the current
// chunk, and copies only when a request spans chunks (a header cut by a chunk boundary).
// Synchronous fast paths (`available`, `take`) let a parser avoid an await per header.

const EMPTY = Buffer.alloc(0);

export type ByteSource = AsyncIterable<Uint8Array | string> | NodeJS.ReadableStream;

function asBuffer(chunk: Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'latin1');
  if (Buffer.isBuffer(chunk)) return chunk;
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export class ByteReader {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Absolute stream offset of buf[0]. */
  private base = 0;
  private readonly it: AsyncIterator<Uint8Array | string>;

  constructor(source: ByteSource) {
    this.it = (source as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  }

  /** Absolute offset of the next unread byte. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** Bytes readable without waiting. */
  get available(): number {
    return this.buf.length - this.pos;
  }

  /** Loads the next non-empty chunk once the current one is used up. False at the end of the source. */
  async pull(): Promise<boolean> {
    for (;;) {
      const r = await this.it.next();
      this.base += this.buf.length;
      this.pos = 0;
      if (r.done) {
        this.buf = EMPTY;
        return false;
      }
      const chunk = asBuffer(r.value);
      this.buf = chunk;
      if (chunk.length > 0) return true;
    }
  }

  /** A view of the next n bytes; the caller has checked n <= available. */
  take(n: number): Buffer {
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Exactly n bytes, or fewer only when the source ends first. */
  async read(n: number): Promise<Buffer> {
    if (this.available >= n) return this.take(n);
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      if (this.available === 0 && !(await this.pull())) break;
      const k = Math.min(this.available, n - got);
      parts.push(this.take(k));
      got += k;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, got);
  }

  /** Discards n bytes; returns how many were actually there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.available === 0 && !(await this.pull())) break;
      const k = Math.min(this.available, left);
      this.pos += k;
      left -= k;
    }
    return n - left;
  }

  /** Reads the source to its end, discarding it (so upstream digest checks see every byte). */
  async drain(): Promise<void> {
    this.pos = this.buf.length;
    while (await this.pull()) this.pos = this.buf.length;
  }

  /** Releases the source (destroys a Node stream) when the parser stops early. */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}
