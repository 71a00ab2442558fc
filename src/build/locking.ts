// Writing and checking osbuild.lock: what a build resolved, per arch, turned into lock entries
// (lock.ts holds the format); `osbuild lock` resolves every image any format needs, for each arch.
import { resolve as resolvePath } from 'node:path';
import { ARCH_NAMES, type Arch } from '../arch.js';
import { formatRef, parseRef } from '../oci/ref.js';
import { Store } from '../oci/store.js';
import type { DebianSource } from '../pkg/archive.js';
import { recordsOf } from '../pkg/record.js';
import { COMPONENT_SOURCE_LABEL } from '../pkg/source.js';
import { planRefs } from '../plan/plan.js';
import type { ResolvedImage } from '../plan/images.js';
import type { RegistryOptions } from '../oci/registry/options.js';
import { defaultCacheDir, epochFromEnv } from './defaults.js';
import type { BuildEvent } from './events.js';
import { emptyLock, lockPath, mergeInputs, readLock, writeLock, type ArchInputs, type Lock } from './lock.js';

/** What one arch's resolved images pin: digests, and for images built from Debian, their folder digest and .debs. */
export function archInputs(images: ReadonlyMap<string, ResolvedImage>, arch: Arch): Omit<ArchInputs, 'archiveTimes'> {
  const out: Omit<ArchInputs, 'archiveTimes'> = { arch, images: new Map(), components: new Map() };
  for (const [ref, img] of images) {
    const full = formatRef(parseRef(ref));
    out.images.set(full, img.manifestDigest);
    const labels = img.config.config?.Labels ?? undefined;
    const packages = recordsOf(labels);
    if (packages) out.components.set(full, { source: labels?.[COMPONENT_SOURCE_LABEL], packages });
  }
  return out;
}

/** Each archive's newest Release date, as read now (the snapshot time for packages locked now). */
export async function archiveTimes(cacheDir: string, arch: Arch, sources: readonly DebianSource[] | undefined, inputs: Omit<ArchInputs, 'archiveTimes'>): Promise<Map<string, string>> {
  const times = new Map<string, string>();
  if ([...inputs.components.values()].every((c) => c.packages.length === 0)) return times;
  const { AptRepo } = await import('../pkg/apt.js');
  for (const r of await new AptRepo(cacheDir, arch, undefined, undefined, sources).releases()) {
    const was = times.get(r.archive);
    if (was === undefined || r.date > was) times.set(r.archive, r.date);
  }
  return times;
}

export function lockHeader(): string {
  return [
    ' osbuild.lock: the pinned inputs of the blueprints beside it (image digests, Debian packages).',
    ' Written by `osbuild lock`; `osbuild build` uses it, `--locked` fails when anything would differ,',
    ' `--update-lock` refreshes it. Commit it beside the blueprint.',
  ].join('\n');
}

export interface LockOptions {
  files: string[];
  /** Default both. */
  arches?: Arch[];
  /** Lock the images these formats need; default every format's. */
  formats?: string[];
  cacheDir?: string;
  componentDirs?: string[];
  sourceDateEpoch?: number;
  pull?: boolean;
  registry?: RegistryOptions;
  debianSources?: readonly DebianSource[];
  cwd?: string;
  onEvent?: (e: BuildEvent) => void;
}

/**
 * `osbuild lock`: resolves every image the blueprints and any output format need, for each arch,
 * building components whose .debs Debian has replaced, and writes the lock beside the first file.
 */
export async function lockBlueprints(opts: LockOptions): Promise<{ file: string; lock: Lock }> {
  const cwd = opts.cwd ?? process.cwd();
  const files = opts.files.map((f) => resolvePath(cwd, f));
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const { loadBlueprints, defaultComponentDirs } = await import('./build.js');
  const { FORMATS, findFormat } = await import('./outputs.js');
  const chosen = opts.formats?.length ? opts.formats.map(findFormat) : FORMATS;
  const { resolveImages } = await import('./resolve.js');
  const blueprint = await loadBlueprints(files);
  // this command's own Store object: what it reads of the store's documents it reads once
  const store = await Store.open(`${cacheDir}/store`, { rememberDocuments: true });
  const componentDirs = opts.componentDirs ?? defaultComponentDirs(cwd, files);
  const file = lockPath(files);
  // one lock serves the blueprints of a folder: entries of other references are kept; an archive
  // whose pinned packages do not change keeps its snapshot time (mergeInputs)
  let lock = (await readLock(file)) ?? emptyLock();
  for (const arch of opts.arches ?? [...ARCH_NAMES]) {
    const formats = chosen.filter((f) => !f.arches || f.arches.includes(arch));
    const images = await resolveImages(planRefs(blueprint, formats, arch), {
      store,
      arch,
      cacheDir,
      componentDirs,
      sourceDateEpoch: opts.sourceDateEpoch ?? epochFromEnv(),
      onEvent: opts.onEvent,
      pull: opts.pull,
      registry: opts.registry,
      refreshDebian: true,
      debianSources: opts.debianSources,
    });
    const inputs = archInputs(images, arch);
    lock = mergeInputs(lock, { ...inputs, archiveTimes: await archiveTimes(cacheDir, arch, opts.debianSources, inputs) });
  }
  await writeLock(file, lock, lockHeader());
  return { file, lock };
}
