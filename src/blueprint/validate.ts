// `osbuild validate FILE...`: every file parsed and checked (all their problems reported, not
// just the first file's), then merged and checked as one system.
import { BlueprintError, type BlueprintIssue } from './errors.js';
import { blueprintWarnings, checkComplete } from './checks.js';
import { mergeBlueprints } from './merge.js';
import { parseBlueprint, readBlueprintText } from './parse.js';
import type { Blueprint } from './schema.js';

export { checkBlueprint, checkComplete, checkServiceOrder, checkUniqueServices, blueprintWarnings } from './checks.js';

export type ValidateResult =
  | { ok: true; blueprint: Blueprint; warnings: BlueprintIssue[] }
  | { ok: false; error: BlueprintError };

/** Parses, merges (in the given order) and checks blueprint files. Never throws for a bad blueprint. */
export async function validateFiles(files: readonly string[]): Promise<ValidateResult> {
  const texts = await Promise.all(
    files.map(async (file) => {
      try {
        return { file, text: await readBlueprintText(file) };
      } catch (e) {
        return { file, error: e };
      }
    }),
  );
  return validateTexts(texts.map((t) => ('error' in t ? t : { file: t.file, text: t.text! })));
}

/** validateFiles on texts already read (also how a failed read is passed through). */
export function validateTexts(inputs: readonly ({ file: string; text: string } | { file: string; error: unknown })[]): ValidateResult {
  if (inputs.length === 0) {
    return { ok: false, error: new BlueprintError([{ file: '<none>', line: 0, column: 0, path: '', message: 'no blueprint file given' }]) };
  }
  const issues: BlueprintIssue[] = [];
  const parsed: Blueprint[] = [];
  for (const input of inputs) {
    try {
      if ('error' in input) throw input.error;
      parsed.push(parseBlueprint(input.text, input.file));
    } catch (e) {
      if (!(e instanceof BlueprintError)) throw e;
      // a loop, not push(...): a hostile file can have more issues than a call has arguments
      for (const i of e.issues) issues.push(i);
    }
  }
  if (issues.length > 0) return { ok: false, error: new BlueprintError(issues) };
  try {
    const blueprint = mergeBlueprints(parsed);
    const problems = checkComplete(blueprint);
    if (problems.length > 0) return { ok: false, error: new BlueprintError(problems) };
    return { ok: true, blueprint, warnings: blueprintWarnings(blueprint) };
  } catch (e) {
    if (e instanceof BlueprintError) return { ok: false, error: e };
    throw e;
  }
}
