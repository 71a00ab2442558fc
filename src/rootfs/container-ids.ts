// uid and gid of a container: numbers, or names LinuxKit resolves to the id it allocates to a
// container of the blueprint, or (osbuild only) names from the image's /etc/passwd and /etc/group.
import { isSet } from './merge-rules.js';
import { FIRST_CONTAINER_ID } from './runtime-defaults.js';
import { RuntimeSpecError } from './runtime-spec-error.js';

/**
 * Ids for uid/gid given as a container's name, as LinuxKit allocates them: 100, 101, ... over
 * the onboot, onshutdown and services containers in that order (a repeated name keeps its
 * last id). Pass the result to every runtimeSpec call of the build.
 */
export function containerIds(names: readonly string[]): Record<string, number> {
  const ids: Record<string, number> = {};
  names.forEach((n, i) => (ids[n] = FIRST_CONTAINER_ID + i));
  return ids;
}

/** name -> id from an /etc/passwd or /etc/group text (the third field in both). */
export function idTable(text: string | undefined): Map<string, number> {
  const table = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || f[0].startsWith('#') || !/^[0-9]+$/.test(f[2])) continue;
    if (!table.has(f[0])) table.set(f[0], Number(f[2])); // first entry wins, as in getpwnam(3)
  }
  return table;
}

/**
 * uid/gid as LinuxKit reads them: a number, "root" or "" (0), or the name of a container of
 * the blueprint (its allocated id). osbuild also takes a digit string or a name from the
 * image's /etc/passwd (uid) or /etc/group (gid), which LinuxKit would reject.
 */
export function numericId(where: string, key: string, v: number | string | null | undefined, idMap: Readonly<Record<string, number>>, names: Map<string, number>, file: string): number {
  if (!isSet(v)) return 0;
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
    throw new RuntimeSpecError('BAD_ID', `${where}: ${key} ${v} is not an id (a whole number 0..4294967295)`);
  }
  if (typeof v !== 'string') throw new RuntimeSpecError('BAD_ID', `${where}: ${key} must be a number or a name`);
  if (v === '' || v === 'root') return 0;
  if (Object.prototype.hasOwnProperty.call(idMap, v)) return idMap[v];
  if (/^[0-9]+$/.test(v) && Number(v) <= 0xffffffff) return Number(v);
  const id = names.get(v);
  if (id !== undefined) return id;
  throw new RuntimeSpecError(
    'BAD_ID',
    `${where}: ${key} "${v}" is neither a container of the blueprint nor a name in the image's ${file}; use a number or a known name`,
  );
}
