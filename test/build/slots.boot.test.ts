// A/B updates booted: one disk goes through an update and a failed one under OVMF (amd64), with
// the host doing what the update agent does (components/update) with the `update` outputs:
//   1. v1's raw-efi boots from root-a:             osbuild: slot root-a version 1
//   2. v2 installed: its root dd'd into root-b, its UKI copied into the ESP as osbuild-2+2.efi;
//      systemd-boot boots it as a trial (renamed +1-1), the init marks it good once its services
//      run (renamed osbuild-2.efi: mdir reads the ESP after poweroff)
//   3. a broken v3 (a service exits 1) installed into root-a the same way (v1's UKI deleted, as
//      the agent does): both trial boots fail and reboot, and the device is back on v2 by itself
//      (osbuild-3+0-2.efi sorts last).
// How the guest ends: the UKIs' command line has osbuild.poweroff=1, which the init acts on only
// after `ready`, and a trial boot is judged before `ready`: a failed trial reboots (QEMU runs
// without -no-reboot, so one QEMU process goes through every reboot) and only a good boot powers
// off, which ends QEMU. The disk and the firmware's variable store are writable copies.
// arm64 under AAVMF, lean: v1's disk with v2 installed before its first boot: v2's trial is good.
// Boots: 6 (amd64 1 + 1 + 3 in one QEMU; arm64 1), one guest at a time.

import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { ARCHES, type Arch } from '../../src/arch.js';
import { componentCache, REPO } from '../helpers/components.js';
import { consoleProblems } from '../helpers/console.js';
import { slot } from '../helpers/slot.js';
import { PFLASH_FIRMWARE, pflashArgs } from '../helpers/firmware.js';

const DEVICE = ['blueprints/minimal.yml', 'test/fixtures/slots/device.yml'].map((f) => join(REPO, f));
const BROKEN = [...DEVICE, join(REPO, 'test/fixtures/slots/broken.yml')];
const FIRMWARE = PFLASH_FIRMWARE;

