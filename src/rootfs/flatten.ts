// Flattening a stack of layers into one tree, planned from the layers' tables of contents.
//
// Planning from TOCs instead of content lets execution read each layer exactly once, bottom to
// top, streaming: every entry is either emitted (possibly rewritten) or skipped, decided here.
// This is the pure part of root assembly; it is where whiteouts, opaque directories, hostile
// paths and hard-link counts are dealt with.
//
// The layers are applied in order on a simulated tree (tree.ts), as containerd applies them to
// a directory: each entry's parent is resolved through the symlinks present at that moment,
// chroot-style, so that its stored path has no symlink above it, whatever links sit below links;
// an entry replaces what was at its path (a directory keeps its children only when replaced by
// a directory); whiteouts remove what lower layers made. What is left at the end is emitted.

import type { Entry } from '../formats/entry.js';
import { showName } from '../formats/names.js';
import { baseOf, cleanPath, parentOf } from './paths.js';
import { Tree, descendants, nodeKindOf as kindOf, type Node } from './tree.js';
import { OsbuildError } from '../errors.js';

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
  /** Where the tree goes, for messages: "init", "onboot 000-hello", ... */
  what: string;
}

export type WarningCode =
  | 'ESCAPE' | 'SYMLINK_PARENT' | 'DEVICE_DROPPED' | 'LINK_LOOP' | 'NOT_A_DIR' | 'EMPTY_SYMLINK'
  | 'DUPLICATE' | 'TYPE_CONFLICT' | 'HARDLINK' | 'UNSAFE_NAME' | 'MORE';

export interface FlattenWarning {
  code: WarningCode;
  /** The layer's digest, or '' for what does not come from a layer. */
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

export class FlattenError extends OsbuildError {
  readonly code = 'EFLATTEN';
}

/**
 * Warnings, at most `perKind` of each code per place, then one line saying how many more: a
 * hostile image can hold a million bad entries, and a terminal need not show them all.
 */
export class Warnings {
  readonly list: FlattenWarning[] = [];
  private readonly counts = new Map<string, number>();
  constructor(private readonly perKind = 20) {}

