// What `push-artifact`, `pull-artifact` and `build --push` show: a line per file on a terminal,
// progress only for big files, the referrer and the result always, nothing in quiet mode, and the
// events themselves as JSON lines for tools. And the command lines they refuse before any
// registry is asked (the registry side: test/oci/artifact/registry.test.ts).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { artifactLine, artifactReporter } from '../../src/cli/progress.js';
import type { ArtifactEvent } from '../../src/oci/artifact/events.js';

const d = `sha256:${'ab'.repeat(32)}`;
const ref = '127.0.0.1:5000/outputs/minimal:1';
const MiB = 1024 * 1024;

// One sample of every event type: the `satisfies` makes `tsc` fail here when a type is added.
const samples = {
  'artifact-start': { type: 'artifact-start', op: 'push', ref },
  'artifact-file-start': { type: 'artifact-file-start', ref, file: 'minimal.qcow2', digest: d, size: 900 * MiB },
  'artifact-file-progress': { type: 'artifact-file-progress', ref, file: 'minimal.qcow2', bytes: 450 * MiB, size: 900 * MiB },
  'artifact-file-done': { type: 'artifact-file-done', ref, file: 'minimal.qcow2', digest: d, size: 900 * MiB, how: 'uploaded' },
  'artifact-referrer': { type: 'artifact-referrer', ref, file: 'minimal.spdx.json', digest: d, artifactType: 'application/spdx+json', via: 'referrers-tag' },
  'artifact-retry': { type: 'artifact-retry', registry: '127.0.0.1:5000', what: 'upload of blob', attempt: 1, delayMs: 250, reason: 'HTTP 503' },
  'artifact-done': { type: 'artifact-done', op: 'push', ref, digest: d, artifactType: 'application/vnd.osbuild.qcow2-efi.v1', files: ['minimal.qcow2', 'minimal.spdx.json'] },
} satisfies { [K in ArtifactEvent['type']]: Extract<ArtifactEvent, { type: K }> };
const all = Object.values(samples) as ArtifactEvent[];

function shown(mode: 'human' | 'quiet' | 'json' | 'verbose', tty: boolean): string {
  let text = '';
  const r = artifactReporter(mode, { write: (s: string) => (text += s) }, tty);
  for (const e of all) r(e);
  return text;
}

describe('artifact progress', () => {
  it('on a terminal: the file with its progress and its end, the referrer, the result', () => {
    expect(shown('human', true)).toBe(
      [
        `pushing outputs to ${ref}`,
        '  minimal.qcow2: 450.0 MiB of 900.0 MiB (50%)',
        '  minimal.qcow2 900.0 MiB: uploaded',
        '  minimal.spdx.json attached as application/spdx+json (referrers tag)',
        '  127.0.0.1:5000: upload of blob: HTTP 503; retrying in 0.3 s',
        `${ref} → sha256:abababababab… (application/vnd.osbuild.qcow2-efi.v1, 2 files)`,
        '',
      ].join('\n'),
    );
  });

  it('in a log (no terminal): no per-file lines; quiet: nothing; --json: every event', () => {
    expect(shown('human', false)).not.toMatch(/minimal\.qcow2/);
    expect(shown('human', false)).toMatch(/attached as application\/spdx\+json/);
    expect(shown('quiet', true)).toBe('');
    expect(shown('json', false).trim().split('\n').map((l) => JSON.parse(l))).toEqual(all);
  });

  it('small files show no progress lines, even on a terminal', () => {
    expect(artifactLine({ ...samples['artifact-file-progress'], bytes: 2 * MiB, size: 4 * MiB }, { tty: true })).toBeUndefined();
    expect(artifactLine({ type: 'artifact-start', op: 'pull', ref })).toBe(`pulling ${ref}`);
  });
});

describe('push-artifact and build --push refuse bad command lines before any request', () => {
  let dir: string;
  // nothing listens on port 1: a request would fail with exit 3, not the codes expected here
  const ref = '127.0.0.1:1/outputs/x:1';
  const osbuild = (args: string[]) => execa('node', [MAIN, ...args], { env: { PATH: process.env.PATH!, HOME: '/nonexistent' }, extendEnv: false, reject: false });

  beforeAll(async () => {
    await ensureDist();
    dir = await mkdtemp(join(tmpdir(), 'osbuild-artifact-cli-'));
    await writeFile(join(dir, 'x-kernel'), 'not really a kernel');
  });

  it('usage errors exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['push-artifact', ref], /needs the files to push \(or --from DIR --name NAME\)/],
      [['push-artifact', ref, '--from', dir], /--from DIR needs --name NAME/],
      [['push-artifact', ref, join(dir, 'x-kernel'), '--from', dir, '--name', 'x'], /FILE\.\.\. or --from DIR, not both/],
      [['pull-artifact', ref, ref], /takes one REF/],
      [['push-artifact', '--arch', 'sparc', ref, join(dir, 'x-kernel')], /--arch sparc: expected amd64 or arm64/],
    ];
    for (const [args, message] of cases) {
      const r = await osbuild(args);
      expect([r.exitCode, r.stderr], args.join(' ')).toEqual([2, expect.stringMatching(message)]);
    }
  });

  it('files that are not there, a directory without the outputs, a name that is a path: exit 1', async () => {
    const missing = await osbuild(['push-artifact', ref, join(dir, 'x-kernel'), join(dir, 'x-initrd.img')]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(`${join(dir, 'x-initrd.img')}: no such file`);
    const none = await osbuild(['push-artifact', ref, '--from', dir, '--name', 'y']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain(`${dir} holds no outputs named y`);
    const path = await osbuild(['push-artifact', ref, '--from', dir, '--name', '../x']);
    expect(path.exitCode).toBe(1);
    expect(path.stderr).toMatch(/--name "\.\.\/x" cannot name output files/);
    const lock = await osbuild(['push-artifact', '--lock', join(dir, 'osbuild.lock'), ref, join(dir, 'x-kernel')]);
    expect(lock.exitCode).toBe(1);
    expect(lock.stderr).toMatch(/osbuild\.lock: no such file\n {2}hint: give the osbuild\.lock the outputs were built with/);
  });

  it('build --push with a reference that cannot be one fails before the build', async () => {
    const r = await osbuild(['build', '--push', 'Not A Ref', join(dir, 'no-such-blueprint.yml')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/Not A Ref/);
    expect(r.stderr).not.toMatch(/no-such-blueprint/);
  });
});
