// Resolving a blueprint's image references to what is in the store: one image per reference
// for the target arch, with its layers' tables of contents. A reference the store lacks is
// built from a component folder when one provides it; otherwise the error says what to run.

import type { Arch } from '../arch.js';
import type { ResolvedImage } from '../plan/images.js';
import type { Store } from '../oci/store.js';
import { formatRef, parseRef } from '../oci/ref.js';
import { indexComponents, SPEC_MEMO_KIND, type ComponentIndex } from '../pkg/find.js';
import { COMPONENT_SOURCE_LABEL, componentSourceDigest } from '../pkg/source.js';
import type { Entry } from '../formats/entry.js';
import { showName } from '../formats/names.js';
import { layerToc } from '../rootfs/layer.js';
import type { BuildEvent } from './events.js';
import { StoreError } from '../oci/errors.js';
import type { Registries } from '../oci/registry/session.js';
import type { RegistryOptions } from '../oci/registry/options.js';
import type { DebianSource } from '../pkg/archive.js';
import { LockError, pinnedDigest, snapshotTimes, type LockPins } from './lock.js';
import { recordsOf, type DebRecord } from '../pkg/record.js';

export type { ResolvedImage };

import { OsbuildError } from '../errors.js';
export class ResolveError extends OsbuildError {
  readonly code = 'ERESOLVE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
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
  /** Ask registries where tags point now, even for images the store has (--pull). */
  pull?: boolean;
  /** How registries are reached (credentials, insecure registries, CAs, mirrors). */
  registry?: RegistryOptions;
  /** The index of the component folders, when the caller keeps one (a build session); else one per run. */
  components?: ComponentIndex;
  /** A lockfile's pins: images by digest, components from exactly the locked .debs. */
  lock?: LockPins;
  /** Rebuild a component whose .debs are no longer the archives' candidates (`osbuild lock`, --update-lock). */
  refreshDebian?: boolean;
  /** The Debian archives components are built from; default Debian 12. */
  debianSources?: readonly DebianSource[];
}

/** The registry session of one resolve run, opened on first use, and its index of the component folders. */
interface Session {
  get(): Promise<Registries>;
  components: ComponentIndex;
}

export async function resolveImages(refs: string[], ctx: ResolveContext): Promise<Map<string, ResolvedImage>> {
  const out = new Map<string, ResolvedImage>();
  let opened: Promise<Registries> | undefined;
  const session: Session = {
    get: () => (opened ??= import('../oci/registry/session.js').then((m) => m.Registries.open(ctx.registry))),
    components: ctx.components ?? indexComponents(ctx.componentDirs, { memo: () => ctx.store.derived(SPEC_MEMO_KIND) }),
  };
  // what the lookups below read first, read for all images side by side when the store keeps the
  // documents (the index keeps the specs); reads only: what fails here fails again, in order, below
  if (ctx.store.remembersDocuments) for (const ref of new Set(refs)) void prefetch(ref, ctx, session);
  try {
    for (const ref of refs) {
      if (out.has(ref)) continue;
      out.set(ref, await resolveImage(ref, ctx, session));
    }
  } finally {
    if (opened) (await opened.catch(() => undefined))?.close();
  }
  return out;
}

async function prefetch(ref: string, ctx: ResolveContext, session: Session): Promise<void> {
  try {
    const full = formatRef(parseRef(ref));
    await Promise.allSettled([ctx.store.resolveImage(full, ctx.arch), session.components.find(full)]);
  } catch {
    // a bad reference: said below
  }
}

async function resolveImage(ref: string, ctx: ResolveContext, session: Session): Promise<ResolvedImage> {
  const full = formatRef(parseRef(ref));
  const pinned = pinnedDigest(ctx.lock, full, ctx.arch);
  let target = full;
  if (pinned !== undefined && (await obtainPinned(ref, full, pinned, ctx, session))) target = `${full}@${pinned}`;
  else if (pinned !== undefined) {
    // built afresh: the component folder changed since the lock (the build reports the difference)
  } else if (!(await ctx.store.resolve(full))) await obtainMissing(ref, full, ctx, session);
  else if (ctx.pull && !(await session.components.find(full))) await pullRef(full, ctx, session, true);
  else await rebuildIfChanged(ref, full, ctx, session);
  let img;
  try {
    img = await ctx.store.resolveImage(target, ctx.arch);
  } catch (e) {
    // an index pulled earlier for another arch lacks this arch's manifest: fetch just that
    if (!(e instanceof StoreError && e.code === 'ENOBLOB') || (await session.components.find(full))) throw e;
    await pullRef(full, ctx, session, false);
    img = await ctx.store.resolveImage(full, ctx.arch);
  }
  const tocs: Entry[][] = [];
  for (const layer of img.layers) {
    ctx.onEvent?.({ type: 'index-layer', ref, digest: layer.digest, size: layer.size });
    tocs.push(await layerToc(ctx.store, layer));
  }
  return { ref, manifestDigest: img.manifestDigest, manifest: img.manifest, config: img.config, layers: img.layers, tocs };
}

async function pullRef(full: string, ctx: ResolveContext, session: Session, refresh: boolean): Promise<void> {
  // the registry client and the Debian builder load only when an image is missing
  const { pull } = await import('../oci/registry/pull.js');
  await pull(ctx.store, full, {
    arches: [ctx.arch],
    refresh,
    registries: await session.get(),
    onEvent: (e) => ctx.onEvent?.({ type: 'pull', event: e }),
  });
}

