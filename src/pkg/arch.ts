// Per-architecture names used in component specs: `{arch}` is the Debian architecture,
// `{triplet}` the multiarch directory (/usr/lib/<triplet>), `{uname}` what `uname -m` says.
import { ARCHES, type Arch } from '../arch.js';

/** Replace {arch}, {triplet} and {uname} in a package name or path pattern. */
export function expandArch(s: string, arch: Arch): string {
  const a = ARCHES[arch];
  return s.replaceAll('{arch}', a.debian).replaceAll('{triplet}', a.triplet).replaceAll('{uname}', a.uname);
}
