/**
 * config.json text: 4-space indented JSON (as LinuxKit writes it) with a final newline.
 * Integers beyond 2^53 (an "unlimited" rlimit) are written exactly, which JSON.stringify cannot.
 */
export function runtimeSpecJson(value: unknown): string {
  return `${toJson(value, '')}\n`;
}

function toJson(v: unknown, indent: string): string {
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v);
    if (s === undefined) throw new TypeError(`cannot write ${typeof v} as JSON`);
    return s;
  }
  const inner = `${indent}    `;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => inner + toJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${toJson(x, inner)}`).join(',\n')}\n${indent}}`;
}
