// `osbuild build`: blueprint files -> outputs. Resolve (store, components), plan (pure: src/plan/),
// then do: write the plan's outputs in a build session, which owns the scratch files they share.

import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { loadBlueprint } from '../blueprint/parse.js';
import { mergeBlueprints } from '../blueprint/merge.js';
import { checkOutputName } from '../blueprint/name.js';
import type { Blueprint, InitrdCompression } from '../blueprint/schema.js';
import { Store } from '../oci/store.js';
import { defaultArch, type Arch } from '../arch.js';
import type { RegistryOptions } from '../oci/registry/options.js';
import { kernelModulesInfo } from '../rootfs/modules.js';
import type { BuildEvent } from './events.js';
import { defaultCacheDir, epochFromEnv, PACKAGE_ROOT } from './defaults.js';
export { defaultCacheDir, epochFromEnv, PACKAGE_ROOT };
import { filesEntries } from './files.js';
import { findFormat, removeStalePartials, writeFormat } from './outputs.js';
import { BOOT_EFI_IMAGE, defaultFormats } from '../plan/formats.js';
import { loadSigner } from './media/uki.js';
import { layoutType, withVerity, type RootType } from '../plan/layout.js';
import { planSlots, withSlots } from '../plan/slots.js';
import { modulesInfoSources, planBuild, planRefs, type BuildPlan } from '../plan/plan.js';
import { resolveImages } from './resolve.js';
import { BuildSession } from './session.js';
import type { DebianSource } from '../pkg/archive.js';
import { LockError, lockDifferences, lockedError, lockPath, mergeInputs, readLock, writeLock } from './lock.js';
import { archInputs, archiveTimes, lockHeader } from './locking.js';
import { sbomDocuments, sbomEntries, writeSbom } from './sbom.js';
import { DEFAULT_SBOM, type SbomFormat } from '../sbom/formats.js';

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
  /** A verified root (--verity): sets the blueprint's `root.verity`. */
  verity?: boolean;
  /** The version of a slots root (--image-version): overrides the blueprint's `root.version`. */
  imageVersion?: string;
  /** How initrds are compressed; overrides the blueprint's `root.initrd.compression`. */
  initrdCompression?: InitrdCompression;
  /** Reuse and keep compressed initrd segments of earlier builds under <cacheDir>/segments (default true). */
  segmentCache?: boolean;
  /** Bytes of the disk formats' disks (LinuxKit's --size: see plan/disk-size.ts's parseDiskSize); default: as small as the content allows. */
  diskSize?: number;
  /** Ask registries where tags point now, even for images the store has (--pull). */
  pull?: boolean;
  /** How registries are reached: credentials, insecure registries, CAs, mirrors. */
  registry?: RegistryOptions;
  cwd?: string;
  /** Sign every EFI binary the outputs hold for Secure Boot: PEM files of the key (RSA ≥ 2048 bits or EC P-256) and its certificate. */
  sign?: { key: string; cert: string };
  onEvent?: (e: BuildEvent) => void;
  /** Fail when anything would differ from osbuild.lock (beside the first file), or it is missing. */
  locked?: boolean;
  /** Resolve afresh (Debian's current packages too) and write this arch's entries into osbuild.lock. */
  updateLock?: boolean;
  /** The Debian archives components are built from; default Debian 12. */
  debianSources?: readonly DebianSource[];
  /** The SBOMs written beside the outputs and into the root (etc/osbuild/); default ['spdx'], [] for none. */
  sbom?: readonly SbomFormat['name'][];
}

export interface BuildResult {
  plan: BuildPlan;
  outputs: { format: string; files: { path: string; bytes: number }[] }[];
  /** The SBOM files beside the outputs (NAME.spdx.json, NAME.cdx.json). */
  sbom: { path: string; bytes: number }[];
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
  // checked before anything is pulled or written
  const signer = opts.sign && (await loadSigner({ key: resolve(cwd, opts.sign.key), cert: resolve(cwd, opts.sign.cert) }));
  const blueprint = withSlots(withVerity(await loadBlueprints(files), opts.verity), opts.imageVersion);
  const rootType = layoutType(blueprint, opts.root);
  // a squashfs blueprint's default output is its kernel, small initrd and squashfs
  const formats = (opts.formats?.length ? opts.formats : defaultFormats(rootType, blueprint.root?.slots !== undefined)).map(findFormat);
  planSlots(blueprint, formats, rootType);
  const name = opts.name ?? blueprint.name ?? basename(files[0], extname(files[0]));
  // a blueprint's `name:` was checked (located) when it was parsed
  if (opts.name !== undefined || blueprint.name === undefined) checkOutputName(name, opts.name !== undefined ? 'option' : 'file');

