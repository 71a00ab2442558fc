// A build killed with SIGKILL leaves its partial output behind (nothing runs at a kill -9); the
// next build into the same directory removes it, whatever its output name, but never the
// partial files of a build that is still running: two builds into one directory both succeed.

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { makeImage } from '../helpers/oci-image.js';
import { ownerToken } from '../../src/oci/owner.js';

let work: string;
let cache: string;
let bp: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function buildArgs(out: string, name = 'big'): string[] {
  return [MAIN, 'build', bp, '-f', 'tar', '--arch', 'amd64', '--cache', cache, '-o', out, '--name', name, '-q'];
}

beforeAll(async () => {
  await ensureDist();
  work = await mkdtemp(join(tmpdir(), 'osbuild-killed-'));
  cache = join(work, 'cache');
  // 96 MiB of zeros: a small layer, a big output that takes a while to write
  const { layout } = await makeImage({ tag: 'big', layers: [{ script: 'head -c 100663296 /dev/zero > zeros.bin' }] });
  await execa('node', [MAIN, 'cache', 'import', '--cache', cache, '--ref', 'test/big:1', layout]);
  bp = join(work, 'big.yml');
  await writeFile(bp, 'init:\n  - test/big:1\n');
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('partial outputs', () => {
  it('the next build removes what a kill -9 left, keeps a live process\'s partial file, and succeeds', async () => {
    const out = join(work, 'out');
    // another output name, killed part way: the first build writes other.tar
    const child = execa('node', buildArgs(out, 'other'), { reject: false, env: { SOURCE_DATE_EPOCH: '0' } });
    let partial: string | undefined;
    for (let i = 0; i < 3000 && !partial; i++) {
      partial = (await readdir(out).catch(() => [] as string[])).find((n) => n.includes('.partial-'));
      if (!partial) await sleep(5);
    }
    expect(partial, 'the build never wrote a partial file').toBeDefined();
    child.kill('SIGKILL');
    const r = await child;
    expect(r.signal).toBe('SIGKILL');
    expect(await readdir(out)).toContain(partial);
    expect(partial).toMatch(/^other\.tar\.partial-\d+\.\d+\.\d+-[0-9a-f]+$/);

    // a partial file of this (live) test process, as a running build would hold
    const live = `big.tar.partial-${ownerToken()}-0123456789ab`;
    await writeFile(join(out, live), 'a build in progress');
    const next = await execa('node', buildArgs(out), { reject: false, env: { SOURCE_DATE_EPOCH: '0' } });
    expect(next.exitCode, next.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['big.spdx.json', 'big.tar', live].sort());
    expect(await readFile(join(out, live), 'utf8')).toBe('a build in progress');
  });

  it('two builds into one directory at once both succeed, with the same bytes', async () => {
    const out = join(work, 'two');
    const [a, b] = await Promise.all([0, 1].map(() => execa('node', buildArgs(out), { reject: false, env: { SOURCE_DATE_EPOCH: '0' } })));
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.exitCode, b.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['big.spdx.json', 'big.tar']);
    const single = join(work, 'one');
    await execa('node', buildArgs(single), { env: { SOURCE_DATE_EPOCH: '0' } });
    expect((await readFile(join(out, 'big.tar'))).equals(await readFile(join(single, 'big.tar')))).toBe(true);
  });
});
