// Reading a blueprint's YAML as untrusted input. A blueprint may come from anyone, so whatever
// its size or shape the answer is a located BlueprintError, never a stack overflow, a runaway
// parse or a warning printed by the YAML library. The limits are those YAML libraries for
// untrusted input set (nesting depth, document size, alias expansion), far above what any
// real blueprint needs; each is reported where it is crossed.
//
// The yaml package's parseDocument is taken apart here so that each limit is checked before the
// stage it protects: tokens are counted and nesting measured as the lexer yields them (the
// parser's tree takes about a kilobyte per node, and the parser and the composer recurse per
// level); aliases, keys and merges are checked on the composed document before toJS, which would
// otherwise warn on stderr or loop on an alias cycle.
import {
  CST,
  Composer,
  Lexer,
  LineCounter,
  Parser,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Alias,
  type Document,
  type Node,
  type Pair,
  type YAMLError,
} from 'yaml';
import { BlueprintError, quote, type BlueprintIssue } from './errors.js';
import { YamlSource } from './yaml-source.js';

export const LIMITS = {
  /** Bytes in one blueprint file. Large file contents belong in `files: - source:`. */
  bytes: 16 * 1024 * 1024,
  /** Nesting of lists and mappings, counting what aliases and merge keys bring in. */
  depth: 64,
  /** YAML tokens: keys, values, list items, flow punctuation, line ends, comments; not spaces. */
  tokens: 500_000,
  /** Anchors plus aliases in one file. */
  anchors: 10_000,
  /** Nodes that aliases and merge keys add when expanded ("billion laughs" adds billions). */
  aliasExpansion: 100_000,
} as const;

const MIB = 1024 * 1024;

// Spaces and the lexer's own markers. Line ends and comments do count: the parser keeps each in
// its tree (16 MB of blank lines took 20 s and 500 MB before they did).
const UNCOUNTED = new Set<string | null>(['space', 'doc-mode', 'byte-order-mark', 'flow-error-end']);

/**
 * Parses one blueprint file's text into a YAML document (LinuxKit's dialect: YAML 1.1 with merge
 * keys) that is safe to convert with toJS: within the limits, no alias cycle or dangling alias,
 * no list or mapping used as a key, no duplicate key, merge keys that merge mappings. Throws
 * BlueprintError listing every problem otherwise.
 */
export function readYaml(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { file, line, column: col };
  };
  const fail = (offset: number, message: string, hint?: string): BlueprintError =>
    new BlueprintError([{ ...at(offset), path: '', message, ...(hint ? { hint } : {}) }]);

  const bytes = text.length > LIMITS.bytes ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > LIMITS.bytes) throw tooLarge(file, bytes);

  const lexer = new Lexer();
  const parser = new Parser(lines.addNewLine);
  // Both limits are checked as the lexer goes, before the parser sees the next token: a huge
  // document stops at the limit, and a deep one before the parser's own recursion (it pops the
  // levels a dedent closes recursively, and overflows the stack near 2,000) or the composer's.
  function* tokens(): Generator<CST.Token> {
    let count = 0;
    let scalarText = false;
    lines.addNewLine(0);
    for (const lexeme of lexer.lex(text)) {
      if (scalarText) scalarText = false; // a plain scalar's text, counted with the mark before it
      else {
        const type = CST.tokenType(lexeme);
        if (type === 'scalar') scalarText = true;
        if (!UNCOUNTED.has(type) && ++count > LIMITS.tokens) {
          throw fail(parser.offset, `more than ${LIMITS.tokens} YAML tokens (keys, values, list items, lines)`, 'a blueprint this large is not supported; split it into several files');
        }
      }
      yield* parser.next(lexeme);
      if (parser.stack.length > LIMITS.depth) checkDepth();
    }
    yield* parser.end();
  }
  // The parser's stack holds every collection still open, outermost first.
  const checkDepth = (): void => {
    let depth = 0;
    for (const token of parser.stack) {
      if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
      if (++depth > LIMITS.depth) {
        throw fail(token.offset, `lists and mappings nested more than ${LIMITS.depth} levels deep`, 'a blueprint needs a few levels; this looks like a broken or hostile file');
      }
    }
  };

  // uniqueKeys is off: the library's check compares each key with every earlier one (quadratic
  // in the keys of a mapping); walkDocument finds duplicates with a hash. logLevel 'error': the
  // library must never print a warning of its own.
  const composer = new Composer({ version: '1.1', merge: true, uniqueKeys: false, logLevel: 'error' });
  let doc: Document.Parsed | undefined;
  let secondDoc: number | undefined;
  // Each syntax error is an Error, and capturing its stack trace was a third of the time for a
  // file of 400,000 of them; their stacks are never shown. Synchronous, so nothing else runs
  // with the limit changed.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (const d of composer.compose(tokens(), true, text.length)) {
      if (!doc) doc = d;
      else {
        secondDoc = d.range[0];
        break;
      }
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  const errors = doc!.errors.map((e) => yamlIssue(e, at));
  if (secondDoc !== undefined) {
    errors.push({ ...at(secondDoc), path: '', message: 'YAML syntax: a second document in the file', hint: 'a blueprint file is one YAML document: remove the `---` line, or put the rest in a file of its own' });
  }
  if (errors.length > 0) throw new BlueprintError(errors);

  const src = new YamlSource(file, text, doc!, lines, new Map());
  const issues = walkDocument(src);
  if (issues.length > 0) throw new BlueprintError(issues);
  return src;
}

