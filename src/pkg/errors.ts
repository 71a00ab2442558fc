// Typed errors of `osbuild pkg`: the CLI shows `message` and may branch on `code`.

import { OsbuildError } from '../errors.js';

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
  | 'RECORD_INVALID'; // an image's org.osbuild.debian.packages label is malformed

export class PkgError extends OsbuildError {
  override readonly name = 'PkgError';
  constructor(
    readonly code: PkgErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}
