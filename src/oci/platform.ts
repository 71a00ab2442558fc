// Which manifest of an index serves linux/<arch>. Pure functions.
import type { Arch, Descriptor, Platform } from './types.js';

/** The platform osbuild writes for an architecture (docker's spelling: arm64 carries variant v8). */
export function platformFor(arch: Arch): Platform {
  return arch === 'arm64' ? { architecture: 'arm64', os: 'linux', variant: 'v8' } : { architecture: 'amd64', os: 'linux' };
}

// The variants that mean "the baseline of this architecture": none, or its first level.
const BASELINE_VARIANT: Record<Arch, string> = { amd64: 'v1', arm64: 'v8' };

export function platformMatches(p: Pick<Platform, 'os' | 'architecture' | 'variant'> | undefined, arch: Arch): boolean {
  if (!p || p.os !== 'linux' || p.architecture !== arch) return false;
  return p.variant === undefined || p.variant === '' || p.variant === BASELINE_VARIANT[arch];
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
