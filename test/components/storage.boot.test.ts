// Boots throwaway blueprints that use the storage components (sysfs, modprobe, format, mount,
// extend, swap, dm-crypt; built from components/ by the real pipeline) with blank virtio disks
// made by qemu-img, and checks what a user would: the first boot partitions and formats the empty
// disks and mounts them where containers see them, the SECOND boot of the same disks formats
// nothing (the files written in boot 1 are still there), the swap file is on, the LUKS2 volume
// opens and mounts, and a disk grown with `qemu-img resize` between the boots gets its partition
// and ext4 filesystem grown. The host's blkid, sfdisk, dumpe2fs and e2fsck read the disk images
// after the boots as oracles.
import { execa } from 'execa';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, type ExpectStatic } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage, type TestResult } from '../../src/run/boot.js';
import type { Arch } from '../../src/arch.js';
import { componentCache } from '../helpers/components.js';

const STORAGE = ['sysfs', 'modprobe', 'format', 'mount', 'extend', 'swap', 'dm-crypt'].map((c) => `components/${c}`);
const MiB = 1024 * 1024;

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(STORAGE));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-storage-'));
}, 1_800_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

// The onboot containers of a system with a data disk (vda: ext4 DATA), an encrypted disk (vdb:
// LUKS2, ext4 inside) and a log disk (vdc: xfs LOGS); `check` writes a stamp on each filesystem
// the first time and reports it (or finds it) on later boots.
const CHECK = [
  'grep " /var/lib/" /proc/mounts | sed "s/^/mounted: /"',
  'sed -n "2,\\$s/^/swaps: /p" /proc/swaps',
  'echo "read_ahead_kb=$(cat /sys/block/vda/queue/read_ahead_kb)"',
  'for d in $DISKS; do f=/var/lib/$d/stamp; if [ -f $f ]; then echo "stamp $d found $(cat $f)"; else echo "stamp $d wrote $(cat /proc/sys/kernel/random/uuid | tee $f)"; fi; done',
  'sync',
].join('; ');

function blueprint(opts: { modules: 'listed' | 'modprobe'; crypt: boolean; xfs: boolean }): string {
  const disks = ['data', ...(opts.xfs ? ['logs'] : []), ...(opts.crypt ? ['secret'] : [])];
  const modules = ['virtio_pci', 'virtio_blk', ...(opts.crypt ? ['dm_crypt', 'xts', 'ecb'] : []), ...(opts.xfs ? ['xfs'] : [])];
  const onboot: unknown[] = [];
  // modprobe: no kernel.modules, so the whole modules tree is there and nothing is loaded by init
  if (opts.modules === 'modprobe') onboot.push({ name: 'modprobe', image: 'osbuild/modprobe:0.1.0' });
  onboot.push(
    { name: 'sysfs', image: 'osbuild/sysfs:0.1.0' },
    { name: 'format', image: 'osbuild/format:0.1.0', command: ['/usr/bin/format', '-label', 'DATA', '/dev/vda'] },
  );
  if (opts.xfs) onboot.push({ name: 'format-logs', image: 'osbuild/format:0.1.0', command: ['/usr/bin/format', '-type', 'xfs', '-label', 'LOGS', '/dev/vdc'] });
  onboot.push(
    { name: 'extend', image: 'osbuild/extend:0.1.0', command: ['/usr/bin/extend', '/dev/vda'] },
    { name: 'mount', image: 'osbuild/mount:0.1.0', command: ['/usr/bin/mount-fs', '-label', 'DATA', '/var/lib/data'] },
  );
  if (opts.xfs) onboot.push({ name: 'mount-logs', image: 'osbuild/mount:0.1.0', command: ['/usr/bin/mount-fs', '-label', 'LOGS', '/var/lib/logs'] });
  onboot.push({ name: 'swap', image: 'osbuild/swap:0.1.0', command: ['/usr/bin/swap', '-path', '/var/lib/data/swapfile', '-size', '16M'] });
  if (opts.crypt) {
    onboot.push(
      { name: 'dm-crypt', image: 'osbuild/dm-crypt:0.1.0', command: ['/usr/bin/dm-crypt', '-key-file', '/etc/dm-crypt/key', 'secret', '/dev/vdb'] },
      { name: 'mount-secret', image: 'osbuild/mount:0.1.0', command: ['/usr/bin/mount-fs', '/dev/mapper/secret', '/var/lib/secret'] },
    );
  }
  onboot.push({ name: 'check', image: 'osbuild/busybox:0.1.0', binds: ['/var:/var'], env: [`DISKS=${disks.join(' ')}`], command: ['/bin/sh', '-c', CHECK] });
  const files: unknown[] = [{ path: '/etc/sysfs.d/10-disk.conf', contents: '# the data disk reads ahead more\nblock/vda/queue/read_ahead_kb = 512\n' }];
  if (opts.crypt) files.push({ path: '/etc/dm-crypt/key', contents: 'a test key, not a secret: 7f3c9e1b2d4a\n', mode: '0600' });
  if (opts.modules === 'modprobe') files.push({ path: '/etc/modules-load.d/storage.conf', contents: modules.join('\n') + '\n' });
  const bp = {
    kernel: {
      image: 'osbuild/kernel-debian-cloud:6.1',
      cmdline: 'console=ttyS0 console=ttyAMA0',
      ...(opts.modules === 'listed' ? { modules } : {}),
    },
    init: ['osbuild/init:0.1.0', 'osbuild/runc:0.1.0'],
    onboot,
    files,
  };
  // JSON is YAML
  return JSON.stringify(bp, null, 2);
}