/** The error for a file over LIMITS.bytes; `bytes` when its size is known. */
export function tooLarge(file: string, bytes: number | undefined): BlueprintError {
  const size = bytes === undefined ? 'larger than' : `${bytes} bytes, more than`;
  return new BlueprintError([
    {
      file,
      line: 1,
      column: 1,
      path: '',
      message: `the file is ${size} the ${LIMITS.bytes / MIB} MiB a blueprint may be`,
      hint: 'put large file contents in files of their own and name them with `files: - source:`',
    },
  ]);
}

function yamlIssue(e: YAMLError, at: (offset: number) => Omit<BlueprintIssue, 'path' | 'message'>): BlueprintIssue {
  const loc = at(e.pos[0]);
  if (e.code === 'TAB_AS_INDENT') {
    return { ...loc, path: '', message: 'YAML syntax: tabs are not allowed as indentation', hint: 'indent with spaces' };
  }
  // The parser quotes the offending text raw; it is the file's text, so quote it as a value.
  const m = /^Not a YAML token: ([^]*)$/.exec(e.message);
  if (m) return { ...loc, path: '', message: `YAML syntax: not a YAML token: \`${quote(m[1])}\`` };
  return { ...loc, path: '', message: `YAML syntax: ${e.message}` };
}

type Item = Node | Pair | null | undefined;

/** An anchored list or mapping being walked: what it expands to is known when it is left. */
interface Open {
  node: Node;
  /** `expanded` when it was entered. */
  start: number;
  /** Its nesting level (1 for the top-level collection). */
  level: number;
  /** The deepest level reached inside it so far, aliases expanded. */
  deepest: number;
}

/**
 * One pass over the composed document, in document order (the order in which an alias names the
 * last anchor of that name before it): resolves aliases for YamlSource, measures what aliases
 * expand to, and finds keys that toJS would mangle. Throws at the first limit crossed; returns
 * the other problems. Linear: it keeps sizes for anchored nodes only, not for every node.
 */
