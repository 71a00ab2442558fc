// The generated config.json really runs under runc: each case writes a bundle (a busybox rootfs
// and config.json from runtimeSpec) and checks, from inside the container, what the key means.
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageOptions } from '../../src/blueprint/schema.js';
import { runtimeSpec, type RuntimeSpecInput } from '../../src/rootfs/runtime-spec.js';
import { runtimeSpecJson } from '../../src/rootfs/runtime-spec-json.js';

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'cat', 'id', 'ip', 'touch', 'chown', 'pwd', 'grep', 'sleep', 'ls', 'true', 'hostname', 'stat'];

/** Why runc cannot run here at all, or '' when it can. */
function runcUnavailable(): string {
  if (process.getuid?.() !== 0) return 'runc needs root (run the tests as root)';
  if (spawnSync('runc', ['--version']).status !== 0) return 'runc is not installed (apt-get install runc)';
  if (spawnSync(BUSYBOX, ['true']).status !== 0) return `${BUSYBOX} is missing (apt-get install busybox-static)`;
  return '';
}
const noRunc = runcUnavailable();
if (noRunc) console.warn(`runtime-spec-runc tests skipped: ${noRunc}`);

let work = '';
let serial = 0;
const created: string[] = [];

beforeAll(() => {
  if (noRunc) return;
  work = mkdtempSync(join(tmpdir(), 'osbuild-runtime-spec-'));
});

