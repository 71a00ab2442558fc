// LinuxKit's vocabulary for the values of an image's keys (a blueprint's image section or an
// image's org.mobyproject.config label): the capability and rlimit names, where a mount goes by
// default, and how a capability list, a bind, a tmpfs, an rlimit and a mount entry are read.
// Written once so that validation (checks.ts: a problem becomes an issue at file:line:column) and
// the config.json writer (src/rootfs: the value goes into the spec) cannot disagree. The names
// and rules are LinuxKit's (src/cmd/linuxkit/moby/config.go). Pure.
import type { Mount } from './schema.js';
import { suggest } from './suggest.js';

/** What is wrong with an entry and, when there is something to say, what to do about it. */
export interface Problem {
  message: string;
  hint?: string;
}

/** An entry read: its value, or the problem that stops it from being read. */
export type Parsed<T> = { value: T; problem?: undefined } | { problem: Problem; value?: undefined };

/** A mount of the OCI runtime spec, as a bind, a tmpfs or a `mounts` entry becomes one. */
export interface ContainerMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

// ------------------------------------------------------------------ capabilities

/**
 * Every capability LinuxKit knows (moby/sys/capability's ListKnown), in kernel number order:
 * `capabilities: [all]` means this list in this order. A name outside it is an error, as in
 * LinuxKit; runc skips (with a warning) those the running kernel lacks, so a newer name is harmless.
 */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** A problem with the entry at `index` of a list. */
export interface EntryProblem extends Problem {
  index: number;
}

/**
 * A capability list: `[all]` and `[none]` (any case) are words only when alone in the list;
 * otherwise every entry must be a known name. `key` names the list in problems.
 */
export function parseCapabilities(caps: readonly string[], key: string): { value: string[]; problems?: undefined } | { problems: EntryProblem[]; value?: undefined } {
  if (caps.length === 1) {
    const word = caps[0].toLowerCase();
    if (word === 'none') return { value: [] };
    if (word === 'all') return { value: [...ALL_CAPABILITIES] };
  }
  const problems = caps.flatMap((c, index) => {
    const problem = capabilityProblem(c, key);
    return problem ? [{ index, ...problem }] : [];
  });
  return problems.length ? { problems } : { value: [...caps] };
}

function capabilityProblem(c: string, key: string): Problem | undefined {
  if (ALL_CAPABILITIES.includes(c)) return undefined;
  if (['all', 'none'].includes(c.toLowerCase())) return { message: `\`${c}\` must be the only entry of ${key}` };
  // `NET_ADMIN` for `CAP_NET_ADMIN` is the commonest slip, and too far from it by edit distance.
  const guess = suggest(c, ALL_CAPABILITIES) ?? suggest(`CAP_${c}`, ALL_CAPABILITIES);
  return { message: `unknown capability \`${c}\``, ...(guess ? { hint: `did you mean \`${guess}\`?` } : {}) };
}

// ------------------------------------------------------------------ rlimits

/** The resource limits LinuxKit accepts in `rlimits` ("nofile,1024,2048" -> RLIMIT_NOFILE). */
export const RLIMITS: readonly string[] = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS',
  'RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
];

/** "unlimited" in an rlimit: RLIM_INFINITY, a uint64 that a JS number cannot hold exactly. */
export const RLIM_INFINITY = 18446744073709551615n;

export interface Rlimit {
  type: string;
  /** bigint only above Number.MAX_SAFE_INTEGER ("unlimited"); the JSON writer writes it exactly. */
  hard: number | bigint;
  soft: number | bigint;
}

const RLIMIT_HINT = 'write `name,soft,hard`, e.g. `nofile,1024,4096` (soft and hard: a number or `unlimited`)';

