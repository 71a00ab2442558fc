// The initrd of one build, written once to a scratch file beside the outputs (the media writers
// plan their layouts from its size, and several formats of a build embed it), hashed on the way
// for the seed of the media's identifiers, removed when the last format that reads it is done.

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { InitrdFile } from './sources.js';

export class InitrdScratch {
  private file?: Promise<InitrdFile>;

  constructor(
    readonly path: string,
    private readonly source: () => AsyncIterable<Uint8Array>,
  ) {}

  get(): Promise<InitrdFile> {
    this.file ??= this.write();
    return this.file;
  }

  private async write(): Promise<InitrdFile> {
    const hash = createHash('sha256');
    const src = this.source;
    async function* hashed() {
      for await (const c of src()) {
        hash.update(c);
        yield c;
      }
    }
    await pipeline(Readable.from(hashed(), { objectMode: false }), createWriteStream(this.path));
    return { path: this.path, size: (await stat(this.path)).size, sha256: hash.digest('hex') };
  }

  async release(): Promise<void> {
    await this.file?.catch(() => undefined);
    this.file = undefined;
    await rm(this.path, { force: true });
  }
}
