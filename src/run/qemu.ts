// The QEMU command line for booting a kernel + initramfs, x86_64 or aarch64. Pure: no I/O.
import type { Arch } from '../oci/types.js';

export type Accel = 'tcg' | 'kvm';

export interface QemuOptions {
  arch: Arch;
  kernel: string;
  initrd?: string;
  /** kernel command line; console= and panic=-1 are added when absent */
  cmdline: string;
  /** QEMU -m, e.g. '1024M' (default) */
  mem?: string;
  cpus?: number;
  accel?: Accel;
  /** serial console on the terminal (a user types into it) or captured on stdout */
  interactive: boolean;
  /** user-mode network with a virtio NIC (default) or none */
  net?: 'user' | 'none';
  extraArgs?: string[];
}

export interface QemuCommand {
  command: string;
  args: string[];
}

/** Console device of the first serial port: 8250 on x86 (pc), PL011 on the arm virt machine. */
export function serialConsole(arch: Arch): string {
  return arch === 'amd64' ? 'ttyS0' : 'ttyAMA0';
}

function hasParam(cmdline: string, name: string): boolean {
  return cmdline.split(/\s+/).some((w) => w.startsWith(`${name}=`));
}

/** The cmdline with the serial console (unless one is chosen) and panic=-1 (a panic ends QEMU, thanks to -no-reboot). */
export function bootCmdline(arch: Arch, cmdline: string): string {
  const words = cmdline.trim() === '' ? [] : [cmdline.trim()];
  if (!hasParam(cmdline, 'console')) words.push(`console=${serialConsole(arch)}`);
  if (!hasParam(cmdline, 'panic')) words.push('panic=-1');
  return words.join(' ');
}

export function qemuCommand(opts: QemuOptions): QemuCommand {
  const accel = opts.accel ?? 'tcg';
  const args: string[] = [];
  let command: string;
  if (opts.arch === 'amd64') {
    command = 'qemu-system-x86_64';
    // pc (i440fx), not q35: Debian's cloud kernel has no AHCI driver for q35's disk controller
    args.push('-machine', 'pc', '-accel', accel);
    if (accel === 'kvm') args.push('-cpu', 'host');
  } else {
    command = 'qemu-system-aarch64';
    args.push('-machine', 'virt', '-accel', accel);
    // under TCG, max with the QARMA pointer-auth emulation is ~3x slower than with impdef
    args.push('-cpu', accel === 'kvm' ? 'host' : 'max,pauth-impdef=on');
  }
  args.push('-m', opts.mem ?? '1024M', '-smp', String(opts.cpus ?? 1));
  // a reboot or a panic (panic=-1) ends QEMU instead of booting again
  args.push('-no-reboot');
  args.push('-kernel', opts.kernel);
  if (opts.initrd) args.push('-initrd', opts.initrd);
  args.push('-append', bootCmdline(opts.arch, opts.cmdline));
  if ((opts.net ?? 'user') === 'user') args.push('-nic', 'user,model=virtio-net-pci');
  else args.push('-nic', 'none');
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
