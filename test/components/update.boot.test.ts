// A/B updates end to end, as a fleet runs them: an amd64 device (OVMF, the A/B disk of
// `osbuild build -f raw-efi`, dhcpcd and the update service) and Debian's docker-registry on the
// host, which the guest reaches at 10.0.2.2 through QEMU's user network. One QEMU with a writable
// disk, rebooting as the device reboots itself:
//   v1 boots → `osbuild build -f update --push` v2 → the agent installs it, the device reboots
//   into v2 (a trial), the init marks it good;
//   a broken v3 (a service that exits 1) → installed, fails its trial boot, and systemd-boot
//   falls back to v2 by itself; the agent never installs v3 again;
// The blueprint gives a new version one try (root.tries: 1, a boot less than the default 2, whose
// countdown test/build/slots.boot.test.ts covers): the init tells the agent, which names the UKI.
//   v4 → QEMU killed as the agent starts writing the slot (a power cut) → QEMU started again:
//   the device boots v2.
// arm64 under AAVMF (issue 12), lean: the same device built with --arch arm64, pushed to its own
// tag (fleet/device:stable-arm64), goes v1 → v2 (trial, good): 2 boots in one QEMU, AAVMF in
// pflash with a writable copy of its variable store; the rollback and the power cut are the same
// logic as amd64's.
// The two devices run side by side (two QEMUs: slot() allows two): one registry, a tag each, a
// folder each under the work dir, the component cache shared (safe for concurrent builds).
// Asserted from the host: the console lines, and the ESP's file names read by mtools. Prints the
// update's bytes and the time from "version 2 available" to v2's ready (never asserted);
// OSBUILD_TEST_CONSOLE=FILE appends the guests' consoles there (each line after its arch), to
// follow a run.
import { execa, type ResultPromise } from 'execa';
import { appendFile, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, type ExpectStatic } from 'vitest';
import { ARCHES, type Arch } from '../../src/arch.js';
import { qemuCommand } from '../../src/run/qemu.js';
import { componentCache, REPO } from '../helpers/components.js';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { slot } from '../helpers/slot.js';
import { PFLASH_FIRMWARE, pflashArgs } from '../helpers/firmware.js';
import { startRegistry, type Running } from '../oci/registry/harness.js';

const BROKEN = join(REPO, 'test/fixtures/slots/broken.yml');
// generous: a TCG boot of the UEFI disk on a loaded two-core machine (arm64 under TCG: the slower)
const BOOT_S = 600;

let work: string;
let cacheDir: string;
let registry: Running;

function osbuild(args: string[]) {
  return execa('node', [MAIN, ...args], { env: { PATH: process.env.PATH!, HOME: '/nonexistent', XDG_CACHE_HOME: '/nonexistent', SOURCE_DATE_EPOCH: '1700000000' }, extendEnv: false });
}

