// The SBOM's I/O: hash the files section's host files, make the documents (src/sbom/, pure),
// give the root its copies (/etc/osbuild/sbom.spdx.json, .cdx.json), and write NAME.spdx.json /
// NAME.cdx.json beside the outputs, each under a temporary name renamed into place.

import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { diskFullError, isNoSpace } from '../oci/space.js';
import { showName } from '../formats/names.js';
import type { PlainEntry } from '../rootfs/plan.js';
import type { ResolvedImage } from '../plan/images.js';
import { blueprintRefs } from '../plan/system.js';
import { SbomError } from '../sbom/errors.js';
import { DEBIAN_PACKAGES_LABEL, recordsOf, type DebRecord } from '../pkg/record.js';
import { sbomModel, type SbomFile, type SbomInputs } from '../sbom/model.js';
import { sbomFormat, type SbomFormat } from '../sbom/formats.js';
import { PACKAGE_ROOT } from './defaults.js';

export interface SbomDocument {
  format: SbomFormat;
  text: string;
}

let version: string | undefined;
function toolVersion(): string {
  return (version ??= (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
}

/** The regular files of the files section with their hashes (host files read here). */
export async function hashFiles(files: readonly PlainEntry[]): Promise<SbomFile[]> {
  const out: SbomFile[] = [];
  for (const f of files) {
    if (f.entry.type !== 'file') continue;
    const sha1 = createHash('sha1');
    const sha256 = createHash('sha256');
    if (f.content?.kind === 'host') {
      await pipeline(createReadStream(f.content.path), async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
          sha1.update(chunk);
          sha256.update(chunk);
        }
      });
    } else if (f.content?.kind === 'bytes') {
      sha1.update(f.content.data);
      sha256.update(f.content.data);
    }
    out.push({ path: f.entry.path, size: f.entry.size, sha1: sha1.digest('hex'), sha256: sha256.digest('hex') });
  }
  return out;
}

/** The .debs an image records in its org.osbuild.debian.packages label; [] when it has none. */
export function debRecords(img: ResolvedImage): DebRecord[] {
  try {
    return recordsOf(img.config.config?.Labels) ?? [];
  } catch (e) {
    const where = `image ${showName(img.ref)}, label ${DEBIAN_PACKAGES_LABEL}`;
    throw new SbomError(`${where}: ${(e as Error).message}`, { where, hint: 'rebuild the image with `osbuild pkg build`, or remove the label', cause: e });
  }
}

/** The documents of a build, in the order of `formats`. */
export async function sbomDocuments(
  inputs: Omit<SbomInputs, 'files' | 'toolVersion' | 'records'> & { files: readonly PlainEntry[] },
  formats: readonly SbomFormat['name'][],
): Promise<SbomDocument[]> {
  if (formats.length === 0) return [];
  // the blueprint's images only: boot images of media formats are not part of the system
  const records = new Map(blueprintRefs(inputs.blueprint).flatMap((ref) => {
    const img = inputs.images.get(ref);
    return img ? [[ref, debRecords(img)] as const] : [];
  }));
  const model = sbomModel({ ...inputs, records, toolVersion: toolVersion(), files: await hashFiles(inputs.files) });
  return formats.map((name) => {
    const format = sbomFormat(name);
    return { format, text: format.text(model) };
  });
}

/** The root's copies of the documents: files section entries, after the blueprint's own. */
export function sbomEntries(docs: readonly SbomDocument[], epoch: number): PlainEntry[] {
  return docs.map(({ format, text }) => {
    const data = Buffer.from(text, 'utf8');
    return {
      entry: { path: format.imagePath, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: epoch, size: data.length },
      content: { kind: 'bytes', data },
    };
  });
}

/** NAME.spdx.json (and/or NAME.cdx.json) in outDir, atomically; the final paths and sizes. */
export async function writeSbom(outDir: string, name: string, docs: readonly SbomDocument[], partialSuffix: string): Promise<{ path: string; bytes: number }[]> {
  const out: { path: string; bytes: number }[] = [];
  for (const { format, text } of docs) {
    const path = join(outDir, name + format.suffix);
    const tmp = path + partialSuffix;
    try {
      await writeFile(tmp, text);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      if (!isNoSpace(err)) throw err;
      throw await diskFullError(outDir, { what: `the SBOM ${showName(path)}`, written: 0, remedy: 'write the outputs elsewhere with -o DIR', cause: err });
    }
    out.push({ path, bytes: (await stat(path)).size });
  }
  return out;
}