function walkDocument(src: YamlSource): BlueprintIssue[] {
  const issues: BlueprintIssue[] = [];
  const root = src.root();
  if (!root) return issues;
  const where = (node: Node | null | undefined) => src.nodeLocation(node ?? undefined) ?? src.fileStart();
  const fail = (node: Node, message: string, hint: string): BlueprintError =>
    new BlueprintError([{ ...where(node), path: '', message, hint }]);
  const tooDeepHint = 'a blueprint needs a few levels; this looks like a broken or hostile file';

  const anchors = new Map<string, Node>();
  // Anchored nodes once left: how many nodes each stands for and how many levels it spans,
  // aliases expanded. An alias naming an anchored node not left yet is inside it: a cycle.
  const done = new Map<Node, { size: number; height: number }>();
  const open: Open[] = [];
  let expanded = 0; // nodes walked so far, aliases counted as what they expand to
  let added = 0; // of which aliases added
  let anchorsAndAliases = 0;
  const reach = (level: number): void => {
    const top = open[open.length - 1];
    if (top && level > top.deepest) top.deepest = level;
  };
  const count = (node: Node): void => {
    if (++anchorsAndAliases > LIMITS.anchors) {
      throw fail(node, `more than ${LIMITS.anchors} anchors and aliases`, 'a blueprint needs a few; this looks like a broken or hostile file');
    }
  };

  // Work list: a node with the number of collections around it, or (exit) a collection to leave.
  const nodes: Item[] = [root];
  const depths: number[] = [0];
  const exits: boolean[] = [false];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop()!;
    const exit = exits.pop()!;
    if (node === null || node === undefined) continue;
    if (exit) {
      if (isMap(node)) checkKeys(src, node, issues);
      if (open.length > 0 && open[open.length - 1].node === node) {
        const o = open.pop()!;
        done.set(node as Node, { size: expanded - o.start, height: o.deepest - o.level + 1 });
        reach(o.deepest);
      }
      continue;
    }
    if (isPair(node)) {
      const key = node.key as Node | null;
      const shown = isAlias(key) ? anchors.get(key.source) : key;
      if (isCollection(shown)) {
        issues.push({
          ...where(key),
          path: '',
          message: `a ${isSeq(shown) ? 'list' : 'mapping'} used as a mapping key`,
          hint: 'keys are plain words such as `image:`; check the indentation and the `?` or `[`/`{` before this',
        });
      }
      nodes.push(node.value as Item, key);
      depths.push(depth, depth);
      exits.push(false, false);
      continue;
    }
    if (isAlias(node)) {
      count(node);
      const target = anchors.get(node.source);
      if (!target) {
        issues.push({ ...where(node), path: '', message: `alias \`*${quote(node.source)}\` names no anchor`, hint: `define \`&${quote(node.source)}\` on a value before this alias` });
        continue;
      }
      const t = isScalar(target) ? { size: 1, height: 0 } : done.get(target);
      if (t === undefined) {
        issues.push({ ...where(node), path: '', message: `alias \`*${quote(node.source)}\` is inside the value it names, which would make it infinitely deep`, hint: 'an alias can only repeat a value that is complete before it' });
        continue;
      }
      src.aliases.set(node, target);
      expanded += t.size;
      added += t.size - 1;
      if (added > LIMITS.aliasExpansion) {
        throw fail(node, `aliases expand to more than ${LIMITS.aliasExpansion} nodes`, 'a blueprint needs a few aliases of small values; this looks like a "billion laughs" attack');
      }
      if (depth + t.height > LIMITS.depth) {
        throw fail(node, `lists and mappings nested more than ${LIMITS.depth} levels deep once aliases are expanded`, tooDeepHint);
      }
      reach(depth + t.height);
      continue;
    }
    const n = node as Node;
    expanded++;
    if (n.anchor) {
      count(n);
      anchors.set(n.anchor, n);
    }
    if (!isCollection(n)) continue;
    if (n.anchor) open.push({ node: n, start: expanded - 1, level: depth + 1, deepest: depth + 1 });
    else reach(depth + 1);
    if (n.anchor || isMap(n)) {
      nodes.push(n);
      depths.push(depth);
      exits.push(true);
    }
    const items = n.items as Item[];
    for (let i = items.length - 1; i >= 0; i--) {
      nodes.push(items[i]);
      depths.push(depth + 1);
      exits.push(false);
    }
  }
  return issues;
}

// Keys toJS would silently merge (a duplicate: the last one wins) and merge keys whose value is
// not a mapping (toJS throws). Run once the mapping is complete, so that aliases are resolved.
function checkKeys(src: YamlSource, map: Node, issues: BlueprintIssue[]): void {
  const seen = new Map<string, Node>();
  for (const pair of (map as unknown as { items: Pair[] }).items) {
    if (src.isMergeKey(pair)) {
      const value = src.deref(pair.value as Node | undefined);
      const sources = isSeq(value) ? (value.items as Node[]).map((n) => src.deref(n)) : [value];
      const bad = sources.find((n) => !isMap(n));
      if (bad !== undefined || value === undefined) {
        issues.push({
          ...(src.nodeLocation((bad ?? (pair.value as Node | null) ?? (pair.key as Node)) as Node) ?? src.fileStart()),
          path: '',
          message: '`<<` merges a mapping into this one, but its value is not a mapping',
          hint: 'write `<<: *anchor` where the anchor is on a mapping, or a list of such aliases',
        });
      }
      continue;
    }
    const key = src.keyOf(pair);
    if (key === undefined) continue;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, (pair.key as Node | null) ?? map);
      continue;
    }
    const firstAt = src.nodeLocation(first);
    issues.push({
      ...(src.nodeLocation((pair.key as Node | null) ?? undefined) ?? src.nodeLocation(map) ?? src.fileStart()),
      path: '',
      message: `duplicate key \`${quote(key)}\` in the same mapping${firstAt ? ` (first at line ${firstAt.line} column ${firstAt.column})` : ''}`,
      hint: 'each key may appear once; remove or merge one of them',
    });
  }
}
