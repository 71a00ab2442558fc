import { describe, expect, it } from 'vitest';
import { ARCH_NAMES, ARCHES, archNamed, BIOS_ARCHES, defaultArch, hostArch, isKernelImage } from '../src/arch.js';
import { exactShortName } from '../src/formats/fat/names.js';
import { GPT_TYPES } from '../src/formats/disk/gpt.js';

describe('the arch table', () => {
  it('names amd64 and arm64, and knows their other spellings', () => {
    expect(ARCH_NAMES).toEqual(['amd64', 'arm64']);
    expect(BIOS_ARCHES).toEqual(['amd64']);
    for (const [name, arch] of [['amd64', 'amd64'], ['x86_64', 'amd64'], ['x86-64', 'amd64'], ['arm64', 'arm64'], ['aarch64', 'arm64']]) expect(archNamed(name)).toBe(arch);
    for (const name of ['i386', 'arm', 'AMD64', 'toString', '']) expect(archNamed(name)).toBeUndefined();
  });

  it("maps Node's process.arch, and builds for amd64 on any other machine", () => {
    expect(hostArch('x64')).toBe('amd64');
    expect(hostArch('arm64')).toBe('arm64');
    expect(hostArch('riscv64')).toBeUndefined();
    expect(defaultArch()).toBe(hostArch() ?? 'amd64');
  });

  it('holds names the writers understand', () => {
    for (const arch of ARCH_NAMES) {
      const a = ARCHES[arch];
      expect(Object.keys(GPT_TYPES), arch).toContain(a.gptRootType);
      expect(exactShortName(a.efi.bootFile), arch).toBeDefined();
    }
  });

  it("tells each kernel image by its magic", () => {
    const bzImage = Buffer.alloc(0x240);
    bzImage.write('HdrS', 0x202, 'latin1');
    const image = Buffer.alloc(0x40);
    image.writeUInt32LE(0x644d5241, 0x38);
    expect(ARCH_NAMES.filter((a) => isKernelImage(a, bzImage))).toEqual(['amd64']);
    expect(ARCH_NAMES.filter((a) => isKernelImage(a, image))).toEqual(['arm64']);
    expect(isKernelImage('arm64', image.subarray(0, 0x3b))).toBe(false);
  });
});
