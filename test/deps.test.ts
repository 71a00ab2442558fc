// The structure of the code, checked by a test rather than by review (in the spirit of
// go-containerregistry's depcheck_test.go): dependencies point one way, cli → library, never
// back; the direction rules of DESIGN.md between library modules; no cycle between top-level
// modules; src/arch.ts, src/errors.ts and src/defaults.ts are leaves; the library never prints or exits; src/index.ts is the front
// door. Imports are read with the TypeScript compiler's own parser, so comments, strings and
// template literals cannot fool it.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', 'src');
/** The library's top-level modules: the folders under src/, and src/arch.ts as 'arch'. */
const MODULES = ['arch', 'blueprint', 'oci', 'rootfs', 'formats', 'run', 'pkg', 'plan', 'build', 'sbom'] as const;

interface Import {
  spec: string;
  /** Absolute path of the imported file, for relative imports. */
  target?: string;
  typeOnly: boolean;
  line: number;
}

interface SourceFile {
  /** Relative to src/, with forward slashes. */
  rel: string;
  ast: ts.SourceFile;
  imports: Import[];
}

/** The modules that are one file at the root of src/ (leaves any module may read): src/arch.ts, src/errors.ts, src/defaults.ts. */
const LEAVES: readonly string[] = ['arch', 'errors', 'defaults'];
/** Every top-level module of the library: MODULES and the leaves. */
const LIBRARY: readonly string[] = [...new Set([...MODULES, ...LEAVES])];

const lineOf = (sf: ts.SourceFile, node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;

/** Every import of a file: declarations, re-exports, side-effect imports, import() and import types. */
function findImports(sf: ts.SourceFile): Omit<Import, 'target'>[] {
  const found: Omit<Import, 'target'>[] = [];
  const add = (spec: ts.Node | undefined, typeOnly: boolean, node: ts.Node) => {
    if (spec && ts.isStringLiteralLike(spec)) found.push({ spec: spec.text, typeOnly, line: lineOf(sf, node) });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      // `import type {...}`, or `{ type A, type B }` with no default import beside the braces
      const allTypes = !!c && !c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, !!c && (c.isTypeOnly || allTypes), node);
    } else if (ts.isExportDeclaration(node)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(node.moduleSpecifier, node.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)), node);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly, node);
    } else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
      add(node.arguments[0], false, node);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true, node);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

const PRINTS_OR_EXITS: Record<string, string[]> = {
  process: ['exit', 'exitCode', 'stdout', 'stderr'],
  console: ['log', 'error', 'warn', 'info', 'debug', 'trace', 'dir', 'table'],
};

