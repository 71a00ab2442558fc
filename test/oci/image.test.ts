import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createdFromEpoch } from '../../src/oci/documents.js';
import { StoreError } from '../../src/oci/errors.js';
import { importLayout } from '../../src/oci/import.js';
import { Store } from '../../src/oci/store.js';
import { MediaType, REF_NAME_ANNOTATION } from '../../src/oci/types.js';
import { readLayoutIndex, removeDir, run, sha256, tempDir, umociImage, writeLayoutBlob, storeMaker, caught } from './helpers.js';

let root: string;
const freshStore = storeMaker(() => root);

/** Rewrites a layout's index.json to hold just `entries`. */
async function setIndex(layout: string, entries: object[]): Promise<void> {
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: entries }));
}

// Two umoci images, amd64 and arm64, and an index over them written here (umoci does not write
// indexes). `layout` keeps umoci's own tags; `multi` is a copy whose index.json names the index.
let layout: string;
let amd: { digest: string; size: number };
let arm: { digest: string; size: number };
let multiIndex: { digest: string; size: number };
beforeAll(async () => {
  root = await tempDir();
  layout = join(root, 'umoci');
  await umociImage(layout, 'amd', { arch: 'amd64', files: { 'etc/arch': 'amd64\n' } });
  await umociImage(layout, 'arm', { arch: 'arm64', files: { 'etc/arch': 'arm64\n' } });
  const tags = Object.fromEntries((await readLayoutIndex(layout)).manifests.map((m) => [m.annotations![REF_NAME_ANNOTATION], m]));
  amd = tags.amd;
  arm = tags.arm;
  multiIndex = await writeLayoutBlob(
    layout,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { mediaType: MediaType.ociManifest, ...amd, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MediaType.ociManifest, ...arm, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      ],
    }),
  );
  await run('cp', ['-a', layout, join(root, 'multi')]);
  await setIndex(join(root, 'multi'), [{ mediaType: MediaType.ociIndex, ...multiIndex, annotations: { [REF_NAME_ANNOTATION]: 'docker.io/osbuild/multi:1' } }]);
});
afterAll(async () => removeDir(root));

