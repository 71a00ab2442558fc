// `osbuild build`: blueprint files -> outputs. Resolve (store, components), plan (pure), write.

import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { loadBlueprint } from '../blueprint/parse.js';
import { mergeBlueprints } from '../blueprint/merge.js';
import { checkOutputName } from '../blueprint/name.js';
import type { Blueprint } from '../blueprint/schema.js';
import { Store } from '../oci/store.js';
import { defaultArch, type Arch } from '../arch.js';
import type { RegistryOptions } from '../oci/registry/options.js';
import { kernelModulesInfo } from '../rootfs/modules.js';
import type { BuildEvent } from './events.js';
import { defaultCacheDir, epochFromEnv, PACKAGE_ROOT } from './defaults.js';
export { defaultCacheDir, epochFromEnv, PACKAGE_ROOT };
import { filesEntries } from './files.js';
import { DEFAULT_FORMAT, findFormat, formatLayout, removeStalePartials, writeFormat } from './outputs.js';
import { layoutType, squashfsLayout, type Layout, type RootType } from './layout.js';
import { blueprintRefs, kernelPaths, planBuild, type BuildPlan } from './plan.js';
import { resolveImages } from './resolve.js';

export interface BuildOptions {
  /** Blueprint files, merged in order. */
  files: string[];
  formats?: string[];
  arch?: Arch;
  outDir?: string;
  /** Base name of the outputs; default: the blueprint's `name`, else the first file's name. */
  name?: string;
  /** Cache directory: the content store lives in <cacheDir>/store. */
  cacheDir?: string;
  /** Folders holding component folders, for images the store lacks. */
  componentDirs?: string[];
  sourceDateEpoch?: number;
  /** Where the system lives at run time; overrides the blueprint's `root.type` (boot media formats). */
  root?: RootType;
  /** Ask registries where tags point now, even for images the store has (--pull). */
  pull?: boolean;
  /** How registries are reached: credentials, insecure registries, CAs, mirrors. */
  registry?: RegistryOptions;
  cwd?: string;
  onEvent?: (e: BuildEvent) => void;
}

export interface BuildResult {
  plan: BuildPlan;
  outputs: { format: string; files: { path: string; bytes: number }[] }[];
}

export function defaultComponentDirs(cwd: string, blueprintFiles: string[]): string[] {
  const dirs = [join(cwd, 'components'), join(cwd, 'kernel')];
  for (const f of blueprintFiles) {
    const up = resolve(dirname(resolve(cwd, f)), '..');
    dirs.push(join(up, 'components'), join(up, 'kernel'));
  }
  dirs.push(join(PACKAGE_ROOT, 'components'), join(PACKAGE_ROOT, 'kernel'));
  return [...new Set(dirs)];
}

export async function loadBlueprints(files: string[]): Promise<Blueprint> {
  const list: Blueprint[] = [];
  for (const f of files) list.push(await loadBlueprint(f));
  return mergeBlueprints(list);
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const cwd = opts.cwd ?? process.cwd();
  const arch = opts.arch ?? defaultArch();
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const outDir = resolve(cwd, opts.outDir ?? 'out');
  const epoch = opts.sourceDateEpoch ?? epochFromEnv();
  const files = opts.files.map((f) => resolve(cwd, f));
  const blueprint = await loadBlueprints(files);
  const rootType = layoutType(blueprint, opts.root);
  // a squashfs blueprint's default output is its kernel, small initrd and squashfs
  const formats = (opts.formats?.length ? opts.formats : [rootType === 'squashfs' ? 'kernel+squashfs' : DEFAULT_FORMAT]).map(findFormat);
  const needsSquashfs = formats.some((f) => formatLayout(f, rootType) === 'squashfs');
  const name = opts.name ?? blueprint.name ?? basename(files[0], extname(files[0]));
  // a blueprint's `name:` was checked (located) when it was parsed
  if (opts.name !== undefined || blueprint.name === undefined) checkOutputName(name, opts.name !== undefined ? 'option' : 'file');

  const store = await Store.open(join(cacheDir, 'store'));
  const images = await resolveImages([...blueprintRefs(blueprint), ...formats.flatMap((f) => f.images?.(arch) ?? [])], {
    store,
    arch,
    cacheDir,
    componentDirs: opts.componentDirs ?? defaultComponentDirs(cwd, files),
    sourceDateEpoch: epoch,
    onEvent: opts.onEvent,
    pull: opts.pull,
    registry: opts.registry,
  });

  let modulesInfo;
  const kpaths = kernelPaths(blueprint);
  if (blueprint.kernel?.image && (blueprint.kernel.modules?.length || needsSquashfs) && kpaths.tar) {
    const k = images.get(blueprint.kernel.image)!;
    for (let l = k.layers.length - 1; l >= 0 && !modulesInfo; l--) {
      if (k.tocs[l].some((e) => e.path === kpaths.tar)) modulesInfo = await kernelModulesInfo(store, k.layers[l], kpaths.tar);
    }
  }
  const fileList = await filesEntries(blueprint.files ?? [], { epoch, cwd, blueprint });
  const plan = planBuild({ name, arch, epoch, blueprint, images, files: fileList, modulesInfo });
  for (const w of plan.root.warnings) opts.onEvent?.({ type: 'warning', message: w.message });
  plan.onStreamWarning = (w) => opts.onEvent?.({ type: 'warning', message: w.message });
  const squashfs = needsSquashfs ? squashfsLayout({ blueprint, images, epoch, modulesInfo }) : undefined;
  const layouts: { build: Layout; squashfs?: () => Layout } = {
    build: rootType === 'squashfs' && squashfs ? squashfs : { type: 'initramfs' },
    squashfs: squashfs && (() => squashfs),
  };

  await mkdir(outDir, { recursive: true });
  await removeStalePartials(outDir);
  const outputs: BuildResult['outputs'] = [];
  for (const f of formats) {
    const started = Date.now();
    opts.onEvent?.({ type: 'output-start', format: f.name, files: f.files(name).map((x) => join(outDir, x)) });
    const written = await writeFormat(f, store, plan, outDir, formats, layouts);
    opts.onEvent?.({ type: 'output-done', format: f.name, files: written, ms: Date.now() - started });
    outputs.push({ format: f.name, files: written });
  }
  return { plan, outputs };
}
