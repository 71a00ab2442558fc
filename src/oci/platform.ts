// Which manifest of an index serves linux/<arch>. Pure functions.
import { ARCHES, type Arch } from '../arch.js';
import type { Descriptor, Platform } from './types.js';

/** The platform osbuild writes for an architecture (docker's spelling: arm64 carries variant v8). */
export function platformFor(arch: Arch): Platform {
  const { architecture, variant } = ARCHES[arch].oci;
  // no variant key at all when there is none: these bytes go into index digests
  return variant ? { architecture, os: 'linux', variant } : { architecture, os: 'linux' };
}

/** Whether `p` is linux/<arch>: with no variant, or the one that means its baseline (arm64/v8, amd64/v1). */
export function platformMatches(p: Pick<Platform, 'os' | 'architecture' | 'variant'> | undefined, arch: Arch): boolean {
  const oci = ARCHES[arch].oci;
  if (!p || p.os !== 'linux' || p.architecture !== oci.architecture) return false;
  return p.variant === undefined || p.variant === '' || p.variant === oci.baselineVariant;
}

export function formatPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'> | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** The first manifest for linux/<arch>, or undefined. */
export function selectManifest(manifests: Descriptor[], arch: Arch): Descriptor | undefined {
  return manifests.find((m) => platformMatches(m.platform, arch));
}

/** "linux/amd64, linux/arm/v7" — what an index offers, for error messages. */
export function listPlatforms(manifests: Descriptor[]): string {
  const names = manifests.map((m) => formatPlatform(m.platform));
  return names.length > 0 ? [...new Set(names)].join(', ') : 'none';
}
