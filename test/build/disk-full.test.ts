// Full disks, for real: small tmpfs mounts (this needs root, as CI runs; without the right to
// mount, the tests say so and skip) as the output directory and as the store. The error must
// name the path, its mount and filesystem and what to free, must not blame the input, and
// nothing partial may stay behind.

import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { makeImage } from '../helpers/oci-image.js';

let work: string;
const mounts: string[] = [];
let layout: string; // an image whose layer holds 3 MiB of random bytes
let layoutTar: string;

function tryMount(dir: string, size: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    mounts.push(dir);
    return undefined;
  } catch (e) {
    return String((e as { stderr?: Buffer }).stderr ?? e).trim();
  }
}

// probed at load time: a skip needs to be decided before the tests are collected
const probeDir = join(tmpdir(), `osbuild-mount-probe-${process.pid}`);
execFileSync('mkdir', ['-p', probeDir]);
const cannotMount = tryMount(probeDir, '64k');
if (!cannotMount) {
  execFileSync('umount', [probeDir]);
  mounts.pop();
}
execFileSync('rmdir', [probeDir]);

async function osbuild(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa('node', [MAIN, ...args], { cwd: work, reject: false, env: { SOURCE_DATE_EPOCH: '0', OSBUILD_DEBUG: '' } });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function mountedDir(name: string): Promise<string> {
  const d = join(work, name);
  await mkdir(d);
  const why = tryMount(d, '2m');
  if (why) throw new Error(`mount of ${d} failed after the probe succeeded: ${why}`);
  return d;
}

/** Every file under `dir`, recursively (relative paths). */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name).slice(dir.length + 1));
  return out.sort();
}

describe.skipIf(cannotMount !== undefined)(`a full disk${cannotMount ? ` (skipped: cannot mount a tmpfs here: ${cannotMount})` : ''}`, () => {
  beforeAll(async () => {
    await ensureDist();
    work = await mkdtemp(join(tmpdir(), 'osbuild-diskfull-'));
    ({ layout } = await makeImage({ tag: 'big', layers: [{ script: 'head -c 3145728 /dev/urandom > big.bin && echo small > small.txt' }] }));
    layoutTar = join(work, 'big-layout.tar');
    await execa('tar', ['-C', layout, '-cf', layoutTar, '.']);
  }, 120_000);

  afterAll(async () => {
    for (const m of mounts.reverse()) execFileSync('umount', [m]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('under -o: names the output dir, its tmpfs mount and free space, and leaves no partial file', async () => {
    const cache = join(work, 'cache');
    expect((await osbuild(['cache', 'import', '--cache', cache, '--ref', 'test/big:1', layout])).code).toBe(0);
    const bp = join(work, 'big.yml');
    await writeFile(bp, 'init:\n  - test/big:1\n');
    const out = await mountedDir('out');
    const r = await osbuild(['build', bp, '-f', 'tar', '--arch', 'amd64', '--cache', cache, '-o', out]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`no space left writing format tar (${join(out, 'big.tar')})`);
    expect(r.stderr).toContain(`${out} is on the tmpfs filesystem mounted at ${out}`);
    expect(r.stderr).toMatch(/\(size 2\.0 MiB, [\d.]+ [KM]iB free once the partial files were removed\); this needs more than the [\d.]+ [KM]iB written when the space ran out: free space there, or write the outputs elsewhere with -o DIR/);
    expect(r.stderr).not.toMatch(/ENOSPC: no space left on device, write$/m);
    expect(await readdir(out)).toEqual([]);
    // the same build elsewhere works: the store was not harmed
    const ok = await osbuild(['build', bp, '-f', 'tar', '--arch', 'amd64', '--cache', cache, '-o', join(work, 'out-ok')]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  for (const kind of ['a layout directory', 'a layout tar'] as const) {
    it(`importing ${kind} into a store on a full disk: blames the disk, not the input, and leaves no temp blob`, async () => {
      const cache = await mountedDir(kind === 'a layout tar' ? 'cache-tar' : 'cache-dir');
      const r = await osbuild(['cache', 'import', '--cache', cache, '--ref', 'test/big:1', kind === 'a layout tar' ? layoutTar : layout]);
      expect(r.code).toBe(4);
      const store = join(cache, 'store');
      expect(r.stderr).toContain(`into the store: ${store} is on the tmpfs filesystem mounted at ${cache}`);
      expect(r.stderr).toMatch(/\(size 2\.0 MiB, [\d.]+ [KM]iB free once the partial files were removed\); this needs 3\.0 MiB: free at least [\d.]+ [KM]iB there, or use another cache directory \(--cache DIR\)/);
      // nothing of the image: no temp file, no blob, no ref (only the store's own small files)
      expect(await readdir(join(store, '.tmp'))).toEqual([]);
      expect(await readdir(join(store, 'blobs', 'sha256'))).toEqual([]);
      expect(JSON.parse(await readFile(join(store, 'index.json'), 'utf8')).manifests).toEqual([]);
      expect(await files(store)).toEqual(['index.json', 'oci-layout']);
    });
  }
});
