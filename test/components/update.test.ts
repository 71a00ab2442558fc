// The update agent (components/update) on the host: the component's own image (its busybox, curl
// and jq), unpacked and run by chroot in a new pid namespace whose PID 1 is a shell that traps
// TERM as the init does, so the agent's `reboot` is seen and reaches nothing else. The agent reads
// a slots file laid down as the init writes it, pointing at an ESP directory and at the inactive
// slot (a loop device, or a plain file), and pulls from Debian's docker-registry on 127.0.0.1,
// where the update artifact is pushed by osbuild's own artifact push (as build -f update --push).
// Checked: what it writes, what it deletes and keeps on the ESP, and what it prints, for a newer,
// the same, an older and a failed version, damaged blobs, a registry that is down, a slot too
// small, a trial boot, token auth (anonymous and with credentials), and the version order against
// systemd-analyze.
import { execa, type ResultPromise } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostArch } from '../../src/arch.js';
import { pushArtifact } from '../../src/oci/artifact/push.js';
import { componentCache } from '../helpers/components.js';
import { PASSWORD, startProxy, startRegistry, USER, type Proxy, type Running } from '../oci/registry/harness.js';

const MiB = 1024 * 1024;
const REPO_PATH = 'fleet/dev';

/** Why the agent cannot run here, or '' (chroot, a pid namespace and loop devices need root). */
function unavailable(): string {
  if (process.getuid?.() !== 0) return 'the agent runs under chroot in a pid namespace: run the tests as root';
  if (hostArch() === undefined) return `no image for this host's arch (${process.arch})`;
  return '';
}
const why = unavailable();
if (why) console.warn(`update agent tests skipped: ${why}`);

let work: string;
let rootfs: string;
let registry: Running;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

