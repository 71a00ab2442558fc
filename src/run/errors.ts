// Typed errors of the run module: `code` says what went wrong, the message where and what to do.
import { OsbuildError } from '../errors.js';

export type RunErrorCode =
  | 'ARTIFACT_MISSING' // kernel/initrd not found for the path given
  | 'ARCH_UNKNOWN' // the kernel's architecture could not be told and --arch was not given
  | 'ACCEL_INVALID' // OSBUILD_ACCEL is neither tcg nor kvm
  | 'QEMU_FAILED' // QEMU could not be started
  | 'NO_BOOT_PATH' // the image cannot boot with the firmware asked for (or with any)
  | 'FIRMWARE_MISSING' // the UEFI firmware image is not on this host
  | 'CMDLINE_FIXED'; // a command line addition for an image whose command line is built in

export class RunError extends OsbuildError {
  constructor(
    readonly code: RunErrorCode,
    message: string,
  ) {
    super(message);
  }
}
