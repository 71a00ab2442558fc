// A build's outputs as the files of an OCI artifact (oci/artifact pushes them): those of a build
// just made (`osbuild build --push`), or those an earlier build left in a directory under a name
// (`osbuild push-artifact --from DIR --name NAME`), told apart by the format table's file names.
// SBOMs a build writes beside its outputs (NAME.spdx.json, NAME.cdx.json) come along and are
// attached as referrers; the lock beside the first blueprint gives its digest.
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Arch } from '../arch.js';
import { ArtifactError } from '../oci/artifact/errors.js';
import { pushArtifact, type ArtifactInput, type PushArtifactOptions, type PushArtifactResult } from '../oci/artifact/push.js';
import { showName } from '../formats/names.js';
import { detectKernelArch } from '../run/artifacts.js';
import type { BuildResult } from './build.js';
import { FORMATS } from './outputs.js';
import { LOCK_FILE } from './lock.js';

/** The lock file a build reads beside its first blueprint. */
const SBOM_ENDINGS = ['.spdx.json', '.cdx.json'];

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/** The SBOMs of output `name` present in `dir`. */
async function sbomsIn(dir: string, name: string): Promise<ArtifactInput[]> {
  const out: ArtifactInput[] = [];
  for (const ending of SBOM_ENDINGS) if (await isFile(join(dir, name + ending))) out.push({ path: join(dir, name + ending) });
  return out;
}

/**
 * The outputs named `name` in `dir`: the files of every format all of whose files are there. A
 * format whose files are a part of another's found there (kernel+initrd in a kernel+squashfs
 * output) is not counted; a file two formats write alike (NAME.vhd: vhd or dynamic-vhd) is pushed
 * without a format.
 */
export async function findOutputs(dir: string, name: string): Promise<{ inputs: ArtifactInput[]; formats: string[] }> {
  const present: { format: string; files: string[] }[] = [];
  for (const f of FORMATS) {
    const files = f.files(name);
    if ((await Promise.all(files.map((x) => isFile(join(dir, x))))).every(Boolean)) present.push({ format: f.name, files });
  }
  const found = present.filter((p) => !present.some((q) => q !== p && q.files.length > p.files.length && p.files.every((x) => q.files.includes(x))));
  if (found.length === 0) {
    throw new ArtifactError('ENOOUTPUTS', `${showName(dir)} holds no outputs named ${showName(name)} (no format's files are all there)`, {
      where: dir,
      hint: 'give the name the build used (--name, the blueprint\'s name:, or its file name), or list the files',
    });
  }
  const owners = new Map<string, string[]>();
  for (const p of found) for (const x of p.files) owners.set(x, [...(owners.get(x) ?? []), p.format]);
  const inputs: ArtifactInput[] = [...owners].map(([x, fmts]) => ({ path: join(dir, x), ...(fmts.length === 1 ? { format: fmts[0] } : {}) }));
  const formats = [...new Set(found.map((p) => p.format))];
  return { inputs: [...inputs, ...(await sbomsIn(dir, name))], formats };
}

/** The architecture of outputs that hold a kernel, read from it; undefined when none does. */
export async function outputsArch(inputs: readonly ArtifactInput[]): Promise<Arch | undefined> {
  const kernel = inputs.find((i) => i.path.endsWith('-kernel'));
  return kernel ? detectKernelArch(kernel.path) : undefined;
}

/**
 * Pushes what `build` wrote (and the SBOMs beside it) to `dest` as one artifact, with the build's
 * name and arch, and the digest of the lock beside `blueprintFiles[0]` when there is one.
 */
export async function pushBuildOutputs(result: BuildResult, blueprintFiles: string[], dest: string, opts: Omit<PushArtifactOptions, 'name' | 'arch' | 'lockFile' | 'version'> = {}): Promise<PushArtifactResult> {
  const inputs: ArtifactInput[] = result.outputs.flatMap((o) => o.files.map((f) => ({ path: f.path, format: o.format })));
  const outDir = inputs.length > 0 ? dirname(inputs[0].path) : undefined;
  if (outDir) for (const s of await sbomsIn(outDir, result.plan.name)) if (!inputs.some((i) => i.path === s.path)) inputs.push(s);
  const lock = blueprintFiles.length > 0 ? join(dirname(resolve(blueprintFiles[0])), LOCK_FILE) : undefined;
  return pushArtifact(inputs, dest, {
    ...opts,
    name: result.plan.name,
    arch: result.plan.arch,
    ...(result.plan.slots ? { version: result.plan.slots.version } : {}),
    ...(lock !== undefined && (await isFile(lock)) ? { lockFile: lock } : {}),
  });
}
