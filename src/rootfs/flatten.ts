// Flattening a stack of layers into one tree, planned from the layers' tables of contents.
//
// Planning from TOCs instead of content lets execution read each layer exactly once, bottom to
// top, streaming: every entry is either emitted (possibly rewritten) or skipped, decided here.
// This is the pure part of root assembly; it is where whiteouts, opaque directories, hostile
// paths and hard-link counts are dealt with.

import type { Entry } from '../formats/entry.js';
import { ancestors, baseOf, cleanPath, isUnder, parentOf, resolveInRoot, resolveParentsInRoot } from './paths.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

export interface LayerToc {
  /** The layer's digest, for messages. */
  digest: string;
  entries: Entry[];
}

export interface FlattenOptions {
  /** Keep device nodes? Container roots get a fresh /dev from runc: nodes there are only a risk. */
  allowDevices: boolean;
  /** Paths (clean) that something later in the root provides: the image's entries there are skipped. */
  shadowed?: ReadonlySet<string>;
  /** Where the tree goes, for messages: "init", "onboot 000-hello", ... */
  what: string;
}

export interface FlattenWarning {
  code: 'ESCAPE' | 'SYMLINK_PARENT' | 'DEVICE_DROPPED' | 'LINK_LOOP';
  layer: string;
  path: string;
  message: string;
}

export interface FlattenPlan {
  /** decisions[layer][i]: what to emit for the i-th entry of that layer's TOC, or null to skip it. */
  decisions: (Entry | null)[][];
  warnings: FlattenWarning[];
  /** Number of entries emitted. */
  count: number;
  /** Bytes of file content emitted. */
  bytes: number;
  /** Clean paths of the symlinks in the result, with their targets (for path resolution later). */
  symlinks: Map<string, string>;
}

export class FlattenError extends Error {
  readonly code = 'EFLATTEN';
  constructor(message: string) {
    super(message);
    this.name = 'FlattenError';
  }
}

interface Winner {
  layer: number;
  index: number;
  entry: Entry;
  /** For directories: the lowest visible occurrence, where it must be emitted so children follow it. */
  emitLayer: number;
  emitIndex: number;
}

/** Plan the flattening of `layers` (bottom first). */
export function planFlatten(layers: LayerToc[], opts: FlattenOptions): FlattenPlan {
  const warnings: FlattenWarning[] = [];
  // First find the symlinks of the merged tree without resolving paths, then decide again with
  // every path resolved through them: an entry below a symlink lands where the link points
  // inside the root, never outside it, and never makes the unpacker traverse a link.
  const first = decide(layers, opts, undefined, []);
  const symlinks = new Map<string, string>();
  for (const [p, w] of first) if (w.entry.type === 'symlink') symlinks.set(p, w.entry.linkname ?? '');
  const winners = decide(layers, opts, symlinks, warnings);

  const decisions: (Entry | null)[][] = layers.map((l) => new Array(l.entries.length).fill(null));
  for (const w of winners.values()) decisions[w.emitLayer][w.emitIndex] = w.entry;

  // Hard links: the target must be emitted earlier, as a regular file; cpio needs its link count.
  const linkCount = new Map<string, number>();
  const emittedBefore = new Set<string>();
  let count = 0;
  let bytes = 0;
  for (let l = 0; l < layers.length; l++) {
    for (let i = 0; i < decisions[l].length; i++) {
      const e = decisions[l][i];
      if (!e) continue;
      if (e.type === 'hardlink') {
        const target = e.linkname ?? '';
        const t = winners.get(target);
        if (!t || t.entry.type !== 'file' || !emittedBefore.has(target)) {
          throw new FlattenError(
            `${opts.what}: layer ${layers[l].digest}: ${e.path} is a hard link to ${target || '(nothing)'}, ` +
              `which is not a regular file earlier in the image`,
          );
        }
        linkCount.set(target, (linkCount.get(target) ?? 1) + 1);
      }
      emittedBefore.add(e.path);
      count++;
      bytes += e.size;
    }
  }
  // Link counts go on copies: TOC objects are shared with other plans of the same image.
  if (linkCount.size) {
    for (let l = 0; l < layers.length; l++) {
      const d = decisions[l];
      for (let i = 0; i < d.length; i++) {
        const e = d[i];
        if (!e) continue;
        const n = e.type === 'hardlink' ? linkCount.get(e.linkname ?? '') : e.type === 'file' ? linkCount.get(e.path) : undefined;
        if (n !== undefined) d[i] = { ...e, nlink: n };
      }
    }
  }
  const resolvedLinks = new Map<string, string>();
  for (const [p, w] of winners) if (w.entry.type === 'symlink') resolvedLinks.set(p, w.entry.linkname ?? '');
  return { decisions, warnings, count, bytes, symlinks: resolvedLinks };
}

