// The dependency direction of the code: cli → library, never back; the library never prints or
// exits; src/index.ts is the library's front door; the top-level modules form no cycle.
// (In the spirit of go-containerregistry's depcheck_test.go: structure checked by a test, not
// by review.)

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', 'src');
const MODULES = ['blueprint', 'oci', 'rootfs', 'formats', 'run', 'pkg', 'build'] as const;

interface Import {
  spec: string;
  /** Absolute path of the imported file, for relative imports. */
  target?: string;
  typeOnly: boolean;
  line: number;
}

interface SourceFile {
  path: string;
  /** Relative to src/, with forward slashes. */
  rel: string;
  code: string;
  imports: Import[];
}

/**
 * The source with comments blanked out (newlines kept, so line numbers hold). String, template
 * and regex literals are skipped over so that `'//'` or `/\/\*` inside them is not taken for a
 * comment; `${...}` inside templates is code again.
 */
export function stripComments(src: string): string {
  let out = '';
  let i = 0;
  const braces: number[] = []; // for each open `${`, the brace depth at which it closes
  let depth = 0;
  let lastSignificant = ''; // the last non-space code character, to tell a regex from a division
  let lastWord = '';
  const blank = (s: string) => s.replace(/[^\n]/g, ' ');
  const regexMayStart = () => lastSignificant === '' || '([{,;:=!&|?+-*%<>~^'.includes(lastSignificant) || ['return', 'typeof', 'case', 'of', 'in', 'yield', 'await', 'void', 'delete', 'throw'].includes(lastWord);
  const skipString = (q: string) => {
    let j = i + 1;
    while (j < src.length && src[j] !== q && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
    out += src.slice(i, j + 1);
    i = j + 1;
  };
  const skipTemplate = () => {
    // from just after ` (or after the } that closes a ${...}) to the closing ` or the next ${
    let j = i;
    while (j < src.length && src[j] !== '`' && !(src[j] === '$' && src[j + 1] === '{')) j += src[j] === '\\' ? 2 : 1;
    if (src[j] === '`') {
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += src.slice(i, j + 2);
      i = j + 2;
      braces.push(depth);
      depth++;
    }
  };
  while (i < src.length) {
    const c = src[i];
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? src.length : end;
      out += blank(src.slice(i, stop));
      i = stop;
    } else if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += blank(src.slice(i, stop));
      i = stop;
    } else if (c === "'" || c === '"') {
      skipString(c);
      lastSignificant = c;
      lastWord = '';
    } else if (c === '`') {
      out += c;
      i++;
      skipTemplate();
      lastSignificant = '`';
      lastWord = '';
    } else if (c === '/' && regexMayStart()) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== '\n' && (inClass || src[j] !== '/')) {
        if (src[j] === '\\') j++;
        else if (src[j] === '[') inClass = true;
        else if (src[j] === ']') inClass = false;
        j++;
      }
      out += src.slice(i, j + 1);
      i = j + 1;
      lastSignificant = '/';
      lastWord = '';
    } else if (c === '}' && braces.length > 0 && braces[braces.length - 1] === depth - 1) {
      braces.pop();
      depth--;
      out += c;
      i++;
      skipTemplate();
      lastSignificant = '`';
      lastWord = '';
    } else {
      if (c === '{') depth++;
      if (c === '}') depth--;
      if (/[A-Za-z_$0-9]/.test(c)) {
        const m = /^[A-Za-z_$][\w$]*|^[0-9][\w.]*/.exec(src.slice(i, i + 64))!;
        out += m[0];
        i += m[0].length;
        lastSignificant = 'a';
        lastWord = m[0];
        continue;
      }
      if (!/\s/.test(c)) {
        lastSignificant = c;
        lastWord = '';
      }
      out += c;
      i++;
    }
  }
  return out;
}

