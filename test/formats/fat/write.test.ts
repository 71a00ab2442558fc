// writeFat: dosfstools' fsck.fat finds nothing to fix, mtools reads every file back
// byte-identical under its long and short names, `file` sees the FAT type, label and serial we
// set, for FAT12, FAT16 and FAT32; big files stream; two writes are identical.

import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { FatError, writeFat, type FatFile, type FatOptions } from '../../../src/formats/fat/write.js';
import { bigContent, fileOf, mcopyAll, mdir, sha256File, toFile, TOOL_ENV } from './helpers.js';
import { collect, pseudoRandom, tempDir } from '../helpers.js';

const T = 1_700_000_000; // 2023-11-14T22:13:20Z

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

interface Fixture {
  files: FatFile[];
  /** Expected content by path. */
  data: Map<string, Buffer>;
}

function fixture(): Fixture {
  const data = new Map<string, Buffer>();
  const add = (path: string, b: Buffer) => data.set(path, b);
  add('EFI/BOOT/BOOTX64.EFI', pseudoRandom(300_000, 1));
  add('EFI/BOOT/grub.cfg', Buffer.from('set timeout=0\n'));
  add('loader/entries/osbuild-a-rather-long-boot-entry-name.conf', Buffer.from('title osbuild\n'));
  add('readme.txt', Buffer.from('fits 8.3 but lowercase\n'));
  add('longfilename1.txt', Buffer.from('one'));
  add('longfilename2.txt', Buffer.from('two'));
  add('café.txt', Buffer.from('non-ASCII name\n'));
  add('a.b.c.tar.gz', pseudoRandom(1500, 2));
  add('abcdefghijklm', Buffer.from('13 characters: one LFN entry without terminator'));
  add('with space.cfg', Buffer.from('x'));
  add('empty', Buffer.alloc(0));
  add('EFI/EMPTY.BIN', Buffer.alloc(0));
  // 300 long names: ~900 directory entries, several clusters of directory at any cluster size
  for (let i = 0; i < 300; i++) add(`many/file-${String(i).padStart(3, '0')}-with-a-long-name.bin`, pseudoRandom(i * 7, i + 10));
  return { data, files: [...data].map(([p, b]) => fileOf(p, b)) };
}

async function writeTo(path: string, files: FatFile[], opts: FatOptions) {
  const img = writeFat(files, opts);
  await toFile(img.stream(), path);
  expect(statSync(path).size).toBe(img.size);
  return img;
}

async function fsck(path: string): Promise<string> {
  // exit status 0: no errors (-n: check only, never repair)
  return (await execa('fsck.fat', ['-n', '-v', path], { env: TOOL_ENV })).stdout;
}

async function fileType(path: string): Promise<string> {
  return (await execa('file', ['-b', path])).stdout;
}

function expectSameTree(got: Map<string, Buffer>, want: Map<string, Buffer>) {
  const digest = (m: Map<string, Buffer>) => Object.fromEntries([...m].map(([p, b]) => [p, `${b.length}:${sha(b)}`]));
  expect(digest(got)).toEqual(digest(want));
}

