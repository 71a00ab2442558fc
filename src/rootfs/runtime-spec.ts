// config.json of a container bundle: the OCI runtime spec made from three sources, later ones
// overriding earlier ones: the image's OCI config, the image's org.mobyproject.config label and
// the blueprint's image section. The merging rules are LinuxKit's (moby/config.go, ConfigToOCI),
// so that a LinuxKit YAML file gives the same containers here. Pure: no I/O.
//
// Where LinuxKit and this module differ, it is forced by our guest or turns a LinuxKit runtime
// failure into a build-time error:
//  - process.terminal is false: containers write to the serial console, there is no tty (LinuxKit
//    does the same).
//  - no apparmorProfile/selinuxLabel: the guest kernel has AppArmor active but no policy loaded,
//    so naming a profile would make runc fail (LinuxKit does not set them either).
//  - an empty command is an error here; LinuxKit writes a bundle that runc then refuses.
//  - uid/gid names not found among the blueprint's containers are looked up in the image's
//    /etc/passwd and /etc/group (LinuxKit would fail the build); digit strings are numbers.
//  - the image config's `User` is ignored, as in LinuxKit: uid/gid come only from the label and
//    the blueprint (default root), so an image means the same thing in both tools.
import {
  ALL_CAPABILITIES,
  DEFAULT_MOUNTPOINT,
  FIRST_CONTAINER_ID,
  OCI_VERSION,
  RLIMIT_NAMES,
  RLIM_INFINITY,
  SELF_TYPED_SOURCES,
  defaultMounts,
} from './runtime-defaults.js';
import type { ImageRuntimeConfig } from '../oci/types.js';

// ------------------------------------------------------------------ input: LinuxKit's image keys

/** A full mount as written in `mounts` (any field may be left to LinuxKit's defaults). */
export interface MountOption {
  destination?: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** A `devices` entry: a device node to create, or `path: all` to allow a whole class. */
export interface DeviceOption {
  path: string;
  type: string;
  major?: number;
  minor?: number;
  /** Octal permission bits as written in YAML ("0666" or 666 both mean rw-rw-rw-). */
  mode?: string | number;
}

export interface IdMappingOption {
  containerID: number;
  hostID: number;
  size: number;
}

/** The `runtime` section: actions init takes before starting the container (runtime.json). */
export interface RuntimeOption {
  cgroups?: string[];
  mounts?: MountOption[];
  mkdir?: string[];
  interfaces?: { name?: string; add?: string; peer?: string; createInRoot?: boolean }[];
  bindNS?: { cgroup?: string; ipc?: string; mnt?: string; net?: string; pid?: string; user?: string; uts?: string };
  namespace?: string;
}

/**
 * The per-image keys of LinuxKit, as in a blueprint's image section or in the
 * org.mobyproject.config label. Every key is optional; `undefined` or `null` means "not set",
 * an empty list or map means "set to nothing" (it overrides the label).
 */
export interface ImageOptions {
  capabilities?: string[] | null;
  'capabilities.add'?: string[] | null;
  ambient?: string[] | null;
  mounts?: MountOption[] | null;
  binds?: string[] | null;
  'binds.add'?: string[] | null;
  devices?: DeviceOption[] | null;
  tmpfs?: string[] | null;
  command?: string[] | null;
  env?: string[] | null;
  cwd?: string | null;
  net?: string | null;
  pid?: string | null;
  ipc?: string | null;
  uts?: string | null;
  userns?: string | null;
  hostname?: string | null;
  readonly?: boolean | null;
  maskedPaths?: string[] | null;
  readonlyPaths?: string[] | null;
  uid?: number | string | null;
  gid?: number | string | null;
  additionalGids?: (number | string)[] | null;
  noNewPrivileges?: boolean | null;
  oomScoreAdj?: number | null;
  rootfsPropagation?: string | null;
  cgroupsPath?: string | null;
  /** linux.resources of the OCI runtime spec, passed through as written. */
  resources?: LinuxResources | null;
  sysctl?: Record<string, string | number | boolean> | null;
  rlimits?: string[] | null;
  uidMappings?: IdMappingOption[] | null;
  gidMappings?: IdMappingOption[] | null;
  annotations?: Record<string, string | number | boolean> | null;
  runtime?: RuntimeOption | null;
}

// ------------------------------------------------------------------ output: the OCI runtime spec

export interface DeviceCgroupRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface LinuxResources {
  devices?: DeviceCgroupRule[];
  [key: string]: unknown;
}

export interface SpecMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface SpecRlimit {
  type: string;
  /** bigint only above Number.MAX_SAFE_INTEGER ("unlimited"); runtimeSpecJson writes it exactly. */
  hard: number | bigint;
  soft: number | bigint;
}

export interface SpecNamespace {
  type: 'network' | 'ipc' | 'uts' | 'pid' | 'user' | 'mount' | 'cgroup';
  path?: string;
}

export interface SpecDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode: number;
}

