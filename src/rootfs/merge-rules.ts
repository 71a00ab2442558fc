// LinuxKit's rules for merging an image's keys from its sources (image config < label <
// blueprint), and Go's sort order for what LinuxKit writes sorted.

export const isSet = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

/** Later source wins when it sets the key at all (an empty list still counts as set). */
export function pick<T>(...values: (T | null | undefined)[]): T | undefined {
  for (let i = values.length - 1; i >= 0; i--) if (isSet(values[i])) return values[i] as T;
  return undefined;
}

/** For strings LinuxKit treats "" as unset (so `cwd: ""` falls back to the label). */
export function pickNonEmpty(...values: (string | null | undefined)[]): string {
  for (let i = values.length - 1; i >= 0; i--) if (values[i]) return values[i] as string;
  return '';
}

/** The label's list plus the blueprint's `<key>.add` list, in order, without repeats. */
export function mergeAdd(base: string[] | null | undefined, add: string[] | null | undefined): string[] | undefined {
  if (!isSet(add)) return isSet(base) ? base : undefined;
  return [...new Set([...(base ?? []), ...add])];
}

/** Go's sort.Strings / sort by destination: plain code-unit order, never the locale's. */
export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A string map with its keys in Go's order; undefined when there is none or it is empty. */
export function sortedMap(m: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!m) return undefined;
  const keys = Object.keys(m).sort(byCodeUnit);
  if (keys.length === 0) return undefined;
  return Object.fromEntries(keys.map((k) => [k, m[k]]));
}
