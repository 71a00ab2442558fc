// Typed errors of the oci module. The library never prints: callers switch on `code` and show
// `message`, which already says which ref / digest / file is concerned and what to do.

import { OsbuildError } from '../errors.js';

export class RefError extends OsbuildError {
  readonly code = 'EREF' as const;
  constructor(message: string, readonly input: string) {
    super(message);
  }
}

export type StoreErrorCode =
  | 'EDIGEST' // content does not match its digest or size
  | 'ENOBLOB' // a blob some document needs is not in the store
  | 'ENOIMAGE' // a reference is not in the store
  | 'EPLATFORM' // the image has no manifest for the requested platform
  | 'EMEDIATYPE' // a document of a kind we cannot use
  | 'EINVALID' // a document fails to parse or validate
  | 'ELOCKED' // index.json lock could not be taken in time
  | 'EFORMAT'; // an import source is neither an OCI layout nor a docker-archive

export class StoreError extends OsbuildError {
  constructor(readonly code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A write failed because a filesystem is full (ENOSPC) or over quota (EDQUOT). The message names
 * the path, the mount and filesystem it is on, how much was free and, when known, how much the
 * write needed: the input is not to blame, and the fix is freeing space there or writing elsewhere.
 */
export class DiskFullError extends OsbuildError {
  readonly code = 'ENOSPC' as const;
  constructor(
    message: string,
    readonly info: { path: string; mount?: string; fsType?: string; free?: number; needed?: number },
    options?: { cause?: unknown; where?: string; hint?: string },
  ) {
    super(message, { where: info.path, hint: `free space${info.mount ? ` on ${info.mount}` : ''}, or write elsewhere`, ...options });
  }
}

export type RegistryErrorCode =
  | 'EAUTH' // the registry refused our credentials (or wants some and we have none)
  | 'EDENIED' // authenticated, but not allowed (403)
  | 'ENOTFOUND' // the repository, tag, manifest or blob does not exist there
  | 'EHTTP' // an unexpected HTTP status
  | 'ENETWORK' // the registry could not be reached, or kept failing after retries
  | 'EINSECURE' // plain HTTP or an unverified certificate for a registry not allowed to use them
  | 'EPROTOCOL' // the registry answered something the distribution API does not allow
  | 'ECREDS'; // a credential source (--creds, a docker-credential helper, config.json) is unusable

/** A failure talking to a registry. Messages name the registry and what to do; never a secret. */
export class RegistryError extends OsbuildError {
  constructor(readonly code: RegistryErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    if (options?.status !== undefined) this.status = options.status;
  }
  status?: number;
}
