// UKI writer, checked by binutils: objdump lists the sections we add with their sizes and
// addresses, objcopy extracts each payload byte for byte (the same bytes objcopy's own UKI
// holds), for Debian's systemd 252 stubs on x86-64 and AArch64 and Debian's cloud kernels.
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeUki, planUki, UkiError } from '../../../src/formats/efi/uki.js';
import { parsePe, PeError } from '../../../src/formats/efi/pe.js';
import type { Arch } from '../../../src/arch.js';
import { debianKernel, debianPackage } from '../../helpers/debian-kernel.js';
import { pseudoRandom, tempDir } from '../helpers.js';

const dir = tempDir('osbuild-uki-');

async function systemdStub(arch: Arch): Promise<string> {
  const root = await debianPackage(arch, 'systemd-boot-efi');
  return join(root, 'usr/lib/systemd/boot/efi', arch === 'amd64' ? 'linuxx64.efi.stub' : 'linuxaa64.efi.stub');
}

function fileSource(path: string, size: number) {
  return { size, stream: createReadStream(path, { highWaterMark: 65_537 }) };
}

async function writeStream(path: string, s: AsyncIterable<Uint8Array>): Promise<void> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  await writeFile(path, Buffer.concat(parts));
}

const OSREL = 'NAME="osbuild test"\nID=osbuild\nVERSION_ID=1\n';
const CMDLINE = 'console=ttyS0 panic=-1 osbuild.test=uki';

interface ObjSection {
  name: string;
  size: number;
  vma: number;
}

async function objdumpSections(tool: string, path: string): Promise<ObjSection[]> {
  const { stdout } = await execa(tool, ['-h', path]);
  const out: ObjSection[] = [];
  for (const m of stdout.matchAll(/^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s/gm)) {
    out.push({ name: m[1], size: parseInt(m[2], 16), vma: parseInt(m[3], 16) });
  }
  return out;
}

async function extract(objcopy: string, uki: string, section: string, out: string): Promise<Buffer> {
  await execa(objcopy, ['-O', 'binary', `--only-section=${section}`, uki, out]);
  return readFile(out);
}

