// What a build is made of, for its SBOM: the images the blueprint names (by reference and
// manifest digest), the Debian packages each of them records (its org.osbuild.debian.packages
// label), the kernel, and the regular files of the blueprint's files section (by hash). It lists
// what the system is made of, never the outputs: the SBOM is itself a file of the root, so it
// cannot hold the hash of an image it is inside. Boot images of media formats (isolinux, the EFI
// stub) are left out for the same reason: the root, and so its SBOM, is one for every format.
// Pure; build/sbom.ts reads the package records and the host files, and writes the documents
// (spdx.ts, cyclonedx.ts).

import { createHash } from 'node:crypto';
import type { Arch } from '../arch.js';
import type { Blueprint } from '../blueprint/schema.js';
import { showName } from '../formats/names.js';
import { formatRef, parseRef } from '../oci/ref.js';
import type { ImageUse } from '../plan/plan.js';
import type { ResolvedImage } from '../plan/images.js';
import type { DebRecord } from '../pkg/record.js';
import { kernelPaths, topmostLayerWith } from '../plan/system.js';
import { SbomError } from './errors.js';

export interface SbomImage {
  /** The reference as the blueprint writes it, and its full form (registry/repository:tag). */
  ref: string;
  fullRef: string;
  /** The manifest digest the reference was resolved to for this build's arch. */
  digest: string;
  uses: ImageUse[];
  /** Indexes into SbomModel.packages, sorted. */
  packages: number[];
}

export interface SbomKernel {
  /** Index into SbomModel.images. */
  image: number;
  /** The kernel binary's path in the image, and the layer holding it. */
  binary: string;
  layer: string;
  /** The kernel release (uname -r) when known: the modules' folder, or the linux-image package. */
  release?: string;
}

export interface SbomFile {
  path: string;
  size: number;
  sha1: string;
  sha256: string;
}

export interface SbomModel {
  name: string;
  arch: Arch;
  /** SOURCE_DATE_EPOCH as ISO 8601 UTC, to the second. */
  created: string;
  tool: { name: string; version: string };
  images: SbomImage[];
  /** The .debs of all images, each once, sorted by (name, architecture, version, sha256). */
  packages: DebRecord[];
  kernel?: SbomKernel;
  files: SbomFile[];
  /** sha256 of everything above: document names and serial numbers derive from it. */
  inputHash: string;
}

export interface SbomInputs {
  name: string;
  arch: Arch;
  epoch: number;
  toolVersion: string;
  blueprint: Blueprint;
  images: ReadonlyMap<string, ResolvedImage>;
  /** The .debs each image records, by reference (none: not built from Debian packages). */
  records: ReadonlyMap<string, readonly DebRecord[]>;
  /** The regular files of the files section, hashed (build/sbom.ts). */
  files: SbomFile[];
  /** The kernel release from modules.dep, when the build read it. */
  kernelRelease?: string;
}

