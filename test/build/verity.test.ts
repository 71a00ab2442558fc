// A verified root (`root: {type: squashfs, verity: true}`) through the real build, read back with
// the tools a user would trust: veritysetup verifies the squashfs with the root hash the command
// line carries (kernel+squashfs's cmdline file, the UKI on the EFI disk, isolinux.cfg on the ISO),
// wherever the medium puts it (its own file, a GPT partition, a file on the ISO); unsquashfs still
// reads the squashfs with its tree appended; the small initramfs carries dmsetup and dm_verity.
// Two builds are byte-identical. Booting it is verity.boot.test.ts.

import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { componentCache, REPO } from '../helpers/components.js';
import { ensureDist, MAIN } from '../helpers/dist.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/verity/verity.yml'].map((f) => join(REPO, f));
const EPOCH = 1_700_000_000;
const FORMATS = ['kernel+squashfs', 'raw-efi', 'iso'];

let cacheDir: string;
let work: string;
let out: string;
let rootHash: string;
let marker: Record<string, string>;

const run = async (cmd: string, args: string[]) => (await execa(cmd, args, { stdin: 'ignore' })).stdout;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const verify = (data: string, offset: string) => execa('veritysetup', ['verify', data, data, rootHash, `--hash-offset=${offset}`], { reject: false, stdin: 'ignore' });

