// Checks the schema cannot express: the rules LinuxKit only enforces late (while building, or
// at boot when runc refuses an id), brought forward to validation with a file:line:column.
// Pure: a Blueprint (with its origins) in, issues out.
import { formatPath, type BlueprintIssue } from './errors.js';
import { parseBind, parseCapabilities, parseMount, parseRlimit, parseTmpfs, type Parsed } from './image-options.js';
import { locate, pathOf } from './origin.js';
import { IMAGE_SECTIONS, type Blueprint, type FileSpec, type ImageSection, type ImageSpec } from './schema.js';
import { suggest } from './suggest.js';

// runc's rule for container ids; names become ids and bundle directory names.
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function issue(obj: object, key: string | number | undefined, message: string, hint?: string): BlueprintIssue {
  const loc = (key === undefined ? locate(obj) : locate(obj, key)) ?? { file: '<blueprint>', line: 0, column: 0 };
  const path = formatPath(key === undefined ? pathOf(obj) : pathOf(obj, key));
  return { ...loc, path, message: `${path}: ${message}`, ...(hint ? { hint } : {}) };
}

/** Checks one blueprint file on its own (no references to other files are resolved). */
export function checkBlueprint(bp: Blueprint): BlueprintIssue[] {
  const out: BlueprintIssue[] = [];
  if (bp.kernel) {
    // An empty kernel image is LinuxKit's "no kernel" (and does not override when merging).
    if (bp.kernel.image) checkRef(bp.kernel, 'image', out);
    bp.kernel.modules?.forEach((m, i) => {
      if (!/^[A-Za-z0-9_-]+$/.test(m)) {
        out.push(issue(bp.kernel!.modules!, i, `\`${m}\` is not a module name`, 'give the name modprobe uses, e.g. `virtio_net`'));
      }
    });
  }
  bp.init?.forEach((_, i) => checkRef(bp.init!, i, out));
  for (const section of IMAGE_SECTIONS) for (const img of bp[section] ?? []) checkImage(img, section, out);
  out.push(...checkUniqueServices(bp));
  const volumeNames = new Map<string, object>();
  for (const v of bp.volumes ?? []) {
    if (!CONTAINER_ID.test(v.name)) {
      out.push(issue(v, 'name', `volume name \`${v.name}\` is not valid`, 'use letters, digits, `_`, `.` and `-`, starting with a letter or digit'));
    } else if (volumeNames.has(v.name)) {
      out.push(issue(v, 'name', `duplicate volume name \`${v.name}\`${firstAt(volumeNames.get(v.name)!)}`));
    } else volumeNames.set(v.name, v);
    if (v.image !== undefined) checkRef(v, 'image', out);
  }
  for (const f of bp.files ?? []) checkFile(f, out);
  return out;
}

/**
 * Checks that need the whole (merged) blueprint: names used as uid/gid must be containers of it,
 * and kernel.modules needs the modules tarball.
 */
export function checkComplete(bp: Blueprint): BlueprintIssue[] {
  const out: BlueprintIssue[] = [];
  const names = IMAGE_SECTIONS.flatMap((s) => (bp[s] ?? []).map((i) => i.name));
  const checkId = (obj: object, key: string | number, v: unknown): void => {
    if (typeof v !== 'string' || v === '' || v === 'root' || names.includes(v)) return;
    const guess = suggest(v, names);
    out.push(
      issue(obj, key, `no container named \`${v}\` (a name here stands for the id allocated to that container)`,
        guess ? `did you mean \`${guess}\`?`
          : /^\d+$/.test(v) ? `write it without quotes to mean the number ${v}`
          : 'use a number, `root`, or the name of an onboot, onshutdown or service container'),
    );
  };
  for (const section of IMAGE_SECTIONS) {
    for (const img of bp[section] ?? []) {
      checkId(img, 'uid', img.uid);
      checkId(img, 'gid', img.gid);
      img.additionalGids?.forEach((g, i) => checkId(img.additionalGids!, i, g));
    }
  }
  for (const f of bp.files ?? []) {
    checkId(f, 'uid', f.uid);
    checkId(f, 'gid', f.gid);
  }
  out.push(...checkServiceOrder(bp));
  const k = bp.kernel;
  if (k?.modules && k.modules.length > 0 && k.tar === 'none') {
    out.push(issue(k, 'modules', 'modules are asked for but `kernel.tar` is `none`, so the kernel image provides no modules',
      'remove `tar: none` or `modules`'));
  }
  return out;
}