afterAll(async () => {
  for (const id of created) await execa('runc', ['delete', '-f', id], { reject: false });
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Run {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Write a bundle for these options and `runc run` it; `files` are added to the rootfs. */
async function run(overrides: ImageOptions, extra: Partial<RuntimeSpecInput> = {}, files: Record<string, string> = {}): Promise<Run> {
  const id = `osbuild-rt-${process.pid}-${++serial}`;
  const bundle = join(work, id);
  const root = join(bundle, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'mnt']) mkdirSync(join(root, d), { recursive: true });
  linkSync(BUSYBOX, join(root, 'bin/busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
  for (const [path, text] of Object.entries(files)) writeFileSync(join(root, path), text);
  const spec = runtimeSpec({ name: id, imageConfig: { Env: ['PATH=/bin'] }, overrides, ...extra });
  writeFileSync(join(bundle, 'config.json'), runtimeSpecJson(spec));
  created.push(id);
  try {
    const r = await execa('runc', ['run', '--bundle', bundle, id], { reject: false, stdin: 'ignore', timeout: 30_000 });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  } finally {
    await execa('runc', ['delete', '-f', id], { reject: false });
  }
}

const sh = (script: string): string[] => ['/bin/sh', '-c', script];

/** Run and insist that runc itself succeeded (so a failed assertion shows runc's complaint). */
async function runOk(overrides: ImageOptions, extra?: Partial<RuntimeSpecInput>, files?: Record<string, string>): Promise<string> {
  const r = await run(overrides, extra, files);
  expect(r.exitCode, `runc failed: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const capEff = (status: string): bigint => BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(status)![1]}`);
const hostBounding = (): bigint => BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
const CHOWN_SCRIPT = 'cat /proc/self/status; touch /f && chown 1:1 /f && echo CHOWN-OK || echo CHOWN-DENIED';

/**
 * runc cannot grant a capability its caller lacks in its own bounding set (capset fails with
 * EPERM). Sandboxes often drop some (CAP_SYS_RESOURCE, ...); in our guest nothing is dropped.
 */
function boundingIncomplete(): string {
  if (noRunc) return noRunc;
  const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  const missing = ((1n << BigInt(last + 1)) - 1n) & ~hostBounding();
  return missing ? `this host's bounding set lacks capabilities (mask 0x${missing.toString(16)}), so runc cannot grant [all] here` : '';
}
const noFullBounding = boundingIncomplete();
if (noFullBounding) console.warn(`capabilities: [all] test skipped: ${noFullBounding}`);

describe.skipIf(noRunc)('bundles from runtimeSpec under runc', () => {
  it('runs the command and shows its output', async () => {
    expect(await runOk({ command: ['/bin/echo', 'hello from the bundle'] })).toBe('hello from the bundle');
  });

  it('propagates the exit status', async () => {
    expect((await run({ command: sh('exit 3') })).exitCode).toBe(3);
  });

  it('applies env and cwd', async () => {
    expect(await runOk({ command: sh('echo "$GREETING"; pwd'), env: ['PATH=/bin', 'GREETING=hi there'], cwd: '/etc' })).toBe('hi there\n/etc');
  });

  it('applies uid, gid and additional gids, also by name from the image passwd and group', async () => {
    expect(await runOk({ command: sh('id -u; id -g; id -G'), uid: 1000, gid: 1001, additionalGids: [20] })).toBe('1000\n1001\n1001 20');
    const passwd = 'root:x:0:0::/:/bin/sh\nweb:x:4321:4322::/:/bin/sh\n';
    const group = 'root:x:0:\nweb:x:4322:\n';
    expect(await runOk({ command: sh('id -u; id -g'), uid: 'web', gid: 'web' }, { passwd, group }, { 'etc/passwd': passwd, 'etc/group': group })).toBe('4321\n4322');
  });

  it('drops every capability by default and grants the ones listed', async () => {
    const none = await runOk({ command: sh(CHOWN_SCRIPT) });
    expect(capEff(none)).toBe(0n);
    expect(none).toContain('CHOWN-DENIED');
    const one = await runOk({ command: sh(CHOWN_SCRIPT), capabilities: ['CAP_CHOWN'] });
    expect(capEff(one)).toBe(1n); // CAP_CHOWN is bit 0
    expect(one).toContain('CHOWN-OK');
  });

  it.skipIf(noFullBounding)('grants every capability with capabilities: [all]', async () => {
    const all = await runOk({ command: sh(CHOWN_SCRIPT), capabilities: ['all'] });
    expect(capEff(all)).toBe(hostBounding());
    expect(all).toContain('CHOWN-OK');
  });

  it('makes a readonly root reject writes while a tmpfs stays writable', async () => {
    const out = await runOk({
      command: sh('touch /x 2>/dev/null && echo ROOT-WRITABLE; touch /tmp/y && echo TMPFS-WRITABLE'),
      readonly: true,
      tmpfs: ['/tmp:size=1m'],
    });
    expect(out).toBe('TMPFS-WRITABLE');
  });

  it('shows a host directory bound with binds', async () => {
    const host = mkdtempSync(join(work, 'bind-'));
    writeFileSync(join(host, 'marker'), 'from the host');
    expect(await runOk({ command: sh('cat /mnt/marker'), binds: [`${host}:/mnt:ro`] })).toBe('from the host');
    expect(await runOk({ command: sh('echo back > /mnt/written'), binds: [`${host}:/mnt`] })).toBe('');
    expect(readFileSync(join(host, 'written'), 'utf8')).toBe('back\n');
  });

  it('shares the host network by default and with net: host; net: new has only lo', async () => {
    const links = (out: string) => out.split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).filter(Boolean).sort();
    const hostLinks = links(spawnSync('ip', ['-o', 'link']).stdout.toString());
    expect(hostLinks.length).toBeGreaterThan(1);
    expect(links(await runOk({ command: sh('ip -o link') }))).toEqual(hostLinks);
    expect(links(await runOk({ command: sh('ip -o link'), net: 'host' }))).toEqual(hostLinks);
    expect(links(await runOk({ command: sh('ip -o link'), net: 'new' }))).toEqual(['lo']);
  });

  it('sets sysctls inside the container namespace', async () => {
    const out = await runOk({ command: sh('cat /proc/sys/net/ipv4/ip_forward'), net: 'new', sysctl: { 'net.ipv4.ip_forward': '1' } });
    expect(out).toBe('1');
  });

  it('sets the hostname in a new uts namespace', async () => {
    expect(await runOk({ command: sh('hostname'), uts: 'new', hostname: 'box-1' })).toBe('box-1');
  });

  it('creates devices and allows them in the device cgroup', async () => {
    const out = await runOk({
      command: sh('stat -c "%F %t:%T %a" /dev/mynull && echo x > /dev/mynull && cat /dev/mynull && echo OPEN-OK'),
      devices: [{ path: '/dev/mynull', type: 'c', major: 1, minor: 3, mode: '0620' }],
    });
    expect(out).toBe('character special file 1:3 620\nOPEN-OK');
  });

  it('sets rlimits', async () => {
    expect(await runOk({ command: sh('ulimit -Sn; ulimit -Hn'), rlimits: ['nofile,100,200'] })).toBe('100\n200');
  });

  it('limits the number of processes with resources.pids', async () => {
    const script = 'cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; echo STARTED-ALL';
    const free = await runOk({ command: sh(script) });
    expect(free).toBe('max\nSTARTED-ALL');
    // 8 background sleeps under a limit of 5 tasks: a fork fails and the shell gives up.
    const limited = await run({ command: sh(script), resources: { pids: { limit: 5 } } });
    expect(limited.stdout).toBe('5');
    expect(limited.stderr).toMatch(/can't fork/);
    expect(limited.exitCode).not.toBe(0);
  });
});
