import { describe, expect, it } from 'vitest';
import { ALL_CAPABILITIES } from '../../src/blueprint/image-options.js';
import type { ImageOptions } from '../../src/blueprint/schema.js';
import { containerIds } from '../../src/rootfs/container-ids.js';
import { parseMobyLabel } from '../../src/rootfs/moby-label.js';
import { runtimeConfig } from '../../src/rootfs/runtime-conf.js';
import { runtimeSpec, type RuntimeSpecInput } from '../../src/rootfs/runtime-spec.js';
import { RuntimeSpecError } from '../../src/rootfs/runtime-spec-error.js';
import { runtimeSpecJson } from '../../src/rootfs/runtime-spec-json.js';

const base = (extra: Partial<RuntimeSpecInput> = {}): RuntimeSpecInput => ({
  name: 'test',
  imageConfig: { Entrypoint: ['/bin/app'] },
  ...extra,
});
const spec = (label?: ImageOptions, overrides?: ImageOptions, extra: Partial<RuntimeSpecInput> = {}) =>
  runtimeSpec(base({ label, overrides, ...extra }));
const mount = (s: ReturnType<typeof spec>, dest: string) => s.mounts.find((m) => m.destination === dest);
const nsTypes = (s: ReturnType<typeof spec>) => s.linux.namespaces.map((n) => (n.path ? `${n.type}=${n.path}` : n.type));

function errorOf(f: () => unknown): RuntimeSpecError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RuntimeSpecError);
    return e as RuntimeSpecError;
  }
  throw new Error('expected a RuntimeSpecError');
}

describe('precedence: image config < label < blueprint', () => {
  const imageConfig = { Entrypoint: ['/bin/ep'], Cmd: ['arg'], Env: ['A=image'], WorkingDir: '/img' };

  it('takes command, env and cwd from the image when nothing else sets them', () => {
    const s = runtimeSpec(base({ imageConfig }));
    expect(s.process.args).toEqual(['/bin/ep', 'arg']);
    expect(s.process.env).toEqual(['A=image']);
    expect(s.process.cwd).toBe('/img');
  });

  it('lets the label replace the image and the blueprint replace the label', () => {
    const label: ImageOptions = { command: ['/label'], env: ['A=label'], cwd: '/label', capabilities: ['CAP_SYS_CHROOT'] };
    const fromLabel = runtimeSpec(base({ imageConfig, label }));
    expect([fromLabel.process.args, fromLabel.process.env, fromLabel.process.cwd]).toEqual([['/label'], ['A=label'], '/label']);
    const overrides: ImageOptions = { command: ['/bp', 'x'], env: ['A=bp'], cwd: '/bp', capabilities: ['CAP_SYS_ADMIN'] };
    const s = runtimeSpec(base({ imageConfig, label, overrides }));
    expect([s.process.args, s.process.env, s.process.cwd]).toEqual([['/bp', 'x'], ['A=bp'], '/bp']);
    expect(s.process.capabilities.effective).toEqual(['CAP_SYS_ADMIN']);
  });

  it('treats an empty list as set (it removes the label value) but an empty string as unset', () => {
    const s = spec({ env: ['A=1'], cwd: '/label', binds: ['/a:/a'] }, { env: [], cwd: '', binds: [] });
    expect(s.process.env).toBeUndefined();
    expect(s.process.cwd).toBe('/label');
    expect(s.mounts.some((m) => m.type === 'bind')).toBe(false);
  });

  it('ignores the image config User, as LinuxKit does', () => {
    const s = runtimeSpec(base({ imageConfig: { Cmd: ['/x'], User: '1000:1000' } }));
    expect(s.process.user).toEqual({ uid: 0, gid: 0 });
  });

  it('refuses a container without a command', () => {
    expect(errorOf(() => runtimeSpec(base({ imageConfig: {} }))).code).toBe('NO_COMMAND');
    expect(errorOf(() => spec(undefined, { command: [] })).message).toMatch(/container "test".*no command/);
  });
});

