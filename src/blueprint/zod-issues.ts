// Turning zod's issues into located, plainly worded blueprint issues: an unknown key is shown
// at the key with the nearest known key as a hint, a missing key at the mapping that lacks it,
// a wrong type at the value with what was written.
import { z } from 'zod';
import { formatPath, quote, quoteString, type BlueprintIssue } from './errors.js';
import { suggest } from './suggest.js';
import type { YamlSource } from './yaml-source.js';

type Seg = string | number;

export function zodIssuesToBlueprintIssues(
  issues: readonly z.core.$ZodIssue[],
  raw: unknown,
  schema: z.ZodType,
  src: YamlSource,
): BlueprintIssue[] {
  const out: BlueprintIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((s): s is Seg => typeof s !== 'symbol');
    const where = path.length ? formatPath(path) : 'the top level';
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(schema, path);
      const knownHint = known.length ? `known keys: ${known.map((k) => `\`${k}\``).join(', ')}` : undefined;
      const inWhere = path.length ? `in ${where}` : 'at the top level';
      for (const key of issue.keys) {
        const keyPath = [...path, key];
        const guess = suggest(key, known);
        out.push({
          ...src.locateKey(keyPath),
          path: formatPath(keyPath),
          message: `${key === '' ? 'empty key' : `unknown key \`${quote(key)}\``} ${inWhere}`,
          hint: guess ? `did you mean \`${guess}\`?` : knownHint,
        });
      }
      continue;
    }
    const value = valueAt(raw, path);
    if (issue.code === 'invalid_type' && value === undefined && path.length > 0) {
      const parent = path.slice(0, -1);
      const key = path[path.length - 1];
      out.push({
        ...src.locateValue(parent),
        path: formatPath(path),
        message: `missing required key \`${String(key)}\` ${parent.length ? `in ${formatPath(parent)}` : 'at the top level'}`,
      });
      continue;
    }
    const node = src.find(path).node;
    const written = src.sourceOf(node);
    let expected: string;
    let hint: string | undefined;
    if (issue.code === 'invalid_type') {
      expected = describeExpected(issue.expected);
      if (issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean') && written) {
        hint = `quote it to keep it as text: ${quoteString(written)}`;
      } else if (issue.expected === 'array' && value !== null && typeof value !== 'object') {
        hint = 'write a list, one item per line starting with `- `';
      }
    } else if (issue.code === 'invalid_value') {
      const values = issue.values.map((v) => String(v));
      expected = `one of ${values.map((v) => `\`${quote(v)}\``).join(', ')}`;
      const guess = typeof value === 'string' ? suggest(value, values) : undefined;
      if (guess) hint = `did you mean \`${guess}\`?`;
    } else if (issue.code === 'invalid_union') {
      expected = issue.message.replace(/^expected /, '');
    } else {
      out.push({ ...src.locateValue(path), path: formatPath(path), message: `${where}: ${issue.message}` });
      continue;
    }
    out.push({
      ...src.locateValue(path),
      path: formatPath(path),
      message: `${where}: expected ${expected}, got ${describeValue(value, written)}`,
      hint,
    });
  }
  return out;
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'string':
      return 'a string';
    case 'int':
    case 'number':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
      return 'a mapping (key: value)';
    default:
      return expected;
  }
}

function describeValue(value: unknown, written: string | undefined): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  // YAML 1.1 tags (!!timestamp, !!binary, !!set, !!omap) and unquoted dates make these
  if (value instanceof Date) return `a date${written ? ` (written \`${quote(written)}\`)` : ''}`;
  if (value instanceof Uint8Array) return 'binary data';
  if (value instanceof Set) return 'a set';
  if (value instanceof Map) return 'an ordered mapping';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${quoteString(value)}`;
  const shown = String(value);
  // YAML 1.1 (LinuxKit's dialect) reads 0644 as 420 and `yes` as true: say so.
  const asWritten = written && written !== shown ? ` (written \`${quote(written)}\`)` : '';
  return `${typeof value === 'boolean' ? 'the boolean' : 'the number'} ${shown}${asWritten}`;
}

function valueAt(raw: unknown, path: readonly Seg[]): unknown {
  let cur = raw;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg as string];
  }
  return cur;
}

/** The keys the schema allows in the object at `path` (for suggestions). */
export function keysAt(schema: z.ZodType, path: readonly Seg[]): string[] {
  let cur: z.ZodType | undefined = unwrap(schema);
  for (const seg of path) {
    if (cur instanceof z.ZodObject) cur = unwrap(cur.shape[seg as string] as z.ZodType | undefined);
    else if (cur instanceof z.ZodArray) cur = unwrap(cur.element as z.ZodType);
    else if (cur instanceof z.ZodRecord) cur = unwrap(cur.valueType as z.ZodType);
    else return [];
  }
  return cur instanceof z.ZodObject ? Object.keys(cur.shape) : [];
}

function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s;
}
