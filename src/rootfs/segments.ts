// A root plan cut into segments that can be written, compressed and cached apart: the init, the
// kernel modules, each container (its bundle and its root), the files section. An initramfs is a
// sequence of compressed cpio pieces, so a segment whose inputs did not change since an earlier
// build can be taken from that build as compressed bytes (LinuxKit #3850's merged-layer idea),
// and the result is the same bytes as writing it again.
//
// A segment's key is the sha256 of everything its bytes depend on: every entry it emits (the
// settled plan's, with the layer and position its content comes from), the bytes or hash of
// generated and host content, and the writer's settings. Two plans give the same key only if
// they give the same bytes. Pure: content hashes of host files come from the caller.

import { createHash, type Hash } from 'node:crypto';
import type { Entry } from '../formats/entry.js';
import type { Content, RootPlan, RootSection } from './plan.js';

export interface Segment {
  /** What it holds, for messages: "init", "kernel modules", "services nginx", "files". */
  what: string;
  sections: RootSection[];
}

/** Consecutive sections about the same thing (a container's bundle and its root) form one segment. */
export function segmentsOf(plan: RootPlan): Segment[] {
  const out: Segment[] = [];
  for (const s of plan.sections) {
    const what = s.kind === 'modules' ? 'kernel modules' : s.what;
    const last = out.at(-1);
    if (last && last.what === what) last.sections.push(s);
    else out.push({ what, sections: [s] });
  }
  return out;
}

/** The sha256 (hex) of a host file's content, for keys. */
export type HostHasher = (path: string) => Promise<string>;

/**
 * The key of a segment's content (hex sha256), before the writer's settings: the same for two
 * plans only if their entries, and where each entry's content comes from, are the same.
 */
export async function segmentContentKey(seg: Segment, epoch: number, hostHash: HostHasher): Promise<string> {
  const h = createHash('sha256');
  const put = (tag: string, v: unknown) => h.update(`${tag}${JSON.stringify(v)}\n`);
  put('epoch', epoch);
  for (const s of seg.sections) {
    switch (s.kind) {
      case 'tree':
        put('tree', [s.what, s.prefix, s.layers.map((l) => l.digest)]);
        // content comes from the layer at the entry's position: nulls keep the positions
        for (let l = 0; l < s.emit.length; l++) {
          put('layer', l);
          for (const e of s.emit[l]) putEntry(h, e);
          put('before', [...s.before[l]].sort((a, b) => a[0] - b[0]).map(([i, dirs]) => [i, dirs.map(entryKey)]));
        }
        break;
      case 'modules':
        put('modules', [s.layer.digest, s.tarName, s.kver, [...s.links].sort()]);
        if (s.selection) put('selection', [[...s.selection.files].sort(), s.selection.modulesDep]);
        break;
      case 'entries':
        put('entries', s.what);
        for (const p of s.entries) {
          putEntry(h, p.entry);
          if (p.content) put('content', await contentHash(p.content, hostHash));
        }
        break;
    }
  }
  return h.digest('hex');
}

async function contentHash(c: Content, hostHash: HostHasher): Promise<string> {
  return c.kind === 'bytes' ? createHash('sha256').update(c.data).digest('hex') : `host:${await hostHash(c.path)}`;
}

function putEntry(h: Hash, e: Entry | null): void {
  h.update(e === null ? 'null\n' : `${JSON.stringify(entryKey(e))}\n`);
}

/** An entry as it goes into a key: every field the writers read, in a fixed order. */
function entryKey(e: Entry): unknown[] {
  const x = e.xattrs ? Object.keys(e.xattrs).sort().map((k) => [k, e.xattrs![k].toString('base64')]) : null;
  return [e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size, e.linkname ?? null, e.devmajor ?? null, e.devminor ?? null, e.nlink ?? null, x];
}

/**
 * The device number of a segment's cpio piece (see formats/cpio/write.ts): taken from its key,
 * so it does not depend on where the segment sits, and moved on past any number an earlier
 * segment of the same archive took (never 0, the number of plain archives).
 */
export function segmentDev(contentKey: string, taken: Set<number>): number {
  let dev = Number.parseInt(contentKey.slice(0, 8), 16) || 1;
  while (taken.has(dev)) dev = (dev % 0xffffffff) + 1;
  taken.add(dev);
  return dev;
}
