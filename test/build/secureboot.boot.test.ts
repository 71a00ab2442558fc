// Secure Boot, end to end: `osbuild build --sign-key --sign-cert` signs the UKI that the EFI
// formats carry, and the firmware with Secure Boot enforced and our test certificate enrolled as
// PK, KEK and db boots it, and refuses an unsigned one (and, amd64, a signed one with one byte
// changed). amd64: Debian's OVMF_CODE_4M.secboot.fd (SMM); arm64: Debian's AAVMF.
//
// Enrolment, done once per arch and cached (the variable store and the key pair it trusts):
// efitools' cert-to-efi-sig-list and sign-efi-sig-list make the authenticated variable payloads
// (.auth), and a small Linux guest booted under the same firmware in setup mode (the template
// variable store has no PK) writes them to efivarfs: db, KEK, then PK, which ends setup mode.
// Debian's cloud kernel has efivarfs as a module, so the guest's initrd carries efivarfs.ko.
//
// Boots: the enrolments (first run only), per arch the signed raw-efi disk (the init's lines) and
// the unsigned one (OVMF's "Access Denied", no kernel line), and amd64's changed UKI. The build
// checks are here too, since they read the same builds: sbverify on NAME.efi, the ESP holds those
// bytes, PCR 11 from systemd-measure, and the CLI's errors for a wrong key.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { withLock } from '../../src/oci/lock.js';
import type { Arch } from '../../src/arch.js';
import { componentCache, REPO } from '../helpers/components.js';
import { debianKernel, testCacheDir } from '../helpers/debian-kernel.js';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { busyboxImage, removeTempDirs } from '../run/fixtures.js';
import { makeKeyPair, type KeyPair } from '../formats/efi/keys.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/media/poweroff.yml'].map((f) => join(REPO, f));
/** The firmware with Secure Boot built in, its variable store template (setup mode: no PK), and the machine it needs. */
const FIRMWARE = {
  amd64: {
    qemu: 'qemu-system-x86_64',
    // OVMF keeps its authenticated variables safe only with SMM and a secure flash
    machine: ['-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on'],
    code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
    vars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    console: 'ttyS0',
  },
  arm64: {
    qemu: 'qemu-system-aarch64',
    machine: ['-M', 'virt', '-cpu', 'max,pauth-impdef=on'],
    // Debian's AAVMF_CODE.ms.fd is a link to this one: Secure Boot is in it, enforced once a PK is enrolled
    code: '/usr/share/AAVMF/AAVMF_CODE.fd',
    vars: '/usr/share/AAVMF/AAVMF_VARS.fd',
    console: 'ttyAMA0',
  },
} as const;
const EFI_GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
const EFI_IMAGE_SECURITY_DB = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
/** The owner GUID of our signature list entries: any fixed one. */
const OWNER = '6f736275-696c-6420-7465-737420212121';
const INIT_LINES = [/osbuild: onboot 000-hello exit 0/, /osbuild: service getty started/, /reboot: Power down/];
const REFUSED = /BdsDxe: failed to load Boot\d+ .*: Access Denied/;

let work: string;
const enrolled = {} as Record<Arch, { keys: KeyPair; vars: string }>;
const out = {} as Record<Arch, { signed: string; unsigned: string }>;

/**
 * QEMU under OVMF/AAVMF with Secure Boot and the variable store `vars` (written to: give a copy);
 * stops once `until` is seen, the guest powers off or the time is out. The console.
 */
