// The UEFI firmware the A/B and Secure Boot tests boot with pflash, as Debian ships it: the code
// (read-only) and the template of its variable store, of which each guest gets a writable copy
// (systemd-boot keeps its boot counting and LoaderEntrySelected there).
import type { Arch } from '../../src/arch.js';

export const PFLASH_FIRMWARE = {
  amd64: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
  arm64: { code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd' },
} as const satisfies Record<Arch, { code: string; vars: string }>;

/** QEMU's arguments for `code` read-only in pflash unit 0 and the guest's copy of the variable store in unit 1. */
export function pflashArgs(code: string, vars: string): string[] {
  return ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${code}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`];
}