/** The SBOM model of a build. Pure. */
export function sbomModel(inputs: SbomInputs): SbomModel {
  const { blueprint: b } = inputs;
  const order: string[] = [];
  const uses = new Map<string, ImageUse[]>();
  const use = (ref: string, u: ImageUse) => {
    if (!uses.has(ref)) {
      uses.set(ref, []);
      order.push(ref);
    }
    const list = uses.get(ref)!;
    if (!list.includes(u)) list.push(u);
  };
  if (b.kernel?.image) use(b.kernel.image, 'kernel');
  for (const ref of b.init ?? []) use(ref, 'init');
  for (const s of ['onboot', 'onshutdown', 'services'] as const) for (const i of b[s] ?? []) use(i.image, s);

  const resolved = (ref: string) => {
    const img = inputs.images.get(ref);
    if (!img) throw new SbomError(`image ${showName(ref)} was not resolved`);
    return img;
  };
  const key = (d: DebRecord) => `${d.package}\0${d.architecture}\0${d.version}\0${d.sha256}`;
  const all = new Map<string, DebRecord>();
  const perImage = order.map((ref) => {
    const recs = inputs.records.get(ref) ?? [];
    for (const r of recs) if (!all.has(key(r))) all.set(key(r), r);
    return recs;
  });
  const packages = [...all.values()].sort((x, y) => cmp(x.package, y.package) || cmp(x.architecture, y.architecture) || cmp(x.version, y.version) || cmp(x.sha256, y.sha256));
  const index = new Map(packages.map((p, i) => [key(p), i]));
  const images: SbomImage[] = order.map((ref, i) => ({
    ref,
    fullRef: formatRef(parseRef(ref)),
    digest: resolved(ref).manifestDigest,
    uses: uses.get(ref)!,
    packages: [...new Set(perImage[i].map((r) => index.get(key(r))!))].sort((x, y) => x - y),
  }));

  let kernel: SbomKernel | undefined;
  if (b.kernel?.image) {
    const img = resolved(b.kernel.image);
    const binary = kernelPaths(b).binary;
    const found = topmostLayerWith(img, binary);
    if (found) {
      const linux = images[0].packages.map((i) => /^linux-image-(\d\S*)$/.exec(packages[i].package)?.[1]).find((r) => r !== undefined);
      kernel = { image: 0, binary, layer: found.layer.digest, ...(inputs.kernelRelease ?? linux ? { release: inputs.kernelRelease ?? linux } : {}) };
    }
  }

  const body = {
    name: inputs.name,
    arch: inputs.arch,
    created: new Date(inputs.epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    tool: { name: 'osbuild', version: inputs.toolVersion },
    images,
    packages,
    ...(kernel ? { kernel } : {}),
    files: inputs.files,
  };
  return { ...body, inputHash: createHash('sha256').update(canonicalJson(body)).digest('hex') };
}

/** JSON with object keys sorted at every level: one text for one value. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => cmp(a, b));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ------------------------------------------------------------------ package URLs (purl)

// purl components are percent-encoded; a version keeps ':' and '+' as they are (Debian epochs
// and revisions, OCI digests), as the purl reference implementation writes its canonical form.
const enc = (s: string) => encodeURIComponent(s).replace(/~/g, '%7E');
const encName = (s: string) => encodeURIComponent(s);
const encVersion = (s: string) => encodeURIComponent(s).replace(/%3A/g, ':').replace(/%2B/g, '+');

function purl(type: string, namespace: string | undefined, name: string, version: string, qualifiers: Record<string, string | undefined>): string {
  const q = Object.entries(qualifiers)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .sort(([a], [b]) => cmp(a, b))
    .map(([k, v]) => `${k}=${enc(v)}`)
    .join('&');
  return `pkg:${type}/${namespace ? `${encName(namespace)}/` : ''}${encName(name)}@${encVersion(version)}${q ? `?${q}` : ''}`;
}

/** pkg:deb/debian/NAME@VERSION?arch=ARCH */
export function debPurl(d: DebRecord): string {
  return purl('deb', 'debian', d.package, d.version, { arch: d.architecture });
}

/** pkg:oci/NAME@DIGEST?arch=..&repository_url=REGISTRY/REPOSITORY&tag=TAG */
export function ociPurl(image: SbomImage, arch: Arch): string {
  const r = parseRef(image.fullRef);
  const name = r.repository.slice(r.repository.lastIndexOf('/') + 1);
  return purl('oci', undefined, name, image.digest, { arch, repository_url: `${r.registry}/${r.repository}`, tag: r.tag });
}

/** Where a .deb was downloaded from, when its record says. */
export function debLocation(d: DebRecord): string | undefined {
  return d.archive && d.filename ? `${d.archive.replace(/\/+$/, '')}/${d.filename}` : undefined;
}

/** A UUID of version 5 (RFC 4122: SHA-1 of a namespace and a name), here the URL namespace and `name`. */
export function uuidV5(name: string): string {
  const URL_NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const h = createHash('sha1').update(URL_NAMESPACE).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The document's unique URI: https://osbuild.dev/spdx/NAME-<input hash>. */
export function documentNamespace(m: SbomModel): string {
  return `https://osbuild.dev/spdx/${encodeURIComponent(m.name)}-${m.inputHash}`;
}
