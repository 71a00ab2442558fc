// The A/B disk of a slots root (root.slots: ab) and its `update` output, built by the real
// pipeline, read by the tools a user would trust: sfdisk and sgdisk the GPT (four partitions, their
// names, types and sizes), fsck.fat and mtools the ESP (systemd-boot, loader.conf, the UKI named
// by the version), dd the slots. The update's root is root-a's bytes and its UKI the ESP's; the
// empty slot costs no disk space (a hole); two builds give the same bytes. Booting it is
// slots.boot.test.ts.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildResult } from '../../src/build/build.js';
import { pushBuildOutputs } from '../../src/build/artifact.js';
import { startRegistry } from '../oci/registry/harness.js';
import { sha256File } from '../../src/oci/digest.js';
import { componentCache, REPO } from '../helpers/components.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/slots/device.yml'].map((f) => join(REPO, f));
const MiB = 1024 * 1024;
const ROOT_X86_64 = '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709';
const ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const LINUX_DATA = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';

let cacheDir: string;
let work: string;
let out: string;
let result: BuildResult;

const run = async (cmd: string, args: string[]) => (await execa(cmd, args, { stdin: 'ignore' })).stdout;

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-slots-'));
  out = join(work, 'v7');
  result = await build({ files: BLUEPRINT, arch: 'amd64', formats: ['raw-efi', 'update'], imageVersion: '7', outDir: out, cacheDir, sourceDateEpoch: 1_700_000_000 });
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

interface Part {
  node: string;
  start: number;
  size: number;
  type: string;
  name: string;
}
async function partitions(disk: string): Promise<Part[]> {
  return JSON.parse(await run('sfdisk', ['--json', disk])).partitiontable.partitions;
}

/** Bytes [start, start+size) of a file (partitions are whole MiB here). */
async function slice(file: string, p: Part, bytes = p.size * 512): Promise<Buffer> {
  const b = await readFile(file);
  return b.subarray(p.start * 512, p.start * 512 + bytes);
}

