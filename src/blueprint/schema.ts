// The blueprint: LinuxKit's YAML format, key for key, plus osbuild's few additions (marked below).
// The key set and JSON shapes follow LinuxKit's src/cmd/linuxkit/moby/schema.go so that any
// LinuxKit file validates here and means the same thing; every object is strict because a
// misspelt key silently ignored is a bug that only shows at boot.
import { z } from 'zod';

const str = z.string();
const int = z.int();
const bool = z.boolean();
const strings = z.array(str);
const mapString = z.record(str, str);
// LinuxKit accepts a number or a name (`root`, or the name of a container whose allocated id
// is meant) wherever a uid or gid goes.
const id = z.union([int, str], { error: 'expected an integer id or a name' });

// OCI LinuxIDMapping (runtime-spec names).
export const IdMapping = z.strictObject({
  hostID: int.optional(),
  containerID: int.optional(),
  size: int.optional(),
});
export type IdMapping = z.infer<typeof IdMapping>;

// OCI Mount as LinuxKit reads it. LinuxKit decodes specs.Mount with its YAML library, which
// lower-cases untagged field names, hence `uidmappings`/`gidmappings` (OCI JSON: uidMappings).
export const Mount = z.strictObject({
  destination: str.optional(),
  type: str.optional(),
  source: str.optional(),
  options: strings.optional(),
  uidmappings: z.array(IdMapping).optional(),
  gidmappings: z.array(IdMapping).optional(),
});
export type Mount = z.infer<typeof Mount>;

// LinuxKit's device object: a device node to create in the container (and allow in its cgroup).
export const Device = z.strictObject({
  path: str.optional(),
  type: str.optional(),
  major: int.optional(),
  minor: int.optional(),
  mode: str.optional(),
});
export type Device = z.infer<typeof Device>;

const DeviceCgroup = z.strictObject({
  allow: bool.optional(),
  type: str.optional(),
  major: int.optional(),
  minor: int.optional(),
  access: str.optional(),
});
const WeightDevice = z.strictObject({
  major: int.optional(),
  minor: int.optional(),
  weight: int.optional(),
  leafWeight: int.optional(),
});
const ThrottleDevice = z.strictObject({
  major: int.optional(),
  minor: int.optional(),
  rate: int.optional(),
});

// OCI LinuxResources, with the field set LinuxKit's schema allows.
export const Resources = z.strictObject({
  devices: z.array(DeviceCgroup).optional(),
  memory: z
    .strictObject({
      limit: int.optional(),
      reservation: int.optional(),
      swap: int.optional(),
      kernel: int.optional(),
      kernelTCP: int.optional(),
      swappiness: int.optional(),
      disableOOMKiller: bool.optional(),
    })
    .optional(),
  cpu: z
    .strictObject({
      shares: int.optional(),
      quota: int.optional(),
      period: int.optional(),
      realtimeRuntime: int.optional(),
      realtimePeriod: int.optional(),
      cpus: str.optional(),
      mems: str.optional(),
    })
    .optional(),
  pids: z.strictObject({ limit: int.optional() }).optional(),
  blockio: z
    .strictObject({
      weight: int.optional(),
      leafWeight: int.optional(),
      weightDevice: z.array(WeightDevice).optional(),
      throttleReadBpsDevice: z.array(ThrottleDevice).optional(),
      throttleWriteBpsDevice: z.array(ThrottleDevice).optional(),
      throttleReadIOPSDevice: z.array(ThrottleDevice).optional(),
      throttleWriteIOPSDevice: z.array(ThrottleDevice).optional(),
    })
    .optional(),
  hugepageLimits: z
    .array(
      z.strictObject({
        // LinuxKit's schema says integer, the OCI spec says a string such as "2MB": accept both.
        pageSize: z.union([str, int], { error: 'expected a page size such as "2MB"' }).optional(),
        limit: int.optional(),
      }),
    )
    .optional(),
  network: z
    .strictObject({
      classID: int.optional(),
      priorities: z.array(z.strictObject({ name: str.optional(), priority: int.optional() })).optional(),
    })
    .optional(),
});
export type Resources = z.infer<typeof Resources>;

