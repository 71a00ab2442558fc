// Where each part of a parsed blueprint came from. Kept in a side table keyed by the parsed
// objects themselves, so a Blueprint stays a plain value (JSON-serialisable, comparable) while
// later stages (merge, validation, the runtime-spec builder) can still point at file:line:col.
import type { Location } from './errors.js';

export interface Origin {
  /** The object or list itself (for a mapping: its first key). */
  self: Location;
  /** Its path within its own file, e.g. ['services', 0] (indices are the file's, not the merge's). */
  path: (string | number)[];
  /** Mapping keys: where each key is written. */
  keys: Map<string, Location>;
  /** Mapping values / list items: where each value starts. */
  values: Map<string | number, Location>;
}

const origins = new WeakMap<object, Origin>();

export function setOrigin(value: object, origin: Origin): void {
  origins.set(value, origin);
}

export function getOrigin(value: object): Origin | undefined {
  return origins.get(value);
}

/**
 * Where `value` (an object or list from a parsed blueprint) was written; with `key`, where that
 * member's value was written (falling back to its key, then to the object).
 */
export function locate(value: object, key?: string | number): Location | undefined {
  const o = origins.get(value);
  if (!o) return undefined;
  if (key === undefined) return o.self;
  return o.values.get(key) ?? (typeof key === 'string' ? o.keys.get(key) : undefined) ?? o.self;
}

/** Where the key `key` of the mapping `value` was written (falling back to the mapping). */
export function locateKey(value: object, key: string): Location | undefined {
  const o = origins.get(value);
  return o ? (o.keys.get(key) ?? o.self) : undefined;
}

/** The path of `value` within the file it came from, extended by `more`. */
export function pathOf(value: object, ...more: (string | number)[]): (string | number)[] {
  return [...(origins.get(value)?.path ?? []), ...more];
}
