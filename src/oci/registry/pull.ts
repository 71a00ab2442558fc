// Pull: a reference on a registry → the store. The top document (by tag or pinned digest), the
// index children for the wanted arches, their configs and layers are all fetched, verified
// against their digests (layers also against the config's diff_ids) and staged; only when every
// one is good are they committed, blobs before the documents naming them, and the ref tagged.
// A failure or a kill leaves at most temp files that the store sweeps later; a rerun starts
// clean, and concurrent pulls of one image into one store meet only at atomic renames.
import { parseJsonDocument } from '../documents.js';
import { StoreError } from '../errors.js';
import { formatPlatform, listPlatforms, platformFor, platformMatches, selectManifest } from '../platform.js';
import { formatRef, parseRef, type ImageRef } from '../ref.js';
import type { StagedBlob, Store } from '../store.js';
import { ImageConfig as ImageConfigSchema, Index as IndexSchema, Manifest as ManifestSchema } from '../types.js';
import { ARCH_NAMES, type Arch } from '../../arch.js';
import type { Descriptor } from '../types.js';
import { fetchBlob } from './blobs.js';
import { progressThrottle, type PullEvent } from './events.js';
import { runLimited } from './limit.js';
import { getManifest, headManifest, type FetchedManifest } from './manifests.js';
import type { RegistryOptions } from './options.js';
import { Registries } from './session.js';

export interface PullOptions {
  /** Architectures to take from an index; default every one osbuild builds for that the image has. */
  arches?: Arch[];
  /** Ask the registry where the tag points now, even if the store has the image (--pull). */
  refresh?: boolean;
  /** A session shared by several pulls (kept open); otherwise one is made from `registry` and closed. */
  registries?: Registries;
  registry?: RegistryOptions;
  onEvent?: (e: PullEvent) => void;
}

export interface PullResult {
  /** The full normalized reference tagged in the store. */
  ref: string;
  descriptor: Descriptor;
  /** The manifests pulled (or already present), one per arch. */
  manifests: { arch: Arch; digest: string }[];
  /** Bytes downloaded for blobs the store lacked. */
  downloaded: number;
  /** The store already had everything and the tag was not refreshed. */
  upToDate: boolean;
}

interface PlannedImage {
  arch: Arch;
  manifest: FetchedManifest;
  config: Descriptor;
  layers: Descriptor[];
  diffIds: string[];
}

class StagedBlobs {
  private readonly list: StagedBlob[] = [];
  add(s: StagedBlob): void {
    this.list.push(s);
  }
  async commit(): Promise<void> {
    // in insertion order: layers and configs were staged before the documents naming them
    for (const s of this.list) await s.commit();
  }
  async discard(): Promise<void> {
    await Promise.all(this.list.map((s) => s.discard()));
  }
}

function descriptorOf(m: FetchedManifest): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
}

/** Whether the store holds `ref` complete for every arch in `arches` (documents and layers). */
async function complete(store: Store, ref: string, arches: Arch[]): Promise<{ arch: Arch; digest: string }[] | undefined> {
  const out = [];
  for (const arch of arches) {
    try {
      const img = await store.resolveImage(ref, arch);
      for (const l of img.layers) if (!(await store.hasBlob(l.digest))) return undefined;
      out.push({ arch, digest: img.manifestDigest });
    } catch (e) {
      if (e instanceof StoreError) return undefined;
      throw e;
    }
  }
  return out;
}

export async function pull(store: Store, input: string | ImageRef, opts: PullOptions = {}): Promise<PullResult> {
  const r = typeof input === 'string' ? parseRef(input) : input;
  const ref = formatRef(r);
  const registries = opts.registries ?? (await Registries.open(opts.registry));
  const previousOnRetry = registries.onRetry;
  registries.onRetry = (e) => {
    opts.onEvent?.({ type: 'pull-retry', ...e });
    previousOnRetry?.(e);
  };
  try {
    return await pullWith(store, r, ref, registries, opts);
  } finally {
    registries.onRetry = previousOnRetry;
    if (!opts.registries) registries.close();
  }
}