export const Interface = z.strictObject({
  name: str.optional(),
  add: str.optional(),
  peer: str.optional(),
  createInRoot: bool.optional(),
});
export type Interface = z.infer<typeof Interface>;

// Namespaces of an onboot container to bind-mount to a path, so a later container can join them.
export const BindNamespaces = z.strictObject({
  cgroup: str.optional(),
  ipc: str.optional(),
  mnt: str.optional(),
  net: str.optional(),
  pid: str.optional(),
  user: str.optional(),
  uts: str.optional(),
});
export type BindNamespaces = z.infer<typeof BindNamespaces>;

// What init does around the container at run time (not part of the OCI spec).
export const Runtime = z.strictObject({
  cgroups: strings.optional(),
  mounts: z.array(Mount).optional(),
  mkdir: strings.optional(),
  interfaces: z.array(Interface).optional(),
  bindNS: BindNamespaces.optional(),
  namespace: str.optional(),
});
export type Runtime = z.infer<typeof Runtime>;

// LinuxKit's ImageConfig: the per-image settings, also valid in an image's
// org.mobyproject.config label. Names and JSON shapes are LinuxKit's.
const imageOptionsShape = {
  capabilities: strings.optional(),
  'capabilities.add': strings.optional(),
  ambient: strings.optional(),
  mounts: z.array(Mount).optional(),
  binds: strings.optional(),
  'binds.add': strings.optional(),
  devices: z.array(Device).optional(),
  tmpfs: strings.optional(),
  command: strings.optional(),
  env: strings.optional(),
  cwd: str.optional(),
  net: str.optional(),
  pid: str.optional(),
  ipc: str.optional(),
  uts: str.optional(),
  userns: str.optional(),
  readonly: bool.optional(),
  maskedPaths: strings.optional(),
  readonlyPaths: strings.optional(),
  uid: id.optional(),
  gid: id.optional(),
  additionalGids: z.array(id).optional(),
  noNewPrivileges: bool.optional(),
  hostname: str.optional(),
  oomScoreAdj: int.optional(),
  rootfsPropagation: str.optional(),
  cgroupsPath: str.optional(),
  resources: Resources.optional(),
  sysctl: mapString.optional(),
  rlimits: strings.optional(),
  uidMappings: z.array(IdMapping).optional(),
  gidMappings: z.array(IdMapping).optional(),
  annotations: mapString.optional(),
  runtime: Runtime.optional(),
};

export const ImageOptions = z.strictObject(imageOptionsShape);
export type ImageOptions = z.infer<typeof ImageOptions>;

// osbuild: when the init starts a service again after it exits (services only): `always`
// (LinuxKit's behaviour, the default: backoff 1 s doubling to 30 s), `on-failure` (only after a
// non-zero exit), `never` (it runs once).
export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

// An entry of onboot, onshutdown or services. `restart` and `after` are osbuild's keys for
// services (checks.ts refuses them on onboot/onshutdown entries, which run once, in order);
// they are not image keys, so an image's label cannot set them.
export const ImageSpec = z.strictObject({
  name: str,
  image: str,
  ...imageOptionsShape,
  restart: z.enum(RESTART_POLICIES, { error: 'expected always, on-failure or never' }).optional(),
  // osbuild: services this one waits for: it starts once each of them has started.
  after: strings.optional(),
});
export type ImageSpec = z.infer<typeof ImageSpec>;

export const KernelSpec = z.strictObject({
  image: str.optional(),
  cmdline: str.optional(),
  binary: str.optional(),
  tar: str.optional(),
  ucode: str.optional(),
  // osbuild: kernel modules to include (with their dependencies) and load at boot, in order.
  // Absent: LinuxKit's meaning, the whole modules tarball and nothing loaded explicitly.
  modules: strings.optional(),
});
export type KernelSpec = z.infer<typeof KernelSpec>;

export const FileSpec = z.strictObject({
  path: str,
  directory: bool.optional(),
  symlink: str.optional(),
  contents: str.optional(),
  source: str.optional(),
  metadata: str.optional(),
  optional: bool.optional(),
  mode: str.optional(),
  uid: id.optional(),
  gid: id.optional(),
});
export type FileSpec = z.infer<typeof FileSpec>;

