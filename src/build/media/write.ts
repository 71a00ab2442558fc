// Writing a sized source to a file, checking it delivered exactly what it promised.

import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MediaError, type Sized } from './sources.js';

export async function writeSized(src: Sized, path: string): Promise<void> {
  let n = 0;
  async function* counted() {
    for await (const c of src.open()) {
      n += c.length;
      yield c;
    }
  }
  await pipeline(Readable.from(counted(), { objectMode: false }), createWriteStream(path));
  if (n !== src.size) throw new MediaError(`${path}: wrote ${n} bytes where ${src.size} were planned (a writer's size plan is wrong)`);
}
