// The OCI runtime spec (config.json) as osbuild writes it: the fields LinuxKit's ConfigToOCI
// sets, with the blueprint's own types where a value is passed through as written.
import type { ContainerMount, Rlimit } from '../blueprint/image-options.js';
import type { IdMapping, Resources } from '../blueprint/schema.js';

export type SpecMount = ContainerMount;
export type SpecRlimit = Rlimit;
/** linux.resources: the image's `resources`, passed through as written, plus device rules. */
export type LinuxResources = Resources;
export type DeviceCgroupRule = NonNullable<Resources['devices']>[number];

export interface SpecNamespace {
  type: 'network' | 'ipc' | 'uts' | 'pid' | 'user' | 'mount' | 'cgroup';
  path?: string;
}

export interface SpecDevice {
  // Optional because LinuxKit's device object leaves them so; runc refuses a device without them.
  path?: string;
  type?: string;
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
    uidMappings?: IdMapping[];
    gidMappings?: IdMapping[];
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