// LinuxKit's volumes: named directories shared between containers, blank or filled from an image.
export const VolumeSpec = z.strictObject({
  name: str,
  image: str.optional(),
  readonly: bool.optional(),
  format: z.enum(['filesystem', 'oci']).optional(),
  platforms: strings.optional(),
});
export type VolumeSpec = z.infer<typeof VolumeSpec>;

// Docker Content Trust settings: accepted so LinuxKit files validate, not acted upon (osbuild
// pins and verifies every image by digest instead).
export const TrustSpec = z.strictObject({
  image: strings.optional(),
  org: strings.optional(),
});
export type TrustSpec = z.infer<typeof TrustSpec>;

// osbuild: where the system lives at run time. `initramfs` (LinuxKit's way, the default): all of
// it in the initrd, in RAM. `squashfs`: a small initrd (the init and the modules that find the
// root) and the system in a read-only squashfs on the boot medium; `writable` paths become
// overlays on a tmpfs (RAM holds only what is written there).
// `compression`: the squashfs's (sqfstar's default levels): zstd (default; small), xz (smallest,
// slowest), gzip, lz4 (fastest to build and read, about 60% bigger than zstd), lzo.
export const SQUASHFS_COMPRESSIONS = ['zstd', 'xz', 'gzip', 'lz4', 'lzo'] as const;
// `initrd.compression`: the initrds' (both layouts'): gzip (default; LinuxKit's, every kernel
// reads it) or zstd (about 4x faster to write and smaller; the kernel needs CONFIG_RD_ZSTD, as
// Debian's have).
export const INITRD_COMPRESSIONS = ['gzip', 'zstd'] as const;
export type InitrdCompression = (typeof INITRD_COMPRESSIONS)[number];
export const SLOT_KINDS = ['ab'] as const;
export const RootSpec = z.strictObject({
  type: z.enum(['initramfs', 'squashfs'], { error: 'expected initramfs or squashfs' }).optional(),
  writable: strings.optional(),
  compression: z.enum(SQUASHFS_COMPRESSIONS, { error: 'expected zstd, xz, gzip, lz4 or lzo' }).optional(),
  // `verity: true` (squashfs only): a dm-verity hash tree is appended to the squashfs, its root
  // hash goes on the kernel command line, and the init opens the root through dm-verity.
  verity: bool.optional(),
  initrd: z.strictObject({ compression: z.enum(INITRD_COMPRESSIONS, { error: 'expected gzip or zstd' }).optional() }).optional(),
  // osbuild: A/B updates (README "Updating devices"): `slots: ab` (squashfs, EFI disk formats) makes
  // two root partitions and boot counting; `version` names this build (systemd-boot's version order:
  // "1" < "2" < "10"); `slotSize` (like --size; default: twice the squashfs, at least 64M), `tries`
  // (trial boots of a new version; default 2), `dataSize` (the persistent osbuild-data partition; 16M).
  slots: z.enum(SLOT_KINDS, { error: 'expected ab' }).optional(),
  version: z.string({ error: 'expected a string (quote a number: version: "2")' }).optional(),
  slotSize: str.optional(),
  tries: int.min(1, { error: 'expected at least 1 try' }).max(99, { error: 'expected at most 99 tries' }).optional(),
  dataSize: str.optional(),
});
export type RootSpec = z.infer<typeof RootSpec>;

export const Blueprint = z.strictObject({
  // osbuild: default base name of the outputs.
  name: str.optional(),
  root: RootSpec.optional(),
  kernel: KernelSpec.optional(),
  init: strings.optional(),
  volumes: z.array(VolumeSpec).optional(),
  onboot: z.array(ImageSpec).optional(),
  onshutdown: z.array(ImageSpec).optional(),
  services: z.array(ImageSpec).optional(),
  files: z.array(FileSpec).optional(),
  trust: TrustSpec.optional(),
});
export type Blueprint = z.infer<typeof Blueprint>;

/** The sections of images run as containers, in LinuxKit's order (it allocates container ids
 *  100, 101, ... in this order, which named uid/gid values refer to). */
export const IMAGE_SECTIONS = ['onboot', 'onshutdown', 'services'] as const;
export type ImageSection = (typeof IMAGE_SECTIONS)[number];
