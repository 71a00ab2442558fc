// The root as an initramfs: a sequence of compressed cpio pieces, one per segment of the plan
// (rootfs/segments.ts), then a last piece with the archive's trailer. The kernel reads such a
// sequence as one archive, and so do `gzip -dc | cpio -i` and bsdtar.
//
// A segment whose key is in the segment cache is copied from there, compressed, without reading
// its layers: when the guard (rootfs/guard.ts) accepts its record where it now stands in the
// stream. Otherwise it is written, and kept in the cache for the next build. The bytes are the
// same either way, so the output does not depend on what the cache held.

import { createHash } from 'node:crypto';
import type { Store } from '../oci/store.js';
import { writeCpio } from '../formats/cpio/write.js';
import type { Compressor } from '../formats/compress/gzip.js';
import { sectionEntries } from '../rootfs/assemble.js';
import { RootGuard, type GuardRecord } from '../rootfs/guard.js';
import type { FlattenWarning } from '../rootfs/flatten.js';
import type { RootPlan } from '../rootfs/plan.js';
import { segmentContentKey, segmentDev, segmentsOf, type HostHasher } from '../rootfs/segments.js';
import { sha256File } from '../oci/digest.js';
import { throughCache, type SegmentCache } from './segment-cache.js';

/** Version of the bytes a segment key stands for: bump when the cpio writer's output changes. */
const SEGMENT_FORMAT = 1;

export interface InitramfsOptions {
  /** Compresses each piece; its identity (e.g. "gzip-6-131072") goes into the keys. */
  compress: Compressor;
  compressId: string;
  onWarning?: (w: FlattenWarning) => void;
  cache?: SegmentCache;
  /** The sha256 of a host file (the files section's `source:`); default: read and hash it. */
  hostHash?: HostHasher;
  /** Called with the keys this build used (the cache keeps them when it trims). */
  onKeys?: (keys: string[]) => void;
}

export async function* initramfs(store: Store, plan: RootPlan, opts: InitramfsOptions): AsyncIterable<Uint8Array> {
  const guard = new RootGuard(plan.epoch, opts.onWarning);
  const devs = new Set<number>();
  const keys: string[] = [];
  let cpioBytes = 0;
  for (const seg of segmentsOf(plan)) {
    const content = await segmentContentKey(seg, plan.epoch, opts.hostHash ?? sha256File);
    const dev = segmentDev(content, devs);
    const key = createHash('sha256').update(`${SEGMENT_FORMAT}\n${content}\n${dev}\n${opts.compressId}`).digest('hex');
    keys.push(key);

    const cached = await opts.cache?.get(key);
    const hit = cached && guard.replay(cached.records) ? cached : undefined;
    const records: GuardRecord[] = [];
    const warningsBefore = guard.warnings;
    let bytes = 0;
    async function* counted(): AsyncIterable<Uint8Array> {
      for await (const c of writeCpio(guard.check(sectionEntries(store, seg.sections, plan.epoch), records), { dev, end: false })) {
        bytes += c.length;
        yield c;
      }
    }
    const copied = yield* throughCache(opts.cache, key, hit, {
      make: () => opts.compress(counted()),
      // what drew a warning is written, not kept: the next build warns again
      keep: async (w) => guard.warnings === warningsBefore && (await w.commit(bytes, records), true),
      // written again from its layers, from where the stream stands before it
      onDamaged: () => guard.forget(hit!.records),
      what: seg.what,
    });
    cpioBytes += copied ? hit!.cpioBytes : bytes;
  }
  opts.onKeys?.(keys);
  yield* opts.compress(writeCpio(noEntries(), { offset: cpioBytes }));
}

async function* noEntries() {}
