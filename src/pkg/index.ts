// `osbuild pkg`: components (components/<name>/build.yml) built into OCI images from Debian packages.
export { buildComponent, runtimeConfig, type BuildComponentOptions, type BuiltComponent } from './build.js';
export { findComponent, listComponents } from './find.js';
export { loadComponent, parseComponentSpec, ComponentSpecSchema, SPEC_FILE, type ComponentSpec, type SpecIssue } from './spec.js';
export { PkgError, type PkgErrorCode } from './errors.js';
export type { PkgEvent } from './events.js';
export { AptRepo, type DebInfo } from './apt.js';
export { dependencyClosure, CLOSURE_EXCLUDED } from './closure.js';
export { modulesDep, moduleName, type ModuleInfo } from './moddep.js';
export { globToRegExp } from './glob.js';
export { DEBIAN_PACKAGES_LABEL, DebRecordSchema, DebRecordsSchema, recordsLabel, recordsOf, sortRecords, type DebRecord } from './record.js';
