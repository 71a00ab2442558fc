// The build plan, made without I/O: a parsed blueprint plus hand-made image descriptors and
// tables of contents give which images the build reads (boot images with their digests), the
// layout, the root, the outputs with their files, and the files the outputs share. No store, no
// disk, no network: the format rows come from the table, but nothing is written.
import { describe, expect, test } from 'vitest';
import { parseBlueprint } from '../../src/blueprint/index.js';
import { findFormat } from '../../src/build/outputs.js';
import type { Entry } from '../../src/formats/entry.js';
import { BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE, planOutputs, type FormatSpec } from '../../src/plan/formats.js';
import type { ResolvedImage } from '../../src/plan/images.js';
import { modulesInfoSources, needsSquashfs, planBuild, planRefs } from '../../src/plan/plan.js';
import { PlanError } from '../../src/plan/system.js';
import type { KernelModulesInfo } from '../../src/rootfs/modules.js';

const digestOf = (s: string) => `sha256:${Buffer.from(s).toString('hex').padEnd(64, '0').slice(0, 64)}`;
const file = (path: string, size = 10): Entry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size });

/** An image as the resolver would return it: one layer per table of contents. */
function image(ref: string, ...tocs: Entry[][]): ResolvedImage {
  return {
    ref,
    manifestDigest: digestOf(`manifest ${ref}`),
    manifest: {} as ResolvedImage['manifest'],
    config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] } } as ResolvedImage['config'],
    layers: tocs.map((_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(`${ref} layer ${i}`), size: 100 })),
    tocs,
  };
}

const KERNEL = 'osbuild/kernel-debian-cloud:6.1';
const INIT = 'osbuild/init:0.1.0';
const RUNC = 'osbuild/runc:0.1.0';
const BUSYBOX = 'osbuild/busybox:0.1.0';
const GETTY = 'osbuild/getty:0.1.0';

const MINIMAL = `
kernel:
  image: ${KERNEL}
  cmdline: "console=ttyS0"
  modules: []
init:
  - ${INIT}
  - ${RUNC}
onboot:
  - name: hello
    image: ${BUSYBOX}
services:
  - name: getty
    image: ${GETTY}
`;

const IMAGES = [
  image(KERNEL, [file('kernel', 14_000_000)], [file('kernel.tar', 90_000_000)]),
  image(INIT, [file('sbin/init'), file('lib/osbuild/root')]),
  image(RUNC, [file('usr/bin/runc')]),
  image(BUSYBOX, [file('bin/busybox')]),
  image(GETTY, [file('sbin/agetty')]),
  image(BOOT_BIOS_IMAGE, [file('usr/lib/ISOLINUX/isolinux.bin')]),
  image(BOOT_EFI_IMAGE, [file('usr/lib/systemd/boot/efi/linuxx64.efi.stub')], [file('usr/lib/systemd/boot/efi/linuxx64.efi.stub', 20)]),
];
const images = new Map(IMAGES.map((i) => [i.ref, i]));
const byRef = (ref: string) => images.get(ref)!;

const MODULES_INFO: KernelModulesInfo = {
  kver: '6.1.0-test',
  dep: { 'kernel/drivers/block/virtio_blk.ko': [], 'kernel/fs/squashfs/squashfs.ko': [], 'kernel/fs/overlayfs/overlay.ko': [] },
};

function plan(formats: string[], opts: { text?: string; root?: 'initramfs' | 'squashfs'; arch?: 'amd64' | 'arm64'; modulesInfo?: KernelModulesInfo } = {}) {
  const blueprint = parseBlueprint(opts.text ?? MINIMAL, 'minimal.yml');
  return planBuild({
    name: 'minimal',
    arch: opts.arch ?? 'amd64',
    epoch: 0,
    blueprint,
    images,
    files: [],
    modulesInfo: opts.modulesInfo,
    formats: formats.map(findFormat),
    root: opts.root,
  });
}

