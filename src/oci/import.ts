// Import of images into the store from an OCI image layout (a directory or a tar of one) or a
// docker-archive tar (`docker save`, `skopeo copy ... docker-archive:`). Every blob an image
// references is verified against its digest and staged first; only when all of them are good are
// they moved into the store (documents after the blobs they name) and the refs tagged, so a bad
// import leaves neither refs nor blobs behind.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import { canonicalJSON, mismatch, sha256Digest } from './digest.js';
import { manifestDocument, parseJsonDocument } from './documents.js';
import { StoreError } from './errors.js';
import { showName } from '../formats/names.js';
import { cleanName, DirectorySource, TarSource, type ImportSource } from './import-source.js';
import { documentKind } from './media.js';
import { hasExplicitVersion, isBareTag, normalizeRef, parseRef } from './ref.js';
import { shellWord, type StagedBlob, type Store } from './store.js';
import {
  ImageConfig as ImageConfigSchema,
  Index as IndexSchema,
  Manifest as ManifestSchema,
  MediaType,
  REF_NAME_ANNOTATION,
} from './types.js';
import type { Descriptor } from './types.js';

export interface ImportOptions {
  /**
   * Names the imported images. A repository ("osbuild/init") completes bare tags in the layout's
   * ref.name annotations ("latest") and names unnamed images ':latest'; a full reference with a
   * tag ("osbuild/init:0.1.0") names the layout's only image.
   */
  ref?: string;
  /** Called once per blob staged, for progress display. */
  onBlob?: (e: { digest: string; size: number; what: string }) => void;
}

export interface ImportedRef {
  ref: string;
  descriptor: Descriptor;
}

/** Annotation containerd and docker (25+) `docker save` put on index.json entries: the full name. */
const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

const DockerArchiveManifest = z.array(
  z.object({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string()),
  }),
);

/** Blobs staged by an import, in the order they must enter the store (referenced before referrer). */
class StagedSet {
  private readonly blobs = new Map<string, StagedBlob>();

  has(digest: string): boolean {
    return this.blobs.has(digest);
  }

  async add(staged: StagedBlob): Promise<void> {
    if (this.blobs.has(staged.descriptor.digest)) await staged.discard();
    else this.blobs.set(staged.descriptor.digest, staged);
  }

  async commit(): Promise<void> {
    for (const s of this.blobs.values()) await s.commit();
  }

  async discard(): Promise<void> {
    for (const s of this.blobs.values()) await s.discard();
  }
}

function blobName(digest: string): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

function parseJSON<T>(bytes: Buffer, schema: z.ZodType<T>, where: string): T {
  return parseJsonDocument(bytes, schema, where, 'EFORMAT');
}

/**
 * The refs for a layout's index.json entries (pure). Rules in ImportOptions.ref; a full name in
 * io.containerd.image.name or ref.name is used as is.
 */
export function nameLayoutEntries(entries: Descriptor[], opts: { ref?: string }, label: string): ImportedRef[] {
  if (opts.ref !== undefined && parseRef(opts.ref).digest !== undefined) {
    throw new StoreError('EFORMAT', `cannot name imported images ${JSON.stringify(opts.ref)}: give a repository or repository:tag, not a digest`);
  }
  if (opts.ref !== undefined && hasExplicitVersion(opts.ref)) {
    const digests = new Set(entries.map((e) => e.digest));
    if (digests.size !== 1) {
      throw new StoreError(
        'EFORMAT',
        `${label} holds ${digests.size} images, so ${JSON.stringify(opts.ref)} cannot name them all: give a repository without a tag (e.g. ${opts.ref.replace(/:[^:/]*$/, '')}) to keep each image's tag`,
      );
    }
    return [{ ref: normalizeRef(opts.ref), descriptor: entries[0] }];
  }
  const out = new Map<string, ImportedRef>();
  for (const entry of entries) {
    const full = entry.annotations?.[CONTAINERD_NAME_ANNOTATION];
    const refName = entry.annotations?.[REF_NAME_ANNOTATION];
    let ref: string;
    if (full) ref = normalizeRef(full);
    else if (refName !== undefined && !isBareTag(refName)) ref = normalizeRef(refName);
    else if (opts.ref !== undefined) ref = normalizeRef(`${opts.ref}:${refName ?? 'latest'}`);
    else {
      const which = refName !== undefined ? `tagged "${showName(refName)}" only` : 'without a name';
      throw new StoreError('EFORMAT', `${label}: image ${entry.digest} is ${which}; give a repository to name it (e.g. --ref osbuild/init)`);
    }
    out.set(ref, { ref, descriptor: entry });
  }
  return [...out.values()];
}

