// Executing a root plan: one ordered stream of entries read straight from the store's layers.
// Each layer is decompressed once, in order; nothing touches the host disk.

import { createReadStream } from 'node:fs';
import type { Store } from '../oci/store.js';
import { readTar } from '../formats/tar/read.js';
import type { Entry, EntryStream } from '../formats/entry.js';
import type { FlattenWarning } from './flatten.js';
import { showName } from '../formats/names.js';
import { guardRoot } from './guard.js';
import { layerEntries } from './layer.js';
import { cleanPath, resolveParentsInRoot } from './paths.js';
import type { Content, RootPlan, RootSection } from './plan.js';
import { OsbuildError } from '../errors.js';

export class AssembleError extends OsbuildError {
  readonly code = 'EASSEMBLE';
}

export interface AssembleOptions {
  /** Entries to add after the root (the tar output's boot/), kept to the same rules. */
  extra?: EntryStream;
  /** What the last checks on the stream dropped (see guard.ts); a settled plan gives none. */
  onWarning?: (w: FlattenWarning) => void;
}

export function assembleRoot(store: Store, plan: RootPlan, opts: AssembleOptions = {}): EntryStream {
  return guardRoot(sections(store, plan, opts.extra), plan.epoch, opts.onWarning);
}

async function* sections(store: Store, plan: RootPlan, extra: EntryStream | undefined): EntryStream {
  yield* sectionEntries(store, plan.sections, plan.epoch);
  if (extra) yield* extra;
}

/** The entries of some sections of a plan, unchecked (a RootGuard checks them: guard.ts). */
export async function* sectionEntries(store: Store, list: readonly RootSection[], epoch: number): EntryStream {
  for (const s of list) yield* section(store, s, epoch);
}

function section(store: Store, s: RootSection, epoch: number): EntryStream {
  switch (s.kind) {
    case 'modules': return modules(store, s);
    case 'tree': return tree(store, s);
    case 'entries': return plain(s.entries, epoch);
  }
}

async function* tree(store: Store, s: Extract<RootSection, { kind: 'tree' }>): EntryStream {
  for (let l = 0; l < s.layers.length; l++) {
    const decisions = s.emit[l];
    const before = s.before[l];
    let i = 0;
    for await (const { entry, content } of layerEntries(store, s.layers[l])) {
      if (i >= decisions.length) break;
      const d = decisions[i++];
      // The plan was made from this layer's TOC; a mismatch means the cached TOC is stale.
      const expected = s.tocs[l][i - 1];
      if (entry.path !== expected.path || entry.type !== expected.type) {
        throw new AssembleError(`${s.what}: layer ${s.layers[l].digest} differs from its table of contents at ${showName(entry.path)}: remove the derived cache and retry`);
      }
      const dirs = before.get(i - 1);
      if (dirs) for (const entry of dirs) yield { entry };
      if (!d) continue;
      yield { entry: d, content: d.type === 'file' ? content : undefined };
    }
    if (i !== decisions.length) {
      throw new AssembleError(`${s.what}: layer ${s.layers[l].digest} has ${i} entries, its table of contents ${decisions.length}: remove the derived cache and retry`);
    }
  }
}

async function* modules(store: Store, s: Extract<RootSection, { kind: 'modules' }>): EntryStream {
  const base = `lib/modules/${s.kver}`;
  // The tarball's names are the system's (lib/modules/...): they go where the init's symlinks
  // (lib -> usr/lib) and the tarball's own lead, inside the root.
  const links = new Map(s.links);
  const place = (e: Entry): Entry | undefined => {
    const path = resolveParentsInRoot(e.path, (p) => links.get(p));
    if (path === undefined || path === '') return undefined;
    if (e.type === 'symlink') links.set(path, e.linkname ?? '');
    return path === e.path ? e : { ...e, path };
  };
  let found = false;
  for await (const { entry, content } of layerEntries(store, s.layer)) {
    if (cleanPath(entry.path) !== cleanPath(s.tarName) || !content) continue;
    found = true;
    for await (const inner of readTar(content)) {
      const p = cleanPath(inner.entry.path);
      if (inner.entry.type === 'dir') continue; // parents are made as needed, so unused dirs stay out
      if (s.selection) {
        if (p === `${base}/modules.dep`) {
          const data = Buffer.from(s.selection.modulesDep);
          const entry = place({ ...inner.entry, path: p, size: data.length });
          if (entry) yield { entry, content: once(data) };
          continue;
        }
        const rel = p.startsWith(base + '/') ? p.slice(base.length + 1) : undefined;
        const keep = rel !== undefined && (s.selection.files.has(rel) || /^modules\.(order|builtin(\.modinfo)?)$/.test(rel));
        if (!keep) continue;
      }
      if (inner.entry.type === 'hardlink' || inner.entry.type === 'char' || inner.entry.type === 'block') continue;
      const entry = place({ ...inner.entry, path: p });
      if (entry) yield { entry, content: inner.content };
    }
  }
  if (!found) throw new AssembleError(`kernel image layer ${s.layer.digest} has no ${s.tarName}`);
}

async function* plain(entries: { entry: Entry; content?: Content }[], _epoch: number): EntryStream {
  for (const { entry, content } of entries) yield { entry, content: content ? contentOf(content) : undefined };
}

function contentOf(c: Content): AsyncIterable<Uint8Array> {
  return c.kind === 'bytes' ? once(c.data) : createReadStream(c.path);
}

async function* once(data: Uint8Array): AsyncIterable<Uint8Array> {
  yield data;
}