describe('the images of a build', () => {
  test('the blueprint images in order, then the boot images of the formats, each with its digest and uses', () => {
    const p = plan(['kernel+initrd', 'iso', 'tar']);
    expect(p.images.map((i) => [i.ref, i.uses])).toEqual([
      [KERNEL, ['kernel']],
      [INIT, ['init']],
      [RUNC, ['init']],
      [BUSYBOX, ['onboot']],
      [GETTY, ['services']],
      [BOOT_BIOS_IMAGE, ['boot']],
      [BOOT_EFI_IMAGE, ['boot']],
    ]);
    for (const i of p.images) expect(i.digest).toBe(byRef(i.ref).manifestDigest);
  });

  test('the boot images carry their digests, layers and tables of contents, resolved once', () => {
    const p = plan(['iso', 'raw-efi', 'uki']);
    expect(Object.keys(p.bootImages).sort()).toEqual([BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE].sort());
    const efi = p.bootImages[BOOT_EFI_IMAGE];
    expect(efi.digest).toBe(byRef(BOOT_EFI_IMAGE).manifestDigest);
    expect(efi.layers).toEqual(byRef(BOOT_EFI_IMAGE).layers);
    expect(efi.tocs).toEqual(byRef(BOOT_EFI_IMAGE).tocs);
    expect(p.outputs.map((o) => [o.format, o.bootImages])).toEqual([
      ['iso', [BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE]],
      ['raw-efi', [BOOT_EFI_IMAGE]],
      ['uki', [BOOT_EFI_IMAGE]],
    ]);
  });

  test('arm64 media read only the EFI boot image', () => {
    const p = plan(['iso'], { arch: 'arm64' });
    expect(Object.keys(p.bootImages)).toEqual([BOOT_EFI_IMAGE]);
  });

  test('formats without boot media read no boot image', () => {
    const p = plan(['kernel+initrd', 'tar']);
    expect(p.bootImages).toEqual({});
    expect(p.images.some((i) => i.uses.includes('boot'))).toBe(false);
  });

  test('planRefs lists what the resolver must find: blueprint, then boot images', () => {
    const blueprint = parseBlueprint(MINIMAL, 'minimal.yml');
    expect(planRefs(blueprint, ['tar', 'raw-efi'].map(findFormat), 'amd64')).toEqual([KERNEL, INIT, RUNC, BUSYBOX, GETTY, BOOT_EFI_IMAGE]);
  });

  test('an image the resolver did not return is a plan error', () => {
    const blueprint = parseBlueprint(MINIMAL, 'minimal.yml');
    const some = new Map([...images].filter(([ref]) => ref !== BOOT_EFI_IMAGE));
    expect(() => planBuild({ name: 'minimal', arch: 'amd64', epoch: 0, blueprint, images: some, files: [], formats: [findFormat('uki')] })).toThrow(PlanError);
  });
});

describe('layout, outputs and shared files', () => {
  test('initramfs: kernel+initrd shares the whole-system initrd with the ISO; tar streams', () => {
    const p = plan(['kernel+initrd', 'iso', 'tar']);
    expect(p.layout).toEqual({ type: 'initramfs' });
    expect(p.squashfs).toBeUndefined();
    expect(p.outputs).toEqual([
      { format: 'kernel+initrd', files: ['minimal-kernel', 'minimal-initrd.img', 'minimal-cmdline'], layout: 'initramfs', shared: 'initramfs', releasesShared: false, bootImages: [] },
      { format: 'iso', files: ['minimal.iso'], layout: 'initramfs', shared: 'initramfs', releasesShared: true, bootImages: [BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE] },
      { format: 'tar', files: ['minimal.tar'], layout: 'initramfs', shared: undefined, releasesShared: false, bootImages: [] },
    ]);
    expect(p.shared).toEqual([{ layout: 'initramfs', files: ['initrd'], readers: ['kernel+initrd', 'iso'], media: true }]);
  });

  test('kernel+initrd alone streams its initrd: nothing is shared', () => {
    const p = plan(['kernel+initrd']);
    expect(p.outputs[0].shared).toBeUndefined();
    expect(p.shared).toEqual([]);
  });

  test('squashfs: boot media and kernel+squashfs share the squashfs root and its small initrd', () => {
    const p = plan(['kernel+squashfs', 'raw-efi'], { root: 'squashfs', modulesInfo: MODULES_INFO });
    expect(p.layout.type).toBe('squashfs');
    expect(p.squashfs).toBe(p.layout);
    expect(p.squashfs!.writable).toEqual(['/etc', '/var', '/containers']);
    expect(p.squashfs!.compression).toBe('zstd');
    expect(p.outputs.map((o) => [o.format, o.layout, o.shared, o.releasesShared])).toEqual([
      ['kernel+squashfs', 'squashfs', 'squashfs', false],
      ['raw-efi', 'squashfs', 'squashfs', true],
    ]);
    expect(p.shared).toEqual([{ layout: 'squashfs', files: ['squashfs-root', 'initrd'], readers: ['kernel+squashfs', 'raw-efi'], media: true }]);
    // the small initrd: the init, the modules that find the root, and the marker naming the superblock
    const small = p.squashfs!.initramfs({ superblockSha256: 'ab'.repeat(32) });
    const modules = small.sections.find((s) => s.kind === 'modules');
    expect(modules?.kind === 'modules' && [modules.layer, modules.kver, modules.selection?.load]).toEqual([byRef(KERNEL).layers[1], '6.1.0-test', ['virtio_blk', 'squashfs', 'overlay']]);
    const marker = small.sections.flatMap((s) => (s.kind === 'entries' ? s.entries : [])).find((e) => e.entry.path === 'etc/osbuild/root');
    expect(marker?.content?.kind === 'bytes' && marker.content.data.toString()).toContain(`superblock=${'ab'.repeat(32)}`);
  });

  test('the blueprint root type drives the boot media; kernel+squashfs needs the squashfs layout in any build', () => {
    const squashText = MINIMAL + 'root:\n  type: squashfs\n';
    expect(plan(['iso'], { text: squashText }).layout.type).toBe('squashfs');
    expect(plan(['iso'], { text: squashText, root: 'initramfs' }).layout.type).toBe('initramfs');
    const mixed = plan(['kernel+squashfs', 'iso']);
    expect(mixed.layout.type).toBe('initramfs');
    expect(mixed.squashfs?.type).toBe('squashfs');
    expect(mixed.shared.map((s) => [s.layout, s.readers])).toEqual([
      ['squashfs', ['kernel+squashfs']],
      ['initramfs', ['iso']],
    ]);
  });

  test('a squashfs build of formats that never write it is planned as initramfs', () => {
    const p = plan(['tar'], { root: 'squashfs' });
    expect(p.layout.type).toBe('initramfs');
    expect(p.squashfs).toBeUndefined();
  });

  test('the squashfs layout needs an init that mounts it', () => {
    const noRoot = new Map(images);
    noRoot.set(INIT, image(INIT, [file('sbin/init')]));
    const blueprint = parseBlueprint(MINIMAL, 'minimal.yml');
    expect(() => planBuild({ name: 'minimal', arch: 'amd64', epoch: 0, blueprint, images: noRoot, files: [], formats: [findFormat('kernel+squashfs')] })).toThrow(/lib\/osbuild\/root/);
  });

  test('the same format twice: each write is the last reader, so the shared initrd is made again', () => {
    const p = plan(['iso', 'iso']);
    expect(p.outputs.map((o) => o.releasesShared)).toEqual([true, true]);
  });

  test('without formats, a plan of the system alone', () => {
    const blueprint = parseBlueprint(MINIMAL, 'minimal.yml');
    const p = planBuild({ name: 'minimal', arch: 'amd64', epoch: 0, blueprint, images, files: [] });
    expect(p.outputs).toEqual([]);
    expect(p.shared).toEqual([]);
    expect(p.kernel?.layer).toEqual(byRef(KERNEL).layers[0]);
    expect(p.kernel?.size).toBe(14_000_000);
    expect(p.cmdline).toBe('console=ttyS0');
  });
});

