// The ISO 9660 writer against real readers: isoinfo (genisoimage), bsdtar (libarchive) and
// xorriso read every name, mode, link and byte back; xorriso reports the El Torito catalog and
// the isohybrid MBR/GPT as it does for an ISO it made itself from the same tree; sfdisk, sgdisk
// and mtools read the hybrid partition tables.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { IsoError, writeIso, type IsoDirectory, type IsoFile, type IsoOptions, type IsoSymlink } from '../../../src/formats/iso/write.js';
import { run, runText, tempDir } from '../helpers.js';

const EPOCH = 1_700_000_000; // 2023-11-14 22:13:20 UTC
const ISOHDPFX = '/usr/lib/ISOLINUX/isohdpfx.bin';
const ISOLINUX_BIN = '/usr/lib/ISOLINUX/isolinux.bin';
const LDLINUX = '/usr/lib/syslinux/modules/bios/ldlinux.c32';

interface Inputs {
  files: IsoFile[];
  directories: IsoDirectory[];
  symlinks: IsoSymlink[];
}

/** The writer's inputs for a directory tree on disk: contents streamed from the files. */
function inputsOf(root: string): Inputs {
  const out: Inputs = { files: [], directories: [], symlinks: [] };
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      if (st.isDirectory()) {
        out.directories.push({ path: r, mode: st.mode & 0o7777 });
        walk(r);
      } else if (st.isSymbolicLink()) out.symlinks.push({ path: r, target: readlinkSync(join(root, r)) });
      else out.files.push({ path: r, size: st.size, mode: st.mode & 0o7777, content: () => createReadStream(join(root, r), { highWaterMark: 10_007 }) });
    }
  };
  walk('');
  return out;
}

async function writeTo(opts: IsoOptions, path: string): Promise<number> {
  const img = writeIso(opts);
  await pipeline(Readable.from(img.stream), createWriteStream(path));
  return img.size;
}

async function sha256(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of stream) h.update(c);
  return h.digest('hex');
}

interface Seen {
  type: 'file' | 'dir' | 'link';
  mode: number;
  mtime: number;
  digest?: string;
  target?: string;
}

/** What a tree holds, by relative path: type, permission bits, mtime, content digest, link target. */
function describeTree(root: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = lstatSync(p);
      const base = { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isDirectory()) {
        out.set(r, { type: 'dir', ...base });
        walk(r);
      } else if (st.isSymbolicLink()) out.set(r, { type: 'link', mode: 0, mtime: 0, target: readlinkSync(p) });
      else out.set(r, { type: 'file', ...base, digest: createHash('sha256').update(readFileSync(p)).digest('hex') });
    }
  };
  walk('');
  return out;
}

/** Drops what the source tree cannot be compared on (its mtimes come from this test run). */
function withoutTimes(m: Map<string, Seen>): Map<string, Omit<Seen, 'mtime'>> {
  return new Map([...m].map(([k, { mtime: _, ...rest }]) => [k, rest]));
}

/** path -> first sector, from `isoinfo -R -l` ("[    26 00]  name" after each size). */
async function extents(iso: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let dir = '/';
  for (const line of (await runText('isoinfo', ['-R', '-l', '-i', iso])).split('\n')) {
    const d = /^Directory listing of (.*)$/.exec(line);
    if (d) dir = d[1];
    const m = /\[\s*(\d+) \d+\]\s+(.*?)\s*$/.exec(line);
    if (m && m[2] !== '.' && m[2] !== '..') out.set(dir + m[2], Number(m[1]));
  }
  return out;
}

/** A file's bytes as `isoinfo -R -x` extracts them (every byte: no newline stripped). */
async function isoinfoCat(iso: string, path: string): Promise<Buffer> {
  const r = await execa('isoinfo', ['-R', '-i', iso, '-x', `/${path}`], { encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(r.stdout);
}

/** Lines of an xorriso report with a given prefix, split into columns after the colon. */
async function xorrisoReport(iso: string, what: 'el_torito' | 'system_area'): Promise<string[][]> {
  const r = await run('xorriso', ['-indev', iso, `-report_${what}`, 'plain']);
  return Buffer.from(r.stdout)
    .toString()
    .split('\n')
    .filter((l) => l.includes(':') && !l.startsWith('xorriso'))
    .map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).trim(), ...l.slice(i + 1).trim().split(/\s+/)];
    });
}