async function buildSystem(name: string, arch: Arch, yml: string): Promise<string> {
  const file = join(work, `${name}.yml`);
  await writeFile(file, yml);
  const out = join(work, name);
  await build({ files: [file], arch, outDir: out, cacheDir, name });
  return join(out, name);
}

async function blankDisk(name: string, size: string): Promise<string> {
  const p = join(work, name);
  await execa('qemu-img', ['create', '-q', '-f', 'raw', p, size]);
  return p;
}

/** Virtio disks in order (vda, vdb, ...), written for real (no snapshot): the next boot sees the changes. */
function diskArgs(disks: string[]): string[] {
  return disks.flatMap((d, i) => ['-drive', `file=${d.replace(/,/g, ',,')},format=raw,if=none,id=disk${i}`, '-device', `virtio-blk-pci,drive=disk${i}`]);
}

async function boot(expect: ExpectStatic, path: string, arch: Arch, disks: string[], expectLines: RegExp[]): Promise<TestResult & { lines: string[] }> {
  const lines: string[] = [];
  const r = await testImage({
    path,
    arch,
    net: 'none',
    timeoutSec: 600,
    // a clean poweroff: init unmounts the filesystems, so the next boot finds them clean
    appendCmdline: 'osbuild.poweroff=1',
    extraArgs: diskArgs(disks),
    onLine: (l) => lines.push(l),
    expect: [...expectLines, /osbuild: ready/, /osbuild: poweroff/, /reboot: Power down/],
  });
  expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-80).join('\n')}`).toBe(true);
  return { ...r, lines };
}

/** The stamps `check` printed: disk -> [wrote|found, uuid]. */
function stamps(lines: string[]): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  for (const l of lines) {
    const m = /^stamp (\w+) (wrote|found) ([0-9a-f-]{36})$/.exec(l);
    if (m) out[m[1]] = [m[2], m[3]];
  }
  return out;
}

interface SfdiskJson {
  partitiontable: { label: string; lastlba?: number; partitions: { node: string; start: number; size: number; type: string }[] };
}

async function partitions(img: string): Promise<SfdiskJson['partitiontable']> {
  const { stdout } = await execa('sfdisk', ['-J', img]);
  return (JSON.parse(stdout) as SfdiskJson).partitiontable;
}

/** blkid's low-level probe of what is at a byte offset of an image: {LABEL, TYPE, ...}. */
async function probe(img: string, offset = 0): Promise<Record<string, string>> {
  const r = await execa('blkid', ['-p', '-o', 'export', '-O', String(offset), img], { reject: false });
  return Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** The first partition of an image copied out, for the e2fsprogs tools (no loop devices). */
async function firstPartition(img: string, name: string): Promise<{ file: string; sectors: number }> {
  const p = (await partitions(img)).partitions[0];
  const file = join(work, name);
  await execa('dd', [`if=${img}`, `of=${file}`, 'bs=512', `skip=${p.start}`, `count=${p.size}`, 'status=none']);
  return { file, sectors: p.size };
}

// the two arches boot side by side: their disks, blueprints and output dirs have their own names
describe.concurrent('storage components boot', () => {
  it('on amd64: boot 1 formats and mounts the empty disks, boot 2 keeps the data, grows the resized disk, loads modules with modprobe', async ({ expect }) => {
    const data = await blankDisk('data.img', '256M');
    const crypt = await blankDisk('crypt.img', '64M');
    const logs = await blankDisk('logs.img', '320M'); // mkfs.xfs wants 300 MB at least
    const disks = [data, crypt, logs];

    // ---- boot 1: modules listed in the blueprint, everything empty
    const sys1 = await buildSystem('storage1', 'amd64', blueprint({ modules: 'listed', crypt: true, xfs: true }));
    const b1 = await boot(expect, sys1, 'amd64', disks, [
      /osbuild: module dm_crypt loaded/,
      /sysfs: block\/vda\/queue\/read_ahead_kb = 512/,
      /format: made ext4 LABEL=DATA on \/dev\/vda1/,
      /osbuild: onboot \d+-format exit 0/,
      /format: made xfs LABEL=LOGS on \/dev\/vdc1/,
      /extend: \/dev\/vda1 already ends at the end of \/dev\/vda: nothing to do/,
      /mount: LABEL=DATA \(\/dev\/vda1, ext4\) on \/var\/lib\/data/,
      /mount: LABEL=LOGS \(\/dev\/vdc1, xfs\) on \/var\/lib\/logs/,
      /swap: made \/var\/lib\/data\/swapfile \(16384 KiB\)/,
      /dm-crypt: \/dev\/vdb is empty: formatting it as LUKS2/,
      /dm-crypt: made ext4 LABEL=secret on \/dev\/mapper\/secret/,
      /mount: \/dev\/mapper\/secret .*on \/var\/lib\/secret/,
      /osbuild: onboot \d+-check exit 0/,
    ]);
    const log1 = b1.lines.join('\n');
    // every container that binds /var sees the three mounts; the swap file is on
    expect(log1).toMatch(/^mounted: \/dev\/vda1 \/var\/lib\/data ext4 /m);
    expect(log1).toMatch(/^mounted: \/dev\/vdc1 \/var\/lib\/logs xfs /m);
    expect(log1).toMatch(/^mounted: \/dev\/mapper\/secret \/var\/lib\/secret ext4 /m);
    expect(log1).toMatch(/^swaps: \S*swapfile\s+file\s+16\d{3}\s/m);
    expect(log1).toMatch(/^read_ahead_kb=512$/m);
    expect(b1.lines.filter((l) => /osbuild: onboot \S+ exit [1-9]/.test(l))).toEqual([]);
    const s1 = stamps(b1.lines);
    expect(Object.keys(s1).sort()).toEqual(['data', 'logs', 'secret']);
    for (const [d, [how]] of Object.entries(s1)) expect(how, d).toBe('wrote');

    // the host's tools agree: GPT with one Linux partition holding ext4 DATA / xfs LOGS; LUKS2
    const pt = await partitions(data);
    expect(pt.label).toBe('gpt');
    expect(pt.partitions).toHaveLength(1);
    expect(pt.partitions[0].type).toBe('0FC63DAF-8483-4772-8E79-3D69D8477DE4');
    expect(await probe(data, pt.partitions[0].start * 512)).toMatchObject({ LABEL: 'DATA', TYPE: 'ext4' });
    const lpt = await partitions(logs);
    expect(await probe(logs, lpt.partitions[0].start * 512)).toMatchObject({ LABEL: 'LOGS', TYPE: 'xfs' });
    expect(await probe(crypt)).toMatchObject({ TYPE: 'crypto_LUKS', VERSION: '2', LABEL: 'secret' });
    const fsck1 = await firstPartition(data, 'data-p1.img');
    await execa('e2fsck', ['-fn', fsck1.file]); // exit 0: clean after init's poweroff
    await rm(fsck1.file);

    // ---- the cloud grows the data disk
    await execa('qemu-img', ['resize', '-q', '-f', 'raw', data, '384M']);
    expect((await stat(data)).size).toBe(384 * MiB);

    // ---- boot 2: the same disks; no kernel.modules, the modprobe component loads what is needed
    const sys2 = await buildSystem('storage2', 'amd64', blueprint({ modules: 'modprobe', crypt: true, xfs: true }));
    const b2 = await boot(expect, sys2, 'amd64', disks, [
      /modprobe: virtio_blk loaded/,
      /modprobe: dm_crypt loaded/,
      /osbuild: onboot \d+-modprobe exit 0/,
      /format: \/dev\/vda: has partition vda1: left alone/,
      /format: \/dev\/vdc: has partition vdc1: left alone/,
      /extend: growing \/dev\/vda1 \(gpt\) by 128 MiB/,
      /osbuild: onboot \d+-extend exit 0/,
      /mount: LABEL=DATA \(\/dev\/vda1, ext4\) on \/var\/lib\/data/,
      /swap: reusing \/var\/lib\/data\/swapfile/,
      /dm-crypt: \/dev\/vdb is LUKS: opening it as \/dev\/mapper\/secret/,
      /dm-crypt: \/dev\/mapper\/secret holds ext4/,
      /osbuild: onboot \d+-check exit 0/,
    ]);
    const log2 = b2.lines.join('\n');
    expect(log2).not.toMatch(/format: made|formatting it as LUKS2|swap: made/);
    expect(log2).toMatch(/^swaps: \S*swapfile\s+file\s+16\d{3}\s/m);
    expect(b2.lines.filter((l) => /osbuild: onboot \S+ exit [1-9]/.test(l))).toEqual([]);
    // the stamps of boot 1 are still there, on all three filesystems
    const s2 = stamps(b2.lines);
    for (const d of ['data', 'logs', 'secret']) expect(s2[d], d).toEqual(['found', s1[d][1]]);

    // the partition now ends where GPT's backup table starts, and ext4 fills it
    const pt2 = await partitions(data);
    const sectors = (384 * MiB) / 512;
    expect(pt2.partitions).toHaveLength(1);
    expect(pt2.partitions[0].start).toBe(pt.partitions[0].start);
    expect(pt2.partitions[0].start + pt2.partitions[0].size).toBe(pt2.lastlba! + 1);
    expect(pt2.lastlba).toBe(sectors - 34);
    const p2 = await firstPartition(data, 'data-p1.img');
    const { stdout: dump } = await execa('dumpe2fs', ['-h', p2.file]);
    const blocks = Number(/^Block count:\s+(\d+)/m.exec(dump)![1]);
    const bsize = Number(/^Block size:\s+(\d+)/m.exec(dump)![1]);
    expect(blocks * bsize).toBeGreaterThan(p2.sectors * 512 - bsize * 8);
    expect(blocks * bsize).toBeLessThanOrEqual(p2.sectors * 512);
    expect(dump).toMatch(/^Filesystem volume name:\s+DATA$/m);
    await execa('e2fsck', ['-fn', p2.file]);
  }, 1_800_000);

  it('on arm64: formats and mounts an empty disk, swap on it', async ({ expect }) => {
    const data = await blankDisk('arm-data.img', '128M');
    const sys = await buildSystem('storage-arm64', 'arm64', blueprint({ modules: 'listed', crypt: false, xfs: false }));
    const b = await boot(expect, sys, 'arm64', [data], [
      /osbuild: init arm64/,
      /sysfs: block\/vda\/queue\/read_ahead_kb = 512/,
      /format: made ext4 LABEL=DATA on \/dev\/vda1/,
      /mount: LABEL=DATA \(\/dev\/vda1, ext4\) on \/var\/lib\/data/,
      /swap: \/var\/lib\/data\/swapfile on/,
      /stamp data wrote [0-9a-f-]{36}/,
      /osbuild: onboot \d+-check exit 0/,
    ]);
    expect(b.lines.join('\n')).toMatch(/^swaps: \S*swapfile\s+file\s+16\d{3}\s/m);
    const pt = await partitions(data);
    expect(pt.label).toBe('gpt');
    expect(await probe(data, pt.partitions[0].start * 512)).toMatchObject({ LABEL: 'DATA', TYPE: 'ext4' });
  }, 1_800_000);
});
