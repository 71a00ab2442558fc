// Reading one blueprint file: YAML with source positions, then the schema, then the checks a
// single file can answer. Every problem is reported at its file:line:column.
import { readFile } from 'node:fs/promises';
import { LineCounter, isPair, parseDocument, visit, type Node, type YAMLError } from 'yaml';
import { BlueprintError, type BlueprintIssue } from './errors.js';
import { checkBlueprint } from './checks.js';
import { Blueprint } from './schema.js';
import { YamlSource } from './yaml-source.js';
import { zodIssuesToBlueprintIssues } from './zod-issues.js';

/**
 * Parses and validates the text of one blueprint file; `file` names it in errors. Throws
 * BlueprintError listing every problem found. The result's objects carry their source
 * positions (see `locate`).
 */
export function parseBlueprint(text: string, file: string): Blueprint {
  const lines = new LineCounter();
  // YAML 1.1 is the dialect of LinuxKit's parser (yaml.v2): `yes` is true, `<<` merges.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, version: '1.1', merge: true, uniqueKeys: true });
  const src = new YamlSource(file, text, doc, lines);
  if (doc.errors.length > 0) throw new BlueprintError(doc.errors.map((e) => yamlIssue(e, src)));

  let raw: unknown;
  try {
    raw = doc.contents === null ? {} : doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    // toJS refuses documents whose aliases expand exponentially.
    throw new BlueprintError([{ ...src.fileStart(), path: '', message: (e as Error).message }]);
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
  if (issues.length > 0) throw new BlueprintError(issues);
  return result.data;
}

/** Reads and parses one blueprint file. */
export async function loadBlueprint(file: string): Promise<Blueprint> {
  return parseBlueprint(await readBlueprintText(file), file);
}

/** Reads a blueprint file, turning a read failure into a BlueprintError naming the file. */
export async function readBlueprintText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new BlueprintError([{ file, line: 0, column: 0, path: '', message: `cannot read blueprint: ${why}` }]);
  }
}

function yamlIssue(e: YAMLError, src: YamlSource): BlueprintIssue {
  const loc = src.at(e.pos[0]);
  if (e.code === 'DUPLICATE_KEY') {
    const key = duplicateKeyText(src, e.pos[0]);
    return { ...loc, path: '', message: `duplicate key \`${key}\` in the same mapping`, hint: 'each key may appear once; remove or merge one of them' };
  }
  if (e.code === 'TAB_AS_INDENT') {
    return { ...loc, path: '', message: 'YAML syntax: tabs are not allowed as indentation', hint: 'indent with spaces' };
  }
  return { ...loc, path: '', message: `YAML syntax: ${e.message}` };
}

// A top-level key that belongs one level down (e.g. `cmdline` or `modules` written at the top
// instead of under `kernel`) gets that as its hint when edit distance found nothing closer.
function addMisplacedHints(issues: BlueprintIssue[], raw: object): void {
  const kernelKeys = Object.keys(Blueprint.shape.kernel.unwrap().shape);
  for (const i of issues) {
    const m = /^unknown key `([^`]+)` at the top level$/.exec(i.message);
    if (m && (!i.hint || i.hint.startsWith('known keys')) && kernelKeys.includes(m[1]) && m[1] in raw) {
      i.hint = `\`${m[1]}\` belongs under \`kernel:\``;
    }
  }
}

// The parser reports a duplicate key by its first character; show the whole key.
function duplicateKeyText(src: YamlSource, offset: number): string {
  let text = src.text.slice(offset, offset + 1);
  visit(src.doc, {
    Pair(_, pair) {
      const key = isPair(pair) ? (pair.key as Node | null) : null;
      if (key?.range?.[0] === offset) {
        text = src.sourceOf(key) ?? text;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return text;
}
