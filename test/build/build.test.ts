// `osbuild build` end to end with the real components (Debian packages) of this checkout:
// outputs read back by real tools, bundles run by the host's runc, determinism, and failures
// that leave nothing behind.

import { cp, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { Store } from '../../src/oci/store.js';
import { componentCache, REPO } from '../helpers/components.js';
import { makeUcodeKernelImage } from '../helpers/oci-image.js';
import { importLayout } from '../../src/oci/import.js';

const minimal = join(REPO, 'blueprints/minimal.yml');
let cacheDir: string;
let store: Store;
let work: string;

beforeAll(async () => {
  ({ cacheDir, store } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-build-'));
}, 900_000);

async function cpioList(initrd: string): Promise<string[]> {
  return (await execa('sh', ['-c', `gzip -dc ${initrd} | cpio -it --quiet`])).stdout.split('\n');
}

describe('osbuild build', () => {
  it('writes kernel, initrd and cmdline that real tools read, with the init, runc and each container bundle', async () => {
    const out = join(work, 'a');
    const r = await build({ files: [minimal], formats: ['kernel+initrd', 'tar'], arch: 'amd64', outDir: out, cacheDir });
    expect(r.outputs.flatMap((o) => o.files.map((f) => f.path.slice(out.length + 1))).sort()).toEqual(
      ['minimal-cmdline', 'minimal-initrd.img', 'minimal-kernel', 'minimal.tar'],
    );
    expect((await execa('file', ['-b', join(out, 'minimal-kernel')])).stdout).toMatch(/Linux kernel x86 boot executable bzImage/);
    expect(await readFile(join(out, 'minimal-cmdline'), 'utf8')).toBe('console=ttyS0 console=ttyAMA0');
    await execa('gzip', ['-t', join(out, 'minimal-initrd.img')]);
    const names = await cpioList(join(out, 'minimal-initrd.img'));
    for (const p of ['init', 'bin/busybox', 'usr/bin/runc', 'containers/onboot/000-hello/config.json', 'containers/onboot/000-hello/rootfs/bin/busybox', 'containers/services/getty/config.json', 'containers/services/getty/rootfs/usr/bin/osbuild-getty']) {
      expect(names, p).toContain(p);
    }
    // modules: [] means no modules at all
    expect(names.some((n) => n.startsWith('lib/modules'))).toBe(false);
    // the tar output is the same tree plus boot/kernel and boot/cmdline
    const tarNames = (await execa('tar', ['-tf', join(out, 'minimal.tar')])).stdout.split('\n').map((n) => n.replace(/\/$/, ''));
    expect(tarNames.filter((n) => !n.startsWith('boot')).sort()).toEqual([...names].sort());
    expect(tarNames).toContain('boot/kernel');
  });

  it('the onboot bundle it writes runs under the host\'s runc', async () => {
    const out = join(work, 'runc');
    await build({ files: [minimal], formats: ['tar'], arch: 'amd64', outDir: out, cacheDir });
    const root = join(out, 'root');
    await execa('mkdir', ['-p', root]);
    await execa('tar', ['-C', root, '-xpf', join(out, 'minimal.tar')]);
    const id = `osbuild-test-${process.pid}`;
    try {
      const r = await execa('runc', ['run', '--bundle', join(root, 'containers/onboot/000-hello'), id], { reject: false, stdin: 'ignore' });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('hello from an onboot container');
      expect(r.exitCode).toBe(0);
    } finally {
      await execa('runc', ['delete', '-f', id], { reject: false });
    }
  });

  it('gives byte-identical outputs for the same blueprint and image digests', async () => {
    const a = join(work, 'det-a');
    const b = join(work, 'det-b');
    await build({ files: [minimal], formats: ['kernel+initrd', 'tar'], arch: 'arm64', outDir: a, cacheDir });
    await build({ files: [minimal], formats: ['kernel+initrd', 'tar'], arch: 'arm64', outDir: b, cacheDir });
    for (const f of await readdir(a)) expect((await readFile(join(a, f))).equals(await readFile(join(b, f))), f).toBe(true);
    // arm64 kernels come gzip'd, as LinuxKit's do (file -z looks inside)
    expect((await execa('file', ['-bz', join(a, 'minimal-kernel')])).stdout).toMatch(/Linux kernel ARM64 boot executable Image.*gzip compressed/);
  });

  it('selects kernel modules with their dependencies and lists them for the init', async () => {
    const bp = join(work, 'modules.yml');
    const text = (await readFile(minimal, 'utf8')).replace('modules: []', 'modules: [virtio_blk, squashfs, overlay]');
    await writeFile(bp, text);
    const out = join(work, 'mods');
    await build({ files: [bp], arch: 'amd64', outDir: out, cacheDir, name: 'mods' });
    const names = await cpioList(join(out, 'mods-initrd.img'));
    const kos = names.filter((n) => n.endsWith('.ko')).map((n) => n.slice(n.lastIndexOf('/') + 1)).sort();
    expect(kos).toEqual(expect.arrayContaining(['overlay.ko', 'squashfs.ko', 'virtio_blk.ko']));
    expect(names.some((n) => /lib\/modules\/[^/]+\/modules\.dep$/.test(n))).toBe(true);
    // each selected module's dependencies, by kmod's own reading of the shipped modules.dep
    const root = join(out, 'x');
    await execa('mkdir', ['-p', root]);
    await execa('sh', ['-c', `gzip -dc ${join(out, 'mods-initrd.img')} | cpio -idm --quiet`], { cwd: root });
    const kver = (await readdir(join(root, 'lib/modules')))[0];
    // kmod's depmod, run on the image's own modules, finds no dependency we left out
    const ours = await readFile(join(root, 'lib/modules', kver, 'modules.dep'), 'utf8');
    await execa('depmod', ['-b', root, kver]);
    const theirs = await readFile(join(root, 'lib/modules', kver, 'modules.dep'), 'utf8');
    const parse = (t: string) => Object.fromEntries(t.trim().split('\n').map((l) => { const [m, d] = l.split(':'); return [m, d.trim().split(/\s+/).filter(Boolean).sort()]; }));
    expect(parse(ours)).toEqual(parse(theirs));
    for (const m of ['virtio_blk', 'squashfs', 'overlay']) {
      const deps = await execa('modprobe', ['-d', root, '-S', kver, '--show-depends', m]);
      for (const line of deps.stdout.split('\n').filter((l) => l.startsWith('insmod'))) expect(names).toContain(line.split(' ')[1].slice(root.length + 1));
    }
    expect(await readFile(join(root, 'etc/osbuild/modules'), 'utf8')).toBe('virtio_blk\nsquashfs\noverlay\n');
  });

  it('takes a module one arch builds into its kernel as present: arm64\'s button (modules.builtin)', async () => {
    const bp = join(work, 'builtin.yml');
    await writeFile(bp, (await readFile(minimal, 'utf8')).replace('modules: []', 'modules: [button, evdev]'));
    const list = async (arch: 'amd64' | 'arm64') => {
      const out = join(work, `builtin-${arch}`);
      await build({ files: [bp], arch, outDir: out, cacheDir, name: 'b' });
      const names = await cpioList(join(out, 'b-initrd.img'));
      const modules = (await execa('sh', ['-c', `gzip -dc '${join(out, 'b-initrd.img')}' | cpio -i --quiet --to-stdout etc/osbuild/modules`])).stdout;
      return { kos: names.filter((n) => n.endsWith('.ko')).map((n) => n.slice(n.lastIndexOf('/') + 1)), modules, builtin: names.find((n) => n.endsWith('/modules.builtin')) };
    };
    const arm = await list('arm64');
    expect(arm.kos).toContain('evdev.ko');
    expect(arm.kos).not.toContain('button.ko');
    expect(arm.modules.trim()).toBe('evdev'); // nothing to modprobe for a built-in driver
    const amd = await list('amd64');
    expect(amd.kos).toEqual(expect.arrayContaining(['button.ko', 'evdev.ko']));
    expect(amd.modules.trim().split('\n')).toEqual(['button', 'evdev']);
    // still an error for a name no kernel knows
    await writeFile(bp, (await readFile(minimal, 'utf8')).replace('modules: []', 'modules: [no_such_driver]'));
    await expect(build({ files: [bp], arch: 'arm64', outDir: join(work, 'builtin-bad'), cacheDir, name: 'b' })).rejects.toThrow(/no module named no_such_driver/);
  });

  it('puts the kernel image\'s microcode cpio (kernel.ucode) uncompressed before the initrd, as LinuxKit does', async () => {
    const img = await makeUcodeKernelImage();
    await importLayout(store, img.layout, { ref: 'test/ucode-kernel' });
    const bp = join(work, 'ucode.yml');
    await writeFile(bp, 'kernel:\n  image: test/ucode-kernel:ucode\n  tar: none\n  ucode: ucode.cpio\ninit:\n  - osbuild/busybox:0.1.0\n');
    const out = join(work, 'ucode-out');
    await build({ files: [bp], arch: 'amd64', outDir: out, cacheDir, name: 'u' });
    const initrd = await readFile(join(out, 'u-initrd.img'));
    // the first archive is the microcode, as GNU cpio reads it; the gzip'd system follows
    const first = await execa('cpio', ['-it', '--quiet'], { input: initrd });
    expect(first.stdout.split('\n')).toContain('kernel/x86/microcode/GenuineIntel.bin');
    const gz = initrd.indexOf(Buffer.from([0x1f, 0x8b, 0x08]));
    expect(gz % 4).toBe(0);
    const rest = await execa('sh', ['-c', 'gzip -dc | cpio -it --quiet'], { input: initrd.subarray(gz) });
    expect(rest.stdout.split('\n')).toContain('bin/busybox');
  });

  it('locates a container that cannot run at its place in the blueprint', async () => {
    const bp = join(work, 'nocmd.yml');
    await writeFile(bp, 'init:\n  - osbuild/busybox:0.1.0\nonboot:\n  - name: empty\n    image: osbuild/busybox:0.1.0\n    command: []\n');
    await expect(build({ files: [bp], formats: ['tar'], arch: 'amd64', outDir: join(work, 'nocmd-out'), cacheDir })).rejects.toThrow(
      new RegExp(`${bp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: onboot empty: .*command`),
    );
  });

  it('two builds into one cache at once both succeed, with the same bytes', async () => {
    const [a, b] = [join(work, 'conc-a'), join(work, 'conc-b')];
    await Promise.all([a, b].map((outDir) => build({ files: [minimal], arch: 'amd64', outDir, cacheDir })));
    for (const f of await readdir(a)) expect((await readFile(join(a, f))).equals(await readFile(join(b, f))), f).toBe(true);
  });

  it('rebuilds a component whose folder changed since its image was built, and only then', async () => {
    const root = join(work, 'stale');
    await mkdir(join(root, 'components/x'), { recursive: true });
    await mkdir(join(root, 'bp'), { recursive: true });
    const spec = (v: string) => `image: test/x\ntag: "1"\narches: [amd64]\nfiles:\n  - {path: /hello, contents: "${v}"}\n`;
    await writeFile(join(root, 'components/x/build.yml'), spec('v1'));
    await writeFile(join(root, 'bp/sys.yml'), 'init:\n  - test/x:1\n');
    const once = async () => {
      const events: string[] = [];
      await build({ files: [join(root, 'bp/sys.yml')], formats: ['tar'], arch: 'amd64', outDir: join(root, 'out'), cacheDir, onEvent: (e) => events.push(e.type) });
      const hello = (await execa('tar', ['-xOf', join(root, 'out/sys.tar'), 'hello'])).stdout;
      return { built: events.includes('build-component'), hello };
    };
    expect(await once()).toEqual({ built: true, hello: 'v1' });
    expect(await once()).toEqual({ built: false, hello: 'v1' });
    await writeFile(join(root, 'components/x/build.yml'), spec('v2'));
    expect(await once()).toEqual({ built: true, hello: 'v2' });
  });

  it('says how to get an image nobody provides, and writes nothing', async () => {
    const bp = join(work, 'missing.yml');
    // loopback, nothing listening: the pull fails here, without touching the network
    await writeFile(bp, 'init:\n  - 127.0.0.1:9/nobody/nothing:1.0\n');
    const out = join(work, 'missing-out');
    await expect(build({ files: [bp], formats: ['tar'], arch: 'amd64', outDir: out, cacheDir })).rejects.toThrow(
      /127\.0\.0\.1:9\/nobody\/nothing:1\.0 is not in the store .*pulling it failed.*osbuild pkg build DIR.*osbuild cache import PATH/s,
    );
    expect(await readdir(out).catch(() => [])).toEqual([]);
  });

  it('refuses a corrupted layer in the store and leaves no output behind', async () => {
    const copy = join(work, 'corrupt-cache');
    await cp(cacheDir, copy, { recursive: true });
    const s = await Store.open(join(copy, 'store'));
    const img = await s.resolveImage('osbuild/busybox:0.1.0', 'amd64');
    const blob = s.blobPath(img.layers[0].digest);
    const bytes = await readFile(blob);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await writeFile(blob, bytes);
    const out = join(work, 'corrupt-out');
    await expect(build({ files: [minimal], formats: ['tar'], arch: 'amd64', outDir: out, cacheDir: copy })).rejects.toThrow(
      new RegExp(img.layers[0].digest.slice(7, 19)),
    );
    expect(await readdir(out)).toEqual([]);
    void store;
  });
});
