// Gathers the many small pieces a writer produces (headers, padding, small files) into
// larger output chunks, so consumers see a few 64 KiB chunks instead of thousands of
// 512-byte ones (each chunk costs a promise and a stream hop downstream). Large pieces
// pass through without a copy.

const TARGET = 64 * 1024;
const BIG = 16 * 1024;

export class Batcher {
  private parts: Uint8Array[] = [];
  private len = 0;

  /** Adds a piece; appends any chunk ready to emit to `out`. */
  push(piece: Uint8Array, out: Uint8Array[]): void {
    if (piece.length === 0) return;
    if (piece.length >= BIG) {
      this.flush(out);
      out.push(piece);
      return;
    }
    this.parts.push(piece);
    this.len += piece.length;
    if (this.len >= TARGET) this.flush(out);
  }

  /** Emits whatever is pending. */
  flush(out: Uint8Array[]): void {
    if (this.len === 0) return;
    out.push(this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.len));
    this.parts = [];
    this.len = 0;
  }
}

/** Zero bytes for padding, shared (never mutated). */
export const ZEROS = Buffer.alloc(1024);
