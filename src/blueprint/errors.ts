// A blueprint error lists every problem found, each at the file:line:column a user would open,
// so that one run shows everything to fix rather than one problem per run.

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

export class BlueprintError extends Error {
  readonly code = 'EBLUEPRINT' as const;
  readonly issues: BlueprintIssue[];
  constructor(issues: BlueprintIssue[]) {
    const sorted = sortIssues(issues);
    super(sorted.map(formatIssue).join('\n'));
    this.name = 'BlueprintError';
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
  return issues
    .map((issue, n) => ({ issue, n }))
    .sort(
      (a, b) =>
        fileOrder.get(a.issue.file)! - fileOrder.get(b.issue.file)! ||
        a.issue.line - b.issue.line ||
        a.issue.column - b.issue.column ||
        a.n - b.n,
    )
    .map((x) => x.issue);
}

/** `services[1].binds[0]` from ['services', 1, 'binds', 0]; dotted keys are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = String(seg);
      out += /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? (out ? `.${key}` : key) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}
