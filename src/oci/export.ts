// Export of images from the store into a new OCI image layout directory, for other tools
// (skopeo, umoci, a registry push) or another machine's `osbuild cache import`. Every blob is
// verified as it is read from the store and again as it is written.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from './errors.js';
import { documentKind } from './media.js';
import { formatRef, parseRef } from './ref.js';
import { Store } from './store.js';
import { Index as IndexSchema, Manifest as ManifestSchema } from './types.js';
import type { Descriptor } from './types.js';

export interface ExportedRef {
  ref: string;
  descriptor: Descriptor;
}

async function copyTree(from: Store, to: Store, desc: Descriptor, ref: string, done: Set<string>): Promise<void> {
  if (done.has(desc.digest)) return;
  const kind = documentKind(desc.mediaType, undefined);
  if (kind === 'index') {
    const index = await from.readJSON(desc.digest, IndexSchema, { ref, size: desc.size, what: 'index' });
    for (const m of index.manifests) await copyTree(from, to, m, ref, done);
  } else if (kind === 'manifest') {
    const manifest = await from.readJSON(desc.digest, ManifestSchema, { ref, size: desc.size, what: 'manifest' });
    await copyTree(from, to, manifest.config, ref, done);
    for (const layer of manifest.layers) await copyTree(from, to, layer, ref, done);
  }
  await to.putBlob(from.openBlob(desc.digest, { ref, size: desc.size }), { digest: desc.digest, size: desc.size, mediaType: desc.mediaType });
  done.add(desc.digest);
}

/**
 * Writes the images `refs` name (with everything they reference) to an OCI layout at `outPath`,
 * created if needed, tagged by their full names. Returns what was written, sorted by ref.
 */
export async function exportLayout(store: Store, refs: string[], outPath: string): Promise<ExportedRef[]> {
  const out = await Store.open(outPath);
  const done = new Set<string>();
  const written: ExportedRef[] = [];
  for (const input of refs) {
    const ref = formatRef(parseRef(input));
    const desc = await store.resolve(ref);
    if (!desc) throw new StoreError('ENOIMAGE', `image ${ref} is not in the store (${store.dir}): nothing to export`);
    await copyTree(store, out, desc, ref, done);
    await out.tag(ref, desc);
    written.push({ ref, descriptor: desc });
  }
  // The store's scratch directory has no place in a layout handed to other tools.
  await rm(join(out.dir, '.tmp'), { recursive: true, force: true });
  return written.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}