/** LinuxKit's rule: service names are unique (they run side by side); onboot and onshutdown
 *  entries run one at a time under numbered names, so repeats there are allowed. */
export function checkUniqueServices(bp: Blueprint): BlueprintIssue[] {
  const out: BlueprintIssue[] = [];
  const seen = new Map<string, object>();
  for (const s of bp.services ?? []) {
    const first = seen.get(s.name);
    if (first) {
      out.push(issue(s, 'name', `duplicate service name \`${s.name}\`${firstAt(first)}`, 'services run side by side and need distinct names'));
    } else seen.set(s.name, s);
  }
  return out;
}

/**
 * osbuild's `after`: every name is another service of the (merged) blueprint and the services
 * do not wait for each other in a circle (they would never start). The build runs this too.
 */
export function checkServiceOrder(bp: Blueprint): BlueprintIssue[] {
  const out: BlueprintIssue[] = [];
  const services = bp.services ?? [];
  const byName = new Map(services.map((s) => [s.name, s]));
  const others = IMAGE_SECTIONS.filter((s) => s !== 'services').flatMap((s) => (bp[s] ?? []).map((i) => [i.name, s] as const));
  for (const s of services) {
    s.after?.forEach((dep, i) => {
      if (dep === s.name) {
        out.push(issue(s.after!, i, `service \`${s.name}\` cannot wait for itself`, 'remove it from `after`'));
      } else if (!byName.has(dep)) {
        const other = others.find(([n]) => n === dep);
        const guess = suggest(dep, [...byName.keys()]);
        out.push(
          issue(s.after!, i, `no service named \`${dep}\``,
            other ? `\`${dep}\` is an ${other[1]} container: onboot containers all finish before any service starts, so there is nothing to wait for`
              : guess ? `did you mean \`${guess}\`?` : 'name services of this blueprint'),
        );
      }
    });
  }
  // Depth-first search; a service met again while still on the path closes a circle.
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const reported = new Set<string>();
  const visit = (name: string): void => {
    state.set(name, 'open');
    path.push(name);
    const svc = byName.get(name)!;
    for (const dep of svc.after ?? []) {
      if (dep === name || !byName.has(dep)) continue;
      if (state.get(dep) === 'open') {
        const circle = path.slice(path.indexOf(dep));
        const key = [...circle].sort().join(' ');
        if (!reported.has(key)) {
          reported.add(key);
          const steps = circle.map((n, i) => `\`${n}\` after \`${circle[(i + 1) % circle.length]}\``).join(', ');
          out.push(issue(svc.after!, svc.after!.indexOf(dep), `services wait for each other and none would start: ${steps}`, 'remove one of these `after` entries'));
        }
      } else if (!state.has(dep)) visit(dep);
    }
    path.pop();
    state.set(name, 'done');
  };
  for (const s of services) if (!state.has(s.name)) visit(s.name);
  return out;
}

/** Warnings: accepted for LinuxKit compatibility, but without effect in osbuild. */
export function blueprintWarnings(bp: Blueprint): BlueprintIssue[] {
  const out: BlueprintIssue[] = [];
  // A LinuxKit file stays a valid blueprint, but the build refuses these (src/plan/system.ts).
  for (const section of IMAGE_SECTIONS) {
    for (const img of bp[section] ?? []) {
      for (const key of UNSUPPORTED_RUNTIME_KEYS) {
        if (img.runtime && runtimeKeySet(img.runtime[key])) {
          out.push(issue(img.runtime, key, `runtime.${key} is not supported by osbuild's init yet: \`osbuild build\` refuses it (the init applies runtime.mkdir, runtime.mounts and runtime.cgroups only)`));
        }
      }
    }
  }
  if (bp.trust && ((bp.trust.image?.length ?? 0) > 0 || (bp.trust.org?.length ?? 0) > 0)) {
    out.push(issue(bp.trust, undefined, 'Docker Content Trust is not used: osbuild pins every image by digest and verifies every blob instead'));
  }
  return out;
}

function firstAt(first: object): string {
  const loc = locate(first, 'name');
  return loc && loc.line > 0 ? ` (first defined at ${loc.file}:${loc.line}:${loc.column})` : '';
}

function checkRef(obj: object, key: string | number, out: BlueprintIssue[]): void {
  const ref = (obj as Record<string | number, unknown>)[key] as string;
  if (ref === '') out.push(issue(obj, key, 'empty image reference'));
  else if (/\s/.test(ref)) out.push(issue(obj, key, `image reference \`${ref}\` contains white space`));
}

