// Boots real kernels (Debian cloud, both arches) with tiny busybox initramfs images under QEMU.
import { readdir, readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { runImage, testImage } from '../../src/run/boot.js';
import { busyboxImage, removeTempDirs } from './fixtures.js';
import { ensureDist, MAIN } from '../helpers/dist.js';

afterAll(removeTempDirs);

const INIT = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "MARKER arch=$(/bin/busybox uname -m) cmdline=$(/bin/busybox cat /proc/cmdline)"
/bin/busybox poweroff -f
`;
const HANG = `#!/bin/sh
echo "HANGING"
while :; do /bin/busybox sleep 60; done
`;

/** PIDs of processes whose command line mentions `s` (e.g. a unique initrd path). */
async function processesMentioning(s: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(s)) pids.push(Number(p));
  }
  return pids;
}

describe.each([
  ['amd64', 'x86_64', 'ttyS0'],
  ['arm64', 'aarch64', 'ttyAMA0'],
] as const)('%s', (arch, uname, console) => {
  it('boots and sees the marker, with the image cmdline + console + panic=-1 + appended words', async () => {
    const prefix = await busyboxImage(arch, INIT, 'quiet');
    const lines: string[] = [];
    const res = await testImage({
      path: prefix,
      expect: [new RegExp(`MARKER arch=${uname} cmdline=quiet osbuild.x=1 console=${console} panic=-1`)],
      appendCmdline: 'osbuild.x=1',
      timeoutSec: 240,
      onLine: (l) => lines.push(l),
    });
    expect(res.reason, res.log.slice(-30).join('\n')).toBeUndefined();
    expect(res).toMatchObject({ ok: true, matched: 1 });
    expect(lines.some((l) => l.startsWith('MARKER'))).toBe(true);
    expect(await processesMentioning(`${prefix}-initrd.img`)).toEqual([]);
  }, 300_000);
});

describe('amd64 failures', () => {
  it('an expectation that never comes: ok=false once QEMU ends, with the console tail', async () => {
    const prefix = await busyboxImage('amd64', INIT);
    const res = await testImage({ path: prefix, expect: [/MARKER/, /NEVER-PRINTED/], timeoutSec: 240 });
    expect(res.ok).toBe(false);
    expect(res.matched).toBe(1);
    expect(res.reason).toMatch(/QEMU exited .* 1 of 2 expectations matched, waiting for \/NEVER-PRINTED\//);
    expect(res.log.some((l) => l.includes('MARKER arch=x86_64'))).toBe(true);
    expect(res.log.some((l) => /reboot: Power down/.test(l))).toBe(true);
  }, 300_000);

  it('a guest that hangs: timeout, QEMU killed', async () => {
    const prefix = await busyboxImage('amd64', HANG);
    let seen = false;
    const res = await testImage({ path: prefix, expect: [/NEVER-PRINTED/], timeoutSec: 20, onLine: (l) => (seen ||= l.includes('HANGING')) });
    expect(res.ok).toBe(false);
    expect(res.reason).toMatch(/^timeout after 20s: 0 of 1/);
    expect(seen).toBe(true);
    expect(res.durationMs).toBeGreaterThanOrEqual(20_000);
    expect(await processesMentioning(`${prefix}-initrd.img`)).toEqual([]);
  }, 300_000);
});

describe('amd64 QEMU itself', () => {
  it('a QEMU that refuses its arguments: ok=false with its stderr in the log', async () => {
    const prefix = await busyboxImage('amd64', INIT);
    const res = await testImage({ path: prefix, expect: [/MARKER/], timeoutSec: 60, extraArgs: ['-osbuild-no-such-option'] });
    expect(res.ok).toBe(false);
    expect(res.reason).toMatch(/^QEMU exited \(code 1\)/);
    expect(res.log.some((l) => l.startsWith('[qemu stderr]') && l.includes('osbuild-no-such-option'))).toBe(true);
  }, 120_000);

  it('runImage returns the exit code of an interactive boot that powers off', async () => {
    const prefix = await busyboxImage('amd64', INIT);
    expect(await runImage({ path: prefix })).toBe(0);
    expect(await runImage({ path: prefix, extraArgs: ['-osbuild-no-such-option'] })).toBe(1);
  }, 300_000);
});

describe('osbuild test on the command line', () => {
  it('exits 0 when every line comes and 5 (boot test failed) when one never does', async () => {
    await ensureDist();
    const prefix = await busyboxImage('amd64', INIT);
    const passed = await execa('node', [MAIN, 'test', prefix, '--expect', 'MARKER arch=x86_64', '--timeout', '240', '-q'], { reject: false });
    expect(passed.exitCode, passed.stderr).toBe(0);
    const failed = await execa('node', [MAIN, 'test', prefix, '--expect', 'MARKER', '--expect', 'NEVER-PRINTED', '--timeout', '240', '-q'], { reject: false });
    expect(failed.exitCode, failed.stderr).toBe(5);
    expect(failed.stderr).toContain('osbuild: test failed');
    expect(failed.stderr).toContain('NEVER-PRINTED');
  }, 600_000);
});
