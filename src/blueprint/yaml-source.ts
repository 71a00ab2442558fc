// Finding the YAML node behind a path (['services', 1, 'binds', 0]) and turning node offsets
// into file:line:column, so that every problem found on the parsed value can be shown where the
// user wrote it.
import { isAlias, isMap, isScalar, isSeq, type Alias, type Document, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import type { Location } from './errors.js';
import { setOrigin, type Origin } from './origin.js';

type Seg = string | number;

export interface Found {
  /** The node at the path, or undefined when the path leads past what is written. */
  node?: Node;
  /** For a mapping member: its key node. */
  key?: Node;
  /** The deepest node reached along the path (the node itself when found). */
  deepest: Node | undefined;
}

export class YamlSource {
  // A mapping's members by key, made once per mapping: looking one up per issue must not cost
  // the whole mapping each time (20,000 unknown keys would take minutes).
  private readonly members = new WeakMap<Node, Map<string, Pair>>();

  constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: Document,
    private readonly lines: LineCounter,
    /** Each alias and the node it names (filled by readYaml, which resolves them in one pass). */
    readonly aliases: Map<Alias, Node>,
  ) {}

  at(offset: number): Location {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, column: col };
  }

  /** Where a node starts; undefined for nodes the parser made up. */
  nodeLocation(node: Node | undefined): Location | undefined {
    return node?.range ? this.at(node.range[0]) : undefined;
  }

  /** The text the user wrote for a node. */
  sourceOf(node: Node | undefined): string | undefined {
    return node?.range ? this.text.slice(node.range[0], node.range[1]) : undefined;
  }

  root(): Node | undefined {
    return (this.doc.contents as Node | null) ?? undefined;
  }

  find(path: readonly Seg[]): Found {
    let node = this.root();
    let key: Node | undefined;
    let deepest = node;
    for (const seg of path) {
      const cur = this.deref(node);
      if (isMap(cur)) {
        const pair = this.pairsOf(cur).get(String(seg));
        if (!pair) return { deepest };
        key = pair.key as Node;
        node = (pair.value as Node | null) ?? undefined;
      } else if (isSeq(cur) && typeof seg === 'number' && seg < cur.items.length) {
        key = undefined;
        node = cur.items[seg] as Node;
      } else {
        return { deepest };
      }
      deepest = node ?? key;
    }
    return { node, key, deepest };
  }

  /** Where the value at `path` is written: the value, or its key when the value is empty. */
  locateValue(path: readonly Seg[]): Location {
    const f = this.find(path);
    const node = f.node && !isEmpty(f.node) ? f.node : (f.key ?? f.deepest);
    return this.nodeLocation(node) ?? this.fileStart();
  }

  /** Where the key ending `path` is written (for a list item: the item). */
  locateKey(path: readonly Seg[]): Location {
    const f = this.find(path);
    return this.nodeLocation(f.key ?? f.node ?? f.deepest) ?? this.fileStart();
  }

  fileStart(): Location {
    return { file: this.file, line: 1, column: 1 };
  }

  /** Records, for every object and list in `value` (parsed from this document), where it is. */
  recordOrigins(value: unknown): void {
    this.record(value, this.root(), []);
  }

  private record(value: unknown, node: Node | undefined, path: Seg[]): void {
    if (value === null || typeof value !== 'object') return;
    const cur = this.deref(node);
    const self = this.nodeLocation(cur) ?? this.fileStart();
    const origin: Origin = { self, path, keys: new Map(), values: new Map() };
    setOrigin(value, origin);
    if (Array.isArray(value)) {
      const items = isSeq(cur) ? (cur.items as Node[]) : [];
      value.forEach((item, i) => {
        const itemNode = items[i];
        origin.values.set(i, this.nodeLocation(itemNode) ?? self);
        this.record(item, itemNode, [...path, i]);
      });
      return;
    }
    const pairs = isMap(cur) ? this.pairsOf(cur) : new Map<string, Pair>();
    for (const [k, v] of Object.entries(value)) {
      const pair = pairs.get(k);
      const keyLoc = this.nodeLocation(pair?.key as Node | undefined) ?? self;
      const valueNode = (pair?.value as Node | null) ?? undefined;
      origin.keys.set(k, keyLoc);
      origin.values.set(k, valueNode && !isEmpty(valueNode) ? (this.nodeLocation(valueNode) ?? keyLoc) : keyLoc);
      this.record(v, valueNode, [...path, k]);
    }
  }

  /** The node an alias stands for (an alias never names an alias); other nodes as they are. */
  deref(node: Node | undefined | null): Node | undefined {
    return isAlias(node) ? this.aliases.get(node) : (node ?? undefined);
  }

  /** A YAML 1.1 merge key (`<<`, unquoted): the parser gives it a symbol value. */
  isMergeKey(pair: Pair): boolean {
    return isScalar(pair.key) && typeof pair.key.value === 'symbol';
  }

  /** The property name toJS gives a pair's key; undefined for a list or mapping key. */
  keyOf(pair: Pair): string | undefined {
    const key = this.deref(pair.key as Node | null);
    if (key === undefined) return '';
    if (!isScalar(key)) return undefined;
    const v = key.value;
    if (v === null || v === undefined) return '';
    return String(v);
  }

  /** A mapping's members by key, including those brought in by `<<` merge keys (own keys win,
   *  as in the parsed value). */
  pairsOf(map: Node): Map<string, Pair> {
    let out = this.members.get(map);
    if (out) return out;
    out = new Map<string, Pair>();
    const result = out;
    const visit = (m: Node | undefined, depth: number): void => {
      const cur = this.deref(m);
      if (!isMap(cur) || depth > 20) return;
      const merges: Node[] = [];
      for (const pair of (cur as YAMLMap).items as Pair[]) {
        if (this.isMergeKey(pair)) {
          const v = this.deref(pair.value as Node);
          if (isSeq(v)) for (const item of v.items as Node[]) merges.push(item);
          else if (v) merges.push(v);
          continue;
        }
        const k = this.keyOf(pair);
        if (k !== undefined && !result.has(k)) result.set(k, pair);
      }
      for (const m2 of merges) visit(m2, depth + 1);
    };
    visit(map, 0);
    this.members.set(map, out);
    return out;
  }
}

function isEmpty(node: Node): boolean {
  return isScalar(node) && node.value === null && (!node.range || node.range[0] === node.range[1]);
}
