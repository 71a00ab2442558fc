// The fixed values behind a container's config.json that no image key names: LinuxKit's
// defaults (src/cmd/linuxkit/moby/config.go, which in turn copies Docker's), written down once
// so that the merging code holds only rules. The vocabulary of the keys themselves (capability
// and rlimit names, default mountpoints) is src/blueprint/image-options.ts.
import type { ContainerMount } from '../blueprint/image-options.js';

/** The runtime-spec version we declare; runc 1.1 (spec 1.0.2-dev) reads every field we write. */
export const OCI_VERSION = '1.0.2';

/** The first id handed to containers named as a uid/gid (LinuxKit numbers them from 100). */
export const FIRST_CONTAINER_ID = 100;

/**
 * The mounts every container gets unless a mount, bind or tmpfs at the same destination
 * replaces it. Docker's set minus /dev/shm and /dev/mqueue (LinuxKit leaves those out).
 * A read-only container also gets read-only /dev and /sys.
 */
export function defaultMounts(readonly: boolean): ContainerMount[] {
  const ro = readonly ? ['ro'] : [];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec', 'relatime'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k', ...ro] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}
