// What the plan knows of an image: the digests it was resolved to, its config, its layers and
// their tables of contents. build/resolve.ts makes these (store, registry, components); the plan
// only reads them.

import type { Descriptor, ImageConfig, Manifest } from '../oci/types.js';
import type { Entry } from '../formats/entry.js';

export interface ResolvedImage {
  ref: string;
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  layers: Descriptor[];
  tocs: Entry[][];
}
