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
import { parseCapabilities, parseRlimit } from '../blueprint/image-options.js';
import type { ImageOptions } from '../blueprint/schema.js';
import type { ImageRuntimeConfig } from '../oci/types.js';
import { containerDevices } from './container-devices.js';
import { idTable, numericId } from './container-ids.js';
import { containerMounts } from './container-mounts.js';
import { byCodeUnit, isSet, mergeAdd, pick, pickNonEmpty, sortedMap } from './merge-rules.js';
import type { DeviceCgroupRule, LinuxResources, RuntimeSpec, SpecNamespace, SpecRlimit } from './oci-spec.js';
import { OCI_VERSION } from './runtime-defaults.js';
import { RuntimeSpecError, valueOf } from './runtime-spec-error.js';

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
}

/**
 * LinuxKit's namespace defaults: the host's net, ipc, uts and user namespaces (the containers
 * of one system behave like a pod), a new pid namespace, and always new mount and cgroup
 * namespaces. "host"/"root" joins the host's; "new" (and for net also "none") makes a new one;
 * anything else is a path to join, e.g. `net: /run/netns/wg` bound by another container.
 */
function namespaces(label: ImageOptions, over: ImageOptions): SpecNamespace[] {
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

function capabilities(where: string, label: ImageOptions, over: ImageOptions): RuntimeSpec['process']['capabilities'] {
  const expand = (caps: string[], key: string): string[] => {
    const parsed = parseCapabilities(caps, key);
    if (parsed.problems) throw RuntimeSpecError.of('BAD_CAPABILITY', where, parsed.problems[0]);
    return parsed.value;
  };
  const effective = expand(pick(mergeAdd(label.capabilities, over['capabilities.add']), over.capabilities) ?? [], 'capabilities');
  const ambient = expand(pick(label.ambient, over.ambient) ?? [], 'ambient');
  // Ambient capabilities must also be permitted and inheritable, so they join the bounding set.
  const bounding = [...new Set([...effective, ...ambient])].sort(byCodeUnit);
  return { bounding, effective, inheritable: [...bounding], permitted: [...bounding], ambient };
}

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

  const rlimits: SpecRlimit[] = (pick(label.rlimits, over.rlimits) ?? []).map((r) => valueOf(parseRlimit(r), 'BAD_RLIMIT', where));
  const oomScoreAdj = pick(label.oomScoreAdj, over.oomScoreAdj);

  const process: RuntimeSpec['process'] = {
    terminal: false,
    user: additionalGids.length ? { uid, gid, additionalGids } : { uid, gid },
    args: [...args],
    ...(env && env.length ? { env: [...env] } : {}),
    cwd,
    capabilities: capabilities(where, label, over),
    ...(rlimits.length ? { rlimits } : {}),
    noNewPrivileges: pick(label.noNewPrivileges, over.noNewPrivileges) ?? false,
    ...(isSet(oomScoreAdj) ? { oomScoreAdj } : {}),
  };

  // resources are replaced whole, never merged; the device rules are appended to the copy.
  const resources: LinuxResources = structuredClone(pick(label.resources, over.resources) ?? {});
  const rules: DeviceCgroupRule[] = [...(resources.devices ?? [])];
  const devices = containerDevices(where, pick(label.devices, over.devices) ?? [], rules);
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
    namespaces: namespaces(label, over),
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
    mounts: containerMounts(where, readonly, label, over),
    ...(annotations ? { annotations } : {}),
    linux,
  };
}
