// The org.mobyproject.config label: the image's own defaults for LinuxKit's image keys, as JSON.
import type { ImageOptions } from '../blueprint/schema.js';
import { RuntimeSpecError } from './runtime-spec-error.js';

type KeyKind = 'strings' | 'string' | 'bool' | 'int' | 'id' | 'ids' | 'map' | 'objects' | 'object';

/** Every key the label may hold and the JSON shape it must have (LinuxKit's image keys). */
const LABEL_KEYS: Readonly<Record<keyof ImageOptions, KeyKind>> = {
  capabilities: 'strings', 'capabilities.add': 'strings', ambient: 'strings', mounts: 'objects',
  binds: 'strings', 'binds.add': 'strings', devices: 'objects', tmpfs: 'strings', command: 'strings',
  env: 'strings', cwd: 'string', net: 'string', pid: 'string', ipc: 'string', uts: 'string',
  userns: 'string', hostname: 'string', readonly: 'bool', maskedPaths: 'strings',
  readonlyPaths: 'strings', uid: 'id', gid: 'id', additionalGids: 'ids', noNewPrivileges: 'bool',
  oomScoreAdj: 'int', rootfsPropagation: 'string', cgroupsPath: 'string', resources: 'object',
  sysctl: 'map', rlimits: 'strings', uidMappings: 'objects', gidMappings: 'objects',
  annotations: 'map', runtime: 'object',
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): boolean => typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
const isScalar = (v: unknown): boolean => ['string', 'number', 'boolean'].includes(typeof v);

const KIND_CHECK: Record<KeyKind, [(v: unknown) => boolean, string]> = {
  strings: [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), 'a list of strings'],
  string: [(v) => typeof v === 'string', 'a string'],
  bool: [(v) => typeof v === 'boolean', 'true or false'],
  int: [(v) => typeof v === 'number' && Number.isInteger(v), 'a whole number'],
  id: [isId, 'a number or a name'],
  ids: [(v) => Array.isArray(v) && v.every(isId), 'a list of numbers or names'],
  map: [(v) => isObject(v) && Object.values(v).every(isScalar), 'a map of strings'],
  objects: [(v) => Array.isArray(v) && v.every(isObject), 'a list of objects'],
  object: [isObject, 'an object'],
};

/**
 * Parse an org.mobyproject.config label. `where` names the image (and digest) for errors.
 * The shape of each key is checked; the detail of nested objects is left to runtimeSpec.
 */
export function parseMobyLabel(json: string, where: string): ImageOptions {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new RuntimeSpecError('BAD_LABEL', `${where}: the org.mobyproject.config label is not valid JSON (${(e as Error).message}); fix the LABEL in the image's Dockerfile or component spec`);
  }
  if (!isObject(value)) {
    throw new RuntimeSpecError('BAD_LABEL', `${where}: the org.mobyproject.config label must be a JSON object, not ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'name' || key === 'image') {
      throw new RuntimeSpecError('BAD_LABEL', `${where}: ${key} cannot be set in the org.mobyproject.config label`);
    }
    const kind = Object.hasOwn(LABEL_KEYS, key) ? LABEL_KEYS[key as keyof ImageOptions] : undefined;
    if (!kind) {
      throw new RuntimeSpecError('BAD_LABEL', `${where}: the org.mobyproject.config label has an unknown key "${key}"`);
    }
    if (v === null) continue;
    const [ok, shape] = KIND_CHECK[kind];
    if (!ok(v)) throw new RuntimeSpecError('BAD_LABEL', `${where}: in the org.mobyproject.config label, "${key}" must be ${shape}`);
    // A map may hold numbers and booleans (`"net.ipv4.ip_forward": 1`): their text is meant.
    out[key] = kind === 'map' ? Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)])) : v;
  }
  return out as ImageOptions;
}
