// The Debian package record: which .debs went into an image built from Debian packages (a
// component or a kernel), stored in its image config as a label. The lockfile pins builds
// with it and the SBOM lists it; the shared contract is /tmp/helpers/RECORD.md.
import { z } from 'zod';
import { PkgError } from './errors.js';

export const DEBIAN_PACKAGES_LABEL = 'org.osbuild.debian.packages';

export const DebRecordSchema = z
  .object({
    package: z.string().min(1),
    version: z.string().min(1),
    /** The package's own Architecture field: the image's arch, or `all`. */
    architecture: z.string().min(1),
    /** Hex sha256 of the .deb, as the archive's Packages index lists it. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** The archive's base URL (what precedes `filename`), without a trailing slash. */
    archive: z.string().min(1),
    /** Path of the .deb in the archive (pool/...). */
    filename: z.string().min(1),
    /** SPDX expression from a machine-readable copyright file, when there is one. */
    license: z.string().min(1).optional(),
  })
  .strict();
export type DebRecord = z.infer<typeof DebRecordSchema>;

export const DebRecordsSchema = z.array(DebRecordSchema);

function compareRecords(a: DebRecord, b: DebRecord): number {
  const k = (r: DebRecord) => [r.package, r.architecture];
  const [x, y] = [k(a), k(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

/** The records sorted by (package, architecture), each package once (the first kept). */
export function sortRecords(records: readonly DebRecord[]): DebRecord[] {
  const seen = new Set<string>();
  const out: DebRecord[] = [];
  for (const r of [...records].sort(compareRecords)) {
    const key = `${r.package}\0${r.architecture}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(r);
  }
  return out;
}

/** The label's value: JSON text, keys in the schema's order, records sorted. */
export function recordsLabel(records: readonly DebRecord[]): string {
  return JSON.stringify(
    sortRecords(records).map((r) => ({
      package: r.package,
      version: r.version,
      architecture: r.architecture,
      sha256: r.sha256,
      archive: r.archive,
      filename: r.filename,
      ...(r.license !== undefined ? { license: r.license } : {}),
    })),
  );
}

/** The records an image config's labels carry: undefined without the label; throws on a malformed one. */
export function recordsOf(labels: Record<string, string> | undefined | null): DebRecord[] | undefined {
  const text = labels?.[DEBIAN_PACKAGES_LABEL];
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new PkgError('RECORD_INVALID', `label ${DEBIAN_PACKAGES_LABEL} is not JSON: ${(e as Error).message}`);
  }
  const r = DebRecordsSchema.safeParse(parsed);
  if (!r.success) throw new PkgError('RECORD_INVALID', `label ${DEBIAN_PACKAGES_LABEL} does not match its schema: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}
