// The plan of an A/B slots root (plan/slots.ts), without a build: what a blueprint may ask, the
// errors for what it may not, the sizes and the command line. Building and booting the disk is
// test/build/slots*.test.ts.
import { describe, expect, it } from 'vitest';
import type { Blueprint } from '../../src/blueprint/schema.js';
import { FORMATS } from '../../src/build/outputs.js';
import { defaultSlotSize, espSize, planSlots, slotsCmdline, SLOT_MODULES, VERSION_RE, withSlots } from '../../src/plan/slots.js';

const MiB = 1024 * 1024;
const f = (...names: string[]) => names.map((n) => FORMATS.find((x) => x.name === n)!);
const bp = (root: Blueprint['root'], modules: string[] | undefined = []): Blueprint => ({ root, kernel: { image: 'k', modules } });

describe('planSlots', () => {
  it('a slots root on the EFI disk formats and update: version, tries, sizes', () => {
    expect(planSlots(bp({ type: 'squashfs', slots: 'ab', version: '1' }), f('raw-efi', 'qcow2-efi', 'vhd', 'vmdk', 'gcp', 'aws', 'azure', 'update'), 'squashfs')).toEqual({ kind: 'ab', version: '1', tries: 2, dataSize: 16 * MiB });
    expect(planSlots(bp({ type: 'squashfs', slots: 'ab', version: '2.1', slotSize: '1G', tries: 3, dataSize: '64M' }), f('raw-efi'), 'squashfs')).toEqual({ kind: 'ab', version: '2.1', slotSize: 1024 * MiB, tries: 3, dataSize: 64 * MiB });
    expect(planSlots(bp({ type: 'squashfs' }), f('iso'), 'squashfs')).toBeUndefined();
  });

  it('refuses, saying what to do: another format, no version, a bad version, initramfs, a small slot, slot keys without slots, update without slots', () => {
    const ab = { type: 'squashfs' as const, slots: 'ab' as const, version: '1' };
    expect(() => planSlots(bp(ab), f('raw-efi', 'iso', 'kernel+squashfs'), 'squashfs')).toThrow(/iso, kernel\+squashfs cannot hold slots/);
    expect(() => planSlots(bp({ ...ab, version: undefined }), f('raw-efi'), 'squashfs')).toThrow(/needs root\.version/);
    for (const v of ['', '-1', '1/2', '1 2', 'a'.repeat(65), '~1']) expect(() => planSlots(bp({ ...ab, version: v }), f('raw-efi'), 'squashfs'), v).toThrow(/root\.version .*expected 1 to 64/);
    expect(() => planSlots(bp(ab), f('raw-efi'), 'initramfs')).toThrow(/layout is initramfs/);
    expect(() => planSlots(bp({ ...ab, slotSize: '32M' }), f('raw-efi'), 'squashfs')).toThrow(/smaller than a slot can be \(64M\)/);
    expect(() => planSlots(bp({ ...ab, slotSize: 'big' }), f('raw-efi'), 'squashfs')).toThrow(/root\.slotSize "big"/);
    expect(() => planSlots(bp({ type: 'squashfs', tries: 3 }), f('raw-efi'), 'squashfs')).toThrow(/root\.tries is for a slots root/);
    expect(() => planSlots(bp({ type: 'squashfs' }), f('update'), 'squashfs')).toThrow(/format update is for a slots root/);
  });

  it('versions: letters, digits and . _ ~ ^ -, starting with a letter or digit', () => {
    for (const v of ['1', '10', '2026.12.07', '1.4.0-rc1', '1~beta', 'v2^git']) expect(VERSION_RE.test(v), v).toBe(true);
  });
});

describe('withSlots', () => {
  it('--image-version sets the version; the ESP modules join a module list; the whole tree stays the whole tree', () => {
    const b = withSlots(bp({ type: 'squashfs', slots: 'ab', version: '1' }, ['virtio_net', 'vfat']), '5');
    expect(b.root?.version).toBe('5');
    expect(b.kernel?.modules).toEqual(['virtio_net', 'vfat', ...SLOT_MODULES.filter((m) => m !== 'vfat')]);
    expect(withSlots(b)).toEqual(b);
    expect(withSlots({ root: { type: 'squashfs', slots: 'ab', version: '1' }, kernel: { image: 'k' } }).kernel?.modules).toBeUndefined();
    expect(() => withSlots(bp({ type: 'squashfs' }), '2')).toThrow(/--image-version "?2"?: .*no root\.slots/);
  });
});

describe('sizes and command line', () => {
  it('slots are twice the root, at least 64 MiB; the ESP holds three UKIs and a quarter more, at least 64 MiB', () => {
    expect(defaultSlotSize(10 * MiB)).toBe(64 * MiB);
    expect(defaultSlotSize(40 * MiB + 1)).toBe(81 * MiB);
    expect(espSize(20 * MiB)).toBe(77 * MiB);
    expect(espSize(1 * MiB)).toBe(64 * MiB);
  });

  it('a slots UKI reboots on a panic, unless the blueprint chose panic= itself', () => {
    const slots = { kind: 'ab' as const, version: '1', tries: 2, dataSize: 16 * MiB };
    expect(slotsCmdline('console=ttyS0', slots)).toBe('console=ttyS0 panic=10');
    expect(slotsCmdline('console=ttyS0 panic=30', slots)).toBe('console=ttyS0 panic=30');
    expect(slotsCmdline('console=ttyS0')).toBe('console=ttyS0');
  });
});
