// Hostile and broken YAML: whatever its size or shape, a blueprint gets located errors (one line
// each, file:line:col first), never a stack overflow, a quadratic run or a warning on stderr.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { BlueprintError, LIMITS, parseBlueprint, validateFiles, validateTexts } from '../../src/blueprint/index.js';
import { located, parseError, yaml } from './helpers.js';

const DEPTH = 'lists and mappings nested more than 64 levels deep';

// Every line of a message starts with the place and holds no control character.
function expectSafeLines(err: BlueprintError, file = 'bp.yml'): void {
  const lines = err.message.split('\n');
  expect(lines).toHaveLength(err.issues.length);
  for (const l of lines) {
    expect(l.startsWith(`${file}:`), l).toBe(true);
    expect(l).toMatch(/^[^:]+:\d+:\d+: \S/);
    // eslint-disable-next-line no-control-regex
    expect(l).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    expect(l).not.toMatch(/Maximum call stack|^\s+at /);
  }
}

let warn: ReturnType<typeof vi.spyOn>;
beforeAll(() => {
  warn = vi.spyOn(process, 'emitWarning');
});
afterEach(() => {
  // The yaml library reports some things (a list used as a key) with process.emitWarning.
  expect(warn).not.toHaveBeenCalled();
});

describe('nesting depth', () => {
  // `x:` is level 1; n brackets make levels 2..n+1.
  const flowLists = (n: number) => `x: ${'['.repeat(n)}${']'.repeat(n)}\n`;

  test('64 levels are fine, the 65th is refused at the bracket that opens it', () => {
    expect(located(parseError(flowLists(63)))).toEqual(['1:1: unknown key `x` at the top level; known keys: `name`, `root`, `kernel`, `init`, `volumes`, `onboot`, `onshutdown`, `services`, `files`, `trust`']);
    const err = parseError(flowLists(64));
    expect(err.issues).toHaveLength(1);
    // `x: ` is 3 columns, the 64th bracket is at column 3 + 64
    expect(err.issues[0]).toMatchObject({ line: 1, column: 67, message: DEPTH });
  });

  test.each([
    ['flow lists', 1000, flowLists(1000), { line: 1, column: 67 }],
    ['flow maps', 1000, `x: ${'{a: '.repeat(1000)}1${'}'.repeat(1000)}\n`, { line: 1, column: 4 + 63 * 4 }],
    ['block lists', 1000, Array.from({ length: 1000 }, (_, i) => `${'  '.repeat(i)}-`).join('\n') + ' 1\n', { line: 65, column: 129 }],
    ['block maps', 1000, Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n', { line: 65, column: 65 }],
    ['flow lists, 100,000 levels', 100_000, flowLists(100_000), { line: 1, column: 67 }],
    // a dedent closes all the levels at once, which the parser does recursively
    ['block maps, then a dedent', 5000, `deep:\n${Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n')} x\nafter: 1\n`, { line: 65, column: 65 }],
    ['block lists, then a dedent', 2500, `deep:\n${Array.from({ length: 2500 }, (_, i) => `${'  '.repeat(i + 1)}-`).join('\n')} x\nafter: 1\n`, { line: 65, column: 129 }],
  ])('%s (%d levels): one located error', (_name, _n, text, at) => {
    const err = parseError(text);
    expect(err.issues).toEqual([{ file: 'bp.yml', ...at, path: '', message: DEPTH, hint: expect.stringContaining('hostile') }]);
    expectSafeLines(err);
  });

  test('aliases count: a shallow alias of a deep value is as deep as the value', () => {
    const text = yaml(`a: &a ${'['.repeat(40)}${']'.repeat(40)}`, `b: ${'['.repeat(30)}*a${']'.repeat(30)}`);
    expect(located(parseError(text))).toEqual([
      `2:34: ${DEPTH} once aliases are expanded; a blueprint needs a few levels; this looks like a broken or hostile file`,
    ]);
  });

  test('a chain of merge keys counts as nesting too', () => {
    const lines = ['a0: &a0 {x: 1}'];
    for (let i = 1; i < 100; i++) lines.push(`a${i}: &a${i} {<<: *a${i - 1}}`);
    const err = parseError(yaml(...lines));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0].message).toBe(`${DEPTH} once aliases are expanded`);
  });
});

