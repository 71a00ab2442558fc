// The component spec (components/<name>/build.yml): what a component image is made of.
// Parsed with positions so that every error names file:line:col.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { ARCH_NAMES } from '../arch.js';
import { PkgError } from './errors.js';

export const SPEC_FILE = 'build.yml';

const Octal = z
  .string()
  .regex(/^0?[0-7]{3,4}$/, 'expected an octal mode string such as "0755"')
  .transform((s) => parseInt(s, 8));

const ImagePath = z
  .string()
  .min(2)
  .regex(/^\//, 'expected an absolute path in the image, such as /etc/hostname')
  .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'no "." or ".." segments allowed');

export const PackageSelection = z.strictObject({
  /** Debian package for the target arch; {arch}, {triplet} and {uname} are expanded. */
  package: z.string().regex(/^[a-z0-9][a-z0-9+.{}-]*$/, 'expected a Debian package name'),
  /** Globs over the paths of the .deb's data; default: everything. */
  paths: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Also add the package's dependency closure for the target arch (Pre-Depends + Depends,
   * recursively, see closure.ts), all their files but documentation. `paths` narrows only the
   * named package. A package the spec names itself is taken as the spec says, not again.
   */
  depends: z.boolean().optional(),
});
export type PackageSelection = z.infer<typeof PackageSelection>;

export const FileItem = z
  .strictObject({
    path: ImagePath,
    source: z.string().min(1).optional(),
    contents: z.string().optional(),
    directory: z.literal(true).optional(),
    symlink: z.string().min(1).optional(),
    mode: Octal.optional(),
    uid: z.number().int().nonnegative().optional(),
    gid: z.number().int().nonnegative().optional(),
  })
  .superRefine((f, ctx) => {
    const kinds = (['source', 'contents', 'directory', 'symlink'] as const).filter((k) => f[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `a file needs exactly one of source, contents, directory, symlink (got ${kinds.join(', ') || 'none'})`,
      });
    }
  });
export type FileItem = z.infer<typeof FileItem>;

/** The runtime part of the OCI image config that a component may set. */
export const RuntimeConfig = z.strictObject({
  Entrypoint: z.array(z.string()).optional(),
  Cmd: z.array(z.string()).optional(),
  Env: z.array(z.string().regex(/^[^=]+=/, 'expected NAME=value')).optional(),
  WorkingDir: z.string().optional(),
  User: z.string().optional(),
  StopSignal: z.string().optional(),
  Labels: z.record(z.string(), z.string()).optional(),
});
export type RuntimeConfig = z.infer<typeof RuntimeConfig>;

/**
 * A kernel component: `package` (often a metapackage such as linux-image-cloud-{arch}, resolved
 * to the versioned image package it depends on) becomes LinuxKit's kernel image layout:
 * /kernel, /kernel.tar (lib/modules/<kver>/... with a generated modules.dep) and /config.
 */
export const KernelSection = z.strictObject({
  package: z.string().min(1),
  /** Globs over module paths relative to lib/modules/<kver>/ (e.g. kernel/fs/**); their dependencies are added. Default: all. */
  modules: z.array(z.string().min(1)).min(1).optional(),
});
export type KernelSection = z.infer<typeof KernelSection>;

export const ComponentSpecSchema = z.strictObject({
  image: z.string().regex(/^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9._-]+)*$/, 'expected a repository such as osbuild/runc'),
  tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'expected a tag such as "0.1.0" (quote it in YAML)'),
  arches: z.array(z.enum(ARCH_NAMES)).min(1).default([...ARCH_NAMES]),
  packages: z.array(PackageSelection).default([]),
  files: z.array(FileItem).default([]),
  config: RuntimeConfig.default({}),
  moby: z.record(z.string(), z.unknown()).optional(),
  kernel: KernelSection.optional(),
});

export type ComponentSpec = z.infer<typeof ComponentSpecSchema> & {
  /** The component folder (absolute). */
  dir: string;
  /** image:tag as written; normalize with normalizeRef() from oci/ref. */
  ref: string;
};

export interface SpecIssue {
  file: string;
  line: number;
  col: number;
  message: string;
}

function nodeAt(doc: Document, p: PropertyKey[]): Node | undefined {
  // Walk down as far as the path exists: a missing key is reported at its parent.
  for (let i = p.length; i >= 0; i--) {
    const n = i === 0 ? doc.contents : doc.getIn(p.slice(0, i) as (string | number)[], true);
    if (n && typeof n === 'object' && 'range' in n) return n as Node;
  }
  return undefined;
}

function keyNode(doc: Document, p: PropertyKey[], key: string): Node | undefined {
  const parent = p.length === 0 ? doc.contents : doc.getIn(p as (string | number)[], true);
  if (isMap(parent)) {
    for (const pair of parent.items) {
      if (isScalar(pair.key) && String(pair.key.value) === key) return pair.key;
    }
  }
  return undefined;
}

function position(lc: LineCounter, node: Node | undefined): { line: number; col: number } {
  const offset = node?.range?.[0] ?? 0;
  return lc.linePos(offset);
}

export function formatIssues(issues: SpecIssue[]): string {
  return issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.message}`).join('\n');
}

/** Parse and validate a spec's text; `file` is only used in messages. */
export function parseComponentSpec(text: string, file: string, dir: string): ComponentSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => {
      const { line, col } = lc.linePos(e.pos[0]);
      return { file, line, col, message: e.message.split('\n')[0] };
    });
    throw new PkgError('SPEC_SYNTAX', `${formatIssues(issues)}\n(fix the YAML syntax)`, issues);
  }
  const result = ComponentSpecSchema.safeParse(doc.toJS());
  if (!result.success) {
    const issues: SpecIssue[] = [];
    for (const issue of result.error.issues) {
      const where = issue.path.length ? ` (at ${issue.path.join('.')})` : '';
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const { line, col } = position(lc, keyNode(doc, issue.path, key) ?? nodeAt(doc, issue.path));
          issues.push({ file, line, col, message: `unknown key "${key}"${where}` });
        }
      } else {
        const { line, col } = position(lc, nodeAt(doc, issue.path));
        issues.push({ file, line, col, message: `${issue.message}${where}` });
      }
    }
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new PkgError('SPEC_INVALID', formatIssues(issues), issues);
  }
  const spec = result.data;
  return { ...spec, dir, ref: `${spec.image}:${spec.tag}` };
}

export async function loadComponent(dir: string): Promise<ComponentSpec> {
  const abs = path.resolve(dir);
  const file = path.join(abs, SPEC_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PkgError('SPEC_NOT_FOUND', `${file}: no component spec here (a component folder holds a ${SPEC_FILE})`);
    }
    throw e;
  }
  return parseComponentSpec(text, file, abs);
}
