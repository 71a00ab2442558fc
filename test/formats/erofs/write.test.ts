// The native EROFS writer, read back by erofs-utils: fsck.erofs checks every inode and extracts
// the tree, dump.erofs shows the superblock and each inode as the kernel's format defines them.
// The entries cover what a root holds: files across blocks and empty ones, a directory whose
// dirents take several blocks, symlinks (inline), hard links, devices, a fifo, file capabilities
// and user xattrs, ids above 65535, names that are not UTF-8.

import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry, EntryStream } from '../../../src/formats/entry.js';
import { writeErofs } from '../../../src/formats/erofs/write.js';

const EPOCH = 1_700_000_000;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'osbuild-erofs-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const e = (path: string, type: Entry['type'], more: Partial<Entry> = {}): Entry => ({ path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: EPOCH, size: 0, ...more });
const big = Buffer.alloc(3 * 4096 + 123, 7);
const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_bind_service, effective

async function* entries(): EntryStream {
  yield { entry: e('bin', 'dir') };
  yield { entry: e('bin/big', 'file', { size: big.length, mode: 0o755, xattrs: { 'security.capability': cap, 'user.note': Buffer.from('hi') } }), content: (async function* () { yield big.subarray(0, 5000); yield big.subarray(5000); })() };
  yield { entry: e('bin/empty', 'file') };
  yield { entry: e('bin/sh', 'symlink', { linkname: 'busybox' }) };
  yield { entry: e('bin/long', 'symlink', { linkname: 'x/'.repeat(900) + 'end' }) };
  yield { entry: e('bin/again', 'hardlink', { linkname: 'bin/big' }) };
  yield { entry: e('dev', 'dir') };
  yield { entry: e('dev/null', 'char', { mode: 0o666, devmajor: 1, devminor: 3 }) };
  yield { entry: e('dev/sda300', 'block', { mode: 0o660, devmajor: 8, devminor: 300 }) };
  yield { entry: e('dev/fifo', 'fifo') };
  yield { entry: e('home/user', 'dir', { uid: 100000, gid: 100001, mode: 0o700 }) };
  yield { entry: e('many', 'dir') };
  for (let i = 0; i < 400; i++) {
    const b = Buffer.from(`f${String(i).padStart(3, '0')}-${'n'.repeat(40)}`);
    yield { entry: e(`many/${b}`, 'file', { size: b.length }), content: (async function* () { yield b; })() };
  }
  yield { entry: e('raw\udcff', 'file', { size: 1 }), content: (async function* () { yield Buffer.from('r'); })() };
}

describe('writeErofs', () => {
  let img: string;
  let ex: string;
  beforeAll(async () => {
    img = join(work, 'a.erofs');
    ex = join(work, 'x');
    await writeErofs(entries(), img, { epoch: EPOCH, seed: 's' });
    await execa('fsck.erofs', [`--extract=${ex}`, img]);
  });

  it('fsck.erofs checks and extracts it; contents, links and names as written', async () => {
    expect(await readFile(join(ex, 'bin/big'))).toEqual(big);
    expect((await stat(join(ex, 'bin/empty'))).size).toBe(0);
    expect(await readlink(join(ex, 'bin/sh'))).toBe('busybox');
    expect(await readlink(join(ex, 'bin/long'))).toBe('x/'.repeat(900) + 'end');
    expect(await readFile(join(ex, 'bin/again'))).toEqual(big);
    const many = (await readdir(join(ex, 'many'))).sort();
    expect(many).toHaveLength(400);
    expect(await readFile(join(ex, 'many', many[399]), 'utf8')).toBe(many[399]);
    // the name with byte 0xff kept as that byte
    const root = await readdir(ex, { encoding: 'buffer' });
    expect(root.some((n) => n.equals(Buffer.from([0x72, 0x61, 0x77, 0xff])))).toBe(true);
  });

  it('dump.erofs: the superblock; inodes with their modes, ids, links, devices and xattrs', async () => {
    const sb = (await execa('dump.erofs', ['-s', img])).stdout;
    expect(sb).toMatch(/magic number:\s+0xE0F5E1E2/);
    expect(sb).toMatch(/root nid:\s+0/);
    const inode = async (p: string) => (await execa('dump.erofs', [`--path=${p}`, img])).stdout;
    const bigInfo = await inode('/bin/big');
    expect(bigInfo).toMatch(/Size: 12411/);
    expect(bigInfo).toMatch(/Links: 2/);
    expect(bigInfo).toMatch(/Access: 0755/);
    expect(bigInfo).toMatch(/Xattr size: [1-9]/);
    expect(await inode('/home/user')).toMatch(/Uid: 100000\s+Gid: 100001\s+Access: 0700/);
    expect(await inode('/dev/null')).toMatch(/char dev/);
    expect(await inode('/dev/fifo')).toMatch(/fifo/i);
    // fsck.erofs --extract made the node (as root, as the tests run): Linux's major/minor split
    const st = await stat(join(ex, 'dev/sda300'));
    expect(st.isBlockDevice()).toBe(true);
    expect([Math.floor(st.rdev / 256) % 4096, (st.rdev & 0xff) | ((st.rdev >> 12) & ~0xff)]).toEqual([8, 300]);
  });

  it('the same entries give the same bytes', async () => {
    const again = join(work, 'b.erofs');
    await writeErofs(entries(), again, { epoch: EPOCH, seed: 's' });
    expect((await readFile(again)).equals(await readFile(img))).toBe(true);
  });

  it('an xattr erofs cannot hold, or content that breaks its size: a clear error and no file', async () => {
    const bad = join(work, 'bad.erofs');
    async function* odd(): EntryStream {
      yield { entry: e('f', 'file', { xattrs: { 'system.posix_acl_access': Buffer.alloc(4) } }) };
    }
    await expect(writeErofs(odd(), bad, { epoch: EPOCH, seed: 's' })).rejects.toThrow(/"f": extended attribute system\.posix_acl_access is not user\., trusted\. or security\./);
    async function* short(): EntryStream {
      yield { entry: e('f', 'file', { size: 10 }), content: (async function* () { yield Buffer.from('abc'); })() };
    }
    await expect(writeErofs(short(), bad, { epoch: EPOCH, seed: 's' })).rejects.toMatchObject({ code: 'EEROFS', message: expect.stringContaining('gave 3 of its declared 10 bytes') });
    await expect(stat(bad)).rejects.toThrow();
  });
});