async function pullWith(store: Store, r: ImageRef, ref: string, registries: Registries, opts: PullOptions): Promise<PullResult> {
  const emit = opts.onEvent ?? (() => undefined);
  const wanted = opts.arches && opts.arches.length > 0 ? [...new Set(opts.arches)] : undefined;
  const stored = await store.resolve(ref);
  if (stored && (!opts.refresh || r.digest !== undefined)) {
    const have = await complete(store, ref, wanted ?? (await storedArches(store, ref)));
    if (have && have.length > 0) {
      // a pinned ref found by its digest alone gets its own name, so that prune keeps it
      if (!(await store.list()).some((e) => e.ref === ref)) await store.tag(ref, stored, { origin: `osbuild pull ${ref}` });
      return { ref, descriptor: stored, manifests: have, downloaded: 0, upToDate: true };
    }
  }
  emit({ type: 'pull-start', ref });
  const repo = r.repository;
  const reference = r.digest ?? r.tag ?? 'latest';

  if (stored && opts.refresh && r.digest === undefined) {
    // a HEAD is cheap: the tag still pointing where it did means nothing to fetch
    const head = await registries.read(r.registry, (c) => headManifest(c, repo, reference)).catch(() => undefined);
    if (head?.digest === stored.digest) {
      const have = await complete(store, ref, wanted ?? (await storedArches(store, ref)));
      if (have && have.length > 0) {
        emit({ type: 'pull-done', ref, digest: stored.digest, arches: have.map((h) => h.arch), downloaded: 0, upToDate: true });
        return { ref, descriptor: stored, manifests: have, downloaded: 0, upToDate: true };
      }
    }
  }

  const top = await registries.read(r.registry, (c) => getManifest(c, repo, reference, r.digest ? { digest: r.digest } : {}));
  emit({ type: 'pull-manifest', ref, digest: top.digest, mediaType: top.mediaType });
  const staged = new StagedBlobs();
  try {
    const images: PlannedImage[] = [];
    const where = `${ref} (${top.digest})`;
    if (top.kind === 'index') {
      const index = parseJsonDocument(top.bytes, IndexSchema, `index of ${where}`, 'EINVALID');
      const arches = wanted ?? ARCH_NAMES.filter((a) => selectManifest(index.manifests, a));
      if (arches.length === 0) {
        throw new StoreError('EPLATFORM', `image ${ref} has no manifest for ${ARCH_NAMES.map((a) => formatPlatform(platformFor(a))).join(' or ')} (it has: ${listPlatforms(index.manifests)})`);
      }
      for (const arch of arches) {
        const child = selectManifest(index.manifests, arch);
        if (!child) throw new StoreError('EPLATFORM', `image ${ref} has no manifest for ${formatPlatform(platformFor(arch))} (it has: ${listPlatforms(index.manifests)})`);
        const m = await registries.read(r.registry, (c) => getManifest(c, repo, child.digest, { digest: child.digest, size: child.size }));
        if (m.kind !== 'manifest') throw new StoreError('EMEDIATYPE', `image ${ref}: the ${arch} entry of its index (${child.digest}) is an index itself; osbuild reads one level`);
        emit({ type: 'pull-manifest', ref, digest: m.digest, mediaType: m.mediaType, arch });
        images.push(planImage(m, arch, ref));
      }
    } else {
      const probe = planImage(top, undefined, ref);
      images.push(probe);
    }

    // configs first (small, and they hold the diff_ids the layers are checked against)
    const pulledArches: Arch[] = [];
    for (const img of images) {
      let configBytes: Buffer;
      if (await store.hasBlob(img.config.digest)) configBytes = await store.readBlob(img.config.digest, { ref, size: img.config.size, what: 'image config' });
      else {
        const s = await registries.read(r.registry, (c) => fetchBlob(c, repo, store, { descriptor: img.config, what: `config of ${ref}` }));
        staged.add(s);
        const chunks: Buffer[] = [];
        for await (const chunk of s.open()) chunks.push(Buffer.from(chunk));
        configBytes = Buffer.concat(chunks);
      }
      const config = parseJsonDocument(configBytes, ImageConfigSchema, `config ${img.config.digest} of ${ref}`, 'EINVALID');
      if (top.kind === 'manifest') {
        const arch = ARCH_NAMES.find((a) => platformMatches(config, a));
        if (!arch || (wanted && !wanted.includes(arch))) {
          throw new StoreError('EPLATFORM', `image ${ref} is for ${formatPlatform(config)}, not ${(wanted ?? ARCH_NAMES).map((a) => formatPlatform(platformFor(a))).join(' or ')}`);
        }
        img.arch = arch;
      } else if (!platformMatches(config, img.arch)) {
        throw new StoreError('EPLATFORM', `image ${ref}: its index lists ${img.manifest.digest} for ${formatPlatform(platformFor(img.arch))} but its config says ${formatPlatform(config)}`);
      }
      if (config.rootfs.diff_ids.length !== img.layers.length) {
        throw new StoreError('EINVALID', `image ${ref}: manifest ${img.manifest.digest} has ${img.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`);
      }
      img.diffIds = config.rootfs.diff_ids;
      pulledArches.push(img.arch);
    }

    // layers of every arch, each once, in parallel (bounded)
    const jobs = new Map<string, { layer: Descriptor; diffId: string; what: string }>();
    for (const img of images) {
      img.layers.forEach((layer, i) => {
        if (!jobs.has(layer.digest)) jobs.set(layer.digest, { layer, diffId: img.diffIds[i], what: `layer ${i + 1}/${img.layers.length} of ${ref} (${img.arch})` });
      });
    }
    let downloaded = 0;
    await runLimited([...jobs.values()], registries.concurrency, async ({ layer, diffId, what }) => {
      if (await store.hasBlob(layer.digest)) {
        emit({ type: 'pull-blob-done', ref, digest: layer.digest, size: layer.size, what, cached: true });
        return;
      }
      emit({ type: 'pull-blob-start', ref, digest: layer.digest, size: layer.size, what });
      const progress = progressThrottle(layer.size, (received) => emit({ type: 'pull-blob-progress', ref, digest: layer.digest, received, size: layer.size }));
      const s = await registries.read(r.registry, (c) => fetchBlob(c, repo, store, { descriptor: layer, diffId, what, onProgress: progress }));
      staged.add(s);
      downloaded += layer.size;
      emit({ type: 'pull-blob-done', ref, digest: layer.digest, size: layer.size, what, cached: false });
    });

    for (const img of images) {
      staged.add(await store.stageBlob(img.manifest.bytes, { digest: img.manifest.digest, mediaType: img.manifest.mediaType }));
    }
    if (top.kind === 'index') staged.add(await store.stageBlob(top.bytes, { digest: top.digest, mediaType: top.mediaType }));
    await staged.commit();
    const descriptor = descriptorOf(top);
    await store.tag(ref, descriptor, { origin: `osbuild pull ${ref}` });
    emit({ type: 'pull-done', ref, digest: top.digest, arches: pulledArches, downloaded, upToDate: false });
    return { ref, descriptor, manifests: images.map((i) => ({ arch: i.arch, digest: i.manifest.digest })), downloaded, upToDate: false };
  } catch (e) {
    await staged.discard();
    throw e;
  }
}

function planImage(m: FetchedManifest, arch: Arch | undefined, ref: string): PlannedImage {
  const manifest = parseJsonDocument(m.bytes, ManifestSchema, `manifest ${m.digest} of ${ref}`, 'EINVALID');
  // arch is settled from the config for a single manifest
  return { arch: arch ?? 'amd64', manifest: m, config: manifest.config, layers: manifest.layers, diffIds: [] };
}

/** The arches a stored ref covers (its index's entries present in the store), for "up to date" checks. */
async function storedArches(store: Store, ref: string): Promise<Arch[]> {
  const out: Arch[] = [];
  for (const arch of ARCH_NAMES) {
    try {
      await store.resolveImage(ref, arch);
      out.push(arch);
    } catch {
      // not this arch
    }
  }
  return out;
}
