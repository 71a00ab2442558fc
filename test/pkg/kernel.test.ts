// The Debian cloud kernel component for both arches: LinuxKit's layout, and a modules.dep
// that says what depmod (the real tool, run on the unpacked kernel.tar) says.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Arch } from '../../src/arch.js';
import { buildComponent, type BuiltComponent } from '../../src/pkg/build.js';
import { CACHE_DIR, REPO_ROOT, sh, tempDir, tempStore } from './helpers.js';

const ARCHES: Arch[] = ['amd64', 'arm64'];
const KERNEL = path.join(REPO_ROOT, 'kernel/debian-cloud');
let s: Awaited<ReturnType<typeof tempStore>>;
let built: BuiltComponent;
const cleanups: (() => Promise<void>)[] = [];

/** Unpacks one arch's layer and its kernel.tar; returns the dirs and the kernel version. */
async function unpack(storeDir: string, ref: string, arch: Arch): Promise<{ layer: string; mods: string; kver: string; listing: string }> {
  const index = JSON.parse(await sh('skopeo', ['inspect', '--raw', `oci:${storeDir}:${ref}`]));
  const desc = index.manifests.find((d: { platform: { architecture: string } }) => d.platform.architecture === arch);
  const blob = (d: string) => path.join(storeDir, 'blobs', 'sha256', d.slice('sha256:'.length));
  const manifest = JSON.parse(await readFile(blob(desc.digest), 'utf8'));
  const t = await tempDir(`k-${arch}`);
  cleanups.push(t.cleanup);
  const layer = path.join(t.dir, 'layer');
  const mods = path.join(t.dir, 'mods');
  await mkdir(layer);
  await mkdir(mods);
  const listing = await sh('bsdtar', ['-tzvf', blob(manifest.layers[0].digest)]);
  await execa('bsdtar', ['-xzf', blob(manifest.layers[0].digest), '-C', layer]);
  await execa('bsdtar', ['-xf', path.join(layer, 'kernel.tar'), '-C', mods]);
  const [kver] = await readdir(path.join(mods, 'lib/modules'));
  return { layer, mods, kver, listing };
}

function parseDep(text: string): Map<string, string[]> {
  return new Map(
    text
      .trimEnd()
      .split('\n')
      .map((l) => {
        const i = l.indexOf(':');
        const rest = l.slice(i + 1).trim();
        return [l.slice(0, i), rest ? rest.split(' ') : []];
      }),
  );
}

beforeAll(async () => {
  s = await tempStore('kernel');
  built = await buildComponent(KERNEL, { store: s.store, cacheDir: CACHE_DIR });
}, 900_000);

afterAll(async () => {
  for (const c of cleanups) await c();
  await s?.cleanup();
});

describe('debian-cloud kernel', () => {
  test.each(ARCHES)('%s: /kernel, /kernel.tar and /config; modules.dep agrees with depmod', async (arch) => {
    const { layer, mods, kver, listing } = await unpack(s.store.dir, built.ref, arch);
    expect(listing.trim().split('\n').map((l) => l.split(/\s+/).pop())).toEqual(['config', 'kernel', 'kernel.tar']);
    expect(kver).toMatch(new RegExp(`^6\\.1\\.0-\\d+-cloud-${arch}$`));
    expect(await sh('file', ['-b', path.join(layer, 'kernel')])).toMatch(arch === 'amd64' ? /Linux kernel x86 boot executable bzImage/ : /Linux kernel ARM64 boot executable Image/);
    expect(await readFile(path.join(layer, 'config'), 'utf8')).toContain('CONFIG_OVERLAY_FS=m');

    const dir = path.join(mods, 'lib/modules', kver);
    const ours = parseDep(await readFile(path.join(dir, 'modules.dep'), 'utf8'));
    await copyFile(path.join(dir, 'modules.dep'), path.join(mods, 'ours.dep'));
    await execa('depmod', ['-b', mods, kver]);
    const theirs = parseDep(await readFile(path.join(dir, 'modules.dep'), 'utf8'));

    // the same modules, each with the same set of (transitive) dependencies
    expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
    expect(ours.size).toBeGreaterThan(500);
    const differing = [...ours].filter(([m, deps]) => [...deps].sort().join() !== [...theirs.get(m)!].sort().join());
    expect(differing).toEqual([]);
    for (const name of ['fs/overlayfs/overlay.ko', 'drivers/block/virtio_blk.ko', 'fs/isofs/isofs.ko', 'fs/squashfs/squashfs.ko', 'fs/fat/vfat.ko']) {
      expect(ours.get(`kernel/${name}`), name).toEqual(expect.arrayContaining(theirs.get(`kernel/${name}`)!));
    }
    expect(ours.get('kernel/fs/fat/vfat.ko')).toEqual(['kernel/fs/fat/fat.ko']);
    // load order: a module is listed before anything it depends on (modprobe loads back to front)
    for (const deps of ours.values()) {
      deps.forEach((d, i) => {
        for (const later of ours.get(d)!) expect(deps.indexOf(later)).toBeGreaterThan(i);
      });
    }
    // kmod's modprobe, given depmod's indexes, resolves virtio_blk to the same files
    const show = await sh('modprobe', ['-d', mods, '-S', kver, '--show-depends', 'virtio_blk']);
    const files = [...show.matchAll(/^insmod \S+\/lib\/modules\/[^/]+\/(\S+)/gm)].map((m) => m[1]);
    expect(files).toEqual([...ours.get('kernel/drivers/block/virtio_blk.ko')!].reverse().concat('kernel/drivers/block/virtio_blk.ko'));
  });

  test('kernel.modules keeps the chosen modules and their dependencies', async () => {
    const t = await tempDir('kmods');
    cleanups.push(t.cleanup);
    await writeFile(
      path.join(t.dir, 'build.yml'),
      'image: t/kernel-small\ntag: "1"\narches: [amd64]\nkernel:\n  package: linux-image-cloud-{arch}\n  modules: ["kernel/fs/overlayfs/**", "**/virtio_blk.ko"]\n',
    );
    const small = await tempStore('ksmall');
    cleanups.push(small.cleanup);
    const r = await buildComponent(t.dir, { store: small.store, cacheDir: CACHE_DIR });
    const { mods, kver } = await unpack(small.store.dir, r.ref, 'amd64');
    const dep = parseDep(await readFile(path.join(mods, 'lib/modules', kver, 'modules.dep'), 'utf8'));
    const kept = [...dep.keys()].sort();
    expect(kept).toContain('kernel/fs/overlayfs/overlay.ko');
    expect(kept).toContain('kernel/drivers/block/virtio_blk.ko');
    for (const deps of dep.values()) for (const d of deps) expect(kept).toContain(d);
    expect(kept.length).toBeLessThan(10);
    const onDisk = (await sh('find', [path.join(mods, 'lib/modules', kver), '-name', '*.ko'])).trim().split('\n');
    expect(onDisk.map((f) => f.slice(f.indexOf('/kernel/') + 1)).sort()).toEqual(kept);
  }, 300_000);
});
