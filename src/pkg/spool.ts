// An append-only temporary file holding file contents until a layer is written in sorted
// order: the sources (several .debs, the component folder) arrive in their own order, and
// tar needs each file's size up front. Memory stays flat however large the kernel is.
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface SpoolRef {
  offset: number;
  size: number;
}

export class Spool {
  private offset = 0;
  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
  ) {}

  static async create(dir: string): Promise<Spool> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `spool-${process.pid}-${Math.random().toString(36).slice(2)}`);
    return new Spool(file, await open(file, 'w+'));
  }

  async put(content: AsyncIterable<Uint8Array> | Uint8Array): Promise<SpoolRef> {
    const start = this.offset;
    const chunks = content instanceof Uint8Array ? [content] : content;
    for await (const chunk of chunks) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await this.fh.write(chunk, done, chunk.length - done, this.offset);
        done += bytesWritten;
        this.offset += bytesWritten;
      }
    }
    return { offset: start, size: this.offset - start };
  }

  async *read(ref: SpoolRef): AsyncIterable<Uint8Array> {
    if (ref.size === 0) return;
    yield* createReadStream(this.file, { start: ref.offset, end: ref.offset + ref.size - 1 });
  }

  async readAll(ref: SpoolRef): Promise<Buffer> {
    const buf = Buffer.alloc(ref.size);
    await this.fh.read(buf, 0, ref.size, ref.offset);
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.file, { force: true });
  }
}