/**
 * The image a lock pins, by digest: in the store already, else built from its component folder
 * with exactly the locked .debs (which must give the same digest), else pulled by digest.
 * False when the component folder changed since the lock and the image was built afresh instead.
 */
async function obtainPinned(ref: string, full: string, pinned: string, ctx: ResolveContext, session: Session): Promise<boolean> {
  const lock = ctx.lock!;
  const dir = await session.components.find(full).catch(() => undefined);
  const locked = lock.lock.components[full];
  // an edited component folder wins over the lock (a build uses the folders as they are)
  if (dir && locked?.source !== undefined && locked.source !== (await componentSourceDigest(dir))) {
    if (lock.locked) {
      throw new LockError('ESTALELOCK', `${showName(ref)}: its component folder ${showName(dir)} changed since the lock was written (--locked)`, {
        hint: 'run `osbuild lock BLUEPRINT...` (or build with --update-lock) to lock the folder as it is now',
      });
    }
    await buildFrom(dir, ref, ctx);
    return false;
  }
  if (await ctx.store.hasBlob(pinned)) return true;
  if (!dir) {
    await pullRef(`${full.replace(/@.*$/, '')}@${pinned}`, ctx, session, false);
    return true;
  }
  await buildFrom(dir, ref, ctx, locked?.packages);
  if (await ctx.store.hasBlob(pinned)) return true;
  const got = await ctx.store.resolveImage(full, ctx.arch).then((i) => i.manifestDigest, () => 'nothing');
  if (lock.locked) {
    throw new LockError('ESTALELOCK', `${showName(ref)} (${ctx.arch}): built from the locked .debs it is ${got}, but the lock says ${pinned} (--locked)`, {
      hint: 'the build is not reproducing the locked image (another osbuild version?): rebuild the lock with `osbuild lock BLUEPRINT...`',
    });
  }
  return false;
}

/** True when some .deb of the image is no longer its archive's candidate (Debian moved on). */
async function debsMovedOn(records: DebRecord[], ctx: ResolveContext): Promise<boolean> {
  const { AptRepo } = await import('../pkg/apt.js');
  const apt = new AptRepo(ctx.cacheDir, ctx.arch as Arch, undefined, undefined, ctx.debianSources);
  const now = await apt.showMany(records.map((r) => r.package));
  return records.some((r) => now.get(r.package)?.sha256 !== r.sha256);
}

/**
 * A component folder edited since its image was built (same tag, other sources) is built again:
 * a build always uses the components as they are on disk, as a build system would.
 */
async function rebuildIfChanged(ref: string, full: string, ctx: ResolveContext, session: Session): Promise<void> {
  // a broken spec elsewhere must not stop a build whose image is already in the store
  let dir;
  try {
    dir = await session.components.find(full);
  } catch {
    dir = undefined;
  }
  if (!dir) return;
  // absent or partial: build it; but a corrupt or broken image must be reported, not silently
  // replaced by a new build (which may differ: Debian moves on)
  const img = await ctx.store.resolveImage(full, ctx.arch).catch((e: unknown) => {
    if (e instanceof StoreError && (e.code === 'EDIGEST' || e.code === 'EINVALID')) throw e;
    return undefined;
  });
  const built = img?.config.config?.Labels?.[COMPONENT_SOURCE_LABEL];
  // a layer gone from the store (removed by hand, or by `cache verify --repair`) is built again too
  const whole = img ? (await Promise.all(img.layers.map((l) => ctx.store.hasBlob(l.digest)))).every(Boolean) : false;
  if (whole && built === (await componentSourceDigest(dir))) {
    const records = ctx.refreshDebian ? recordsOf(img?.config.config?.Labels) : undefined;
    if (!records || !(await debsMovedOn(records, ctx))) return;
  }
  await buildFrom(dir, ref, ctx);
}

/** An image the store lacks comes from a component folder, else from its registry. */
async function obtainMissing(ref: string, full: string, ctx: ResolveContext, session: Session): Promise<void> {
  const dir = await session.components.find(full);
  if (!dir) {
    try {
      await pullRef(full, ctx, session, false);
      return;
    } catch (e) {
      throw new ResolveError(
        `image ${showName(ref)} is not in the store (${showName(ctx.store.dir)}), no component folder provides it ` +
          `(looked in ${ctx.componentDirs.join(', ')}), and pulling it failed: ${(e as Error).message}; ` +
          `build it with \`osbuild pkg build DIR\` or import it with \`osbuild cache import PATH\``,
        { cause: e },
      );
    }
  }
  await buildFrom(dir, ref, ctx);
}

async function buildFrom(dir: string, ref: string, ctx: ResolveContext, pins?: Partial<Record<Arch, DebRecord[]>>): Promise<void> {
  ctx.onEvent?.({ type: 'build-component', ref, dir });
  const { buildComponent } = await import('../pkg/build.js'); // loaded only when needed
  await buildComponent(dir, {
    store: ctx.store,
    cacheDir: ctx.cacheDir,
    sourceDateEpoch: ctx.sourceDateEpoch,
    onProgress: (e) => ctx.onEvent?.({ type: 'pkg', event: e }),
    sources: ctx.debianSources,
    ...(pins ? { pins, snapshots: { times: snapshotTimes(ctx.lock!.lock) } } : {}),
  });
}