describe('the A/B disk', () => {
  it('a valid GPT: ESP, root-a (the squashfs), root-b (empty, same size and type), osbuild-data', async () => {
    const disk = join(out, 'device-efi.img');
    await run('sfdisk', ['--verify', disk]);
    expect(await run('sgdisk', ['-v', disk])).toMatch(/No problems found/);
    const ps = await partitions(disk);
    expect(ps.map((p) => p.name)).toEqual(['ESP', 'root-a', 'root-b', 'osbuild-data']);
    expect(ps.map((p) => p.type)).toEqual([ESP_TYPE, ROOT_X86_64, ROOT_X86_64, LINUX_DATA]);
    expect(ps[0].size * 512).toBeGreaterThanOrEqual(64 * MiB);
    expect(ps[1].size).toBe(ps[2].size);
    const root = await stat(join(out, 'device-update-root.img'));
    // default slot size: twice the squashfs, at least 64 MiB, whole MiB
    expect(ps[1].size * 512).toBe(Math.max(64 * MiB, Math.ceil((2 * root.size) / MiB) * MiB));
    expect(ps[3].size * 512).toBe(16 * MiB);
    // sgdisk reads the names too
    expect(await run('sgdisk', ['-i', '3', disk])).toMatch(/Partition name: 'root-b'/);
  });

  it('the ESP: FAT32 with systemd-boot, loader.conf and the UKI named by the version; fsck.fat finds nothing wrong', async () => {
    const disk = join(out, 'device-efi.img');
    const [esp] = await partitions(disk);
    const fat = join(work, 'esp.img');
    await run('dd', [`if=${disk}`, `of=${fat}`, 'bs=512', `skip=${esp.start}`, `count=${esp.size}`, 'status=none']);
    expect(await run('fsck.fat', ['-n', '-v', fat])).toMatch(/32 bit entries/);
    const files = (await run('mdir', ['-/', '-b', '-i', fat, '::/'])).trim().split('\n').filter((l) => !l.endsWith('/')).sort();
    expect(files).toEqual(['::/EFI/BOOT/BOOTX64.EFI', '::/EFI/Linux/osbuild-7.efi', '::/loader/loader.conf']);
    await run('mcopy', ['-n', '-i', fat, '::/loader/loader.conf', join(work, 'loader.conf')]);
    expect(await readFile(join(work, 'loader.conf'), 'utf8')).toBe('timeout 0\ndefault osbuild-*\neditor no\n');
    // systemd-boot: the loader's own marker string
    await run('mcopy', ['-n', '-i', fat, '::/EFI/BOOT/BOOTX64.EFI', join(work, 'boot.efi')]);
    expect((await readFile(join(work, 'boot.efi'))).includes('#### LoaderInfo: systemd-boot ')).toBe(true);
    // the UKI in the ESP is the update's, byte for byte
    await run('mcopy', ['-n', '-i', fat, '::/EFI/Linux/osbuild-7.efi', join(work, 'esp-uki.efi')]);
    expect(await sha256File(join(work, 'esp-uki.efi'))).toBe(await sha256File(join(out, 'device-update.efi')));
    // mtools reads the disk in place too (the ESP at 1 MiB), as the boot test writes updates
    expect(await run('mdir', ['-b', '-i', `${disk}@@${esp.start * 512}`, '::/EFI/Linux'])).toContain('osbuild-7.efi');
  });

  it('the UKI says the version (os-release IMAGE_VERSION) and reboots on a panic (panic=10)', async () => {
    const uki = join(out, 'device-update.efi');
    await run('objcopy', ['-O', 'binary', '--only-section=.osrel', uki, join(work, 'osrel')]);
    await run('objcopy', ['-O', 'binary', '--only-section=.cmdline', uki, join(work, 'cmdline')]);
    expect(await readFile(join(work, 'osrel'), 'utf8')).toMatch(/^IMAGE_VERSION=7$/m);
    expect((await readFile(join(work, 'cmdline'), 'utf8')).replace(/\0+$/, '')).toBe('console=ttyS0 console=ttyAMA0 osbuild.poweroff=1 panic=10');
  });

  it('root-a holds the update\'s root, byte for byte; root-b and osbuild-data are zeros, and holes in the file', async () => {
    const disk = join(out, 'device-efi.img');
    const ps = await partitions(disk);
    const root = await readFile(join(out, 'device-update-root.img'));
    const a = await slice(disk, ps[1]);
    expect(a.subarray(0, root.length).equals(root)).toBe(true);
    expect(a.subarray(root.length).every((x) => x === 0)).toBe(true);
    expect((await slice(disk, ps[2])).every((x) => x === 0)).toBe(true);
    expect((await slice(disk, ps[3])).every((x) => x === 0)).toBe(true);
    // allocated blocks: about the ESP's UKI and root-a's squashfs, not the empty slot
    const st = await stat(disk);
    expect(st.blocks * 512).toBeLessThan(st.size - ps[2].size * 512);
  });

  it('the small initrd tells the init it is a slots root of version 7', async () => {
    // the initramfs is inside the UKI: its marker is plain in the cpio (gzip'd): read it with the tools
    const uki = join(out, 'device-update.efi');
    await run('objcopy', ['-O', 'binary', '--only-section=.initrd', uki, join(work, 'initrd')]);
    const { stdout } = await execa('sh', ['-c', `zcat -f ${join(work, 'initrd')} 2>/dev/null | cpio -i --to-stdout etc/osbuild/root 2>/dev/null`]);
    expect(stdout).toMatch(/^slots=ab$/m);
    expect(stdout).toMatch(/^version=7$/m);
    expect(stdout).toMatch(/^tries=2$/m);
  });

  it('the root says its version (/etc/osbuild/version, as unsquashfs reads it): two versions\' roots differ', async () => {
    expect(await run('unsquashfs', ['-cat', join(out, 'device-update-root.img'), 'etc/osbuild/version'])).toBe('7');
  });

  it('the same inputs give the same bytes', async () => {
    const again = join(work, 'again');
    await build({ files: BLUEPRINT, arch: 'amd64', formats: ['raw-efi', 'update'], imageVersion: '7', outDir: again, cacheDir, sourceDateEpoch: 1_700_000_000 });
    for (const f of ['device-efi.img', 'device-update-root.img', 'device-update.efi']) expect(await sha256File(join(again, f)), f).toBe(await sha256File(join(out, f)));
  }, 600_000);
});

