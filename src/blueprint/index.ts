// The blueprint: LinuxKit's YAML format plus osbuild's additions; parsed with source positions,
// validated, merged.
export {
  Blueprint,
  ImageSpec,
  ImageOptions,
  KernelSpec,
  FileSpec,
  VolumeSpec,
  TrustSpec,
  Mount,
  Device,
  Resources,
  Runtime,
  Interface,
  BindNamespaces,
  IdMapping,
  RootSpec,
  RESTART_POLICIES,
  SQUASHFS_COMPRESSIONS,
  IMAGE_SECTIONS,
  type ImageSection,
  type RestartPolicy,
} from './schema.js';
export { BlueprintError, formatIssue, formatPath, type BlueprintIssue, type Location } from './errors.js';
export { parseBlueprint, loadBlueprint } from './parse.js';
export { LIMITS } from './yaml-read.js';
export { MAX_NAME_BYTES, OutputNameError, outputNameProblem } from './name.js';
export { mergeBlueprints } from './merge.js';
export { validateFiles, validateTexts, type ValidateResult } from './validate.js';
export { checkBlueprint, checkComplete, checkUniqueServices, checkServiceOrder, blueprintWarnings } from './checks.js';
export {
  ALL_CAPABILITIES,
  RLIMITS,
  RLIM_INFINITY,
  DEFAULT_MOUNTPOINT,
  parseCapabilities,
  parseRlimit,
  parseBind,
  parseTmpfs,
  parseMount,
  type ContainerMount,
  type Rlimit,
  type Parsed,
  type Problem,
} from './image-options.js';
export { locate, locateKey, pathOf } from './origin.js';
export { suggest } from './suggest.js';
