// `osbuild pkg build`: a component folder -> a multi-arch OCI image in the store, made of one
// deterministic layer per arch. No daemon, no root, nothing extracted onto the host: .debs are
// read as streams, contents wait in a spool file until the layer is written in sorted order.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { gzipParallel } from '../formats/compress/gzip.js';
import { writeTar } from '../formats/tar/write.js';
import { sourceDateEpoch } from '../defaults.js';
import { createdFromEpoch } from '../oci/documents.js';
import { normalizeRef } from '../oci/ref.js';
import { shellWord, type Store } from '../oci/store.js';
import { COMPONENT_SOURCE_LABEL, componentSourceDigest } from './source.js';
import type { Arch } from '../arch.js';
import { MediaType, MOBY_CONFIG_LABEL, type Descriptor, type ImageRuntimeConfig } from '../oci/types.js';
import { AptRepo } from './apt.js';
import { expandArch } from './arch.js';
import { readDebData } from './deb.js';
import { PkgError } from './errors.js';
import type { PkgEvent } from './events.js';
import { dependencyClosure, skippedDependencyPath } from './closure.js';
import { kernelFiles } from './kernel.js';
import { addFiles, addPackage } from './sources.js';
import { loadComponent, SPEC_FILE, type ComponentSpec } from './spec.js';
import { Spool } from './spool.js';
import { Tree, treeStream } from './tree.js';
import { DEBIAN_PACKAGES_LABEL, recordsLabel, type DebRecord } from './record.js';
import type { FetchedDeb } from './apt.js';

export interface BuildComponentOptions {
  store: Store;
  /** Holds debian/<arch>/ (apt lists, downloaded .debs) and temporary spool files. */
  cacheDir: string;
  /** Subset of the spec's arches; default all of them. */
  arches?: Arch[];
  /** mtime of every entry and the images' created time; default sourceDateEpoch() (src/defaults.ts: SOURCE_DATE_EPOCH, else 0). */
  sourceDateEpoch?: number;
  onProgress?: (e: PkgEvent) => void;
}

export interface BuiltComponent {
  /** Full normalized reference the index is tagged as, e.g. docker.io/osbuild/runc:0.1.0 */
  ref: string;
  index: Descriptor;
  manifests: { arch: Arch; descriptor: Descriptor }[];
}

/** The image config's runtime section: the spec's config plus the moby label. */
export function runtimeConfig(spec: ComponentSpec): ImageRuntimeConfig {
  const config: ImageRuntimeConfig = { ...spec.config };
  if (spec.moby !== undefined) config.Labels = { ...spec.config.Labels, [MOBY_CONFIG_LABEL]: JSON.stringify(spec.moby) };
  return config;
}

/** What went into an image: one record per .deb read. */
function recordOf(deb: FetchedDeb): DebRecord {
  const { package: pkg, version, architecture, sha256, filename } = deb.info;
  return { package: pkg, version, architecture, sha256, archive: deb.archive, filename };
}

/** Gathers one arch's tree: packages, then the kernel, then the files section (which overrides). */
async function gatherTree(spec: ComponentSpec, arch: Arch, apt: AptRepo, spool: Spool, mtime: number, records: DebRecord[]): Promise<Tree> {
  const specFile = path.join(spec.dir, SPEC_FILE);
  const tree = new Tree();
  for (const [i, sel] of spec.packages.entries()) {
    const name = expandArch(sel.package, arch);
    const deb = await apt.fetch(name);
    records.push(recordOf(deb));
    await addPackage(tree, spool, readDebData(deb.path), {
      name: `${name} ${deb.info.version} (${arch})`,
      where: `${specFile}: packages[${i}]`,
      patterns: sel.paths?.map((p) => expandArch(p, arch)),
    });
  }
  await addDependencies(spec, arch, apt, spool, tree, specFile, records);
  if (spec.kernel) {
    const where = `${specFile}: kernel`;
    const name = await apt.resolveKernelPackage(expandArch(spec.kernel.package, arch));
    const deb = await apt.fetch(name);
    records.push(recordOf(deb));
    const k = await kernelFiles(spool, readDebData(deb.path), { where: `${where} (${name} ${deb.info.version}, ${arch})`, mtime, moduleGlobs: spec.kernel.modules });
    const origin = `kernel package ${name}`;
    tree.add('kernel', { type: 'file', mode: 0o644, content: k.kernel, origin });
    tree.add('kernel.tar', { type: 'file', mode: 0o644, content: k.kernelTar, origin });
    if (k.config) tree.add('config', { type: 'file', mode: 0o644, content: k.config, origin });
  }
  await addFiles(tree, spool, spec.files, spec.dir, specFile);
  return tree;
}