describe('LinuxKit defaults', () => {
  const s = runtimeSpec(base());

  it('runs as root in /, no terminal, no privileges, writable root', () => {
    expect(s.process.terminal).toBe(false);
    expect(s.process.user).toEqual({ uid: 0, gid: 0 });
    expect(s.process.cwd).toBe('/');
    expect(s.process.noNewPrivileges).toBe(false);
    expect(s.process.capabilities).toEqual({ bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] });
    expect(s.root).toEqual({ path: 'rootfs', readonly: false });
    expect(s).not.toHaveProperty('hostname');
    expect(s.process).not.toHaveProperty('apparmorProfile');
    expect(s.process).not.toHaveProperty('selinuxLabel');
    expect(s.linux).not.toHaveProperty('maskedPaths');
    expect(s.linux).not.toHaveProperty('readonlyPaths');
  });

  it('mounts proc, a /dev tmpfs, devpts, sysfs and cgroup, sorted by destination', () => {
    expect(s.mounts.map((m) => `${m.destination}:${m.type}`)).toEqual([
      '/dev:tmpfs', '/dev/pts:devpts', '/proc:proc', '/sys:sysfs', '/sys/fs/cgroup:cgroup',
    ]);
    expect(mount(s, '/sys/fs/cgroup')?.options).toContain('ro');
    expect(mount(s, '/sys')?.options).not.toContain('ro');
  });

  it('shares the host net, ipc and uts namespaces; new pid, mount and cgroup namespaces', () => {
    expect(nsTypes(s)).toEqual(['pid', 'mount', 'cgroup']);
  });

  it('makes /dev and /sys read-only too for a read-only container', () => {
    const r = spec(undefined, { readonly: true });
    expect(r.root.readonly).toBe(true);
    expect(mount(r, '/dev')?.options).toContain('ro');
    expect(mount(r, '/sys')?.options).toContain('ro');
    expect(spec({ readonly: true }, { readonly: false }).root.readonly).toBe(false);
  });
});

