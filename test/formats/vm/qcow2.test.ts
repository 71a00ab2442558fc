// qcow2 writer: qemu-img check finds no errors or leaks, qemu-img compare finds the raw disk's
// bytes, only clusters holding data are allocated, both versions, and two builds are identical.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { refcountClusters, writeQcow2 } from '../../../src/formats/vm/qcow2.js';
import { tempDir } from '../helpers.js';
import { coveringBlocks, dataRanges, makeRawDisk, MIB, qemuCompare, qemuInfo, rawStream } from './raw-disk-fixture.js';

const dir = tempDir('osbuild-qcow2-');
const CLUSTER = 64 * 1024;

interface Check {
  'check-errors': number;
  leaks?: number;
  corruptions?: number;
  'image-end-offset'?: number;
  'allocated-clusters'?: number;
}

async function qemuCheck(path: string): Promise<Check> {
  const { stdout } = await execa('qemu-img', ['check', '--output=json', '-f', 'qcow2', path]);
  return JSON.parse(stdout) as Check;
}

describe('qcow2', () => {
  // 700 MiB + 2 sectors: two L2 tables (512 MiB each), a partial last cluster
  const size = 700 * MIB + 1024;
  const raw = join(dir, 'disk.raw');
  let extents: Array<[number, number]>;

  for (const version of [3, 2] as const) {
    it(`v${version}: qemu-img check is clean and compare finds the raw disk's bytes`, async () => {
      extents ??= await makeRawDisk(raw, size, [
        [CLUSTER - 100, 300], // across a cluster boundary
        [3 * MIB + 12_345, 1], // one byte
        [511 * MIB, 3 * MIB], // across the first L2 table's end
        [size - 20_000, 19_000], // in the last, partial cluster
      ]);
      const out = join(dir, `v${version}.qcow2`);
      const r = await writeQcow2(rawStream(raw, size), out, { version });
      expect(r.size).toBe((await stat(out)).size);

      const check = await qemuCheck(out);
      expect(check['check-errors']).toBe(0);
      expect(check.leaks ?? 0).toBe(0);
      expect(check.corruptions ?? 0).toBe(0);
      expect(check['image-end-offset']).toBe(r.size);

      const info = await qemuInfo(out, 'qcow2');
      expect(info.format).toBe('qcow2');
      expect(info['virtual-size']).toBe(size);
      const { stdout } = await execa('qemu-img', ['info', '--output=json', out]);
      expect(JSON.parse(stdout)['format-specific'].data.compat).toBe(version === 3 ? '1.1' : '0.10');

      await qemuCompare(raw, out, 'qcow2');
      expect(await dataRanges(out, 'qcow2')).toEqual(coveringBlocks(extents, CLUSTER, size));
    });
  }

  it('is deterministic', async () => {
    const a = join(dir, 'a.qcow2');
    const b = join(dir, 'b.qcow2');
    await writeQcow2(rawStream(raw, size), a);
    await writeQcow2(rawStream(raw, size), b);
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });

  it('allocates nothing for an all-zero disk', async () => {
    const zraw = join(dir, 'zero.raw');
    await execa('truncate', ['-s', `${5 * MIB}`, zraw]);
    const out = join(dir, 'zero.qcow2');
    await writeQcow2(rawStream(zraw, 5 * MIB), out);
    expect((await qemuCheck(out))['check-errors']).toBe(0);
    await qemuCompare(zraw, out, 'qcow2');
    expect(await dataRanges(out, 'qcow2')).toEqual([]);
  });

  it('sizes the refcount structures to cover themselves', () => {
    // one 16-bit refcount block covers 32768 clusters
    expect(refcountClusters(10)).toEqual({ blocks: 1, tableClusters: 1 });
    expect(refcountClusters(32766)).toEqual({ blocks: 1, tableClusters: 1 });
    expect(refcountClusters(32767)).toEqual({ blocks: 2, tableClusters: 1 });
  });

  it('fails when the stream is longer than declared', async () => {
    await expect(writeQcow2(rawStream(raw, 2 * MIB), join(dir, 'long.qcow2'))).rejects.toMatchObject({ code: 'EDISKSTREAM' });
  });
});
