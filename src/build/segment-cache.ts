// Compressed initramfs segments of earlier builds (rootfs/segments.ts), kept under
// <cache>/segments/<key>.{bin,json}: the bytes, and what they hold (their size, the sha256 of each
// 1 MiB block, the cpio bytes inside, the guard's record of the entries). Only a cache, but its
// bytes go into outputs, so no byte leaves it unchecked: a reader hands on each block only once it
// hashes to its record, in the same pass that copies it (a rebuild reads each piece once). A
// damaged block stops the reader with DamagedEntry, which says how many sound bytes went before
// it: the caller writes the entry again and, its bytes being the same, skips that many
// (resumeAfter checks they are). A segment appears only complete (temporary names, renamed
// last), and the cache stays under a size limit by dropping the segments used longest ago (a
// segment's mtime is its last use).
// Other files a build derives from its layers alone live here too, under the same rules (the
// direct-boot kernel: build/streams.ts): a plain entry has no cpio bytes and no records.

import { createHash, webcrypto } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { OsbuildError } from '../errors.js';
import { OWNER_TOKEN_RE, ownerState, ownerToken } from '../oci/owner.js';
import type { GuardRecord } from '../rootfs/guard.js';

const VERSION = 2; // 2: block hashes, checked as the bytes are read
const KEY_RE = /^[a-f0-9]{64}$/;
const TEMP_RE = new RegExp(`\\.tmp-${OWNER_TOKEN_RE.source}$`);

/** Bytes per hashed block: also what one read takes. */
const BLOCK = 1024 * 1024;

/** Default size limit of the cache: a few builds of a large system. */
export const SEGMENT_CACHE_MAX_BYTES = 2 * 1024 ** 3;

const Meta = z.object({
  v: z.literal(VERSION),
  key: z.string(),
  size: z.number().int().nonnegative(),
  block: z.number().int().positive(),
  blocks: z.array(z.string().regex(/^[a-f0-9]{64}$/)),
  // a segment's; a plain file has neither
  cpioBytes: z.number().int().nonnegative().optional(),
  records: z.array(z.object({ path: z.string(), kind: z.enum(['dir', 'symlink', 'file', 'linked file', 'other', 'hardlink']), link: z.string().optional() })).optional(),
});
type Meta = z.infer<typeof Meta>;

/** A cache entry's bytes: read() checks each block before it is handed on. */
export interface CachedFile {
  size: number;
  read(): AsyncIterable<Uint8Array>;
}

/**
 * A block of a cache entry did not hash to its record; the blocks before it did, and went out
 * (`sent` bytes: `blocks`, the sha256 of each, `block` bytes each).
 */
export class DamagedEntry extends Error {
  readonly sent: number;
  constructor(
    readonly block: number,
    readonly blocks: readonly string[],
  ) {
    const sent = block * blocks.length;
    super(`a segment cache entry is damaged after byte ${sent}`);
    this.sent = sent;
  }
}

export interface CachedSegment extends CachedFile {
  /** Uncompressed cpio bytes inside (the archive's padding at its end counts them). */
  cpioBytes: number;
  records: GuardRecord[];
}

export class SegmentCache {
  constructor(
    readonly dir: string,
    readonly maxBytes = SEGMENT_CACHE_MAX_BYTES,
    /** Bytes per hashed block of the entries this cache writes (tests make it small). */
    readonly blockSize = BLOCK,
  ) {}

  private file(key: string, ext: 'bin' | 'json'): string {
    if (!KEY_RE.test(key)) throw new RangeError(`segment key ${key} is not a sha256 hex`);
    return join(this.dir, `${key}.${ext}`);
  }

  /** The segment of this key if present (its bytes are checked as they are read); marks it used. */
  async get(key: string): Promise<CachedSegment | undefined> {
    const hit = await this.entry(key);
    if (!hit || hit.meta.cpioBytes === undefined || hit.meta.records === undefined) return undefined;
    return { ...hit.file, cpioBytes: hit.meta.cpioBytes, records: hit.meta.records as GuardRecord[] };
  }

  /** The plain file of this key (see SegmentWriter.commitFile) if present; marks it used. */
  async getFile(key: string): Promise<CachedFile | undefined> {
    return (await this.entry(key))?.file;
  }

  private async entry(key: string): Promise<{ file: CachedFile; meta: Meta } | undefined> {
    try {
      const parsed = Meta.safeParse(JSON.parse(await readFile(this.file(key, 'json'), 'utf8')));
      if (!parsed.success || parsed.data.key !== key) return undefined;
      const meta = parsed.data;
      const path = this.file(key, 'bin');
      if ((await stat(path)).size !== meta.size || meta.blocks.length !== Math.ceil(meta.size / meta.block)) return undefined;
      const now = new Date();
      await utimes(path, now, now).catch(() => {});
      return { file: { size: meta.size, read: () => readChecked(path, meta) }, meta };
    } catch {
      return undefined;
    }
  }