describe.each([12, 16, 32] as const)('FAT%i', (fatType) => {
  let work: string;
  let fx: Fixture;
  let image: string;
  let img: ReturnType<typeof writeFat>;

  beforeAll(async () => {
    work = tempDir();
    fx = fixture();
    image = join(work, 'fat.img');
    img = await writeTo(image, fx.files, { fatType, label: 'osbuild esp', mtime: T, seed: 'sha256:abc', directories: ['empty-dir'] });
  });

  it('passes fsck.fat with the cluster accounting we planned', async () => {
    expect(img.fatType).toBe(fatType);
    const out = await fsck(image);
    expect(out).toContain(`${fatType} bit entries`);
    expect(out).toMatch(new RegExp(`${img.clusterCount - img.freeClusters}/${img.clusterCount} clusters`));
  });

  it('is recognized by file(1) with its type, label and serial', async () => {
    const t = await fileType(image);
    expect(t).toContain(`FAT (${fatType} bit)`);
    expect(t).toContain('label: "OSBUILD ESP"');
    expect(t).toContain(`serial number 0x${img.volumeId.toString(16).padStart(8, '0')}`);
  });

  it('gives every file back byte-identical through mtools', async () => {
    const out = join(work, 'out');
    expectSameTree(await mcopyAll(image, out), fx.data);
    expect(existsSync(join(out, 'empty-dir'))).toBe(true);
  });

  it('writes 8.3 names plainly and long names with short aliases', async () => {
    const root = await mdir(image, '::/');
    const boot = await mdir(image, '::/EFI/BOOT');
    // an uppercase 8.3 name has no long name next to it
    expect(boot).toMatch(/^BOOTX64 +EFI +300000 +2023-11-14 +22:13 *$/m);
    expect(boot).toMatch(/^GRUB +CFG +14 +2023-11-14 +22:13 +grub\.cfg$/m);
    // a name that differs from 8.3 only by case keeps the plain alias
    expect(root).toMatch(/^README +TXT +\d+ .* readme\.txt$/m);
    expect(root).toMatch(/^LONGFI~1 +TXT +3 .* longfilename1\.txt$/m);
    expect(root).toMatch(/^LONGFI~2 +TXT +3 .* longfilename2\.txt$/m);
    expect(root).toMatch(/^CAF_~1 +TXT +\d+ .* café\.txt$/m);
    expect(root).toMatch(/^ABCDEF~1 +\d+ .* abcdefghijklm$/m);
    expect(root).toMatch(/^EMPTY +0 /m);
    expect(root).toMatch(/^EMPTY-~1 +<DIR> .* empty-dir$/m);
    const many = await mdir(image, '::/many');
    expect(many.match(/with-a-long-name\.bin$/gm)).toHaveLength(300);
  });
});