/** Static imports, re-exports, side-effect imports and dynamic import('...') with a literal. */
export function findImports(code: string): { spec: string; typeOnly: boolean; line: number }[] {
  const found: { spec: string; typeOnly: boolean; line: number }[] = [];
  // `import|export ... from '...'` at the start of a line, within one statement (no `;`, no
  // string, no second keyword in between); `import '...'`; `import('...')` anywhere. Starting
  // at a line keeps a string such as 'cache import' from passing for a statement.
  const re = /^[ \t]*(?:import|export)\b((?:(?!\b(?:import|export)\b)[^;'"`])*?)\bfrom\s*(['"])([^'"]+)\2|^[ \t]*import\s*(['"])([^'"]+)\4|\bimport\s*\(\s*(['"])([^'"]+)\6\s*\)/gm;
  for (const m of code.matchAll(re)) {
    const line = code.slice(0, m.index).split('\n').length;
    if (m[3] !== undefined) {
      const clause = m[1];
      // `import type {...}`, or `{ type A, type B }` with no default import beside the braces
      const names = /^\s*\{([^}]*)\}\s*$/.exec(clause)?.[1];
      const typeOnly = /^\s*type\s/.test(clause) || (names !== undefined && names.split(',').filter((x) => x.trim()).every((x) => /^\s*type\s/.test(x)));
      found.push({ spec: m[3], typeOnly, line });
    } else {
      found.push({ spec: m[5] ?? m[7], typeOnly: false, line });
    }
  }
  return found;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : /\.(ts|mts|cts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function loadSources(): SourceFile[] {
  return walk(SRC)
    .sort()
    .map((path) => {
      const code = stripComments(readFileSync(path, 'utf8'));
      const imports = findImports(code).map((imp) => ({
        ...imp,
        target: imp.spec.startsWith('.') ? resolve(dirname(path), imp.spec).replace(/\.js$/, '.ts') : undefined,
      }));
      return { path, rel: relative(SRC, path).split(sep).join('/'), code, imports };
    });
}

/** Top-level module of a path under src/ ('cli', 'oci', ... or '' for src/index.ts). */
function moduleOf(absPath: string): string {
  const rel = relative(SRC, absPath).split(sep);
  return rel.length > 1 ? rel[0] : '';
}

const sources = loadSources();
const inCli = (f: SourceFile) => f.rel.startsWith('cli/');

describe('comment stripping and import parsing (the tools of this test)', () => {
  it('blanks comments but not comment-like text in strings, templates and regexes', () => {
    const src = [
      "const u = 'http://x'; // console.log('a')",
      '/* process.exit(1) */ const r = /\\/\\*[\'"]/g;',
      'const t = `a ${ "//" + `b${1}` } // not a comment`; process.stdout.write(t);',
      'const d = a / b; // c / d',
    ].join('\n');
    const s = stripComments(src);
    expect(s.split('\n')).toHaveLength(4);
    expect(s).not.toContain('console.log');
    expect(s).not.toContain('process.exit');
    expect(s).not.toContain('c / d');
    expect(s).toContain("'http://x'");
    expect(s).toContain('/\\/\\*[\'"]/g');
    expect(s).toContain('// not a comment`');
    expect(s).toContain('process.stdout.write(t)');
  });

  it('finds every kind of import with its line and whether it is type-only', () => {
    const code = [
      "import { a } from './a.js';",
      "import type { B } from './b.js';",
      "import { type C, type D } from './c.js';",
      "import e, { type F } from './e.js';",
      "export * from './g.js';",
      "export { h } from './h.js';",
      "import './side.js';",
      "const m = await import('./dyn.js');",
      "import * as ns from 'node:fs';",
      "const c = { name: 'cache import', summary: 'x' };",
      "export const fromage = 'import';",
    ].join('\n');
    expect(findImports(code)).toEqual([
      { spec: './a.js', typeOnly: false, line: 1 },
      { spec: './b.js', typeOnly: true, line: 2 },
      { spec: './c.js', typeOnly: true, line: 3 },
      { spec: './e.js', typeOnly: false, line: 4 },
      { spec: './g.js', typeOnly: false, line: 5 },
      { spec: './h.js', typeOnly: false, line: 6 },
      { spec: './side.js', typeOnly: false, line: 7 },
      { spec: './dyn.js', typeOnly: false, line: 8 },
      { spec: 'node:fs', typeOnly: false, line: 9 },
    ]);
  });
});

describe('dependency direction', () => {
  it('sees the source tree', () => {
    expect(sources.length).toBeGreaterThan(20);
    for (const m of [...MODULES, 'cli']) expect(existsSync(join(SRC, m)), `src/${m}`).toBe(true);
    // every relative import resolves to a file: otherwise the checks below would miss edges
    for (const f of sources) for (const imp of f.imports) if (imp.target) expect(existsSync(imp.target), `${f.rel}:${imp.line} ${imp.spec}`).toBe(true);
  });

  it('nothing outside src/cli imports from src/cli', () => {
    const bad = sources
      .filter((f) => !inCli(f))
      .flatMap((f) => f.imports.filter((i) => i.target && moduleOf(i.target) === 'cli').map((i) => `src/${f.rel}:${i.line}: imports ${i.spec}`));
    expect(bad).toEqual([]);
  });

  it('the library never exits the process and never prints', () => {
    const forbidden = [
      /\bprocess\s*\.\s*exit\b/,
      /\bprocess\s*\.\s*exitCode\b/,
      /\bprocess\s*\.\s*(stdout|stderr)\b/,
      /\bconsole\s*\.\s*(log|error|warn|info|debug|trace|dir|table)\b/,
    ];
    const bad: string[] = [];
    for (const f of sources.filter((s) => !inCli(s))) {
      f.code.split('\n').forEach((line, i) => {
        for (const re of forbidden) if (re.test(line)) bad.push(`src/${f.rel}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(bad).toEqual([]);
  });

  it('src/index.ts re-exports every library module and nothing of the CLI', () => {
    const index = sources.find((f) => f.rel === 'index.ts');
    expect(index, 'src/index.ts').toBeDefined();
    const reexported = new Set(index!.imports.filter((i) => i.target).map((i) => moduleOf(i.target!)));
    for (const m of MODULES) expect(reexported.has(m), `src/index.ts re-exports src/${m}`).toBe(true);
    expect(reexported.has('cli')).toBe(false);
    // only re-exports: the front door adds no code of its own
    const statements = index!.code.split(';').map((s) => s.trim()).filter(Boolean);
    for (const s of statements) expect(s, s).toMatch(/^export\b[\s\S]*\bfrom\s+['"]/);
  });

  it('the top-level modules form no import cycle', () => {
    const graph = moduleGraph();
    const cycles = findCycles(graph);
    const describeEdge = (a: string, b: string) => {
      const e = graph.get(a)!.get(b)!;
      return `  ${a} → ${b}${e.runtime ? '' : ' (types only)'}: ${e.via.slice(0, 3).join(', ')}${e.via.length > 3 ? ', …' : ''}`;
    };
    const report = cycles.map((c) => [`cycle ${[...c, c[0]].join(' → ')}`, ...c.map((a, i) => describeEdge(a, c[(i + 1) % c.length]))].join('\n'));
    const all = [...graph].map(([m, edges]) => `  ${m} → ${[...edges].map(([t, e]) => (e.runtime ? t : `${t} (types only)`)).sort().join(', ') || '(none)'}`);
    expect(report.length ? `${report.join('\n')}\nmodule graph:\n${all.join('\n')}` : '').toBe('');
  });
});

interface Edge {
  runtime: boolean;
  via: string[];
}

/** module → module it imports → how (file:line). Only the library modules; cli and index.ts are the top. */
function moduleGraph(): Map<string, Map<string, Edge>> {
  const graph = new Map<string, Map<string, Edge>>(MODULES.map((m) => [m, new Map()]));
  for (const f of sources) {
    const from = moduleOf(f.path);
    if (!graph.has(from)) continue;
    for (const imp of f.imports) {
      if (!imp.target) continue;
      const to = moduleOf(imp.target);
      if (to === from || !graph.has(to)) continue;
      const edges = graph.get(from)!;
      const e = edges.get(to) ?? { runtime: false, via: [] };
      e.runtime ||= !imp.typeOnly;
      e.via.push(`src/${f.rel}:${imp.line}`);
      edges.set(to, e);
    }
  }
  return graph;
}

/** The strongly connected components with more than one module (Tarjan), each in a cycle order. */
function findCycles(graph: Map<string, Map<string, Edge>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of [...graph.get(v)!.keys()].sort()) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) sccs.push(cycleOrder(scc, graph));
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return sccs;
}

/** One cycle through the first module of a component (BFS back to it), for a readable report. */
function cycleOrder(scc: string[], graph: Map<string, Map<string, Edge>>): string[] {
  const members = new Set(scc);
  const start = [...scc].sort()[0];
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of graph.get(v)!.keys()) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0])!);
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return scc;
}