/** `name,soft,hard`, the name with or without RLIMIT_ and in any case, each limit a number or `unlimited`. */
export function parseRlimit(text: string): Parsed<Rlimit> {
  const problem = (message: string): Parsed<Rlimit> => ({ problem: { message, hint: RLIMIT_HINT } });
  const parts = text.split(',');
  if (parts.length !== 3) return problem(`rlimit \`${text}\` does not have three comma-separated fields`);
  const name = parts[0].trim();
  let type = name.toUpperCase();
  if (!type.startsWith('RLIMIT_')) type = `RLIMIT_${type}`;
  if (!RLIMITS.includes(type)) return problem(`unknown rlimit \`${name}\``);
  const limits: (number | bigint)[] = [];
  for (const v of [parts[1].trim(), parts[2].trim()]) {
    if (v.toLowerCase() === 'unlimited') limits.push(RLIM_INFINITY);
    else if (!/^[0-9]+$/.test(v)) return problem(`rlimit value \`${v}\` is neither a number nor \`unlimited\``);
    else if (BigInt(v) > RLIM_INFINITY) return problem(`rlimit value \`${v}\` is larger than the largest limit, ${RLIM_INFINITY} (\`unlimited\`)`);
    else limits.push(BigInt(v) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : BigInt(v));
  }
  const [soft, hard] = limits;
  return { value: { type, hard, soft } };
}

// ------------------------------------------------------------------ mounts

/** Where a `mounts` entry of a given type goes when it names no destination. */
export const DEFAULT_MOUNTPOINT: Readonly<Record<string, string>> = {
  proc: '/proc',
  devpts: '/dev/pts',
  sysfs: '/sys',
  cgroup: '/sys/fs/cgroup',
  mqueue: '/dev/mqueue',
};

/** Sources that name their own filesystem type when a `mounts` entry omits `type`. */
export const SELF_TYPED_SOURCES: readonly string[] = ['mqueue', 'devpts', 'proc', 'sysfs', 'cgroup'];

/** A `binds` entry: `source:destination` or `source:destination:opt1,opt2`. */
export function parseBind(text: string): Parsed<ContainerMount> {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) return { problem: { message: `bind \`${text}\` is not \`source:destination[:options]\`` } };
  // Without options LinuxKit binds read-write and shares mount events both ways.
  const options = parts.length === 3 ? [...parts[2].split(','), 'rbind'] : ['rw', 'rbind', 'rshared'];
  return { value: { destination: parts[1], type: 'bind', source: parts[0], options } };
}

/** A `tmpfs` entry: `destination` or `destination:opt1,opt2`. */
export function parseTmpfs(text: string): Parsed<ContainerMount> {
  const parts = text.split(':');
  if (parts.length > 2) return { problem: { message: `tmpfs \`${text}\` is not \`destination[:options]\`` } };
  const value: ContainerMount = { destination: parts[0], type: 'tmpfs', source: 'tmpfs' };
  if (parts.length === 2) value.options = parts[1].split(',');
  return { value };
}

/** A `mounts` entry with what LinuxKit infers filled in: the type from the source or /dev, the source from the type, the destination from DEFAULT_MOUNTPOINT. */
export function parseMount(m: Mount): Parsed<ContainerMount> {
  let type = m.type ?? '';
  let source = m.source ?? '';
  let destination = m.destination ?? '';
  if (!type && SELF_TYPED_SOURCES.includes(source)) type = source;
  if (!type && destination === '/dev') type = 'tmpfs';
  if (!type) return { problem: { message: `mount${destination ? ` on ${destination}` : ''} has no type`, hint: 'add `type:` (e.g. bind, tmpfs, proc)' } };
  if (!source) source = type;
  if (!destination && Object.hasOwn(DEFAULT_MOUNTPOINT, type)) destination = DEFAULT_MOUNTPOINT[type];
  if (!destination) return { problem: { message: `${type} mount has no destination`, hint: 'add `destination:`' } };
  const value: ContainerMount = { destination, type, source };
  if (m.options) value.options = [...m.options];
  return { value };
}
