// The built `osbuild` command as a user runs it: help, exit codes, messages, and the commands
// that need neither QEMU nor Debian (components here are made of `files:` only).

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, findCommand, parseArgsOptions } from '../../src/cli/commands.js';
import { EXIT_CODES } from '../../src/errors.js';
import { FORMATS } from '../../src/build/outputs.js';
import { makeImage } from '../helpers/oci-image.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

let work: string;

beforeAll(async () => {
  await ensureDist();
  work = await mkdtemp(join(tmpdir(), 'osbuild-cli-'));
  await mkdir(join(work, 'xdg'));
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI; XDG_CACHE_HOME points into the test's folder so no user cache is touched. */
async function osbuild(args: string[], cwd = REPO): Promise<Ran> {
  const r = await execa('node', [MAIN, ...args], { cwd, reject: false, env: { XDG_CACHE_HOME: join(work, 'xdg'), OSBUILD_DEBUG: '' } });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function tempDir(name: string): Promise<string> {
  const d = join(work, name);
  await mkdir(d, { recursive: true });
  return d;
}

/** A component made only of files: `pkg build` needs no Debian package for it. */
async function filesComponent(parent: string, dir: string, image: string, files: string): Promise<string> {
  const d = join(parent, dir);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'build.yml'), `image: ${image}\ntag: "1.0"\nfiles:\n${files}`);
  return d;
}

describe('help and version', () => {
  it('--help lists every command with its summary', async () => {
    const r = await osbuild(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`osbuild ${VERSION}`);
    expect(r.stdout).toMatch(/^Usage: osbuild COMMAND/m);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c.name} +${escape(c.summary)}$`, 'm'));
  });

  it('no arguments at all prints the help and fails (exit 2)', async () => {
    const r = await osbuild([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('Commands:');
  });

  it.concurrent.each(COMMANDS.map((c) => [c.name, c] as const))('%s --help shows usage, every option it accepts and examples', async (name, c) => {
    const r = await osbuild([...name.split(' '), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: ${c.usage}`);
    // every option the parser accepts is documented (the table drives both, they must not drift)
    const optionsPart = r.stdout.slice(r.stdout.indexOf('Options:'), r.stdout.indexOf('Examples:'));
    for (const [long, o] of Object.entries(c.options)) {
      expect(optionsPart, `--${long}`).toMatch(new RegExp(`^  (-${o.short ?? '\\w'}, )?--${long}\\b`, 'm'));
      if (o.short) expect(optionsPart, `-${o.short}`).toMatch(new RegExp(`^  -${o.short}, --${long}\\b`, 'm'));
    }
    expect(optionsPart).toMatch(/^  -h, --help /m);
    const examples = r.stdout.slice(r.stdout.indexOf('Examples:'));
    expect(c.examples.length).toBeGreaterThan(0);
    for (const e of c.examples) expect(examples).toContain(`  ${e}`);
    if (name === 'build') for (const f of FORMATS) expect(r.stdout).toMatch(new RegExp(`^  ${escape(f.name)} `, 'm'));
  });

  it('every example in the help parses with its command\'s options', () => {
    for (const c of COMMANDS) {
      for (const example of c.examples) {
        const words = shellWords(example);
        const at = words.indexOf('osbuild');
        expect(at, example).toBeGreaterThanOrEqual(0);
        let argv = words.slice(at + 1);
        if (/\.ya?ml$/.test(argv[0])) argv = ['build', ...argv];
        const found = findCommand(argv);
        expect(found?.command.name, example).toBe(c.name);
        const parsed = parseArgs({ args: found!.rest, options: parseArgsOptions(c), allowPositionals: true, strict: true });
        expect(parsed.positionals.length, example).toBeGreaterThanOrEqual(c.minArgs);
      }
    }
  });

  it('--version and -V print the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await osbuild([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`osbuild ${VERSION}`);
    }
  });
});