function descriptorOnly(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

class Importer {
  readonly plan = new StagedSet();

  constructor(
    private readonly source: ImportSource,
    private readonly opts: ImportOptions,
  ) {}

  private get label(): string {
    return this.source.label;
  }

  private async stage(name: string, expect: { digest?: string; size?: number; mediaType?: string }, what: string): Promise<StagedBlob> {
    const staged = await this.source.stage(name, { ...expect, what: `${what} (${showName(name)} in ${this.label})` }, true);
    if (!staged) {
      throw new StoreError('ENOBLOB', `${what} ${expect.digest ?? ''} is missing from ${this.label} (expected at ${showName(name)})`.replace('  ', ' '));
    }
    this.opts.onBlob?.({ digest: staged.descriptor.digest, size: staged.descriptor.size, what });
    await this.plan.add(staged);
    return staged;
  }

  /** Reads and verifies a document blob of the layout. */
  private async document(desc: Descriptor, what: string): Promise<Buffer> {
    const name = blobName(desc.digest);
    const bytes = await this.source.readSmall(name);
    if (!bytes) throw new StoreError('ENOBLOB', `${what} ${desc.digest} is missing from ${this.label} (expected at ${showName(name)})`);
    const actual = { digest: sha256Digest(bytes), size: bytes.length };
    if (actual.digest !== desc.digest || actual.size !== desc.size) throw mismatch(`${what} (${showName(name)} in ${this.label})`, desc, actual);
    return bytes;
  }

  /** Stages `desc` and everything it references, referenced blobs first. */
  private async walk(desc: Descriptor, what: string): Promise<void> {
    if (this.plan.has(desc.digest)) return;
    const kind = documentKind(desc.mediaType, undefined);
    if (kind === 'index') {
      const bytes = await this.document(desc, what);
      const index = parseJSON(bytes, IndexSchema, `${what} ${desc.digest} in ${this.label}`);
      // A layout may carry only some platforms of a multi-arch index (docker save, partial
      // copies): absent platform manifests are left out; resolveImage says so if one is asked for.
      const present = [];
      for (const m of index.manifests) if (await this.source.has(blobName(m.digest))) present.push(m);
      if (present.length === 0 && index.manifests.length > 0) {
        throw new StoreError('ENOBLOB', `${what} ${desc.digest} in ${this.label}: none of its ${index.manifests.length} manifests is in the layout`);
      }
      for (const [i, m] of present.entries()) await this.walk(m, `manifest ${i + 1} of index ${desc.digest}`);
    } else if (kind === 'manifest') {
      const bytes = await this.document(desc, what);
      const manifest = parseJSON(bytes, ManifestSchema, `${what} ${desc.digest} in ${this.label}`);
      await this.walk(manifest.config, `config of manifest ${desc.digest}`);
      for (const [i, layer] of manifest.layers.entries()) {
        // Foreign layers (urls) live elsewhere by design; layouts do not carry them.
        if (layer.urls && layer.urls.length > 0 && !(await this.source.has(blobName(layer.digest)))) continue;
        await this.walk(layer, `layer ${i + 1} of manifest ${desc.digest}`);
      }
    }
    await this.stage(blobName(desc.digest), desc, what);
  }

  async ociLayout(): Promise<ImportedRef[]> {
    const layout = parseJSON(
      (await this.source.readSmall('oci-layout'))!,
      z.object({ imageLayoutVersion: z.string() }),
      `oci-layout in ${this.label}`,
    );
    if (layout.imageLayoutVersion !== '1.0.0') {
      throw new StoreError('EFORMAT', `${this.label}: OCI layout version ${showName(layout.imageLayoutVersion)} is not supported (expected 1.0.0)`);
    }
    const index = parseJSON((await this.source.readSmall('index.json'))!, IndexSchema, `index.json in ${this.label}`);
    if (index.manifests.length === 0) throw new StoreError('EFORMAT', `${this.label}: index.json lists no images`);
    const named = nameLayoutEntries(index.manifests, this.opts, this.label);
    for (const entry of index.manifests) {
      if (documentKind(entry.mediaType, undefined) === 'unknown') {
        throw new StoreError('EMEDIATYPE', `${this.label}: index.json entry ${showName(String(entry.digest))} has media type "${showName(String(entry.mediaType))}", not an image manifest or index`);
      }
      await this.walk(entry, 'image');
    }
    return named.map((n) => ({ ref: n.ref, descriptor: descriptorOnly(n.descriptor) }));
  }

  async dockerArchive(store: Store): Promise<ImportedRef[]> {
    const items = parseJSON((await this.source.readSmall('manifest.json'))!, DockerArchiveManifest, `manifest.json in ${this.label}`);
    if (items.length === 0) throw new StoreError('EFORMAT', `${this.label}: manifest.json lists no images`);
    const explicit = this.opts.ref !== undefined && hasExplicitVersion(this.opts.ref);
    if (explicit && items.length !== 1) {
      throw new StoreError('EFORMAT', `${this.label} holds ${items.length} images, so ${JSON.stringify(this.opts.ref)} cannot name them all`);
    }
    const out: ImportedRef[] = [];
    for (const [i, item] of items.entries()) {
      const image = `image ${i + 1} of manifest.json`;
      const configName = cleanName(item.Config, this.label);
      const configBytes = await this.source.readSmall(configName);
      if (!configBytes) throw new StoreError('ENOBLOB', `config ${showName(configName)} of ${image} is missing from ${this.label}`);
      const config = parseJSON(configBytes, ImageConfigSchema, `${showName(configName)} in ${this.label}`);
      const configDesc = (await this.stage(configName, { digest: nameDigest(configName), mediaType: MediaType.ociConfig }, `config of ${image}`)).descriptor;
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== item.Layers.length) {
        throw new StoreError('EFORMAT', `${this.label}: ${image} has ${item.Layers.length} layers but its config lists ${diffIds.length} diff_ids`);
      }
      const layers: Descriptor[] = [];
      for (const [j, layerPath] of item.Layers.entries()) {
        const name = cleanName(layerPath, this.label);
        const what = `layer ${j + 1} of ${image}`;
        const staged = await this.stage(name, { digest: nameDigest(name) }, what);
        layers.push({ mediaType: await layerMediaType(staged, diffIds[j], `${what} (${showName(name)} in ${this.label})`), digest: staged.descriptor.digest, size: staged.descriptor.size });
      }
      const manifestBytes = canonicalJSON(manifestDocument({ ...configDesc, mediaType: MediaType.ociConfig }, layers));
      const manifest = await store.stageBlob(manifestBytes, { mediaType: MediaType.ociManifest });
      await this.plan.add(manifest);
      const descriptor = { ...manifest.descriptor, mediaType: MediaType.ociManifest };
      const tags = explicit ? [this.opts.ref!] : (item.RepoTags ?? []).length > 0 ? item.RepoTags! : this.opts.ref !== undefined ? [this.opts.ref] : [];
      if (tags.length === 0) throw new StoreError('EFORMAT', `${this.label}: ${image} has no RepoTags; give a name for it (e.g. --ref osbuild/init:0.1.0)`);
      for (const t of tags) out.push({ ref: normalizeRef(t), descriptor });
    }
    return out;
  }
}

