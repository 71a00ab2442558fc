// Compressed initramfs segments of earlier builds (rootfs/segments.ts), kept under
// <cache>/segments/<key>.{bin,json}: the bytes, and what they hold (their size, the cpio bytes
// inside, the guard's record of the entries). Only a cache, but its bytes go into outputs, so a
// segment is used only if its bytes hash to what its record says; anything else is a miss. A
// segment appears only complete (temporary names, renamed last), and the cache stays under a size
// limit by dropping the segments used longest ago (a segment's mtime is its last use).
// Other files a build derives from its layers alone live here too, under the same rules (the
// direct-boot kernel: build/streams.ts): a plain entry has no cpio bytes and no records.

import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { sha256File } from '../oci/digest.js';
import { OWNER_TOKEN_RE, ownerState, ownerToken } from '../oci/owner.js';
import type { GuardRecord } from '../rootfs/guard.js';

const VERSION = 1;
const KEY_RE = /^[a-f0-9]{64}$/;
const TEMP_RE = new RegExp(`\\.tmp-${OWNER_TOKEN_RE.source}$`);

/** Default size limit of the cache: a few builds of a large system. */
export const SEGMENT_CACHE_MAX_BYTES = 2 * 1024 ** 3;

const Meta = z.object({
  v: z.literal(VERSION),
  key: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
  // a segment's; a plain file has neither
  cpioBytes: z.number().int().nonnegative().optional(),
  records: z.array(z.object({ path: z.string(), kind: z.enum(['dir', 'symlink', 'file', 'linked file', 'other', 'hardlink']), link: z.string().optional() })).optional(),
});
type Meta = z.infer<typeof Meta>;

export interface CachedSegment {
  path: string;
  size: number;
  /** Uncompressed cpio bytes inside (the archive's padding at its end counts them). */
  cpioBytes: number;
  records: GuardRecord[];
}

export class SegmentCache {
  constructor(
    readonly dir: string,
    readonly maxBytes = SEGMENT_CACHE_MAX_BYTES,
  ) {}

  private file(key: string, ext: 'bin' | 'json'): string {
    if (!KEY_RE.test(key)) throw new RangeError(`segment key ${key} is not a sha256 hex`);
    return join(this.dir, `${key}.${ext}`);
  }

  /** The segment of this key if present and sound; marks it used. */
  async get(key: string): Promise<CachedSegment | undefined> {
    const hit = await this.sound(key);
    if (!hit || hit.meta.cpioBytes === undefined || hit.meta.records === undefined) return undefined;
    return { path: hit.path, size: hit.meta.size, cpioBytes: hit.meta.cpioBytes, records: hit.meta.records as GuardRecord[] };
  }

  /** The plain file of this key (see SegmentWriter.commitFile) if present and sound; marks it used. */
  async getFile(key: string): Promise<{ path: string; size: number } | undefined> {
    const hit = await this.sound(key);
    return hit && { path: hit.path, size: hit.meta.size };
  }

  private async sound(key: string): Promise<{ path: string; meta: Meta } | undefined> {
    try {
      const parsed = Meta.safeParse(JSON.parse(await readFile(this.file(key, 'json'), 'utf8')));
      if (!parsed.success || parsed.data.key !== key) return undefined;
      const meta = parsed.data;
      const path = this.file(key, 'bin');
      if ((await stat(path)).size !== meta.size || (await sha256File(path)) !== meta.sha256) return undefined;
      const now = new Date();
      await utimes(path, now, now).catch(() => {});
      return { path, meta };
    } catch {
      return undefined;
    }
  }

  /** A writer for the segment of this key: feed it the bytes, then commit or abandon. */
  async writer(key: string): Promise<SegmentWriter | undefined> {
    try {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${this.file(key, 'bin')}.tmp-${ownerToken()}`;
      return new SegmentWriter(this, key, tmp, await open(tmp, 'w'));
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
  private readonly hash = createHash('sha256');
  private size = 0;
  private failed = false;

  constructor(
    private readonly cache: SegmentCache,
    private readonly key: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failed) return;
    this.hash.update(chunk);
    this.size += chunk.length;
    try {
      await this.fh.write(chunk);
    } catch {
      this.failed = true; // the cache copy is lost, not the build
    }
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
      await this.cache.commit(this.key, this.tmp, { size: this.size, sha256: this.hash.digest('hex'), ...extra });
    } catch {
      await this.abandon();
    }
  }

  async abandon(): Promise<void> {
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}