describe('many keys: linear, every one reported at its place', () => {
  test('20,000 unknown top-level keys', () => {
    const n = 20_000;
    const text = yaml('kernel:', '  image: k:1', ...Array.from({ length: n }, (_, i) => `key${i}: ${i}`));
    const err = parseError(text);
    expect(err.issues).toHaveLength(n);
    err.issues.forEach((issue, i) => {
      expect(issue.line).toBe(i + 3);
      expect(issue.column).toBe(1);
      expect(issue.message).toBe(`unknown key \`key${i}\` at the top level`);
    });
    expectSafeLines(err);
  });

  test('200,000 wrong values through validateTexts: more issues than a call has arguments', () => {
    const n = 200_000;
    const r = validateTexts([{ file: 'bp.yml', text: `init: [${'1,'.repeat(n)}]\n` }]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.issues).toHaveLength(n);
    expect(r.error.issues[n - 1]).toMatchObject({ line: 1, column: 8 + 2 * (n - 1), message: `init[${n - 1}]: expected a string, got the number 1` });
  });

  test('30,000 unknown keys in one service, each with the nearest known key when there is one', () => {
    const n = 30_000;
    const keys = Array.from({ length: n }, (_, i) => (i === 12_345 ? 'capabilites' : `x${i}`));
    const err = parseError(yaml('services:', '  - name: a', '    image: a:1', ...keys.map((k) => `    ${k}: 1`)));
    expect(err.issues).toHaveLength(n);
    expect(err.issues[12_345]).toMatchObject({ line: 12_349, column: 5, message: 'unknown key `capabilites` in services[0]', hint: 'did you mean `capabilities`?' });
    expect(err.issues[n - 1]).toMatchObject({ line: n + 3, column: 5, message: `unknown key \`x${n - 1}\` in services[0]` });
  });

  test('20,000 duplicate keys: each named, at the duplicate, with the first', () => {
    const n = 10_000;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(`k${i}: 1`, `k${i}: 2`);
    const err = parseError(yaml(...lines));
    expect(err.issues).toHaveLength(n);
    expect(err.issues[n - 1]).toMatchObject({ line: 2 * n, column: 1, message: `duplicate key \`k${n - 1}\` in the same mapping (first at line ${2 * n - 1} column 1)` });
  });

  test('an unknown key of a megabyte is named, shortened', () => {
    const key = 'k'.repeat(1_000_000);
    const err = parseError(yaml(`? ${key}`, ': 1'));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0].message).toBe(`unknown key \`${'k'.repeat(80)}...\` at the top level`);
    expect(err.message.length).toBeLessThan(400);
  });
});

