// Executing a root plan: one ordered stream of entries read straight from the store's layers.
// Each layer is decompressed once, in order; nothing touches the host disk.

import { createReadStream } from 'node:fs';
import type { Store } from '../oci/store.js';
import { readTar } from '../formats/tar-read.js';
import type { Entry, EntryStream, EntryWithContent } from '../formats/entry.js';
import { layerEntries } from './layer.js';
import { ancestors, cleanPath } from './paths.js';
import { dirEntry, placeEntry, type Content, type RootPlan, type RootSection } from './plan.js';

export class AssembleError extends Error {
  readonly code = 'EASSEMBLE';
  constructor(message: string) {
    super(message);
    this.name = 'AssembleError';
  }
}

export function assembleRoot(store: Store, plan: RootPlan): EntryStream {
  return withParents(sections(store, plan), plan.epoch);
}

async function* sections(store: Store, plan: RootPlan): EntryStream {
  for (const s of plan.sections) yield* section(store, s, plan.epoch);
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
    const decisions = s.plan.decisions[l];
    let i = 0;
    for await (const { entry, content } of layerEntries(store, s.layers[l])) {
      if (i >= decisions.length) break;
      const d = decisions[i++];
      // The plan was made from this layer's TOC; a mismatch means the cached TOC is stale.
      const expected = s.tocs[l][i - 1];
      if (entry.path !== expected.path || entry.type !== expected.type) {
        throw new AssembleError(`${s.what}: layer ${s.layers[l].digest} differs from its table of contents at ${entry.path}: remove the derived cache and retry`);
      }
      if (!d) continue;
      yield { entry: placeEntry(d, s.prefix), content: d.type === 'file' ? content : undefined };
    }
    if (i !== decisions.length) {
      throw new AssembleError(`${s.what}: layer ${s.layers[l].digest} has ${i} entries, its table of contents ${decisions.length}: remove the derived cache and retry`);
    }
  }
}

async function* modules(store: Store, s: Extract<RootSection, { kind: 'modules' }>): EntryStream {
  const base = `lib/modules/${s.kver}`;
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
          yield { entry: { ...inner.entry, path: p, size: data.length }, content: once(data) };
          continue;
        }
        const rel = p.startsWith(base + '/') ? p.slice(base.length + 1) : undefined;
        const keep = rel !== undefined && (s.selection.files.has(rel) || /^modules\.(order|builtin(\.modinfo)?)$/.test(rel));
        if (!keep) continue;
      }
      if (inner.entry.type === 'hardlink' || inner.entry.type === 'char' || inner.entry.type === 'block') continue;
      yield { entry: { ...inner.entry, path: p }, content: inner.content };
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

/**
 * Every entry's parent directories come first: the kernel's initramfs unpacker (and tar) need
 * them. Directories no layer declares are made with mode 0755, owned by root.
 */
export async function* withParents(source: EntryStream, epoch: number): EntryStream {
  const dirs = new Set<string>();
  for await (const item of source) {
    for (const a of ancestors(item.entry.path)) {
      if (dirs.has(a)) continue;
      dirs.add(a);
      yield { entry: dirEntry(a, epoch) };
    }
    if (item.entry.type === 'dir') {
      if (dirs.has(item.entry.path) && isDefaultDir(item.entry, epoch)) continue;
      dirs.add(item.entry.path);
    }
    yield item as EntryWithContent;
  }
}

function isDefaultDir(e: Entry, epoch: number): boolean {
  return e.mode === 0o755 && e.uid === 0 && e.gid === 0 && e.mtime === epoch && !e.xattrs;
}