  add(w: FlattenWarning, place: string): void {
    const key = `${place}\0${w.code}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    if (n <= this.perKind) this.list.push(w);
  }

  /** The list, with a summary line per (place, code) that went over the limit. */
  done(): FlattenWarning[] {
    const out = [...this.list];
    for (const [key, n] of this.counts) {
      if (n <= this.perKind) continue;
      const [place, code] = key.split('\0');
      out.push({ code: 'MORE', layer: '', path: '', message: `${place}: ${n - this.perKind} more ${code} warnings like the above` });
    }
    return out;
  }
}

interface Slot {
  layer: number;
  index: number;
  entry?: Entry;
  /** Hard links: the file they are a link to. */
  hardTarget?: Node<Slot>;
  /** Still in the tree at the end. */
  live?: boolean;
}

/** Plan the flattening of `layers` (bottom first). */
export function planFlatten(layers: LayerToc[], opts: FlattenOptions): FlattenPlan {
  const warnings = new Warnings();
  const tree = new Tree<Slot>({ layer: -1, index: -1 });
  const warn = (code: WarningCode, l: number, path: string, message: string) =>
    warnings.add({ code, layer: layers[l].digest, path, message: `${opts.what}: ${message}` }, opts.what);

  for (let l = 0; l < layers.length; l++) {
    const entries = layers[l].entries;
    const implicit = () => ({ layer: l, index: -1 });
    // A layer's whiteouts apply to the layers below it only, wherever they sit in its tar.
    for (const raw of entries) {
      const path = cleanPath(raw.path);
      if (baseOf(path).startsWith(WHITEOUT_PREFIX)) whiteout(tree, path);
    }
    for (let i = 0; i < entries.length; i++) {
      const raw = entries[i];
      const path = cleanPath(raw.path);
      if (path === '' || baseOf(path).startsWith(WHITEOUT_PREFIX)) continue;
      const show = showName(path);
      if (raw.path.split('/').includes('..')) warn('ESCAPE', l, path, `entry ${showName(raw.path)} climbs out of its root; kept inside as ${show}`);
      if ((raw.type === 'char' || raw.type === 'block') && !opts.allowDevices) {
        warn('DEVICE_DROPPED', l, path, `device node ${show} dropped (containers get their devices from the runtime)`);
        continue;
      }
      if (raw.type === 'symlink' && !raw.linkname) {
        warn('EMPTY_SYMLINK', l, path, `symlink ${show} has no target; dropped`);
        continue;
      }
      const r = tree.resolveParent(path, true, implicit);
      if (!r.ok) {
        if (r.reason === 'loop') warn('LINK_LOOP', l, path, `${show} lies below a symlink loop (${showName(r.at)}); dropped`);
        else warn('NOT_A_DIR', l, path, `${show} lies below ${showName(r.at)}, which is not a directory; dropped`);
        continue;
      }
      if (r.path !== path) warn('SYMLINK_PARENT', l, path, `${show} lies below a symlink; placed at ${showName(r.path)}, inside the root`);
      const existing = r.parent.children!.get(r.name);
      if (existing && existing.kind === 'dir' && raw.type === 'dir') {
        // A directory met again keeps its children and takes the later metadata; it is emitted
        // where it first appeared, so that what was put below it still follows it.
        existing.data.entry = raw;
        if (!existing.explicit) {
          existing.explicit = true;
          existing.data.index = i;
          existing.data.layer = l;
        }
        continue;
      }
      let hardTarget: Node<Slot> | undefined;
      if (raw.type === 'hardlink') {
        hardTarget = tree.lookup(cleanPath(raw.linkname ?? ''));
        if (hardTarget?.data.hardTarget) hardTarget = hardTarget.data.hardTarget;
        if (!hardTarget || hardTarget.kind !== 'file') {
          throw new FlattenError(
            `${opts.what}: layer ${layers[l].digest}: ${show} is a hard link to ${showName(raw.linkname || '(nothing)')}, ` +
              `which is not a regular file earlier in the image`,
          );
        }
      }
      if (existing) tree.remove(existing);
      const node = tree.add(r.parent, r.name, kindOf(raw), { layer: l, index: i, entry: raw, hardTarget });
      if (node.kind === 'symlink') node.target = raw.linkname;
    }
  }
  return emit(layers, tree, opts, warnings);
}

function whiteout(tree: Tree<Slot>, path: string): void {
  const base = baseOf(path);
  if (base === OPAQUE_WHITEOUT) {
    const dir = tree.lookupDir(parentOf(path));
    if (dir) for (const c of [...dir.children!.values()]) tree.remove(c);
    return;
  }
  const gone = tree.lookup(joinParent(parentOf(path), base.slice(WHITEOUT_PREFIX.length)));
  if (gone) tree.remove(gone);
}

function emit(layers: LayerToc[], tree: Tree<Slot>, opts: FlattenOptions, warnings: Warnings): FlattenPlan {
  const decisions: (Entry | null)[][] = layers.map((l) => new Array(l.entries.length).fill(null));
  const links: Node<Slot>[] = [];
  const symlinks = new Map<string, string>();
  let count = 0;
  let bytes = 0;
  for (const n of descendants(tree.root)) {
    n.data.live = true;
    const e = n.data.entry;
    if (!n.explicit || !e) continue;
    if (n.data.hardTarget) links.push(n);
    if (n.kind === 'symlink') symlinks.set(n.path, e.linkname ?? '');
    // Most entries are emitted as the TOC has them: share the object rather than copy it, so a
    // plan costs one pointer per entry (a big image has hundreds of thousands).
    decisions[n.data.layer][n.data.index] = e.path === n.path ? e : { ...e, path: n.path };
    count++;
    bytes += e.type === 'file' ? e.size : 0;
  }
  // Hard links: the target must still be there, emitted earlier, as a regular file; cpio needs its link count.
  const linkCount = new Map<Node<Slot>, number>();
  for (const h of links) {
    const t = h.data.hardTarget!;
    if (!t.data.live) {
      throw new FlattenError(
        `${opts.what}: layer ${layers[h.data.layer].digest}: ${showName(h.path)} is a hard link to ${showName(t.path)}, ` +
          `which a later layer removed or replaced`,
      );
    }
    linkCount.set(t, (linkCount.get(t) ?? 1) + 1);
  }
  // Link counts and targets go on copies: TOC objects are shared with other plans of the same image.
  for (const h of links) {
    const t = h.data.hardTarget!;
    const n = linkCount.get(t)!;
    const d = decisions[h.data.layer];
    d[h.data.index] = { ...d[h.data.index]!, linkname: t.path, nlink: n };
  }
  for (const [t, n] of linkCount) {
    const d = decisions[t.data.layer];
    d[t.data.index] = { ...d[t.data.index]!, nlink: n };
  }
  return { decisions, warnings: warnings.done(), count, bytes, symlinks };
}

function joinParent(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