function rows(report: string[][], key: string): string[][] {
  return report.filter((r) => r[0] === key).map((r) => r.slice(1));
}

async function makeFat(path: string, sizeMiB: number, files: Record<string, Buffer>): Promise<void> {
  await run('truncate', ['-s', `${sizeMiB}M`, path]);
  await run('mkfs.vfat', ['-n', 'EFIBOOT', path]);
  await run('mmd', ['-i', path, '::/EFI', '::/EFI/BOOT']);
  const dir = tempDir('osbuild-iso-fat-');
  for (const [name, data] of Object.entries(files)) {
    await writeFile(join(dir, 'f'), data);
    await run('mcopy', ['-i', path, join(dir, 'f'), `::${name}`]);
  }
}

describe('ISO 9660 + Rock Ridge', () => {
  async function sampleTree(): Promise<string> {
    const root = tempDir('osbuild-iso-src-');
    const put = async (rel: string, data: Buffer, mode = 0o644) => {
      await mkdir(dirname(join(root, rel)), { recursive: true });
      await writeFile(join(root, rel), data);
      await chmod(join(root, rel), mode);
    };
    await put('boot/vmlinuz', randomBytes(1_500_001));
    await put('boot/initrd.gz', randomBytes(200_003));
    await put('isolinux/ldlinux.c32', randomBytes(5000));
    await put('EFI/BOOT/BOOTX64.EFI', randomBytes(3000));
    await put('a-rather-long-file-name-that-exceeds-thirty-characters.tar.gz', randomBytes(10));
    await put('Mixed.Case.Name.txt', Buffer.from('upper\n'));
    await put('mixed.case.name.txt', Buffer.from('lower\n'));
    await put('n'.repeat(250) + '.conf', Buffer.from('a 255-byte name: NM continued, in a continuation area\n'));
    await put('héllo wörld.txt', Buffer.from('utf-8 and a space\n'));
    await put('empty', Buffer.alloc(0));
    await put('bin/tool', Buffer.from('#!/bin/sh\n'), 0o755);
    await put('secret', Buffer.from('x'), 0o600);
    await put('a/b/c/d/e/f/g/h/i/deep.txt', Buffer.from('nine levels down\n'));
    for (let i = 0; i < 150; i++) await put(`many/file-${String(i).padStart(3, '0')}.txt`, Buffer.from(`${i}\n`));
    await mkdir(join(root, 'private'), { mode: 0o700 });
    await chmod(join(root, 'private'), 0o700);
    await mkdir(join(root, 'emptydir'));
    await symlink('tool', join(root, 'bin/sh'));
    await symlink('/boot/vmlinuz', join(root, 'abs-link'));
    await symlink('../boot/./initrd.gz', join(root, 'bin/up-link'));
    // components of 250 bytes: longer than one component record, split over SL entries
    await symlink('x'.repeat(250) + '/' + 'y'.repeat(250) + '/z', join(root, 'long-link'));
    return root;
  }

  test('every name, mode, link and byte reads back with isoinfo, bsdtar and xorriso; descriptors as given', async () => {
    const src = await sampleTree();
    const dir = tempDir('osbuild-iso-out-');
    const iso = join(dir, 'tree.iso');
    const size = await writeTo({ volumeId: 'OSBUILD_TEST', epoch: EPOCH, ...inputsOf(src) }, iso);
    expect((await readFile(iso)).length).toBe(size);

    const info = await runText('isoinfo', ['-d', '-i', iso]);
    expect(info).toMatch(/^Volume id: OSBUILD_TEST$/m);
    expect(info).toMatch(/Rock Ridge signatures version 1 found/);
    expect(info).toContain(`Volume size is: ${size / 2048}`);
    const pvd = Buffer.from((await run('xorriso', ['-indev', iso, '-pvd_info'])).stdout).toString();
    expect(pvd).toMatch(/Creation Time: 2023111422132000/);
    expect(pvd).toMatch(/Modif\. Time\s*: 2023111422132000/);

    // libarchive and xorriso extract the whole tree: same paths, types, modes, contents, targets
    const expected = withoutTimes(describeTree(src));
    const viaBsdtar = join(dir, 'bsdtar');
    await mkdir(viaBsdtar);
    await run('bsdtar', ['-xpf', iso, '-C', viaBsdtar]);
    const bsdtarTree = describeTree(viaBsdtar);
    expect(withoutTimes(bsdtarTree)).toEqual(expected);
    for (const [p, s] of bsdtarTree) if (s.type !== 'link') expect([p, s.mtime]).toEqual([p, EPOCH]);
    const viaXorriso = join(dir, 'xorriso');
    await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', viaXorriso]);
    expect(withoutTimes(describeTree(viaXorriso))).toEqual(expected);

    // isoinfo (the tool genisoimage ships) finds files by their Rock Ridge paths
    const listing = await runText('isoinfo', ['-R', '-l', '-i', iso]);
    expect(listing).toMatch(/-rwxr-xr-x\s+1\s+0\s+0\s+10 Nov 14 2023 \[\s*\d+ 00\]\s+tool/);
    expect(listing).toMatch(/drwx------.*\]\s+private/);
    for (const p of ['boot/vmlinuz', 'boot/initrd.gz', 'EFI/BOOT/BOOTX64.EFI', 'a/b/c/d/e/f/g/h/i/deep.txt', 'many/file-149.txt', 'empty']) {
      expect(Buffer.compare(await isoinfoCat(iso, p), await readFile(join(src, p))), p).toBe(0);
    }

    // without Rock Ridge: d-character identifiers (name + extension at most 30), all distinct
    const plain = await runText('isoinfo', ['-l', '-i', iso]);
    const ids = [...plain.matchAll(/\[\s*\d+ (\d+)\]\s+(\S+)\s*$/gm)].map((m) => ({ dir: m[1] === '02', id: m[2] })).filter((x) => x.id !== '.' && x.id !== '..');
    for (const { dir: isDir, id } of ids) {
      if (isDir) expect(id).toMatch(/^[A-Z0-9_]{1,31}$/);
      else expect(id).toMatch(/^[A-Z0-9_~]*\.[A-Z0-9_]*;1$/);
      if (!isDir) expect(id.replace(/[.;]|1$/g, '').length, id).toBeLessThanOrEqual(30); // ECMA-119 7.5.1: name + extension
    }
    for (const block of plain.split('Directory listing of ').slice(1)) {
      const names = [...block.matchAll(/\]\s+(\S+)\s*$/gm)].map((m) => m[1]);
      expect(new Set(names).size, block.split('\n')[0]).toBe(names.length);
    }
    expect(plain).toMatch(/MIXED_CASE_NAME\.TXT;1/);
    expect(plain).toMatch(/MIXED_CASE_NAME~1\.TXT;1/);
  });

  test('deterministic: the same inputs in any order give the same bytes; the epoch shows', async () => {
    const src = await sampleTree();
    const a = inputsOf(src);
    const shuffled: Inputs = { files: [...a.files].reverse(), directories: [...a.directories].reverse(), symlinks: [...a.symlinks].reverse() };
    const one = await sha256(writeIso({ volumeId: 'DET', epoch: EPOCH, ...a }).stream);
    const two = await sha256(writeIso({ volumeId: 'DET', epoch: EPOCH, ...shuffled }).stream);
    const later = await sha256(writeIso({ volumeId: 'DET', epoch: EPOCH + 1, ...a }).stream);
    expect(two).toBe(one);
    expect(later).not.toBe(one);
  });

  test('file contents stream through: a 256 MiB file never sits in memory', async () => {
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    let pulled = 0;
    const big: IsoFile = {
      path: 'big.img',
      size: 256 << 20,
      content: async function* () {
        for (let i = 0; i < 256; i++) {
          pulled++;
          yield chunk;
        }
      },
    };
    const img = writeIso({ volumeId: 'BIG', epoch: EPOCH, files: [big] });
    const before = process.memoryUsage();
    let peak = 0;
    let bytes = 0;
    let firstAt = -1;
    for await (const c of img.stream) {
      if (firstAt < 0) firstAt = pulled;
      bytes += c.length;
      const m = process.memoryUsage();
      peak = Math.max(peak, m.arrayBuffers - before.arrayBuffers);
    }
    expect(bytes).toBe(img.size);
    expect(firstAt).toBeLessThanOrEqual(1); // bytes flow before the file is read
    expect(peak).toBeLessThan(64 << 20);
  });

  test('typed errors say which path and what is wrong', async () => {
    const f = (path: string, size: number, data = Buffer.alloc(size)): IsoFile => ({ path, size, content: async function* () { yield data; } });
    const base = { volumeId: 'E', epoch: EPOCH };
    const short = writeIso({ ...base, files: [f('a/short', 10, Buffer.alloc(7))] });
    await expect(sha256(short.stream)).rejects.toMatchObject({ code: 'EISOSIZE', path: 'a/short' });
    const long = writeIso({ ...base, files: [f('long', 10, Buffer.alloc(11))] });
    await expect(sha256(long.stream)).rejects.toMatchObject({ code: 'EISOSIZE', path: 'long' });
    expect(() => writeIso({ ...base, files: [f('x', 1), f('/x', 1)] })).toThrow(expect.objectContaining({ code: 'EISOPATH', path: '/x' }));
    expect(() => writeIso({ ...base, files: [f('x', 1), f('x/y', 1)] })).toThrow(/needs "x" to be a directory/);
    expect(() => writeIso({ ...base, files: [f('a/../b', 1)] })).toThrow(IsoError);
    expect(() => writeIso({ ...base, volumeId: 'lower case', files: [] })).toThrow(expect.objectContaining({ code: 'EISOFIELD' }));
    expect(() => writeIso({ ...base, files: [f('x', 1)], boot: { catalog: 'boot.cat', bios: { image: 'missing.bin' } } })).toThrow(
      expect.objectContaining({ code: 'EISOBOOT', message: expect.stringContaining('missing.bin') }),
    );
    expect(() => writeIso({ ...base, files: [f('x', 1)], hybrid: { mbrCode: Buffer.alloc(432) } })).toThrow(/needs boot.bios/);
    // a hybrid disk of a given size (--size): whole MiB, and room for the ISO
    expect(() => writeIso({ ...base, files: [f('x', 1)], hybrid: { diskSize: 3 * 1024 * 1024 + 512 } })).toThrow(expect.objectContaining({ code: 'EISOSIZE', message: expect.stringContaining('not a whole number of MiB') }));
    expect(() => writeIso({ ...base, files: [f('x', 3 * 1024 * 1024)], hybrid: { diskSize: 2 * 1024 * 1024 } })).toThrow(/is too small: the ISO needs \d+ bytes/);
    expect(writeIso({ ...base, files: [f('x', 1)], hybrid: { diskSize: 8 * 1024 * 1024 } }).size).toBe(8 * 1024 * 1024);
  });
});

