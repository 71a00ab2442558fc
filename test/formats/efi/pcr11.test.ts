// The PCR 11 values predicted for a UKI, checked against systemd-measure (systemd 252, the version
// of the stub in the UKI) given the same section contents as files: every bank it knows.
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { makeUki, planUki } from '../../../src/formats/efi/uki.js';
import { ukiMeasure } from '../../../src/formats/efi/uki-sign.js';
import { measuredOrder, pcr11Json, PCR_BANKS, stubVersion } from '../../../src/formats/efi/pcr11.js';
import type { Arch } from '../../../src/arch.js';
import { debianKernel, debianPackage } from '../../helpers/debian-kernel.js';
import { tempDir } from '../helpers.js';

const dir = tempDir('osbuild-pcr11-');
const MEASURE = '/usr/lib/systemd/systemd-measure';

describe.each(['amd64', 'arm64'] as const)('PCR 11 of a %s UKI', (arch: Arch) => {
  it('is what systemd-measure calculates from the same kernel, initrd, cmdline and os-release', async () => {
    const stub = await readFile(join(await debianPackage(arch, 'systemd-boot-efi'), 'usr/lib/systemd/boot/efi', arch === 'amd64' ? 'linuxx64.efi.stub' : 'linuxaa64.efi.stub'));
    expect(stubVersion(stub)).toBe(252);
    const kernel = (await debianKernel(arch)).vmlinuz;
    const initrd = join(dir, `initrd-${arch}`);
    await writeFile(initrd, Buffer.alloc(54_321, 7));
    const cmdline = join(dir, 'cmdline');
    const osrel = join(dir, 'osrel');
    const opts = { stub, cmdline: 'console=ttyS0 root=x', osRelease: 'ID=osbuild\nNAME="pcr test"\n', uname: '6.1.0-pcr' };
    await writeFile(cmdline, opts.cmdline);
    await writeFile(osrel, opts.osRelease);
    const sizes = { kernelSize: (await stat(kernel)).size, initrdSize: (await stat(initrd)).size };
    const measure = ukiMeasure(planUki({ ...opts, ...sizes }), stub);
    const uki = await makeUki({
      ...opts,
      kernel: { size: sizes.kernelSize, stream: createReadStream(kernel, { highWaterMark: 10_007 }) },
      initrd: { size: sizes.initrdSize, stream: createReadStream(initrd) },
    });
    for await (const c of uki.stream) measure.update(c);
    const ours = JSON.parse(pcr11Json(measure.values()));

    const args = ['calculate', `--linux=${kernel}`, `--initrd=${initrd}`, `--cmdline=${cmdline}`, `--osrel=${osrel}`, '--phase=', '--json=short'];
    for (const bank of PCR_BANKS) {
      const r = await execa(MEASURE, [...args, `--bank=${bank}`]);
      expect(ours[bank], bank).toEqual(JSON.parse(r.stdout)[bank]);
    }
    // systemd-measure's JSON, all banks at once
    expect(Object.keys(ours)).toEqual([...PCR_BANKS]);
  }, 120_000);
});

describe('measured sections', () => {
  it('a 252 stub ignores .uname; later stubs measure it after .dtb, as the UKI specification orders', () => {
    expect(measuredOrder(252)).not.toContain('.uname');
    const later = measuredOrder(254);
    expect(later.indexOf('.uname')).toBeGreaterThan(later.indexOf('.dtb'));
    expect(later.slice(0, 4)).toEqual(['.linux', '.osrel', '.cmdline', '.initrd']);
  });
});
