// The QEMU command line for booting a kernel + initramfs or boot media (ISO as a CD-ROM, disk
// images as virtio drives, a UKI given to the firmware), x86_64 or aarch64. Pure: no I/O.
import { ARCHES, type Arch } from '../arch.js';
import type { DiskFormat, MediaKind } from './media.js';

export type Accel = 'tcg' | 'kvm';

export interface QemuOptions {
  arch: Arch;
  /** direct kernel boot: the kernel, initrd and command line; or `media` */
  kernel?: string;
  initrd?: string;
  /** kernel command line; console= and panic=-1 are added when absent */
  cmdline?: string;
  /** a read-only root for the direct kernel boot (kernel+squashfs), attached as a virtio disk */
  rootDisk?: string;
  /** boot media instead of a kernel: the firmware boots it */
  media?: { kind: MediaKind; path: string; format: DiskFormat };
  /** firmware image for -bios (OVMF/AAVMF for UEFI); none: QEMU's own (SeaBIOS on x86) */
  firmware?: string;
  /** QEMU -m, e.g. '1024M' (default) */
  mem?: string;
  cpus?: number;
  accel?: Accel;
  /** serial console on the terminal (a user types into it) or captured on stdout */
  interactive: boolean;
  /** user-mode network with a virtio NIC (default) or none */
  net?: 'user' | 'none';
  /** user-mode network: host TCP ports forwarded to guest ports (QEMU's hostfwd), e.g. ssh */
  hostForward?: { host: number; guest: number }[];
  extraArgs?: string[];
}

export interface QemuCommand {
  command: string;
  args: string[];
}

function hasParam(cmdline: string, name: string): boolean {
  return cmdline.split(/\s+/).some((w) => w.startsWith(`${name}=`));
}

/** The cmdline with the serial console (unless one is chosen) and panic=-1 (a panic ends QEMU, thanks to -no-reboot). */
export function bootCmdline(arch: Arch, cmdline: string): string {
  const words = cmdline.trim() === '' ? [] : [cmdline.trim()];
  if (!hasParam(cmdline, 'console')) words.push(`console=${ARCHES[arch].console}`);
  if (!hasParam(cmdline, 'panic')) words.push('panic=-1');
  return words.join(' ');
}

export function qemuCommand(opts: QemuOptions): QemuCommand {
  const accel = opts.accel ?? 'tcg';
  const args: string[] = [];
  const q = ARCHES[opts.arch].qemu;
  const command = q.binary;
  args.push('-machine', q.machine, '-accel', accel);
  const cpu = q.cpu[accel];
  if (cpu) args.push('-cpu', cpu);
  args.push('-m', opts.mem ?? '1024M', '-smp', String(opts.cpus ?? 1));
  // a reboot or a panic (panic=-1) ends QEMU instead of booting again
  args.push('-no-reboot');
  if (opts.firmware) args.push('-bios', opts.firmware);
  if (opts.media) args.push(...mediaArgs(opts.arch, opts.media));
  else if (opts.kernel) {
    args.push('-kernel', opts.kernel);
    if (opts.initrd) args.push('-initrd', opts.initrd);
    args.push('-append', bootCmdline(opts.arch, opts.cmdline ?? ''));
    if (opts.rootDisk) args.push('-drive', `file=${optValue(opts.rootDisk)},format=raw,if=virtio,readonly=on`);
  }
  if ((opts.net ?? 'user') === 'user') {
    const fwd = (opts.hostForward ?? []).map((f) => `,hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`).join('');
    args.push('-nic', `user,model=virtio-net-pci${fwd}`);
  } else args.push('-nic', 'none');
  if (opts.interactive) {
    // serial console and monitor multiplexed on the terminal: Ctrl-A X quits, Ctrl-A C is the monitor
    args.push('-nographic');
  } else {
    // console on stdout for the caller to read; nothing reads stdin
    args.push('-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-parallel', 'none');
  }
  args.push(...(opts.extraArgs ?? []));
  return { command, args };
}

/** QEMU's option syntax doubles a comma inside a value. */
function optValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/**
 * The devices a medium is attached with. CD-ROM: on the bus the arch table names (the pc
 * machine's IDE CD on x86, whose cloud kernel lacks q35's AHCI driver; virtio-scsi on arm64).
 * Disks: virtio, snapshot=on so a run never modifies the image. A UKI: given to the firmware as
 * -kernel, which OVMF and AAVMF load and start as an EFI application.
 */
export function mediaArgs(arch: Arch, m: { kind: MediaKind; path: string; format: DiskFormat }): string[] {
  const file = optValue(m.path);
  switch (m.kind) {
    case 'uki':
      return ['-kernel', m.path];
    case 'cdrom':
      if (ARCHES[arch].qemu.cdrom === 'ide') return ['-drive', `file=${file},format=raw,media=cdrom,readonly=on,if=ide,index=2`];
      return ['-device', 'virtio-scsi-pci,id=scsi0', '-drive', `file=${file},format=raw,if=none,id=cd0,media=cdrom,readonly=on`, '-device', 'scsi-cd,drive=cd0,bus=scsi0.0'];
    case 'disk':
      return ['-drive', `file=${file},format=${m.format},if=virtio,snapshot=on`];
  }
}
