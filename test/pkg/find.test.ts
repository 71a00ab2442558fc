import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findComponent } from '../../src/pkg/find.js';

async function components(specs: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'osbuild-find-'));
  for (const [name, text] of Object.entries(specs)) {
    await mkdir(join(root, name));
    await writeFile(join(root, name, 'build.yml'), text);
  }
  return root;
}

describe('findComponent', () => {
  it('finds the folder that builds a reference, docker-normalized', async () => {
    const root = await components({ a: 'image: osbuild/a\ntag: "1.0"\n', b: 'image: osbuild/b\ntag: "2"\n' });
    expect(await findComponent('docker.io/osbuild/b:2', [root])).toBe(join(root, 'b'));
    expect(await findComponent('osbuild/a:1.0', [root])).toBe(join(root, 'a'));
    expect(await findComponent('osbuild/a:9', [root])).toBeUndefined();
  });

  it('names invalid specs, located, when nothing matches: one of them may be the one meant', async () => {
    const root = await components({ ok: 'image: osbuild/ok\ntag: "1"\n', bad: 'image: osbuild/bad\ntag: "1"\nfiles:\n  - {path: /x, contents: y, mode: 0755}\n' });
    await expect(findComponent('osbuild/bad:1', [root])).rejects.toThrow(/bad\/build\.yml:4:\d+: .*mode/);
    // a valid match is still found despite a broken neighbour
    expect(await findComponent('osbuild/ok:1', [root])).toBe(join(root, 'ok'));
  });
});