let work: string;
let cacheDir: string;
const run = async (cmd: string, args: string[]) => (await execa(cmd, args, { stdin: 'ignore' })).stdout;

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-slots-boot-'));
}, 1_200_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** One device of `arch`: its builds (v1's disk, the updates), its disk and variable store (writable copies), and what the host does to them. */
function device(arch: Arch) {
  // paths under the work dir, made once the file's beforeAll has made it
  const dir = () => join(work, arch);
  const out = (v: number) => join(dir(), `v${v}`);
  let disk = '';
  let vars = '';

  /** v1's raw-efi (the disk the device ships with) and the updates `versions` (files: its blueprint). */
  async function make(versions: { v: number; files: string[] }[]): Promise<void> {
    const epoch = 1_700_000_000;
    await mkdir(dir());
    disk = join(dir(), 'disk.img');
    vars = join(dir(), 'VARS.fd');
    await build({ files: DEVICE, arch, formats: ['raw-efi'], imageVersion: '1', outDir: out(1), cacheDir, sourceDateEpoch: epoch });
    for (const { v, files } of versions) await build({ files, arch, formats: ['update'], imageVersion: String(v), outDir: out(v), cacheDir, sourceDateEpoch: epoch });
    await copyFile(join(out(1), 'device-efi.img'), disk);
    await copyFile(FIRMWARE[arch].vars, vars);
  }

  /** The disk's partitions by GPT name, as sfdisk reads them (start and size in sectors). */
  async function parts(): Promise<Record<string, { start: number; size: number }>> {
    const t = JSON.parse(await run('sfdisk', ['--json', disk])).partitiontable as { partitions: { name: string; start: number; size: number }[] };
    return Object.fromEntries(t.partitions.map((p) => [p.name, p]));
  }

  /** mtools' image argument for the ESP inside the disk. */
  async function esp(): Promise<string> {
    return `${disk}@@${(await parts()).ESP.start * 512}`;
  }

  /** The UKIs in the ESP's EFI/Linux, as mdir lists them. */
  async function entries(): Promise<string[]> {
    const listing = await run('mdir', ['-b', '-i', await esp(), '::/EFI/Linux']);
    return listing.trim().split('\n').map((l) => l.replace(/^.*\//, '')).filter(Boolean).sort();
  }

  /** What the update agent does: the root into a slot, the UKI into the ESP with its tries. */
  async function install(v: number, slotName: string, tries: number): Promise<void> {
    const p = (await parts())[slotName];
    await run('dd', [`if=${join(out(v), 'device-update-root.img')}`, `of=${disk}`, 'bs=1M', `seek=${p.start * 512}`, 'oflag=seek_bytes', 'conv=notrunc,fsync', 'status=none']);
    await run('mcopy', ['-i', await esp(), join(out(v), 'device-update.efi'), `::/EFI/Linux/osbuild-${v}+${tries}.efi`]);
  }

  /** One QEMU process under the firmware with the writable disk and variable store: its console lines once the guest powers off. */
  async function boot(timeoutMs: number): Promise<string[]> {
    const q = ARCHES[arch].qemu;
    const fw = FIRMWARE[arch];
    const cpu = q.cpu.tcg ? ['-cpu', q.cpu.tcg] : [];
    const qemu = execa(
      q.binary,
      [
        '-machine', q.machine, '-accel', 'tcg', ...cpu, '-m', '1024', '-smp', '1',
        ...pflashArgs(fw.code, vars),
        '-drive', `file=${disk},format=raw,if=virtio`,
        '-nic', 'none', '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-parallel', 'none',
      ],
      { stdin: 'ignore', all: true, reject: false, timeout: timeoutMs },
    );
    const r = await qemu;
    const lines = (r.all ?? '').split('\n').map((l) => l.replace(/\r+$/, ''));
    if (r.timedOut) throw new Error(`QEMU did not power off within ${timeoutMs / 1000} s; the console ended:\n${lines.slice(-40).join('\n')}`);
    return lines;
  }

  return { make, entries, esp, install, boot: (ms: number) => slot(() => boot(ms)) };
}

/** What the onboot container `slots` printed of /run/osbuild/slots (a getty prompt may start a line). */
function slotsLines(lines: string[]): string[] {
  return lines.flatMap((l) => /(slots: \w+=.*)$/.exec(l)?.[1] ?? []);
}

/** Each pattern matches a line, in this order; the unmatched one and the console otherwise. */
function expectInOrder(lines: string[], patterns: RegExp[]): void {
  let at = 0;
  for (const p of patterns) {
    const i = lines.slice(at).findIndex((l) => p.test(l));
    expect(i, `${p} after line ${at}; the console:\n${lines.filter((l) => /osbuild: |systemd-boot|reboot/.test(l)).join('\n')}`).toBeGreaterThanOrEqual(0);
    at += i + 1;
  }
}

describe.sequential('amd64 under OVMF: update, trial, rollback', () => {
  const d = device('amd64');
  beforeAll(async () => {
    await d.make([{ v: 2, files: DEVICE }, { v: 3, files: BROKEN }]);
  }, 1_200_000);

  it('v1 boots from root-a', async () => {
    const lines = await d.boot(600_000);
    expectInOrder(lines, [/osbuild: root squashfs \/dev\/vda2 read-only/, /osbuild: slot root-a version 1$/, /osbuild: service getty started/, /osbuild: ready$/, /osbuild: poweroff$/]);
    expect(consoleProblems(lines)).toEqual([]);
    expect(slotsLines(lines), lines.slice(lines.findIndex((l) => /onboot 000-hello/.test(l)), lines.findIndex((l) => /onboot 001-slots/.test(l)) + 1).join('\n')).toEqual(['slots: version=1', 'slots: active=/dev/vda2', 'slots: active_name=root-a', 'slots: inactive=/dev/vda3', 'slots: inactive_name=root-b', 'slots: esp=/run/osbuild/esp', 'slots: entry=EFI/Linux/osbuild-1.efi', 'slots: trial=', 'slots: tries=2']);
    expect(await d.entries()).toEqual(['osbuild-1.efi']);
  }, 900_000);

  it('v2 written into root-b boots as a trial and is marked good', async () => {
    await d.install(2, 'root-b', 2);
    expect(await d.entries()).toEqual(['osbuild-1.efi', 'osbuild-2+2.efi']);
    const lines = await d.boot(600_000);
    expectInOrder(lines, [/osbuild: root squashfs \/dev\/vda3 read-only/, /osbuild: slot root-b version 2 trial \(1 try left\)$/, /osbuild: slot root-b version 2 good$/, /osbuild: ready$/, /osbuild: poweroff$/]);
    // /run/osbuild/slots during the trial, for the update agent
    expect(slotsLines(lines).map((l) => l.slice(7))).toEqual(['version=2', 'active=/dev/vda3', 'active_name=root-b', 'inactive=/dev/vda2', 'inactive_name=root-a', 'esp=/run/osbuild/esp', 'entry=EFI/Linux/osbuild-2+1-1.efi', 'trial=1', 'tries=2']);
    expect(consoleProblems(lines)).toEqual([]);
    expect(await d.entries()).toEqual(['osbuild-1.efi', 'osbuild-2.efi']);
  }, 900_000);

  it('a broken v3 written into root-a fails both trial boots, and the device is back on v2 by itself', async () => {
    await run('mdel', ['-i', await d.esp(), '::/EFI/Linux/osbuild-1.efi']);
    await d.install(3, 'root-a', 2);
    const lines = await d.boot(1_500_000);
    expectInOrder(lines, [
      /osbuild: slot root-a version 3 trial \(1 try left\)$/,
      /osbuild: slot root-a version 3 failed its trial: service broken failed \(exit 1\): reboot$/,
      /osbuild: reboot$/,
      /osbuild: slot root-a version 3 trial \(0 tries left\)$/,
      /osbuild: slot root-a version 3 failed its trial: service broken failed \(exit 1\): reboot$/,
      /osbuild: reboot$/,
      /osbuild: root squashfs \/dev\/vda3 read-only/,
      /osbuild: slot root-b version 2$/,
      /osbuild: ready$/,
      /osbuild: poweroff$/,
    ]);
    expect(await d.entries()).toEqual(['osbuild-2.efi', 'osbuild-3+0-2.efi']);
  }, 1_800_000);
});

// arm64 (AAVMF), lean: v1's disk with v2 already installed in root-b: one boot, a trial marked good
describe.sequential('arm64 under AAVMF: an update boots as a trial and is marked good', () => {
  const d = device('arm64');
  beforeAll(async () => {
    await d.make([{ v: 2, files: DEVICE }]);
  }, 1_200_000);

  it('v2 written into root-b of v1\'s disk boots as a trial and is marked good', async () => {
    await d.install(2, 'root-b', 2);
    const lines = await d.boot(900_000);
    expectInOrder(lines, [/osbuild: root squashfs \/dev\/vda3 read-only/, /osbuild: init arm64 /, /osbuild: slot root-b version 2 trial \(1 try left\)$/, /osbuild: slot root-b version 2 good$/, /osbuild: ready$/, /osbuild: poweroff$/]);
    expect(consoleProblems(lines)).toEqual([]);
    expect(await d.entries()).toEqual(['osbuild-1.efi', 'osbuild-2.efi']);
  }, 1_200_000);
});