describe('mounts, binds and tmpfs', () => {
  it('binds read-write, rbind and rshared by default; explicit options get rbind added', () => {
    const s = spec(undefined, { binds: ['/var:/var', '/etc/resolv.conf:/etc/resolv.conf:ro'] });
    expect(mount(s, '/var')).toEqual({ destination: '/var', type: 'bind', source: '/var', options: ['rw', 'rbind', 'rshared'] });
    expect(mount(s, '/etc/resolv.conf')?.options).toEqual(['ro', 'rbind']);
  });

  it('binds.add extends the label binds; binds replaces them (and wins over binds.add)', () => {
    const label: ImageOptions = { binds: ['/a:/a'] };
    const added = spec(label, { 'binds.add': ['/b:/b'] });
    expect(added.mounts.filter((m) => m.type === 'bind').map((m) => m.destination)).toEqual(['/a', '/b']);
    const replaced = spec(label, { binds: ['/c:/c'], 'binds.add': ['/b:/b'] });
    expect(replaced.mounts.filter((m) => m.type === 'bind').map((m) => m.destination)).toEqual(['/c']);
    const labelAdd = spec({ 'binds.add': ['/d:/d'] });
    expect(labelAdd.mounts.some((m) => m.destination === '/d')).toBe(false);
  });

  it('mounts a tmpfs with or without options', () => {
    const s = spec(undefined, { tmpfs: ['/tmp:size=1m,mode=1777', '/run'] });
    expect(mount(s, '/tmp')).toEqual({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'mode=1777'] });
    expect(mount(s, '/run')).toEqual({ destination: '/run', type: 'tmpfs', source: 'tmpfs' });
  });

  it('replaces a default mount at the same destination; mounts > binds > tmpfs', () => {
    const s = spec(undefined, {
      tmpfs: ['/x'],
      binds: ['/dev:/dev', '/src:/x'],
      mounts: [{ source: 'cgroup', options: ['rw'] }],
    });
    expect(mount(s, '/dev')?.type).toBe('bind');
    expect(mount(s, '/x')?.type).toBe('bind');
    expect(mount(s, '/sys/fs/cgroup')).toEqual({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['rw'] });
    expect(s.mounts.filter((m) => m.destination === '/dev')).toHaveLength(1);
  });

  it('fills a mount type from its source or /dev, a source from its type, a destination from its type', () => {
    const s = spec(undefined, { mounts: [{ source: 'mqueue' }, { destination: '/dev' }, { type: 'proc', options: ['ro'] }] });
    expect(mount(s, '/dev/mqueue')).toEqual({ destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue' });
    expect(mount(s, '/dev')).toEqual({ destination: '/dev', type: 'tmpfs', source: 'tmpfs' });
    expect(mount(s, '/proc')?.options).toEqual(['ro']);
  });

  // The words are validation's (src/blueprint/image-options.ts), after the container's name.
  it('rejects malformed binds, tmpfs and mounts, naming the container', () => {
    expect(errorOf(() => spec(undefined, { binds: ['/only'] })).message).toBe('container "test": bind `/only` is not `source:destination[:options]`');
    expect(errorOf(() => spec(undefined, { binds: ['/a:/b:ro:x'] })).code).toBe('BAD_MOUNT');
    expect(errorOf(() => spec(undefined, { tmpfs: ['/a:b:c'] })).code).toBe('BAD_MOUNT');
    expect(errorOf(() => spec(undefined, { mounts: [{ destination: '/x', source: '/y' }] })).message).toMatch(/container "test": mount on \/x has no type; add `type:`/);
    expect(errorOf(() => spec(undefined, { mounts: [{ type: 'tmpfs' }] })).message).toMatch(/container "test": tmpfs mount has no destination/);
  });
});

describe('namespaces', () => {
  it('maps host/root to the host namespace, new/none to a new one, anything else to a path', () => {
    expect(nsTypes(spec(undefined, { net: 'new' }))).toEqual(['network', 'pid', 'mount', 'cgroup']);
    expect(nsTypes(spec(undefined, { net: 'none' }))).toEqual(['network', 'pid', 'mount', 'cgroup']);
    expect(nsTypes(spec(undefined, { net: 'host', pid: 'host' }))).toEqual(['mount', 'cgroup']);
    expect(nsTypes(spec({ net: 'new' }, { net: 'root' }))).toEqual(['pid', 'mount', 'cgroup']);
    expect(nsTypes(spec(undefined, { net: '/run/netns/wg', ipc: 'new', uts: 'new', pid: 'new', userns: 'new' }))).toEqual([
      'network=/run/netns/wg', 'ipc', 'uts', 'pid', 'user', 'mount', 'cgroup',
    ]);
  });
});

describe('capabilities', () => {
  it('gives every known capability for [all] and none for [none]', () => {
    const all = spec(undefined, { capabilities: ['all'] }).process.capabilities;
    expect(all.effective).toEqual([...ALL_CAPABILITIES]);
    expect(all.bounding).toEqual([...ALL_CAPABILITIES].sort());
    expect(all.permitted).toEqual(all.bounding);
    expect(spec({ capabilities: ['CAP_KILL'] }, { capabilities: ['NONE'] }).process.capabilities.effective).toEqual([]);
  });

  it('adds capabilities.add to the label list; ambient capabilities join the bounding set, sorted', () => {
    const c = spec({ capabilities: ['CAP_SYS_ADMIN'] }, { 'capabilities.add': ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN'], ambient: ['CAP_CHOWN'] })
      .process.capabilities;
    expect(c.effective).toEqual(['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']);
    expect(c.bounding).toEqual(['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect(c.inheritable).toEqual(c.bounding);
    expect(c.ambient).toEqual(['CAP_CHOWN']);
  });

  it('rejects an unknown capability name', () => {
    const e = errorOf(() => spec({ capabilities: ['NOT_A_CAP'] }));
    expect(e.code).toBe('BAD_CAPABILITY');
    expect(e.message).toBe('container "test": unknown capability `NOT_A_CAP`');
    expect(errorOf(() => spec(undefined, { capabilities: ['SYS_ADMIN'] })).message).toMatch(/did you mean `CAP_SYS_ADMIN`\?$/);
    expect(errorOf(() => spec(undefined, { capabilities: ['all', 'CAP_CHOWN'] })).message).toMatch(/`all` must be the only entry of capabilities/);
    expect(errorOf(() => spec(undefined, { capabilities: ['sys_admin'] })).code).toBe('BAD_CAPABILITY');
  });
});

describe('rlimits', () => {
  it('parses name,soft,hard with optional RLIMIT_ prefix, any case, spaces and unlimited', () => {
    const s = spec(undefined, { rlimits: ['nofile,1024,2048', ' RLIMIT_NPROC , unlimited , UNLIMITED '] });
    expect(s.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', hard: 2048, soft: 1024 },
      { type: 'RLIMIT_NPROC', hard: 18446744073709551615n, soft: 18446744073709551615n },
    ]);
    expect(runtimeSpecJson(s)).toContain('"hard": 18446744073709551615');
  });

  it('rejects unknown names, bad numbers and missing parts', () => {
    expect(errorOf(() => spec(undefined, { rlimits: ['files,1,2'] })).message).toMatch(/container "test": unknown rlimit `files`; write `name,soft,hard`/);
    expect(errorOf(() => spec(undefined, { rlimits: ['nofile,1'] })).code).toBe('BAD_RLIMIT');
    expect(errorOf(() => spec(undefined, { rlimits: ['nofile,-1,2'] })).code).toBe('BAD_RLIMIT');
    expect(errorOf(() => spec(undefined, { rlimits: ['nofile,1,2,3'] })).code).toBe('BAD_RLIMIT');
    expect(errorOf(() => spec(undefined, { rlimits: ['nofile,1,18446744073709551616'] })).code).toBe('BAD_RLIMIT');
  });
});

describe('uid and gid', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\n# comment\nnobody:x:65534:65534::/:/bin/false\nweb:x:1000:1001::/home/web:/bin/sh\n';
  const group = 'root:x:0:\nwheel:x:10:web\nweb:x:1001:\nnogroup:x:65534:\n';

  it('takes numbers, root, and names from the image passwd and group files', () => {
    expect(spec(undefined, { uid: 5, gid: 6, additionalGids: [7] }).process.user).toEqual({ uid: 5, gid: 6, additionalGids: [7] });
    const s = spec(undefined, { uid: 'web', gid: 'web', additionalGids: ['wheel', 'root', 3] }, { passwd, group });
    expect(s.process.user).toEqual({ uid: 1000, gid: 1001, additionalGids: [10, 0, 3] });
    expect(spec({ uid: 'nobody' }, undefined, { passwd }).process.user.uid).toBe(65534);
    expect(spec(undefined, { uid: 'root', gid: '42' }).process.user).toEqual({ uid: 0, gid: 42 });
  });

  it('takes a container name as the id LinuxKit allocates it (100 upwards)', () => {
    const idMap = containerIds(['sysctl', 'dhcpcd', 'getty', 'sshd']);
    expect(idMap).toEqual({ sysctl: 100, dhcpcd: 101, getty: 102, sshd: 103 });
    expect(spec(undefined, { uid: 'getty', gid: 'sshd' }, { idMap, passwd, group }).process.user).toEqual({ uid: 102, gid: 103 });
  });

  it('says where an unknown name was looked for', () => {
    const e = errorOf(() => spec(undefined, { uid: 'web' }, { group }));
    expect(e.code).toBe('BAD_ID');
    expect(e.message).toMatch(/uid "web".*\/etc\/passwd/);
    expect(errorOf(() => spec(undefined, { gid: 'nobody' }, { passwd })).message).toMatch(/gid "nobody".*\/etc\/group/);
    expect(errorOf(() => spec(undefined, { uid: -1 })).code).toBe('BAD_ID');
  });
});

describe('devices, resources and the remaining keys', () => {
  it('creates device nodes and allows them (and whole classes) in the device cgroup', () => {
    const s = spec(undefined, {
      devices: [{ path: '/dev/console', type: 'c', major: 5, minor: 1, mode: '0666' }, { path: 'all', type: 'b' }, { path: '/dev/tty0', type: 'c', major: 4, minor: 0, mode: '620' }],
      resources: { pids: { limit: 10 }, devices: [{ allow: false, access: 'rwm' }] },
    });
    expect(s.linux.devices).toEqual([
      { path: '/dev/console', type: 'c', major: 5, minor: 1, fileMode: 0o666 },
      { path: '/dev/tty0', type: 'c', major: 4, minor: 0, fileMode: 0o620 },
    ]);
    expect(s.linux.resources).toEqual({
      pids: { limit: 10 },
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
        { allow: true, type: 'b', access: 'rwm' },
        { allow: true, type: 'c', major: 4, minor: 0, access: 'rwm' },
      ],
    });
    expect(errorOf(() => spec(undefined, { devices: [{ path: '/dev/x', type: 'c', major: 1, minor: 1 }] })).code).toBe('BAD_DEVICE');
    expect(errorOf(() => spec(undefined, { devices: [{ path: '/dev/x', type: 'c', mode: '0o666' }] })).code).toBe('BAD_DEVICE');
    // A label's devices are not checked in detail: a number as mode means its text, in octal.
    const label = parseMobyLabel('{"devices":[{"path":"/dev/tty0","type":"c","major":4,"minor":0,"mode":620}]}', 'label');
    expect(spec(label).linux.devices).toEqual([{ path: '/dev/tty0', type: 'c', major: 4, minor: 0, fileMode: 0o620 }]);
  });

  it('replaces resources whole and never mutates its input', () => {
    const label: ImageOptions = { resources: { memory: { limit: 1 } }, devices: [{ path: 'all', type: 'c' }] };
    const before = structuredClone(label);
    const s = spec(label, { resources: { pids: { limit: 5 } } });
    expect(s.linux.resources).toEqual({ pids: { limit: 5 }, devices: [{ allow: true, type: 'c', access: 'rwm' }] });
    expect(label).toEqual(before);
  });

  it('maps the remaining keys to their OCI fields', () => {
    const s = spec(
      { hostname: 'label-host', sysctl: { 'net.ipv4.ip_forward': '0' }, oomScoreAdj: 100 },
      {
        hostname: 'bp-host', noNewPrivileges: true, oomScoreAdj: -500, rootfsPropagation: 'shared', cgroupsPath: '/svc/x',
        sysctl: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' }, annotations: { 'b': 'x', 'a': 'y' },
        maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'],
        uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      },
    );
    expect(s.hostname).toBe('bp-host');
    expect(s.process.noNewPrivileges).toBe(true);
    expect(s.process.oomScoreAdj).toBe(-500);
    expect(s.linux.rootfsPropagation).toBe('shared');
    expect(s.linux.cgroupsPath).toBe('/svc/x');
    expect(s.linux.sysctl).toEqual({ 'kernel.shmmax': '1000', 'net.ipv4.ip_forward': '1' });
    expect(Object.keys(s.annotations!)).toEqual(['a', 'b']);
    expect(s.linux.maskedPaths).toEqual(['/proc/kcore']);
    expect(s.linux.readonlyPaths).toEqual(['/proc/sys']);
    expect(s.linux.uidMappings).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
    expect(s.linux.gidMappings).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
  });

  it('merges the runtime section: lists replaced whole, bindNS key by key', () => {
    const r = runtimeConfig(
      { runtime: { mkdir: ['/var/a'], cgroups: ['x'], bindNS: { net: '/run/netns/a', ipc: '/run/ipc' } } },
      { runtime: { mkdir: ['/var/b'], bindNS: { net: '/run/netns/b' }, interfaces: [{ name: 'wg0', add: 'wireguard', createInRoot: true }] } },
    );
    expect(r).toEqual({
      cgroups: ['x'], mounts: [], mkdir: ['/var/b'],
      interfaces: [{ name: 'wg0', add: 'wireguard', createInRoot: true }],
      bindNS: { cgroup: '', ipc: '/run/ipc', mnt: '', net: '/run/netns/b', pid: '', user: '', uts: '' },
      namespace: '',
    });
  });
});

describe('parseMobyLabel', () => {
  it('reads a LinuxKit label', () => {
    const json = '{"capabilities":["CAP_SYS_ADMIN"],"binds":["/dev:/dev"],"uid":"web","readonly":true,"sysctl":{"a":"1"},"net":null}';
    expect(parseMobyLabel(json, 'docker.io/linuxkit/x@sha256:1')).toEqual({
      capabilities: ['CAP_SYS_ADMIN'], binds: ['/dev:/dev'], uid: 'web', readonly: true, sysctl: { a: '1' },
    });
    // Numbers and booleans in a map mean their text, so the spec's string maps hold strings.
    expect(parseMobyLabel('{"sysctl":{"net.ipv4.ip_forward":1,"b":true},"annotations":{"n":2}}', 'x')).toEqual({
      sysctl: { 'net.ipv4.ip_forward': '1', b: 'true' }, annotations: { n: '2' },
    });
  });

  it('says which image has a bad label and why', () => {
    const where = 'docker.io/linuxkit/getty@sha256:abc';
    const bad = errorOf(() => parseMobyLabel('{"binds": [', where));
    expect(bad.code).toBe('BAD_LABEL');
    expect(bad.message).toContain(where);
    expect(bad.message).toMatch(/not valid JSON/);
    expect(errorOf(() => parseMobyLabel('["a"]', where)).message).toMatch(/must be a JSON object, not an array/);
    expect(errorOf(() => parseMobyLabel('{"name":"x"}', where)).message).toMatch(/name cannot be set/);
    expect(errorOf(() => parseMobyLabel('{"bindz":[]}', where)).message).toMatch(/unknown key "bindz"/);
    expect(errorOf(() => parseMobyLabel('{"binds":"/a:/a"}', where)).message).toMatch(/"binds" must be a list of strings/);
    expect(errorOf(() => parseMobyLabel('{"readonly":"yes"}', where)).message).toMatch(/"readonly" must be true or false/);
  });
});

describe('determinism', () => {
  it('gives the same bytes for the same input, whatever the order of map keys', () => {
    const a = spec({ sysctl: { b: '2', a: '1' }, annotations: { y: '1', x: '2' } }, { binds: ['/z:/z', '/a:/a'], capabilities: ['CAP_SYS_ADMIN', 'CAP_CHOWN'] });
    const b = spec({ annotations: { x: '2', y: '1' }, sysctl: { a: '1', b: '2' } }, { capabilities: ['CAP_SYS_ADMIN', 'CAP_CHOWN'], binds: ['/z:/z', '/a:/a'] });
    expect(runtimeSpecJson(a)).toBe(runtimeSpecJson(b));
    expect(runtimeSpecJson(a)).toBe(runtimeSpecJson(spec({ sysctl: { b: '2', a: '1' }, annotations: { y: '1', x: '2' } }, { binds: ['/z:/z', '/a:/a'], capabilities: ['CAP_SYS_ADMIN', 'CAP_CHOWN'] })));
    expect(a.mounts.map((m) => m.destination)).toEqual([...a.mounts.map((m) => m.destination)].sort());
  });

  it('writes JSON that parses back to the spec', () => {
    const s = spec(undefined, { env: ['Q="quoted"\n'], hostname: 'h' });
    expect(JSON.parse(runtimeSpecJson(s))).toEqual(s);
    expect(runtimeSpecJson(s).endsWith('}\n')).toBe(true);
  });
});
