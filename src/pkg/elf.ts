// Just enough ELF to read a kernel module's .modinfo section (key=value strings separated by
// NULs): `depends=` names the modules it needs, which is what depmod turns into modules.dep.
import { PkgError } from './errors.js';

interface Reader {
  u16(off: number): number;
  u32(off: number): number;
  word(off: number): number;
}

function reader(buf: Buffer, is64: boolean, le: boolean): Reader {
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
  return { u16, u32, word: is64 ? u64 : u32 };
}

/** The bytes of a named section, or undefined if the file has no such section. */
export function elfSection(buf: Buffer, name: string, where = 'ELF file'): Buffer | undefined {
  if (buf.length < 52 || buf.readUInt32BE(0) !== 0x7f454c46) throw new PkgError('ELF_INVALID', `${where}: not an ELF file`);
  const is64 = buf[4] === 2;
  const r = reader(buf, is64, buf[5] === 1);
  const shoff = r.word(is64 ? 0x28 : 0x20);
  const shentsize = r.u16(is64 ? 0x3a : 0x2e);
  const shnum = r.u16(is64 ? 0x3c : 0x30);
  const shstrndx = r.u16(is64 ? 0x3e : 0x32);
  const header = (i: number) => {
    const h = shoff + i * shentsize;
    if (h + shentsize > buf.length) throw new PkgError('ELF_INVALID', `${where}: truncated section headers`);
    return {
      name: r.u32(h),
      offset: r.word(h + (is64 ? 0x18 : 0x10)),
      size: r.word(h + (is64 ? 0x20 : 0x14)),
    };
  };
  const strtab = header(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const sh = header(i);
    const start = strtab.offset + sh.name;
    const end = buf.indexOf(0, start);
    if (buf.toString('latin1', start, end) === name) {
      if (sh.offset + sh.size > buf.length) throw new PkgError('ELF_INVALID', `${where}: section ${name} lies past the end of the file`);
      return buf.subarray(sh.offset, sh.offset + sh.size);
    }
  }
  return undefined;
}

/** The .modinfo key=value pairs of a kernel module (a key may repeat, e.g. alias). */
export function modinfo(buf: Buffer, where = 'module'): [string, string][] {
  const sec = elfSection(buf, '.modinfo', where);
  if (!sec) return [];
  const out: [string, string][] = [];
  for (const s of sec.toString('utf8').split('\0')) {
    const eq = s.indexOf('=');
    if (eq > 0) out.push([s.slice(0, eq), s.slice(eq + 1)]);
  }
  return out;
}

/** The module names in `depends=` (comma separated, may be empty). */
export function moduleDepends(buf: Buffer, where?: string): string[] {
  const dep = modinfo(buf, where).find(([k]) => k === 'depends');
  return dep ? dep[1].split(',').filter(Boolean) : [];
}
