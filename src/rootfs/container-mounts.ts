// The mounts of a container's config.json: LinuxKit's defaults, then tmpfs, binds and mounts,
// each later one replacing an earlier one at the same destination.
import { parseBind, parseMount, parseTmpfs } from '../blueprint/image-options.js';
import type { ImageOptions } from '../blueprint/schema.js';
import { byCodeUnit, mergeAdd, pick } from './merge-rules.js';
import type { SpecMount } from './oci-spec.js';
import { defaultMounts } from './runtime-defaults.js';
import { valueOf } from './runtime-spec-error.js';

export function containerMounts(where: string, readonly: boolean, label: ImageOptions, over: ImageOptions): SpecMount[] {
  const mounts = new Map<string, SpecMount>();
  const add = (m: SpecMount): void => {
    mounts.set(m.destination, m);
  };
  for (const m of defaultMounts(readonly)) add(m);
  for (const t of pick(label.tmpfs, over.tmpfs) ?? []) add(valueOf(parseTmpfs(t), 'BAD_MOUNT', where));
  // `binds` in the blueprint replaces everything; `binds.add` extends the label's binds.
  for (const b of pick(mergeAdd(label.binds, over['binds.add']), over.binds) ?? []) add(valueOf(parseBind(b), 'BAD_MOUNT', where));
  for (const m of pick(label.mounts, over.mounts) ?? []) add(valueOf(parseMount(m), 'BAD_MOUNT', where));
  // Sorted by destination: deterministic, and /dev comes before /dev/pts.
  return [...mounts.values()].sort((a, b) => byCodeUnit(a.destination, b.destination));
}