/** docker-archive members named after their content (`<hex>.tar`, `<hex>.json`, blobs/sha256/<hex>) must match it. */
function nameDigest(name: string): string | undefined {
  const m = /(?:^|\/)(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.tar|\.json)?$/.exec(name);
  return m ? `sha256:${m[1]}` : undefined;
}

/**
 * A docker-archive layer is the uncompressed tar whose digest is the diff_id; a gzipped one is
 * accepted if its uncompressed content hashes to the diff_id.
 */
async function layerMediaType(staged: StagedBlob, diffId: string, what: string): Promise<string> {
  if (staged.descriptor.digest === diffId) return MediaType.ociLayer;
  const hash = createHash('sha256');
  let gzipped: boolean | undefined;
  const gunzip = createGunzip();
  const done = new Promise<void>((res, rej) => {
    gunzip.on('data', (c: Buffer) => hash.update(c));
    gunzip.on('end', res);
    gunzip.on('error', rej);
  });
  for await (const chunk of staged.open()) {
    if (gzipped === undefined) gzipped = chunk[0] === 0x1f && chunk[1] === 0x8b;
    if (!gzipped) break;
    if (!gunzip.write(chunk)) await new Promise((r) => gunzip.once('drain', r));
  }
  if (gzipped) {
    gunzip.end();
    try {
      await done;
    } catch (e) {
      throw new StoreError('EDIGEST', `${what}: not a valid gzip stream: ${(e as Error).message}`);
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual === diffId) return MediaType.ociLayerGzip;
    throw new StoreError('EDIGEST', `${what}: uncompressed content is ${actual}, but the config's diff_id is ${diffId}`);
  }
  gunzip.destroy();
  throw new StoreError('EDIGEST', `${what}: content is ${staged.descriptor.digest}, but the config's diff_id is ${diffId}`);
}

/**
 * Imports every image of an OCI layout (directory or tar, gzipped or not) or docker-archive tar
 * into the store and tags it. Returns the refs, sorted.
 */
export async function importLayout(store: Store, path: string, opts: ImportOptions = {}): Promise<ImportedRef[]> {
  const abs = resolvePath(path);
  const st = await stat(abs).catch(() => undefined);
  if (!st) throw new StoreError('EFORMAT', `${abs} does not exist: give an OCI layout directory, or a tar of one, or a docker-archive tar`);
  const source: ImportSource = st.isDirectory() ? new DirectorySource(store, abs) : await TarSource.read(store, abs);
  const importer = new Importer(source, opts);
  try {
    let named: ImportedRef[];
    if ((await source.has('oci-layout')) && (await source.has('index.json'))) named = await importer.ociLayout();
    else if (await source.has('manifest.json')) named = await importer.dockerArchive(store);
    else {
      throw new StoreError('EFORMAT', `${abs} is neither an OCI image layout (oci-layout + index.json) nor a docker-archive (manifest.json)`);
    }
    await importer.plan.commit();
    const origin = `osbuild cache import${opts.ref !== undefined ? ` --ref ${shellWord(opts.ref)}` : ''} ${shellWord(abs)}`;
    for (const n of named) await store.tag(n.ref, n.descriptor, { origin });
    return [...named].sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  } catch (e) {
    await importer.plan.discard();
    throw e;
  } finally {
    await source.close();
  }
}