describe('resolveImage', () => {
  it('picks the manifest for each architecture from an index', async () => {
    const store = await freshStore();
    expect((await importLayout(store, join(root, 'multi'))).map((r) => r.ref)).toEqual(['docker.io/osbuild/multi:1']);
    const a = await store.resolveImage('osbuild/multi:1', 'amd64');
    const b = await store.resolveImage('docker.io/osbuild/multi:1', 'arm64');
    expect([a.indexDigest, a.manifestDigest, a.config.architecture]).toEqual([multiIndex.digest, amd.digest, 'amd64']);
    expect([b.indexDigest, b.manifestDigest, b.config.architecture]).toEqual([multiIndex.digest, arm.digest, 'arm64']);
    expect(b.ref).toBe('docker.io/osbuild/multi:1');
    expect(b.layers).toEqual(b.manifest.layers);
    expect(b.configDigest).toBe(b.manifest.config.digest);
    // skopeo makes the same choice from our store.
    for (const [arch, variant, want] of [['amd64', '', amd.digest], ['arm64', 'v8', arm.digest]] as const) {
      const raw = await run('skopeo', [
        'inspect', '--raw', '--override-arch', arch, ...(variant ? ['--override-variant', variant] : []),
        `oci:${store.dir}:docker.io/osbuild/multi:1`,
      ]);
      expect(sha256(raw)).toBe(multiIndex.digest);
      const cfg = JSON.parse(await run('skopeo', ['inspect', '--config', '--override-arch', arch, `oci:${store.dir}:docker.io/osbuild/multi:1`])) as { architecture: string };
      expect(cfg.architecture).toBe(arch);
      expect(want).toBe(arch === 'amd64' ? a.manifestDigest : b.manifestDigest);
    }
    // A digest pin resolves too.
    expect((await store.resolveImage(`osbuild/multi:1@${multiIndex.digest}`, 'arm64')).manifestDigest).toBe(arm.digest);
  });

  it('imports a layout holding only some platforms of an index, and says so when a missing one is asked for', async () => {
    const lay = join(root, 'partial');
    await run('cp', ['-a', join(root, 'multi'), lay]);
    await rm(join(lay, 'blobs', 'sha256', arm.digest.slice(7)));
    const store = await freshStore();
    await importLayout(store, lay);
    expect((await store.resolveImage('osbuild/multi:1', 'amd64')).manifestDigest).toBe(amd.digest);
    const err = await caught(store.resolveImage('osbuild/multi:1', 'arm64'));
    expect(err.code).toBe('ENOBLOB');
    expect(err.message).toContain(arm.digest);
    expect(err.message).toContain('linux/arm64/v8');
    expect(err.message).toContain('only some of its platforms');
  });

  it('names the platforms an index has when the one asked for is missing', async () => {
    const lay = join(root, 'amd-and-armv7');
    await run('cp', ['-a', layout, lay]);
    const idx = await writeLayoutBlob(
      lay,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { mediaType: MediaType.ociManifest, ...amd, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: MediaType.ociManifest, ...arm, platform: { architecture: 'arm', os: 'linux', variant: 'v7' } },
        ],
      }),
    );
    await setIndex(lay, [{ mediaType: MediaType.ociIndex, ...idx, annotations: { [REF_NAME_ANNOTATION]: 'x/y:1' } }]);
    const store = await freshStore();
    await importLayout(store, lay);
    const err = await caught(store.resolveImage('x/y:1', 'arm64'));
    expect(err.code).toBe('EPLATFORM');
    expect(err.message).toContain('docker.io/x/y:1');
    expect(err.message).toContain('linux/arm64');
    expect(err.message).toContain('linux/amd64, linux/arm/v7');
  });

  it('checks a single manifest against its config architecture', async () => {
    const store = await freshStore();
    await importLayout(store, layout, { ref: 'osbuild/single' });
    expect((await store.resolveImage('osbuild/single:arm', 'arm64')).indexDigest).toBeUndefined();
    const err = await caught(store.resolveImage('osbuild/single:arm', 'amd64'));
    expect(err.code).toBe('EPLATFORM');
    expect(err.message).toMatch(/docker\.io\/osbuild\/single:arm is not for linux\/amd64: .* linux\/arm64/);
  });

  it('says how to get an image that is not in the store', async () => {
    const hint = (ref: string) => `run \`osbuild pkg build components/init\` or \`osbuild cache import PATH\` (${ref})`;
    const store = await Store.open(join(root, 'hinted'), { missingImageHint: hint });
    const err = await caught(store.resolveImage('osbuild/init:0.1.0', 'amd64'));
    expect(err.code).toBe('ENOIMAGE');
    expect(err.message).toBe(`image docker.io/osbuild/init:0.1.0 is not in the store (${store.dir}): ${hint('docker.io/osbuild/init:0.1.0')}`);
    const err2 = await caught(store.resolveImage('alpine', 'amd64', { hint: 'pull it first' }));
    expect(err2.message).toMatch(/docker\.io\/library\/alpine:latest .*: pull it first$/);
  });

  it('reads Docker media types (a v2s2 manifest and manifest list made by skopeo)', async () => {
    // skopeo writes a Docker schema 2 manifest into a dir: transport; we lay it out as OCI.
    const d = join(root, 'v2s2-dir');
    await run('skopeo', ['copy', '--insecure-policy', '-q', '--format', 'v2s2', `oci:${layout}:arm`, `dir:${d}`]);
    const lay = join(root, 'v2s2-layout');
    await mkdir(join(lay, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(lay, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    for (const f of await readdir(d)) {
      if (/^[a-f0-9]{64}$/.test(f)) await writeFile(join(lay, 'blobs', 'sha256', f), await readFile(join(d, f)));
    }
    const manifestBytes = await readFile(join(d, 'manifest.json'));
    expect(JSON.parse(manifestBytes.toString()).mediaType).toBe(MediaType.dockerManifest);
    const m = await writeLayoutBlob(lay, manifestBytes);
    const list = await writeLayoutBlob(
      lay,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.dockerManifestList,
        manifests: [{ mediaType: MediaType.dockerManifest, ...m, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } }],
      }),
    );
    await setIndex(lay, [
      { mediaType: MediaType.dockerManifestList, ...list, annotations: { [REF_NAME_ANNOTATION]: 'docker.io/osbuild/docker-types:1' } },
      { mediaType: MediaType.dockerManifest, ...m, annotations: { [REF_NAME_ANNOTATION]: 'docker.io/osbuild/docker-types:single' } },
    ]);
    const store = await freshStore();
    await importLayout(store, lay);
    const viaList = await store.resolveImage('osbuild/docker-types:1', 'arm64');
    expect(viaList.manifestDigest).toBe(m.digest);
    expect(viaList.layers[0].mediaType).toBe(MediaType.dockerLayerGzip);
    expect((await store.resolveImage('osbuild/docker-types:single', 'arm64')).config.architecture).toBe('arm64');
  });
});