  /** A writer for the segment of this key: feed it the bytes, then commit or abandon. */
  async writer(key: string): Promise<SegmentWriter | undefined> {
    try {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${this.file(key, 'bin')}.tmp-${ownerToken()}`;
      return new SegmentWriter(this, key, tmp, await open(tmp, 'w'), this.blockSize);
    } catch {
      return undefined; // no cache today (read-only, full): the build goes on without it
    }
  }

  /** @internal */
  async commit(key: string, tmp: string, meta: Omit<Meta, 'v' | 'key'>): Promise<void> {
    const json = `${this.file(key, 'json')}.tmp-${ownerToken()}`;
    try {
      await writeFile(json, JSON.stringify({ v: VERSION, key, ...meta }));
      await rename(tmp, this.file(key, 'bin'));
      await rename(json, this.file(key, 'json'));
    } catch (e) {
      await rm(json, { force: true });
      throw e;
    }
  }

  /**
   * Drops the segments used longest ago until the cache fits its limit (never those in `keep`),
   * and what killed builds left half-written.
   */
  async trim(keep: ReadonlySet<string> = new Set()): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    const segs: { key: string; size: number; used: number }[] = [];
    for (const n of names) {
      const t = TEMP_RE.exec(n);
      if (t) {
        if (ownerState(`${t[1]}.${t[2]}.${t[3]}`) === 'dead') await rm(join(this.dir, n), { force: true });
        continue;
      }
      const m = /^([a-f0-9]{64})\.bin$/.exec(n);
      if (!m) continue;
      const s = await stat(join(this.dir, n)).catch(() => undefined);
      if (s) segs.push({ key: m[1], size: s.size, used: s.mtimeMs });
    }
    let total = segs.reduce((a, s) => a + s.size, 0);
    for (const s of segs.sort((a, b) => a.used - b.used)) {
      if (total <= this.maxBytes) break;
      if (keep.has(s.key)) continue;
      await rm(this.file(s.key, 'json'), { force: true });
      await rm(this.file(s.key, 'bin'), { force: true });
      total -= s.size;
    }
  }
}

export class SegmentWriter {
  private readonly blocks: string[] = [];
  private hash = createHash('sha256');
  private inBlock = 0;
  private size = 0;
  private failed = false;

  constructor(
    private readonly cache: SegmentCache,
    private readonly key: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly block: number,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failed) return;
    this.size += chunk.length;
    for (let at = 0; at < chunk.length; ) {
      const n = Math.min(chunk.length - at, this.block - this.inBlock);
      this.hash.update(chunk.subarray(at, at + n));
      this.inBlock += n;
      at += n;
      if (this.inBlock === this.block) this.endBlock();
    }
    try {
      await this.fh.write(chunk);
    } catch {
      this.failed = true; // the cache copy is lost, not the build
    }
  }

  private endBlock(): void {
    this.blocks.push(this.hash.digest('hex'));
    this.hash = createHash('sha256');
    this.inBlock = 0;
  }

  /** Keeps a segment: its bytes, and what they hold. */
  async commit(cpioBytes: number, records: GuardRecord[]): Promise<void> {
    await this.keep({ cpioBytes, records });
  }

  /** Keeps a plain file (no cpio inside): what getFile finds. */
  async commitFile(): Promise<void> {
    await this.keep({});
  }

  private async keep(extra: Pick<Meta, 'cpioBytes' | 'records'>): Promise<void> {
    try {
      await this.fh.close();
      if (this.failed) throw new Error('write failed');
      if (this.inBlock > 0) this.endBlock();
      await this.cache.commit(this.key, this.tmp, { size: this.size, block: this.block, blocks: this.blocks, ...extra });
    } catch {
      await this.abandon();
    }
  }

  async abandon(): Promise<void> {
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}

/** Blocks read and hashed ahead of the one handed on: enough to keep both cores busy. */
const READ_AHEAD = 3;

/**
 * A rebuild copies hundreds of MB through fresh 1 MiB buffers. They die young, but with little
 * else allocated young collections come rarely, so dead buffers piled up (peak RSS up to 164 MB
 * on the 1.3 GB root, and each fresh page a fault). A young collection every 8 blocks frees them
 * for reuse: 121-122 MB and 15-25% faster. Only where gc is exposed (the CLI's #! line: start.ts).
 */
const COLLECT_EVERY = 8;
const collectYoung = (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc;

/**
 * An entry's bytes, each block handed on only once it hashes to its record. The next blocks are
 * read and hashed on the threadpool while this one is written on: a rebuild is mostly this copy,
 * and so it takes both cores.
 */
async function* readChecked(path: string, meta: Meta): AsyncIterable<Uint8Array> {
  const fh = await open(path, 'r');
  const fetch = (at: number) => {
    const buf = Buffer.allocUnsafe(Math.min(meta.block, meta.size - at));
    const p = fh
      .read(buf, 0, buf.length, at)
      .then(async (r) => (r.bytesRead === buf.length ? { buf, sha256: Buffer.from(await webcrypto.subtle.digest('SHA-256', buf)).toString('hex') } : undefined));
    p.catch(() => {}); // awaited below, or abandoned when the copy stops early
    return p;
  };
  const ahead: ReturnType<typeof fetch>[] = [];
  let asked = 0;
  const askMore = () => {
    for (; ahead.length < READ_AHEAD && asked < meta.size; asked += meta.block) ahead.push(fetch(asked));
  };
  askMore();
  try {
    for (let i = 0; ahead.length > 0; i++) {
      const got = await ahead.shift()!;
      if (!got || got.sha256 !== meta.blocks[i]) throw new DamagedEntry(meta.block, meta.blocks.slice(0, i));
      askMore();
      if (collectYoung && i % COLLECT_EVERY === COLLECT_EVERY - 1) collectYoung({ type: 'minor' });
      yield got.buf;
    }
  } finally {
    for (const p of ahead) await p.catch(() => {});
    await fh.close();
  }
}

/**
 * The bytes of `source` after its first `damaged.sent`, which went out from a damaged entry
 * before its damage was found: `source` writes the same entry again, so they must be the same
 * bytes, and are checked to be (else this throws: the output would not be one archive).
 */
export async function* resumeAfter(source: AsyncIterable<Uint8Array>, damaged: DamagedEntry, what: string): AsyncIterable<Uint8Array> {
  const fail = (why: string) =>
    new SegmentCacheError(`${what}: written again after its copy in the segment cache was found damaged, ${why}: remove the cache's segments/ folder and build again`);
  // the re-made bytes of the blocks already sent, hashed block by block against their record
  let i = 0;
  let inBlock = 0;
  let hash = createHash('sha256');
  for await (const c of source) {
    let at = 0;
    while (i < damaged.blocks.length && at < c.length) {
      const n = Math.min(c.length - at, damaged.block - inBlock);
      hash.update(c.subarray(at, at + n));
      at += n;
      inBlock += n;
      if (inBlock === damaged.block) {
        if (hash.digest('hex') !== damaged.blocks[i]) throw fail('its bytes differ from the copy\'s sound part');
        hash = createHash('sha256');
        inBlock = 0;
        i++;
      }
    }
    if (at < c.length) yield at === 0 ? c : c.subarray(at);
  }
  if (i < damaged.blocks.length) throw fail('it is shorter than the copy\'s sound part');
}

/** How throughCache makes an entry's bytes when the cache cannot give them, and keeps them. */
export interface CacheFill {
  /** Makes the bytes (the same as the entry's, when it had them). */
  make(): AsyncIterable<Uint8Array>;
  /** Keeps what make() gave, or says it is not worth keeping (false: the writer is abandoned). */
  keep(w: SegmentWriter): Promise<boolean>;
  /** Told when a copy from `hit` stopped at damage, before the bytes are made again. */
  onDamaged?(): void;
  /** For messages: what the entry is. */
  what: string;
}

/**
 * The bytes of the entry `key`: copied from `hit` (checked block by block) when given, else made
 * and kept in the cache for the next build. A copy that meets damage part way goes on with the
 * bytes made again, past those already sent (resumeAfter). Returns whether the copy served.
 */
export async function* throughCache(cache: SegmentCache | undefined, key: string, hit: CachedFile | undefined, fill: CacheFill): AsyncGenerator<Uint8Array, boolean> {
  let damaged: DamagedEntry | undefined;
  if (hit) {
    try {
      yield* hit.read();
      return true;
    } catch (e) {
      if (!(e instanceof DamagedEntry)) throw e;
      fill.onDamaged?.();
      damaged = e;
    }
  }
  const sink = await cache?.writer(key);
  let kept = false;
  async function* made(): AsyncIterable<Uint8Array> {
    for await (const c of fill.make()) {
      await sink?.write(c);
      yield c;
    }
  }
  try {
    yield* damaged ? resumeAfter(made(), damaged, fill.what) : made();
    kept = sink !== undefined && (await fill.keep(sink));
  } finally {
    if (!kept) await sink?.abandon();
  }
  return false;
}

export class SegmentCacheError extends OsbuildError {
  readonly code = 'ESEGMENTCACHE';
}
