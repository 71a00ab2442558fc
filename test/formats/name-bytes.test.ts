// Names are bytes through every format: names that are not UTF-8 (and names near the ustar field
// limits, counted in bytes) go in and come out byte for byte, read by GNU tar, GNU cpio and
// Python's tarfile; hostile names reach messages only escaped.

import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/formats/entry.js';
import { writeCpio } from '../../src/formats/cpio/write.js';
import { writeFat } from '../../src/formats/fat/write.js';
import { nm, sl } from '../../src/formats/iso/rockridge.js';
import { writeIso } from '../../src/formats/iso/write.js';
import { writeSquashfs } from '../../src/formats/squashfs/write.js';
import { decodeName, encodeName } from '../../src/formats/names.js';
import { readTar } from '../../src/formats/tar/read.js';
import { writeTar } from '../../src/formats/tar/write.js';
import { collect, readAllEntries, run, streamOf, tempDir, type Item } from './helpers.js';

const T = 1_700_000_000;
const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

// Two names that Node's UTF-8 decoder would both turn into 'a\ufffd'.
const FF = b('a', [0xff]);
const FE = b('a', [0xfe]);
// An ISO-8859-1 directory name and an overlong encoding under it.
const LATIN = b('caf', [0xe9], '/x', [0xc0, 0xaf]);
// Multi-byte text and raw bytes around the 100-byte ustar name field.
const CJK99 = b('d/', '字'.repeat(32), 'x'); // 2 + 96 + 1 = 99 bytes, 35 UTF-16 units
const CJK101 = b('d/', '字'.repeat(33)); // 101 bytes
const ASCII100 = b('e/', 'a'.repeat(98)); // fits the name field exactly
const ASCII101 = b('e/', 'a'.repeat(99)); // needs the prefix split
const BAD101 = b('f/', 'a'.repeat(98), [0xff]); // 101 bytes, not UTF-8
const LONG_BAD = b('g'.repeat(60), '/', 'h'.repeat(59), [0xfe], 'z'); // 122 bytes, not UTF-8

function entry(raw: Buffer, type: Entry['type'], extra: Partial<Entry> = {}): Entry {
  return { path: decodeName(raw), type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: T, size: 0, ...extra };
}
function file(raw: Buffer, data: string): Item {
  return { entry: entry(raw, 'file', { size: data.length }), data: Buffer.from(data) };
}

const FILES: Buffer[] = [FF, FE, LATIN, CJK99, CJK101, ASCII100, ASCII101, BAD101, LONG_BAD];
function items(): Item[] {
  const dirs = [b('caf', [0xe9]), b('d'), b('e'), b('f'), b('g'.repeat(60))];
  const out: Item[] = [];
  for (const d of dirs) {
    const parts = d.toString('latin1').split('/');
    for (let i = 1; i <= parts.length; i++) out.push({ entry: entry(Buffer.from(parts.slice(0, i).join('/'), 'latin1'), 'dir') });
  }
  out.push(...FILES.map((f, i) => file(f, `content ${i}`)));
  out.push({ entry: entry(b('link', [0xff]), 'symlink', { linkname: decodeName(b('target', [0xfe, 0xff], '/', '字'.repeat(40))) }) });
  out.push({ entry: entry(b('hard', [0xfe]), 'hardlink', { linkname: decodeName(FF) }) });
  // the directory list repeats prefixes: keep each path once
  const seen = new Set<string>();
  return out.filter((it) => {
    if (seen.has(it.entry.path)) return false;
    seen.add(it.entry.path);
    return true;
  });
}

/** Lines of a tool's stdout as raw bytes (names may hold anything but '\n'). */
function lines(bytes: Uint8Array): Buffer[] {
  const stdout = Buffer.from(bytes);
  const out: Buffer[] = [];
  let start = 0;
  for (let i = stdout.indexOf(0x0a); i >= 0; start = i + 1, i = stdout.indexOf(0x0a, start)) out.push(stdout.subarray(start, i));
  // execa drops the final newline
  if (start < stdout.length) out.push(stdout.subarray(start));
  return out;
}

