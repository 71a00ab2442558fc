// Resolving a blueprint's image references to what is in the store: one image per reference
// for the target arch, with its layers' tables of contents. A reference the store lacks is
// built from a component folder when one provides it; otherwise the error says what to run.

import type { Arch, Descriptor, ImageConfig, Manifest } from '../oci/types.js';
import type { Store } from '../oci/store.js';
import { formatRef, parseRef } from '../oci/ref.js';
import { findComponent } from '../pkg/find.js';
import { buildComponent } from '../pkg/build.js';
import type { Entry } from '../formats/entry.js';
import { layerToc } from '../rootfs/layer.js';
import type { BuildEvent } from './events.js';

export interface ResolvedImage {
  ref: string;
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  layers: Descriptor[];
  tocs: Entry[][];
}

export class ResolveError extends Error {
  readonly code = 'ERESOLVE';
  constructor(message: string) {
    super(message);
    this.name = 'ResolveError';
  }
}

export interface ResolveContext {
  store: Store;
  arch: Arch;
  cacheDir: string;
  /** Folders whose subfolders are components (components/, kernel/). */
  componentDirs: string[];
  sourceDateEpoch?: number;
  onEvent?: (e: BuildEvent) => void;
}

export async function resolveImages(refs: string[], ctx: ResolveContext): Promise<Map<string, ResolvedImage>> {
  const out = new Map<string, ResolvedImage>();
  for (const ref of refs) {
    if (out.has(ref)) continue;
    out.set(ref, await resolveImage(ref, ctx));
  }
  return out;
}

async function resolveImage(ref: string, ctx: ResolveContext): Promise<ResolvedImage> {
  const full = formatRef(parseRef(ref));
  if (!(await ctx.store.resolve(full))) await buildMissing(ref, full, ctx);
  const img = await ctx.store.resolveImage(full, ctx.arch);
  const tocs: Entry[][] = [];
  for (const layer of img.layers) {
    ctx.onEvent?.({ type: 'index-layer', ref, digest: layer.digest, size: layer.size });
    tocs.push(await layerToc(ctx.store, layer));
  }
  return { ref, manifestDigest: img.manifestDigest, manifest: img.manifest, config: img.config, layers: img.layers, tocs };
}

async function buildMissing(ref: string, full: string, ctx: ResolveContext): Promise<void> {
  const dir = await findComponent(full, ctx.componentDirs);
  if (!dir) {
    throw new ResolveError(
      `image ${ref} is not in the store (${ctx.store.dir}) and no component folder provides it ` +
        `(looked in ${ctx.componentDirs.join(', ')}): build it with \`osbuild pkg build DIR\` or import it with \`osbuild cache import PATH\``,
    );
  }
  ctx.onEvent?.({ type: 'build-component', ref, dir });
  await buildComponent(dir, {
    store: ctx.store,
    cacheDir: ctx.cacheDir,
    sourceDateEpoch: ctx.sourceDateEpoch,
    onProgress: (e) => ctx.onEvent?.({ type: 'pkg', event: e }),
  });
}
