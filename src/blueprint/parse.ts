// Reading one blueprint file: YAML with source positions, then the schema, then the checks a
// single file can answer. Every problem is reported at its file:line:column.
import { open } from 'node:fs/promises';
import { BlueprintError, quote, type BlueprintIssue } from './errors.js';
import { checkBlueprint } from './checks.js';
import { outputNameIssue } from './name.js';
import { Blueprint } from './schema.js';
import { LIMITS, readYaml, tooLarge } from './yaml-read.js';
import { zodIssuesToBlueprintIssues } from './zod-issues.js';

/**
 * Parses and validates the text of one blueprint file; `file` names it in errors. Throws
 * BlueprintError listing every problem found. The result's objects carry their source
 * positions (see `locate`).
 */
export function parseBlueprint(text: string, file: string): Blueprint {
  const src = readYaml(text, file);
  let raw: unknown;
  try {
    // readYaml has bounded what aliases expand to; the library's own count would only refuse
    // some documents that readYaml accepts.
    raw = src.doc.contents === null ? {} : src.doc.toJS({ maxAliasCount: -1 });
  } catch (e) {
    // readYaml leaves toJS nothing to throw for; should it still, say so at the file.
    throw new BlueprintError([{ ...src.fileStart(), path: '', message: `cannot read the YAML: ${quote((e as Error).message)}` }]);
  }
  if (raw === null || raw === undefined) raw = {};

  const result = Blueprint.safeParse(raw);
  if (!result.success) {
    const issues = zodIssuesToBlueprintIssues(result.error.issues, raw, Blueprint, src);
    if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) addMisplacedHints(issues, raw);
    throw new BlueprintError(issues);
  }
  src.recordOrigins(result.data);
  const issues = checkBlueprint(result.data);
  const nameIssue = outputNameIssue(result.data);
  if (nameIssue) issues.push(nameIssue);
  if (issues.length > 0) throw new BlueprintError(issues);
  return result.data;
}

/** Reads and parses one blueprint file. */
export async function loadBlueprint(file: string): Promise<Blueprint> {
  return parseBlueprint(await readBlueprintText(file), file);
}

/**
 * Reads a blueprint file, turning a read failure into a BlueprintError naming the file. Reads at
 * most one byte past the size limit, so that /dev/zero or a huge file is refused, not loaded.
 */
export async function readBlueprintText(file: string): Promise<string> {
  let fh;
  try {
    fh = await open(file, 'r');
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, LIMITS.bytes + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > LIMITS.bytes) throw tooLarge(file, undefined);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (e) {
    if (e instanceof BlueprintError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new BlueprintError([{ file, line: 0, column: 0, path: '', message: `cannot read blueprint: ${why}` }]);
  } finally {
    await fh?.close();
  }
}

// A top-level key that belongs one level down (e.g. `cmdline` or `modules` written at the top
// instead of under `kernel`) gets that as its hint when edit distance found nothing closer.
function addMisplacedHints(issues: BlueprintIssue[], raw: object): void {
  const kernelKeys = Object.keys(Blueprint.shape.kernel.unwrap().shape);
  for (const i of issues) {
    // a top-level key's path is the key itself
    if (!kernelKeys.includes(i.path) || !(i.path in raw)) continue;
    if (i.message === `unknown key \`${i.path}\` at the top level` && (!i.hint || i.hint.startsWith('known keys'))) {
      i.hint = `\`${i.path}\` belongs under \`kernel:\``;
    }
  }
}
