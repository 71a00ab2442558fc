// Push: an image of the store (an index with all its arches, or one manifest) → a registry.
// Blobs first (checked with HEAD, mounted from a sibling repository when the store knows one,
// uploaded otherwise), then each manifest by digest, then the index, then the tag, so a reader
// never sees a tag naming something incomplete. Documents go up byte for byte: digests match.
import { StoreError } from '../errors.js';
import { documentKind } from '../media.js';
import { formatPlatform } from '../platform.js';
import { formatRef, parseRef, type ImageRef } from '../ref.js';
import type { Store } from '../store.js';
import { Index as IndexSchema, Manifest as ManifestSchema } from '../types.js';
import type { Descriptor } from '../types.js';
import type { PushEvent } from './events.js';
import { runLimited } from './limit.js';
import { putManifest } from './manifests.js';
import type { RegistryOptions } from './options.js';
import { Registries } from './session.js';
import { uploadBlob } from './upload.js';

export interface PushOptions {
  registries?: Registries;
  registry?: RegistryOptions;
  onEvent?: (e: PushEvent) => void;
}

export interface PushResult {
  /** The store reference pushed. */
  ref: string;
  /** Where it went (full normalized reference). */
  dest: string;
  digest: string;
  mediaType: string;
}

interface Tree {
  /** Documents in upload order (manifests before the index), with their bytes. */
  documents: { descriptor: Descriptor; bytes: Buffer }[];
  blobs: Descriptor[];
}

/** Everything `top` references in the store, every part present or a clear error. */
async function collect(store: Store, ref: string, top: Descriptor): Promise<Tree> {
  const tree: Tree = { documents: [], blobs: [] };
  const seen = new Set<string>();
  const manifest = async (d: Descriptor): Promise<void> => {
    const bytes = await store.readBlob(d.digest, { ref, size: d.size, what: 'manifest' });
    const m = ManifestSchema.parse(JSON.parse(bytes.toString('utf8')));
    for (const b of [m.config, ...m.layers]) {
      if (seen.has(b.digest)) continue;
      seen.add(b.digest);
      if (!(await store.hasBlob(b.digest))) {
        throw new StoreError('ENOBLOB', `image ${ref}: blob ${b.digest} of manifest ${d.digest} is not in the store: pull or import the image again before pushing it`);
      }
      tree.blobs.push(b);
    }
    tree.documents.push({ descriptor: d, bytes });
  };
  if (documentKind(top.mediaType, undefined) === 'index') {
    const bytes = await store.readBlob(top.digest, { ref, size: top.size, what: 'index' });
    const index = IndexSchema.parse(JSON.parse(bytes.toString('utf8')));
    const missing = [];
    for (const child of index.manifests) if (!(await store.hasBlob(child.digest))) missing.push(formatPlatform(child.platform));
    if (missing.length > 0) {
      throw new StoreError('ENOBLOB', `image ${ref} holds only some of its platforms in the store (missing ${missing.join(', ')}), so its index cannot be pushed as is: pull it with every platform (osbuild pull ${ref}) first`);
    }
    for (const child of index.manifests) await manifest(child);
    tree.documents.push({ descriptor: top, bytes });
  } else {
    await manifest(top);
  }
  return tree;
}

/** digest → a repository of the same registry that (per the store's refs) holds it: candidates for a mount. */
async function mountSources(store: Store, dest: ImageRef): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const { ref, descriptor } of await store.list()) {
    const r = parseRef(ref);
    if (r.registry !== dest.registry || r.repository === dest.repository) continue;
    try {
      const t = await collect(store, ref, descriptor);
      for (const b of t.blobs) if (!out.has(b.digest)) out.set(b.digest, r.repository);
    } catch {
      // an incomplete image offers no mounts
    }
  }
  return out;
}

export async function push(store: Store, source: string, destination?: string, opts: PushOptions = {}): Promise<PushResult> {
  const ref = formatRef(parseRef(source));
  const dest = parseRef(destination ?? source);
  const destName = formatRef(dest);
  const top = await store.resolve(ref);
  if (!top) throw new StoreError('ENOIMAGE', `image ${ref} is not in the store (${store.dir}): build it (osbuild pkg build) or pull it first`);
  if (dest.digest !== undefined && dest.digest !== top.digest) {
    throw new StoreError('EINVALID', `cannot push ${ref} as ${destName}: the image is ${top.digest}, not the digest the destination names`);
  }
  const registries = opts.registries ?? (await Registries.open(opts.registry));
  const emit = opts.onEvent ?? (() => undefined);
  const previousOnRetry = registries.onRetry;
  registries.onRetry = (e) => {
    emit({ type: 'push-retry', ...e });
    previousOnRetry?.(e);
  };
  try {
    emit({ type: 'push-start', ref, dest: destName });
    const tree = await collect(store, ref, top);
    const mounts = await mountSources(store, dest);
    const client = registries.client(dest.registry);
    await runLimited(tree.blobs, registries.concurrency, async (b) => {
      const how = await uploadBlob(client, dest.repository, store, b, { mountFrom: mounts.get(b.digest), chunkSize: registries.chunkSize });
      emit({ type: 'push-blob', dest: destName, digest: b.digest, size: b.size, how });
    });
    for (const { descriptor, bytes } of tree.documents) {
      await putManifest(client, dest.repository, descriptor.digest, bytes, descriptor.mediaType);
      emit({ type: 'push-manifest', dest: destName, digest: descriptor.digest, mediaType: descriptor.mediaType });
    }
    if (dest.tag !== undefined) {
      await putManifest(client, dest.repository, dest.tag, tree.documents[tree.documents.length - 1].bytes, top.mediaType);
    }
    emit({ type: 'push-done', ref, dest: destName, digest: top.digest });
    return { ref, dest: destName, digest: top.digest, mediaType: top.mediaType };
  } finally {
    registries.onRetry = previousOnRetry;
    if (!opts.registries) registries.close();
  }
}