beforeAll(async () => {
  if (why) return;
  const { store } = await componentCache(['components/update']);
  work = await mkdtemp(join(tmpdir(), 'osbuild-update-'));
  rootfs = join(work, 'rootfs');
  await mkdir(rootfs);
  const image = await store.resolveImage('osbuild/update:0.1.0', hostArch()!);
  for (const layer of image.layers) {
    await execa('tar', ['-xf', join(store.dir, 'blobs', 'sha256', layer.digest.slice(7)), '-C', rootfs, '--numeric-owner']);
  }
  // the nodes a container gets from runc: the script sends errors and dd's chatter there
  await execa('mknod', ['-m', '666', join(rootfs, 'dev/null'), 'c', '1', '3']);
  registry = await startRegistry();
}, 900_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface Update {
  version: string;
  root: Buffer;
  uki: Buffer;
}

function update(version: string, rootBytes = 3 * MiB + 4321): Update {
  return { version, root: randomBytes(rootBytes), uki: randomBytes(300_000) };
}

/** Pushes `u` as `osbuild build -f update --push` does: its two files, the version as annotation. */
async function publish(host: string, tag: string, u: Update, opts: { repo?: string; creds?: string } = {}): Promise<void> {
  const dir = await mkdtemp(join(work, 'push-'));
  await writeFile(join(dir, 'dev-update-root.img'), u.root);
  await writeFile(join(dir, 'dev-update.efi'), u.uki);
  try {
    const files = ['dev-update-root.img', 'dev-update.efi'].map((f) => ({ path: join(dir, f), format: 'update' }));
    await pushArtifact(files, `${host}/${opts.repo ?? REPO_PATH}:${tag}`, { name: 'dev', arch: hostArch(), version: u.version, registry: { retries: 1, creds: opts.creds, env: {} } });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The registry's stored copy of a blob (docker-registry's filesystem layout). */
function blobFile(digest: string): string {
  const hex = digest.slice(7);
  return join(registry.dir, 'data/docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

interface Device {
  /** The slots file's path for it, as the agent sees it. */
  path: string;
  read(): Promise<Buffer>;
  release(): Promise<void>;
}

const SLOT_BYTES = 8 * MiB;
const SLOT_FILL = 0x5a;

/** The inactive slot: a plain file in the rootfs, or a loop device over one (a real block device). */
async function slotDevice(kind: 'file' | 'loop', bytes = SLOT_BYTES): Promise<Device> {
  const file = join(rootfs, 'dev', 'slot-b.img');
  await writeFile(file, Buffer.alloc(bytes, SLOT_FILL));
  if (kind === 'file') return { path: '/dev/slot-b.img', read: () => readFile(file), release: () => rm(file, { force: true }) };
  const loop = (await execa('losetup', ['-f', '--show', file])).stdout.trim();
  const minor = /^\/dev\/loop(\d+)$/.exec(loop)![1];
  const node = join(rootfs, 'dev', 'slot-b');
  await rm(node, { force: true });
  await execa('mknod', [node, 'b', '7', minor]);
  return {
    path: '/dev/slot-b',
    read: async () => {
      await execa('blockdev', ['--flushbufs', loop]);
      return readFile(file);
    },
    release: async () => {
      await execa('losetup', ['-d', loop]);
      await rm(node, { force: true });
      await rm(file, { force: true });
    },
  };
}

interface Device0 {
  running: string;
  /** The ESP's EFI/Linux: file name -> bytes. */
  entries: Record<string, Buffer>;
  /** The booted entry's file name. */
  booted: string;
  trial?: boolean;
  tries?: number;
}

const esp = () => join(rootfs, 'run/osbuild/esp');
const linuxDir = () => join(esp(), 'EFI/Linux');

/** Lays down the ESP and /run/osbuild/slots as the init leaves them. */
async function system(d: Device0, slot: Device): Promise<void> {
  await rm(join(rootfs, 'run/osbuild'), { recursive: true, force: true });
  await mkdir(linuxDir(), { recursive: true });
  for (const [name, bytes] of Object.entries(d.entries)) await writeFile(join(linuxDir(), name), bytes);
  const slots = [
    `version=${d.running}`,
    'active=/dev/vda2',
    'active_name=root-a',
    `inactive=${slot.path}`,
    'inactive_name=root-b',
    'esp=/run/osbuild/esp',
    `entry=EFI/Linux/${d.booted}`,
    `trial=${d.trial ? '1' : ''}`,
    ...(d.tries !== undefined ? [`tries=${d.tries}`] : []),
  ];
  await writeFile(join(rootfs, 'run/osbuild/slots'), `${slots.join('\n')}\n`);
}

async function espFiles(): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const name of (await readdir(linuxDir())).sort()) out[name] = await readFile(join(linuxDir(), name));
  return out;
}

// PID 1 of the namespace: traps TERM as the init does (busybox reboot sends it), and waits for
// the agent through the trap's interruptions (busybox ash runs a trap that interrupted `wait`
// twice for the one kill(1, SIGTERM) strace shows: the flag prints it once)
const PID1 = [
  'trap \'[ -n "$t" ] || echo "update-test: PID 1 got TERM"; t=1\' TERM',
  '(/usr/bin/update; echo "update-test: exit $?") & a=$!',
  'while kill -0 $a 2>/dev/null; do wait $a; done',
].join('\n');

/** The agent, started as its container starts it, in a pid namespace of its own. */
function agent(ref: string, env: Record<string, string> = {}): ResultPromise {
  return execa('unshare', ['--pid', '--fork', '--kill-child', 'chroot', rootfs, '/bin/sh', '-c', PID1], {
    // PATH finds chroot on the host; the agent sets its own
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', OSBUILD_UPDATE_REF: ref, ...env },
    extendEnv: false,
    reject: false,
    all: true,
    timeout: 120_000,
  });
}

/** One check (OSBUILD_UPDATE_ONCE=1): its console lines and exit code. */
async function once(ref: string, env: Record<string, string> = {}): Promise<{ lines: string[]; exit: number; rebooted: boolean }> {
  const r = await agent(ref, { OSBUILD_UPDATE_ONCE: '1', ...env });
  const all = String(r.all ?? '');
  const lines = all.split('\n').filter((l) => l !== '');
  const exit = /^update-test: exit (\d+)$/.exec(lines.find((l) => l.startsWith('update-test: exit')) ?? '');
  expect(exit, `the agent did not finish:\n${all}`).not.toBeNull();
  return { lines: lines.filter((l) => !l.startsWith('update-test: exit')), exit: Number(exit![1]), rebooted: lines.includes('update-test: PID 1 got TERM') };
}

const uki = (name: string) => Buffer.from(`UKI of ${name}`);

describe.skipIf(why !== '')('update agent on the host (its image under chroot)', () => {
  it('a newer version: writes root-b and the UKI for a trial boot, deletes the stale entries, keeps the booted one, reboots', async () => {
    const ref = `${registry.host}/${REPO_PATH}:stable`;
    const u = update('10');
    await publish(registry.host, 'stable', u);
    const slot = await slotDevice('loop');
    try {
      // running 9: "10" is newer in systemd's order, older as a string
      await system({ running: '9', booted: 'osbuild-9.efi', entries: { 'osbuild-9.efi': uki('9'), 'osbuild-8.efi': uki('8'), 'osbuild-7+0-2.efi': uki('7'), '.osbuild-8.part': uki('part') } }, slot);
      const r = await once(ref);
      expect(r.lines).toEqual([
        `update: ${ref} version 10 available (running 9)`,
        `update: writing root-b (${u.root.length} bytes)`,
        'update: version 10 installed in root-b: reboot',
        'update-test: PID 1 got TERM',
      ]);
      expect(r.exit).toBe(0);
      expect(await espFiles()).toEqual({ 'osbuild-10+2.efi': u.uki, 'osbuild-9.efi': uki('9') });
      const disk = await slot.read();
      expect(disk.length).toBe(SLOT_BYTES);
      expect(sha256(disk.subarray(0, u.root.length))).toBe(sha256(u.root));
      // what lies past the root is left as it was
      expect(disk.subarray(u.root.length).every((b) => b === SLOT_FILL)).toBe(true);
    } finally {
      await slot.release();
    }
  });

  it('the same or an older version: nothing written, nothing deleted, said once', async () => {
    const ref = `${registry.host}/${REPO_PATH}:same`;
    const slot = await slotDevice('file');
    try {
      for (const [published, running] of [['3', '3'], ['3', '10'], ['2.9', '3']]) {
        await publish(registry.host, 'same', update(published));
        const entries = { [`osbuild-${running}.efi`]: uki(running), 'osbuild-1.efi': uki('1') };
        await system({ running, booted: `osbuild-${running}.efi`, entries }, slot);
        const r = await once(ref);
        expect(r.lines).toEqual([`update: ${ref} version ${published}: running ${running}, nothing to do`]);
        expect(r.exit).toBe(0);
        expect(await espFiles()).toEqual(entries);
        expect((await slot.read()).every((b) => b === SLOT_FILL)).toBe(true);
      }
    } finally {
      await slot.release();
    }
  });

  it('a version that failed its trial boots here (osbuild-3+0-2.efi) is not installed again', async () => {
    const ref = `${registry.host}/${REPO_PATH}:failed`;
    await publish(registry.host, 'failed', update('3'));
    const slot = await slotDevice('file');
    try {
      const entries = { 'osbuild-2.efi': uki('2'), 'osbuild-3+0-2.efi': uki('3') };
      await system({ running: '2', booted: 'osbuild-2.efi', entries }, slot);
      const r = await once(ref);
      expect(r.lines).toEqual([`update: ${ref} version 3 failed its trial boots here: not installed again`]);
      expect(r.exit).toBe(0);
      expect(await espFiles()).toEqual(entries);
      expect((await slot.read()).every((b) => b === SLOT_FILL)).toBe(true);
    } finally {
      await slot.release();
    }
  });

  it('damaged blobs: an error line, the running entry untouched, no UKI for a trial boot', async () => {
    const ref = `${registry.host}/${REPO_PATH}:damaged`;
    const slot = await slotDevice('file');
    try {
      for (const which of ['root', 'uki'] as const) {
        const u = update('5');
        await publish(registry.host, 'damaged', u);
        const file = blobFile(sha256(which === 'root' ? u.root : u.uki));
        const bytes = await readFile(file);
        bytes[bytes.length >> 1] ^= 0xff;
        await writeFile(file, bytes);
        await system({ running: '4', booted: 'osbuild-4.efi', entries: { 'osbuild-4.efi': uki('4'), 'osbuild-3.efi': uki('3') } }, slot);
        const r = await once(ref);
        expect(r.exit, r.lines.join('\n')).toBe(1);
        expect(r.rebooted).toBe(false);
        expect(r.lines.slice(0, 2)).toEqual([`update: ${ref} version 5 available (running 4)`, `update: writing root-b (${u.root.length} bytes)`]);
        const damaged = which === 'root' ? sha256(u.root) : sha256(u.uki);
        expect(r.lines[2]).toMatch(new RegExp(`^update: ${ref}: the ${which === 'root' ? 'root' : 'UKI'} downloaded is sha256:[0-9a-f]{64}, not ${damaged}: the registry sent damaged bytes$`));
        expect(r.lines).toHaveLength(3);
        // the other slot's entry went before the slot was written: only the booted one is left
        expect(await espFiles()).toEqual({ 'osbuild-4.efi': uki('4') });
      }
    } finally {
      await slot.release();
    }
  });

  it('a root larger than the slot: an error, before anything is deleted or written', async () => {
    const ref = `${registry.host}/${REPO_PATH}:big`;
    const u = update('2', 2 * MiB);
    await publish(registry.host, 'big', u);
    const slot = await slotDevice('loop', 1 * MiB);
    try {
      const entries = { 'osbuild-1.efi': uki('1'), 'osbuild-0.efi': uki('0') };
      await system({ running: '1', booted: 'osbuild-1.efi', entries }, slot);
      const r = await once(ref);
      expect(r.lines).toEqual([`update: ${ref}: its root is ${u.root.length} bytes, root-b holds ${MiB}: build it with a larger slotSize`]);
      expect(r.exit).toBe(1);
      expect(await espFiles()).toEqual(entries);
    } finally {
      await slot.release();
    }
  });

  it('during a trial boot it waits until the init marks the running version good, and keeps that entry', async () => {
    const ref = `${registry.host}/${REPO_PATH}:trial`;
    const u = update('3');
    await publish(registry.host, 'trial', u);
    const slot = await slotDevice('file');
    try {
      const entries = { 'osbuild-2+1-1.efi': uki('2'), 'osbuild-1.efi': uki('1') };
      await system({ running: '2', booted: 'osbuild-2+1-1.efi', trial: true, tries: 3, entries }, slot);
      const waiting = await once(ref);
      expect(waiting.lines).toEqual([`update: ${ref} version 3 available: waiting for version 2 to pass its trial`]);
      expect(await espFiles()).toEqual(entries);
      // the init's rename: version 2 is good
      await execa('mv', [join(linuxDir(), 'osbuild-2+1-1.efi'), join(linuxDir(), 'osbuild-2.efi')]);
      const r = await once(ref);
      expect(r.lines.at(-2)).toBe('update: version 3 installed in root-b: reboot');
      // tries: the slots file's
      expect(await espFiles()).toEqual({ 'osbuild-2.efi': uki('2'), 'osbuild-3+3.efi': u.uki });
    } finally {
      await slot.release();
    }
  });

  it('a registry that is down or failing: an error line each interval, then the update once it answers', async () => {
    const dead = `127.0.0.1:${registry.port === 1 ? 2 : 1}/${REPO_PATH}:x`;
    const slot = await slotDevice('file');
    let proxy: Proxy | undefined;
    try {
      await system({ running: '1', booted: 'osbuild-1.efi', entries: { 'osbuild-1.efi': uki('1') } }, slot);
      const r = await once(dead);
      expect(r.exit).toBe(1);
      expect(r.lines).toHaveLength(1);
      expect(r.lines[0]).toMatch(new RegExp(`^update: ${dead}: cannot reach the registry: .*(connect|Connection refused)`, 'i'));

      const u = update('2');
      await publish(registry.host, 'retry', u);
      proxy = await startProxy(registry.host);
      proxy.rules.push({ method: 'GET', path: /\/manifests\/retry$/, fault: { kind: 'status', status: 503 }, times: 2 });
      const ref = `${proxy.host}/${REPO_PATH}:retry`;
      const running = agent(ref, { OSBUILD_UPDATE_INTERVAL: '1' });
      let out = '';
      running.all!.on('data', (d: Buffer) => (out += d.toString()));
      const start = Date.now();
      while (!out.includes('update-test: PID 1 got TERM') && Date.now() - start < 60_000) await new Promise((res) => setTimeout(res, 100));
      running.kill('SIGKILL');
      await running;
      expect(out.split('\n').filter((l) => l !== '')).toEqual([
        `update: ${ref}: the registry answered HTTP 503`,
        `update: ${ref}: the registry answered HTTP 503`,
        `update: ${ref} version 2 available (running 1)`,
        `update: writing root-b (${u.root.length} bytes)`,
        'update: version 2 installed in root-b: reboot',
        'update-test: PID 1 got TERM',
      ]);
      expect(await espFiles()).toEqual({ 'osbuild-1.efi': uki('1'), 'osbuild-2+2.efi': u.uki });
    } finally {
      await proxy?.stop();
      await slot.release();
    }
  }, 180_000);

  it('a registry with token auth: an anonymous token for a public repository, OSBUILD_UPDATE_AUTH for a private one', async () => {
    const secured = await startRegistry({ kind: 'token' });
    const slot = await slotDevice('file');
    try {
      const asked: (string | null)[][] = [];
      for (const [repo, creds] of [['public/dev', undefined], ['private/dev', `${USER}:${PASSWORD}`]] as const) {
        const u = update('2');
        await publish(secured.host, 'stable', u, { repo, creds: `${USER}:${PASSWORD}` });
        const ref = `${secured.host}/${repo}:stable`;
        await system({ running: '1', booted: 'osbuild-1.efi', entries: { 'osbuild-1.efi': uki('1') } }, slot);
        const before = secured.token!.requests.length;
        if (creds) {
          const refused = await once(ref);
          expect(refused.lines).toEqual([`update: ${ref}: the registry refused (HTTP 401): set OSBUILD_UPDATE_AUTH=USER:PASSWORD`]);
        }
        const r = await once(ref, creds ? { OSBUILD_UPDATE_AUTH: creds } : {});
        expect(r.lines.at(-2), r.lines.join('\n')).toBe('update: version 2 installed in root-b: reboot');
        expect(await espFiles()).toEqual({ 'osbuild-1.efi': uki('1'), 'osbuild-2+2.efi': u.uki });
        asked.push(...secured.token!.requests.slice(before).map((q) => [...q.scopes, q.user ?? null]));
      }
      // one token per check, for what the agent reads and nothing more, as the user it was given
      expect(asked).toEqual([
        ['repository:public/dev:pull', null],
        ['repository:private/dev:pull', null],
        ['repository:private/dev:pull', USER],
      ]);
    } finally {
      await slot.release();
      await secured.stop();
    }
  });

  it("compares versions in systemd's order (systemd-analyze compare-versions is the oracle)", async () => {
    const script = await readFile(join(rootfs, 'usr/bin/update'), 'utf8');
    const vercmp = /^vercmp\(\) \{\n[\s\S]*?\n\}\n/m.exec(script)![0];
    const pairs = [['1', '2'], ['2', '10'], ['10', '9'], ['1.0', '1'], ['1.0', '1.0.1'], ['2~rc1', '2'], ['2', '2^p1'], ['2-1', '2.1'], ['abc', 'abd'],
      ['1a', '1'], ['001', '1'], ['v2', 'v10'], ['2.0~rc1', '2.0~rc2'], ['1.2.3', '1.2.3-1'], ['1_2', '1.2'], ['2026.12.07', '2026.12.7'], ['~1', '1'], ['A', 'a'], ['1.0a', '1.0']];
    const calls = pairs.map(([a, b]) => `vercmp '${a}' '${b}'`).join('\n');
    const mine = (await execa('/usr/sbin/chroot', [rootfs, '/bin/sh', '-c', `${vercmp}\n${calls}`], { env: { PATH: '/bin' }, extendEnv: false })).stdout.split('\n');
    const systemd = await Promise.all(pairs.map(async ([a, b]) => {
      const op = (await execa('systemd-analyze', ['compare-versions', a, b], { reject: false })).stdout.split(' ')[1];
      return op === '==' ? '=' : op;
    }));
    expect(mine).toEqual(systemd);
    expect(new Set(mine)).toEqual(new Set(['<', '=', '>']));
  });

  it('no slots file: says what is missing', async () => {
    await rm(join(rootfs, 'run/osbuild'), { recursive: true, force: true });
    await mkdir(join(rootfs, 'run/osbuild'));
    const r = await once(`${registry.host}/${REPO_PATH}:stable`);
    expect(r.exit).toBe(1);
    expect(r.lines).toEqual(['update: /run/osbuild/slots: not there: this system has no A/B slots (root: {type: squashfs, slots: ab})']);
    expect(existsSync(join(rootfs, 'run/osbuild/esp'))).toBe(false);
  });
});
