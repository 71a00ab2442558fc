import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/oci/errors.js';
import { exportLayout } from '../../src/oci/export.js';
import { importLayout, nameLayoutEntries } from '../../src/oci/import.js';
import { Store } from '../../src/oci/store.js';
import { MediaType, REF_NAME_ANNOTATION } from '../../src/oci/types.js';
import { corrupt, listFiles, readLayoutIndex, removeDir, run, sha256, tempDir, umociImage, storeMaker, caught } from './helpers.js';

let root: string;
let layout: string; // umoci: one amd64 image tagged "t1"
beforeAll(async () => {
  root = await tempDir();
  layout = join(root, 'umoci-layout');
  await umociImage(layout, 't1', { files: { 'etc/hello': 'hello from umoci\n', 'bin/tool': '#!/bin/sh\n' } });
});
afterAll(async () => removeDir(root));

const freshStore = storeMaker(() => root);

/** Everything a user would find in the store: refs and blob files (none left in .tmp). */
async function contents(store: Store): Promise<{ refs: string[]; blobs: string[]; tmp: string[] }> {
  return {
    refs: (await store.list()).map((e) => e.ref),
    blobs: await listFiles(join(store.dir, 'blobs')),
    tmp: await listFiles(join(store.dir, '.tmp')),
  };
}

/** The layer file umoci put in `layout`, as `tar -tf` lists it: the oracle for what we import. */
async function umociLayerFiles(): Promise<string[]> {
  const idx = await readLayoutIndex(layout);
  const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', idx.manifests[0].digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  return (await run('tar', ['-tzf', join(layout, 'blobs', 'sha256', manifest.layers[0].digest.slice(7))])).split('\n');
}