  const lockFile = lockPath(files);
  const lock = await readLock(lockFile);
  if (opts.locked && opts.updateLock) throw new LockError('ELOCKFILE', '--locked and --update-lock contradict each other: choose one');
  if (opts.locked && !lock) throw new LockError('ESTALELOCK', `--locked, but there is no ${lockFile}`, { hint: `write it with \`osbuild lock ${opts.files.join(' ')}\`` });

  // this build's own Store object: what it reads of the store's documents it reads once
  const store = await Store.open(join(cacheDir, 'store'), { rememberDocuments: true });
  const componentDirs = opts.componentDirs ?? defaultComponentDirs(cwd, files);
  const session = new BuildSession({
    store,
    outDir,
    componentDirs,
    onWarning: (w) => opts.onEvent?.({ type: 'warning', message: w.message }),
    segmentCache: opts.segmentCache,
    signer,
  });
  const images = await resolveImages(planRefs(blueprint, formats, arch), {
    store,
    arch,
    cacheDir,
    componentDirs,
    components: session.components(),
    sourceDateEpoch: epoch,
    onEvent: opts.onEvent,
    pull: opts.pull,
    registry: opts.registry,
    lock: lock && !opts.updateLock ? { lock, locked: opts.locked === true } : undefined,
    refreshDebian: opts.updateLock,
    debianSources: opts.debianSources,
  });
  if (lock || opts.updateLock) {
    // the lock records what this build used; --locked refuses any difference before writing outputs
    const inputs = archInputs(images, arch);
    const diffs = lock ? lockDifferences(lock, { ...inputs, archiveTimes: new Map() }) : ['no lock yet'];
    if (diffs.length > 0 && opts.locked) throw lockedError(lockFile, diffs);
    if (diffs.length > 0) {
      const times = await archiveTimes(cacheDir, arch, opts.debianSources, inputs);
      await writeLock(lockFile, mergeInputs(lock ?? (await import('./lock.js')).emptyLock(), { ...inputs, archiveTimes: times }), lockHeader());
      if (lock) opts.onEvent?.({ type: 'warning', message: `${lockFile} updated (${arch}):\n  ${diffs.join('\n  ')}` });
    }
  }

  let modulesInfo;
  const modules = modulesInfoSources(blueprint, images, formats, opts.root);
  for (const layer of modules?.layers ?? []) {
    modulesInfo = await kernelModulesInfo(store, layer, modules!.tarName);
    if (modulesInfo) break;
  }
  const fileList = await filesEntries(blueprint.files ?? [], { epoch, cwd, blueprint });
  // what the system is made of, listed in the system itself: its files section gets the documents
  // (modules.dep is read for some formats only: its kernel release only when the blueprint itself needs it, so that the root is one for every format)
  const sbom = await sbomDocuments({ name, arch, epoch, blueprint, images, files: fileList, kernelRelease: blueprint.kernel?.modules?.length ? modulesInfo?.kver : undefined }, opts.sbom ?? DEFAULT_SBOM);
  const plan = planBuild({ name, arch, epoch, blueprint, images, files: [...fileList, ...sbomEntries(sbom, epoch)], modulesInfo, formats, root: opts.root, initrdCompression: opts.initrdCompression, diskSize: opts.diskSize });
  for (const w of plan.root.warnings) opts.onEvent?.({ type: 'warning', message: w.message });
  if (signer && !plan.outputs.some((o) => o.bootImages.includes(BOOT_EFI_IMAGE))) {
    opts.onEvent?.({ type: 'warning', message: 'nothing to sign: no format of this build holds an EFI binary (uki, iso, raw-efi, qcow2-efi, ... do)' });
  }

  await mkdir(outDir, { recursive: true });
  await removeStalePartials(outDir);
  const outputs: BuildResult['outputs'] = [];
  try {
    for (const [i, f] of formats.entries()) {
      const output = plan.outputs[i];
      const started = Date.now();
      opts.onEvent?.({ type: 'output-start', format: f.name, files: output.files.map((x) => join(outDir, x)) });
      const written = await writeFormat(f, output, session, plan);
      opts.onEvent?.({ type: 'output-done', format: f.name, files: written, ms: Date.now() - started });
      outputs.push({ format: f.name, files: written });
    }
  } finally {
    await session.close();
  }
  return { plan, outputs, sbom: await writeSbom(outDir, name, sbom, session.partialSuffix()) };
}
