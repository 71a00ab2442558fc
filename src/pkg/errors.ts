// Typed errors of `osbuild pkg`: the CLI shows `message` and may branch on `code`.

import { OsbuildError, type OsbuildErrorOptions } from '../errors.js';

export type PkgErrorCode =
  | 'SPEC_NOT_FOUND' // no build.yml in the component folder
  | 'SPEC_SYNTAX' // build.yml is not valid YAML
  | 'SPEC_INVALID' // build.yml does not match the component schema
  | 'APT_FAILED' // apt-get / apt-cache exited non-zero
  | 'PACKAGE_NOT_FOUND' // no such package for that architecture
  | 'DOWNLOAD_CORRUPT' // a downloaded .deb does not match the archive's size or SHA256
  | 'DEB_INVALID' // dpkg-deb could not read a .deb
  | 'PATH_NOT_MATCHED' // a `paths` glob matched nothing in its package
  | 'SOURCE_MISSING' // a `files` source is not in the component folder
  | 'PATH_CONFLICT' // two sources put different entries at one path
  | 'KERNEL_LAYOUT' // the kernel package lacks vmlinuz or lib/modules
  | 'ELF_INVALID' // a kernel module is not a readable ELF file
  | 'RECORD_INVALID' // an image's org.osbuild.debian.packages label is malformed
  | 'ARCHIVE_SIGNATURE' // a Release is not signed by a key of the source's keyring
  | 'ARCHIVE_INDEX' // a Release or Packages index is missing or fails the Release's SHA256
  | 'DOWNLOAD_FAILED' // the network or the archive's server failed
  | 'NOT_IN_ARCHIVE' // a pinned .deb is in neither the archive nor its snapshot
  | 'SOURCES_INVALID'; // a --debian-sources file is not a list of sources

export class PkgError extends OsbuildError {
  override readonly name = 'PkgError';
  readonly details?: unknown;
  /** `details`: data for callers (a spec's issues); or options with `where` and `hint`. */
  constructor(
    readonly code: PkgErrorCode,
    message: string,
    details?: unknown,
    options?: OsbuildErrorOptions,
  ) {
    super(message, options);
    this.details = details;
  }
}