describe('writeFat', () => {
  it('grows the FAT16 root directory past 512 entries', async () => {
    const work = tempDir();
    const data = new Map<string, Buffer>();
    for (let i = 0; i < 700; i++) data.set(`Root File Number ${i}.txt`, Buffer.from(`file ${i}\n`));
    const image = join(work, 'root.img');
    const img = await writeTo(image, [...data].map(([p, b]) => fileOf(p, b)), { fatType: 16 });
    expect(img.geometry.rootEntries).toBeGreaterThan(700 * 3);
    await fsck(image);
    expectSameTree(await mcopyAll(image, join(work, 'out')), data);
  });

  it('streams a 60 MiB file into an auto-sized FAT32 volume', async () => {
    const work = tempDir();
    const big = bigContent(pseudoRandom(1 << 20, 7), 60);
    const image = join(work, 'big.img');
    const img = await writeTo(image, [{ path: 'EFI/BOOT/BOOTX64.EFI', size: big.size, content: big.content }], { fatType: 32, mtime: T });
    expect(img.size % (1 << 20)).toBe(0);
    expect(img.size).toBeLessThan(big.size + (4 << 20)); // "just large enough"
    await fsck(image);
    const { stdout } = await execa('sh', ['-c', `mcopy -i "$0" ::/EFI/BOOT/BOOTX64.EFI - | sha256sum`, image], { env: TOOL_ENV });
    expect(stdout.split(' ')[0]).toBe(big.sha256());
  });

  it('takes the type from the size when not forced, as fatgen103 sizes it', async () => {
    const work = tempDir();
    const files = [fileOf('EFI/BOOT/BOOTAA64.EFI', pseudoRandom(10_000, 3))];
    const cases: Array<[number, number]> = [[1_474_560, 12], [8 << 20, 16], [600 << 20, 32]];
    for (const [size, type] of cases) {
      const image = join(work, `${size}.img`);
      const img = await writeTo(image, files, { size });
      expect(img.fatType).toBe(type);
      expect(await fileType(image)).toContain(`FAT (${type} bit)`);
      await fsck(image);
    }
  });

  it('sizes an El Torito image to whole 2 KiB sectors with little free space', async () => {
    const work = tempDir();
    const image = join(work, 'eltorito.img');
    const fx = fixture();
    const img = await writeTo(image, fx.files, { sizeAlign: 2048, label: 'EFIBOOT' });
    expect(img.size % 2048).toBe(0);
    expect(img.freeClusters * img.clusterSize).toBeLessThan(64 * 1024);
    await fsck(image);
    expectSameTree(await mcopyAll(image, join(work, 'out')), fx.data);
  });

  it('writes a fixed-size 64 MiB FAT32 ESP', async () => {
    const work = tempDir();
    const image = join(work, 'esp.img');
    const img = await writeTo(image, [fileOf('EFI/BOOT/BOOTX64.EFI', pseudoRandom(5000, 4))], { size: 64 << 20, fatType: 32, label: 'ESP', hiddenSectors: 2048 });
    expect(img.size).toBe(64 << 20);
    const out = await fsck(image);
    expect(out).toContain('2048 hidden sectors');
  });

  it('stores SOURCE_DATE_EPOCH, clamped to 1980 when earlier', async () => {
    const work = tempDir();
    const files = [fileOf('A.TXT', Buffer.from('a'))];
    await writeTo(join(work, 'old.img'), files, { mtime: 0 });
    expect(await mdir(join(work, 'old.img'))).toMatch(/^A +TXT +1 1980-01-01 +0:00/m);
    await writeTo(join(work, 'new.img'), files, { mtime: 1_234_567_891 }); // 2009-02-13T23:31:31Z
    expect(await mdir(join(work, 'new.img'))).toMatch(/^A +TXT +1 2009-02-13 +23:31/m);
  });

  it('writes identical bytes twice; the volume id follows the seed', async () => {
    const work = tempDir();
    const a = await writeTo(join(work, 'a.img'), fixture().files, { mtime: T, seed: 'one' });
    const b = await writeTo(join(work, 'b.img'), fixture().files, { mtime: T, seed: 'one' });
    expect(await sha256File(join(work, 'a.img'))).toBe(await sha256File(join(work, 'b.img')));
    expect(a.volumeId).toBe(b.volumeId);
    const c = writeFat(fixture().files, { mtime: T, seed: 'two' });
    expect(c.volumeId).not.toBe(a.volumeId);
  });

  it('rejects content that breaks its declared size', async () => {
    const short: FatFile = { path: 'x.bin', size: 10, content: async function* () { yield Buffer.alloc(4); } };
    await expect(collect(writeFat([short]).stream())).rejects.toMatchObject({ code: 'EFATCONTENT', path: 'x.bin' });
    const long: FatFile = { path: 'y.bin', size: 3, content: async function* () { yield Buffer.alloc(4); } };
    await expect(collect(writeFat([long]).stream())).rejects.toMatchObject({ code: 'EFATCONTENT', path: 'y.bin' });
  });

  it('rejects names FAT cannot hold and names that differ only by case', () => {
    const f = (path: string) => fileOf(path, Buffer.alloc(1));
    expect(() => writeFat([f('a:b')])).toThrow(FatError);
    expect(() => writeFat([f('dir/trailing.')])).toThrow(/ends with a dot/);
    expect(() => writeFat([f('EFI/boot/x'), f('efi/BOOT/y')])).toThrow(expect.objectContaining({ code: 'EFATDUP' }));
    expect(() => writeFat([f('a'), f('a/b')])).toThrow(expect.objectContaining({ code: 'EFATDUP' }));
  });

  it('says when a fixed size or a forced type cannot hold the files', () => {
    const big = { path: 'big', size: 3 << 20, content: async function* () {} };
    expect(() => writeFat([big], { size: 2 << 20 })).toThrow(expect.objectContaining({ code: 'EFATFULL' }));
    expect(() => writeFat([], { size: 8 << 20, fatType: 32 })).toThrow(/FAT32 >= 65525/);
    expect(() => writeFat([], { label: 'label too long' })).toThrow(expect.objectContaining({ code: 'EFATOPT' }));
  });
});
