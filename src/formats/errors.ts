// Typed errors of the format readers and writers. Each carries a stable `code` a caller can
// switch on, and the archive path it concerns when there is one.

import { OsbuildError } from '../errors.js';

export type TarErrorCode = 'ETARTRUNC' | 'ETARCORRUPT' | 'ETARSPARSE' | 'ETARTYPE';
export type TarWriteErrorCode = 'ETARSIZE' | 'ETARFIELD' | 'ETARNAME';
export type CpioErrorCode = 'ECPIOLINK' | 'ECPIOSIZE' | 'ECPIOFIELD' | 'ECPIONAME';

/** A tar stream that cannot be read: truncated, corrupt, or using a feature osbuild does not support. */
export class TarFormatError extends OsbuildError {
  constructor(
    readonly code: TarErrorCode,
    message: string,
    /** Byte offset in the tar stream where the problem was found. */
    readonly offset: number,
    /** The archive path concerned, when known. */
    readonly path?: string,
  ) {
    super(message, path !== undefined ? { where: path } : undefined);
  }
}

/** An entry that cannot be written as tar (content length differs from entry.size, field out of range). */
export class TarWriteError extends OsbuildError {
  constructor(
    readonly code: TarWriteErrorCode,
    message: string,
    readonly path: string,
  ) {
    super(message, { where: path });
  }
}

/** An entry that cannot be written as cpio newc. */
export class CpioError extends OsbuildError {
  constructor(
    readonly code: CpioErrorCode,
    message: string,
    readonly path: string,
  ) {
    super(message, { where: path });
  }
}