describe.each([
  ['amd64', 'objdump', 'objcopy'],
  ['arm64', 'aarch64-linux-gnu-objdump', 'aarch64-linux-gnu-objcopy'],
] as const)('UKI %s', (arch, objdump, objcopy) => {
  let stub: Buffer;
  let stubPath: string;
  let kernel: string;
  let release: string;
  let initrd: string;
  let uki: string;

  /** The UKI of this arch's stub, kernel and test initrd (made twice: the second run checks determinism). */
  async function buildUki() {
    return makeUki({
      stub,
      kernel: fileSource(kernel, (await stat(kernel)).size),
      initrd: fileSource(initrd, (await stat(initrd)).size),
      cmdline: CMDLINE,
      osRelease: OSREL,
      uname: release,
    });
  }

  beforeAll(async () => {
    stubPath = await systemdStub(arch);
    stub = await readFile(stubPath);
    const k = await debianKernel(arch);
    kernel = k.vmlinuz;
    release = k.release;
    initrd = join(dir, `${arch}-initrd`);
    await writeFile(initrd, pseudoRandom(3 * 1024 * 1024 + 4321, 7)); // odd size: padding is exercised
    uki = join(dir, `${arch}.efi`);
    const made = await buildUki();
    await writeStream(uki, made.stream);
    expect((await stat(uki)).size).toBe(made.size);
  }, 300_000);

  it('objdump lists the stub sections and ours, with exact sizes, after the stub image, .linux last', async () => {
    const before = await objdumpSections(objdump, stubPath);
    const after = await objdumpSections(objdump, uki);
    expect(after.slice(0, before.length)).toEqual(before);
    const added = after.slice(before.length);
    expect(added.map((s) => [s.name, s.size])).toEqual([
      ['.osrel', OSREL.length],
      ['.cmdline', CMDLINE.length],
      ['.uname', release.length],
      ['.initrd', (await stat(initrd)).size],
      ['.linux', (await stat(kernel)).size],
    ]);
    const stubEnd = Math.max(...before.map((s) => s.vma + s.size));
    let end = stubEnd;
    for (const s of added) {
      expect(s.vma).toBeGreaterThanOrEqual(end);
      expect(s.vma % 4096).toBe(0);
      end = s.vma + s.size;
    }
    const { stdout } = await execa(objdump, ['-p', uki]);
    const sizeOfImage = parseInt(/SizeOfImage\s+([0-9a-f]+)/.exec(stdout)![1], 16);
    expect(sizeOfImage).toBeGreaterThanOrEqual(end);
    expect(stdout).toMatch(/CheckSum\s+0+\n/);
  });

  it('objcopy extracts every payload byte for byte', async () => {
    expect((await extract(objcopy, uki, '.linux', join(dir, 'linux'))).equals(await readFile(kernel))).toBe(true);
    expect((await extract(objcopy, uki, '.initrd', join(dir, 'initrd'))).equals(await readFile(initrd))).toBe(true);
    expect((await extract(objcopy, uki, '.cmdline', join(dir, 'cmdline'))).toString()).toBe(CMDLINE);
    expect((await extract(objcopy, uki, '.osrel', join(dir, 'osrel'))).toString()).toBe(OSREL);
    expect((await extract(objcopy, uki, '.uname', join(dir, 'uname'))).toString()).toBe(release);
  });

  it("holds the same section contents as objcopy's UKI, and the stub's own sections unchanged", async () => {
    const files = { osrel: join(dir, 'o.osrel'), cmdline: join(dir, 'o.cmdline'), uname: join(dir, 'o.uname') };
    await writeFile(files.osrel, OSREL);
    await writeFile(files.cmdline, CMDLINE);
    await writeFile(files.uname, release);
    const ref = join(dir, `${arch}-objcopy.efi`);
    await execa(objcopy, [
      '--add-section', `.osrel=${files.osrel}`, '--change-section-vma', '.osrel=0x20000',
      '--add-section', `.cmdline=${files.cmdline}`, '--change-section-vma', '.cmdline=0x30000',
      '--add-section', `.uname=${files.uname}`, '--change-section-vma', '.uname=0x40000',
      '--add-section', `.linux=${kernel}`, '--change-section-vma', '.linux=0x2000000',
      '--add-section', `.initrd=${initrd}`, '--change-section-vma', '.initrd=0x4000000',
      stubPath, ref,
    ]);
    const names = (await objdumpSections(objdump, uki)).map((s) => s.name);
    expect(new Set(names)).toEqual(new Set((await objdumpSections(objdump, ref)).map((s) => s.name)));
    for (const name of names) {
      const ours = await extract(objcopy, uki, name, join(dir, 'x1'));
      const theirs = await extract(objcopy, ref, name, join(dir, 'x2'));
      expect(ours.equals(theirs), name).toBe(true);
    }
  });

  it('is deterministic', async () => {
    const again = join(dir, `${arch}-again.efi`);
    const made = await buildUki();
    await writeStream(again, made.stream);
    expect((await readFile(again)).equals(await readFile(uki))).toBe(true);
  });

  it('refuses a gzip-compressed kernel, saying to decompress it', async () => {
    const gz = join(dir, 'Image.gz');
    await execa('sh', ['-c', `gzip -1c <"$1" >"$2"`, 'sh', kernel, gz]);
    const p = makeUki({ stub, kernel: fileSource(gz, (await stat(gz)).size), initrd: { size: 0, stream: (async function* () {})() }, cmdline: '', osRelease: '' });
    await expect(p).rejects.toThrow(UkiError);
    await expect(p).rejects.toThrow(/gzip-compressed.*decompress it/);
  });

  it('fails when the initrd is shorter than declared', async () => {
    const made = await makeUki({
      stub,
      kernel: fileSource(kernel, (await stat(kernel)).size),
      initrd: fileSource(initrd, (await stat(initrd)).size + 10),
      cmdline: CMDLINE,
      osRelease: OSREL,
    });
    await expect(writeStream(join(dir, 'bad.efi'), made.stream)).rejects.toMatchObject({ code: 'EUKISIZE' });
  });
});

describe('UKI stub checks', () => {
  it('refuses a stub that already is a UKI, and a file that is no PE', async () => {
    const stub = await readFile(await systemdStub('amd64'));
    const plan = planUki({ stub, kernelSize: 4096, initrdSize: 0, cmdline: 'x', osRelease: 'y' });
    // a UKI made from the stub: its .cmdline is already there
    expect(() => planUki({ stub: plan.head, kernelSize: 1, initrdSize: 0, cmdline: 'x', osRelease: 'y' })).toThrow(/already has a .osrel section/);
    expect(() => planUki({ stub: Buffer.from('#!/bin/sh\n'), kernelSize: 1, initrdSize: 0, cmdline: '', osRelease: '' })).toThrow(PeError);
    // empty optional sections are left out
    expect(plan.sections.map((s) => s.name)).toEqual(['.osrel', '.cmdline', '.linux']);
    expect(parsePe(plan.head).sections.length).toBe(parsePe(stub).sections.length + 3);
  });
});
