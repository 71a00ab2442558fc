import { test } from 'vitest';
import { createReadStream, createWriteStream, readdirSync, lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { writeIso, type IsoFile, type IsoSymlink } from '../../src/formats/iso9660.js';

function walk(root: string, rel = '', files: IsoFile[] = [], links: IsoSymlink[] = []) {
  for (const n of readdirSync(join(root, rel))) {
    const r = rel ? `${rel}/${n}` : n; const st = lstatSync(join(root, r));
    if (st.isDirectory()) walk(root, r, files, links);
    else if (st.isSymbolicLink()) links.push({ path: r, target: readlinkSync(join(root, r)) });
    else files.push({ path: r, size: st.size, mode: st.mode & 0o7777, content: () => createReadStream(join(root, r)) });
  }
  return { files, links };
}
test('scratch', async () => {
  const { files, links } = walk('/tmp/isoscratch/tree');
  const img = writeIso({ volumeId: 'MINIOS', epoch: 1700000000, files, symlinks: links,
    boot: { catalog: 'isolinux/boot.cat', bios: { image: 'isolinux/isolinux.bin' }, efi: { image: 'efiboot.img' } },
    hybrid: { mbrCode: require('node:fs').readFileSync('/usr/lib/ISOLINUX/isohdpfx.bin') } });
  await pipeline(Readable.from(img.stream), createWriteStream('/tmp/isoscratch/o.iso'));
  console.log(img.size);
});
