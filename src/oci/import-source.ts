// Where an import reads from: an image directory (OCI layout or unpacked docker-archive) or a tar
// of one (optionally gzipped). Both answer the same two questions — the bytes of a small file,
// and a verified staged copy of a blob — so the import logic does not care which it is.
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { readTar } from '../formats/tar/read.js';
import { mismatch } from './digest.js';
import { DiskFullError, StoreError } from './errors.js';
import { showName } from '../formats/names.js';
import type { BlobExpect, StagedBlob, Store } from './store.js';

export interface ImportSource {
  /** The path, for messages. */
  readonly label: string;
  /** Whether a file exists at `name` (relative to the image root). */
  has(name: string): boolean | Promise<boolean>;
  /** A small file's bytes (metadata, manifests, configs), or undefined if absent. */
  readSmall(name: string): Promise<Buffer | undefined>;
  /**
   * A staged copy of the file at `name`, verified against `expect` (digest, size), or undefined if
   * absent. With `skipIfStored` and a digest already in the store, nothing is read.
   */
  stage(name: string, expect: BlobExpect, skipIfStored?: boolean): Promise<StagedBlob | undefined>;
  /** Drops staged copies nobody committed (call in finally). */
  close(): Promise<void>;
}

// Metadata and manifests are small; registries cap manifests at 4 MiB.
const SMALL_MAX = 4 << 20;
const LINK_HOPS = 8;

/** A tar member name or manifest.json path as a clean relative path; refuses escapes. */
export function cleanName(name: string, label: string): string {
  const n = posix.normalize(name.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) throw new StoreError('EFORMAT', `${label}: path "${showName(name)}" points outside the image`);
  return n === '.' ? '' : n;
}

export class DirectorySource implements ImportSource {
  constructor(
    private readonly store: Store,
    readonly label: string,
  ) {}

  private path(name: string): string {
    return join(this.label, cleanName(name, this.label));
  }

  async has(name: string): Promise<boolean> {
    return stat(this.path(name)).then((s) => s.isFile(), () => false);
  }

  async readSmall(name: string): Promise<Buffer | undefined> {
    const path = this.path(name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    if (st.size > SMALL_MAX) throw new StoreError('EFORMAT', `${path} is ${st.size} bytes, too large for a metadata document`);
    return readFile(path);
  }

  async stage(name: string, expect: BlobExpect, skipIfStored = false): Promise<StagedBlob | undefined> {
    if (!(await this.has(name))) return undefined;
    if (skipIfStored && expect.digest !== undefined && (await this.store.hasBlob(expect.digest))) {
      // Already stored (verified when written): nothing to copy; reading goes to the store's copy.
      const digest = expect.digest;
      const size = expect.size ?? (await stat(this.store.blobPath(digest))).size;
      return {
        descriptor: { mediaType: expect.mediaType ?? 'application/octet-stream', digest, size },
        open: () => this.store.openBlob(digest),
        commit: async () => undefined,
        discard: async () => undefined,
      };
    }
    return this.store.stageBlob(createReadStream(this.path(name)) as AsyncIterable<Buffer>, { ...expect, what: expect.what ?? this.path(name) });
  }

  async close(): Promise<void> {}
}

interface TarFile {
  staged: StagedBlob;
  bytes?: Buffer;
}

/**
 * A tar read once, start to end: every regular file is staged into the store's temp area while
 * its digest is computed (small JSON files are also kept in memory), links are remembered. The
 * import then picks what it needs by name; the rest is discarded by close().
 */
export class TarSource implements ImportSource {
  private readonly files = new Map<string, TarFile>();
  private readonly links = new Map<string, string>();
  private readonly taken = new Set<StagedBlob>();
  private root = '';

  private constructor(readonly label: string) {}

  static async read(store: Store, path: string): Promise<TarSource> {
    const src = new TarSource(path);
    try {
      await src.load(store);
    } catch (e) {
      await src.close();
      throw e;
    }
    src.findRoot();
    return src;
  }