/** The closure of every `depends: true` package, once each, minus what the spec names itself. */
async function addDependencies(spec: ComponentSpec, arch: Arch, apt: AptRepo, spool: Spool, tree: Tree, specFile: string, records: DebRecord[]): Promise<void> {
  const roots = spec.packages.filter((s) => s.depends).map((s) => expandArch(s.package, arch));
  if (roots.length === 0) return;
  const named = new Set(spec.packages.map((s) => expandArch(s.package, arch)));
  const deps = (await dependencyClosure(apt, roots)).filter((d) => !named.has(d.package));
  for (const dep of deps) {
    const deb = await apt.fetch(dep.package);
    records.push(recordOf(deb));
    await addPackage(tree, spool, readDebData(deb.path), {
      name: `${dep.package} ${deb.info.version} (${arch}, a dependency of ${roots.join(', ')})`,
      where: `${specFile}: depends`,
      skip: skippedDependencyPath,
    });
  }
}

/** Writes the tree as a gzip layer; returns its descriptor and diff_id (sha256 of the tar). */
async function writeLayer(store: Store, tree: Tree, spool: Spool, mtime: number): Promise<{ descriptor: Descriptor; diffId: string }> {
  const hash = createHash('sha256');
  async function* hashed(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    for await (const chunk of source) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const descriptor = await store.putBlob(gzipParallel(hashed(writeTar(treeStream(tree, spool, mtime)))), {
    mediaType: MediaType.ociLayerGzip,
    what: 'component layer',
  });
  return { descriptor, diffId: `sha256:${hash.digest('hex')}` };
}

export async function buildComponent(dir: string, opts: BuildComponentOptions): Promise<BuiltComponent> {
  const spec = await loadComponent(dir);
  const ref = normalizeRef(spec.ref);
  const mtime = opts.sourceDateEpoch ?? sourceDateEpoch();
  const arches = opts.arches ?? spec.arches;
  const unsupported = arches.filter((a) => !spec.arches.includes(a));
  if (unsupported.length > 0) {
    throw new PkgError('SPEC_INVALID', `${path.join(spec.dir, SPEC_FILE)}: the component is for ${spec.arches.join(', ')}, not ${unsupported.join(', ')}`);
  }
  const base = runtimeConfig(spec);
  const config: ImageRuntimeConfig = { ...base, Labels: { ...base.Labels, [COMPONENT_SOURCE_LABEL]: await componentSourceDigest(spec.dir) } };
  const manifests: BuiltComponent['manifests'] = [];
  for (const arch of arches) {
    const apt = new AptRepo(opts.cacheDir, arch, opts.onProgress);
    const spool = await Spool.create(path.join(opts.cacheDir, 'tmp'));
    try {
      const records: DebRecord[] = [];
      const tree = await gatherTree(spec, arch, apt, spool, mtime, records);
      const layer = await writeLayer(opts.store, tree, spool, mtime);
      opts.onProgress?.({ type: 'layer', arch, descriptor: layer.descriptor, diffId: layer.diffId, entries: tree.size });
      const descriptor = await opts.store.putImage({
        arch,
        layers: [layer.descriptor],
        diffIds: [layer.diffId],
        config: records.length > 0 ? { ...config, Labels: { ...config.Labels, [DEBIAN_PACKAGES_LABEL]: recordsLabel(records) } } : config,
        created: createdFromEpoch(mtime),
      });
      opts.onProgress?.({ type: 'image', arch, descriptor });
      manifests.push({ arch, descriptor });
    } finally {
      await spool.close();
    }
  }
  const index = await opts.store.putIndex(manifests);
  await opts.store.tag(ref, index, { origin: `osbuild pkg build ${shellWord(path.resolve(spec.dir))}` });
  opts.onProgress?.({ type: 'index', ref, descriptor: index });
  return { ref, index, manifests };
}
