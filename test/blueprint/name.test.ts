// The output name (`name:` in a blueprint, --name, or the blueprint's file name) is one file name
// component that every output suffix still fits after: `../x` must not write outside -o, and a
// long name must not fail with a raw ENAMETOOLONG half way through a build.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_NAME_BYTES, OutputNameError, outputNameProblem } from '../../src/blueprint/index.js';
import { build } from '../../src/build/build.js';
import { FORMATS } from '../../src/build/outputs.js';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { located, parseError, yaml } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'osbuild-name-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('what a name may be', () => {
  test.each([
    ['', 'it is empty'],
    ['.', '`.` names a directory, not a file'],
    ['..', '`..` names a directory, not a file'],
    ['../../../tmp/x', 'it contains `/`, but it must be a file name, not a path'],
    ['a/b', 'it contains `/`, but it must be a file name, not a path'],
    ['/abs', 'it contains `/`, but it must be a file name, not a path'],
    ['a\0b', 'it contains a control or other unprintable character'],
    ['a\nb', 'it contains a control or other unprintable character'],
    ['a\u001b[31mb', 'it contains a control or other unprintable character'],
    ['a\u202eb', 'it contains a control or other unprintable character'],
    ['a\ud800b', 'it contains a control or other unprintable character'],
    ['x'.repeat(MAX_NAME_BYTES + 1), `it is ${MAX_NAME_BYTES + 1} bytes long, more than ${MAX_NAME_BYTES} (output file names add suffixes to it and may be at most 255 bytes)`],
    // bytes, not characters: é is two
    ['é'.repeat(MAX_NAME_BYTES / 2 + 1), `it is ${MAX_NAME_BYTES + 2} bytes long, more than ${MAX_NAME_BYTES} (output file names add suffixes to it and may be at most 255 bytes)`],
  ])('%j: %s', (name, problem) => {
    expect(outputNameProblem(name)).toBe(problem);
  });

  test.each([['minimal'], ['my-system_1.2'], ['...x'], ['.hidden'], ['x'.repeat(MAX_NAME_BYTES)], ['é'.repeat(MAX_NAME_BYTES / 2)], ['système-日本'], ['a\\b'], ['🙂']])(
    '%j is fine',
    (name) => {
      expect(outputNameProblem(name)).toBeUndefined();
    },
  );

  test('every file the output table makes from a longest name, while written too, fits in 255 bytes', () => {
    const name = 'x'.repeat(MAX_NAME_BYTES);
    // src/build/outputs.ts names a file being written <file>.partial-<owner>-<12 hex> and its
    // scratch files .<name>.scratch-<owner>-<12 hex>-<what>; <owner> is <pid ns>.<pid>.<start
    // time>, here with the most digits each can have (u32, Linux's PID_MAX_LIMIT, u64)
    const owner = `${'9'.repeat(10)}.${'9'.repeat(7)}.${'9'.repeat(20)}`;
    const partial = `.partial-${owner}-${'f'.repeat(12)}`;
    const lengths: [string, number][] = [];
    for (const f of FORMATS) for (const file of f.files(name)) lengths.push([`${f.name}: ${file.slice(name.length)}`, Buffer.byteLength(file + partial)]);
    for (const what of ['initrd.img', 'root.sqfs']) lengths.push([`scratch ${what}`, Buffer.byteLength(`.${name}.scratch-${owner}-${'f'.repeat(12)}-${what}`)]);
    expect(lengths.length).toBeGreaterThan(FORMATS.length);
    for (const [what, bytes] of lengths) expect(bytes, what).toBeLessThanOrEqual(255);
  });
});

describe('`name:` in a blueprint: located', () => {
  const hint = 'use a plain file name such as `my-system`: the outputs are NAME-kernel, NAME.iso, ... in the output directory (-o)';

  test('a path that would write outside -o', () => {
    expect(located(parseError(yaml('kernel:', '  image: k:1', 'name: ../../../tmp/x')))).toEqual([
      `3:7: name: "../../../tmp/x" cannot name output files: it contains \`/\`, but it must be a file name, not a path; ${hint}`,
    ]);
  });

  test('300 characters, and control characters shown escaped', () => {
    expect(located(parseError(yaml(`name: ${'n'.repeat(300)}`)))).toEqual([
      `1:7: name: "${'n'.repeat(80)}..." cannot name output files: it is 300 bytes long, more than ${MAX_NAME_BYTES} (output file names add suffixes to it and may be at most 255 bytes); ${hint}`,
    ]);
    expect(located(parseError(yaml('name: "a\\nb"')))).toEqual([`1:7: name: "a\\nb" cannot name output files: it contains a control or other unprintable character; ${hint}`]);
    expect(located(parseError(yaml('name: ""')))).toEqual([`1:7: name: "" cannot name output files: it is empty; ${hint}`]);
  });
});

describe('build(): the name option and the file name, refused before anything is written', () => {
  async function tryBuild(file: string, name?: string): Promise<unknown> {
    const out = join(dir, 'out');
    const cache = join(dir, 'cache');
    const err = await build({ files: [file], name, outDir: out, cacheDir: cache, cwd: dir }).catch((e: unknown) => e);
    // nothing made: no output dir, no store
    expect(existsSync(out)).toBe(false);
    expect(existsSync(cache)).toBe(false);
    return err;
  }

  beforeAll(async () => {
    await writeFile(join(dir, 'bp.yml'), yaml('kernel:', '  image: osbuild/kernel-debian-cloud:6.1'));
  });

  test.each([['../x'], ['../../../tmp/x'], ['n'.repeat(300)], ['a\nb'], ['..'], ['']])('--name %j', async (name) => {
    const err = await tryBuild(join(dir, 'bp.yml'), name);
    expect(err).toBeInstanceOf(OutputNameError);
    expect((err as OutputNameError).code).toBe('EOUTPUTNAME');
    expect((err as Error).message).toMatch(/^--name "[^\n]*" cannot name output files: /);
    expect((err as Error).message).toContain(outputNameProblem(name)!);
  });

  test('a name taken from a file name that cannot be one', async () => {
    const long = join(dir, `${'f'.repeat(MAX_NAME_BYTES + 20)}.yml`);
    await writeFile(long, yaml('kernel:', '  image: osbuild/kernel-debian-cloud:6.1'));
    const err = await tryBuild(long);
    expect(err).toBeInstanceOf(OutputNameError);
    expect((err as Error).message).toMatch(new RegExp(`^the output name "f+\\.\\.\\." \\(the blueprint's file name\\) cannot name output files: it is ${MAX_NAME_BYTES + 20} bytes long`));
    expect((err as Error).message).toMatch(/give one with --name or `name:` in the blueprint$/);
  });
});

describe('the command line', () => {
  beforeAll(async () => {
    await ensureDist();
  }, 300_000);

  test('--name ../x: exit 1, one line naming the option, nothing written', async () => {
    const work = join(dir, 'cli');
    await mkdir(work);
    await writeFile(join(work, 'bp.yml'), yaml('kernel:', '  image: osbuild/kernel-debian-cloud:6.1'));
    const r = await execa('node', [MAIN, 'build', 'bp.yml', '--name', '../x', '-o', 'out', '--cache', join(work, 'cache')], { cwd: work, reject: false, env: { OSBUILD_DEBUG: '' } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^osbuild: error: --name "\.\.\/x" cannot name output files: it contains `\/`/);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect((await readdir(work)).sort()).toEqual(['bp.yml']);
    expect(existsSync(join(dir, 'x-kernel'))).toBe(false);
  }, 60_000);
});