describe('El Torito and isohybrid, compared with xorriso -as mkisofs', () => {
  async function bootTree(withBios: boolean, efiMiB: number): Promise<string> {
    const root = join(tempDir('osbuild-iso-boot-'), 'src');
    await mkdir(join(root, 'boot'), { recursive: true });
    await writeFile(join(root, 'boot/vmlinuz'), randomBytes(700_001));
    if (withBios) {
      await mkdir(join(root, 'isolinux'));
      await writeFile(join(root, 'isolinux/isolinux.bin'), await readFile(ISOLINUX_BIN));
      await writeFile(join(root, 'isolinux/ldlinux.c32'), await readFile(LDLINUX));
      await writeFile(join(root, 'isolinux/isolinux.cfg'), 'DEFAULT linux\n');
    }
    await makeFat(join(root, 'efiboot.img'), efiMiB, { '/EFI/BOOT/BOOTX64.EFI': randomBytes(50_000) });
    return root;
  }

  /** What xorriso and isoinfo must say about a hybrid BIOS+EFI ISO, ours or xorriso's own. */
  async function checkHybrid(iso: string): Promise<{ elTorito: string[][]; systemArea: string[][] }> {
    const ext = await extents(iso);
    const bin = ext.get('/isolinux/isolinux.bin')!;
    const efi = ext.get('/efiboot.img')!;
    const efiBlocks = lstatSync(join(dirname(iso), 'src', 'efiboot.img')).size / 512;
    const blocks = lstatSync(iso).size / 512;
    const el = await xorrisoReport(iso, 'el_torito');
    expect(rows(el, 'El Torito cat path')).toEqual([['/isolinux/boot.cat']]);
    expect(rows(el, 'El Torito boot img')).toEqual([
      ['1', 'BIOS', 'y', 'none', '0x0000', '0x00', '4', String(bin)],
      ['2', 'UEFI', 'y', 'none', '0x0000', '0x00', String(efiBlocks), String(efi)],
    ]);
    expect(rows(el, 'El Torito img opts')).toEqual([['1', 'boot-info-table', 'isohybrid-suitable']]);
    const sa = await xorrisoReport(iso, 'system_area');
    expect(rows(sa, 'System area summary')).toEqual([['MBR', 'isohybrid', 'cyl-align-on', 'GPT']]);
    expect(rows(sa, 'ISO image size/512')).toEqual([[String(blocks)]]);
    expect(blocks % 2048).toBe(0); // whole MiB
    expect(rows(sa, 'MBR partition')).toEqual([
      ['1', '0x80', '0x00', '0', String(blocks)],
      ['2', '0x00', '0xef', String(efi * 4), String(efiBlocks)],
    ]);
    expect(rows(sa, 'GPT partname local')).toEqual([['1', 'ISOHybrid'], ['2', 'ISOHybrid1']]);
    expect(rows(sa, 'GPT type GUID').map((r) => r[1])).toEqual(['a2a0d0ebe5b9334487c068b6b72699c7', 'a2a0d0ebe5b9334487c068b6b72699c7']);
    expect(rows(sa, 'GPT partition flags').map((r) => r[1])).toEqual(['0x1000000000000001', '0x1000000000000001']);
    expect(rows(sa, 'GPT start and size')[1]).toEqual(['2', String(efi * 4), String(efiBlocks)]);
    expect(rows(sa, 'GPT start and size')[0][1]).toBe('0');
    expect(rows(sa, 'GPT lba range')[0][2]).toBe(String(blocks - 1)); // backup header in the last block

    // isohdpfx's code, then the isohybrid pointer: isolinux.bin's LBA in 512-byte blocks
    const head = (await readFile(iso)).subarray(0, 512);
    expect(Buffer.compare(head.subarray(0, 432), await readFile(ISOHDPFX))).toBe(0);
    expect(head.readBigUInt64LE(432)).toBe(BigInt(bin) * 4n);
    // the MBR's EFI partition is the FAT image, readable by mtools at that offset
    expect(await runText('mdir', ['-b', '-i', `${iso}@@${efi * 2048}`, '::/EFI/BOOT'])).toMatch(/BOOTX64\.EFI/);
    return { elTorito: el, systemArea: sa };
  }

  /** The 64 bytes at the start of isolinux.bin in an ISO: the boot info table at 8..63. */
  async function bootInfo(iso: string): Promise<{ pvd: number; file: number; length: number; sum: number; reserved: Buffer; rest: Buffer }> {
    const lba = (await extents(iso)).get('/isolinux/isolinux.bin')!;
    const data = (await readFile(iso)).subarray(lba * 2048, lba * 2048 + lstatSync(ISOLINUX_BIN).size);
    return { pvd: data.readUInt32LE(8), file: data.readUInt32LE(12), length: data.readUInt32LE(16), sum: data.readUInt32LE(20), reserved: data.subarray(24, 64), rest: data.subarray(64) };
  }

  test('BIOS + EFI hybrid: same El Torito entries, boot info table and MBR/GPT shape as xorriso', async () => {
    const src = await bootTree(true, 4);
    const dir = dirname(src);
    const ours = join(dir, 'ours.iso');
    const theirs = join(dir, 'xorriso.iso');
    const opts: IsoOptions = {
      volumeId: 'MINIOS',
      epoch: EPOCH,
      ...inputsOf(join(dir, 'src')),
      boot: { catalog: 'isolinux/boot.cat', bios: { image: 'isolinux/isolinux.bin' }, efi: { image: 'efiboot.img' } },
      hybrid: { mbrCode: await readFile(ISOHDPFX) },
    };
    await writeTo(opts, ours);
    await run('xorriso', ['-as', 'mkisofs', '-R', '-o', theirs, '-V', 'MINIOS', '-isohybrid-mbr', ISOHDPFX, '-c', 'isolinux/boot.cat',
      '-b', 'isolinux/isolinux.bin', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-eltorito-alt-boot', '-e', 'efiboot.img', '-no-emul-boot', '-isohybrid-gpt-basdat', join(dir, 'src')]);

    await checkHybrid(theirs); // the expectations describe xorriso's layout...
    await checkHybrid(ours); // ...and ours

    const a = await bootInfo(ours);
    const b = await bootInfo(theirs);
    const original = await readFile(ISOLINUX_BIN);
    expect(a.pvd).toBe(16);
    expect(a.file).toBe((await extents(ours)).get('/isolinux/isolinux.bin'));
    expect([a.pvd, a.length, a.sum]).toEqual([b.pvd, b.length, b.sum]);
    expect(a.length).toBe(original.length);
    expect(a.reserved.equals(Buffer.alloc(40))).toBe(true);
    expect(Buffer.compare(a.rest, original.subarray(64))).toBe(0);

    // partition tools: the same verdicts as on xorriso's image (its hybrid MBR overlaps by design)
    const verdict = async (cmd: string, args: string[], iso: string) => {
      const r = await run(cmd, [...args, iso]).catch((e) => e);
      return (Buffer.from(r.stdout).toString() + Buffer.from(r.stderr).toString()).replaceAll(iso, 'ISO').replace(/\d+/g, 'N');
    };
    expect(await verdict('sfdisk', ['--verify'], ours)).toBe(await verdict('sfdisk', ['--verify'], theirs));
    expect(await verdict('sgdisk', ['-v'], ours)).toBe(await verdict('sgdisk', ['-v'], theirs));
    const dump = JSON.parse(await runText('sfdisk', ['--json', ours])).partitiontable;
    expect(dump.partitions.map((p: { type: string; bootable?: boolean }) => [p.type, p.bootable ?? false])).toEqual([['0', true], ['ef', false]]);

    // both ISOs hold the same files (ours: isolinux.bin with its table, like theirs)
    const listOurs = (await runText('bsdtar', ['-tf', ours])).split('\n').sort();
    const listTheirs = (await runText('bsdtar', ['-tf', theirs])).split('\n').sort();
    expect(listOurs).toEqual(listTheirs);
    for (const p of ['efiboot.img', 'boot/vmlinuz', 'isolinux/ldlinux.c32']) {
      expect(Buffer.compare(await isoinfoCat(ours, p), await readFile(join(dir, 'src', p))), p).toBe(0);
    }
    // and two writes are identical
    expect(await sha256(writeIso(opts).stream)).toBe(await sha256(createReadStream(ours)));
  });

  test('BIOS only: isohybrid MBR partition type 0x17 and no GPT, as xorriso -isohybrid-mbr', async () => {
    const src = await bootTree(true, 1);
    const dir = dirname(src);
    const { rm } = await import('node:fs/promises');
    await rm(join(src, 'efiboot.img'));
    const ours = join(dir, 'ours.iso');
    const theirs = join(dir, 'xorriso.iso');
    await writeTo(
      {
        volumeId: 'MINIOS',
        epoch: EPOCH,
        ...inputsOf(src),
        boot: { catalog: 'isolinux/boot.cat', bios: { image: 'isolinux/isolinux.bin' } },
        hybrid: { mbrCode: await readFile(ISOHDPFX) },
      },
      ours,
    );
    await run('xorriso', ['-as', 'mkisofs', '-R', '-o', theirs, '-V', 'MINIOS', '-isohybrid-mbr', ISOHDPFX, '-c', 'isolinux/boot.cat',
      '-b', 'isolinux/isolinux.bin', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', src]);
    for (const iso of [theirs, ours]) {
      const sa = await xorrisoReport(iso, 'system_area');
      expect(rows(sa, 'System area summary'), iso).toEqual([['MBR', 'isohybrid', 'cyl-align-on']]);
      expect(rows(sa, 'MBR partition'), iso).toEqual([['1', '0x80', '0x17', '0', String(lstatSync(iso).size / 512)]]);
      expect(rows(sa, 'GPT'), iso).toEqual([]);
      const el = await xorrisoReport(iso, 'el_torito');
      expect(rows(el, 'El Torito boot img').map((r) => r.slice(0, 7)), iso).toEqual([['1', 'BIOS', 'y', 'none', '0x0000', '0x00', '4']]);
    }
  });

  test('EFI only (arm64): one UEFI entry; a large FAT image gets sector count 0, as xorriso writes it', async () => {
    const src = await bootTree(false, 40);
    const dir = dirname(src);
    const ours = join(dir, 'ours.iso');
    const theirs = join(dir, 'xorriso.iso');
    const opts = (hybrid: boolean): IsoOptions => ({
      volumeId: 'MINIOS',
      epoch: EPOCH,
      ...inputsOf(src),
      boot: { catalog: 'boot.catalog', efi: { image: 'efiboot.img' } },
      hybrid: hybrid ? {} : undefined,
    });
    await writeTo(opts(false), ours);
    await run('xorriso', ['-as', 'mkisofs', '-R', '-o', theirs, '-V', 'MINIOS', '-e', 'efiboot.img', '-no-emul-boot', src]);
    const entries = async (iso: string) => {
      const el = await xorrisoReport(iso, 'el_torito');
      const ext = await extents(iso);
      return {
        cat: rows(el, 'El Torito cat path'),
        img: rows(el, 'El Torito boot img').map((r) => [...r.slice(0, -1), r[7] === String(ext.get('/efiboot.img')) ? 'LBA-OK' : r[7]]),
        arch: (await runText('isoinfo', ['-d', '-i', iso])).match(/Arch .*/)![0],
        systemArea: (await readFile(iso)).subarray(0, 32768).equals(Buffer.alloc(32768)),
      };
    };
    const a = await entries(ours);
    expect(a).toEqual(await entries(theirs));
    expect(a.img).toEqual([['1', 'UEFI', 'y', 'none', '0x0000', '0x00', '0', 'LBA-OK']]);
    expect(a.arch).toMatch(/^Arch 239/);

    // as a hybrid: no MBR code (no BIOS), the MBR's 0xEF partition is the FAT image for UEFI USB boot
    const hyb = join(dir, 'hybrid.iso');
    await writeTo(opts(true), hyb);
    const efi = (await extents(hyb)).get('/efiboot.img')!;
    const head = (await readFile(hyb)).subarray(0, 512);
    expect(head.subarray(0, 440).equals(Buffer.alloc(440))).toBe(true);
    const parts = JSON.parse(await runText('sfdisk', ['--json', hyb])).partitiontable.partitions;
    expect(parts.map((p: { start: number; size: number; type: string }) => [p.start, p.size, p.type])).toEqual([
      [0, lstatSync(hyb).size / 512, '0'],
      [efi * 4, (40 << 20) / 512, 'ef'],
    ]);
    expect(await runText('mdir', ['-b', '-i', `${hyb}@@${efi * 2048}`, '::/EFI/BOOT'])).toMatch(/BOOTX64\.EFI/);
    const sa = await xorrisoReport(hyb, 'system_area');
    expect(rows(sa, 'GPT start and size')[1]).toEqual(['2', String(efi * 4), String((40 << 20) / 512)]);
  });
});