  private async load(store: Store): Promise<void> {
    const head = Buffer.alloc(2);
    const fh = await open(this.label, 'r');
    try {
      await fh.read(head, 0, 2, 0);
    } finally {
      await fh.close();
    }
    const gzipped = head[0] === 0x1f && head[1] === 0x8b;
    // Our own tar reader: member names stay bytes (names.ts), as in every other tar osbuild reads.
    const file = createReadStream(this.label);
    const source = gzipped ? file.pipe(createGunzip()) : file;
    if (gzipped) file.on('error', (e) => source.destroy(e));
    try {
      for await (const { entry, content } of readTar(source)) {
        const name = cleanName(entry.path, this.label);
        if (entry.type === 'file' && name !== '') {
          // Keep small JSON documents (they start with '{'; layers never do) in memory too.
          const kept: { chunks?: Buffer[]; started: boolean } = { chunks: entry.size <= SMALL_MAX ? [] : undefined, started: false };
          const tee = async function* (): AsyncGenerator<Uint8Array> {
            for await (const chunk of content ?? []) {
              if (!kept.started && chunk.length > 0) {
                kept.started = true;
                if (chunk[0] !== 0x7b) kept.chunks = undefined;
              }
              kept.chunks?.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
              yield chunk;
            }
          };
          const staged = await store.stageBlob(tee(), { size: entry.size, what: `${showName(name)} in ${this.label}` });
          await this.files.get(name)?.staged.discard(); // a later member of the same name wins, as in tar
          this.files.set(name, { staged, ...(kept.chunks ? { bytes: Buffer.concat(kept.chunks) } : {}) });
        } else if ((entry.type === 'symlink' || entry.type === 'hardlink') && entry.linkname) {
          // Symlinks are relative to their directory, hard links to the archive root.
          const target = entry.type === 'symlink' ? posix.join(posix.dirname(name), entry.linkname) : entry.linkname;
          this.links.set(name, cleanName(target, this.label));
        }
      }
    } catch (e) {
      source.destroy();
      file.destroy();
      const msg = (e as Error).message;
      // a full store is not the tar's fault
      if (e instanceof StoreError || e instanceof DiskFullError) throw e;
      throw new StoreError('EFORMAT', `${this.label} is not a readable tar archive: ${msg}`, { cause: e });
    }
  }

  /** Layouts tarred with their directory (tar cf x.tar dir) have one leading component. */
  private findRoot(): void {
    const markers = ['oci-layout', 'index.json', 'manifest.json'];
    if (markers.some((m) => this.files.has(m))) return;
    const tops = new Set([...this.files.keys()].map((n) => n.split('/')[0]));
    if (tops.size === 1) {
      const [top] = tops;
      if (markers.some((m) => this.files.has(`${top}/${m}`))) this.root = top;
    }
  }

  private lookup(name: string): TarFile | undefined {
    let n = cleanName(this.root ? `${this.root}/${name}` : name, this.label);
    for (let hop = 0; hop <= LINK_HOPS; hop++) {
      const f = this.files.get(n);
      if (f) return f;
      const next = this.links.get(n);
      if (next === undefined) return undefined;
      n = next;
    }
    throw new StoreError('EFORMAT', `${this.label}: too many links resolving ${showName(name)}`);
  }

  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  async readSmall(name: string): Promise<Buffer | undefined> {
    const f = this.lookup(name);
    if (!f) return undefined;
    if (f.bytes) return f.bytes;
    // Not kept in memory (large, or not JSON): read the staged copy back, bounded.
    if (f.staged.descriptor.size > SMALL_MAX) {
      throw new StoreError('EFORMAT', `${showName(name)} in ${this.label} is ${f.staged.descriptor.size} bytes, too large for a metadata document`);
    }
    const chunks: Buffer[] = [];
    for await (const c of f.staged.open()) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  }

  async stage(name: string, expect: BlobExpect): Promise<StagedBlob | undefined> {
    const f = this.lookup(name);
    if (!f) return undefined;
    const actual = f.staged.descriptor;
    if ((expect.digest !== undefined && actual.digest !== expect.digest) || (expect.size !== undefined && actual.size !== expect.size)) {
      throw mismatch(expect.what ?? `${showName(name)} in ${this.label}`, expect, actual);
    }
    this.taken.add(f.staged);
    return { ...f.staged, descriptor: { ...actual, mediaType: expect.mediaType ?? actual.mediaType } };
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) {
      if (!this.taken.has(f.staged)) await f.staged.discard();
    }
  }
}
