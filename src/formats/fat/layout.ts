// FAT volume geometry: from a size in sectors and a FAT type to sectors per cluster, FAT size
// and where the data region begins. The FAT type is not a free choice: fatgen103 says it is
// decided by the count of data clusters alone (< 4085 FAT12, < 65525 FAT16, else FAT32), and
// the Linux driver, dosfstools and the firmware all decide it that way, so every geometry here
// is checked against those bounds.

export type FatType = 12 | 16 | 32;

export const SECTOR = 512;
const NUM_FATS = 2;

export interface FatGeometry {
  fatType: FatType;
  totalSectors: number;
  sectorsPerCluster: number;
  reservedSectors: number;
  numFats: number;
  /** Sectors of one FAT. */
  fatSectors: number;
  /** Entries of the fixed root directory (FAT12/16); 0 on FAT32, where the root is a cluster chain. */
  rootEntries: number;
  rootDirSectors: number;
  firstDataSector: number;
  /** Data clusters, numbered 2 .. clusterCount + 1. */
  clusterCount: number;
}

const MIN_CLUSTERS: Record<FatType, number> = { 12: 1, 16: 4085, 32: 65525 };
const MAX_CLUSTERS: Record<FatType, number> = { 12: 4084, 16: 65524, 32: 0x0ffffff5 };

/** The geometry of a `type` volume of `totalSectors` with `spc` sectors per cluster, if the cluster count fits the type. */
export function geometry(type: FatType, totalSectors: number, spc: number, rootEntries: number): FatGeometry | undefined {
  const reservedSectors = type === 32 ? 32 : 1;
  const rootEnt = type === 32 ? 0 : rootEntries;
  const rootDirSectors = Math.ceil((rootEnt * 32) / SECTOR);
  const fixed = reservedSectors + rootDirSectors;
  // The FAT must map every cluster, and its size changes the cluster count: grow it until it does.
  let fatSectors = 1;
  let clusters = 0;
  for (;;) {
    const data = totalSectors - fixed - NUM_FATS * fatSectors;
    if (data < spc) return undefined;
    clusters = Math.floor(data / spc);
    const needBytes = type === 12 ? Math.ceil(((clusters + 2) * 3) / 2) : (clusters + 2) * (type / 8);
    const need = Math.ceil(needBytes / SECTOR);
    if (need <= fatSectors) break;
    fatSectors = need;
  }
  if (clusters < MIN_CLUSTERS[type] || clusters > MAX_CLUSTERS[type]) return undefined;
  return {
    fatType: type,
    totalSectors,
    sectorsPerCluster: spc,
    reservedSectors,
    numFats: NUM_FATS,
    fatSectors,
    rootEntries: rootEnt,
    rootDirSectors,
    firstDataSector: fixed + NUM_FATS * fatSectors,
    clusterCount: clusters,
  };
}

/** fatgen103's default cluster sizes (sectors per cluster) by volume size, for FAT16 and FAT32. */
function preferredSpc(type: FatType, totalSectors: number): number {
  if (type === 16) {
    const t: Array<[number, number]> = [[32680, 2], [262144, 4], [524288, 8], [1048576, 16], [2097152, 32]];
    return t.find(([max]) => totalSectors <= max)?.[1] ?? 64;
  }
  if (type === 32) {
    const t: Array<[number, number]> = [[532480, 1], [16777216, 8], [33554432, 16], [67108864, 32]];
    return t.find(([max]) => totalSectors <= max)?.[1] ?? 64;
  }
  return 1;
}

/** The type a volume of this size gets when the caller does not force one. */
export function defaultType(totalSectors: number): FatType {
  if (totalSectors <= 8400) return 12; // up to ~4 MiB, as fatgen103's FAT16 table starts there
  if (totalSectors <= 1048576) return 16; // up to 512 MiB
  return 32;
}

/**
 * A geometry for the volume: the preferred cluster size for the type first, then any cluster
 * size (512 B .. 32 KiB) that gives a cluster count the type allows. `spc` forces one.
 */
export function chooseGeometry(
  totalSectors: number,
  type: FatType | undefined,
  rootEntries: number,
  spc?: number,
): FatGeometry | undefined {
  const types: FatType[] = type ? [type] : [defaultType(totalSectors), 12, 16, 32];
  for (const t of types) {
    const candidates = spc ? [spc] : [preferredSpc(t, totalSectors), 1, 2, 4, 8, 16, 32, 64];
    for (const s of candidates) {
      const g = geometry(t, totalSectors, s, rootEntries);
      if (g) return g;
    }
  }
  return undefined;
}