// Keys of the `runtime` section osbuild's init does not act on (yet): the build refuses them
// rather than ignore them, since a container relying on them would misbehave only at boot.
export const UNSUPPORTED_RUNTIME_KEYS = ['interfaces', 'bindNS', 'namespace'] as const;

/** Whether a `runtime` key asks for something (an empty list or blank names ask for nothing). */
export function runtimeKeySet(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'string') return v !== '';
  if (v !== null && typeof v === 'object') return Object.values(v).some((x) => typeof x === 'string' && x !== '');
  return false;
}

function checkImage(img: ImageSpec, section: ImageSection, out: BlueprintIssue[]): void {
  if (!CONTAINER_ID.test(img.name)) {
    out.push(issue(img, 'name', `\`${img.name}\` is not a valid container name`, 'use letters, digits, `_`, `.` and `-`, starting with a letter or digit'));
  }
  checkRef(img, 'image', out);
  if (section !== 'services') {
    for (const key of ['restart', 'after'] as const) {
      if (img[key] === undefined) continue;
      out.push(issue(img, key, `\`${key}\` applies to services only: ${section} containers run once each, one after the other`,
        'remove it, or make this container a service'));
    }
  }
  // The vocabulary (image-options.ts) says what is wrong with an entry; here it gets its place.
  const report = (list: object, index: number, parsed: Parsed<unknown>): void => {
    if (parsed.problem) out.push(issue(list, index, parsed.problem.message, parsed.problem.hint));
  };
  for (const key of ['capabilities', 'capabilities.add', 'ambient'] as const) {
    const caps = img[key];
    if (!caps) continue;
    for (const p of parseCapabilities(caps, key).problems ?? []) out.push(issue(caps, p.index, p.message, p.hint));
  }
  for (const key of ['binds', 'binds.add'] as const) img[key]?.forEach((b, i) => report(img[key]!, i, parseBind(b)));
  img.tmpfs?.forEach((t, i) => report(img.tmpfs!, i, parseTmpfs(t)));
  img.rlimits?.forEach((r, i) => report(img.rlimits!, i, parseRlimit(r)));
  const checkMounts = (mounts: ImageSpec['mounts']): void => mounts?.forEach((m, i) => report(mounts, i, parseMount(m)));
  checkMounts(img.mounts);
  checkMounts(img.runtime?.mounts);
  const ids: [object, string | number, unknown][] = [
    [img, 'uid', img.uid],
    [img, 'gid', img.gid],
    ...(img.additionalGids ?? []).map((g, i): [object, number, unknown] => [img.additionalGids!, i, g]),
  ];
  for (const [obj, key, v] of ids) checkNumericId(obj, key, v, out);
}

function checkNumericId(obj: object, key: string | number, v: unknown, out: BlueprintIssue[]): void {
  if (typeof v === 'number' && (v < 0 || v > 0xffffffff)) out.push(issue(obj, key, `id ${v} is out of range (0 to 4294967295)`));
}

// LinuxKit's rules for a files entry: what it is comes from exactly one of contents, source,
// metadata, symlink or directory (LinuxKit silently prefers directory over symlink over
// contents; such an entry is contradictory, so it is refused here).
function checkFile(f: FileSpec, out: BlueprintIssue[]): void {
  if (f.path === '' || f.path === '/') out.push(issue(f, 'path', 'a file needs a path'));
  const kinds = (['contents', 'source', 'metadata', 'symlink', 'directory'] as const).filter((k) =>
    k === 'directory' ? f.directory === true : k === 'symlink' ? !!f.symlink : f[k] !== undefined,
  );
  if (kinds.length === 0) {
    out.push(issue(f, undefined, `file ${f.path} has no content`, 'give one of `contents`, `source`, `metadata`, `symlink` or `directory: true`'));
  } else if (kinds.length > 1) {
    out.push(issue(f, kinds[1], `file ${f.path} has both \`${kinds[0]}\` and \`${kinds[1]}\``, 'give only one of them'));
  }
  if (f.metadata !== undefined && f.metadata !== 'json' && f.metadata !== 'yaml') {
    out.push(issue(f, 'metadata', `metadata \`${f.metadata}\` is neither \`json\` nor \`yaml\``));
  }
  if (f.mode !== undefined && !(/^[0-7]{1,5}$/.test(f.mode) && parseInt(f.mode, 8) <= 0o7777)) {
    out.push(issue(f, 'mode', `mode \`${f.mode}\` is not an octal permission mode`, 'write it quoted, e.g. mode: "0644"'));
  }
  checkNumericId(f, 'uid', f.uid, out);
  checkNumericId(f, 'gid', f.gid, out);
}
