// Defaults every entry point needs, kept apart from the build itself so that reading them
// (e.g. for `osbuild --help`) loads nothing heavy.

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's own folder: its components/ and kernel/ are always searched. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// the cache directory and SOURCE_DATE_EPOCH defaults: one function each, in src/defaults.ts
export { defaultCacheDir, sourceDateEpoch as epochFromEnv } from '../defaults.js';
