// The `runtime` section of an image: what init does on the host before the container starts.
// LinuxKit writes it merged as runtime.json; osbuild's init reads it as runtime.conf.
import type { BindNamespaces, ImageOptions, Interface, Mount } from '../blueprint/schema.js';
import { pick } from './merge-rules.js';
import { RuntimeSpecError } from './runtime-spec-error.js';

/** runtime.json: the merged `runtime` section with LinuxKit's defaults filled in. */
export interface RuntimeConfig {
  cgroups: string[];
  mounts: Mount[];
  mkdir: string[];
  interfaces: Interface[];
  bindNS: Required<BindNamespaces>;
  namespace: string;
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