async function buildInto(dir: string, extra: Partial<Parameters<typeof build>[0]> = {}) {
  const o = join(work, dir);
  await build({ files: BLUEPRINT, arch: 'amd64', formats: FORMATS, outDir: o, cacheDir, sourceDateEpoch: EPOCH, ...extra });
  return o;
}

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/dm-verity']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-verity-'));
  out = await buildInto('a');
  rootHash = /osbuild\.verity=([0-9a-f]{64})$/.exec(await readFile(join(out, 'verity-cmdline'), 'utf8'))?.[1] ?? '';
  const text = await run('sh', ['-c', `zcat '${join(out, 'verity-initrd.img')}' | cpio -i --quiet --to-stdout etc/osbuild/root`]);
  marker = Object.fromEntries([...text.matchAll(/^(\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('kernel+squashfs with verity', () => {
  it('the command line pins the root hash, which veritysetup verifies the squashfs image against', async () => {
    expect(await readFile(join(out, 'verity-cmdline'), 'utf8')).toBe(`console=ttyS0 console=ttyAMA0 osbuild.poweroff=1 osbuild.verity=${rootHash}`);
    const img = join(out, 'verity-squashfs.img');
    expect(marker.verity_offset).toBe(String(Number(marker.verity_blocks) * 4096));
    const ok = await verify(img, marker.verity_offset);
    expect(ok.exitCode, ok.stderr).toBe(0);
    // the tree's superblock: the salt the initramfs names, the whole data covered
    const dump = await run('veritysetup', ['dump', img, `--hash-offset=${marker.verity_offset}`]);
    expect(dump).toMatch(new RegExp(`^Salt:\\s+${marker.verity_salt}$`, 'm'));
    expect(dump).toMatch(new RegExp(`^Data blocks:\\s+${marker.verity_blocks}$`, 'm'));
    const sb = (await readFile(img)).subarray(Number(marker.verity_offset), Number(marker.verity_offset) + 512);
    expect(marker.verity_superblock).toBe(sha256(sb));
  });

  it('the squashfs still reads as a squashfs with its tree appended (unsquashfs)', async () => {
    const img = join(out, 'verity-squashfs.img');
    const list = await run('unsquashfs', ['-lln', img]);
    expect(list).toMatch(/ squashfs-root\/lib\/osbuild\/root$/m);
    expect(marker.superblock).toBe(sha256((await readFile(img)).subarray(0, 96)));
  });

  it('the small initramfs carries dmsetup with its libraries and the dm-verity modules', async () => {
    const files = (await run('sh', ['-c', `zcat '${join(out, 'verity-initrd.img')}' | cpio -it --quiet`])).split('\n');
    expect(files).toEqual(expect.arrayContaining(['init', 'sbin/dmsetup', 'lib/x86_64-linux-gnu/libdevmapper.so.1.02.1', 'lib64/ld-linux-x86-64.so.2']));
    const mods = files.filter((f) => f.endsWith('.ko')).map((f) => f.slice(f.lastIndexOf('/') + 1));
    expect(mods).toEqual(expect.arrayContaining(['dm-verity.ko', 'dm-bufio.ko', 'dm-mod.ko', 'squashfs.ko']));
    expect(marker.modules).toMatch(/ dm_verity"$/);
    expect(files.some((f) => f.startsWith('containers'))).toBe(false);
  });
});

describe('boot media with verity', () => {
  it('raw-efi: the root partition is the squashfs with its tree, the UKI\'s command line pins its hash', async () => {
    const disk = join(out, 'verity-efi.img');
    const table = JSON.parse(await run('sfdisk', ['--json', disk])) as { partitiontable: { partitions: { start: number; size: number }[] } };
    const root = table.partitiontable.partitions[1];
    const part = join(work, 'part');
    await run('dd', [`if=${disk}`, `of=${part}`, 'bs=512', `skip=${root.start}`, `count=${root.size}`, 'status=none']);
    const ok = await verify(part, marker.verity_offset);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect((await readFile(disk)).includes(`osbuild.verity=${rootHash}`)).toBe(true);
  });

  it('iso: /osbuild/root.sqfs is the squashfs with its tree, isolinux.cfg pins its hash (isoinfo)', async () => {
    const iso = join(out, 'verity.iso');
    const file = (p: string) => execa('isoinfo', ['-R', '-i', iso, '-x', p], { encoding: 'buffer', stripFinalNewline: false, stdin: 'ignore' }).then((r) => Buffer.from(r.stdout as unknown as Uint8Array));
    expect(sha256(await file('/osbuild/root.sqfs'))).toBe(sha256(await readFile(join(out, 'verity-squashfs.img'))));
    expect((await file('/isolinux/isolinux.cfg')).toString()).toContain(`osbuild.verity=${rootHash}`);
  });

  it('two builds are byte-identical', async () => {
    const again = await buildInto('b');
    for (const f of await readdir(out)) {
      expect(sha256(await readFile(join(again, f))), f).toBe(sha256(await readFile(join(out, f))));
    }
  }, 300_000);
});

describe('errors', () => {
  it('verity without the squashfs layout is refused, saying what to set', async () => {
    await expect(buildInto('c', { formats: ['iso'], root: 'initramfs' })).rejects.toThrow(/root\.verity: .*layout is initramfs \(--root\).*type: squashfs, verity: true/);
    const f = join(work, 'initramfs-verity.yml');
    await writeFile(f, 'root:\n  type: initramfs\n  verity: true\n');
    await expect(build({ files: [...BLUEPRINT, f], arch: 'amd64', outDir: join(work, 'd'), cacheDir })).rejects.toThrow(/root\.verity: a dm-verity tree covers a squashfs root/);
    expect(await stat(join(work, 'd')).catch(() => undefined)).toBeUndefined();
  });

  it('the CLI: --verity is in --help with an example, and on an initramfs blueprint exits 1 saying what to add', async () => {
    await ensureDist();
    const help = await execa('node', [MAIN, 'build', '--help'], { stdin: 'ignore' });
    expect(help.stdout).toMatch(/--verity\s+a verified root/);
    expect(help.stdout).toContain('osbuild build --root squashfs --verity -f raw-efi blueprints/minimal.yml');
    const r = await execa('node', [MAIN, 'build', '--verity', '-o', join(work, 'e'), join(REPO, 'blueprints/minimal.yml')], { reject: false, stdin: 'ignore' });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/osbuild: error: root\.verity: .*layout is initramfs.*--root squashfs/);
  });
});
