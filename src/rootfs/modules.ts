// Kernel modules: which files of a kernel image's modules tarball a blueprint needs.
//
// A kernel image carries LinuxKit's layout: /kernel and /kernel.tar (lib/modules/<kver>/...,
// with modules.dep). `kernel.modules` in a blueprint names modules to include and load; their
// dependencies come along, resolved from modules.dep, so a small system does not carry the
// whole 90 MB modules tree.

import type { Descriptor } from '../oci/types.js';
import type { Store } from '../oci/store.js';
import { readTar } from '../formats/tar/read.js';
import { layerEntries } from './layer.js';
import { cleanPath } from './paths.js';
import { OsbuildError } from '../errors.js';

export interface KernelModulesInfo {
  /** Kernel release, from lib/modules/<kver>. */
  kver: string;
  /** modules.dep as parsed: module path (relative to lib/modules/<kver>) -> its dependencies' paths, in load-last-first order as depmod writes them. */
  dep: Record<string, string[]>;
  /** Names (as moduleName gives them) of what is built into the kernel, from modules.builtin. */
  builtin?: string[];
}

export class ModulesError extends OsbuildError {
  readonly code = 'EMODULES';
}

const MODULE_EXT = /\.ko(?:\.(?:xz|zst|gz))?$/;

export function isModulePath(p: string): boolean {
  return MODULE_EXT.test(p);
}

/** The name modprobe knows a module by: file name without .ko[.xz|.zst|.gz], dashes as underscores. */
export function moduleName(pathOrName: string): string {
  return pathOrName.slice(pathOrName.lastIndexOf('/') + 1).replace(MODULE_EXT, '').replaceAll('-', '_');
}

export function parseModulesDep(text: string): Record<string, string[]> {
  const dep: Record<string, string[]> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const mod = line.slice(0, colon).trim();
    const rest = line.slice(colon + 1).trim();
    dep[mod] = rest === '' ? [] : rest.split(/\s+/);
  }
  return dep;
}

export interface ModuleSelection {
  /** Module names in the order the init loads them (as asked; built-in ones left out). */
  load: string[];
  /** Names asked for that are built into this kernel: nothing to include or load. */
  builtin: string[];
  /** Module file paths (relative to lib/modules/<kver>) to include. */
  files: Set<string>;
  /** modules.dep restricted to the included modules. */
  modulesDep: string;
}

/** Pure: resolve names to files with all their dependencies. */
export function selectModules(info: KernelModulesInfo, names: string[], where: string): ModuleSelection {
  const byName = new Map<string, string>();
  for (const p of Object.keys(info.dep)) byName.set(moduleName(p), p);
  const builtinNames = new Set(info.builtin ?? []);
  const files = new Set<string>();
  const missing: string[] = [];
  const builtin: string[] = [];
  for (const n of names) {
    const p = byName.get(moduleName(n));
    // a blueprint names what its hardware needs; one arch's kernel builds in what another's
    // ships as a module (arm64's `button`): built in is as good as loaded
    if (!p && builtinNames.has(moduleName(n))) { builtin.push(moduleName(n)); continue; }
    if (!p) { missing.push(n); continue; }
    files.add(p);
    for (const d of info.dep[p] ?? []) files.add(d);
  }
  if (missing.length) {
    throw new ModulesError(
      `${where}: kernel ${info.kver} has no module named ${missing.join(', ')} ` +
        `(built into the kernel, misspelt, or not shipped: check lib/modules/${info.kver}/modules.builtin)`,
    );
  }
  const modulesDep = [...files].sort().map((p) => `${p}: ${(info.dep[p] ?? []).join(' ')}`.trimEnd() + '\n').join('');
  const load = names.map(moduleName).filter((n) => !builtin.includes(n));
  return { load, builtin, files, modulesDep };
}

/** Find modules.dep inside a kernel layer's kernel.tar (cached beside the store, per layer digest). */
export async function kernelModulesInfo(store: Store, layer: Descriptor, tarName: string): Promise<KernelModulesInfo | undefined> {
  // v3: with modules.builtin (v2), in the self-checking derived-file format
  const key = tarName.replace(/[^a-zA-Z0-9_-]/g, '_');
  return store.derived('kmod').get(layer.digest, 3, () => readModulesInfo(store, layer, tarName), { key });
}

async function readModulesInfo(store: Store, layer: Descriptor, tarName: string): Promise<KernelModulesInfo | undefined> {
  let info: KernelModulesInfo | undefined;
  let builtin: string[] | undefined;
  for await (const { entry, content } of layerEntries(store, layer)) {
    if (cleanPath(entry.path) !== cleanPath(tarName) || !content) continue;
    for await (const inner of readTar(content)) {
      const m = /^lib\/modules\/([^/]+)\/(modules\.dep|modules\.builtin)$/.exec(cleanPath(inner.entry.path));
      if (!m || !inner.content) continue;
      const chunks: Buffer[] = [];
      for await (const c of inner.content) chunks.push(Buffer.from(c));
      const text = Buffer.concat(chunks).toString('utf8');
      if (m[2] === 'modules.dep') info = { kver: m[1], dep: parseModulesDep(text) };
      else builtin = text.split('\n').filter((l) => l.trim() !== '').map(moduleName);
    }
  }
  if (!info) return undefined;
  if (builtin) info.builtin = builtin;
  return info;
}
