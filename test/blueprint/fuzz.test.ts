// Seeded mutations of the reference blueprints (blueprints/*.yml): whatever the mutation, the
// validator answers with a valid blueprint or located errors, one line each, and nothing else:
// no exception, no stack trace, no warning from Node, no control character in a message. The
// library runs in-process for every mutation, the real CLI for a sample.
//
//   OSBUILD_FUZZ_COUNT=5000 npx vitest run test/blueprint/fuzz.test.ts     # more mutations
//   OSBUILD_FUZZ_SEED=1234 ...                                             # another series
//   OSBUILD_FUZZ_CASE=17 ...                                               # one case again
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { validateTexts } from '../../src/blueprint/index.js';
import { ensureDist, MAIN, REPO } from '../helpers/dist.js';

const SEED = Number(process.env.OSBUILD_FUZZ_SEED ?? 0x05b1d);
const COUNT = Number(process.env.OSBUILD_FUZZ_COUNT ?? 300);
const ONLY = process.env.OSBUILD_FUZZ_CASE === undefined ? undefined : Number(process.env.OSBUILD_FUZZ_CASE);
const CLI_SAMPLE = 20;

// mulberry32: small, fast, and the same sequence everywhere for a seed
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BLUEPRINTS = readdirSync(join(REPO, 'blueprints'))
  .filter((f) => f.endsWith('.yml'))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(join(REPO, 'blueprints', f), 'utf8') }));

// Text that breaks parsers and terminals: controls, escapes, separators, bidi overrides, a lone
// surrogate, a BOM, YAML's own indicators, and text that looks like a message line.
const NASTY = [
  '\u0000', '\u0007', '\b', '\t', '\n', '\r', '\r\n', '\u000b', '\u000c', '\u001b[31m', '\u001b]0;x\u0007', '\u007f', '\u0085',
  '\u00a0', '\u2028', '\u2029', '\u202e', '\u2066', '\ufeff', '\ud800', '\udfff', '\uffff', '🙂', 'é', '日本',
  ':', ': ', '- ', '? ', '#', '&', '*', '!', '!!', '|', '>', '%', '@', '`', '"', "'", '{', '}', '[', ']', ',', '<<: ', '---', '...',
  'bp.yml:1:1: error: forged', '\nx.yml:9:9: forged', '\\n', '\\u202e', '    at Object.<anonymous> (x.js:1:1)',
];
const VALUES = [
  '[]', '{}', '~', 'null', '42', '-1', '0644', '0x1F', '1e400', '.inf', '.nan', 'yes', 'no', 'on', 'true', '"str"', "'s'",
  '[a, b]', '{a: 1}', '{a: [1, {b: 2}]}', '!!binary aGk=', '!!set {a, b}', '!!omap [a: 1]', '!!str 1', '!foo x', '2001-12-14',
  '2001-12-14t21:59:43.10-05:00', '*a', '&a x', '&a [1, 2]', '*nope', '|\n  text\n', '>-\n  folded\n', '"a\\nb\\u0000c"',
  `"${'x'.repeat(5000)}"`, '12345678901234567890123', '-', '<<', '? x', '=',
];

interface Case {
  index: number;
  base: string;
  ops: string[];
  text: string;
}