export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: false;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env?: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; inheritable: string[]; permitted: string[]; ambient: string[] };
    rlimits?: SpecRlimit[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: 'rootfs'; readonly: boolean };
  hostname?: string;
  mounts: SpecMount[];
  annotations?: Record<string, string>;
  linux: {
    uidMappings?: IdMappingOption[];
    gidMappings?: IdMappingOption[];
    sysctl?: Record<string, string>;
    resources: LinuxResources;
    cgroupsPath?: string;
    namespaces: SpecNamespace[];
    devices?: SpecDevice[];
    rootfsPropagation?: string;
    maskedPaths?: string[];
    readonlyPaths?: string[];
  };
}

/** runtime.json: the merged `runtime` section with LinuxKit's defaults filled in. */
export interface RuntimeConfig {
  cgroups: string[];
  mounts: MountOption[];
  mkdir: string[];
  interfaces: NonNullable<RuntimeOption['interfaces']>;
  bindNS: Required<NonNullable<RuntimeOption['bindNS']>>;
  namespace: string;
}

export interface RuntimeSpecInput {
  /** Container name (bundle id), e.g. "000-hello" or "getty"; used in error messages. */
  name: string;
  imageConfig?: ImageRuntimeConfig;
  /** The parsed org.mobyproject.config label (see parseMobyLabel). */
  label?: ImageOptions;
  /** The blueprint's image section minus name/image. */
  overrides?: ImageOptions;
  /** Container name -> id, for uid/gid given as a container's name (see containerIds). */
  idMap?: Readonly<Record<string, number>>;
  /** The image's /etc/passwd and /etc/group, for uid/gid given as a user or group name. */
  passwd?: string;
  group?: string;
  /** Nothing in LinuxKit's mapping depends on it; kept so callers need not change if one does. */
  arch: 'amd64' | 'arm64';
}

export type RuntimeSpecErrorCode =
  | 'BAD_LABEL'
  | 'BAD_CAPABILITY'
  | 'BAD_MOUNT'
  | 'BAD_RLIMIT'
  | 'BAD_ID'
  | 'BAD_DEVICE'
  | 'NO_COMMAND'
  | 'UNSUPPORTED_RUNTIME';

export class RuntimeSpecError extends Error {
  constructor(
    readonly code: RuntimeSpecErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeSpecError';
  }
}

// ------------------------------------------------------------------ merging rules

const isSet = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

/** Later source wins when it sets the key at all (an empty list still counts as set). */
function pick<T>(...values: (T | null | undefined)[]): T | undefined {
  for (let i = values.length - 1; i >= 0; i--) if (isSet(values[i])) return values[i] as T;
  return undefined;
}

/** For strings LinuxKit treats "" as unset (so `cwd: ""` falls back to the label). */
function pickNonEmpty(...values: (string | null | undefined)[]): string {
  for (let i = values.length - 1; i >= 0; i--) if (values[i]) return values[i] as string;
  return '';
}

/** The label's list plus the blueprint's `<key>.add` list, in order, without repeats. */
function mergeAdd(base: string[] | null | undefined, add: string[] | null | undefined): string[] | undefined {
  if (!isSet(add)) return isSet(base) ? base : undefined;
  return [...new Set([...(base ?? []), ...add])];
}

/** Go's sort.Strings / sort by destination: plain code-unit order, never the locale's. */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sortedMap(m: Record<string, string | number | boolean> | undefined): Record<string, string> | undefined {
  if (!m) return undefined;
  const keys = Object.keys(m).sort(byCodeUnit);
  if (keys.length === 0) return undefined;
  // YAML may give `net.ipv4.ip_forward: 1`; LinuxKit reads the scalar's text into a string map.
  return Object.fromEntries(keys.map((k) => [k, String(m[k])]));
}

