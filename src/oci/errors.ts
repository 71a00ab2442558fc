// Typed errors of the oci module. The library never prints: callers switch on `code` and show
// `message`, which already says which ref / digest / file is concerned and what to do.

export class RefError extends Error {
  readonly code = 'EREF' as const;
  constructor(message: string, readonly input: string) {
    super(message);
    this.name = 'RefError';
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

export class StoreError extends Error {
  constructor(readonly code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