describe('values are quoted escaped: a blueprint cannot break or forge a message line', () => {
  test('a duplicate key with a newline is named escaped, where it is', () => {
    const err = parseError(yaml('services: []', '"a\\nb": 1', '"a\\nb": 2'));
    expect(located(err)).toEqual([
      '3:1: duplicate key `a\\nb` in the same mapping (first at line 2 column 1); each key may appear once; remove or merge one of them',
    ]);
    expectSafeLines(err);
  });

  test('newlines, escapes and bidi overrides in values, keys and enums (schema errors)', () => {
    const err = parseError(
      yaml(
        'services:',
        '  - name: a',
        '    image: a:1',
        '    readonly: "\\e[2Jyes"', // wrong type: the string is shown
        '    "x\\u202e\\r": 1', // unknown key
        'volumes:',
        '  - name: v',
        '    format: "oci\\n"', // not one of the enum's values
      ),
    );
    const lines = located(err);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('4:15: services[0].readonly: expected true or false, got the string "\\e[2Jyes"');
    expect(lines[1]).toMatch(/^5:5: unknown key `x\\u\{202e\}\\r` in services\[0\]; known keys: `name`, `image`, /);
    expect(lines[2]).toBe('8:13: volumes[0].format: expected one of `filesystem`, `oci`, got the string "oci\\n"; did you mean `oci`?');
    expectSafeLines(err);
  });

  test('a newline in a value a later check quotes cannot forge a line (checks beyond the schema)', () => {
    const err = parseError(yaml('kernel:', '  image: "k:1\\nbp.yml:1:1: all is well"', 'init: ["a\\u2028b c"]'));
    expect(err.issues).toHaveLength(2);
    expect(err.message.split('\n')).toHaveLength(2);
    expect(err.issues[0]).toMatchObject({ line: 2, column: 10 });
    expect(err.issues[0].message).toContain('k:1\\nbp.yml:1:1: all is well');
    expect(err.issues[1]).toMatchObject({ line: 3, column: 8 });
    expect(err.issues[1].message).toContain('a\\u{2028}b c');
    expectSafeLines(err);
  });

  test('a file name with a newline is escaped too', () => {
    const err = parseError('onbot: []\n', 'a\nb.yml');
    expect(err.message).toBe('a\\nb.yml:1:1: unknown key `onbot` at the top level; did you mean `onboot`?');
  });

  test('control characters the lexer refuses are quoted escaped', () => {
    const err = parseError(yaml('a: 1', '\u0001\u001b[31m: 2'));
    expectSafeLines(err);
    expect(err.message).toContain('`\\x01\\e[31m`');
  });
});

describe('lists and mappings used as keys: located, and no warning', () => {
  test.each([
    ['an explicit list key', yaml('? [a, b]', ': 1'), '1:3: a list used as a mapping key'],
    ['a flow mapping key', yaml('{a: 1}: 2'), '1:1: a mapping used as a mapping key'],
    ['a list key inside a flow list', yaml('init: [[a]: 1]'), '1:8: a list used as a mapping key'],
    ['an alias of a mapping as a key', yaml('a: &m {x: 1}', '*m : 2'), '2:1: a mapping used as a mapping key'],
  ])('%s', (_name, text, want) => {
    const err = parseError(text);
    expect(located(err)).toEqual([`${want}; keys are plain words such as \`image:\`; check the indentation and the \`?\` or \`[\`/\`{\` before this`]);
  });
});