function buildMounts(where: string, readonly: boolean, label: ImageOptions, over: ImageOptions): SpecMount[] {
  const mounts = new Map<string, SpecMount>();
  for (const m of defaultMounts(readonly)) mounts.set(m.destination, m);

  for (const t of pick(label.tmpfs, over.tmpfs) ?? []) {
    const parts = t.split(':');
    if (parts.length > 2) {
      throw new RuntimeSpecError('BAD_MOUNT', `${where}: tmpfs "${t}" has more than one ':' (expected /dest or /dest:opt1,opt2)`);
    }
    const m: SpecMount = { destination: parts[0], type: 'tmpfs', source: 'tmpfs' };
    if (parts.length === 2) m.options = parts[1].split(',');
    mounts.set(m.destination, m);
  }

  // `binds` in the blueprint replaces everything; `binds.add` extends the label's binds.
  const binds = pick(mergeAdd(label.binds, over['binds.add']), over.binds) ?? [];
  for (const b of binds) {
    const parts = b.split(':');
    if (parts.length < 2 || parts.length > 3) {
      throw new RuntimeSpecError(
        'BAD_MOUNT',
        `${where}: bind "${b}" must be /src:/dest or /src:/dest:opt1,opt2 (found ${parts.length - 1} ':')`,
      );
    }
    // Without options LinuxKit binds read-write and shares mount events both ways.
    const options = parts.length === 3 ? [...parts[2].split(','), 'rbind'] : ['rw', 'rbind', 'rshared'];
    mounts.set(parts[1], { destination: parts[1], type: 'bind', source: parts[0], options });
  }

  for (const m of pick(label.mounts, over.mounts) ?? []) {
    let type = m.type ?? '';
    let source = m.source ?? '';
    let destination = m.destination ?? '';
    if (!type && SELF_TYPED_SOURCES.includes(source)) type = source;
    if (!type && destination === '/dev') type = 'tmpfs';
    if (!type) throw new RuntimeSpecError('BAD_MOUNT', `${where}: mount for destination "${destination}" is missing type`);
    if (!source) source = type;
    if (!destination) destination = DEFAULT_MOUNTPOINT[type] ?? '';
    if (!destination) throw new RuntimeSpecError('BAD_MOUNT', `${where}: mount of type "${type}" is missing destination`);
    const out: SpecMount = { destination, type, source };
    if (m.options) out.options = [...m.options];
    mounts.set(destination, out);
  }

  // Sorted by destination: deterministic, and /dev comes before /dev/pts.
  return [...mounts.values()].sort((a, b) => byCodeUnit(a.destination, b.destination));
}

/**
 * LinuxKit's namespace defaults: the host's net, ipc, uts and user namespaces (the containers
 * of one system behave like a pod), a new pid namespace, and always new mount and cgroup
 * namespaces. "host"/"root" joins the host's; "new" (and for net also "none") makes a new one;
 * anything else is a path to join, e.g. `net: /run/netns/wg` bound by another container.
 */
function buildNamespaces(label: ImageOptions, over: ImageOptions): SpecNamespace[] {
  const out: SpecNamespace[] = [];
  const add = (type: SpecNamespace['type'], value: string, newWords: string[]): void => {
    if (value === 'host' || value === 'root') return;
    const path = newWords.includes(value) ? '' : value;
    out.push(path ? { type, path } : { type });
  };
  add('network', pickNonEmpty('root', label.net, over.net), ['none', 'new']);
  add('ipc', pickNonEmpty('root', label.ipc, over.ipc), ['new']);
  add('uts', pickNonEmpty('root', label.uts, over.uts), ['new']);
  add('pid', pickNonEmpty(label.pid, over.pid), ['new', '']);
  add('user', pickNonEmpty('root', label.userns, over.userns), ['new']);
  out.push({ type: 'mount' }, { type: 'cgroup' });
  return out;
}

/** `[all]` and `[none]` (any case) are words only when alone in the list. */
function expandCaps(where: string, caps: string[]): string[] {
  if (caps.length === 1) {
    const word = caps[0].toLowerCase();
    if (word === 'none') return [];
    if (word === 'all') return [...ALL_CAPABILITIES];
  }
  for (const c of caps) {
    if (!ALL_CAPABILITIES.includes(c)) {
      throw new RuntimeSpecError('BAD_CAPABILITY', `${where}: unknown capability "${c}" (write it as CAP_NAME in capitals, e.g. CAP_NET_ADMIN)`);
    }
  }
  return caps;
}

function buildCapabilities(where: string, label: ImageOptions, over: ImageOptions): RuntimeSpec['process']['capabilities'] {
  const effective = expandCaps(where, pick(mergeAdd(label.capabilities, over['capabilities.add']), over.capabilities) ?? []);
  const ambient = expandCaps(where, pick(label.ambient, over.ambient) ?? []);
  // Ambient capabilities must also be permitted and inheritable, so they join the bounding set.
  const bounding = [...new Set([...effective, ...ambient])].sort(byCodeUnit);
  return { bounding, effective: [...effective], inheritable: [...bounding], permitted: [...bounding], ambient: [...ambient] };
}

