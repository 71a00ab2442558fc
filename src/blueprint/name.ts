// The name of a build's outputs (`name:` in a blueprint, the build's `name` option, --name on the
// command line) becomes the first part of file names in the output directory: NAME-kernel,
// NAME.iso, and while they are written NAME.iso.partial-.... So it must be one file
// name component: `../x` would write outside the output directory, and a name too long for
// its longest suffix would fail with a raw ENAMETOOLONG half way through a build.
import { quoteString, type BlueprintIssue } from './errors.js';
import { locate } from './origin.js';
import type { Blueprint } from './schema.js';
import { OsbuildError } from '../errors.js';

/**
 * Most bytes (UTF-8) in a name. File names hold 255 bytes, and the output table
 * (src/build/outputs.ts) adds to a name at most: `-efi-initrd.iso` (15), and while a file is
 * written `.partial-<owner>-<12 hex>`, where <owner> is `<pid namespace>.<pid>.<start time>`
 * (up to 39 characters): 76 in all; its scratch files `.NAME.scratch-<owner>-<12 hex>-root.sqfs`
 * add 72. test/blueprint/name.test.ts checks every row of the table against this. (Even, so
 * that half of it is a whole number of two-byte characters in that test.)
 */
export const MAX_NAME_BYTES = 178;

// Control characters, line separators and bidirectional overrides: a file name that does not
// print as itself. Lone surrogates: a string that is not text (it would be written as U+FFFD).
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** What makes `name` unusable as the base name of output files, or undefined when it is fine. */
export function outputNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (name === '.' || name === '..') return `\`${name}\` names a directory, not a file`;
  if (name.includes('/')) return 'it contains `/`, but it must be a file name, not a path';
  if (UNPRINTABLE.test(name)) return 'it contains a control or other unprintable character';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) return `it is ${bytes} bytes long, more than ${MAX_NAME_BYTES} (output file names add suffixes to it and may be at most 255 bytes)`;
  return undefined;
}

const HINT = 'use a plain file name such as `my-system`: the outputs are NAME-kernel, NAME.iso, ... in the output directory (-o)';

/** The blueprint's `name`, checked, as an issue at the value. */
export function outputNameIssue(bp: Blueprint): BlueprintIssue | undefined {
  if (bp.name === undefined) return undefined;
  const problem = outputNameProblem(bp.name);
  if (!problem) return undefined;
  const loc = locate(bp, 'name') ?? { file: '<blueprint>', line: 0, column: 0 };
  return { ...loc, path: 'name', message: `name: ${quoteString(bp.name)} cannot name output files: ${problem}`, hint: HINT };
}

/** A build's output name that cannot be one (thrown by build() before it touches anything). */
export class OutputNameError extends OsbuildError {
  readonly code = 'EOUTPUTNAME' as const;
  constructor(
    readonly outputName: string,
    readonly from: 'option' | 'file',
    problem: string,
  ) {
    super(
      from === 'option'
        ? `--name ${quoteString(outputName)} cannot name output files: ${problem}; ${HINT}`
        : `the output name ${quoteString(outputName)} (the blueprint's file name) cannot name output files: ${problem}; give one with --name or \`name:\` in the blueprint`,
      from === 'option' ? { where: '--name', hint: HINT } : { hint: 'give one with --name or `name:` in the blueprint' },
    );
  }
}

/**
 * Throws OutputNameError when `name` cannot be an output name. `from`: where it came from (the
 * --name option, or the first blueprint file's name); a blueprint's `name:` is checked, located,
 * when the blueprint is parsed.
 */
export function checkOutputName(name: string, from: 'option' | 'file'): void {
  const problem = outputNameProblem(name);
  if (problem) throw new OutputNameError(name, from, problem);
}
