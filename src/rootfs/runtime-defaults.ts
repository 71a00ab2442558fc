// The fixed tables behind a container's config.json: LinuxKit's defaults, written down once so
// that runtime-spec.ts holds only the merging rules. Every value here is LinuxKit's
// (src/cmd/linuxkit/moby/config.go), which in turn copies Docker's defaults.

/** The runtime-spec version we declare; runc 1.1 (spec 1.0.2-dev) reads every field we write. */
export const OCI_VERSION = '1.0.2';

/**
 * Every capability LinuxKit knows (moby/sys/capability's ListKnown, in kernel number order).
 * `capabilities: [all]` means this list; a name outside it is an error, as in LinuxKit. runc
 * skips (with a warning) the ones the running kernel does not have, so a newer name is harmless.
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

/** The resource limits LinuxKit accepts in `rlimits` ("nofile,1024,2048" -> RLIMIT_NOFILE). */
export const RLIMIT_NAMES: readonly string[] = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS',
  'RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
];

/** "unlimited" in an rlimit: RLIM_INFINITY, a uint64 that a JS number cannot hold exactly. */
export const RLIM_INFINITY = 18446744073709551615n;

/** The first id handed to containers named as a uid/gid (LinuxKit numbers them from 100). */
export const FIRST_CONTAINER_ID = 100;

export interface DefaultMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/**
 * The mounts every container gets unless a mount, bind or tmpfs at the same destination
 * replaces it. Docker's set minus /dev/shm and /dev/mqueue (LinuxKit leaves those out).
 * A read-only container also gets read-only /dev and /sys.
 */
export function defaultMounts(readonly: boolean): DefaultMount[] {
  const ro = readonly ? ['ro'] : [];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec', 'relatime'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k', ...ro] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

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