describe('one Store object looking images up again (a build)', () => {
  it('sees tags written meanwhile by another Store object (another process), and by itself', async () => {
    const mine = await freshStore();
    const other = await Store.open(mine.dir);
    await importLayout(mine, layout, { ref: 'osbuild/single' });
    expect((await mine.resolveImage('osbuild/single:amd', 'amd64')).manifestDigest).toBe(amd.digest);
    expect(await mine.resolve('osbuild/later:1')).toBeUndefined();
    await other.tag('osbuild/later:1', { mediaType: MediaType.ociManifest, ...arm });
    expect((await mine.resolveImage('osbuild/later:1', 'arm64')).manifestDigest).toBe(arm.digest);
    // retagged to another image of the same size (index.json of the same length)
    await other.tag('osbuild/later:1', { mediaType: MediaType.ociManifest, ...amd });
    expect((await mine.resolveImage('osbuild/later:1', 'amd64')).manifestDigest).toBe(amd.digest);
    expect(await mine.untag('osbuild/later:1')).toBe(true);
    expect(await other.resolve('osbuild/later:1')).toBeUndefined();
    expect(await mine.resolve('osbuild/later:1')).toBeUndefined();
    await writeFile(join(mine.dir, 'index.json.new'), '{ not json');
    await run('mv', [join(mine.dir, 'index.json.new'), join(mine.dir, 'index.json')]);
    expect((await caught(mine.resolve('osbuild/single:amd'))).code).toBe('EINVALID');
  });

  it('remembering documents (rememberDocuments): the same image, read once; a damaged blob refused until it is good again', async () => {
    const plain = await freshStore();
    await importLayout(plain, layout, { ref: 'osbuild/single' });
    const store = await Store.open(plain.dir, { rememberDocuments: true });
    expect(store.remembersDocuments).toBe(true);
    expect(plain.remembersDocuments).toBe(false);
    const good = await readFile(store.blobPath(amd.digest));
    await writeFile(store.blobPath(amd.digest), Buffer.concat([good.subarray(0, 10), Buffer.from('#'), good.subarray(11)]));
    // read at the same time (as a build's lookahead and its lookups do): each reader gets the failure, with its own names
    const [e1, e2] = await Promise.all([caught(store.resolveImage('osbuild/single:amd', 'amd64')), caught(store.readBlob(amd.digest, { what: 'a test read' }))]);
    expect([e1.code, e2.code]).toEqual(['EDIGEST', 'EDIGEST']);
    expect(e1.message).toContain('docker.io/osbuild/single:amd');
    expect(e2.message).toContain('a test read');
    await writeFile(store.blobPath(amd.digest), good);
    const [a, b] = await Promise.all([store.resolveImage('osbuild/single:amd', 'amd64'), store.resolveImage('osbuild/single:amd', 'amd64')]);
    expect(a).toEqual(await plain.resolveImage('osbuild/single:amd', 'amd64'));
    expect(b).toEqual(a);
    // read once: gone from the disk now, this object still has it; a plain one says what is missing
    await rm(store.blobPath(amd.digest));
    expect((await store.resolveImage('osbuild/single:amd', 'amd64')).manifestDigest).toBe(amd.digest);
    expect((await caught(plain.resolveImage('osbuild/single:amd', 'amd64'))).code).toBe('ENOBLOB');
    // a descriptor with another size is checked against the file again
    expect((await caught(store.readBlob(amd.digest, { size: amd.size + 1 }))).code).toBe('ENOBLOB');
  });
});

