// Scratch files of one build, written once beside the outputs and removed when the last format
// that reads them is done. The initrd: the media writers plan their layouts from its size, and
// several formats of a build embed it; it is hashed on the way for the seed of the media's
// identifiers. The squashfs root (squashfs layout): the small initrd names its superblock.

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { InitrdFile } from './sources.js';
import type { EntryStream } from '../../formats/entry.js';
import { writeSquashfs, type SquashfsOptions, type SquashfsResult } from '../../formats/squashfs/write.js';
import { appendVerityTree, type VerityInfo } from '../../formats/verity/write.js';

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

/**
 * The squashfs root of one build (squashfs layout), written once beside the outputs like the
 * initrd; a verified root gets its dm-verity tree appended (formats/verity/write.ts says why
 * appended), over the squashfs as sqfstar left it.
 */
export class SquashfsScratch {
  private file?: Promise<SquashfsFile>;

  constructor(
    readonly path: string,
    private readonly source: () => EntryStream,
    private readonly options: SquashfsOptions & { verity?: boolean },
  ) {}

  get(): Promise<SquashfsFile> {
    this.file ??= rm(this.path, { force: true }).then(async () => {
      const r = await writeSquashfs(this.source(), this.path, this.options);
      if (!this.options.verity) return { path: this.path, ...r };
      const verity = await appendVerityTree(this.path, { salt: veritySalt(r.superblockSha256) });
      return { path: this.path, ...r, size: verity.hashOffset + verity.treeBytes, verity };
    });
    return this.file;
  }

  async release(): Promise<void> {
    await this.file?.catch(() => undefined);
    this.file = undefined;
    await rm(this.path, { force: true });
  }
}

export interface SquashfsFile extends SquashfsResult {
  path: string;
  /** A verified root: its tree (appended: `size` counts it) and root hash. */
  verity?: VerityInfo;
}

/**
 * The salt of a verified root's tree: from the squashfs superblock (its size, table offsets,
 * inode count and time), so it is the same for the same system and differs between systems,
 * never random, and known before the one hashing pass starts.
 */
export function veritySalt(superblockSha256: string): Buffer {
  return createHash('sha256').update(`osbuild-verity-salt-v1:${superblockSha256}`).digest();
}
