// LinuxKit's `--size` for disk outputs (linuxkit build --size): a whole number of MiB, written
// bare or with an M suffix, or of GiB with a G suffix (`1024`, `1024M`, `1G`). The disk formats
// write a disk of exactly that size; without it they are as small as their content allows. Pure.

import { OsbuildError } from '../errors.js';

const MiB = 1024 * 1024;

export class DiskSizeError extends OsbuildError {
  readonly code = 'EDISKSIZE';
}

/** Bytes of a `--size` value; throws DiskSizeError (located at `where`) for anything else. */
export function parseDiskSize(value: string, where = '--size'): number {
  const m = /^([0-9]+)([MG]?)$/.exec(value);
  const n = m ? Number(m[1]) * (m[2] === 'G' ? 1024 : 1) : NaN;
  if (!m || !Number.isSafeInteger(n * MiB) || n === 0) {
    throw new DiskSizeError(`${where} ${JSON.stringify(value)}: expected a disk size in MiB, as LinuxKit takes it: 1024, 1024M or 1G`, {
      where,
      hint: 'give a positive whole number of MiB (optionally with M), or of GiB with G',
    });
  }
  return n * MiB;
}

/** Bytes shown as LinuxKit's unit: whole MiB, rounded up. */
export function showMiB(bytes: number): string {
  return `${Math.ceil(bytes / MiB)}M`;
}