function parseRlimitValue(where: string, spec: string, text: string): number | bigint {
  const t = text.trim();
  if (t.toLowerCase() === 'unlimited') return RLIM_INFINITY;
  if (!/^[0-9]+$/.test(t) || BigInt(t) > RLIM_INFINITY) {
    throw new RuntimeSpecError('BAD_RLIMIT', `${where}: rlimit "${spec}": "${t}" is not a number or "unlimited"`);
  }
  const n = BigInt(t);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function buildRlimits(where: string, specs: string[]): SpecRlimit[] {
  return specs.map((spec) => {
    const parts = spec.split(',');
    if (parts.length < 3) {
      throw new RuntimeSpecError('BAD_RLIMIT', `${where}: rlimit "${spec}" must be name,soft,hard (e.g. nofile,1024,2048)`);
    }
    // Like Go's SplitN(s, ",", 3): a third comma stays in the hard value (and fails to parse).
    const [name, soft, ...hard] = parts;
    let type = name.trim().toUpperCase();
    if (!type.startsWith('RLIMIT_')) type = `RLIMIT_${type}`;
    if (!RLIMIT_NAMES.includes(type)) {
      throw new RuntimeSpecError('BAD_RLIMIT', `${where}: rlimit "${spec}": unknown limit "${name.trim()}" (known: ${RLIMIT_NAMES.map((r) => r.slice(7).toLowerCase()).join(', ')})`);
    }
    return { type, hard: parseRlimitValue(where, spec, hard.join(',')), soft: parseRlimitValue(where, spec, soft) };
  });
}

// ------------------------------------------------------------------ uid/gid names

/** name -> id from an /etc/passwd or /etc/group text (the third field in both). */
function idTable(text: string | undefined): Map<string, number> {
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
function numericId(where: string, key: string, v: number | string | null | undefined, idMap: Readonly<Record<string, number>>, names: Map<string, number>, file: string): number {
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

// ------------------------------------------------------------------ devices

function deviceMode(where: string, d: DeviceOption): number {
  // LinuxKit parses the YAML text of `mode` as octal, so 0666 and "0666" and 666 all mean 0o666.
  const text = isSet(d.mode) ? String(d.mode) : '';
  if (!/^[0-7]+$/.test(text) || parseInt(text, 8) > 0o7777) {
    throw new RuntimeSpecError('BAD_DEVICE', `${where}: device "${d.path}": mode "${text}" is not an octal permission like 0666`);
  }
  return parseInt(text, 8);
}

function buildDevices(where: string, devices: DeviceOption[], rules: DeviceCgroupRule[]): SpecDevice[] {
  const out: SpecDevice[] = [];
  for (const d of devices) {
    // Every device must also be allowed by the device cgroup, or opening it fails with EPERM.
    if (d.path === 'all') {
      rules.push({ allow: true, type: d.type, access: 'rwm' });
      continue;
    }
    const dev: SpecDevice = { path: d.path, type: d.type, major: d.major ?? 0, minor: d.minor ?? 0, fileMode: deviceMode(where, d) };
    out.push(dev);
    rules.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access: 'rwm' });
  }
  return out;
}

// ------------------------------------------------------------------ the spec

/** The OCI runtime spec (config.json) of one container bundle. Throws RuntimeSpecError. */
export function runtimeSpec(input: RuntimeSpecInput): RuntimeSpec {
  const where = `container "${input.name}"`;
  const img = input.imageConfig ?? {};
  const label = input.label ?? {};
  const over = input.overrides ?? {};

  // Entrypoint and Cmd are joined (LinuxKit does not treat them apart as Docker does);
  // `command` replaces both.
  const imageArgs = [...(img.Entrypoint ?? []), ...(img.Cmd ?? [])];
  const args = pick<string[]>(imageArgs, label.command, over.command) ?? [];
  if (args.length === 0) {
    throw new RuntimeSpecError('NO_COMMAND', `${where}: no command: the image has no Entrypoint/Cmd and neither the label nor the blueprint sets \`command\``);
  }
  const env = pick<string[]>(img.Env ?? undefined, label.env, over.env);
  const cwd = pickNonEmpty('/', img.WorkingDir, label.cwd, over.cwd);
  const readonly = pick(label.readonly, over.readonly) ?? false;

  const idMap = input.idMap ?? {};
  const users = idTable(input.passwd);
  const groups = idTable(input.group);
  const uid = numericId(where, 'uid', pick(label.uid, over.uid), idMap, users, '/etc/passwd');
  const gid = numericId(where, 'gid', pick(label.gid, over.gid), idMap, groups, '/etc/group');
  const additionalGids = (pick(label.additionalGids, over.additionalGids) ?? []).map((g) =>
    numericId(where, 'additionalGids entry', g, idMap, groups, '/etc/group'),
  );

  const rlimits = buildRlimits(where, pick(label.rlimits, over.rlimits) ?? []);
  const oomScoreAdj = pick(label.oomScoreAdj, over.oomScoreAdj);

  const process: RuntimeSpec['process'] = {
    terminal: false,
    user: additionalGids.length ? { uid, gid, additionalGids } : { uid, gid },
    args: [...args],
    ...(env && env.length ? { env: [...env] } : {}),
    cwd,
    capabilities: buildCapabilities(where, label, over),
    ...(rlimits.length ? { rlimits } : {}),
    noNewPrivileges: pick(label.noNewPrivileges, over.noNewPrivileges) ?? false,
    ...(isSet(oomScoreAdj) ? { oomScoreAdj } : {}),
  };

  // resources are replaced whole, never merged; the device rules are appended to the copy.
  const resources: LinuxResources = structuredClone(pick(label.resources, over.resources) ?? {});
  const rules: DeviceCgroupRule[] = [...(resources.devices ?? [])];
  const devices = buildDevices(where, pick(label.devices, over.devices) ?? [], rules);
  if (rules.length) resources.devices = rules;

  const uidMappings = pick(label.uidMappings, over.uidMappings) ?? [];
  const gidMappings = pick(label.gidMappings, over.gidMappings) ?? [];
  const sysctl = sortedMap(pick(label.sysctl, over.sysctl));
  const cgroupsPath = pick(label.cgroupsPath, over.cgroupsPath);
  const rootfsPropagation = pick(label.rootfsPropagation, over.rootfsPropagation);
  const maskedPaths = pick(label.maskedPaths, over.maskedPaths) ?? [];
  const readonlyPaths = pick(label.readonlyPaths, over.readonlyPaths) ?? [];

  const linux: RuntimeSpec['linux'] = {
    ...(uidMappings.length ? { uidMappings: structuredClone(uidMappings) } : {}),
    ...(gidMappings.length ? { gidMappings: structuredClone(gidMappings) } : {}),
    ...(sysctl ? { sysctl } : {}),
    resources,
    ...(cgroupsPath ? { cgroupsPath } : {}),
    namespaces: buildNamespaces(label, over),
    ...(devices.length ? { devices } : {}),
    ...(rootfsPropagation ? { rootfsPropagation } : {}),
    ...(maskedPaths.length ? { maskedPaths: [...maskedPaths] } : {}),
    ...(readonlyPaths.length ? { readonlyPaths: [...readonlyPaths] } : {}),
  };

  const hostname = pickNonEmpty(label.hostname, over.hostname);
  const annotations = sortedMap(pick(label.annotations, over.annotations));
  return {
    ociVersion: OCI_VERSION,
    process,
    root: { path: 'rootfs', readonly },
    ...(hostname ? { hostname } : {}),
    mounts: buildMounts(where, readonly, label, over),
    ...(annotations ? { annotations } : {}),
    linux,
  };
}

/**
 * The merged `runtime` section (LinuxKit writes it as runtime.json next to config.json): each
 * list is replaced whole by the blueprint; bindNS is merged key by key.
 */
export function runtimeConfig(label?: ImageOptions, overrides?: ImageOptions): RuntimeConfig {
  const l = label?.runtime ?? {};
  const o = overrides?.runtime ?? {};
  const ns = (k: keyof RuntimeConfig['bindNS']): string => pick(l.bindNS?.[k], o.bindNS?.[k]) ?? '';
  return structuredClone({
    cgroups: pick(l.cgroups, o.cgroups) ?? [],
    mounts: pick(l.mounts, o.mounts) ?? [],
    mkdir: pick(l.mkdir, o.mkdir) ?? [],
    interfaces: pick(l.interfaces, o.interfaces) ?? [],
    bindNS: { cgroup: ns('cgroup'), ipc: ns('ipc'), mnt: ns('mnt'), net: ns('net'), pid: ns('pid'), user: ns('user'), uts: ns('uts') },
    namespace: pick(l.namespace, o.namespace) ?? '',
  });
}

/**
 * runtime.conf: the `runtime` section as the init (components/init/runtime) reads it, one action
 * a line, in the order LinuxKit takes them (mounts, then mkdir, then cgroups, so a directory can
 * be made under a mount):
 *
 *     mount <type> <source> <destination> <options, comma-separated, or ->
 *     mkdir <path>
 *     cgroup <path below /sys/fs/cgroup>
 *
 * A relative path is relative to the container's rootfs (LinuxKit's rule). Fields are separated
 * by spaces, so none may hold white space. undefined when there is nothing to do. Throws
 * RuntimeSpecError for what the init cannot do (interfaces, bindNS, namespace) and for mounts
 * it cannot perform.
 */
export function runtimeConfText(rc: RuntimeConfig, name: string): string | undefined {
  const where = `container "${name}"`;
  const unsupported = [
    rc.interfaces.length ? 'interfaces' : '',
    Object.values(rc.bindNS).some((p) => p) ? 'bindNS' : '',
    rc.namespace ? 'namespace' : '',
  ].filter(Boolean);
  if (unsupported.length) {
    throw new RuntimeSpecError('UNSUPPORTED_RUNTIME', `${where}: runtime.${unsupported[0]} is not supported by osbuild's init yet (only runtime.mkdir, runtime.mounts and runtime.cgroups are)`);
  }
  const word = (what: string, v: string): string => {
    if (v === '' || /\s/.test(v)) throw new RuntimeSpecError('BAD_MOUNT', `${where}: runtime ${what} "${v}" must be a non-empty path without white space`);
    return v;
  };
  const lines: string[] = [];
  for (const m of rc.mounts) {
    const dest = word('mount destination', m.destination ?? '');
    const options = [...(m.options ?? [])];
    const binds = options.some((o) => o === 'bind' || o === 'rbind');
    let type = m.type ?? '';
    if (!type && binds) type = 'bind';
    if (!type) throw new RuntimeSpecError('BAD_MOUNT', `${where}: runtime mount on ${dest} has no type (e.g. tmpfs, or bind with a source)`);
    // mount(2) knows no "bind" file system: LinuxKit's runtime fails such a mount, ours binds.
    if (type === 'bind' && !binds) options.push('bind');
    const source = m.source || (type === 'bind' ? '' : type);
    if (!source) throw new RuntimeSpecError('BAD_MOUNT', `${where}: runtime bind mount on ${dest} has no source`);
    for (const o of options) if (o === '' || /[\s,]/.test(o)) throw new RuntimeSpecError('BAD_MOUNT', `${where}: runtime mount on ${dest}: option "${o}" must be one word without white space or comma`);
    lines.push(`mount ${word('mount type', type)} ${word('mount source', source)} ${dest} ${options.length ? options.join(',') : '-'}`);
  }
  for (const d of rc.mkdir) lines.push(`mkdir ${word('mkdir path', d)}`);
  for (const c of rc.cgroups) lines.push(`cgroup ${word('cgroup', c.replace(/^\/+/, ''))}`);
  if (lines.length === 0) return undefined;
  return `# what the init does on the host before the container starts (the runtime section)\n${lines.join('\n')}\n`;
}

/**
 * config.json text: 4-space indented JSON (as LinuxKit writes it) with a final newline.
 * Integers beyond 2^53 (an "unlimited" rlimit) are written exactly, which JSON.stringify cannot.
 */
export function runtimeSpecJson(value: unknown): string {
  return `${toJson(value, '')}\n`;
}

function toJson(v: unknown, indent: string): string {
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v);
    if (s === undefined) throw new TypeError(`cannot write ${typeof v} as JSON`);
    return s;
  }
  const inner = `${indent}    `;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => inner + toJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${toJson(x, inner)}`).join(',\n')}\n${indent}}`;
}

// ------------------------------------------------------------------ the label

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
    const kind = LABEL_KEYS[key as keyof ImageOptions];
    if (!kind) {
      throw new RuntimeSpecError('BAD_LABEL', `${where}: the org.mobyproject.config label has an unknown key "${key}"`);
    }
    if (v === null) continue;
    const [ok, shape] = KIND_CHECK[kind];
    if (!ok(v)) throw new RuntimeSpecError('BAD_LABEL', `${where}: in the org.mobyproject.config label, "${key}" must be ${shape}`);
    out[key] = v;
  }
  return out as ImageOptions;
}