describe('putImage / putIndex', () => {
  // A layer made by GNU tar, deterministic (sorted, fixed owner and mtime), gzipped without a name/time.
  let layerTar: Buffer;
  let layerGz: Buffer;
  beforeAll(async () => {
    const dir = join(root, 'layer-src');
    await mkdir(join(dir, 'etc'), { recursive: true });
    await writeFile(join(dir, 'etc', 'motd'), 'built by osbuild\n');
    await run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', join(root, 'layer.tar'), '-C', dir, 'etc']);
    await run('sh', ['-c', `gzip -n -c ${join(root, 'layer.tar')} > ${join(root, 'layer.tar.gz')}`]);
    layerTar = await readFile(join(root, 'layer.tar'));
    layerGz = await readFile(join(root, 'layer.tar.gz'));
  });

  async function build(store: Store, created?: string) {
    const layer = await store.putBlob(layerGz, { mediaType: MediaType.ociLayerGzip });
    const diffIds = [sha256(layerTar)];
    const config = { Entrypoint: ['/bin/sh'], Labels: { 'org.mobyproject.config': '{"pid":"host"}' } };
    const amd64 = await store.putImage({ arch: 'amd64', layers: [layer], diffIds, config, ...(created ? { created } : {}) });
    const arm64 = await store.putImage({ arch: 'arm64', layers: [layer], diffIds, config, ...(created ? { created } : {}) });
    const index = await store.putIndex([{ descriptor: arm64, arch: 'arm64' }, { descriptor: amd64, arch: 'amd64' }]);
    return { layer, amd64, arm64, index };
  }

  it('writes the same bytes for the same inputs, and valid images tools can read', async () => {
    const s1 = await freshStore();
    const s2 = await freshStore();
    const a = await build(s1);
    const b = await build(s2);
    expect(b.index).toEqual(a.index);
    const withTime = await build(s2, createdFromEpoch('1700000000'));
    expect(withTime.index.digest).not.toBe(a.index.digest);
    expect(createdFromEpoch(1700000000)).toBe('2023-11-14T22:13:20Z');

    await s1.tag('osbuild/built:1', a.index);
    await s1.tag('osbuild/built:amd64', a.amd64);
    const img = await s1.resolveImage('osbuild/built:1', 'arm64');
    expect(img.config).toMatchObject({ architecture: 'arm64', os: 'linux', variant: 'v8', rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] } });
    expect(img.config.created).toBeUndefined();
    expect(img.manifestDigest).toBe(a.arm64.digest);
    const index = JSON.parse((await s1.readBlob(a.index.digest)).toString()) as { manifests: { platform: { architecture: string } }[] };
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    const cfg = JSON.parse((await s2.readBlob((await s2.resolveImage(`x@${withTime.index.digest}`, 'amd64')).configDigest)).toString()) as { created: string };
    expect(cfg.created).toBe('2023-11-14T22:13:20Z');

    // skopeo: valid layout, platform selection, digests re-verified on copy.
    const inspect = JSON.parse(await run('skopeo', ['inspect', '--override-arch', 'arm64', `oci:${s1.dir}:docker.io/osbuild/built:1`])) as { Architecture: string; Layers: string[] };
    expect(inspect.Architecture).toBe('arm64');
    expect(inspect.Layers).toEqual([a.layer.digest]);
    await run('skopeo', ['copy', '--insecure-policy', '-q', '--all', `oci:${s1.dir}:docker.io/osbuild/built:1`, `oci:${join(root, 'copy')}:c`]);
    // umoci unpacks our single-arch image (it checks layer digests and diff_ids) into the file we put in.
    const bundle = join(root, 'bundle');
    await run('umoci', ['unpack', '--rootless', '--image', `${s1.dir}:docker.io/osbuild/built:amd64`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'motd'), 'utf8')).toBe('built by osbuild\n');
  });

  it('refuses an image whose layers are not in the store', async () => {
    const store = await freshStore();
    const err = await caught(
      store.putImage({ arch: 'amd64', layers: [{ mediaType: MediaType.ociLayer, digest: sha256('absent'), size: 6 }], diffIds: [sha256('absent')], config: {} }),
    );
    expect(err.code).toBe('ENOBLOB');
  });
});
