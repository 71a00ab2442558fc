// The one base of every error osbuild throws, and the one table of what each kind of failure
// means to a caller: its family and the process exit code the CLI gives it. A leaf: imports
// nothing, so any module may extend OsbuildError.
//
// Every error has a stable `code` (upper case, the module's own: 'EBLUEPRINT', 'EDIGEST',
// 'ARTIFACT_MISSING', ...), a `message` that is the whole text a person needs (today's messages
// already say where and what to do), and, as structured fields for --json and library users,
// `where` (file:line:col, image ref + layer digest + path, output path: whatever locates it) and
// `hint` (what to do), when the thrower knows them.


/** The families of failure, each one exit code. */
export type ErrorFamily = 'input' | 'usage' | 'registry' | 'store' | 'boot';

/** The exit codes of `osbuild`, one row per family: the CLI's help and README show this table. */
export const EXIT_CODES: readonly { exit: number; family: ErrorFamily | 'ok'; what: string }[] = [
  { exit: 0, family: 'ok', what: 'success' },
  { exit: 1, family: 'input', what: 'bad input: a blueprint, component, name, option value or file that is wrong or missing; an image nothing provides; anything unexpected' },
  { exit: 2, family: 'usage', what: 'bad usage: an unknown command or flag, a missing argument, an option value the command line rejects (--arch sparc)' },
  { exit: 3, family: 'registry', what: 'a registry or the network failed: unreachable, credentials refused, not found there; package downloads' },
  { exit: 4, family: 'store', what: 'store or disk: a blob that fails its digest or is missing, a damaged or locked store, cache verify problems, a full disk' },
  { exit: 5, family: 'boot', what: 'boot failed: `osbuild test` did not see its lines, or QEMU could not run the image' },
];

const EXIT_OF: Record<ErrorFamily, number> = { input: 1, usage: 2, registry: 3, store: 4, boot: 5 };

// The codes that are not 'input' (the default): one line per code, whichever class throws it.
// Node's own system error codes (ENOSPC, ECONNREFUSED, ...) are here too, so that an error no
// osbuild class wrapped still gets its family.
const FAMILY_OF_CODE: Record<string, ErrorFamily> = {
  EUSAGE: 'usage',
  // RegistryError: every failure talking to a registry
  EAUTH: 'registry',
  EDENIED: 'registry',
  ENOTFOUND: 'registry',
  EHTTP: 'registry',
  ENETWORK: 'registry',
  EINSECURE: 'registry',
  EPROTOCOL: 'registry',
  ECREDS: 'registry',
  // PkgError: fetching Debian packages
  APT_FAILED: 'registry',
  DOWNLOAD_CORRUPT: 'registry',
  DOWNLOAD_FAILED: 'registry',
  ARCHIVE_SIGNATURE: 'registry',
  ARCHIVE_INDEX: 'registry',
  NOT_IN_ARCHIVE: 'registry',
  // Node's network errors
  ECONNREFUSED: 'registry',
  ECONNRESET: 'registry',
  ETIMEDOUT: 'registry',
  EAI_AGAIN: 'registry',
  EHOSTUNREACH: 'registry',
  ENETUNREACH: 'registry',
  // StoreError: the store's own integrity; DiskFullError (and Node's) a full disk
  EDIGEST: 'store',
  ENOBLOB: 'store',
  EINVALID: 'store',
  ELOCKED: 'store',
  ENOSPC: 'store',
  EDQUOT: 'store',
  // RunError: QEMU could not run the image; ETEST: `osbuild test` did not see its lines
  QEMU_FAILED: 'boot',
  ETEST: 'boot',
};

/** The family of an error code; 'input' for every code not listed. */
export function familyOf(code: string | undefined): ErrorFamily {
  return (code !== undefined && Object.hasOwn(FAMILY_OF_CODE, code) ? FAMILY_OF_CODE[code] : undefined) ?? 'input';
}

/** The exit code of a family. */
export function exitCodeOfFamily(family: ErrorFamily): number {
  return EXIT_OF[family];
}

/** The exit code for anything thrown: by its code (an OsbuildError's, or Node's), else 1. */
export function exitCodeOf(err: unknown): number {
  const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
  return EXIT_OF[familyOf(code)];
}

export interface OsbuildErrorOptions {
  cause?: unknown;
  /** What locates the problem: file:line:col, image ref + layer digest + path, an output path. */
  where?: string;
  /** What to do about it. */
  hint?: string;
}

/** The base of every osbuild error: a stable `code`, and `where` / `hint` when known. */
export abstract class OsbuildError extends Error {
  abstract readonly code: string;
  where?: string;
  hint?: string;

  constructor(message: string, options?: OsbuildErrorOptions) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    // the class's own name, so no subclass has to repeat it
    this.name = new.target.name;
    if (options?.where !== undefined) this.where = options.where;
    if (options?.hint !== undefined) this.hint = options.hint;
  }

  /** The family of this error's code (see FAMILY_OF_CODE). */
  get family(): ErrorFamily {
    return familyOf(this.code);
  }

  /** The exit code the CLI gives this error. */
  get exitCode(): number {
    return EXIT_OF[this.family];
  }

  /** The error as --json shows it. */
  toJSON(): { name: string; code: string; family: ErrorFamily; exitCode: number; message: string; where?: string; hint?: string } {
    return {
      name: this.name,
      code: this.code,
      family: this.family,
      exitCode: this.exitCode,
      message: this.message,
      ...(this.where !== undefined ? { where: this.where } : {}),
      ...(this.hint !== undefined ? { hint: this.hint } : {}),
    };
  }
}
