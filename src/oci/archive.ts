// Export of store images as one tar file: an OCI image layout in a tar (what `skopeo copy
// oci-archive:` and our own import read), or a docker-archive (`docker load`, `skopeo copy
// docker-archive:`) holding one architecture. Deterministic: sorted members, mtime 0, root owner.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { canonicalJSON } from './digest.js';
import { StoreError } from './errors.js';
import { exportLayout, type ExportedRef } from './export.js';
import { familiarRef, formatRef, parseRef } from './ref.js';
import type { Store } from './store.js';
import type { Arch } from '../arch.js';

export type ArchiveFormat = 'oci' | 'docker-archive';

interface Member {
  name: string;
  /** Bytes, or a file to stream. */
  data: Buffer | { path: string; size: number };
}

async function writeTar(out: string, members: Member[]): Promise<void> {
  const tmp = join(dirname(out), `.${Date.now()}-${process.pid}.tar.tmp`);
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(tmp));
  try {
    const dirs = new Set<string>();
    for (const m of [...members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const parts = m.name.split('/');
      for (let i = 1; i < parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (dirs.has(d)) continue;
        dirs.add(d);
        pack.entry({ name: `${d}/`, type: 'directory', mode: 0o755, mtime: new Date(0), uid: 0, gid: 0 });
      }
      const header = { name: m.name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 };
      if (Buffer.isBuffer(m.data)) pack.entry(header, m.data);
      else {
        const entry = pack.entry({ ...header, size: m.data.size });
        await pipeline(createReadStream(m.data.path), entry);
      }
    }
    pack.finalize();
    await done;
    await rename(tmp, out);
  } catch (e) {
    pack.destroy();
    await done.catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** The images `refs` name, as an OCI layout inside the tar file `out`. */
async function exportOciTar(store: Store, refs: string[], out: string): Promise<ExportedRef[]> {
  const dir = await mkdtemp(join(dirname(out), '.osbuild-export-'));
  try {
    const written = await exportLayout(store, refs, join(dir, 'layout'));
    const root = join(dir, 'layout');
    const members: Member[] = [];
    const walk = async (rel: string): Promise<void> => {
      for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(r);
        else if (e.isFile() && !e.name.startsWith('.')) members.push({ name: r, data: { path: join(root, r), size: (await stat(join(root, r))).size } });
      }
    };
    await walk('');
    await writeTar(out, members);
    return written;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One architecture of each image as a docker-archive tar (`docker load` reads it). */
async function exportDockerArchive(store: Store, refs: string[], out: string, arch: Arch): Promise<ExportedRef[]> {
  const members = new Map<string, Member>();
  const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const written: ExportedRef[] = [];
  for (const input of refs) {
    const r = parseRef(input);
    const ref = formatRef(r);
    const img = await store.resolveImage(ref, arch);
    const blob = (digest: string) => `blobs/sha256/${digest.slice(7)}`;
    for (const d of [img.manifest.config, ...img.layers]) {
      const name = blob(d.digest);
      if (!members.has(name)) {
        // verified on the way out: the archive must not carry a corrupt store blob
        for await (const _ of store.openBlob(d.digest, { ref, size: d.size })) void _;
        members.set(name, { name, data: { path: store.blobPath(d.digest), size: d.size } });
      }
    }
    const tags = r.tag !== undefined ? [familiarRef({ registry: r.registry, repository: r.repository, tag: r.tag })] : [];
    manifest.push({ Config: blob(img.configDigest), RepoTags: tags, Layers: img.layers.map((l) => blob(l.digest)) });
    written.push({ ref, descriptor: { mediaType: img.manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json', digest: img.manifestDigest, size: 0 } });
  }
  members.set('manifest.json', { name: 'manifest.json', data: canonicalJSON(manifest) });
  await writeTar(out, [...members.values()]);
  return written;
}

/**
 * Writes the images `refs` name to `out`: a directory becomes an OCI layout; a file is a tar of an
 * OCI layout, or a docker-archive (one arch, default amd64).
 */
export async function exportImages(store: Store, refs: string[], out: string, opts: { format?: ArchiveFormat; arch?: Arch } = {}): Promise<ExportedRef[]> {
  if (refs.length === 0) throw new StoreError('EFORMAT', 'nothing to export: name at least one image');
  const isTar = /\.tar$/.test(out);
  const format = opts.format ?? 'oci';
  if (format === 'docker-archive') {
    if (!isTar) throw new StoreError('EFORMAT', `a docker-archive is a tar file: name the output something.tar, not ${out}`);
    return exportDockerArchive(store, refs, out, opts.arch ?? 'amd64');
  }
  return isTar ? exportOciTar(store, refs, out) : exportLayout(store, refs, out);
}