describe('aliases', () => {
  const laughs = yaml(
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
    'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]',
    'i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]',
    'services: *i',
  );

  test('"billion laughs" is refused at the alias that crosses the expansion limit', () => {
    const err = parseError(laughs);
    // a..e expand to 10, 91, 820, 7381 and 66430 nodes; b..e's aliases add 74,682 in all, and
    // f's first alias adds 66,429 more
    expect(located(err)).toEqual(['6:8: aliases expand to more than 100000 nodes; a blueprint needs a few aliases of small values; this looks like a "billion laughs" attack']);
  });

  test('the same through merge keys', () => {
    const lines = ['m0: &m0 {' + Array.from({ length: 50 }, (_, i) => `k${i}: v`).join(', ') + '}'];
    for (let i = 1; i <= 12; i++) lines.push(`m${i}: &m${i} [*m${i - 1}, *m${i - 1}, *m${i - 1}, *m${i - 1}]`);
    lines.push('services:', '  - name: a', '    image: a:1', '    <<: *m0');
    const err = parseError(yaml(...lines));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0].message).toBe(`aliases expand to more than ${LIMITS.aliasExpansion} nodes`);
  });

  test('more than 10,000 anchors and aliases', () => {
    const text = yaml('a: &a x', `b: [${Array.from({ length: 10_000 }, () => '*a').join(', ')}]`);
    const err = parseError(text);
    expect(err.issues).toEqual([expect.objectContaining({ line: 2, column: 5 + 9_999 * 4, message: 'more than 10000 anchors and aliases' })]);
  });

  test('an alias inside the value it names, and one naming no anchor', () => {
    expect(located(parseError(yaml('a: &a [1, *a]')))).toEqual([
      '1:11: alias `*a` is inside the value it names, which would make it infinitely deep; an alias can only repeat a value that is complete before it',
    ]);
    expect(located(parseError(yaml('init: [*nope]')))).toEqual(['1:8: alias `*nope` names no anchor; define `&nope` on a value before this alias']);
  });

  test('a merge key must merge a mapping', () => {
    expect(located(parseError(yaml('a: &a [1]', 'services:', '  - <<: *a', '    name: b', '    image: b:1')))).toEqual([
      // a list is a list of mappings to merge: its item is the culprit
      '1:8: `<<` merges a mapping into this one, but its value is not a mapping; write `<<: *anchor` where the anchor is on a mapping, or a list of such aliases',
    ]);
  });

  test('aliases and merge keys used as LinuxKit files use them still work', () => {
    const bp = parseBlueprint(
      yaml('onboot:', '  - &base', '    name: a', '    image: a:1', '    binds: &binds [/a:/a]', 'services:', '  - <<: *base', '    name: b', '    tmpfs: *binds'),
      'bp.yml',
    );
    expect(bp.services).toEqual([{ name: 'b', image: 'a:1', binds: ['/a:/a'], tmpfs: ['/a:/a'] }]);
  });
});

describe('size', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'osbuild-limits-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a file over 16 MiB is refused naming the file, without being read whole', async () => {
    const file = join(dir, 'huge.yml');
    // valid YAML all along: one long comment
    await writeFile(file, '#'.repeat(LIMITS.bytes + 1));
    const r = await validateFiles([file]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message).toBe(`${file}:1:1: the file is larger than the 16 MiB a blueprint may be; put large file contents in files of their own and name them with \`files: - source:\``);
    // an endless file: only the limit is read
    const zero = await validateFiles(['/dev/zero']);
    expect(zero.ok || zero.error.issues[0].message).toBe('the file is larger than the 16 MiB a blueprint may be');
  });

  test('text over the limit handed to the library directly', () => {
    const r = validateTexts([{ file: 'big.yml', text: 'é'.repeat(LIMITS.bytes / 2 + 1) }]);
    expect(r.ok || r.error.message).toMatch(/^big\.yml:1:1: the file is 16777218 bytes, more than the 16 MiB a blueprint may be;/);
  });

  test('a file of exactly 16 MiB is read', async () => {
    const file = join(dir, 'limit.yml');
    const head = 'name: x\n';
    await writeFile(file, head + '#'.repeat(LIMITS.bytes - head.length));
    const r = await validateFiles([file]);
    expect(r.ok || r.error.message).toBe(true);
  });

  test('more than 500,000 tokens is refused where the limit is crossed', () => {
    // `init`, `:` and `[` are 3 tokens, then each item 2 (`a` and `,`)
    const n = 260_000;
    const err = parseError(`init: [${'a,'.repeat(n)}]\n`);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ line: 1, message: 'more than 500000 YAML tokens (keys, values, list items, lines)' });
    // the 500,001st token: item 249,998's comma (items start at column 8)
    expect(err.issues[0].column).toBe(8 + 2 * 249_998 + 1);
  });

  test('line ends count: 600,000 blank lines are refused too', () => {
    // `name`, `:` and `x` are 3 tokens; the 500,001st is the line end of line 499,998
    const err = parseError(`name: x${'\n'.repeat(600_000)}`);
    expect(located(err)).toEqual(['499998:1: more than 500000 YAML tokens (keys, values, list items, lines); a blueprint this large is not supported; split it into several files']);
  });
});
