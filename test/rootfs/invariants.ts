// What every output must satisfy, checked on a list of entries in emission order, and the
// emission order of a root plan computed without a store (tree sections' entries as planned).

import type { Entry, EntryStream } from '../../src/formats/entry.js';
import type { RootPlan } from '../../src/rootfs/plan.js';

/** Rule breaks in an emitted stream (parents must be in it: check after the guard). */
export function violations(entries: Entry[]): string[] {
  const out: string[] = [];
  const seen = new Map<string, Entry['type']>();
  for (const e of entries) {
    const segs = e.path.split('/');
    if (e.path === '' || e.path.includes('\0') || segs.some((s) => s === '' || s === '.' || s === '..')) out.push(`unclean name ${JSON.stringify(e.path)}`);
    for (let i = 1; i < segs.length; i++) {
      const a = segs.slice(0, i).join('/');
      const k = seen.get(a);
      if (k === undefined) out.push(`${e.path}: parent ${a} not emitted before it`);
      else if (k !== 'dir') out.push(`${e.path}: below ${a}, a ${k} emitted before it`);
    }
    if (seen.has(e.path)) out.push(`${e.path} appears twice`);
    if (e.type === 'hardlink' && seen.get(e.linkname ?? '') !== 'file') out.push(`${e.path}: hard link to ${e.linkname}, not a file before it`);
    if (e.type === 'symlink' && !e.linkname) out.push(`${e.path}: symlink without target`);
    seen.set(e.path, e.type);
  }
  return out;
}

/** The entries a plan emits, in order, as assemble.ts streams them (modules sections left out). */
export async function* planStream(plan: RootPlan): EntryStream {
  for (const s of plan.sections) {
    if (s.kind === 'entries') for (const p of s.entries) yield { entry: p.entry };
    if (s.kind !== 'tree') continue;
    for (let l = 0; l < s.emit.length; l++) {
      for (let i = 0; i < s.emit[l].length; i++) {
        for (const entry of s.before[l].get(i) ?? []) yield { entry };
        const e = s.emit[l][i];
        if (e) yield { entry: e };
      }
    }
  }
}

export async function collect(stream: EntryStream): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const { entry } of stream) out.push(entry);
  return out;
}
