// The direct-boot kernel through the segment cache: a later build copies the kernel file it kept
// instead of reading the kernel layer (a warm build whose store lost the layer writes the same
// bytes), a damaged copy is never used, and each arch's bytes (arm64's gzip'd Image) have their
// own entry. gzip reads the arm64 file back.

import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/oci/store.js';
import { importLayout } from '../../src/oci/import.js';
import { directBootKernel } from '../../src/build/streams.js';
import { SegmentCache } from '../../src/build/segment-cache.js';
import type { SystemPlan } from '../../src/plan/system.js';
import type { Arch } from '../../src/arch.js';
import { makeImage } from '../helpers/oci-image.js';

let work: string;
let store: Store;
const plans: Partial<Record<Arch, SystemPlan>> = {};

// directBootKernel reads the plan's arch and kernel only
async function kernelPlan(arch: Arch, ref: string): Promise<SystemPlan> {
  const img = await store.resolveImage(ref, arch);
  return { arch, kernel: { layer: img.layers[0], binary: 'kernel', size: 0 } } as unknown as SystemPlan;
}

async function read(s: Store, plan: SystemPlan, cache?: SegmentCache, keys?: string[]): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of directBootKernel(s, plan, cache && { cache, onKey: (k) => keys?.push(k) })) chunks.push(c);
  return Buffer.concat(chunks);
}

const bins = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.bin')).sort();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'osbuild-kernel-cache-'));
  store = await Store.open(join(work, 'store'));
  // a stand-in kernel before a modules tarball, as kernel images lay them out; arm64's carries
  // the Image magic at 0x38, so it is gzip'd for direct boot
  const layer = (magic: string) => ({
    script: `head -c 3000000 /dev/urandom > kernel; printf '${magic}' | dd of=kernel bs=1 seek=56 conv=notrunc status=none; head -c 2000000 /dev/urandom > kernel.tar`,
  });
  let layout = (await makeImage({ tag: 'amd64', arch: 'amd64', layers: [layer('none')] })).layout;
  layout = (await makeImage({ layout, tag: 'arm64', arch: 'arm64', layers: [layer('ARMd')] })).layout;
  await importLayout(store, layout, { ref: 'test/kernel' });
  plans.amd64 = await kernelPlan('amd64', 'docker.io/test/kernel:amd64');
  plans.arm64 = await kernelPlan('arm64', 'docker.io/test/kernel:arm64');
});

describe('the direct-boot kernel in the segment cache', () => {
  it('a warm build copies the kernel it kept, reading no layer, with the same bytes', async () => {
    const dir = join(work, 'cache1');
    const plain = await read(store, plans.amd64!);
    const keys: string[] = [];
    expect((await read(store, plans.amd64!, new SegmentCache(dir), keys)).equals(plain)).toBe(true);
    expect(await bins(dir)).toEqual([`${keys[0]}.bin`]);
    expect((await readFile(join(dir, `${keys[0]}.bin`))).equals(plain)).toBe(true);

    // the layer is gone from the store: a build that read it would fail
    const empty = await Store.open(join(work, 'store-empty'));
    await expect(read(empty, plans.amd64!)).rejects.toThrow();
    const again: string[] = [];
    expect((await read(empty, plans.amd64!, new SegmentCache(dir), again)).equals(plain)).toBe(true);
    expect(again).toEqual(keys);
  });

  it('a damaged kernel in the cache is not used: the kernel is extracted again and kept sound', async () => {
    const dir = join(work, 'cache2');
    const plain = await read(store, plans.amd64!);
    const keys: string[] = [];
    await read(store, plans.amd64!, new SegmentCache(dir), keys);
    const f = join(dir, `${keys[0]}.bin`);
    const data = await readFile(f);
    data[data.length >> 1] ^= 0xff;
    await writeFile(f, data);
    expect((await read(store, plans.amd64!, new SegmentCache(dir))).equals(plain)).toBe(true);
    expect((await readFile(f)).equals(plain)).toBe(true);
    // and with the layer gone, the repaired copy serves
    expect((await read(await Store.open(join(work, 'store-empty2')), plans.amd64!, new SegmentCache(dir))).equals(plain)).toBe(true);
  });

  it('each arch has its own entry: arm64 keeps the gzip\'d Image that gzip reads back', async () => {
    const dir = join(work, 'cache3');
    const amd: string[] = [];
    const arm: string[] = [];
    await read(store, plans.amd64!, new SegmentCache(dir), amd);
    const cold = await read(store, plans.arm64!, new SegmentCache(dir), arm);
    expect(arm[0]).not.toBe(amd[0]);
    expect(await bins(dir)).toHaveLength(2);
    const warm = await read(store, plans.arm64!, new SegmentCache(dir));
    expect(warm.equals(cold)).toBe(true);
    expect(warm.equals(await read(store, plans.arm64!))).toBe(true);
    const f = join(work, 'Image.gz');
    await writeFile(f, warm);
    const raw = Buffer.from((await execa('gzip', ['-dc', f], { encoding: 'buffer', stripFinalNewline: false })).stdout);
    expect(raw.subarray(0x38, 0x3c).toString('latin1')).toBe('ARMd');
    expect(raw.length).toBe(3000000);
  });

  it('the segment cache\'s trim treats a kept kernel as any other entry', async () => {
    const dir = join(work, 'cache4');
    const keys: string[] = [];
    await read(store, plans.amd64!, new SegmentCache(dir), keys);
    await new SegmentCache(dir, 1).trim(new Set(keys));
    expect(await bins(dir)).toHaveLength(1);
    await new SegmentCache(dir, 1).trim();
    expect(await readdir(dir)).toEqual([]);
  });
});