async function* source(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

describe('tar names are bytes', () => {
  it('writeTar keeps distinct non-UTF-8 names distinct, byte for byte, as GNU tar lists and extracts them', async () => {
    const its = items();
    const tar = await collect(writeTar(streamOf(its)));
    const dir = tempDir();
    const tarPath = join(dir, 'names.tar');
    writeFileSync(tarPath, tar);
    const listed = lines((await run('tar', ['--quoting-style=literal', '-tf', tarPath], { cwd: dir })).stdout);
    const want = its.map((it) => Buffer.concat([encodeName(it.entry.path), Buffer.from(it.entry.type === 'dir' ? '/' : '')]));
    expect(listed.map((l) => l.toString('hex'))).toEqual(want.map((w) => w.toString('hex')));

    const out = join(dir, 'x');
    await run('mkdir', [out]);
    await run('tar', ['-xf', tarPath, '-C', out]);
    const top = readdirSync(out, { encoding: 'buffer' }).map((n) => n.toString('hex')).sort();
    expect(top).toContain(FF.toString('hex'));
    expect(top).toContain(FE.toString('hex'));
    const target = readlinkSync(Buffer.concat([Buffer.from(out + '/'), b('link', [0xff])]), { encoding: 'buffer' });
    expect(target.equals(b('target', [0xfe, 0xff], '/', '字'.repeat(40)))).toBe(true);
  });

  it('readTar gives back the same names from what writeTar wrote, and Python reads them too', async () => {
    const its = items();
    const tar = await collect(writeTar(streamOf(its)));
    const back = await readAllEntries(readTar(source(tar)));
    expect(back.map((x) => encodeName(x.entry.path).toString('hex'))).toEqual(its.map((x) => encodeName(x.entry.path).toString('hex')));
    expect(back.find((x) => x.entry.type === 'symlink')!.entry.linkname).toBe(its.find((x) => x.entry.type === 'symlink')!.entry.linkname);
    expect(back.find((x) => x.entry.type === 'hardlink')!.entry.linkname).toBe(decodeName(FF));

    const py = 'import sys, tarfile\nfor m in tarfile.open(fileobj=sys.stdin.buffer, mode="r|"):\n    sys.stdout.buffer.write(m.name.encode("utf-8", "surrogateescape") + b"\\n")\n';
    const listed = lines((await run('python3', ['-c', py], { input: tar })).stdout);
    expect(listed.map((l) => l.toString('hex'))).toEqual(its.map((x) => encodeName(x.entry.path).toString('hex')));
  });

  it('counts bytes, not characters, at the ustar limits; writes UTF-8 names without hdrcharset and others with it first', async () => {
    const one = async (raw: Buffer) => collect(writeTar(streamOf([file(raw, 'x')])));
    const typeflag = (tar: Buffer) => String.fromCharCode(tar[156]);
    // ASCII: 100 bytes fit the name field, 101 split into prefix/name: no pax header either way
    expect(typeflag(await one(ASCII100))).toBe('0');
    const split = await one(ASCII101);
    expect(typeflag(split)).toBe('0');
    expect(split.subarray(345, 347).toString()).toBe('e\0'); // the prefix field
    // non-ASCII goes to pax, whatever its character count
    for (const raw of [CJK99, CJK101, BAD101, LONG_BAD]) {
      const tar = await one(raw);
      expect(typeflag(tar), raw.toString('hex')).toBe('x');
      const body = tar.subarray(512, 512 + Number.parseInt(tar.subarray(124, 135).toString(), 8));
      const valid = decodeName(raw) === raw.toString('utf8');
      expect(body.indexOf(Buffer.concat([Buffer.from(' path='), raw, Buffer.from('\n')])), raw.toString('hex')).toBeGreaterThan(0);
      if (valid) expect(body.includes('hdrcharset')).toBe(false);
      else expect(body.subarray(0, 21).toString()).toBe('21 hdrcharset=BINARY\n');
    }
  });

  it('reads raw-byte names as Python tarfile and GNU tar write them (pax, gnu, ustar)', async () => {
    const dir = tempDir();
    // Python: pax with hdrcharset=BINARY, GNU long names ('L'/'K'), plain ustar fields
    const py = [
      'import io, sys, tarfile',
      'names = [b"a\\xff", b"a\\xfe", b"caf\\xe9/" + b"n" * 120 + b"\\xfe"]',
      'for fmt, out in [(tarfile.PAX_FORMAT, "pax.tar"), (tarfile.GNU_FORMAT, "gnu.tar"), (tarfile.USTAR_FORMAT, "ustar.tar")]:',
      '    with tarfile.open(out, "w", format=fmt, encoding="utf-8", errors="surrogateescape") as t:',
      '        for n in names if fmt != tarfile.USTAR_FORMAT else names[:2]:',
      '            i = tarfile.TarInfo(n.decode("utf-8", "surrogateescape")); i.size = 1; i.mtime = 0',
      '            t.addfile(i, io.BytesIO(b"x"))',
      '        i = tarfile.TarInfo("l"); i.type = tarfile.SYMTYPE; i.linkname = (b"t\\xff" * (60 if fmt != tarfile.USTAR_FORMAT else 1)).decode("utf-8", "surrogateescape")',
      '        t.addfile(i)',
    ].join('\n');
    await run('python3', ['-c', py], { cwd: dir });
    const long = b('caf', [0xe9], '/', 'n'.repeat(120), [0xfe]);
    for (const [name, names, link] of [
      ['pax.tar', [FF, FE, long], Buffer.concat(Array(60).fill(b('t', [0xff])))],
      ['gnu.tar', [FF, FE, long], Buffer.concat(Array(60).fill(b('t', [0xff])))],
      ['ustar.tar', [FF, FE], b('t', [0xff])],
    ] as const) {
      const got = await readAllEntries(readTar(source(await readFile(join(dir, name)))));
      expect(got.filter((g) => g.entry.type === 'file').map((g) => encodeName(g.entry.path).toString('hex')), name).toEqual(names.map((n) => n.toString('hex')));
      expect(encodeName(got.find((g) => g.entry.type === 'symlink')!.entry.linkname!).equals(link), name).toBe(true);
    }

    // GNU tar in the C locale, from a real directory of raw-byte names
    const src = join(dir, 'src');
    await run('mkdir', [src]);
    for (const n of [FF, FE]) writeFileSync(Buffer.concat([Buffer.from(src + '/'), n]), 'x');
    for (const format of ['pax', 'gnu']) {
      const tar = (await execTar(['--format', format, '-C', src, '-cf', '-', '--sort=name', '.'])) as Buffer;
      const got = await readAllEntries(readTar(source(tar)));
      expect(got.filter((g) => g.entry.type === 'file').map((g) => encodeName(g.entry.path).toString('hex')).sort(), format).toEqual([FE, FF].map((n) => n.toString('hex')));
    }
  });

  it('shows a hostile name escaped in a reader error: no escape sequence, no forged line', async () => {
    const py = [
      'import io, sys, tarfile',
      'b = io.BytesIO()',
      'with tarfile.open(fileobj=b, mode="w", format=tarfile.GNU_FORMAT) as t:',
      '    i = tarfile.TarInfo("x\\x1b]0;pwned\\x07\\nerror: forged\\x9b"); i.type = b"Z"',
      '    t.addfile(i)',
      'sys.stdout.buffer.write(b.getvalue())',
    ].join('\n');
    const tar = Buffer.from((await run('python3', ['-c', py])).stdout);
    const err = await readAllEntries(readTar(source(tar))).catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'ETARTYPE' });
    const message = (err as Error).message;
    expect(message).toContain('x\\e]0;pwned\\x07\\nerror: forged\\u{009b}');
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});

async function execTar(args: string[]): Promise<Buffer> {
  return Buffer.from((await execa('tar', args, { encoding: 'buffer', env: { LC_ALL: 'C' } })).stdout);
}

describe('cpio names are bytes', () => {
  it('writeCpio writes non-UTF-8 names and link targets byte for byte, as GNU cpio lists and extracts them', async () => {
    const its = items().filter((it) => it.entry.type !== 'hardlink');
    const cpio = await collect(writeCpio(streamOf(its)));
    const listed = lines((await run('cpio', ['-it', '--quiet'], { input: cpio })).stdout);
    expect(listed.map((l) => l.toString('hex'))).toEqual(its.map((it) => encodeName(it.entry.path).toString('hex')));

    const dir = tempDir();
    await run('cpio', ['-id', '--quiet', '--no-absolute-filenames'], { cwd: dir, input: cpio });
    const top = readdirSync(dir, { encoding: 'buffer' }).map((n) => n.toString('hex'));
    expect(top).toEqual(expect.arrayContaining([FF.toString('hex'), FE.toString('hex'), b('caf', [0xe9]).toString('hex')]));
    const target = readlinkSync(Buffer.concat([Buffer.from(dir + '/'), b('link', [0xff])]), { encoding: 'buffer' });
    expect(target.equals(b('target', [0xfe, 0xff], '/', '字'.repeat(40)))).toBe(true);
  });

  it('shows a hostile name escaped in its errors', async () => {
    const bad = { entry: { ...entry(b('x\x1b[2J\nerror: forged'), 'hardlink'), linkname: 'nowhere' } };
    const err = await collect(writeCpio(streamOf([bad]))).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^x\\e\[2J\\nerror: forged: hard link to nowhere/);
  });
});

describe('squashfs names are bytes', () => {
  it('sqfstar, fed our tar, keeps non-UTF-8 names and link targets byte for byte (unsquashfs extracts them)', async () => {
    const its = items().filter((it) => it.entry.type !== 'hardlink');
    const dir = tempDir();
    const img = join(dir, 'names.sqfs');
    await writeSquashfs(streamOf(its), img, { epoch: T, processors: 1, compression: 'gzip' });
    const out = join(dir, 'x');
    await run('unsquashfs', ['-q', '-n', '-d', out, img]);
    const top = readdirSync(out, { encoding: 'buffer' }).map((n) => n.toString('hex'));
    expect(top).toEqual(expect.arrayContaining([FF, FE, b('caf', [0xe9])].map((n) => n.toString('hex'))));
    expect(readdirSync(Buffer.concat([Buffer.from(out + '/'), b('caf', [0xe9])]), { encoding: 'buffer' }).map((n) => n.toString('hex'))).toEqual([b('x', [0xc0, 0xaf]).toString('hex')]);
    const target = readlinkSync(Buffer.concat([Buffer.from(out + '/'), b('link', [0xff])]), { encoding: 'buffer' });
    expect(target.equals(b('target', [0xfe, 0xff], '/', '字'.repeat(40)))).toBe(true);
  });
});

describe('ISO and FAT names', () => {
  it('Rock Ridge NM and SL entries carry the name bytes', () => {
    const [one] = nm(decodeName(FF));
    expect(one.subarray(5).equals(FF)).toBe(true);
    const [link] = sl(decodeName(b('/d', [0xfe], '/x')), 'l');
    expect(link.includes(b('d', [0xfe]))).toBe(true);
  });

  it('an ISO keeps non-UTF-8 names and link targets in Rock Ridge, byte for byte (xorriso extracts them)', async () => {
    const content = (s: string) => async function* () {
      yield Buffer.from(s);
    };
    const img = writeIso({
      volumeId: 'NAMES',
      epoch: T,
      files: [FF, FE, LATIN].map((n, i) => ({ path: decodeName(n), size: 1, content: content(String(i)) })),
      symlinks: [{ path: decodeName(b('link', [0xff])), target: decodeName(b('t', [0xfe])) }],
    });
    const dir = tempDir();
    await writeFile(join(dir, 'names.iso'), await collect(img.stream));
    const out = join(dir, 'x');
    await run('xorriso', ['-osirrox', 'on', '-indev', join(dir, 'names.iso'), '-extract', '/', out]);
    const at = (n: Buffer) => Buffer.concat([Buffer.from(out + '/'), n]);
    for (const [i, n] of [FF, FE, LATIN].entries()) expect(await readFile(at(n), 'utf8'), n.toString('hex')).toBe(String(i));
    expect(readlinkSync(at(b('link', [0xff])), { encoding: 'buffer' }).equals(b('t', [0xfe]))).toBe(true);
  });

  it('FAT refuses a name that is not text (its long names are UTF-16), naming it escaped', () => {
    const f = { path: decodeName(b('EFI/a', [0xff], '\x1b')), size: 0, content: async function* () {} };
    expect(() => writeFat([f])).toThrow(expect.objectContaining({ code: 'EFATNAME', message: expect.stringContaining('EFI/a\\xff\\e') }));
  });
});
