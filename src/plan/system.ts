// Blueprint + resolved images -> the system plan: the kernel, and the root (init, containers,
// files). plan.ts adds the outputs to make the build plan. Pure: no disk, no network; everything
// it needs was resolved before (digests, tables of contents, modules.dep, file sizes).

import type { Blueprint, ImageSpec, InitrdCompression } from '../blueprint/schema.js';
import { checkServiceOrder, runtimeKeySet, UNSUPPORTED_RUNTIME_KEYS } from '../blueprint/checks.js';
import { BlueprintError } from '../blueprint/errors.js';
import { locate } from '../blueprint/origin.js';
import type { Arch } from '../arch.js';
import type { Descriptor } from '../oci/types.js';
import type { Entry } from '../formats/entry.js';
import { showName } from '../formats/names.js';
import { MOBY_CONFIG_LABEL } from '../oci/types.js';
import { cleanPath } from '../rootfs/paths.js';
import { containerDirName, planRoot, serviceConfText, type ContainerInput, type ContainerKind, type PlainEntry, type RootPlan } from '../rootfs/plan.js';
import { selectModules, type KernelModulesInfo, type ModuleSelection } from '../rootfs/modules.js';
import { containerIds } from '../rootfs/container-ids.js';
import { parseMobyLabel } from '../rootfs/moby-label.js';
import { runtimeConfig, runtimeConfText } from '../rootfs/runtime-conf.js';
import { runtimeSpec } from '../rootfs/runtime-spec.js';
import { RuntimeSpecError } from '../rootfs/runtime-spec-error.js';
import { runtimeSpecJson } from '../rootfs/runtime-spec-json.js';
import type { ResolvedImage } from './images.js';

export interface KernelPlan {
  /** The layer of the kernel image that holds the kernel binary, and its path there. */
  layer: Descriptor;
  binary: string;
  /** The kernel binary's size, from the layer's table of contents. */
  size: number;
  /** The layer holding the modules tarball, when the image has one and the blueprint wants it. */
  modulesLayer?: Descriptor;
  tarName?: string;
  kver?: string;
  selection?: ModuleSelection;
  /** An uncompressed cpio of CPU microcode in the kernel image, put before the initrd (LinuxKit's `ucode`). */
  ucode?: { layer: Descriptor; path: string };
}

export interface SystemPlan {
  name: string;
  arch: Arch;
  cmdline: string;
  kernel?: KernelPlan;
  root: RootPlan;
  /** How the initrds are compressed. */
  initrdCompression: InitrdCompression;
}

import { OsbuildError } from '../errors.js';
export class PlanError extends OsbuildError {
  readonly code = 'EPLAN';
}

export interface SystemInputs {
  name: string;
  arch: Arch;
  epoch: number;
  blueprint: Blueprint;
  images: Map<string, ResolvedImage>;
  files: PlainEntry[];
  /** modules.dep of the kernel image, when the blueprint selects modules. */
  modulesInfo?: KernelModulesInfo;
  /** Overrides the blueprint's root.initrd.compression. */
  initrdCompression?: InitrdCompression;
}

/** Every image reference a blueprint uses, in order. */
export function blueprintRefs(b: Blueprint): string[] {
  const refs: string[] = [];
  if (b.kernel?.image) refs.push(b.kernel.image);
  refs.push(...(b.init ?? []));
  for (const s of ['onboot', 'onshutdown', 'services'] as const) for (const i of b[s] ?? []) refs.push(i.image);
  return [...new Set(refs)];
}

/** Where a kernel image keeps its binary and modules tarball (LinuxKit's names by default). */
export function kernelPaths(b: Blueprint): { binary: string; tar?: string } {
  const tar = b.kernel?.tar ?? 'kernel.tar';
  return { binary: cleanPath(b.kernel?.binary ?? 'kernel'), tar: tar === 'none' ? undefined : cleanPath(tar) };
}

