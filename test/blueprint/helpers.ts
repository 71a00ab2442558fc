import { BlueprintError, parseBlueprint } from '../../src/blueprint/index.js';

/** YAML text from lines, so a test reads with its line numbers obvious (line 1 is lines[0]). */
export function yaml(...lines: string[]): string {
  return lines.join('\n') + '\n';
}

/** The BlueprintError that parsing `text` throws (fails the test if it parses). */
export function parseError(text: string, file = 'bp.yml'): BlueprintError {
  try {
    parseBlueprint(text, file);
  } catch (e) {
    if (e instanceof BlueprintError) return e;
    throw e;
  }
  throw new Error(`expected a BlueprintError for:\n${text}`);
}

/** Each issue as `line:col: message` (+ `; hint`), the way a user reads them. */
export function located(err: BlueprintError): string[] {
  return err.issues.map((i) => `${i.line}:${i.column}: ${i.message}${i.hint ? `; ${i.hint}` : ''}`);
}
