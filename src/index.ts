// The library API of osbuild. The CLI (src/cli) is a thin layer over what is exported here; so
// can be any other tool. Nothing here prints or exits: errors are typed (each has a `code`),
// progress comes through callbacks.

// arch: what osbuild knows about each architecture, in one table
export { ARCHES, ARCH_NAMES, BIOS_ARCHES, archNamed, defaultArch, hostArch, isArch, type Arch, type ArchInfo } from './arch.js';

// errors: the base of every error, its families and the exit codes the CLI gives them
export { OsbuildError, EXIT_CODES, exitCodeOf, familyOf, type ErrorFamily, type OsbuildErrorOptions } from './errors.js';

// defaults: the cache directory (defaultCacheDir, exported through build below) and
// SOURCE_DATE_EPOCH, each resolved in one function
export { sourceDateEpoch } from './defaults.js';

// build: blueprint files -> outputs
export { build, loadBlueprints, defaultCacheDir, defaultComponentDirs, type BuildOptions, type BuildResult } from './build/build.js';
export type { BuildEvent } from './build/events.js';
export { FORMATS, findFormat, OutputError, type OutputFormat, type OutputContext } from './build/outputs.js';
export { BuildSession, type BuildSessionOptions, type SharedScratch } from './build/session.js';
export { resolveImages, ResolveError, type ResolveContext } from './build/resolve.js';
export { filesEntries, FilesError } from './build/files.js';

// plan: blueprint + resolved images -> everything a build will do (pure, no I/O)
export { planBuild, planRefs, needsSquashfs, modulesInfoSources, type BuildPlan, type PlanInputs, type PlannedImage, type BootImage, type ImageUse } from './plan/plan.js';
export { planSystem, blueprintRefs, kernelPaths, topmostLayerWith, PlanError, type SystemPlan, type SystemInputs, type KernelPlan } from './plan/system.js';
export { DEFAULT_FORMAT, BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE, formatLayout, sharedLayout, defaultFormats, planOutputs, type FormatLayout, type FormatSpec, type OutputPlan, type SharedFiles } from './plan/formats.js';
export { squashfsLayout, writablePaths, layoutType, rootMarker, ROOT_TYPES, ROOT_MODULES, DEFAULT_WRITABLE, ISO_ROOT_FILE, type Layout, type RootType, type SquashfsLayout, type SquashfsCompression } from './plan/layout.js';
export type { ResolvedImage as ResolvedBlueprintImage } from './plan/images.js';
export { parseDiskSize, DiskSizeError } from './plan/disk-size.js';
export { SQUASHFS_ROOT, EROFS_ROOT, ISO9660_ROOT, rootModules, type RootFs } from './plan/layout.js';

// sbom: what a build is made of, as SPDX 2.3 and CycloneDX 1.5 documents (pure); build/sbom.ts writes them
export { sbomModel, debPurl, ociPurl, uuidV5, documentNamespace, type SbomModel, type SbomInputs, type SbomImage, type SbomKernel, type SbomFile } from './sbom/model.js';
export { spdxDocument, spdxText } from './sbom/spdx.js';
export { cyclonedxDocument, cyclonedxText } from './sbom/cyclonedx.js';
export { SBOM_FORMATS, DEFAULT_SBOM, parseSbomList, type SbomFormat } from './sbom/formats.js';
export { SbomError } from './sbom/errors.js';
export { licenseOf } from './pkg/license.js';

// blueprint: LinuxKit's YAML plus osbuild's keys
export * from './blueprint/index.js';

// oci: references, the content store, import/export
export * from './oci/types.js';
export { parseRef, formatRef, familiarRef, normalizeRef, type ImageRef } from './oci/ref.js';
export { Store, defaultStoreDir, type ResolvedImage } from './oci/store.js';
export { StoreError, RefError, RegistryError, DiskFullError } from './oci/errors.js';
export { importLayout, type ImportOptions, type ImportedRef } from './oci/import.js';
export { exportLayout } from './oci/export.js';
export { exportImages, type ArchiveFormat } from './oci/archive.js';
export { prune, type PruneOptions, type PruneResult } from './oci/prune.js';
export { verifyStore, type VerifyOptions, type VerifyResult, type VerifyProblem } from './oci/verify.js';
// the registry: pull and push over the OCI distribution API
export * from './oci/registry/index.js';

// rootfs: the stream of entries and how a root is assembled
export * from './formats/entry.js';
export { planRoot, containerDirName, type RootPlan, type RootInputs, type RootSection } from './rootfs/plan.js';
export { assembleRoot, AssembleError } from './rootfs/assemble.js';
export { planFlatten, FlattenError, type FlattenPlan, type LayerToc } from './rootfs/flatten.js';
export { layerToc, layerEntries, layerTar, LayerError } from './rootfs/layer.js';
export { selectModules, kernelModulesInfo, parseModulesDep, ModulesError } from './rootfs/modules.js';
export { runtimeSpec, type RuntimeSpecInput } from './rootfs/runtime-spec.js';
export type { RuntimeSpec } from './rootfs/oci-spec.js';
export { runtimeSpecJson } from './rootfs/runtime-spec-json.js';
export { runtimeConfig, runtimeConfText, type RuntimeConfig } from './rootfs/runtime-conf.js';
export { parseMobyLabel } from './rootfs/moby-label.js';
export { containerIds } from './rootfs/container-ids.js';
export { RuntimeSpecError, type RuntimeSpecErrorCode } from './rootfs/runtime-spec-error.js';
export { serviceConfText, type Supervision } from './rootfs/plan.js';

// formats: writers and readers of the entry stream
export { readTar } from './formats/tar/read.js';
export { writeTar } from './formats/tar/write.js';
export { writeCpio } from './formats/cpio/write.js';
export { gzipParallel, gunzip } from './formats/compress/gzip.js';
export { writeSquashfs, readSquashfsInfo, SquashfsError, type SquashfsOptions, type SquashfsResult } from './formats/squashfs/write.js';
export { writeErofs, ErofsError, type ErofsOptions, type ErofsResult } from './formats/erofs/write.js';
export { writeIsoRoot, type IsoRootOptions, type IsoRootResult } from './formats/iso/root.js';
export { TarFormatError, TarWriteError, CpioError } from './formats/errors.js';

// pkg: components from Debian packages
export { buildComponent, findComponent, listComponents, loadComponent, PkgError, type PkgEvent, type ComponentSpec } from './pkg/index.js';

// run: QEMU
export { runImage, testImage, bootCommand, type BootOptions, type TestOptions, type TestResult } from './run/boot.js';
export { qemuCommand, type QemuOptions } from './run/qemu.js';
export { detectAccel } from './run/accel.js';
export { findArtifacts } from './run/artifacts.js';
export { RunError } from './run/errors.js';

// artifacts: a build's outputs pushed to a registry as an OCI artifact, and pulled back
export * from './oci/artifact/index.js';
export { findOutputs, outputsArch, pushBuildOutputs } from './build/artifact.js';

// lock: osbuild.lock, the pinned inputs of blueprints; the Debian archives and package record
export { lockBlueprints, type LockOptions } from './build/locking.js';
export { LOCK_FILE, LockError, LockSchema, readLock, formatLock, type Lock } from './build/lock.js';
export { DEFAULT_SOURCES, DebianSourceSchema, loadSources, type DebianSource } from './pkg/archive.js';
export { DEBIAN_PACKAGES_LABEL, DebRecordSchema, recordsOf, type DebRecord } from './pkg/record.js';
