// Test images made by real tools: each layer is a shell script run in an empty directory and
// archived by GNU tar (or a script that writes its own tar, for entries no sane directory can
// hold), assembled into an OCI layout by umoci.

import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export interface LayerScript {
  /** Runs with cwd = an empty directory that becomes the layer, unless it writes "$OUT" itself. */
  script: string;
  /** The script writes the layer tar to "$OUT" itself (for hostile entries). */
  raw?: boolean;
}

export interface ImageFixture {
  layout: string;
  tag: string;
}

export async function makeImage(opts: {
  tag?: string;
  arch?: 'amd64' | 'arm64';
  layers: LayerScript[];
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  labels?: Record<string, string>;
  layout?: string;
}): Promise<ImageFixture> {
  const work = await mkdtemp(join(tmpdir(), 'osbuild-img-'));
  const layout = opts.layout ?? join(work, 'layout');
  const tag = opts.tag ?? 'test';
  const image = `${layout}:${tag}`;
  if (!opts.layout) await execa('umoci', ['init', '--layout', layout]);
  await execa('umoci', ['new', '--image', image]);
  const cfg = ['config', '--image', image, '--architecture', opts.arch ?? 'amd64', '--os', 'linux', '--no-history'];
  for (const c of opts.cmd ?? []) cfg.push('--config.cmd', c);
  for (const e of opts.entrypoint ?? []) cfg.push('--config.entrypoint', e);
  for (const e of opts.env ?? []) cfg.push('--config.env', e);
  for (const [k, v] of Object.entries(opts.labels ?? {})) cfg.push('--config.label', `${k}=${v}`);
  if (cfg.length > 9 || opts.arch) await execa('umoci', cfg);
  for (let i = 0; i < opts.layers.length; i++) {
    const l = opts.layers[i];
    const dir = join(work, `l${i}`);
    const out = join(work, `l${i}.tar`);
    await mkdir(dir);
    await writeFile(join(work, `l${i}.sh`), `set -e\n${l.script}\n`);
    await execa('bash', [join(work, `l${i}.sh`)], { cwd: dir, env: { OUT: out } });
    if (!l.raw) {
      await execa('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--format=pax', '-C', dir, '-cf', out, '.']);
    }
    await execa('umoci', ['raw', 'add-layer', '--no-history', '--image', image, out]);
  }
  return { layout, tag };
}

/**
 * A kernel image with LinuxKit's `ucode` file: a 4 KiB stand-in kernel and a microcode cpio made
 * by GNU cpio (kernel/x86/microcode/GenuineIntel.bin), without a modules tarball.
 */
export function makeUcodeKernelImage(): Promise<ImageFixture> {
  return makeImage({
    tag: 'ucode',
    layers: [{ script: `
      head -c 4096 /dev/urandom > kernel
      mkdir -p u/kernel/x86/microcode && echo fake-microcode > u/kernel/x86/microcode/GenuineIntel.bin
      (cd u && find kernel | cpio -o -H newc --quiet) > ucode.cpio; rm -rf u` }],
  });
}
