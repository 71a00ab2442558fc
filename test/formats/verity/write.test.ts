// The dm-verity tree osbuild appends, checked by cryptsetup's veritysetup (the tool whose format
// the kernel reads): `veritysetup verify` accepts it and rejects it after one byte of the data or
// of the tree changes; `veritysetup format` with the same salt and uuid gives the same root hash
// and the same bytes, for trees of one, two and three levels and for data that is not a whole
// number of blocks. A real squashfs (sqfstar) with its tree appended still reads with unsquashfs.

import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendVerityTree } from '../../../src/formats/verity/write.js';
import { VerityError } from '../../../src/formats/verity/errors.js';
import { verityGeometry } from '../../../src/formats/verity/tree.js';
import { writeSquashfs } from '../../../src/formats/squashfs/write.js';
import type { EntryStream } from '../../../src/formats/entry.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'osbuild-verity-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const SALT = Buffer.from('6f7362756964207665726974792074657374207361 6c74212121212121212121'.replace(/ /g, ''), 'hex');

async function veritysetup(args: string[]) {
  return execa('veritysetup', args, { reject: false, stdin: 'ignore' });
}

/** A data file of `bytes` bytes: random head and tail, a pattern between (fast for big files). */
async function dataFile(name: string, bytes: number): Promise<string> {
  const p = join(work, name);
  const fh = await open(p, 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  for (let at = 0; at < bytes; at += chunk.length) {
    const n = Math.min(chunk.length, bytes - at);
    chunk.writeUInt32LE(at >>> 12, 0); // no two chunks alike
    await fh.write(chunk, 0, n, at);
  }
  await fh.write(randomBytes(Math.min(bytes, 4000)), 0, Math.min(bytes, 4000), 0);
  await fh.close();
  return p;
}

async function flip(path: string, at: number): Promise<void> {
  const fh = await open(path, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] ^= 0x01;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

describe('dm-verity tree: veritysetup is the oracle', () => {
  // blocks: 1 (no tree levels), 2 and 128 (one level), 129 (two), 16385 (three); 5000 bytes: a short last block
  for (const bytes of [4096, 8192, 128 * 4096, 129 * 4096, 5000, 16385 * 4096]) {
    it(`${bytes} bytes (${Math.ceil(bytes / 4096)} blocks, ${verityGeometry(Math.ceil(bytes / 4096)).levelBlocks.length} levels)`, async () => {
      const img = await dataFile(`d${bytes}`, bytes);
      const plain = join(work, `p${bytes}`);
      await copyFile(img, plain);
      const v = await appendVerityTree(img, { salt: SALT });
      const blocks = Math.ceil(bytes / 4096);
      expect(v.dataBlocks).toBe(blocks);
      expect(v.hashOffset).toBe(blocks * 4096);
      expect((await stat(img)).size).toBe(v.hashOffset + v.treeBytes);

      const ok = await veritysetup(['verify', img, img, v.rootHash, `--hash-offset=${v.hashOffset}`]);
      expect(ok.exitCode, ok.stderr).toBe(0);

      // veritysetup's own tree over the same (padded) data, salt and uuid, in a file of its own
      await truncate(plain, blocks * 4096);
      const hash = join(work, `h${bytes}`);
      const f = await veritysetup(['format', plain, hash, `--salt=${v.salt}`, `--uuid=${v.uuid}`]);
      expect(f.exitCode, f.stderr).toBe(0);
      expect(/Root hash:\s+([0-9a-f]{64})/.exec(f.stdout)?.[1]).toBe(v.rootHash);
      const ours = (await readFile(img)).subarray(v.hashOffset);
      expect(ours.equals(await readFile(hash))).toBe(true);

      // one bit of the data, then of the tree's lowest level
      await flip(img, Math.min(bytes - 1, 4096 + 17));
      const bad = await veritysetup(['verify', img, img, v.rootHash, `--hash-offset=${v.hashOffset}`]);
      expect(bad.exitCode).not.toBe(0);
      await flip(img, Math.min(bytes - 1, 4096 + 17));
      if (blocks > 1) {
        await flip(img, v.hashOffset + v.treeBytes - 4096 + 5);
        const badTree = await veritysetup(['verify', img, img, v.rootHash, `--hash-offset=${v.hashOffset}`]);
        expect(badTree.exitCode).not.toBe(0);
      }
      await rm(img);
      await rm(plain);
      await rm(hash);
    }, 120_000);
  }

  it('the same data and salt give the same bytes; another salt another root', async () => {
    const a = await dataFile('same-a', 300 * 4096);
    const b = join(work, 'same-b');
    const c = join(work, 'same-c');
    await copyFile(a, b);
    await copyFile(a, c);
    const va = await appendVerityTree(a, { salt: SALT });
    const vb = await appendVerityTree(b, { salt: SALT });
    const vc = await appendVerityTree(c, { salt: Buffer.from('01', 'hex') });
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
    expect(vb).toEqual(va);
    expect(vc.rootHash).not.toBe(va.rootHash);
    expect(vc.uuid).not.toBe(va.uuid);
  });

  it('an empty file is refused, naming it', async () => {
    const p = join(work, 'empty');
    await writeFile(p, '');
    await expect(appendVerityTree(p, { salt: SALT })).rejects.toThrow(VerityError);
    await expect(appendVerityTree(p, { salt: SALT })).rejects.toThrow(/empty/);
  });

  it('a squashfs with its tree appended: unsquashfs reads it, veritysetup verifies it', async () => {
    const img = join(work, 'root.sqfs');
    async function* entries(): EntryStream {
      yield { entry: { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 } };
      const data = Buffer.from('hello from a verified root\n');
      yield { entry: { path: 'etc/motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: data.length }, content: (async function* () { yield data; })() };
    }
    const sq = await writeSquashfs(entries(), img, { epoch: 0 });
    const v = await appendVerityTree(img, { salt: SALT });
    expect(v.hashOffset).toBe(Math.ceil(sq.size / 4096) * 4096);
    const ok = await veritysetup(['verify', img, img, v.rootHash, `--hash-offset=${v.hashOffset}`]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const cat = await execa('unsquashfs', ['-cat', img, 'etc/motd']);
    expect(cat.stdout).toBe('hello from a verified root');
    const dump = await veritysetup(['dump', img, `--hash-offset=${v.hashOffset}`]);
    expect(dump.stdout).toMatch(new RegExp(`Salt:\\s+${v.salt}`));
    expect(dump.stdout).toMatch(new RegExp(`Data blocks:\\s+${v.dataBlocks}\\b`));
  });
});
