// Typed errors of the SBOM: a package record an image carries that cannot be read.

import { OsbuildError } from '../errors.js';

export class SbomError extends OsbuildError {
  readonly code = 'ESBOM';
}