describe('importLayout: OCI layouts', () => {
  it('imports a umoci layout directory, naming its bare tag with the given repository', async () => {
    const store = await freshStore();
    const refs = await importLayout(store, layout, { ref: 'osbuild/hello' });
    const umociManifest = (await readLayoutIndex(layout)).manifests[0];
    expect(refs).toEqual([{ ref: 'docker.io/osbuild/hello:t1', descriptor: { mediaType: MediaType.ociManifest, digest: umociManifest.digest, size: umociManifest.size } }]);
    const img = await store.resolveImage('osbuild/hello:t1', 'amd64');
    expect(img.manifestDigest).toBe(umociManifest.digest);
    expect(img.config.architecture).toBe('amd64');
    expect(img.config.config?.Entrypoint).toEqual(['/bin/true']);
    // The layer is the one umoci wrote: same file list when read back through the store.
    await run('cp', [store.blobPath(img.layers[0].digest), join(root, 'layer.tgz')]);
    expect((await run('tar', ['-tzf', join(root, 'layer.tgz')])).split('\n')).toEqual(await umociLayerFiles());
    // skopeo reads our store as an OCI layout under the full ref name, and skopeo copy
    // re-verifies every blob digest on the way out.
    const inspect = JSON.parse(await run('skopeo', ['inspect', `oci:${store.dir}:docker.io/osbuild/hello:t1`])) as { Digest: string; Architecture: string };
    expect(inspect.Digest).toBe(umociManifest.digest);
    expect(inspect.Architecture).toBe('amd64');
    await run('skopeo', ['copy', '--insecure-policy', '-q', `oci:${store.dir}:docker.io/osbuild/hello:t1`, `dir:${join(root, 'copied')}`]);
    expect(await listFiles(join(root, 'copied'))).toContain('manifest.json');
    expect((await contents(store)).tmp).toEqual([]);
  });

  it('needs a repository for a bare tag', async () => {
    const store = await freshStore();
    const err = await caught(importLayout(store, layout));
    expect(err.code).toBe('EFORMAT');
    expect(err.message).toContain('"t1"');
    expect(err.message).toContain('--ref');
    expect(await contents(store)).toEqual({ refs: [], blobs: [], tmp: [] });
  });

  it('names the only image with a full ref when given one', async () => {
    const store = await freshStore();
    const refs = await importLayout(store, layout, { ref: 'localhost:5000/osbuild/init:0.1.0' });
    expect(refs.map((r) => r.ref)).toEqual(['localhost:5000/osbuild/init:0.1.0']);
  });

  it('keeps full names written by skopeo', async () => {
    const dst = join(root, 'skopeo-layout');
    await run('skopeo', ['copy', '--insecure-policy', '-q', `oci:${layout}:t1`, `oci:${dst}:docker.io/library/alpine:3.20`]);
    await run('skopeo', ['copy', '--insecure-policy', '-q', `oci:${layout}:t1`, `oci:${dst}:localhost:5000/x/y:1`]);
    const store = await freshStore();
    const refs = await importLayout(store, dst);
    expect(refs.map((r) => r.ref)).toEqual(['docker.io/library/alpine:3.20', 'localhost:5000/x/y:1']);
    expect((await store.resolveImage('alpine:3.20', 'amd64')).config.architecture).toBe('amd64');
  });

  it('imports a tar of a layout: plain, with a leading directory, gzipped', async () => {
    const tars = [
      ['plain.tar', ['-cf', join(root, 'plain.tar'), '-C', layout, '.']],
      ['dir.tar', ['-cf', join(root, 'dir.tar'), '-C', root, 'umoci-layout']],
      ['gz.tar.gz', ['-czf', join(root, 'gz.tar.gz'), '-C', layout, 'oci-layout', 'index.json', 'blobs']],
    ] as const;
    const digest = (await readLayoutIndex(layout)).manifests[0].digest;
    for (const [name, args] of tars) {
      await run('tar', [...args]);
      const store = await freshStore();
      const refs = await importLayout(store, join(root, name), { ref: 'osbuild/hello' });
      expect(refs.map((r) => [r.ref, r.descriptor.digest])).toEqual([['docker.io/osbuild/hello:t1', digest]]);
      const img = await store.resolveImage('osbuild/hello:t1', 'amd64');
      for (const layer of img.layers) expect(await store.hasBlob(layer.digest)).toBe(true);
      // Exactly the image's blobs were kept (umoci leaves unreferenced ones behind), no temp files.
      const c = await contents(store);
      expect(c.tmp).toEqual([]);
      const wanted = [digest, img.configDigest, ...img.layers.map((l) => l.digest)].map((d) => `sha256/${d.slice(7)}`).sort();
      expect(c.blobs).toEqual(wanted);
    }
  });

  it('rejects a corrupted blob in a layout directory: EDIGEST, nothing stored', async () => {
    const bad = join(root, 'bad-layout');
    await run('cp', ['-a', layout, bad]);
    const idx = await readLayoutIndex(bad);
    const manifest = JSON.parse(await readFile(join(bad, 'blobs', 'sha256', idx.manifests[0].digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
    const layerDigest = manifest.layers[0].digest;
    await corrupt(join(bad, 'blobs', 'sha256', layerDigest.slice(7)));
    const store = await freshStore();
    const err = await caught(importLayout(store, bad, { ref: 'osbuild/hello' }));
    expect(err.code).toBe('EDIGEST');
    expect(err.message).toContain(layerDigest);
    expect(err.message).toContain(bad);
    expect(await contents(store)).toEqual({ refs: [], blobs: [], tmp: [] });

    // The same inside a tar.
    await run('tar', ['-cf', join(root, 'bad.tar'), '-C', bad, '.']);
    const err2 = await caught(importLayout(store, join(root, 'bad.tar'), { ref: 'osbuild/hello' }));
    expect(err2.code).toBe('EDIGEST');
    expect(err2.message).toContain(layerDigest);
    expect(await contents(store)).toEqual({ refs: [], blobs: [], tmp: [] });
  });

  it('rejects a layout with a missing blob: ENOBLOB naming it', async () => {
    const bad = join(root, 'missing-layout');
    await run('cp', ['-a', layout, bad]);
    const idx = await readLayoutIndex(bad);
    const manifest = JSON.parse(await readFile(join(bad, 'blobs', 'sha256', idx.manifests[0].digest.slice(7)), 'utf8')) as { config: { digest: string } };
    await rm(join(bad, 'blobs', 'sha256', manifest.config.digest.slice(7)));
    const store = await freshStore();
    const err = await caught(importLayout(store, bad, { ref: 'osbuild/hello' }));
    expect(err.code).toBe('ENOBLOB');
    expect(err.message).toContain(manifest.config.digest);
    expect(await contents(store)).toEqual({ refs: [], blobs: [], tmp: [] });
  });

  it('detects a blob corrupted inside the store after import', async () => {
    const store = await freshStore();
    await importLayout(store, layout, { ref: 'osbuild/hello' });
    const img = await store.resolveImage('osbuild/hello:t1', 'amd64');
    await corrupt(store.blobPath(img.layers[0].digest));
    const e1 = await caught(store.readBlob(img.layers[0].digest, { size: img.layers[0].size }));
    expect(e1.code).toBe('EDIGEST');
    const e2 = await caught(
      (async () => {
        for await (const _ of store.openBlob(img.layers[0].digest, { ref: img.ref })) void _;
      })(),
    );
    expect(e2.code).toBe('EDIGEST');
    expect(e2.message).toContain(img.ref);
    // A corrupted config breaks resolution, with the ref in the message.
    await corrupt(store.blobPath(img.configDigest));
    const e3 = await caught(store.resolveImage('osbuild/hello:t1', 'amd64'));
    expect(e3.code).toBe('EDIGEST');
    expect(e3.message).toContain('docker.io/osbuild/hello:t1');
  });

  it('says what the source is when it is neither format', async () => {
    const store = await freshStore();
    await run('tar', ['-cf', join(root, 'junk.tar'), '-C', join(layout, 'blobs'), '.']);
    const err = await caught(importLayout(store, join(root, 'junk.tar')));
    expect(err.code).toBe('EFORMAT');
    expect(err.message).toContain('junk.tar');
    expect(await contents(store)).toEqual({ refs: [], blobs: [], tmp: [] });
    expect((await caught(importLayout(store, join(root, 'nope')))).code).toBe('EFORMAT');
  });
});

describe('importLayout: docker-archive', () => {
  let archive: string;
  beforeAll(async () => {
    archive = join(root, 'docker.tar');
    await run('skopeo', ['copy', '--insecure-policy', '-q', `oci:${layout}:t1`, `docker-archive:${archive}:osbuild/hello:2`]);
  });

  it('converts a skopeo docker-archive to an OCI image with plain tar layers named by their diff_ids', async () => {
    const store = await freshStore();
    const refs = await importLayout(store, archive);
    expect(refs.map((r) => r.ref)).toEqual(['docker.io/osbuild/hello:2']);
    const img = await store.resolveImage('osbuild/hello:2', 'amd64');
    expect(img.manifest.mediaType).toBe(MediaType.ociManifest);
    expect(img.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayer]);
    expect(img.layers.map((l) => l.digest)).toEqual(img.config.rootfs.diff_ids);
    // The config is the archive's, byte for byte (its digest is the image ID docker shows).
    const archiveManifest = JSON.parse(await run('tar', ['-xOf', archive, 'manifest.json'])) as { Config: string; Layers: string[] }[];
    const unpacked = join(root, 'archive-unpacked');
    await run('mkdir', ['-p', unpacked]);
    await run('tar', ['-xf', archive, '-C', unpacked]);
    expect(img.configDigest).toBe(sha256(await readFile(join(unpacked, archiveManifest[0].Config))));
    // Same files as umoci's gzipped layer.
    expect((await run('tar', ['-tf', store.blobPath(img.layers[0].digest)])).split('\n')).toEqual(await umociLayerFiles());
    // And skopeo can copy it back out of our store (verifying every digest).
    await run('skopeo', ['copy', '--insecure-policy', '-q', `oci:${store.dir}:docker.io/osbuild/hello:2`, `docker-archive:${join(root, 'roundtrip.tar')}:osbuild/hello:2`]);
    const rt = JSON.parse(await run('tar', ['-xOf', join(root, 'roundtrip.tar'), 'manifest.json'])) as { Config: string }[];
    expect(rt[0].Config).toBe(archiveManifest[0].Config);
  });

  it('takes a name for an archive without RepoTags, and rejects a layer that does not match its diff_id', async () => {
    const unnamed = join(root, 'unnamed.tar');
    await run('skopeo', ['copy', '--insecure-policy', '-q', `oci:${layout}:t1`, `docker-archive:${unnamed}`]);
    const store = await freshStore();
    const err = await caught(importLayout(store, unnamed));
    expect(err.code).toBe('EFORMAT');
    expect(err.message).toContain('RepoTags');
    expect((await importLayout(store, unnamed, { ref: 'osbuild/unnamed:1' })).map((r) => r.ref)).toEqual(['docker.io/osbuild/unnamed:1']);

    // Corrupt the layer inside an unpacked archive and pack it again.
    const dir = join(root, 'archive-dir');
    await run('mkdir', ['-p', dir]);
    await run('tar', ['-xf', archive, '-C', dir]);
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    await corrupt(join(dir, m[0].Layers[0]));
    await run('tar', ['-cf', join(root, 'bad-docker.tar'), '-C', dir, '.']);
    const store2 = await freshStore();
    const err2 = await caught(importLayout(store2, join(root, 'bad-docker.tar')));
    expect(err2.code).toBe('EDIGEST');
    expect(err2.message).toContain(m[0].Layers[0]);
    expect(await contents(store2)).toEqual({ refs: [], blobs: [], tmp: [] });
  });
});

describe('exportLayout', () => {
  it('writes a layout that skopeo reads and that imports back to the same digests', async () => {
    const store = await freshStore();
    const imported = await importLayout(store, layout, { ref: 'osbuild/hello' });
    await store.tag('localhost:5000/other:2', imported[0].descriptor);
    const out = join(root, 'exported');
    const exported = await exportLayout(store, ['osbuild/hello:t1', 'localhost:5000/other:2'], out);
    expect(exported.map((e) => e.ref)).toEqual(['docker.io/osbuild/hello:t1', 'localhost:5000/other:2']);
    expect(await listFiles(out)).not.toContain('.tmp');
    const inspect = JSON.parse(await run('skopeo', ['inspect', `oci:${out}:localhost:5000/other:2`])) as { Digest: string };
    expect(inspect.Digest).toBe(imported[0].descriptor.digest);
    const again = await freshStore();
    const back = await importLayout(again, out);
    expect(back).toEqual(exported);
    expect((await caught(exportLayout(store, ['osbuild/absent:1'], join(root, 'exported2')))).code).toBe('ENOIMAGE');
  });
});

describe('nameLayoutEntries', () => {
  const d = (i: number, annotations?: Record<string, string>) => ({ mediaType: MediaType.ociIndex, digest: sha256(String(i)), size: 1, ...(annotations ? { annotations } : {}) });
  it('uses full names, completes bare tags, and prefers the containerd name docker save writes', () => {
    const entries = [
      d(1, { [REF_NAME_ANNOTATION]: 'alpine:3.20' }),
      d(2, { [REF_NAME_ANNOTATION]: 'v2' }),
      d(3),
      d(4, { [REF_NAME_ANNOTATION]: '3.20', 'io.containerd.image.name': 'docker.io/library/busybox:1.36' }),
    ];
    expect(nameLayoutEntries(entries, { ref: 'osbuild/x' }, 'L').map((e) => e.ref)).toEqual([
      'docker.io/library/alpine:3.20',
      'docker.io/osbuild/x:v2',
      'docker.io/osbuild/x:latest',
      'docker.io/library/busybox:1.36',
    ]);
    expect(() => nameLayoutEntries(entries, {}, 'L')).toThrow(/L: image sha256:\w+ is tagged "v2" only/);
    expect(() => nameLayoutEntries(entries, { ref: 'osbuild/x:1' }, 'L')).toThrow(/L holds 4 images/);
    expect(nameLayoutEntries([d(5, { [REF_NAME_ANNOTATION]: 'latest' })], { ref: 'osbuild/x:1' }, 'L').map((e) => e.ref)).toEqual(['docker.io/osbuild/x:1']);
    expect(() => nameLayoutEntries([d(5)], { ref: `x@${sha256('x')}` }, 'L')).toThrow(/not a digest/);
  });
});
