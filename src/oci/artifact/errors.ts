// Errors of OCI artifacts: a reference that is not one of osbuild's, an artifact that cannot be
// written safely, files that cannot be pushed. Registry failures stay RegistryErrors, blobs that
// do not match their digest StoreErrors (EDIGEST), as for images.
import { OsbuildError, type OsbuildErrorOptions } from '../../errors.js';

export type ArtifactErrorCode =
  | 'ENOTARTIFACT' // the reference names a container image or another tool's artifact
  | 'EARTIFACT' // the artifact (or the files to push) cannot be used: no files, unsafe or duplicate names
  | 'ENOOUTPUTS'; // a file to push is missing, or a directory holds no outputs of the name

export class ArtifactError extends OsbuildError {
  constructor(
    readonly code: ArtifactErrorCode,
    message: string,
    options?: OsbuildErrorOptions,
  ) {
    super(message, options);
  }
}
