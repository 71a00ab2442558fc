// Progress events of `osbuild pkg build`, for the CLI (or a test) to show as it likes.
import type { Arch } from '../arch.js';
import type { Descriptor } from '../oci/types.js';

export type PkgEvent =
  | { type: 'apt-update'; arch: Arch }
  | { type: 'deb-download'; arch: Arch; package: string; version: string; size: number }
  | { type: 'deb-cached'; arch: Arch; package: string; version: string }
  | { type: 'layer'; arch: Arch; descriptor: Descriptor; diffId: string; entries: number }
  | { type: 'image'; arch: Arch; descriptor: Descriptor }
  | { type: 'index'; ref: string; descriptor: Descriptor };