/** `process.exit`, `console.log`, ... (also written `process['exit']`): "line: text" of each. */
function findPrintsAndExits(sf: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    let obj: ts.Expression | undefined;
    let name: string | undefined;
    if (ts.isPropertyAccessExpression(node)) [obj, name] = [node.expression, node.name.text];
    else if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) [obj, name] = [node.expression, node.argumentExpression.text];
    if (obj && ts.isIdentifier(obj) && PRINTS_OR_EXITS[obj.text]?.includes(name!)) found.push(`${lineOf(sf, node)}: ${node.getText(sf)}`);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function parseSource(path: string, code: string): SourceFile {
  const ast = ts.createSourceFile(path, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const imports = findImports(ast).map((imp) => ({
    ...imp,
    target: imp.spec.startsWith('.') ? resolve(dirname(path), imp.spec).replace(/\.js$/, '.ts') : undefined,
  }));
  return { rel: relative(SRC, path).split(sep).join('/'), ast, imports };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : /\.(ts|mts|cts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Top-level module of a path under src/: 'cli', 'oci', ..., 'arch' for src/arch.ts, 'index' for src/index.ts. */
function moduleOf(absPath: string): string {
  const rel = relative(SRC, absPath).split(sep);
  return rel.length > 1 ? rel[0] : rel[0].replace(/\.[cm]?ts$/, '');
}

// ------------------------------------------------------------------ the rules

type Check = (sources: SourceFile[]) => string[];

const where = (f: SourceFile, i: Import) => `src/${f.rel}:${i.line}: imports ${i.spec}`;

/** Imports from module `from` (or any library module: '*') into module `to`, type-only ones included. */
function never(from: string, to: string): Check {
  return (sources) =>
    sources
      .filter((f) => (from === '*' ? moduleOf(join(SRC, f.rel)) !== 'cli' : moduleOf(join(SRC, f.rel)) === from))
      .flatMap((f) => f.imports.filter((i) => i.target && moduleOf(i.target) === to && moduleOf(join(SRC, f.rel)) !== to).map((i) => where(f, i)));
}

/**
 * What plan/ must not load at run time: it is pure, so it reads no disk, runs no program and opens
 * no connection (types from these are fine). Packages by name, src/ files by path.
 */
const IO_PACKAGES = [/^(node:)?(fs|fs\/promises|child_process|net|http|https|http2|dgram|worker_threads)$/, /^execa$/];
const IO_FILES = [/^oci\/store\.ts$/, /^oci\/registry\//, /^oci\/(import|export|archive|prune|verify)\.ts$/, /^rootfs\/layer\.ts$/, /^run\//, /^pkg\//];

/** Runtime imports of I/O (packages or src/ files) from module `from`. */
function noIo(from: string): Check {
  return (sources) =>
    sources
      .filter((f) => moduleOf(join(SRC, f.rel)) === from)
      .flatMap((f) =>
        f.imports
          .filter((i) => !i.typeOnly)
          .filter((i) =>
            i.target
              ? IO_FILES.some((re) => re.test(relative(SRC, i.target!).split(sep).join('/')))
              : IO_PACKAGES.some((re) => re.test(i.spec)),
          )
          .map((i) => where(f, i)),
      );
}

/** DESIGN.md's dependency directions. Each rule names what breaks it. */
const RULES: { rule: string; check: Check }[] = [
  { rule: 'the library never imports the CLI', check: never('*', 'cli') },
  { rule: 'writers (src/formats) never import oci: they consume entries and bytes, not images', check: never('formats', 'oci') },
  { rule: 'writers (src/formats) never import blueprint', check: never('formats', 'blueprint') },
  { rule: 'run never imports oci: it boots files', check: never('run', 'oci') },
  { rule: 'blueprint never imports oci: a blueprint is read without the store', check: never('blueprint', 'oci') },
  { rule: 'plan never imports build: plan, then do (build executes the plan)', check: never('plan', 'build') },
  { rule: 'plan never imports cli', check: never('plan', 'cli') },
  { rule: 'plan does no I/O: no node:fs, child processes, sockets, execa, store or registry at run time (types are fine)', check: noIo('plan') },
  { rule: 'sbom does no I/O: the documents are made from what build/ read (types are fine)', check: noIo('sbom') },
  { rule: 'sbom never imports build', check: never('sbom', 'build') },
  {
    rule: 'src/arch.ts imports nothing (a leaf every module may read)',
    check: (sources) => sources.filter((f) => f.rel === 'arch.ts').flatMap((f) => f.imports.map((i) => where(f, i))),
  },
  {
    rule: 'src/errors.ts imports nothing (the base every error class extends)',
    check: (sources) => sources.filter((f) => f.rel === 'errors.ts').flatMap((f) => f.imports.map((i) => where(f, i))),
  },
  {
    rule: 'src/defaults.ts imports only node: modules (the one place defaults are resolved)',
    check: (sources) => sources.filter((f) => f.rel === 'defaults.ts').flatMap((f) => f.imports.filter((i) => !i.spec.startsWith('node:')).map((i) => where(f, i))),
  },
  {
    rule: 'the library never exits the process and never prints',
    check: (sources) => sources.filter((f) => moduleOf(join(SRC, f.rel)) !== 'cli').flatMap((f) => findPrintsAndExits(f.ast).map((s) => `src/${f.rel}:${s}`)),
  },
  { rule: 'src/index.ts re-exports every library module, nothing of the CLI, and adds no code', check: (sources) => frontDoor(sources) },
  { rule: 'the top-level modules form no import cycle', check: (sources) => cycleReport(moduleGraph(sources)) },
];

function frontDoor(sources: SourceFile[]): string[] {
  const index = sources.find((f) => f.rel === 'index.ts');
  if (!index) return ['src/index.ts is missing'];
  const bad: string[] = [];
  const reexported = new Set(index.imports.filter((i) => i.target).map((i) => moduleOf(i.target!)));
  for (const m of LIBRARY) if (!reexported.has(m)) bad.push(`src/index.ts does not re-export src/${m}`);
  if (reexported.has('cli')) bad.push('src/index.ts re-exports the CLI');
  // only re-exports: the front door adds no code of its own
  for (const s of index.ast.statements) {
    if (!ts.isExportDeclaration(s) || !s.moduleSpecifier) bad.push(`src/index.ts:${lineOf(index.ast, s)}: not a re-export: ${s.getText(index.ast).slice(0, 60)}`);
  }
  return bad;
}

interface Edge {
  runtime: boolean;
  via: string[];
}

/** module → module it imports → how (file:line). Only the library modules; cli and index.ts are the top. */
function moduleGraph(sources: SourceFile[]): Map<string, Map<string, Edge>> {
  const graph = new Map<string, Map<string, Edge>>(LIBRARY.map((m) => [m, new Map()]));
  for (const f of sources) {
    const from = moduleOf(join(SRC, f.rel));
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

/** Each cycle with the imports that make it, and the whole graph to see where to cut. */
function cycleReport(graph: Map<string, Map<string, Edge>>): string[] {
  const cycles = findCycles(graph);
  if (cycles.length === 0) return [];
  const describeEdge = (a: string, b: string) => {
    const e = graph.get(a)!.get(b)!;
    return `  ${a} → ${b}${e.runtime ? '' : ' (types only)'}: ${e.via.slice(0, 3).join(', ')}${e.via.length > 3 ? ', …' : ''}`;
  };
  const all = [...graph].map(([m, edges]) => `  ${m} → ${[...edges].map(([t, e]) => (e.runtime ? t : `${t} (types only)`)).sort().join(', ') || '(none)'}`);
  return [...cycles.map((c) => [`cycle ${[...c, c[0]].join(' → ')}`, ...c.map((a, i) => describeEdge(a, c[(i + 1) % c.length]))].join('\n')), `module graph:\n${all.join('\n')}`];
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

// ------------------------------------------------------------------ the tests

const sources = walk(SRC)
  .sort()
  .map((path) => parseSource(path, readFileSync(path, 'utf8')));

describe('dependency direction', () => {
  it('sees the source tree', () => {
    expect(sources.length).toBeGreaterThan(20);
    for (const m of [...LIBRARY, 'cli']) expect(existsSync(join(SRC, m)) || existsSync(join(SRC, `${m}.ts`)), `src/${m}`).toBe(true);
    // every relative import resolves to a file: otherwise the checks below would miss edges
    for (const f of sources) for (const imp of f.imports) if (imp.target) expect(existsSync(imp.target), `src/${f.rel}:${imp.line} ${imp.spec}`).toBe(true);
  });

  it.each(RULES.map((r) => [r.rule, r.check] as const))('%s', (_rule, check) => {
    expect(check(sources).join('\n')).toBe('');
  });
});

// Each rule is shown to fail: a small tree that keeps every rule, then one bad change per rule.
describe('the rules catch what they forbid', () => {
  const GOOD: Record<string, string> = {
    'arch.ts': "export type Arch = 'amd64';",
    'errors.ts': 'export class OsbuildError extends Error {}',
    'defaults.ts': "import { join } from 'node:path';\nexport const d = join('a', 'b');",
    'index.ts': LIBRARY.map((m) => `export * from './${LEAVES.includes(m) ? m : `${m}/index`}.js';`).join('\n'),
    ...Object.fromEntries(LIBRARY.filter((m) => !LEAVES.includes(m)).map((m) => [`${m}/index.ts`, "import type { Arch } from '../arch.js';\nexport const x: Arch = 'amd64';"])),
    'build/build.ts': "import { x } from '../oci/index.js';\nimport { y } from '../formats/index.js';\nexport { x, y };",
    'cli/main.ts': "import { build } from '../index.js';\nconsole.log(build); process.exit(0);",
  };
  const tree = (extra: Record<string, string>) => Object.entries({ ...GOOD, ...extra }).map(([rel, code]) => parseSource(join(SRC, rel), code));
  const failing = (extra: Record<string, string>) => RULES.filter((r) => r.check(tree(extra)).length > 0).map((r) => r.rule);

  it('the good tree keeps every rule', () => {
    expect(failing({})).toEqual([]);
  });

  const BAD: [string, Record<string, string>][] = [
    ['the library never imports the CLI', { 'pkg/x.ts': "import { main } from '../cli/main.js';" }],
    ['writers (src/formats) never import oci: they consume entries and bytes, not images', { 'formats/x.ts': "import type { Store } from '../oci/store.js';" }],
    ['writers (src/formats) never import blueprint', { 'formats/x.ts': "export { parse } from '../blueprint/parse.js';" }],
    ['run never imports oci: it boots files', { 'run/x.ts': "const m = await import('../oci/store.js');" }],
    ['blueprint never imports oci: a blueprint is read without the store', { 'blueprint/x.ts': "import '../oci/index.js';" }],
    ['plan never imports build: plan, then do (build executes the plan)', { 'plan/x.ts': "import type { BuildSession } from '../build/session.js';" }],
    ['plan does no I/O: no node:fs, child processes, sockets, execa, store or registry at run time (types are fine)', { 'plan/x.ts': "import { readFile } from 'node:fs/promises';\nimport type { Store } from '../oci/store.js';" }],
    ['plan does no I/O: no node:fs, child processes, sockets, execa, store or registry at run time (types are fine)', { 'plan/x.ts': "const { Store } = await import('../oci/store.js');" }],
    ['src/arch.ts imports nothing (a leaf every module may read)', { 'arch.ts': "import { z } from 'zod';\nexport type Arch = 'amd64';" }],
    ['src/errors.ts imports nothing (the base every error class extends)', { 'errors.ts': "import type { Arch } from './arch.js';\nexport class OsbuildError extends Error {}" }],
    ['src/defaults.ts imports only node: modules (the one place defaults are resolved)', { 'defaults.ts': "import { FORMATS } from './build/index.js';\nexport const d = FORMATS;" }],
    ['the library never exits the process and never prints', { 'rootfs/x.ts': "// console.log('fine in a comment')\nconst s = 'process.exit()';\nprocess['stdout'].write(s);" }],
    ['src/index.ts re-exports every library module, nothing of the CLI, and adds no code', { 'index.ts': `${GOOD['index.ts']}\nexport const version = 1;` }],
    ['the top-level modules form no import cycle', { 'oci/x.ts': "import type { y } from '../build/build.js';" }],
  ];

  it.each(BAD)('%s', (rule, extra) => {
    expect(failing(extra)).toEqual([rule]);
  });

  it('reads every kind of import, with its line and whether it is type-only, and nothing else', () => {
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
      "const c = { name: 'cache import', summary: 'x' }; // import x from './comment.js'",
      "export const fromage = `import ${'y'} from './template.js'`;",
      "/* export * from './block.js'; */ type T = import('./t.js').T;",
      "export type { U } from './u.js';",
    ].join('\n');
    expect(findImports(ts.createSourceFile('x.ts', code, ts.ScriptTarget.Latest, true))).toEqual([
      { spec: './a.js', typeOnly: false, line: 1 },
      { spec: './b.js', typeOnly: true, line: 2 },
      { spec: './c.js', typeOnly: true, line: 3 },
      { spec: './e.js', typeOnly: false, line: 4 },
      { spec: './g.js', typeOnly: false, line: 5 },
      { spec: './h.js', typeOnly: false, line: 6 },
      { spec: './side.js', typeOnly: false, line: 7 },
      { spec: './dyn.js', typeOnly: false, line: 8 },
      { spec: 'node:fs', typeOnly: false, line: 9 },
      { spec: './t.js', typeOnly: true, line: 12 },
      { spec: './u.js', typeOnly: true, line: 13 },
    ]);
  });
});
