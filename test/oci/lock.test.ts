import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/oci/errors.js';
import { withLock } from '../../src/oci/lock.js';
import { Store } from '../../src/oci/store.js';
import { MediaType } from '../../src/oci/types.js';
import { compileOciForChildren, removeDir, tempDir } from './helpers.js';

let root: string;
beforeAll(async () => {
  root = await tempDir();
});
afterAll(async () => removeDir(root));

async function deadPid(): Promise<number> {
  const child = execa('node', ['-e', '']);
  const pid = child.pid!;
  await child;
  return pid;
}

describe('withLock', () => {
  it('serializes critical sections within a process', async () => {
    const lock = join(root, 'a.lock');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withLock(lock, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 2));
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    await expect(stat(lock)).rejects.toThrow();
  });

  it('breaks a lock whose holder died', async () => {
    const lock = join(root, 'b.lock');
    await writeFile(lock, `${await deadPid()} ${Date.now()} dead`);
    expect(await withLock(lock, async () => 'ran', { timeoutMs: 5000 })).toBe('ran');
  });

  it('breaks a lock held implausibly long, even by a live pid (pid reuse)', async () => {
    const lock = join(root, 'c.lock');
    await writeFile(lock, `${process.pid} 0 old`);
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    expect(await withLock(lock, async () => 'ran', { timeoutMs: 5000, staleMs: 60_000 })).toBe('ran');
  });

  it('waits for a live holder and gives up with a message naming the lock', async () => {
    const lock = join(root, 'd.lock');
    await writeFile(lock, `${process.pid} ${Date.now()} live`);
    const err = await withLock(lock, async () => 'ran', { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('ELOCKED');
    expect((err as Error).message).toContain(lock);
    // The holder's lock is untouched.
    expect(await readFile(lock, 'utf8')).toContain('live');
  });
});

describe('concurrent processes', () => {
  it('4 processes tagging 20 refs each lose no tag', async () => {
    const { dir, storeModule } = await compileOciForChildren();
    try {
      const storeDir = join(root, 'shared-store');
      const store = await Store.open(storeDir);
      const desc = await store.putJSON({ schemaVersion: 2, manifests: [] }, MediaType.ociIndex);
      // Each child opens the same store and tags as fast as it can.
      const child = `
        const { Store } = await import(process.argv[1]);
        const [, , storeDir, who, digest, size] = process.argv;
        const store = await Store.open(storeDir);
        const desc = { mediaType: '${MediaType.ociIndex}', digest, size: Number(size) };
        for (let i = 0; i < 20; i++) await store.tag('localhost:5000/p' + who + '/img:t' + i, desc);
      `;
      await Promise.all(
        [0, 1, 2, 3].map((who) =>
          execa('node', ['--input-type=module', '-e', child, storeModule, storeDir, String(who), desc.digest, String(desc.size)]),
        ),
      );
      const refs = (await store.list()).map((e) => e.ref);
      expect(refs).toHaveLength(80);
      for (const who of [0, 1, 2, 3]) for (let i = 0; i < 20; i++) expect(refs).toContain(`localhost:5000/p${who}/img:t${i}`);
      await expect(stat(join(storeDir, '.index.lock'))).rejects.toThrow();
    } finally {
      await removeDir(dir);
    }
  });
});
