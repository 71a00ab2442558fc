// qcow2 (QEMU copy-on-write v2/v3) from a raw disk stream, read once. 64 KiB clusters, 16-bit
// refcounts. Layout: cluster 0 the header; then the data clusters in the order the raw stream
// brings them (all-zero clusters are left unallocated and read back as zeros); then the L2 tables
// that map them, the L1 table, the refcount blocks and the refcount table. The tables' offsets
// are known only once the data is written, so the header is written last, over cluster 0.
// All integers are big-endian.

import {
  DiskImageError,
  fixedBlocks,
  isZero,
  OutFile,
  type SizedStream,
} from './raw-blocks.js';

export type { SizedStream } from './raw-blocks.js';

export interface Qcow2Options {
  /** 3 (qemu's compat=1.1, the default) or 2 (compat=0.10, for very old readers). */
  version?: 2 | 3;
}

const CLUSTER_BITS = 16;
const CLUSTER = 1 << CLUSTER_BITS;
const L2_ENTRIES = CLUSTER / 8;
/** 16-bit refcounts: refcount_order 4. */
const REFCOUNT_ORDER = 4;
const REFCOUNTS_PER_BLOCK = CLUSTER / 2;
/** Set on L1/L2 entries whose cluster has refcount 1 (qemu checks it). */
const COPIED = 1n << 63n;

/** How many clusters the refcount table and blocks take to cover a file of `other` clusters plus themselves. */
export function refcountClusters(other: number): { blocks: number; tableClusters: number } {
  let blocks = 0;
  let tableClusters = 0;
  for (;;) {
    const total = other + blocks + tableClusters;
    const nb = Math.ceil(total / REFCOUNTS_PER_BLOCK);
    const nt = Math.ceil((nb * 8) / CLUSTER);
    if (nb === blocks && nt === tableClusters) return { blocks, tableClusters };
    blocks = nb;
    tableClusters = nt;
  }
}

function header(opts: {
  version: 2 | 3;
  size: number;
  l1Size: number;
  l1Offset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
}): Buffer {
  const h = Buffer.alloc(CLUSTER);
  h.write('QFI\xfb', 0, 'latin1');
  h.writeUInt32BE(opts.version, 4);
  // 8: backing file offset, 16: its size (none)
  h.writeUInt32BE(CLUSTER_BITS, 20);
  h.writeBigUInt64BE(BigInt(opts.size), 24);
  // 32: crypt method (none)
  h.writeUInt32BE(opts.l1Size, 36);
  h.writeBigUInt64BE(BigInt(opts.l1Offset), 40);
  h.writeBigUInt64BE(BigInt(opts.refcountTableOffset), 48);
  h.writeUInt32BE(opts.refcountTableClusters, 56);
  // 60: no snapshots, 64: snapshots offset
  if (opts.version === 3) {
    // 72, 80, 88: incompatible, compatible and autoclear feature bits, none set
    h.writeUInt32BE(REFCOUNT_ORDER, 96);
    h.writeUInt32BE(104, 100); // header length; the zeros after it end the (empty) extension list
  }
  return h;
}

/** Writes `raw` as a qcow2 file at `path`, reading the stream once. Returns the file's size. */
export async function writeQcow2(raw: SizedStream, path: string, opts: Qcow2Options = {}): Promise<{ size: number }> {
  const version = opts.version ?? 3;
  const size = raw.size;
  if (!Number.isSafeInteger(size) || size <= 0 || size % 512 !== 0) {
    throw new DiskImageError('EDISKSIZE', `qcow2: the raw disk size ${size} is not a positive multiple of 512 bytes`);
  }
  const guestClusters = Math.ceil(size / CLUSTER);
  const l1Size = Math.ceil(guestClusters / L2_ENTRIES);
  /** Host cluster index of each guest cluster holding data, 0 when unallocated. */
  const map = new Uint32Array(guestClusters);
  const out = await OutFile.create(path);
  try {
    await out.append(Buffer.alloc(CLUSTER)); // the header's place
    let guest = 0;
    for await (const block of fixedBlocks(raw, CLUSTER, 'qcow2')) {
      if (!isZero(block)) {
        map[guest] = out.offset / CLUSTER;
        await out.append(block);
      }
      guest++;
    }

    // L2 tables, only those mapping some data
    const l1 = Buffer.alloc(Math.ceil((l1Size * 8) / CLUSTER) * CLUSTER);
    for (let t = 0; t < l1Size; t++) {
      const first = t * L2_ENTRIES;
      const last = Math.min(first + L2_ENTRIES, guestClusters);
      let used = false;
      for (let g = first; g < last && !used; g++) used = map[g] !== 0;
      if (!used) continue;
      const l2 = Buffer.alloc(CLUSTER);
      for (let g = first; g < last; g++) {
        if (map[g] !== 0) l2.writeBigUInt64BE(BigInt(map[g] * CLUSTER) | COPIED, (g - first) * 8);
      }
      l1.writeBigUInt64BE(BigInt(out.offset) | COPIED, t * 8);
      await out.append(l2);
    }
    const l1Offset = out.offset;
    await out.append(l1);

    // refcounts: every cluster of the file, these included, is used once
    const beforeRefcounts = out.offset / CLUSTER;
    const { blocks, tableClusters } = refcountClusters(beforeRefcounts);
    const total = beforeRefcounts + blocks + tableClusters;
    const firstBlock = beforeRefcounts;
    const table = Buffer.alloc(tableClusters * CLUSTER);
    for (let b = 0; b < blocks; b++) {
      const rb = Buffer.alloc(CLUSTER);
      const from = b * REFCOUNTS_PER_BLOCK;
      const to = Math.min(from + REFCOUNTS_PER_BLOCK, total);
      for (let c = from; c < to; c++) rb.writeUInt16BE(1, (c - from) * 2);
      table.writeBigUInt64BE(BigInt((firstBlock + b) * CLUSTER), b * 8);
      await out.append(rb);
    }
    const refcountTableOffset = out.offset;
    await out.append(table);
    if (out.offset / CLUSTER !== total) throw new Error(`qcow2: internal layout error (${out.offset / CLUSTER} != ${total} clusters)`);

    await out.writeAt(
      header({ version, size, l1Size, l1Offset, refcountTableOffset, refcountTableClusters: tableClusters }),
      0,
    );
    return { size: await out.close() };
  } catch (e) {
    await out.abort();
    throw e;
  }
}
