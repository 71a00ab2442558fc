// Composition: several blueprint files make one system, LinuxKit's way (moby AppendConfig).
// Kernel fields set in a later file override earlier ones; every list section appends in file
// order. The merged value reuses the parsed objects, so their source positions still hold.
import { BlueprintError } from './errors.js';
import { checkUniqueServices } from './checks.js';
import { getOrigin, setOrigin, type Origin } from './origin.js';
import type { Blueprint, KernelSpec, TrustSpec } from './schema.js';

const LIST_SECTIONS = ['init', 'volumes', 'onboot', 'onshutdown', 'services', 'files'] as const;

/**
 * Merges blueprints in order. Throws BlueprintError when the result has two services of the
 * same name (LinuxKit's rule: onboot/onshutdown names may repeat, service names may not).
 */
export function mergeBlueprints(list: readonly Blueprint[]): Blueprint {
  const out: Blueprint = {};
  const topOrigin = emptyOrigin(list);
  setOrigin(out, topOrigin);

  for (const bp of list) {
    if (bp.name !== undefined) {
      out.name = bp.name;
      copyMember(bp, out, 'name');
    }
  }

  // root: a later file's fields override (an overlay file can switch a base to squashfs)
  const roots = list.filter((bp) => bp.root !== undefined);
  if (roots.length > 0) {
    const root = Object.assign({}, ...roots.map((bp) => bp.root)) as NonNullable<Blueprint['root']>;
    setOrigin(root, getOrigin(roots[roots.length - 1].root!) ?? emptyOrigin([]));
    out.root = root;
    copyMember(roots[roots.length - 1], out, 'root');
  }

  const kernels = list.map((bp) => bp.kernel).filter((k): k is KernelSpec => k !== undefined);
  if (kernels.length > 0) {
    out.kernel = mergeKernels(kernels);
    const firstWithKernel = list.find((bp) => bp.kernel)!;
    copyMember(firstWithKernel, out, 'kernel');
  }

  for (const section of LIST_SECTIONS) {
    const parts = list.filter((bp) => bp[section] !== undefined);
    if (parts.length === 0) continue;
    (out as Record<string, unknown>)[section] = concat(parts.map((bp) => bp[section] as unknown[]));
    copyMember(parts[0], out, section);
  }

  const trusts = list.map((bp) => bp.trust).filter((t): t is TrustSpec => t !== undefined);
  if (trusts.length > 0) {
    const trust: TrustSpec = {};
    for (const key of ['image', 'org'] as const) {
      const parts = trusts.filter((t) => t[key] !== undefined).map((t) => t[key]!);
      if (parts.length > 0) trust[key] = concat(parts);
    }
    setOrigin(trust, { ...(getOrigin(trusts[0]) ?? emptyOrigin([])), keys: new Map(), values: new Map() });
    out.trust = trust;
    copyMember(list.find((bp) => bp.trust)!, out, 'trust');
  }

  const dups = checkUniqueServices(out);
  if (dups.length > 0) throw new BlueprintError(dups);
  return out;
}

// moby AppendConfig: image, cmdline and binary override when non-empty; tar and ucode (and
// osbuild's modules) override whenever given, since an explicit value (e.g. tar: none) means
// something.
function mergeKernels(kernels: KernelSpec[]): KernelSpec {
  const merged: KernelSpec = {};
  const origin: Origin = { ...(getOrigin(kernels[0]) ?? emptyOrigin([])), keys: new Map(), values: new Map() };
  for (const k of kernels) {
    for (const key of ['image', 'cmdline', 'binary', 'tar', 'ucode', 'modules'] as const) {
      const v = k[key];
      const overrides = key === 'image' || key === 'cmdline' || key === 'binary' ? v !== undefined && v !== '' : v !== undefined;
      if (!overrides) continue;
      (merged as Record<string, unknown>)[key] = v;
      copyMember(k, merged, key, origin);
    }
  }
  // Keep the schema's key order, whatever order the files set them in.
  const ordered: KernelSpec = {};
  for (const key of ['image', 'cmdline', 'binary', 'tar', 'ucode', 'modules'] as const) {
    if (merged[key] !== undefined) (ordered as Record<string, unknown>)[key] = merged[key];
  }
  setOrigin(ordered, origin);
  return ordered;
}

function concat<T>(parts: T[][]): T[] {
  const out: T[] = [];
  const origin: Origin = { ...(getOrigin(parts[0]) ?? emptyOrigin([])), keys: new Map(), values: new Map() };
  for (const part of parts) {
    const o = getOrigin(part);
    part.forEach((item, i) => {
      const loc = o?.values.get(i);
      if (loc) origin.values.set(out.length, loc);
      out.push(item);
    });
  }
  setOrigin(out, origin);
  return out;
}

// Carries the source position of `from[key]` over to `to[key]`.
function copyMember(from: object, to: object, key: string, target?: Origin): void {
  const src = getOrigin(from);
  const dst = target ?? getOrigin(to);
  if (!src || !dst) return;
  const k = src.keys.get(key);
  const v = src.values.get(key);
  if (k) dst.keys.set(key, k);
  if (v) dst.values.set(key, v);
}

function emptyOrigin(list: readonly Blueprint[]): Origin {
  const first = list.map((bp) => getOrigin(bp)).find((o) => o !== undefined);
  return { self: first?.self ?? { file: '<merged>', line: 0, column: 0 }, path: [], keys: new Map(), values: new Map() };
}
