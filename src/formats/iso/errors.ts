// Typed errors of the ISO 9660 writer. `code` is stable for callers to switch on; `path` names
// the file in the image the problem concerns, when there is one.

import { OsbuildError } from '../../errors.js';

export type IsoErrorCode =
  | 'EISOPATH' // a path that cannot be placed in the tree (empty, '..', duplicate, file in the way)
  | 'EISOSIZE' // a size out of range, or content that did not match its declared size
  | 'EISOBOOT' // an El Torito / isohybrid option that does not fit the tree
  | 'EISOFIELD'; // a descriptor field (volume id, date) out of range

export class IsoError extends OsbuildError {
  constructor(
    readonly code: IsoErrorCode,
    message: string,
    readonly path?: string,
    hint?: string,
  ) {
    super(message, path !== undefined || hint !== undefined ? { where: path, hint } : undefined);
  }
}
