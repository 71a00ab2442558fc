// The fixed structures of ECMA-119: the primary volume descriptor, the set terminator, path
// tables and directory records (with their System Use entries already chosen by the caller).

import { SECTOR, both16, both32, padded, recordDate, sectorsFor, volumeDate } from './fields.js';
import type { Node } from './tree.js';

/** What a directory record needs: the node it describes, its identifier and its inline SUSP entries. */
export interface RecordInput {
  node: Node;
  /** 0x00 for ".", 0x01 for "..", else the ISO identifier */
  id: Buffer;
  isDir: boolean;
  inline: Buffer[];
  /** record length, already even and at most 254 */
  len: number;
}

export function pathTableSize(dirs: Node[]): number {
  return dirs.reduce((n, d) => {
    const idLen = d.name === '' ? 1 : d.isoId.length;
    return n + 8 + idLen + (idLen % 2);
  }, 0);
}

export function pathTable(dirs: Node[], numbers: Map<Node, number>, bigEndian: boolean, size: number): Buffer {
  const b = Buffer.alloc(sectorsFor(size) * SECTOR);
  let o = 0;
  for (const d of dirs) {
    const id = d.name === '' ? Buffer.from([0]) : Buffer.from(d.isoId, 'latin1');
    b[o] = id.length;
    if (bigEndian) {
      b.writeUInt32BE(d.lba, o + 2);
      b.writeUInt16BE(numbers.get(d.parent)!, o + 6);
    } else {
      b.writeUInt32LE(d.lba, o + 2);
      b.writeUInt16LE(numbers.get(d.parent)!, o + 6);
    }
    id.copy(b, o + 8);
    o += 8 + id.length + (id.length % 2);
  }
  return b;
}

/** A directory record (ECMA-119 9.1) with its System Use entries. */
export function dirRecord(r: RecordInput, epoch: number, ceEntry?: Buffer): Buffer {
  const b = Buffer.alloc(r.len);
  b[0] = r.len;
  both32(b, 2, r.node.lba);
  both32(b, 10, r.node.size);
  recordDate(b, 18, r.node.mtime ?? epoch);
  b[25] = r.isDir ? 0x02 : 0;
  both16(b, 28, 1);
  b[32] = r.id.length;
  r.id.copy(b, 33);
  let o = 33 + r.id.length + (r.id.length % 2 === 0 ? 1 : 0);
  for (const e of r.inline) o += e.copy(b, o);
  if (ceEntry) ceEntry.copy(b, o);
  return b;
}

export function primaryDescriptor(o: { volumeId: string; epoch: number; applicationId?: string; volumeSetId?: string }, total: number, ptSize: number, lPath: number, mPath: number, root: Node): Buffer {
  const b = Buffer.alloc(SECTOR);
  b[0] = 1;
  b.write('CD001', 1, 'latin1');
  b[6] = 1;
  padded(b, 8, 32, '');
  padded(b, 40, 32, o.volumeId);
  both32(b, 80, total);
  both16(b, 120, 1);
  both16(b, 124, 1);
  both16(b, 128, SECTOR);
  both32(b, 132, ptSize);
  b.writeUInt32LE(lPath, 140);
  b.writeUInt32BE(mPath, 148);
  dirRecord({ node: root, id: Buffer.from([0]), isDir: true, inline: [], len: 34 }, o.epoch).copy(b, 156);
  padded(b, 190, 128, o.volumeSetId ?? '');
  padded(b, 318, 128, '');
  padded(b, 446, 128, '');
  padded(b, 574, 128, o.applicationId ?? 'OSBUILD');
  padded(b, 702, 37 * 3, '');
  volumeDate(b, 813, o.epoch);
  volumeDate(b, 830, o.epoch);
  volumeDate(b, 847, undefined);
  volumeDate(b, 864, undefined);
  b[881] = 1;
  return b;
}

export function terminator(): Buffer {
  const b = Buffer.alloc(SECTOR);
  b[0] = 255;
  b.write('CD001', 1, 'latin1');
  b[6] = 1;
  return b;
}
