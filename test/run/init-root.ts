// A hand-made root filesystem for the osbuild init, as the build lays it out (see
// components/init/build.yml and the contract at the top of components/init/init): the init
// component's files (read from its build.yml), Debian's runc + libraries at /usr/bin/runc, runc
// bundles made with `runc spec` + jq under /containers/{onboot,services,onshutdown}, optional
// kernel modules with modules.dep and /etc/osbuild/modules. Packed with cpio + gzip next to
// Debian's cloud kernel under LinuxKit's output names.
import { execa } from 'execa';
import { chmod, copyFile, link, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { Arch } from '../../src/arch.js';
import { debianKernel, debianPackage } from '../helpers/debian-kernel.js';
import { cpioGz, tempDir } from './fixtures.js';

const COMPONENT = fileURLToPath(new URL('../../components/init/', import.meta.url));

export interface Bundle {
  /** directory name: NNN-name for onboot/onshutdown, the service name for services */
  name: string;
  /** process.args, run with the root's busybox at /bin/busybox */
  args: string[];
  /** an extra jq filter applied to config.json */
  jq?: string;
}

export interface InitRootSpec {
  onboot?: Bundle[];
  services?: Bundle[];
  onshutdown?: Bundle[];
  /** lines of /etc/osbuild/modules; the ones found in the kernel package are shipped */
  modules?: string[];
  cmdline?: string;
}

interface FileEntry {
  path: string;
  source?: string;
  contents?: string;
  directory?: boolean;
  symlink?: string;
  mode?: string;
}

async function layComponent(arch: Arch, root: string): Promise<void> {
  const spec = parse(await readFile(join(COMPONENT, 'build.yml'), 'utf8')) as {
    packages: { package: string; paths: string[] }[];
    files: FileEntry[];
  };
  for (const p of spec.packages) {
    const from = await debianPackage(arch, p.package);
    for (const path of p.paths) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await copyFile(join(from, path), join(root, path));
      await chmod(join(root, path), 0o755);
    }
  }
  for (const f of spec.files) {
    const dst = join(root, f.path);
    await mkdir(dirname(dst), { recursive: true });
    if (f.directory) await mkdir(dst, { recursive: true });
    else if (f.symlink !== undefined) await symlink(f.symlink, dst);
    else if (f.source !== undefined) await copyFile(join(COMPONENT, f.source), dst);
    else await writeFile(dst, f.contents ?? '');
    if (f.mode) await chmod(dst, parseInt(f.mode, 8));
  }
}

/** Debian's runc (dynamic: libseccomp + glibc) with the libraries and loader at their Debian paths. */
async function layRunc(arch: Arch, root: string): Promise<void> {
  const multiarch = arch === 'amd64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu';
  const loader = arch === 'amd64' ? 'lib64/ld-linux-x86-64.so.2' : 'lib/ld-linux-aarch64.so.1';
  const runc = await debianPackage(arch, 'runc');
  const libc = await debianPackage(arch, 'libc6');
  const seccomp = await debianPackage(arch, 'libseccomp2');
  const files: [string, string][] = [
    [join(runc, 'usr/sbin/runc'), 'usr/bin/runc'],
    [join(libc, `lib/${multiarch}/libc.so.6`), `lib/${multiarch}/libc.so.6`],
    [join(libc, `lib/${multiarch}/${loader.split('/')[1]}`), loader],
    [join(seccomp, `usr/lib/${multiarch}/libseccomp.so.2`), `usr/lib/${multiarch}/libseccomp.so.2`],
  ];
  for (const [from, to] of files) {
    await mkdir(dirname(join(root, to)), { recursive: true });
    await copyFile(from, join(root, to)); // follows the packages' symlinks
    await chmod(join(root, to), 0o755);
  }
}

async function layBundle(root: string, dir: string, b: Bundle): Promise<void> {
  const bundle = join(root, dir, b.name);
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp']) await mkdir(join(bundle, 'rootfs', d), { recursive: true });
  await link(join(root, 'bin', 'busybox'), join(bundle, 'rootfs', 'bin', 'busybox'));
  await execa('runc', ['spec', '--bundle', bundle]);
  const filter = `.process.terminal=false | .process.args=$args | .root.readonly=true | .hostname=$name | .process.env |= map(select(startswith("TERM=")|not))${b.jq ? ' | ' + b.jq : ''}`;
  const { stdout } = await execa('jq', ['--argjson', 'args', JSON.stringify(b.args), '--arg', 'name', b.name, filter, join(bundle, 'config.json')]);
  await writeFile(join(bundle, 'config.json'), stdout + '\n');
}

async function findModule(dir: string, file: string): Promise<string | undefined> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const found = await findModule(p, file);
      if (found) return found;
    } else if (e.name === file) return p;
  }
  return undefined;
}

async function layModules(arch: Arch, root: string, names: string[]): Promise<void> {
  const k = await debianKernel(arch);
  const modRoot = join(k.root, 'lib', 'modules', k.release);
  for (const n of names) {
    const ko = await findModule(join(modRoot, 'kernel'), `${n}.ko`);
    if (!ko) continue; // a name that does not exist tests the "failed" line
    const dst = join(root, ko.slice(k.root.length));
    await mkdir(dirname(dst), { recursive: true });
    await copyFile(ko, dst);
  }
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) {
    await mkdir(join(root, 'lib', 'modules', k.release), { recursive: true });
    await copyFile(join(modRoot, f), join(root, 'lib', 'modules', k.release, f)).catch(() => undefined);
  }
  await execa('depmod', ['-b', root, k.release]);
  await writeFile(join(root, 'etc', 'osbuild', 'modules'), names.map((n) => n + '\n').join(''));
}

/** Build the image; returns its output prefix (<dir>/out/init) for testImage. */
export async function initImage(arch: Arch, spec: InitRootSpec): Promise<string> {
  const dir = await tempDir(`init-${arch}`);
  const root = join(dir, 'root');
  await mkdir(root);
  await layComponent(arch, root);
  await layRunc(arch, root);
  for (const b of spec.onboot ?? []) await layBundle(root, 'containers/onboot', b);
  for (const b of spec.services ?? []) await layBundle(root, 'containers/services', b);
  for (const b of spec.onshutdown ?? []) await layBundle(root, 'containers/onshutdown', b);
  if (spec.modules) await layModules(arch, root, spec.modules);
  const prefix = join(dir, 'out', 'init');
  await mkdir(dirname(prefix));
  await cpioGz(root, `${prefix}-initrd.img`);
  await symlink((await debianKernel(arch)).vmlinuz, `${prefix}-kernel`);
  await writeFile(`${prefix}-cmdline`, (spec.cmdline ?? 'quiet') + '\n');
  return prefix;
}
