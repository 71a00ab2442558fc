// writeDisk: util-linux (sfdisk, fdisk) and gdisk (sgdisk) accept the tables we write and
// report the partitions we planned; partition contents read back with dd at the offsets sfdisk
// reports; a FAT ESP inside the disk is read by mtools at @@1M; two writes are identical.

import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { DiskError, writeDisk, type DiskOptions } from '../../../src/formats/disk/write.js';
import { writeFat } from '../../../src/formats/fat/write.js';
import { fileOf, mcopyAll, sha256File, toFile, TOOL_ENV } from '../fat/helpers.js';
import { collect, pseudoRandom, tempDir } from '../helpers.js';

const MiB = 1 << 20;
const T = 1_700_000_000;

interface SfdiskPart {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
  attrs?: string;
  bootable?: boolean;
}
interface SfdiskTable {
  label: string;
  id: string;
  firstlba?: number;
  lastlba?: number;
  partitions: SfdiskPart[];
}

async function sfdiskJson(image: string): Promise<SfdiskTable> {
  const { stdout } = await execa('sfdisk', ['--json', image]);
  return (JSON.parse(stdout) as { partitiontable: SfdiskTable }).partitiontable;
}

async function dd(image: string, startSector: number, sectors: number): Promise<Buffer> {
  const { stdout } = await execa('dd', [`if=${image}`, 'bs=512', `skip=${startSector}`, `count=${sectors}`, 'status=none'], { encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(stdout);
}

function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function source(data: Buffer, chunk = 100_000) {
  return async function* () {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
  };
}

const efi = pseudoRandom(200_000, 21);
const rootData = pseudoRandom(3 * MiB + 12_345, 22);
const bootCode = pseudoRandom(440, 23);

function espAndRoot(seed = 'sha256:1234'): DiskOptions {
  const esp = writeFat([fileOf('EFI/BOOT/BOOTX64.EFI', efi)], { fatType: 32, label: 'ESP', mtime: T, seed, hiddenSectors: 2048 });
  return {
    scheme: 'gpt',
    seed,
    bootCode,
    partitions: [
      { name: 'ESP', type: 'esp', size: esp.size, content: esp.stream, attributes: { legacyBiosBootable: true } },
      { name: 'root', type: 'linux-root-x86-64', size: rootData.length, content: source(rootData), attributes: { readOnly: true } },
    ],
  };
}

describe('GPT disk with an ESP and a root partition', () => {
  let work: string;
  let image: string;
  let disk: ReturnType<typeof writeDisk>;

  beforeAll(async () => {
    work = tempDir();
    image = join(work, 'disk.img');
    disk = writeDisk(espAndRoot());
    await toFile(disk.stream(), image);
  });

  it('is a whole number of MiB with partitions on MiB boundaries', () => {
    expect(statSync(image).size).toBe(disk.size);
    expect(disk.size % MiB).toBe(0);
    for (const p of disk.layout.partitions) expect(p.offset % MiB).toBe(0);
    expect(disk.layout.partitions[0].offset).toBe(MiB);
  });

  it('passes sfdisk --verify and sgdisk -v', async () => {
    const v = await execa('sfdisk', ['--verify', image]);
    expect(v.stdout).toContain('No errors detected');
    const g = await execa('sgdisk', ['-v', image]);
    expect(g.stdout).toContain('No problems found');
    const scan = await execa('gdisk', ['-l', image]);
    expect(scan.stdout).toMatch(/MBR: protective\n.*\n.*\n +GPT: present/);
    const p = await execa('sgdisk', ['-p', image]);
    expect(p.stdout).toMatch(/^ +1 +2048 +\d+ .* EF00 +ESP$/m);
    expect(p.stdout).toMatch(/^ +2 +\d+ +\d+ .* 8304 +root$/m);
    // the backup header is in the last sector and says so
    const last = readAt(image, disk.size - 512, 512);
    expect(last.toString('latin1', 0, 8)).toBe('EFI PART');
    expect(Number(last.readBigUInt64LE(24))).toBe(disk.size / 512 - 1);
  });

  it('reports the partitions, GUIDs and attributes we planned', async () => {
    const t = await sfdiskJson(image);
    expect(t.label).toBe('gpt');
    expect(t.id).toBe(disk.layout.diskGuid);
    expect(t.partitions.map((p) => ({ start: p.start, size: p.size, type: p.type, uuid: p.uuid, name: p.name }))).toEqual(
      disk.layout.partitions.map((p) => ({ start: p.firstLba, size: p.lastLba - p.firstLba + 1, type: p.typeGuid, uuid: p.guid, name: p.name })),
    );
    expect(t.partitions[0].type).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(t.partitions[1].type).toBe('4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709');
    expect(t.partitions[0].attrs).toBe('LegacyBIOSBootable');
    expect(t.partitions[1].attrs).toBe('GUID:60');
    for (const g of [t.id, ...t.partitions.map((p) => p.uuid!)]) expect(g[14]).toBe('5'); // name-based (v5)
    expect(new Set([t.id, ...t.partitions.map((p) => p.uuid)]).size).toBe(3);
  });

  it('holds the contents at the offsets sfdisk reports, zero-padded', async () => {
    const t = await sfdiskJson(image);
    const root = await dd(image, t.partitions[1].start, t.partitions[1].size);
    expect(sha(root.subarray(0, rootData.length))).toBe(sha(rootData));
    expect(root.subarray(rootData.length).every((b) => b === 0)).toBe(true);
    const espPart = join(work, 'esp.img');
    await execa('sh', ['-c', `dd if="$0" of="$1" bs=512 skip=${t.partitions[0].start} count=${t.partitions[0].size} status=none`, image, espPart]);
    await execa('fsck.fat', ['-n', espPart]);
  });

  it('carries the boot code and an ESP mtools reads at @@1M', async () => {
    const mbr = readAt(image, 0, 512);
    expect(mbr.subarray(0, 440)).toEqual(bootCode);
    expect(mbr.readUInt16LE(510)).toBe(0xaa55);
    expect(mbr[446 + 4]).toBe(0xee); // protective MBR
    const files = await mcopyAll(`${image}@@1M`, join(work, 'esp-out'));
    expect(sha(files.get('EFI/BOOT/BOOTX64.EFI')!)).toBe(sha(efi));
  });

  it('writes the same bytes twice, and other identifiers for another seed', async () => {
    const again = join(work, 'again.img');
    await toFile(writeDisk(espAndRoot()).stream(), again);
    expect(await sha256File(again)).toBe(await sha256File(image));
    const other = writeDisk(espAndRoot('sha256:5678')).layout;
    expect(other.diskGuid).not.toBe(disk.layout.diskGuid);
    expect(other.partitions[0].guid).not.toBe(disk.layout.partitions[0].guid);
  });
});

describe('writeDisk', () => {
  it('writes a plain MBR disk that fdisk and sfdisk read', async () => {
    const work = tempDir();
    const image = join(work, 'mbr.img');
    const boot = pseudoRandom(2 * MiB, 31);
    const disk = writeDisk({
      scheme: 'mbr',
      seed: 'mbr',
      partitions: [
        { type: 'esp', size: 2 * MiB, content: source(boot), bootable: true },
        { type: 'linux', size: 5 * MiB },
      ],
    });
    await toFile(disk.stream(), image);
    expect(disk.size).toBe(8 * MiB); // 1 MiB of table + 2 + 5, nothing at the end
    await execa('sfdisk', ['--verify', image]);
    const t = await sfdiskJson(image);
    expect(t.label).toBe('dos');
    expect(t.id).toBe(`0x${disk.layout.diskSignature.toString(16).padStart(8, '0')}`);
    expect(t.partitions.map((p) => [p.start, p.size, p.type, p.bootable ?? false])).toEqual([
      [2048, 4096, 'ef', true],
      [6144, 10240, '83', false],
    ]);
    const { stdout } = await execa('fdisk', ['-l', image], { env: TOOL_ENV });
    expect(stdout).toMatch(/Disklabel type: dos/);
    expect(stdout).toMatch(/mbr\.img1 +\* +2048 +6143 +4096 +2M +ef EFI/);
    expect(sha(await dd(image, 2048, 4096))).toBe(sha(boot));
  });

  it('writes a hybrid MBR that mirrors the ESP next to the GPT', async () => {
    const work = tempDir();
    const image = join(work, 'hybrid.img');
    const disk = writeDisk({ ...espAndRoot(), scheme: 'hybrid', mbrPartitions: [0] });
    await toFile(disk.stream(), image);
    const v = await execa('sgdisk', ['-v', image]);
    expect(v.stdout).toContain('No problems found');
    const scan = await execa('gdisk', ['-l', image]);
    expect(scan.stdout).toMatch(/MBR: hybrid\n.*\n.*\n +GPT: present/);
    const { stdout } = await execa('fdisk', ['-l', '-t', 'dos', image], { env: TOOL_ENV });
    expect(stdout).toMatch(/hybrid\.img1 +1 +2047 +2047 .* ee GPT/);
    expect(stdout).toMatch(new RegExp(`hybrid\\.img2 +2048 +${disk.layout.partitions[0].lastLba} .* ef EFI`));
    expect((await sfdiskJson(image)).label).toBe('gpt');
  });

  it('honours a fixed size and explicit offsets', async () => {
    const work = tempDir();
    const image = join(work, 'fixed.img');
    const disk = writeDisk({
      scheme: 'gpt',
      size: 16 * MiB,
      partitions: [
        { type: 'bios-boot', size: 512 * 1024, offset: 64 * 512 },
        { type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', size: 4 * MiB, name: 'data' },
      ],
    });
    await toFile(disk.stream(), image);
    expect(statSync(image).size).toBe(16 * MiB);
    await execa('sfdisk', ['--verify', image]);
    const t = await sfdiskJson(image);
    expect(t.lastlba).toBe(16 * 2048 - 34);
    expect(t.partitions.map((p) => [p.start, p.size])).toEqual([[64, 1024], [2048, 8192]]);
    expect(t.partitions[0].type).toBe('21686148-6449-6E6F-744E-656564454649');
  });

  it('says what is wrong with impossible layouts', async () => {
    const p = (size: number) => ({ type: 'linux', size });
    expect(() => writeDisk({ scheme: 'mbr', partitions: [p(1), p(1), p(1), p(1), p(1)] })).toThrow(expect.objectContaining({ code: 'EDISKOPT' }));
    expect(() => writeDisk({ scheme: 'gpt', size: 4 * MiB, partitions: [p(3 * MiB)] })).toThrow(expect.objectContaining({ code: 'EDISKSIZE' }));
    expect(() => writeDisk({ scheme: 'gpt', partitions: [{ ...p(MiB), offset: MiB }, { ...p(MiB), offset: MiB + 512 }] })).toThrow(expect.objectContaining({ code: 'EDISKOVERLAP' }));
    expect(() => writeDisk({ scheme: 'gpt', partitions: [{ type: 'swap', size: MiB }] })).toThrow(DiskError);
    expect(() => writeDisk({ scheme: 'mbr', partitions: [{ type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', size: MiB }] })).toThrow(/mbrType/);
    expect(() => writeDisk({ scheme: 'gpt', bootCode: Buffer.alloc(446), partitions: [p(MiB)] })).toThrow(/440/);
    const tooBig = writeDisk({ scheme: 'gpt', partitions: [{ ...p(MiB), content: source(Buffer.alloc(MiB + 1)) }] });
    await expect(collect(tooBig.stream())).rejects.toMatchObject({ code: 'EDISKCONTENT', partition: 0 });
  });
});