export function planSystem(inputs: SystemInputs): SystemPlan {
  const { blueprint: b, images, arch, epoch } = inputs;
  const image = (ref: string) => {
    const i = images.get(ref);
    if (!i) throw new PlanError(`image ${showName(ref)} was not resolved`);
    return i;
  };

  let kernel: KernelPlan | undefined;
  const files = [...inputs.files];
  if (b.kernel?.image) {
    const k = image(b.kernel.image);
    const paths = kernelPaths(b);
    const bin = topmostLayerWith(k, paths.binary);
    if (!bin) throw new PlanError(`kernel image ${showName(k.ref)} has no ${showName(paths.binary)} (set kernel.binary to the kernel's path in the image)`);
    kernel = { layer: bin.layer, binary: paths.binary, size: bin.entry.size };
    if (b.kernel.ucode) {
      const path = cleanPath(b.kernel.ucode);
      const found = topmostLayerWith(k, path);
      if (!found) throw new PlanError(`kernel image ${showName(k.ref)} has no ${showName(path)} (kernel.ucode)`);
      kernel.ucode = { layer: found.layer, path };
    }
    if (paths.tar) {
      const tar = topmostLayerWith(k, paths.tar);
      if (tar) {
        kernel.modulesLayer = tar.layer;
        kernel.tarName = paths.tar;
      } else if (b.kernel.tar !== undefined) {
        throw new PlanError(`kernel image ${showName(k.ref)} has no ${showName(paths.tar)} (kernel.tar); use \`tar: none\` for a kernel without modules`);
      }
    }
    // kernel.modules absent: the whole modules tarball (LinuxKit's meaning); [] : none; names:
    // those and their dependencies, loaded at boot in that order.
    const wanted = b.kernel.modules;
    if (wanted === undefined) {
      kernel.kver = inputs.modulesInfo?.kver;
    } else if (wanted.length === 0) {
      kernel.modulesLayer = undefined;
    } else {
      if (!kernel.modulesLayer || !inputs.modulesInfo) {
        throw new PlanError(`kernel.modules is set but kernel image ${k.ref} carries no modules tarball with a modules.dep`);
      }
      kernel.kver = inputs.modulesInfo.kver;
      kernel.selection = selectModules(inputs.modulesInfo, wanted, `kernel.modules of ${k.ref}`);
      const list = Buffer.from(kernel.selection.load.map((m) => m + '\n').join(''));
      files.unshift({ entry: { path: 'etc/osbuild/modules', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: epoch, size: list.length }, content: { kind: 'bytes', data: list } });
    }
  }

  const init = (b.init ?? []).map(image);
  const sections: Array<[ContainerKind, ImageSpec[]]> = [
    ['onboot', b.onboot ?? []],
    ['onshutdown', b.onshutdown ?? []],
    ['services', b.services ?? []],
  ];
  const ids = containerIds(sections.flatMap(([, list]) => list.map((i) => i.name)));
  // `after` names services that exist and that do not wait for each other in a circle
  const order = checkServiceOrder(b);
  if (order.length) throw new BlueprintError(order);
  const containers: ContainerInput[] = [];
  for (const [kind, list] of sections) {
    list.forEach((spec, index) => {
      const img = image(spec.image);
      const { name, image: _ref, restart, after, ...overrides } = spec;
      const labelText = img.config.config?.Labels?.[MOBY_CONFIG_LABEL];
      const label = labelText ? parseMobyLabel(labelText, `label ${MOBY_CONFIG_LABEL} of ${img.ref}`) : undefined;
      const dirName = containerDirName(kind, index, name);
      // Point at the blueprint's image section (or the key in it), where the user can fix it.
      const relocate = (e: unknown, at = locate(spec)): never => {
        if (at && e instanceof Error) e.message = `${showName(at.file)}:${at.line}:${at.column}: ${kind} ${showName(name)}: ${e.message}`;
        throw e;
      };
      let spec_;
      let runtimeText: string | undefined;
      try {
        spec_ = runtimeSpec({ name: dirName, imageConfig: img.config.config, label, overrides, idMap: ids });
      } catch (e) {
        relocate(e);
      }
      const rc = runtimeConfig(label, overrides);
      for (const key of UNSUPPORTED_RUNTIME_KEYS) {
        if (!runtimeKeySet(rc[key])) continue;
        const inBlueprint = spec.runtime !== undefined && runtimeKeySet(spec.runtime[key]);
        relocate(
          new RuntimeSpecError('UNSUPPORTED_RUNTIME',
            `runtime.${key}${inBlueprint ? '' : ` (set by the ${MOBY_CONFIG_LABEL} label of ${img.ref})`} is not supported by osbuild's init yet: it applies runtime.mkdir, runtime.mounts and runtime.cgroups only`),
          inBlueprint ? locate(spec.runtime!, key) : locate(spec),
        );
      }
      try {
        runtimeText = runtimeConfText(rc, dirName);
      } catch (e) {
        relocate(e, spec.runtime ? locate(spec, 'runtime') : locate(spec));
      }
      const files: { name: string; data: Buffer }[] = [];
      if (runtimeText) files.push({ name: 'runtime.conf', data: Buffer.from(runtimeText) });
      const service = kind === 'services' ? serviceConfText({ restart, after }) : undefined;
      if (service) files.push({ name: 'service.conf', data: Buffer.from(service) });
      containers.push({
        kind,
        dirName,
        config: Buffer.from(runtimeSpecJson(spec_!)),
        ...(files.length ? { files } : {}),
        image: { layers: img.layers, tocs: img.tocs },
      });
    });
  }

  const root = planRoot({
    epoch,
    modules:
      kernel?.modulesLayer && kernel.tarName
        ? { layer: kernel.modulesLayer, tarName: kernel.tarName, kver: kernel.kver ?? '', selection: kernel.selection }
        : undefined,
    init: { layers: init.flatMap((i) => i.layers), tocs: init.flatMap((i) => i.tocs) },
    containers,
    files,
  });
  const initrdCompression = inputs.initrdCompression ?? b.root?.initrd?.compression ?? 'gzip';
  return { name: inputs.name, arch, cmdline: b.kernel?.cmdline ?? '', kernel, root, initrdCompression };
}

/** The top layer of an image holding the file at `path` (a later layer's copy wins), and its entry. */
export function topmostLayerWith(img: ResolvedImage, path: string): { layer: Descriptor; entry: Entry } | undefined {
  for (let l = img.layers.length - 1; l >= 0; l--) {
    const entry = img.tocs[l].find((e) => cleanPath(e.path) === path && e.type === 'file');
    if (entry) return { layer: img.layers[l], entry };
  }
  return undefined;
}
