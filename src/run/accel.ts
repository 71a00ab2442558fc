// KVM or TCG. KVM only when it can really run this guest: /dev/kvm exists, the guest arch is the
// host arch, and the KVM behind /dev/kvm is a hardware one. Some hosts (e.g. nested cloud VMs)
// expose /dev/kvm through kvm_pvm, a paravirtual KVM without VT-x/SVM on which a stock guest
// kernel hangs at entry: that one counts as unusable.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ARCHES, hostArch, type Arch } from '../arch.js';
import { RunError } from './errors.js';
import type { Accel } from './qemu.js';

export interface HostKvm {
  hostArch: Arch | undefined;
  devKvm: boolean;
  /** loaded modules among kvm, kvm_intel, kvm_amd, kvm_pvm (from /sys/module) */
  modules: string[];
  /** the cpu flags of /proc/cpuinfo that matter (the table's kvmHardware: vmx, svm) */
  cpuFlags: string[];
}

// The hardware KVM modules and cpu flags of every architecture, for the probe.
const HARDWARE = Object.values(ARCHES).flatMap((a) => a.kvmHardware);

/** Whether KVM can run an `arch` guest on this host, and why not. Pure. */
export function kvmUsable(host: HostKvm, arch: Arch): { usable: boolean; reason: string } {
  if (!host.devKvm) return { usable: false, reason: 'no /dev/kvm' };
  if (host.hostArch !== arch) return { usable: false, reason: `guest ${arch} on a ${host.hostArch ?? 'unknown'} host` };
  if (host.modules.includes('kvm_pvm')) return { usable: false, reason: '/dev/kvm is kvm_pvm (paravirtual, guests hang)' };
  const hw = ARCHES[arch].kvmHardware;
  if (hw.length > 0 && !hw.some((h) => host.modules.includes(h.module) && host.cpuFlags.includes(h.cpuFlag))) {
    return { usable: false, reason: `neither ${hw.map((h) => `${h.module}+${h.cpuFlag}`).join(' nor ')}` };
  }
  return { usable: true, reason: 'hardware KVM' };
}

export async function probeHostKvm(): Promise<HostKvm> {
  const modules = ['kvm', ...HARDWARE.map((h) => h.module), 'kvm_pvm'].filter((m) => existsSync(`/sys/module/${m}`));
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const flags = new Set(
    cpuinfo
      .split('\n')
      .filter((l) => /^(flags|Features)\s*:/.test(l))
      .flatMap((l) => l.split(':')[1].trim().split(/\s+/)),
  );
  return { hostArch: hostArch(), devKvm: existsSync('/dev/kvm'), modules, cpuFlags: HARDWARE.map((h) => h.cpuFlag).filter((f) => flags.has(f)) };
}

/** The accelerator for an `arch` guest: OSBUILD_ACCEL=tcg|kvm decides if set, else KVM when usable. */
export async function detectAccel(arch: Arch, env: NodeJS.ProcessEnv = process.env): Promise<Accel> {
  const forced = env.OSBUILD_ACCEL;
  if (forced !== undefined && forced !== '') {
    if (forced === 'tcg' || forced === 'kvm') return forced;
    throw new RunError('ACCEL_INVALID', `OSBUILD_ACCEL=${forced}: use tcg or kvm (or unset it to detect)`);
  }
  return kvmUsable(await probeHostKvm(), arch).usable ? 'kvm' : 'tcg';
}
