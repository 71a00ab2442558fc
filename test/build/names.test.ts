// A layer with hostile names, built by the real CLI into kernel+initrd and tar: names that are not
// UTF-8 survive as distinct files with their exact bytes (GNU tar and GNU cpio read them back),
// and nothing a name holds reaches the terminal raw: no escape sequence, no forged error line.

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { makeImage } from '../helpers/oci-image.js';

const NL = Buffer.from('\n');
const raw = (s: string) => Buffer.from(s, 'latin1');

// The names the layer carries (bytes), and the content each file holds.
const FILES: [Buffer, string][] = [
  [raw('a\xff'), 'ff\n'],
  [raw('a\xfe'), 'fe\n'],
  [raw('esc\x1b]0;pwned\x07'), 'esc\n'],
  [raw('nl\nerror: forged'), 'nl\n'],
  [raw('c1\xc2\x9b'), 'c1\n'], // U+009B, the one-character CSI
];
// `../` makes flatten warn about it (and keep it inside the root as up...): a warning that must show the name escaped.
const CLIMBER = raw('../up\x1b]0;pwned\x07\nerror: forged\x9b');
const KEPT = raw('up\x1b]0;pwned\x07\nerror: forged\x9b');

const LAYER = `python3 - <<'EOF'
import io, os, tarfile
def add(t, name, data, mode=0o644):
    i = tarfile.TarInfo(name.decode('utf-8', 'surrogateescape'))
    i.size, i.mtime, i.mode = len(data), 0, mode
    t.addfile(i, io.BytesIO(data))
with tarfile.open(os.environ['OUT'], 'w', format=tarfile.PAX_FORMAT, encoding='utf-8', errors='surrogateescape') as t:
    add(t, b'init', b'#!/bin/sh\\n', 0o755)
${FILES.map(([n, c]) => `    add(t, bytes.fromhex('${n.toString('hex')}'), b'${c.replace('\n', '\\n')}')`).join('\n')}
    add(t, bytes.fromhex('${CLIMBER.toString('hex')}'), b'up\\n')
EOF`;

let work: string;
let run: { code: number; stdout: Buffer; stderr: Buffer };
let json: { code: number; stdout: Buffer; stderr: Buffer };

async function osbuild(args: string[]) {
  const r = await execa('node', [MAIN, ...args], { cwd: work, reject: false, encoding: 'buffer', env: { XDG_CACHE_HOME: join(work, 'xdg'), OSBUILD_DEBUG: '' } });
  return { code: r.exitCode ?? -1, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr) };
}

beforeAll(async () => {
  await ensureDist();
  work = await mkdtemp(join(tmpdir(), 'osbuild-names-'));
  const cache = join(work, 'cache');
  const kern = await makeImage({ layers: [{ script: 'echo "not really a kernel" > kernel' }] });
  const init = await makeImage({ layers: [{ script: LAYER, raw: true }] });
  for (const [ref, img] of [['example/kern:1.0', kern], ['example/hostile:1.0', init]] as const) {
    const r = await osbuild(['cache', 'import', '--ref', ref, img.layout, '--cache', cache]);
    expect(r.code, r.stderr.toString()).toBe(0);
  }
  await writeFile(join(work, 'sys.yml'), 'kernel:\n  image: example/kern:1.0\n  cmdline: console=ttyS0\ninit:\n  - example/hostile:1.0\n');
  run = await osbuild(['build', 'sys.yml', '-f', 'kernel+initrd', '-f', 'tar', '--arch', 'amd64', '--cache', cache]);
  json = await osbuild(['build', 'sys.yml', '-f', 'tar', '--json', '--arch', 'amd64', '--cache', cache, '-o', 'json-out']);
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A listing (names separated by newlines) holds `name` as one whole entry. */
function lists(listing: Buffer, name: Buffer): boolean {
  return Buffer.concat([NL, listing, NL]).includes(Buffer.concat([NL, name, NL]));
}

describe('a layer with hostile names', () => {
  it('builds, and every file survives with its exact bytes in the tar (GNU tar) and the initrd (GNU cpio)', async () => {
    expect(run.code, run.stderr.toString()).toBe(0);
    const tarList = Buffer.from((await execa('tar', ['--quoting-style=literal', '-tf', join(work, 'out/sys.tar')], { encoding: 'buffer' })).stdout);
    const cpioList = Buffer.from((await execa('sh', ['-c', `gzip -dc ${join(work, 'out/sys-initrd.img')} | cpio -it --quiet`], { encoding: 'buffer' })).stdout);
    for (const name of [...FILES.map(([n]) => n), KEPT]) {
      expect(lists(tarList, name), `tar: ${name.toString('hex')}`).toBe(true);
      expect(lists(cpioList, name), `cpio: ${name.toString('hex')}`).toBe(true);
    }
    // the two names a UTF-8 decoder would merge are two files, each with its own content
    for (const [what, cmd] of [
      ['tar', `tar -xf ${join(work, 'out/sys.tar')}`],
      ['cpio', `gzip -dc ${join(work, 'out/sys-initrd.img')} | cpio -id --quiet`],
    ]) {
      const dir = join(work, `x-${what}`);
      await mkdir(dir);
      await execa('sh', ['-c', cmd], { cwd: dir });
      const names = (await readdir(dir, { encoding: 'buffer' })).map((n) => n.toString('hex'));
      for (const [name, content] of FILES) {
        expect(names, `${what}: ${name.toString('hex')}`).toContain(name.toString('hex'));
        expect(await readFile(Buffer.concat([Buffer.from(dir + '/'), name]), 'utf8')).toBe(content);
      }
    }
  });

  it('writes no control character to the terminal and no line a name forged; the warning shows the name escaped', () => {
    for (const [stream, bytes] of [['stdout', run.stdout], ['stderr', run.stderr], ['json stdout', json.stdout], ['json stderr', json.stderr]] as const) {
      expect(bytes.includes(0x1b), stream).toBe(false);
      expect(bytes.includes(0x07), stream).toBe(false);
      // eslint-disable-next-line no-control-regex
      expect(bytes.toString('utf8'), stream).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      for (const line of bytes.toString('utf8').split('\n')) expect(line, stream).not.toMatch(/^error:/);
    }
    const lines = run.stderr.toString('utf8').split('\n');
    expect(lines.filter((l) => l.startsWith('osbuild: warning: '))).toEqual([
      expect.stringContaining('entry ../up\\e]0;pwned\\x07\\nerror: forged\\x9b climbs out of its root; kept inside as up\\e]0;pwned\\x07\\nerror: forged\\x9b'),
    ]);
    expect(run.stdout.toString().split('\n')).toEqual(['sys-kernel', 'sys-initrd.img', 'sys-cmdline', 'sys.tar', 'sys.spdx.json'].map((f) => join(work, 'out', f)));
  });

  it('--json: every line parses, and the warning event carries the escaped name', () => {
    expect(json.code, json.stderr.toString()).toBe(0);
    const events = json.stderr.toString('utf8').split('\n').map((l) => JSON.parse(l) as { type: string; message?: string });
    const warnings = events.filter((e) => e.type === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toContain('up\\e]0;pwned\\x07\\nerror: forged\\x9b');
  });
});
