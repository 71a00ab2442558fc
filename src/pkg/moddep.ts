// modules.dep, as depmod writes it, from each module's `depends=` (.modinfo). Debian's kernel
// .deb ships no modules.dep (its postinst runs depmod), and we never run host tools on the
// image, so it is computed here. Each line lists ALL dependencies, transitively, ordered so
// that a module comes before the modules it needs (modprobe loads the list back to front).
import { PkgError } from './errors.js';
import { isModulePath, moduleName } from '../rootfs/modules.js';
import { showName } from '../formats/names.js';

export interface ModuleInfo {
  /** Relative to lib/modules/<kver>/, e.g. kernel/fs/overlayfs/overlay.ko */
  path: string;
  /** Direct dependencies by module name (from .modinfo depends=). */
  depends: string[];
}

export { isModulePath, moduleName };

interface Node {
  mod: ModuleInfo;
  idx: number;
  deps: Node[];
  users: number;
  sortIdx: number;
}

function graph(modules: ModuleInfo[], order: string[]): Node[] {
  // Module order as depmod's: modules.order first, then the others by path.
  const rank = new Map(order.map((p, i) => [p, i]));
  const sorted = [...modules].sort((a, b) => {
    const ra = rank.get(a.path) ?? Infinity;
    const rb = rank.get(b.path) ?? Infinity;
    return ra !== rb ? ra - rb : a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  });
  const nodes = sorted.map((mod, idx) => ({ mod, idx, deps: [] as Node[], users: 0, sortIdx: -1 }));
  const byName = new Map(nodes.map((n) => [moduleName(n.mod.path), n]));
  for (const n of nodes) {
    for (const name of n.mod.depends) {
      const dep = byName.get(name.replaceAll('-', '_'));
      if (!dep) throw new PkgError('KERNEL_LAYOUT', `module ${showName(n.mod.path)} depends on "${showName(name)}", which is not among the modules`);
      if (!n.deps.includes(dep)) {
        n.deps.push(dep);
        dep.users++;
      }
    }
  }
  // Topological order, modules without users first (Kahn's algorithm with a stack, as depmod).
  const users = nodes.map((n) => n.users);
  const roots = nodes.filter((n) => n.users === 0).map((n) => n.idx);
  let count = 0;
  while (roots.length > 0) {
    const n = nodes[roots.pop()!];
    n.sortIdx = count++;
    for (const d of n.deps) if (--users[d.idx] === 0) roots.push(d.idx);
  }
  const cyclic = nodes.filter((n) => n.sortIdx < 0);
  if (cyclic.length > 0) {
    throw new PkgError('KERNEL_LAYOUT', `dependency cycle among modules: ${cyclic.map((n) => showName(moduleName(n.mod.path))).join(', ')}`);
  }
  return nodes;
}

function closure(n: Node): Node[] {
  const seen = new Set<Node>();
  const walk = (x: Node) => {
    for (const d of x.deps) {
      if (!seen.has(d)) {
        seen.add(d);
        walk(d);
      }
    }
  };
  walk(n);
  return [...seen].sort((a, b) => a.sortIdx - b.sortIdx);
}

/** The text of modules.dep for these modules. */
export function modulesDep(modules: ModuleInfo[], order: string[] = []): string {
  return graph(modules, order)
    .map((n) => {
      const deps = closure(n).map((d) => d.mod.path);
      return `${n.mod.path}:${deps.length ? ' ' + deps.join(' ') : ''}\n`;
    })
    .join('');
}

/** The paths of `selected` modules plus everything they need, transitively. */
export function withDependencies(modules: ModuleInfo[], selected: (path: string) => boolean): Set<string> {
  const nodes = graph(modules, []);
  const out = new Set<string>();
  for (const n of nodes) {
    if (!selected(n.mod.path)) continue;
    out.add(n.mod.path);
    for (const d of closure(n)) out.add(d.mod.path);
  }
  return out;
}
