// Errors of the dm-verity tree writer.

import { OsbuildError } from '../../errors.js';

/** A verity tree that cannot be made: no data, a salt too long, data shorter than planned. */
export class VerityError extends OsbuildError {
  readonly code = 'EVERITY';
}