function mutate(index: number): Case {
  const rnd = prng(SEED * 1_000_003 + index);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (n: number): number => Math.floor(rnd() * n);
  const base = pick(BLUEPRINTS);
  let text = base.text;
  const ops: string[] = [];
  const nOps = 1 + int(3);
  for (let k = 0; k < nOps; k++) {
    const lines = text.split('\n');
    const at = int(lines.length);
    const pos = int(text.length + 1);
    const indent = (lines[at] ?? '').match(/^ */)![0];
    switch (int(11)) {
      case 0: {
        // a byte (UTF-16 unit) set to anything
        const c = String.fromCharCode(rnd() < 0.7 ? int(128) : int(0x10000));
        ops.push(`set char ${pos} to ${JSON.stringify(c)}`);
        text = text.slice(0, pos) + c + text.slice(pos + 1);
        break;
      }
      case 1: {
        const n = 1 + int(4);
        ops.push(`delete lines ${at}..${at + n - 1}`);
        lines.splice(at, n);
        text = lines.join('\n');
        break;
      }
      case 2: {
        const n = 1 + int(3);
        const times = rnd() < 0.9 ? 1 : 1 + int(2000);
        ops.push(`duplicate lines ${at}..${at + n - 1} x${times}`);
        const block = lines.slice(at, at + n);
        lines.splice(at, 0, ...Array.from({ length: times }, () => block).flat());
        text = lines.join('\n');
        break;
      }
      case 3: {
        // nesting around the depth limit, or far beyond it
        const depth = pick([8, 63, 64, 65, 100, 1000, 5000]);
        const style = pick(['flow-seq', 'flow-map', 'block-seq', 'block-map', 'mixed']);
        ops.push(`nest ${style} x${depth} at line ${at}`);
        let inserted: string;
        if (style === 'flow-seq') inserted = `${indent}deep: ${'['.repeat(depth)}${']'.repeat(depth)}`;
        else if (style === 'flow-map') inserted = `${indent}deep: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`;
        else if (style === 'block-seq') inserted = `${indent}deep:\n` + Array.from({ length: depth }, (_, i) => `${indent}${'  '.repeat(i + 1)}-`).join('\n') + ' x';
        else if (style === 'block-map') inserted = `${indent}deep:\n` + Array.from({ length: depth }, (_, i) => `${indent}${' '.repeat(i + 1)}k:`).join('\n') + ' x';
        else inserted = `${indent}deep: ${Array.from({ length: depth }, (_, i) => (i % 2 ? '{k: ' : '[')).join('')}1${Array.from({ length: depth }, (_, i) => (i % 2 ? '}' : ']')).reverse().join('')}`;
        lines.splice(at, 0, inserted);
        text = lines.join('\n');
        break;
      }
      case 4: {
        // a key: line again, right after itself (a duplicate key), sometimes many times
        const keyLines = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s*(- )?[A-Za-z.]+:/.test(l));
        if (keyLines.length === 0) break;
        const [line, i] = pick(keyLines);
        const copy = line.replace(/^(\s*)- /, '$1  ');
        const times = rnd() < 0.8 ? 1 : 1 + int(5000);
        ops.push(`duplicate key line ${i} x${times}`);
        lines.splice(i + 1, 0, ...Array.from({ length: times }, () => copy));
        text = lines.join('\n');
        break;
      }
      case 5: {
        const s = Array.from({ length: 1 + int(3) }, () => pick(NASTY)).join('');
        ops.push(`insert ${JSON.stringify(s)} at ${pos}`);
        text = text.slice(0, pos) + s + text.slice(pos);
        break;
      }
      case 6: {
        // a value swapped for one of another type
        const valueLines = lines.map((l, i) => [l, i] as const).filter(([l]) => /:\s*\S/.test(l) && !/^\s*#/.test(l));
        if (valueLines.length === 0) break;
        const [line, i] = pick(valueLines);
        const v = pick(VALUES);
        ops.push(`value of line ${i} -> ${JSON.stringify(v)}`);
        lines[i] = line.replace(/:\s*\S.*$/, `: ${v}`);
        text = lines.join('\n');
        break;
      }
      case 7: {
        ops.push(`truncate at ${pos}`);
        text = text.slice(0, pos);
        break;
      }
      case 8: {
        // unknown keys, many of them
        const n = pick([1, 10, 1000, 20_000]);
        ops.push(`${n} unknown keys at line ${at}`);
        lines.splice(at, 0, ...Array.from({ length: n }, (_, i) => `${indent}unknown${i}: ${i}`));
        text = lines.join('\n');
        break;
      }
      case 9: {
        // anchors and aliases: a "billion laughs", a cycle, merges, dangling aliases
        const kind = pick(['laughs', 'cycle', 'merge', 'dangling', 'chain']);
        ops.push(`aliases ${kind} at line ${at}`);
        let block: string[];
        if (kind === 'laughs') block = ['l0: &l0 [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 9 }, (_, i) => `l${i + 1}: &l${i + 1} [${Array(10).fill(`*l${i}`).join(', ')}]`)];
        else if (kind === 'cycle') block = ['c: &c {a: *c}'];
        else if (kind === 'merge') block = ['m: &m {name: x, image: y}', 'services:', '  - <<: [*m, *m]', '    <<: *m'];
        else if (kind === 'dangling') block = ['d: *missing'];
        else block = ['a0: &a0 {k: 1}', ...Array.from({ length: 80 }, (_, i) => `a${i + 1}: &a${i + 1} {<<: *a${i}}`)];
        lines.splice(at, 0, ...block);
        text = lines.join('\n');
        break;
      }
      default: {
        // a line re-indented (structure changes in YAML's most fragile way)
        const shift = int(7) - 3;
        ops.push(`reindent line ${at} by ${shift}`);
        if (lines[at] !== undefined) lines[at] = shift >= 0 ? ' '.repeat(shift) + lines[at] : lines[at].replace(new RegExp(`^ {0,${-shift}}`), '');
        text = lines.join('\n');
      }
    }
  }
  return { index, base: base.name, ops, text };
}

// A mutation, described so that a failure can be reproduced and read.
function describeCase(c: Case): string {
  const shown = JSON.stringify(c.text.length > 600 ? `${c.text.slice(0, 600)}...` : c.text);
  return `OSBUILD_FUZZ_SEED=${SEED} OSBUILD_FUZZ_CASE=${c.index}: ${c.base}, ${c.ops.join('; ')}\n${shown}`;
}

const LOCATED = /^(?<file>[^\n]*?):(?<line>[1-9]\d*):(?<col>[1-9]\d*): \S/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Problems with one answer: each message line located in `file`, no control character, no trace. */
function checkOutput(lines: string[], file: string): string[] {
  const bad: string[] = [];
  for (const l of lines) {
    const m = LOCATED.exec(l);
    if (!m || m.groups!.file !== file) bad.push(`not located in ${file}: ${JSON.stringify(l.slice(0, 300))}`);
    if (CONTROL.test(l)) bad.push(`control character: ${JSON.stringify(l.slice(0, 300))}`);
    if (/Maximum call stack|^\s+at |^(\w*Error|Warning): |\(node:\d+\)/.test(l)) bad.push(`trace or warning: ${JSON.stringify(l.slice(0, 300))}`);
  }
  return bad;
}

const cases = (ONLY !== undefined ? [ONLY] : Array.from({ length: COUNT }, (_, i) => i)).map(mutate);

describe(`validate, ${cases.length} mutations of the reference blueprints (seed ${SEED})`, () => {
  test('the library: a blueprint or located one-line errors, never an exception or a warning', () => {
    const warn = vi.spyOn(process, 'emitWarning');
    const failures: string[] = [];
    let valid = 0;
    try {
      for (const c of cases) {
        let problems: string[];
        try {
          const r = validateTexts([{ file: 'fuzz.yml', text: c.text }]);
          if (r.ok) {
            valid++;
            problems = [];
          } else {
            const lines = r.error.message.split('\n');
            problems = checkOutput(lines, 'fuzz.yml');
            if (lines.length !== r.error.issues.length) problems.push(`${lines.length} message lines for ${r.error.issues.length} issues`);
          }
        } catch (e) {
          problems = [`threw ${(e as Error).stack ?? String(e)}`];
        }
        if (warn.mock.calls.length > 0) problems.push(`warning: ${String(warn.mock.calls[0][0])}`);
        warn.mockClear();
        if (problems.length > 0) failures.push(`${describeCase(c)}\n  ${problems.slice(0, 5).join('\n  ')}`);
      }
    } finally {
      warn.mockRestore();
    }
    expect(failures, failures.slice(0, 5).join('\n\n')).toEqual([]);
    // the mutations are not all fatal: some still make valid blueprints (the harness is not blind)
    if (ONLY === undefined) expect(valid).toBeGreaterThan(0);
  }, 600_000);

  describe('the CLI, on a sample', () => {
    let work: string;
    beforeAll(async () => {
      await ensureDist();
      work = await mkdtemp(join(tmpdir(), 'osbuild-fuzz-'));
    }, 300_000);
    afterAll(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    const step = Math.max(1, Math.floor(cases.length / CLI_SAMPLE));
    const sample = cases.filter((_, i) => i % step === 0).slice(0, CLI_SAMPLE);
    test.each(sample.map((c) => [c.index, c] as const))('case %d: exit 0 or 1, located lines only', async (_i, c) => {
      const file = join(work, `case-${c.index}.yml`);
      await writeFile(file, c.text);
      const r = await execa('node', [MAIN, 'validate', file], { reject: false, env: { OSBUILD_DEBUG: '' }, timeout: 120_000 });
      const why = describeCase(c);
      expect([0, 1], `exit ${r.exitCode}\n${r.stderr.slice(0, 2000)}\n${why}`).toContain(r.exitCode);
      if (r.exitCode === 0) {
        expect(r.stdout, why).toBe(`${file}: valid`);
        expect(r.stderr, why).toBe('');
      } else {
        expect(r.stdout, why).toBe('');
        expect(checkOutput(r.stderr.split('\n'), file), why).toEqual([]);
      }
    }, 180_000);
  });
});
