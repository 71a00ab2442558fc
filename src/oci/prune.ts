// Garbage collection of the store: blobs no tag reaches (through indexes, manifests, configs and
// layers) are removed, with the data derived from removed layers (derived/<kind>/sha256-<hex>…,
// see derived.ts).
// Blobs younger than a grace period are kept: a pull or build running now commits its blobs
// before it tags them, and must not lose them in between (git gc's --prune=<date> idea).
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pruneDerived } from './derived.js';
import { documentKind } from './media.js';
import type { Store } from './store.js';
import { Index as IndexSchema, Manifest as ManifestSchema } from './types.js';
import type { Descriptor } from './types.js';

export interface PruneOptions {
  /** Keep unreachable blobs modified less than this long ago (ms); default 10 minutes. */
  graceMs?: number;
  /** Kinds of derived data to clean (default: every folder under derived/). */
  derivedKinds?: string[];
}

export interface PruneResult {
  removedBlobs: number;
  removedBytes: number;
  /** Unreachable blobs kept because they are younger than the grace period. */
  keptRecent: number;
  removedDerived: number;
  /** Compressed initramfs pieces of earlier builds not used within the grace period (rebuilt on need). */
  removedSegments: number;
}

const DEFAULT_GRACE_MS = 10 * 60 * 1000;

/** Digests reachable from the store's tags. Documents that are absent are skipped (partial images). */
export async function reachableBlobs(store: Store): Promise<Set<string>> {
  const seen = new Set<string>();
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (!(await store.hasBlob(d.digest))) return;
    const kind = documentKind(d.mediaType, undefined);
    if (kind === 'index') {
      const index = await store.readJSON(d.digest, IndexSchema, { size: d.size, what: 'index' });
      for (const m of index.manifests) await walk(m);
    } else if (kind === 'manifest') {
      const m = await store.readJSON(d.digest, ManifestSchema, { size: d.size, what: 'manifest' });
      await walk(m.config);
      for (const l of m.layers) await walk(l);
    }
  };
  for (const { descriptor } of await store.list()) await walk(descriptor);
  return seen;
}

export async function prune(store: Store, opts: PruneOptions = {}): Promise<PruneResult> {
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const keep = await reachableBlobs(store);
  const result: PruneResult = { removedBlobs: 0, removedBytes: 0, keptRecent: 0, removedDerived: 0, removedSegments: 0 };
  const dir = join(store.dir, 'blobs', 'sha256');
  const now = Date.now();
  for (const hex of await readdir(dir)) {
    const digest = `sha256:${hex}`;
    if (keep.has(digest)) continue;
    const path = join(dir, hex);
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    if (now - st.mtimeMs < graceMs) {
      result.keptRecent++;
      continue;
    }
    await unlink(path).catch(() => undefined);
    result.removedBlobs++;
    result.removedBytes += st.size;
  }
  // derived files are named after the blob they come from (derived.ts); they go with it
  const derivedRoot = join(store.derivedDir('toc'), '..');
  const kinds = opts.derivedKinds ?? (await readdir(derivedRoot).catch(() => [] as string[]));
  for (const kind of kinds) result.removedDerived += await pruneDerived(store.derivedDir(kind), (d) => store.hasBlob(d));
  const segments = store.segmentsDir();
  for (const name of await readdir(segments).catch(() => [] as string[])) {
    // a segment is its .bin (whose mtime is its last use) and its .json
    if (!name.endsWith('.bin')) continue;
    const st = await stat(join(segments, name)).catch(() => undefined);
    if (!st || now - st.mtimeMs < graceMs) continue;
    await unlink(join(segments, name.replace(/\.bin$/, '.json'))).catch(() => undefined);
    await unlink(join(segments, name)).catch(() => undefined);
    result.removedSegments++;
  }
  await store.cleanTemp();
  return result;
}
