// A kernel component: Debian's linux-image .deb turned into LinuxKit's kernel image layout,
//   /kernel      the boot image (vmlinuz)
//   /kernel.tar  lib/modules/<kver>/... with a modules.dep computed here (the .deb has none)
//   /config      the kernel's build configuration
// Debian's /boot/System.map is a placeholder pointing at the -dbg package, so it is left out.
import { execa } from 'execa';
import { gunzipSync } from 'node:zlib';
import { writeTar } from '../formats/tar/write.js';
import type { EntryStream } from '../formats/entry.js';
import { cleanPath } from '../rootfs/paths.js';
import { moduleDepends } from './elf.js';
import { PkgError } from './errors.js';
import { pathMatcher } from './glob.js';
import { isModulePath, modulesDep, withDependencies, type ModuleInfo } from './moddep.js';
import type { Spool, SpoolRef } from './spool.js';
import { Tree, treeStream } from './tree.js';
import { showName } from '../formats/names.js';

async function collect(content: AsyncIterable<Uint8Array> | undefined): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  if (content) for await (const c of content) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A module file's ELF bytes: Debian 12 ships plain .ko; later releases compress them. */
async function moduleElf(p: string, bytes: Buffer): Promise<Buffer> {
  if (p.endsWith('.ko')) return bytes;
  if (p.endsWith('.gz')) return gunzipSync(bytes);
  const tool = p.endsWith('.xz') ? 'xz' : 'zstd';
  // execa strips a final newline even from bytes: a module ending in 0x0a would lose it
  const r = await execa(tool, ['-dc'], { input: bytes, encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(r.stdout);
}

export interface KernelFiles {
  kver: string;
  kernel: SpoolRef;
  kernelTar: SpoolRef;
  config?: SpoolRef;
  modules: number;
}

/**
 * Reads a kernel package's data stream once: the boot image and config go to the spool, the
 * modules into kernel.tar (also spooled, so the layer can be written with its size known).
 * `moduleGlobs` (relative to lib/modules/<kver>/) keeps only matching modules and their
 * dependencies.
 */
export async function kernelFiles(
  spool: Spool,
  data: EntryStream,
  opts: { where: string; mtime: number; moduleGlobs?: string[] },
): Promise<KernelFiles> {
  let kernel: { kver: string; ref: SpoolRef } | undefined;
  let config: SpoolRef | undefined;
  const tree = new Tree();
  const modules: ModuleInfo[] = [];
  let order: string[] = [];
  let modulesRoot: string | undefined;

  for await (const { entry, content } of data) {
    const p = cleanPath(entry.path);
    const boot = /^boot\/(vmlinuz|vmlinux|config)-(.+)$/.exec(p);
    if (boot && entry.type === 'file') {
      const ref = await spool.put(content ?? new Uint8Array(0));
      if (boot[1] === 'config') config = ref;
      else kernel = { kver: boot[2], ref };
      continue;
    }
    const mod = /^lib\/modules\/([^/]+)(?:\/(.*))?$/.exec(p);
    if (!mod) continue;
    modulesRoot ??= mod[1];
    if (mod[1] !== modulesRoot) throw new PkgError('KERNEL_LAYOUT', `${opts.where}: modules of two kernels (${showName(modulesRoot)}, ${showName(mod[1])}) in one package`);
    const rel = mod[2] ?? '';
    if (entry.type === 'file') {
      let ref: SpoolRef;
      if (isModulePath(rel)) {
        const bytes = await collect(content);
        modules.push({ path: rel, depends: moduleDepends(await moduleElf(rel, bytes), `${opts.where}: /${showName(p)}`) });
        ref = await spool.put(bytes);
      } else {
        ref = await spool.put(content ?? new Uint8Array(0));
        if (rel === 'modules.order') order = (await spool.readAll(ref)).toString('utf8').split('\n').filter(Boolean);
      }
      tree.add(p, { type: 'file', mode: entry.mode, content: ref, origin: 'kernel package' });
    } else if (entry.type === 'dir' || entry.type === 'symlink') {
      tree.add(p, { type: entry.type, mode: entry.mode, linkname: entry.linkname, origin: 'kernel package' });
    }
  }
  if (!kernel) throw new PkgError('KERNEL_LAYOUT', `${opts.where}: the package has no /boot/vmlinuz-<version>: is it a linux-image package?`);
  if (modulesRoot !== undefined && modulesRoot !== kernel.kver) {
    throw new PkgError('KERNEL_LAYOUT', `${opts.where}: kernel ${showName(kernel.kver)} but modules for ${showName(modulesRoot)}`);
  }
  const base = `lib/modules/${kernel.kver}`;

  let kept = modules;
  if (opts.moduleGlobs) {
    const match = pathMatcher(opts.moduleGlobs);
    const keep = withDependencies(modules, (m) => match.matches(m));
    const missed = match.unmatched();
    if (missed.length > 0) throw new PkgError('PATH_NOT_MATCHED', `${opts.where}: kernel.modules ${missed.map((m) => `"${showName(m)}"`).join(', ')} matched no module under /${showName(base)}`);
    kept = modules.filter((m) => keep.has(m.path));
    const drop = new Set(modules.filter((m) => !keep.has(m.path)).map((m) => `${base}/${m.path}`));
    const pruned = new Tree();
    for (const { entry, content } of tree.entries({ mtime: 0 })) {
      if (drop.has(entry.path) || (entry.type === 'dir')) continue; // dirs come back as parents of what stays
      pruned.add(entry.path, { type: entry.type === 'hardlink' ? 'file' : entry.type, mode: entry.mode, linkname: entry.linkname, content, origin: 'kernel package' });
    }
    pruned.add(base, { type: 'dir', mode: 0o755, origin: 'kernel package' });
    return finish(spool, pruned, kernel, config, kept, order, base, opts.mtime);
  }
  return finish(spool, tree, kernel, config, kept, order, base, opts.mtime);
}

async function finish(
  spool: Spool,
  tree: Tree,
  kernel: { kver: string; ref: SpoolRef },
  config: SpoolRef | undefined,
  modules: ModuleInfo[],
  order: string[],
  base: string,
  mtime: number,
): Promise<KernelFiles> {
  const dep = await spool.put(Buffer.from(modulesDep(modules, order), 'utf8'));
  tree.add(`${base}/modules.dep`, { type: 'file', mode: 0o644, content: dep, origin: 'generated modules.dep' }, true);
  const kernelTar = await spool.put(writeTar(treeStream(tree, spool, mtime)));
  return { kver: kernel.kver, kernel: kernel.ref, kernelTar, config, modules: modules.length };
}
