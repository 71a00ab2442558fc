// The SBOM formats, one row each: its name on the command line (--sbom), the file a build
// writes beside its outputs, the file it puts in the image, and the function that writes it.

import { cyclonedxText } from './cyclonedx.js';
import type { SbomModel } from './model.js';
import { spdxText } from './spdx.js';
import { SbomError } from './errors.js';

export interface SbomFormat {
  name: 'spdx' | 'cyclonedx';
  description: string;
  /** The file beside the outputs: NAME + suffix. */
  suffix: string;
  /** Its path in the root. */
  imagePath: string;
  text: (m: SbomModel) => string;
}

export const SBOM_FORMATS: readonly SbomFormat[] = [
  { name: 'spdx', description: 'SPDX 2.3 JSON', suffix: '.spdx.json', imagePath: 'etc/osbuild/sbom.spdx.json', text: spdxText },
  { name: 'cyclonedx', description: 'CycloneDX 1.5 JSON', suffix: '.cdx.json', imagePath: 'etc/osbuild/sbom.cdx.json', text: cyclonedxText },
];

/** What a build writes when nobody says: SPDX. */
export const DEFAULT_SBOM: readonly SbomFormat['name'][] = ['spdx'];

/** --sbom's value: a comma-separated list of format names, or `none`. */
export function parseSbomList(value: string): SbomFormat['name'][] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 1 && names[0] === 'none') return [];
  const out: SbomFormat['name'][] = [];
  for (const n of names) {
    const f = SBOM_FORMATS.find((x) => x.name === n);
    if (!f) {
      throw new SbomError(`unknown SBOM format ${JSON.stringify(n)}`, {
        where: '--sbom',
        hint: `use ${SBOM_FORMATS.map((x) => x.name).join(', ')}, a comma-separated list of them, or none`,
      });
    }
    if (!out.includes(f.name)) out.push(f.name);
  }
  if (out.length === 0) throw new SbomError('--sbom needs a format', { where: '--sbom', hint: 'use spdx, cyclonedx, spdx,cyclonedx or none' });
  return out;
}

export function sbomFormat(name: SbomFormat['name']): SbomFormat {
  return SBOM_FORMATS.find((f) => f.name === name)!;
}
