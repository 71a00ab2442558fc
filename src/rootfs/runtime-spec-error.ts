// The one error of everything that turns an image's keys into a container bundle's files.
import type { Parsed, Problem } from '../blueprint/image-options.js';
import { OsbuildError } from '../errors.js';

export type RuntimeSpecErrorCode =
  | 'BAD_LABEL'
  | 'BAD_CAPABILITY'
  | 'BAD_MOUNT'
  | 'BAD_RLIMIT'
  | 'BAD_ID'
  | 'BAD_DEVICE'
  | 'NO_COMMAND'
  | 'UNSUPPORTED_RUNTIME';

export class RuntimeSpecError extends OsbuildError {
  constructor(
    readonly code: RuntimeSpecErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** A problem found in the keys of the container `where` names, worded as validation words it. */
  static of(code: RuntimeSpecErrorCode, where: string, problem: Problem): RuntimeSpecError {
    return new RuntimeSpecError(code, `${where}: ${problem.message}${problem.hint ? `; ${problem.hint}` : ''}`);
  }
}

/** The value of an entry read, or the RuntimeSpecError its problem makes. */
export function valueOf<T>(parsed: Parsed<T>, code: RuntimeSpecErrorCode, where: string): T {
  if (parsed.problem) throw RuntimeSpecError.of(code, where, parsed.problem);
  return parsed.value;
}
