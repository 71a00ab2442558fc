// What `push-artifact`, `pull-artifact` and `build --push` show: a line per file on a terminal,
// progress only for big files, the referrer and the result always, nothing in quiet mode, and the
// events themselves as JSON lines for tools.
import { describe, expect, it } from 'vitest';
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