describe('usage errors exit 2 with a hint', () => {
  it('an unknown command points to --help', async () => {
    const r = await osbuild(['frobnicate', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate x"/);
    expect(r.stderr).toContain('osbuild --help');
    expect(r.stdout).toBe('');
  });

  it('an unknown option names it and shows the usage line', async () => {
    const r = await osbuild(['validate', '--bogus', 'x.yml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'--bogus'");
    expect(r.stderr).toContain('Usage: osbuild validate FILE...');
  });

  it('a missing argument shows the usage line', async () => {
    const r = await osbuild(['build']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing argument\nUsage: osbuild build /);
  });

  it('an unknown arch is refused before anything runs', async () => {
    for (const args of [['build', '--arch', 'sparc', 'nonexistent.yml'], ['pkg', 'build', '--arch', 'sparc', 'components/busybox']]) {
      const r = await osbuild([...args, '--cache', join(work, 'never')]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('--arch sparc: expected amd64 or arm64');
    }
    expect(existsSync(join(work, 'never'))).toBe(false);
  });

  it('a bad --root or --forward is refused before anything runs', async () => {
    const b = await osbuild(['build', '--root', 'ext4', 'nonexistent.yml', '--cache', join(work, 'never')]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--root ext4: expected initramfs or squashfs');
    for (const f of ['80', '0:22', '2222:70000', 'a:b']) {
      const r = await osbuild(['run', '-p', f, join(work, 'nothing')]);
      expect(r.code, f).toBe(2);
      expect(r.stderr).toContain(`--forward ${f}: expected HOST:GUEST ports`);
    }
    expect(existsSync(join(work, 'never'))).toBe(false);
  });

  it('osbuild test without --expect, and run with a bad --cpus', async () => {
    const t = await osbuild(['test', join(work, 'nothing')]);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('--expect REGEX');
    const r = await osbuild(['run', '--cpus', '0', join(work, 'nothing')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--cpus 0: expected a positive whole number');
  });
});

describe('osbuild validate', () => {
  it('exit 0 for a good blueprint', async () => {
    const r = await osbuild(['validate', 'blueprints/minimal.yml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('blueprints/minimal.yml: valid');
    expect(r.stderr).toBe('');
  });

  it('exit 1 with file:line:col: messages on stderr for a bad one', async () => {
    const dir = await tempDir('validate');
    const bad = join(dir, 'bad.yml');
    await writeFile(
      bad,
      [
        'kernel:',
        '  image: osbuild/kernel:6.1',
        'init:',
        '  - osbuild/init:0.1.0',
        'onboot:',
        '  - name: hello',
        '    image: osbuild/busybox:0.1.0',
        '    comand: ["/bin/echo"]', // line 8, column 5
        'services:',
        '  - name: getty',
        '    image: 42', // line 11, column 12
        '',
      ].join('\n'),
    );
    const r = await osbuild(['validate', 'blueprints/minimal.yml', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l).toMatch(new RegExp(`^${escape(bad)}:\\d+:\\d+: \\S`));
    expect(r.stderr).toMatch(new RegExp(`^${escape(bad)}:8:5: .*comand.*command`, 'm'));
    expect(r.stderr).toMatch(new RegExp(`^${escape(bad)}:11:12: .*image`, 'm'));
  });

  it('exit 1 naming the file when it does not exist', async () => {
    const r = await osbuild(['validate', join(work, 'missing.yml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(join(work, 'missing.yml'));
  });
});

describe('osbuild build', () => {
  it('FILE.yml without a verb builds; a missing image says what to run and writes nothing', async () => {
    const dir = await tempDir('missing-image');
    // a registry on loopback where nothing listens: the pull fails at once, and no test ever
    // reaches a host other than this machine
    await writeFile(join(dir, 'sys.yml'), 'kernel:\n  image: 127.0.0.1:9/nowhere/kernel:1.0\ninit:\n  - 127.0.0.1:9/nowhere/init:1.0\n');
    const r = await osbuild(['sys.yml', '-o', 'out', '--cache', join(dir, 'cache')], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^osbuild: error: image 127\.0\.0\.1:9\/nowhere\/kernel:1\.0 is not in the store/m);
    expect(r.stderr).toContain('osbuild pkg build');
    expect(r.stderr).toContain('osbuild cache import');
    expect(r.stdout).toBe('');
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('builds from component folders next to the blueprint, shows progress, prints the outputs', async () => {
    const dir = await tempDir('build-ok');
    await filesComponent(join(dir, 'components'), 'kern', 'example/kern', '  - {path: /kernel, contents: "not really a kernel"}\n');
    await filesComponent(join(dir, 'components'), 'init', 'example/init', '  - {path: /init, contents: "#!/bin/sh\\n", mode: "0755"}\n  - {path: /etc/motd, contents: "hello\\n"}\n');
    await writeFile(join(dir, 'sys.yml'), 'kernel:\n  image: example/kern:1.0\n  cmdline: console=ttyS0\ninit:\n  - example/init:1.0\n');
    const cache = join(dir, 'cache');

    const r = await osbuild(['sys.yml', '--arch', 'amd64', '--cache', cache], dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['sys-kernel', 'sys-initrd.img', 'sys-cmdline', 'sys.spdx.json'].map((f) => join(dir, 'out', f)));
    expect(await readFile(join(dir, 'out', 'sys-kernel'), 'utf8')).toBe('not really a kernel');
    expect((await execa('bsdtar', ['-tf', join(dir, 'out', 'sys-initrd.img')])).stdout.split('\n')).toEqual(expect.arrayContaining(['init', 'etc/motd']));
    const err = r.stderr.split('\n');
    expect(err).toContain('building example/kern:1.0 from components/kern');
    expect(err).toContain('building example/init:1.0 from components/init');
    expect(err).toContainEqual(expect.stringMatching(/^  amd64: layer \d+ B \(1 entry\)$/));
    expect(err).toContainEqual(expect.stringMatching(/^docker\.io\/example\/init:1\.0 → sha256:[0-9a-f]{12}… \(amd64, arm64\)$/));
    expect(err).toContain('writing kernel+initrd: out/sys-kernel, out/sys-initrd.img, out/sys-cmdline');
    expect(err).toContainEqual(expect.stringMatching(/^  done in \d+\.\d s: sys-kernel 19 B, sys-initrd\.img \d+ (?:B|KiB), sys-cmdline 13 B$/));

    // components are in the store now: --json shows the remaining steps as events, -q nothing
    const j = await osbuild(['build', 'sys.yml', '-f', 'tar', '--json', '--cache', cache], dir);
    expect(j.code).toBe(0);
    const events = j.stderr.split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(events.map((e) => e.type)).toEqual(['index-layer', 'index-layer', 'output-start', 'output-done']);
    expect(j.stdout).toBe(`${join(dir, 'out', 'sys.tar')}\n${join(dir, 'out', 'sys.spdx.json')}`);
    const q = await osbuild(['build', 'sys.yml', '-q', '--cache', cache], dir);
    expect(q).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe('osbuild cache and pkg build', () => {
  it('cache ls of an empty cache prints nothing (--json: [])', async () => {
    const cache = join(work, 'empty-cache');
    const r = await osbuild(['cache', 'ls', '--cache', cache]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const j = await osbuild(['cache', 'ls', '--json', '--cache', cache]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual([]);
  });

  it('cache import of an OCI layout made by umoci, then cache ls shows it', async () => {
    const cache = join(work, 'import-cache');
    const img = await makeImage({ tag: 'v1', layers: [{ script: 'mkdir etc && echo hi > etc/greeting' }] });
    const umociIndex = JSON.parse(await readFile(join(img.layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const digest = umociIndex.manifests[0].digest;

    const r = await osbuild(['cache', 'import', '--ref', 'example/app:1.0', img.layout, '--cache', cache]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`docker.io/example/app:1.0 ${digest}`);
    const ls = await osbuild(['cache', 'ls', '--cache', cache]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toBe(`docker.io/example/app:1.0\t${digest}\tapplication/vnd.oci.image.manifest.v1+json`);
  });

  it('cache import of a missing path exits 1 and says what it expected', async () => {
    const r = await osbuild(['cache', 'import', join(work, 'no-such-layout'), '--cache', join(work, 'import-cache')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no-such-layout does not exist: give an OCI layout directory/);
  });

  it('pkg build of a component: one line per arch, the ref and digest, and the image in the store', async () => {
    const dir = await tempDir('pkg');
    const comp = await filesComponent(dir, 'hello', 'example/hello', '  - {path: /etc/hello, contents: "hi"}\n  - {path: /etc/motd, contents: "x"}\n');
    const cache = join(dir, 'cache');
    const r = await osbuild(['pkg', 'build', comp, '--cache', cache], dir);
    expect(r.code).toBe(0);
    const [ref, digest] = r.stdout.split(' ');
    expect(ref).toBe('docker.io/example/hello:1.0');
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.stderr.split('\n')).toEqual([
      expect.stringMatching(/^  amd64: layer \d+ B \(3 entries\)$/), // etc/, etc/hello, etc/motd
      expect.stringMatching(/^  arm64: layer \d+ B \(3 entries\)$/),
      `docker.io/example/hello:1.0 → ${digest.slice(0, 19)}… (amd64, arm64)`,
    ]);
    const ls = await osbuild(['cache', 'ls', '--cache', cache]);
    expect(ls.stdout).toBe(`${ref}\t${digest}\tapplication/vnd.oci.image.index.v1+json`);
    // skopeo reads the store as an OCI layout: the printed digest is the index it finds there
    const raw = (await execa('skopeo', ['inspect', '--raw', `oci:${join(cache, 'store')}:${ref}`])).stdout;
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(digest);
    const platforms = (JSON.parse(raw) as { manifests: { platform: { architecture: string } }[] }).manifests.map((m) => m.platform.architecture);
    expect(platforms).toEqual(['amd64', 'arm64']);

    const one = await osbuild(['pkg', 'build', '--arch', 'arm64', '--json', comp, '--cache', join(dir, 'cache-arm64')], dir);
    expect(one.code).toBe(0);
    const events = one.stderr.split('\n').map((l) => JSON.parse(l) as { type: string; arch?: string });
    expect(events.map((e) => `${e.type} ${e.arch ?? ''}`.trim())).toEqual(['layer arm64', 'image arm64', 'index']);
    expect(one.stdout.split(' ')[1]).not.toBe(digest); // an index of one arch is not the two-arch one
  });
});

describe('osbuild run and test on a missing image', () => {
  it('exit 1 with a message that says what to pass and how to build it', async () => {
    const path = join(work, 'out', 'minimal');
    for (const args of [['run', path], ['test', path, '--expect', 'x', '--timeout', '5']]) {
      const r = await osbuild(args);
      expect(r.code, args[0]).toBe(1);
      expect(r.stderr, args[0]).toBe(
        `osbuild: error: no kernel at ${path}-kernel: pass the output prefix (e.g. out/minimal) or one of its files; build it with \`osbuild build <blueprint> -f kernel+initrd\``,
      );
    }
  });
});

// One test per family of the exit code table through the real CLI; input (1) and usage (2) are
// above, store (4) in test/build/store-integrity.test.ts and disk-full.test.ts.
describe('exit codes: one per family of failure', () => {
  it('--help shows the table', async () => {
    const r = await osbuild(['--help']);
    expect(r.stdout).toContain('Exit codes:');
    for (const e of EXIT_CODES) expect(r.stdout).toContain(`  ${e.exit}  ${e.what}`);
    expect(EXIT_CODES.map((e) => e.exit)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a registry that cannot be reached: 3; with --json the error is one JSON line with its code and family', async () => {
    // nothing listens on port 9 of the loopback: the connection is refused at once
    const ref = '127.0.0.1:9/nowhere/app:1.0';
    const r = await osbuild(['pull', '--cache', join(work, 'net-cache'), ref]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^osbuild: error: .*127\.0\.0\.1:9/m);
    const j = await osbuild(['pull', '--json', '--cache', join(work, 'net-cache'), ref]);
    expect(j.code).toBe(3);
    const last = JSON.parse(j.stderr.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(last).toMatchObject({ type: 'error', name: 'RegistryError', family: 'registry', exitCode: 3 });
    expect(typeof last.code).toBe('string');
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Words of a one-line shell example: quotes kept together, a trailing # comment dropped. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /\s*(?:'([^']*)'|"([^"]*)"|(#.*$)|([^\s'"#]+))/y;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) && m[0].trim() !== '') {
    if (m[3] !== undefined) break;
    words.push(m[1] ?? m[2] ?? m[4]);
  }
  return words;
}
