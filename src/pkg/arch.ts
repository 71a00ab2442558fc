// Per-architecture names used in component specs: `{arch}` is the Debian/OCI architecture,
// `{triplet}` the multiarch directory (/usr/lib/<triplet>), `{uname}` what `uname -m` says.
import type { Arch } from '../oci/types.js';

export const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

const NAMES: Record<Arch, { triplet: string; uname: string }> = {
  amd64: { triplet: 'x86_64-linux-gnu', uname: 'x86_64' },
  arm64: { triplet: 'aarch64-linux-gnu', uname: 'aarch64' },
};

export function triplet(arch: Arch): string {
  return NAMES[arch].triplet;
}

/** Replace {arch}, {triplet} and {uname} in a package name or path pattern. */
export function expandArch(s: string, arch: Arch): string {
  return s
    .replaceAll('{arch}', arch)
    .replaceAll('{triplet}', NAMES[arch].triplet)
    .replaceAll('{uname}', NAMES[arch].uname);
}