describe('modules.dep: when the plan needs it, and where it is read', () => {
  const blueprint = (extra = '') => parseBlueprint(MINIMAL.replace('  modules: []\n', extra), 'minimal.yml');

  test('not for an initramfs build with `modules: []` or the whole tarball', () => {
    expect(modulesInfoSources(parseBlueprint(MINIMAL, 'minimal.yml'), images, [findFormat('iso')])).toBeUndefined();
    expect(modulesInfoSources(blueprint(), images, [findFormat('iso')])).toBeUndefined();
  });

  test('for named modules, and for the squashfs layout: the kernel layers holding the tarball, top first', () => {
    const want = { tarName: 'kernel.tar', layers: [byRef(KERNEL).layers[1]] };
    expect(modulesInfoSources(blueprint('  modules: [virtio_blk]\n'), images)).toEqual(want);
    expect(modulesInfoSources(parseBlueprint(MINIMAL, 'minimal.yml'), images, [findFormat('kernel+squashfs')])).toEqual(want);
    expect(needsSquashfs(parseBlueprint(MINIMAL, 'minimal.yml'), [findFormat('iso')], 'squashfs')).toBe(true);
    expect(needsSquashfs(parseBlueprint(MINIMAL, 'minimal.yml'), [findFormat('iso')])).toBe(false);
  });
});

describe('planOutputs over hand-made format rows', () => {
  const row = (name: string, extra: Partial<FormatSpec> = {}): FormatSpec => ({ name, description: name, files: (n) => [`${n}.${name}`], needsKernel: false, ...extra });

  test('files, layouts, shared readers and the last reader', () => {
    const formats = [row('a', { sharesInitrd: true }), row('b', { usesMedia: true, layout: 'build' }), row('c', { layout: 'squashfs' }), row('d', { usesMedia: true, layout: 'build' })];
    const { outputs, shared } = planOutputs('sys', 'amd64', formats, 'initramfs');
    expect(outputs.map((o) => [o.format, o.files, o.layout, o.shared, o.releasesShared])).toEqual([
      ['a', ['sys.a'], 'initramfs', 'initramfs', false],
      ['b', ['sys.b'], 'initramfs', 'initramfs', false],
      ['c', ['sys.c'], 'squashfs', 'squashfs', true],
      ['d', ['sys.d'], 'initramfs', 'initramfs', true],
    ]);
    expect(shared).toEqual([
      { layout: 'initramfs', files: ['initrd'], readers: ['a', 'b', 'd'], media: true },
      { layout: 'squashfs', files: ['squashfs-root', 'initrd'], readers: ['c'], media: false },
    ]);
  });
});
