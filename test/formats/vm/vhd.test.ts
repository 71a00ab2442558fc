// VHD writer: qemu-img reads what we write (format vpc, virtual size, the same bytes as the raw
// disk), stores data only where the raw disk has some (dynamic), and two builds are identical.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { vhdFixedStream, vhdGeometry, writeVhd, VHD_BLOCK_SIZE } from '../../../src/formats/vm/vhd.js';
import { DiskImageError } from '../../../src/formats/vm/raw-blocks.js';
import { tempDir } from '../helpers.js';
import { coveringBlocks, dataRanges, makeRawDisk, MIB, qemuCompare, qemuInfo, rawStream } from './raw-disk-fixture.js';

const dir = tempDir('osbuild-vhd-');

describe('dynamic VHD', () => {
  // 41 MiB + 3 sectors: the last 2 MiB block is partial
  const size = 41 * MIB + 1536;
  const raw = join(dir, 'dyn.raw');
  let extents: Array<[number, number]>;

  it('is read by qemu-img as the same disk, with zero blocks left out', async () => {
    extents = await makeRawDisk(raw, size, [
      [3 * MIB - 1000, 5000], // across a block boundary
      [9 * MIB + 777, 1], // one byte in an otherwise empty block
      [20 * MIB, 4 * MIB], // two whole blocks
    ]);
    const out = join(dir, 'dyn.vhd');
    const r = await writeVhd(rawStream(raw, size), out, { type: 'dynamic', seed: 'disk-1', sourceDateEpoch: 1_700_000_000 });
    expect(r.size).toBe((await stat(out)).size);

    const info = await qemuInfo(out, 'vpc');
    expect(info.format).toBe('vpc');
    expect(info['virtual-size']).toBe(size);
    await qemuCompare(raw, out, 'vpc');
    expect(await dataRanges(out, 'vpc')).toEqual(coveringBlocks(extents, VHD_BLOCK_SIZE, size));
    // 6 of 21 blocks stored: far smaller than the disk
    expect(r.size).toBeLessThan(8 * (VHD_BLOCK_SIZE + 512) + 4096);
  });

  it('has valid checksums (qemu warns on a bad footer checksum)', async () => {
    const out = join(dir, 'dyn.vhd');
    const { stderr } = await execa('qemu-img', ['info', '-f', 'vpc', out]);
    expect(stderr).toBe('');
  });

  it('is deterministic, and the seed sets the unique id', async () => {
    const a = join(dir, 'a.vhd');
    const b = join(dir, 'b.vhd');
    const c = join(dir, 'c.vhd');
    await writeVhd(rawStream(raw, size), a, { type: 'dynamic', seed: 's', sourceDateEpoch: 1_700_000_000 });
    await writeVhd(rawStream(raw, size), b, { type: 'dynamic', seed: 's', sourceDateEpoch: 1_700_000_000 });
    await writeVhd(rawStream(raw, size), c, { type: 'dynamic', seed: 't', sourceDateEpoch: 1_700_000_000 });
    const [ba, bb, bc] = await Promise.all([readFile(a), readFile(b), readFile(c)]);
    expect(ba.equals(bb)).toBe(true);
    expect(ba.equals(bc)).toBe(false);
    expect(ba.length).toBe(bc.length);
  });

  it('takes the timestamp from its sourceDateEpoch option (seconds since 2000 in the footer), never from the environment', async () => {
    const out = join(dir, 'ts.vhd');
    const bare = join(dir, 'ts-bare.vhd');
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '1500000000'; // the caller resolves the default (src/defaults.ts), not the writer
    try {
      await writeVhd(rawStream(raw, size), out, { type: 'dynamic', seed: 's', sourceDateEpoch: 1_000_000_000 });
      await writeVhd(rawStream(raw, size), bare, { type: 'dynamic', seed: 's' });
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
    const f = await readFile(out);
    expect(f.subarray(0, 8).toString('latin1')).toBe('conectix');
    expect(f.readUInt32BE(24)).toBe(1_000_000_000 - 946_684_800);
    expect(f.subarray(0, 512).equals(f.subarray(f.length - 512))).toBe(true);
    expect((await readFile(bare)).readUInt32BE(24)).toBe(0); // default 0: before 2000, clamped
  });

  it('stores nothing for an all-zero disk', async () => {
    const zraw = join(dir, 'zero.raw');
    await execa('truncate', ['-s', `${8 * MIB}`, zraw]);
    const out = join(dir, 'zero.vhd');
    await writeVhd(rawStream(zraw, 8 * MIB), out, { type: 'dynamic', seed: 'z' });
    await qemuCompare(zraw, out, 'vpc');
    expect(await dataRanges(out, 'vpc')).toEqual([]);
  });
});

describe('fixed VHD', () => {
  it('is the raw disk and a footer, read by qemu-img as the same disk', async () => {
    const size = 12 * MIB;
    const raw = join(dir, 'fixed.raw');
    await makeRawDisk(raw, size, [[5 * MIB + 3, 70_000]]);
    const out = join(dir, 'fixed.vhd');
    const r = await writeVhd(rawStream(raw, size), out, { type: 'fixed', seed: 'f', sourceDateEpoch: 0 });
    expect(r.size).toBe(size + 512);
    const info = await qemuInfo(out, 'vpc');
    expect(info['virtual-size']).toBe(size);
    await qemuCompare(raw, out, 'vpc');
    const bytes = await readFile(out);
    expect(bytes.subarray(0, size).equals(await readFile(raw))).toBe(true);

    // the streaming form gives the same bytes
    const s = vhdFixedStream(rawStream(raw, size), { seed: 'f', sourceDateEpoch: 0 });
    const parts: Buffer[] = [];
    for await (const c of s.stream) parts.push(Buffer.from(c));
    expect(s.size).toBe(size + 512);
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
  });

  it('refuses a size that is not a whole number of MiB (Azure), saying what to do', async () => {
    const raw = join(dir, 'odd.raw');
    await execa('truncate', ['-s', `${MIB + 512}`, raw]);
    await expect(writeVhd(rawStream(raw, MIB + 512), join(dir, 'odd.vhd'), { type: 'fixed', seed: 'x' })).rejects.toThrow(
      /not a whole number of MiB.*make the disk 2 MiB/,
    );
    expect(() => vhdFixedStream(rawStream(raw, MIB + 512), { seed: 'x' })).toThrow(DiskImageError);
  });

  it('fails when the stream is shorter than declared', async () => {
    const raw = join(dir, 'short.raw');
    await execa('truncate', ['-s', `${2 * MIB}`, raw]);
    await expect(writeVhd(rawStream(raw, 4 * MIB), join(dir, 'short.vhd'), { type: 'dynamic', seed: 'x' })).rejects.toMatchObject({
      code: 'EDISKSTREAM',
    });
  });
});

describe('CHS geometry', () => {
  it('matches what qemu-img writes for a vpc image of the same size', async () => {
    // qemu computes the spec's geometry for its own images (creator "qemu")
    for (const mib of [1, 40, 127, 500, 1023, 4096, 40_000]) {
      const out = join(dir, `geo-${mib}.vhd`);
      await execa('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic', out, `${mib}M`]);
      const f = (await readFile(out)).subarray(0, 512); // the footer's copy at the start
      const g = vhdGeometry(Number(f.readBigUInt64BE(48)));
      expect({ c: f.readUInt16BE(56), h: f[58], s: f[59] }, `${mib} MiB`).toEqual({ c: g.cylinders, h: g.heads, s: g.sectors });
    }
  });
});