beforeAll(async () => {
  await ensureDist();
  ({ cacheDir } = await componentCache(['components/update']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-update-boot-'));
  registry = await startRegistry();
}, 1_800_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Where each arch's device looks for its updates (one registry: a tag per arch, as a fleet would). */
const REPOS = { amd64: 'fleet/device:stable', arm64: 'fleet/device:stable-arm64' } as const satisfies Record<Arch, string>;
/**
 * How the firmware boots: OVMF as -bios; AAVMF as the virt machine wants it, its code read-only
 * and a writable copy of its variable store in pflash (as test/build/slots.boot.test.ts does).
 */
const AAVMF = PFLASH_FIRMWARE.arm64;

/** One device of `arch`: its blueprint, v1's disk (a writable copy), the versions it publishes. */
function device(arch: Arch) {
  const dir = () => join(work, arch);
  const ref = REPOS[arch];
  let blueprint = '';
  let disk = '';
  let vars = '';

  /**
   * The blueprint files of version `v`: the device, a file that differs from version to version (a
   * new version is a new root, as in real life: the root stage finds a slot by its superblock), and
   * for a broken one a service that fails.
   */
  async function versionFiles(v: string, broken = false): Promise<string[]> {
    const overlay = join(dir(), `v${v}.yml`);
    await writeFile(overlay, `files:\n  - path: etc/device-release\n    contents: "device ${v}\\n"\n`);
    return [blueprint, overlay, ...(broken ? [BROKEN] : [])];
  }

  /** The blueprint and v1's raw-efi (the disk the device ships with). */
  async function make(): Promise<void> {
    await mkdir(dir());
    blueprint = join(dir(), 'device.yml');
    await writeFile(
      blueprint,
      [
        'name: device',
        'kernel:',
        '  image: osbuild/kernel-debian-cloud:6.1',
        `  cmdline: "console=${ARCHES[arch].console}"`,
        '  modules: [virtio_pci, virtio_net]',
        'init: [osbuild/init:0.1.0, osbuild/runc:0.1.0]',
        'root: {type: squashfs, slots: ab, version: "1", tries: 1}',
        'services:',
        '  - name: dhcpcd',
        '    image: osbuild/dhcpcd:0.1.0',
        '  - name: update',
        '    image: osbuild/update:0.1.0',
        `    env: [OSBUILD_UPDATE_REF=10.0.2.2:${registry.port}/${ref}, OSBUILD_UPDATE_INTERVAL=3]`,
        '',
      ].join('\n'),
    );
    const v1 = join(dir(), 'v1');
    await osbuild(['build', '--cache', cacheDir, '--arch', arch, '-f', 'raw-efi', '-o', v1, ...(await versionFiles('1'))]);
    disk = join(v1, 'device-efi.img');
    if (arch === 'arm64') {
      vars = join(dir(), 'VARS.fd');
      await copyFile(AAVMF.vars, vars);
    }
  }

  /** `osbuild build -f update --push`: version `v` of the device (broken: with a service that fails). */
  async function publish(v: string, broken = false): Promise<{ bytes: number }> {
    const out = join(dir(), `v${v}`);
    const files = await versionFiles(v, broken);
    await osbuild(['build', '--cache', cacheDir, '--arch', arch, '-f', 'update', '--image-version', v, '-o', out, '--push', `${registry.host}/${ref}`, ...files]);
    const sizes = await Promise.all(['device-update-root.img', 'device-update.efi'].map(async (f) => (await stat(join(out, f))).size));
    return { bytes: sizes[0] + sizes[1] };
  }

  /** QEMU started on the device's disk (a power cut and a start again: a new Guest). */
  function start(): Guest {
    const pflash = arch === 'arm64' ? pflashArgs(AAVMF.code, vars) : [];
    const firmware = arch === 'arm64' ? undefined : ARCHES[arch].efi!.firmware.path;
    return new Guest(arch, qemuCommand({ arch, firmware, interactive: false, net: 'user', extraArgs: [...pflash, '-drive', `file=${disk},format=raw,if=virtio`] }));
  }

  return { ref, make, publish, start, entries: () => espEntries(disk) };
}

/** A QEMU whose console is read line by line; the device reboots itself (no -no-reboot). */
class Guest {
  readonly lines: { t: number; line: string }[] = [];
  private readonly proc: ResultPromise;
  private waiters: (() => void)[] = [];
  private from = 0;

  constructor(private readonly arch: Arch, q: { command: string; args: string[] }) {
    this.proc = execa(q.command, q.args.filter((a) => a !== '-no-reboot'), { reject: false, stdin: 'ignore', buffer: false });
    let rest = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      rest += d.toString('latin1');
      const parts = rest.split(/\r?\n/);
      rest = parts.pop()!;
      for (const line of parts) this.lines.push({ t: Date.now(), line });
      if (process.env.OSBUILD_TEST_CONSOLE) void appendFile(process.env.OSBUILD_TEST_CONSOLE, parts.map((l) => `${this.arch}: ${l}\n`).join(''));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** The next console line (after the last one waited for) matching `re`. */
  async waitFor(re: RegExp, timeoutS = BOOT_S): Promise<{ t: number; line: string }> {
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      const i = this.lines.findIndex((l, k) => k >= this.from && re.test(l.line));
      if (i >= 0) {
        this.from = i + 1;
        return this.lines[i];
      }
      if (Date.now() > deadline) throw new Error(`no console line matching ${re} in ${timeoutS} s; the last lines:\n${this.lines.slice(-40).map((l) => l.line).join('\n')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The console lines from the one matching `from` on. */
  since(from: { t: number; line: string }): string[] {
    return this.lines.slice(this.lines.indexOf(from)).map((l) => l.line);
  }

  /** A power cut. */
  async kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.proc;
  }
}

/** The file names in the ESP's \EFI\Linux, as mtools reads them from the disk image. */
async function espEntries(image: string): Promise<string[]> {
  const table = JSON.parse((await execa('sfdisk', ['--json', image])).stdout) as { partitiontable: { partitions: { start: number; name?: string }[] } };
  const esp = table.partitiontable.partitions.find((p) => p.name === 'ESP')!;
  const r = await execa('mdir', ['-b', '-i', `${image}@@${esp.start * 512}`, '::/EFI/Linux'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.replace(/^::\/EFI\/Linux\//, '')).sort();
}

/**
 * The device's first update, as it ships: v1 boots from root-a and finds nothing at its ref; v2 is
 * published, found, written into root-b, booted for a trial and marked good. Its bytes on the wire
 * and the seconds from "version 2 available" to v2's ready.
 */
async function firstUpdate(expect: ExpectStatic, d: ReturnType<typeof device>, g: Guest): Promise<{ bytes: number; seconds: number }> {
  const at = `update: 10\\.0\\.2\\.2:\\d+/${d.ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
  await g.waitFor(/osbuild: slot root-a version 1$/);
  await g.waitFor(/osbuild: ready/);
  await g.waitFor(new RegExp(`${at}: no such artifact`));

  const { bytes } = await d.publish('2');
  const available = await g.waitFor(new RegExp(`${at} version 2 available \\(running 1\\)$`), 120);
  await g.waitFor(/update: writing root-b \(\d+ bytes\)$/);
  await g.waitFor(/update: version 2 installed in root-b: reboot$/);
  await g.waitFor(/osbuild: reboot/);
  await g.waitFor(/osbuild: slot root-b version 2 trial \(0 tries left\)$/);
  await g.waitFor(/osbuild: slot root-b version 2 good$/);
  const ready = await g.waitFor(/osbuild: ready/);
  await g.waitFor(/update: .* version 2: running 2, nothing to do$/, 60);
  // read while the guest runs: the init synced after its rename
  expect(await d.entries()).toEqual(['osbuild-1.efi', 'osbuild-2.efi']);
  return { bytes, seconds: (ready.t - available.t) / 1000 };
}

describe.concurrent('A/B updates from a registry (amd64, OVMF, one QEMU rebooting itself)', () => {
  const d = device('amd64');
  beforeAll(() => d.make(), 1_800_000);

  it('v1 → v2 from the registry; a broken v3 falls back to v2; a power cut while writing a slot boots v2', async ({ expect }) => {
    await slot(async () => {
      let g = d.start();
      try {
        const v2 = await firstUpdate(expect, d, g);

        // v3 is broken: its trial boot fails, systemd-boot boots v2 again
        await d.publish('3', true);
        await g.waitFor(/update: .* version 3 available \(running 2\)$/, 120);
        await g.waitFor(/update: writing root-a \(\d+ bytes\)$/);
        await g.waitFor(/update: version 3 installed in root-a: reboot$/);
        await g.waitFor(/osbuild: slot root-a version 3 trial \(0 tries left\)$/);
        await g.waitFor(/osbuild: slot root-a version 3 failed its trial: service broken failed/);
        const back = await g.waitFor(/osbuild: slot root-b version 2$/);
        await g.waitFor(/osbuild: ready/);
        await g.waitFor(/update: .* version 3 failed its trial boots here: not installed again$/, 60);
        expect(g.since(back).filter((l) => /update: .*(available|writing)/.test(l))).toEqual([]);
        // systemd-boot counted the try; the agent had deleted v1's entry
        expect(await d.entries()).toEqual(['osbuild-2.efi', 'osbuild-3+0-1.efi']);

        // v4, and a power cut as the agent starts writing root-a
        await d.publish('4');
        await g.waitFor(/update: .* version 4 available \(running 2\)$/, 120);
        await g.waitFor(/update: writing root-a \(\d+ bytes\)$/);
        await g.kill();
        // the other slot's entries went before the write: the booted one is all the ESP holds
        expect(await d.entries()).toEqual(['osbuild-2.efi']);
        g = d.start();
        await g.waitFor(/osbuild: slot root-b version 2$/);
        await g.waitFor(/osbuild: ready/);

        console.log(`update v2: ${v2.bytes} bytes of blobs on the wire; "version 2 available" to v2's ready: ${v2.seconds.toFixed(1)} s (TCG)`);
      } finally {
        await g.kill();
      }
    });
  }, 3_600_000);
});

describe.concurrent('A/B updates from a registry (arm64, AAVMF)', () => {
  const d = device('arm64');
  beforeAll(() => d.make(), 1_800_000);

  it('v1 → v2 from the registry: installed by the agent, a trial boot, marked good', async ({ expect }) => {
    await slot(async () => {
      const g = d.start();
      try {
        await g.waitFor(/osbuild: init arm64 /);
        const v2 = await firstUpdate(expect, d, g);
        console.log(`arm64 update v2: ${v2.bytes} bytes of blobs on the wire; "version 2 available" to v2's ready: ${v2.seconds.toFixed(1)} s (TCG)`);
      } finally {
        await g.kill();
      }
    });
  }, 3_600_000);
});
