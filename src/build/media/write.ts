// Writing a sized source to a file, checking it delivered exactly what it promised.

import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { isZeroChunk } from '../../formats/disk/write.js';
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
  checkSize(src, path, n);
}

/**
 * As writeSized, for disks: the zeros the disk writer pads with (its shared zero chunks) become
 * holes in the file (seeked over, and the file's length set at the end), so an empty slot of
 * hundreds of MiB costs neither writes nor space. The file reads the same bytes.
 */
export async function writeSparse(src: Sized, path: string): Promise<void> {
  const fh = await open(path, 'w');
  let n = 0;
  try {
    for await (const c of src.open()) {
      if (!isZeroChunk(c)) {
        let done = 0;
        while (done < c.length) done += (await fh.write(c, done, c.length - done, n + done)).bytesWritten;
      }
      n += c.length;
    }
    await fh.truncate(n);
  } finally {
    await fh.close();
  }
  checkSize(src, path, n);
}

function checkSize(src: Sized, path: string, written: number): void {
  if (written !== src.size) throw new MediaError(`${path}: wrote ${written} bytes where ${src.size} were planned (a writer's size plan is wrong)`);
}
