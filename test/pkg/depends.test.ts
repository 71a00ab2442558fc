// `depends: true`: a package's Debian dependency closure, resolved against the real Debian lists
// (cached in OSBUILD_TEST_CACHE) and checked with real tools: readelf says what each binary
// needs, chroot runs it from the layer alone.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Arch } from '../../src/arch.js';
import { AptRepo } from '../../src/pkg/apt.js';
import { buildComponent } from '../../src/pkg/build.js';
import { CLOSURE_EXCLUDED, dependencyClosure } from '../../src/pkg/closure.js';
import { CACHE_DIR, sh, tempDir, tempStore } from './helpers.js';

const TRIPLET: Record<Arch, string> = { amd64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

let s: Awaited<ReturnType<typeof tempStore>>;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  s = await tempStore('depends');
}, 60_000);
afterAll(async () => {
  for (const c of cleanups) await c();
  await s?.cleanup();
});

async function component(name: string, spec: string): Promise<string> {
  const dir = path.join(s.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'build.yml'), spec);
  return dir;
}

/** The extracted layer of one arch of a built image, read through skopeo's view of the store. */
async function extractLayer(ref: string, arch: Arch): Promise<{ root: string; listing: string[] }> {
  const index = JSON.parse(await sh('skopeo', ['inspect', '--raw', `oci:${s.store.dir}:${ref}`]));
  const m = index.manifests.find((d: { platform: { architecture: string } }) => d.platform.architecture === arch);
  const blob = (d: string) => path.join(s.store.dir, 'blobs', 'sha256', d.slice('sha256:'.length));
  const manifest = JSON.parse(await readFile(blob(m.digest), 'utf8'));
  const layer = blob(manifest.layers[0].digest);
  const t = await tempDir('dx');
  cleanups.push(t.cleanup);
  await execa('bsdtar', ['-xzf', layer, '-C', t.dir]);
  const listing = (await sh('bsdtar', ['-tzf', layer])).split('\n').map((l) => l.replace(/\/$/, ''));
  return { root: t.dir, listing };
}

/** Every NEEDED library of `bin`, transitively, must be in the layer's library dirs. */
async function missingLibraries(root: string, bin: string, arch: Arch): Promise<{ checked: string[]; missing: string[] }> {
  const dirs = [`lib/${TRIPLET[arch]}`, `usr/lib/${TRIPLET[arch]}`, 'lib', 'usr/lib'];
  const checked: string[] = [];
  const missing: string[] = [];
  const queue = [bin];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.shift()!;
    const dyn = await sh('readelf', ['-dW', path.join(root, file)]);
    for (const m of dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
      const lib = m[1];
      if (seen.has(lib)) continue;
      seen.add(lib);
      checked.push(lib);
      const at = dirs.map((d) => `${d}/${lib}`).find((p) => existsSync(path.join(root, p)));
      if (at) queue.push(at);
      else missing.push(lib);
    }
  }
  return { checked: checked.sort(), missing };
}

describe('dependency closure', () => {
  test('openssh-client (amd64): its libraries, none of the excluded set, the same twice', async () => {
    const first = await dependencyClosure(new AptRepo(CACHE_DIR, 'amd64'), ['openssh-client']);
    const names = first.map((d) => d.package);
    for (const lib of ['libc6', 'libssl3', 'zlib1g', 'libedit2', 'libgssapi-krb5-2']) expect(names).toContain(lib);
    for (const x of CLOSURE_EXCLUDED) expect(names).not.toContain(x);
    // passwd's PAM stack only comes in through the excluded adduser/passwd
    expect(names).not.toContain('libpam0g');
    expect(names).not.toContain('openssh-client');
    expect(names).toEqual([...names].sort());
    const again = await dependencyClosure(new AptRepo(CACHE_DIR, 'amd64'), ['openssh-client']);
    expect(again.map((d) => `${d.package}=${d.version}`)).toEqual(first.map((d) => `${d.package}=${d.version}`));
  }, 300_000);

  test('an unknown root is a clear error', async () => {
    await expect(dependencyClosure(new AptRepo(CACHE_DIR, 'amd64'), ['no-such-package-osbuild'])).rejects.toThrow(/no-such-package-osbuild.*not found/);
  }, 120_000);
});

describe('depends: true in a component', () => {
  test('openssh-client narrowed to /usr/bin/ssh: every needed .so is in the layer, its loader resolves them from the layer alone', async () => {
    const dir = await component(
      'ssh',
      'image: test/ssh\ntag: "1"\narches: [amd64]\npackages:\n  - {package: openssh-client, paths: ["usr/bin/ssh"], depends: true}\n',
    );
    const built = await buildComponent(dir, { store: s.store, cacheDir: CACHE_DIR });
    const { root, listing } = await extractLayer(built.ref, 'amd64');
    // paths narrows the named package only
    expect(listing).toContain('usr/bin/ssh');
    expect(listing).not.toContain('usr/bin/scp');
    // dependencies come without documentation
    expect(listing.filter((p) => /^usr\/share\/(doc|man|info|locale|lintian)\//.test(p))).toEqual([]);
    // libc6 without its legacy-charset converters, with its libraries
    expect(listing).toContain('lib/x86_64-linux-gnu/libc.so.6');
    expect(listing.filter((p) => p.includes('/gconv/'))).toEqual([]);
    const { checked, missing } = await missingLibraries(root, 'usr/bin/ssh', 'amd64');
    expect(checked).toContain('libcrypto.so.3');
    expect(missing).toEqual([]);
    // PT_INTERP, then the real thing: the binary runs with nothing but the layer as its root
    const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(await sh('readelf', ['-lW', path.join(root, 'usr/bin/ssh')]))![1];
    expect(existsSync(path.join(root, interp))).toBe(true);
    // the layer's own loader resolves every library from the layer alone (ssh itself wants /dev/null)
    const r = await execa('chroot', [root, interp, '--list', '/usr/bin/ssh'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/libcrypto\.so\.3 => \S+libcrypto\.so\.3/);
    expect(r.stdout).not.toMatch(/not found/);
  }, 600_000);

  test.each(['amd64', 'arm64'] as const)('dhcpcd-base (%s): dhcpcd and its libraries, the same layer twice', async (arch) => {
    const spec = `image: test/dhcpcd-${arch}\ntag: "1"\narches: [${arch}]\npackages:\n  - {package: dhcpcd-base, depends: true}\n`;
    const dir = await component(`dhcpcd-${arch}`, spec);
    const one = await buildComponent(dir, { store: s.store, cacheDir: CACHE_DIR });
    const two = await buildComponent(dir, { store: s.store, cacheDir: CACHE_DIR });
    expect(two.index.digest).toBe(one.index.digest);
    const { root, listing } = await extractLayer(one.ref, arch);
    expect(listing).toContain('usr/sbin/dhcpcd');
    const { checked, missing } = await missingLibraries(root, 'usr/sbin/dhcpcd', arch);
    expect(checked).toContain('libc.so.6');
    expect(missing).toEqual([]);
    // adduser is a Depends of dhcpcd-base, for its postinst only
    expect(listing.some((p) => /^usr\/sbin\/adduser$/.test(p))).toBe(false);
  }, 600_000);
});
