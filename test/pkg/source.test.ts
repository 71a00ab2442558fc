import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { componentSourceDigest } from '../../src/pkg/source.js';

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

/** A component folder with more files than are read at once, a subfolder and a symlink. */
async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'osbuild-source-'));
  roots.push(dir);
  await writeFile(join(dir, 'build.yml'), 'image: osbuild/x\ntag: "1"\n');
  for (let i = 0; i < 20; i++) await writeFile(join(dir, `f${String(i).padStart(2, '0')}`), `file ${i}\n`);
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'inner'), 'inner\n');
  await symlink('f00', join(dir, 'link'));
  return dir;
}

describe('componentSourceDigest', () => {
  it('is the same for the same folder content wherever it is, and changes with any file, name or link', async () => {
    const a = await folder();
    const b = await folder();
    const base = await componentSourceDigest(a);
    expect(base).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await componentSourceDigest(b)).toBe(base);
    await writeFile(join(b, 'f19'), 'file 19, edited\n'); // past the files read at once
    const edited = await componentSourceDigest(b);
    expect(edited).not.toBe(base);
    await writeFile(join(b, 'f19'), 'file 19\n');
    expect(await componentSourceDigest(b)).toBe(base);
    await writeFile(join(b, 'sub', 'inner'), 'other\n');
    expect(await componentSourceDigest(b)).not.toBe(base);
    await writeFile(join(b, 'sub', 'inner'), 'inner\n');
    await rm(join(b, 'link'));
    await symlink('f01', join(b, 'link'));
    expect(await componentSourceDigest(b)).not.toBe(base);
    // the same bytes under swapped names are another folder
    await rm(join(b, 'link'));
    await symlink('f00', join(b, 'link'));
    await writeFile(join(b, 'f03'), 'file 4\n');
    await writeFile(join(b, 'f04'), 'file 3\n');
    expect(await componentSourceDigest(b)).not.toBe(base);
  });
});