describe('--size', () => {
  it('pads the A/B disk at its end (the backup GPT last); too small a size is refused with the size it needs', async () => {
    const sized = join(work, 'sized');
    await build({ files: BLUEPRINT, arch: 'amd64', formats: ['raw-efi'], imageVersion: '7', diskSize: 512 * MiB, outDir: sized, cacheDir, sourceDateEpoch: 1_700_000_000 });
    const disk = join(sized, 'device-efi.img');
    expect((await stat(disk)).size).toBe(512 * MiB);
    expect(await run('sgdisk', ['-v', disk])).toMatch(/No problems found/);
    expect((await partitions(disk)).map((p) => p.name)).toEqual(['ESP', 'root-a', 'root-b', 'osbuild-data']);
    await expect(build({ files: BLUEPRINT, arch: 'amd64', formats: ['raw-efi'], imageVersion: '7', diskSize: 128 * MiB, outDir: join(work, 'small'), cacheDir })).rejects.toThrow(/--size 128M is too small for the A\/B disk: its content needs \d+M/);
  }, 600_000);
});

describe('the update as an artifact', () => {
  it('build --push: the version is an annotation, the update\'s files have their own kinds (skopeo reads the manifest)', async () => {
    const registry = await startRegistry();
    try {
      const ref = `${registry.host}/fleet/device:7`;
      await pushBuildOutputs(result, BLUEPRINT, ref);
      const m = JSON.parse(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]));
      expect(m.annotations['org.osbuild.version']).toBe('7');
      const kinds = Object.fromEntries(m.layers.map((l: { mediaType: string; annotations: Record<string, string> }) => [l.annotations['org.opencontainers.image.title'], l.mediaType]));
      expect(kinds['device-update-root.img']).toBe('application/vnd.osbuild.file.update-root.v1');
      expect(kinds['device-update.efi']).toBe('application/vnd.osbuild.file.update-uki.v1');
      const root = m.layers.find((l: { annotations: Record<string, string> }) => l.annotations['org.opencontainers.image.title'] === 'device-update-root.img');
      expect(root.digest).toBe(`sha256:${await sha256File(join(out, 'device-update-root.img'))}`);
    } finally {
      await registry.stop();
    }
  }, 300_000);
});

describe('plan errors of a slots build', () => {
  it('a format that cannot hold slots, a missing version, --image-version without slots: clear errors before anything is written', async () => {
    const dir = join(work, 'bad');
    await expect(build({ files: BLUEPRINT, arch: 'amd64', formats: ['iso'], outDir: dir, cacheDir })).rejects.toThrow(/root\.slots: ab is written by the EFI disk formats and `update`; iso cannot hold slots/);
    await expect(build({ files: BLUEPRINT, arch: 'amd64', formats: ['raw-efi'], imageVersion: '-1', outDir: dir, cacheDir })).rejects.toThrow(/root\.version "?-1"?: expected 1 to 64/);
    const plain = ['blueprints/minimal.yml'].map((f) => join(REPO, f));
    await expect(build({ files: plain, arch: 'amd64', formats: ['update'], outDir: dir, cacheDir })).rejects.toThrow(/format update is for a slots root/);
    await expect(build({ files: plain, arch: 'amd64', imageVersion: '2', outDir: dir, cacheDir })).rejects.toThrow(/--image-version .*no root\.slots/);
    await expect(stat(dir)).rejects.toThrow();
  });
});
