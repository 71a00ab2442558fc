// A blueprint error lists every problem found, each at the file:line:column a user would open,
// so that one run shows everything to fix rather than one problem per run.
//
// A blueprint is untrusted text and its values end up in messages: every value is quoted with
// quote()/quoteString() (escaped, shortened), and the error escapes whatever control character
// still reaches an issue, so a newline or an escape sequence in a blueprint can never break a
// message across lines or forge a `file:line:col:` line of its own.
import { showName } from '../formats/names.js';
import { OsbuildError } from '../errors.js';

/** A place in a blueprint file; line and column count from 1 (0 when no place is known). */
export interface Location {
  file: string;
  line: number;
  column: number;
}

export interface BlueprintIssue extends Location {
  /** Where in the blueprint, e.g. `services[1].binds[0]`; '' for the whole file. */
  path: string;
  message: string;
  /** What to do about it, when we can tell (e.g. "did you mean `onboot`?"). */
  hint?: string;
}

export class BlueprintError extends OsbuildError {
  readonly code = 'EBLUEPRINT' as const;
  readonly issues: BlueprintIssue[];
  constructor(issues: BlueprintIssue[]) {
    const sorted = sortIssues(issues.map(safeIssue));
    const first = sorted[0];
    super(sorted.map(formatIssue).join('\n'), first ? { where: first.line > 0 ? `${first.file}:${first.line}:${first.column}` : first.file, hint: first.hint } : undefined);
    this.issues = sorted;
  }
}

/** One line: `file:line:col: message; hint` (without line:col when the place is unknown). */
export function formatIssue(issue: BlueprintIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return `${where}: ${issue.message}${issue.hint ? `; ${issue.hint}` : ''}`;
}

// Files keep the order they were given in (composition order means something); within a file,
// issues go top to bottom like a compiler's.
function sortIssues(issues: BlueprintIssue[]): BlueprintIssue[] {
  const fileOrder = new Map<string, number>();
  for (const i of issues) if (!fileOrder.has(i.file)) fileOrder.set(i.file, fileOrder.size);
  // Array.prototype.sort is stable: equal places keep the order they were found in
  return [...issues].sort(
    (a, b) => (a.file === b.file ? 0 : fileOrder.get(a.file)! - fileOrder.get(b.file)!) || a.line - b.line || a.column - b.column,
  );
}

/** `services[1].binds[0]` from ['services', 1, 'binds', 0]; dotted keys are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = String(seg);
      out += /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) && key.length <= SHOWN_CHARS ? (out ? `.${key}` : key) : `[${quoteString(key)}]`;
    }
  }
  return out;
}

// Longer values are cut: a message names a value, it does not reproduce a megabyte of it.
const SHOWN_CHARS = 80;

function shorten(text: string): string {
  if (text.length <= SHOWN_CHARS) return text;
  // never cut a surrogate pair in two (showName would show the half as an escape)
  const end = /[\ud800-\udbff]/.test(text[SHOWN_CHARS - 1]) ? SHOWN_CHARS - 1 : SHOWN_CHARS;
  return `${text.slice(0, end)}...`;
}

/** A value from a blueprint as it goes between backticks in a message: escaped and shortened. */
export function quote(value: unknown): string {
  return showName(shorten(String(value)));
}

/** A string value in double quotes, JSON-like: `"a\nb"`; escaped and shortened. */
export function quoteString(value: string): string {
  return `"${quote(value).replace(/"/g, '\\"')}"`;
}

// C0 and C1 controls, DEL, line/paragraph separators and bidirectional overrides: what could end
// a line or rewrite one on a terminal. Backslashes are left alone (quote() already placed them).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

// eslint-disable-next-line no-control-regex
const MAYBE_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]/;

/** Text with every character that could break or forge a message line shown as an escape. */
export function safeText(text: string): string {
  // the quick test first: almost every message is plain text
  if (!MAYBE_UNSAFE.test(text)) return text;
  return text.replace(UNSAFE, (c) => {
    const u = c.charCodeAt(0);
    if (u === 0x0a) return '\\n';
    if (u === 0x09) return '\\t';
    if (u === 0x0d) return '\\r';
    if (u === 0x1b) return '\\e';
    return u < 0x80 ? `\\x${u.toString(16).padStart(2, '0')}` : `\\u{${u.toString(16).padStart(4, '0')}}`;
  });
}

function safeIssue(i: BlueprintIssue): BlueprintIssue {
  const safe = (t: string | undefined) => t === undefined || !MAYBE_UNSAFE.test(t);
  if (safe(i.file) && safe(i.path) && safe(i.message) && safe(i.hint)) return i;
  const out: BlueprintIssue = { ...i, file: safeText(i.file), path: safeText(i.path), message: safeText(i.message) };
  if (i.hint !== undefined) out.hint = safeText(i.hint);
  return out;
}
