// streamOptimized VMDK writer: qemu-img reads it as a compressed streamOptimized disk holding the
// raw disk's bytes, check finds no errors, only grains with data are stored; deterministic.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeVmdk } from '../../../src/formats/vm/vmdk.js';
import { tempDir } from '../helpers.js';
import { coveringBlocks, dataRanges, makeRawDisk, MIB, qemuCompare, rawStream } from './raw-disk-fixture.js';

const dir = tempDir('osbuild-vmdk-');
const GRAIN = 64 * 1024;

describe('streamOptimized VMDK', () => {
  // 70 MiB + 1 sector: three grain tables (32 MiB each), a partial last grain
  const size = 70 * MIB + 512;
  const raw = join(dir, 'disk.raw');
  let extents: Array<[number, number]>;

  it('is read by qemu-img as the same disk; check is clean; zero grains are left out', async () => {
    extents = await makeRawDisk(raw, size, [
      [GRAIN - 10, 20],
      [5 * MIB, 300_000],
      [32 * MIB - 1000, 2000], // across grain tables
    ]);
    const out = join(dir, 'disk.vmdk');
    const r = await writeVmdk(rawStream(raw, size), out, { seed: 'd' });
    expect(r.size).toBe((await stat(out)).size);

    const { stdout } = await execa('qemu-img', ['info', '--output=json', '-f', 'vmdk', out]);
    const info = JSON.parse(stdout);
    expect(info['virtual-size']).toBe(size);
    expect(info['format-specific'].data['create-type']).toBe('streamOptimized');
    expect(info['format-specific'].data.extents[0].compressed).toBe(true);

    const check = await execa('qemu-img', ['check', '-f', 'vmdk', out]);
    expect(check.stdout).toMatch(/No errors were found/);
    await qemuCompare(raw, out, 'vmdk');
    expect(await dataRanges(out, 'vmdk')).toEqual(coveringBlocks(extents, GRAIN, size));
    // pseudo-random data does not compress: the file is about the data's size, not the disk's
    expect(r.size).toBeLessThan(2 * MIB);
  });

  it('converts back to the raw disk with qemu-img', async () => {
    const back = join(dir, 'back.raw');
    await execa('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', join(dir, 'disk.vmdk'), back]);
    expect((await readFile(back)).equals(await readFile(raw))).toBe(true);
  });

  it('is deterministic, and the seed sets the CID', async () => {
    const a = join(dir, 'a.vmdk');
    const b = join(dir, 'b.vmdk');
    const c = join(dir, 'c.vmdk');
    await writeVmdk(rawStream(raw, size), a, { seed: 's' });
    await writeVmdk(rawStream(raw, size), b, { seed: 's' });
    await writeVmdk(rawStream(raw, size), c, { seed: 't' });
    const [ba, bb, bc] = await Promise.all([readFile(a), readFile(b), readFile(c)]);
    expect(ba.equals(bb)).toBe(true);
    expect(ba.equals(bc)).toBe(false);
    const cid = (x: Buffer) => /CID=([0-9a-f]{8})/.exec(x.subarray(512, 2048).toString('latin1'))?.[1];
    expect(cid(ba)).not.toBe(cid(bc));
  });

  it('refuses a size that is not whole sectors', async () => {
    await expect(writeVmdk(rawStream(raw, size - 1), join(dir, 'odd.vmdk'), { seed: 'x' })).rejects.toMatchObject({ code: 'EDISKSIZE' });
  });
});