async function secureBoot(arch: Arch, vars: string, drive: string[], until: RegExp, timeoutMs = 300_000): Promise<string> {
  const fw = FIRMWARE[arch];
  const qemu = execa(
    fw.qemu,
    [
      ...fw.machine, '-m', '1024', '-nographic', '-no-reboot', '-net', 'none',
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${fw.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
      ...drive,
    ],
    { stdin: 'ignore', all: true, reject: false, timeout: timeoutMs },
  );
  let log = '';
  qemu.all!.on('data', (c: Buffer) => {
    log += c.toString('latin1');
    if (until.test(log)) qemu.kill('SIGTERM');
  });
  await qemu;
  return log;
}

/** The cached key pair and the firmware's variable store that trusts it (PK, KEK and db), made on first use. */
async function enrolledVars(arch: Arch): Promise<{ keys: KeyPair; vars: string }> {
  const fw = FIRMWARE[arch];
  const code = createHash('sha256').update(await readFile(fw.code)).digest('hex').slice(0, 12);
  const dir = join(testCacheDir(), `secureboot-v1-${arch}-${code}`);
  const result = { keys: { key: join(dir, 'db.key'), cert: join(dir, 'db.crt') }, vars: join(dir, 'VARS.enrolled.fd') };
  await mkdir(dir, { recursive: true });
  await withLock(join(dir, 'lock'), async () => {
    if (existsSync(result.vars)) return;
    const tmp = await mkdtemp(join(work, 'enrol-'));
    const keys = await makeKeyPair(tmp, 'db');
    const payload = join(tmp, 'payload');
    await mkdir(join(payload, 'keys'), { recursive: true });
    await execa('cert-to-efi-sig-list', ['-g', OWNER, keys.cert, join(tmp, 'db.esl')]);
    for (const v of ['db', 'KEK', 'PK']) {
      await execa('sign-efi-sig-list', ['-t', '2024-01-01 00:00:00', '-g', OWNER, '-k', keys.key, '-c', keys.cert, v, join(tmp, 'db.esl'), join(payload, 'keys', `${v}.auth`)]);
    }
    const k = await debianKernel(arch);
    await copyFile(join(k.root, 'lib/modules', k.release, 'kernel/fs/efivarfs/efivarfs.ko'), join(payload, 'efivarfs.ko'));
    // efivarfs takes the variable's attributes (NV, BS, RT, time-based authenticated: 0x27) and then its data, in one write
    const init = `#!/bin/sh
b=/bin/busybox
$b mount -t proc proc /proc
$b mount -t sysfs sysfs /sys
$b insmod /efivarfs.ko
$b mount -t efivarfs efivarfs /sys/firmware/efi/efivars
$b mkdir -p /tmp
enrol() {
  { $b printf '\\047\\000\\000\\000'; $b cat /keys/$1.auth; } >/tmp/$1.var
  $b cat /tmp/$1.var >/sys/firmware/efi/efivars/$1-$2 && echo "ENROL $1 ok" || echo "ENROL $1 failed"
}
enrol db ${EFI_IMAGE_SECURITY_DB}
enrol KEK ${EFI_GLOBAL}
enrol PK ${EFI_GLOBAL}
echo "SETUPMODE $($b cat /sys/firmware/efi/efivars/SetupMode-${EFI_GLOBAL} | $b od -An -tx1)"
$b poweroff -f
`;
    const prefix = await busyboxImage(arch, init);
    const initrd = join(tmp, 'initrd.img');
    // a second cpio archive after the first: the kernel unpacks both
    await execa('sh', ['-c', 'cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet | gzip -1n | cat "$2" - >"$3"', 'sh', payload, `${prefix}-initrd.img`, initrd]);
    const vars = join(tmp, 'vars.fd');
    await copyFile(fw.vars, vars);
    const log = await secureBoot(arch, vars, ['-kernel', `${prefix}-kernel`, '-initrd', initrd, '-append', `console=${fw.console} panic=-1`], /reboot: Power down/, 400_000);
    expect(log, log.slice(-3000)).toMatch(/ENROL db ok[\s\S]*ENROL KEK ok[\s\S]*ENROL PK ok/);
    // attributes (4 bytes), then the value: 0, user mode
    expect(log).toMatch(/SETUPMODE\s+\S\S 00 00 00 00\s/);
    await copyFile(keys.key, result.keys.key);
    await copyFile(keys.cert, result.keys.cert);
    await rename(vars, result.vars);
  }, { timeoutMs: 15 * 60_000, staleMs: 15 * 60_000 });
  return result;
}

/** A copy of the enrolled variable store for one boot. */
async function varsCopy(arch: Arch, name: string): Promise<string> {
  const copy = join(work, `vars-${arch}-${name}.fd`);
  await copyFile(enrolled[arch].vars, copy);
  return copy;
}

beforeAll(async () => {
  const { cacheDir } = await componentCache();
  work = await mkdtemp(join(tmpdir(), 'osbuild-secureboot-'));
  for (const arch of ['amd64', 'arm64'] as const) {
    enrolled[arch] = await enrolledVars(arch);
    out[arch] = { signed: join(work, `${arch}-signed`), unsigned: join(work, `${arch}-unsigned`) };
    // amd64 also checks the UKI file itself; arm64 boots the disks only
    const formats = arch === 'amd64' ? ['uki', 'raw-efi'] : ['raw-efi'];
    await build({ files: BLUEPRINT, arch, formats, outDir: out[arch].signed, cacheDir, sign: enrolled[arch].keys });
    await build({ files: BLUEPRINT, arch, formats, outDir: out[arch].unsigned, cacheDir });
  }
}, 1_500_000);

afterAll(async () => {
  await removeTempDirs();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('signed build', () => {
  it('NAME.efi passes sbverify with the certificate; the unsigned build\'s carries no signature', async () => {
    const ok = await execa('sbverify', ['--cert', enrolled.amd64.keys.cert, join(out.amd64.signed, 'media.efi')], { reject: false, all: true });
    expect(ok.exitCode, ok.all).toBe(0);
    const none = await execa('sbverify', ['--list', join(out.amd64.unsigned, 'media.efi')], { reject: false, all: true });
    expect(none.all).toContain('No signature table present');
  });

  it('the raw-efi disk\'s ESP holds the signed UKI, byte for byte', async () => {
    const uki = await readFile(join(out.amd64.signed, 'media.efi'));
    const disk = await readFile(join(out.amd64.signed, 'media-efi.img'));
    expect(disk.indexOf(uki)).toBeGreaterThan(0);
  });

  it('NAME.pcr11.json is what systemd-measure calculates from the UKI\'s sections, signed or not', async () => {
    for (const dir of [out.amd64.signed, out.amd64.unsigned]) {
      const efi = join(dir, 'media.efi');
      const args = ['calculate', '--phase=', '--json=short', '--bank=sha256', '--bank=sha1'];
      for (const s of ['linux', 'osrel', 'cmdline', 'initrd']) {
        const f = join(work, `section.${s}`);
        await execa('objcopy', ['-O', 'binary', `--only-section=.${s}`, efi, f]);
        args.push(`--${s}=${f}`);
      }
      const measured = JSON.parse((await execa('/usr/lib/systemd/systemd-measure', args)).stdout);
      const ours = JSON.parse(await readFile(join(dir, 'media.pcr11.json'), 'utf8'));
      expect(ours.sha256).toEqual(measured.sha256);
      expect(ours.sha1).toEqual(measured.sha1);
    }
    expect(await readFile(join(out.amd64.signed, 'media.pcr11.json'), 'utf8')).toBe(await readFile(join(out.amd64.unsigned, 'media.pcr11.json'), 'utf8'));
  });
});

describe('osbuild build --sign-key errors', () => {
  beforeAll(ensureDist, 120_000);
  const cli = (args: string[], outDir: string) =>
    execa('node', [MAIN, 'build', '-f', 'uki', '-o', outDir, ...args, ...BLUEPRINT], { reject: false, all: true, stdin: 'ignore', env: { NO_COLOR: '1' } });

  it('a key that is not the certificate\'s: exit 1, both files named, nothing written', async () => {
    const other = await makeKeyPair(work, 'other');
    const dir = join(work, 'err-mismatch');
    const r = await cli(['--sign-key', other.key, '--sign-cert', enrolled.amd64.keys.cert], dir);
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain(`signing key ${other.key} does not match the certificate ${enrolled.amd64.keys.cert}`);
    expect(existsSync(join(dir, 'media.efi'))).toBe(false);
  });

  it('a missing file: exit 1, named; one flag without the other: exit 2', async () => {
    const dir = join(work, 'err-missing');
    const r = await cli(['--sign-key', join(work, 'nope.key'), '--sign-cert', enrolled.amd64.keys.cert], dir);
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain(`signing key ${join(work, 'nope.key')}: cannot be read (ENOENT)`);
    const u = await cli(['--sign-key', enrolled.amd64.keys.key], dir);
    expect(u.exitCode).toBe(2);
    expect(u.all).toContain('--sign-key and --sign-cert go together: --sign-cert is missing');
  });
});

describe.each(['amd64', 'arm64'] as const)('Secure Boot enforced (%s, our certificate in db)', (arch) => {
  const timeout = arch === 'amd64' ? 300_000 : 600_000;
  const disk = (which: 'signed' | 'unsigned') => ['-drive', `file=${join(out[arch][which], 'media-efi.img')},format=raw,if=virtio,snapshot=on`];

  it('boots the signed raw-efi disk to the init\'s lines', async () => {
    const log = await secureBoot(arch, await varsCopy(arch, 'signed'), disk('signed'), /reboot: Power down/, timeout);
    expect(log).toContain('secureboot: Secure boot enabled');
    for (const l of INIT_LINES) expect(log, log.slice(-3000)).toMatch(l);
  }, timeout + 60_000);

  it('refuses the unsigned raw-efi disk', async () => {
    const log = await secureBoot(arch, await varsCopy(arch, 'unsigned'), disk('unsigned'), REFUSED, timeout);
    expect(log, log.slice(-3000)).toMatch(REFUSED);
    expect(log).not.toMatch(/Linux version|osbuild: /);
  }, timeout + 60_000);
});

describe('Secure Boot enforced (amd64): a changed UKI', () => {
  it('refuses the signed UKI with one byte of its kernel changed', async () => {
    const uki = await readFile(join(out.amd64.signed, 'media.efi'));
    uki[uki.length - 64 * 1024] ^= 0x01;
    const changed = join(work, 'BOOTX64.EFI');
    await writeFile(changed, uki);
    const esp = join(work, 'esp-changed.img');
    await execa('truncate', ['-s', '64M', esp]);
    await execa('mkfs.vfat', ['-F', '32', '-n', 'ESP', esp]);
    await execa('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT']);
    await execa('mcopy', ['-i', esp, changed, '::/EFI/BOOT/BOOTX64.EFI']);
    const log = await secureBoot('amd64', await varsCopy('amd64', 'changed'), ['-drive', `file=${esp},format=raw,if=virtio`], REFUSED);
    expect(log, log.slice(-3000)).toMatch(REFUSED);
    expect(log).not.toMatch(/Linux version|osbuild: /);
  }, 400_000);
});