function decide(
  layers: LayerToc[],
  opts: FlattenOptions,
  symlinks: Map<string, string> | undefined,
  warnings: FlattenWarning[],
): Map<string, Winner> {
  const winners = new Map<string, Winner>();
  // Whiteouts of the layers above the one being read: deleted paths hide themselves and what is
  // below them; opaque directories hide what is below them but not themselves.
  const deleted = new Set<string>();
  const opaque = new Set<string>();
  const linkOf = symlinks ? (p: string) => symlinks.get(p) : undefined;

  for (let l = layers.length - 1; l >= 0; l--) {
    const layer = layers[l];
    const layerDeleted: string[] = [];
    const layerOpaque: string[] = [];
    // Later entries of one tar overwrite earlier ones: walk each layer backwards too.
    for (let i = layer.entries.length - 1; i >= 0; i--) {
      const raw = layer.entries[i];
      let path = cleanPath(raw.path);
      if (path === '') continue;
      const base = baseOf(path);
      if (base.startsWith(WHITEOUT_PREFIX)) {
        if (base === OPAQUE_WHITEOUT) layerOpaque.push(parentOf(path));
        else layerDeleted.push(joinParent(parentOf(path), base.slice(WHITEOUT_PREFIX.length)));
        continue;
      }
      const report = warnings.length < 1000 && symlinks !== undefined;
      if (raw.path.split('/').includes('..') && report) {
        warnings.push({ code: 'ESCAPE', layer: layer.digest, path: raw.path, message: `${opts.what}: entry ${raw.path} climbs out of its root; kept inside as ${path}` });
      }
      if (linkOf) {
        const resolved = resolveParentsInRoot(path, linkOf);
        if (resolved === undefined) {
          if (report) warnings.push({ code: 'LINK_LOOP', layer: layer.digest, path, message: `${opts.what}: ${path} lies below a symlink loop; dropped` });
          continue;
        }
        if (resolved !== path) {
          if (report) warnings.push({ code: 'SYMLINK_PARENT', layer: layer.digest, path, message: `${opts.what}: ${path} lies below a symlink; placed at ${resolved}, inside the root` });
          path = resolved;
        }
      }
      if (hidden(path, deleted, opaque, winners)) continue;
      if (opts.shadowed?.has(path) && raw.type !== 'dir') continue;
      if ((raw.type === 'char' || raw.type === 'block') && !opts.allowDevices) {
        if (report) warnings.push({ code: 'DEVICE_DROPPED', layer: layer.digest, path, message: `${opts.what}: device node ${path} dropped (containers get their devices from the runtime)` });
        continue;
      }
      const prev = winners.get(path);
      if (prev) {
        // A directory present in several layers keeps the top one's metadata but is emitted at
        // its lowest occurrence, so that lower children still come after their parent.
        if (prev.entry.type === 'dir' && raw.type === 'dir') {
          prev.emitLayer = l;
          prev.emitIndex = i;
        }
        continue;
      }
      // Most entries are emitted as the TOC has them: share the object rather than copy it, so a
      // plan costs one pointer per entry (a big image has hundreds of thousands).
      let entry = path === raw.path ? raw : { ...raw, path };
      if (entry.type === 'hardlink' && entry.linkname !== undefined) {
        const target = cleanPath(entry.linkname);
        entry = { ...entry, linkname: linkOf ? (resolveParentsInRoot(target, linkOf) ?? target) : target };
      }
      winners.set(path, { layer: l, index: i, entry, emitLayer: l, emitIndex: i });
    }
    for (const d of layerDeleted) deleted.add(d);
    for (const d of layerOpaque) opaque.add(d);
  }
  return winners;
}

function joinParent(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function hidden(path: string, deleted: Set<string>, opaque: Set<string>, winners: Map<string, Winner>): boolean {
  if (deleted.has(path)) return true;
  for (const a of ancestors(path)) {
    if (deleted.has(a) || opaque.has(a)) return true;
    const w = winners.get(a);
    // A higher layer put a file or symlink where this entry needs a directory.
    if (w && w.entry.type !== 'dir') return true;
  }
  if (opaque.has('') && path !== '') return true;
  return false;
}

/** True when `path` is inside any of `dirs` (used for shadowing whole subtrees). */
export function underAny(path: string, dirs: Iterable<string>): boolean {
  for (const d of dirs) if (isUnder(path, d)) return true;
  return false;
}

export { resolveInRoot };
