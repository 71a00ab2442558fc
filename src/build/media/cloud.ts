// Cloud and hypervisor images: the raw disks of disk.ts in the containers each platform takes.
//   qcow2-bios / qcow2-efi   QEMU, OpenStack, libvirt: the BIOS or the EFI disk as qcow2 v3
//   vhd / dynamic-vhd        Hyper-V: fixed (raw + footer) or dynamic VHD
//   vmdk                     VMware: streamOptimized
//   aws                      the EFI disk, raw (EC2 imports raw; UEFI boot mode)
//   gcp                      the EFI disk as disk.raw (whole GiB) in a gzip'd tar
//   azure                    the EFI disk as a fixed VHD of a whole number of MiB (Gen2 VM)
// vhd, dynamic-vhd and vmdk wrap `raw` where BIOS exists (amd64: boots by BIOS or UEFI, whichever
// the VM offers) and the EFI disk elsewhere (arm64), where firmware is always UEFI.

import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ARCHES, type Arch } from '../../arch.js';
import { gzipParallel } from '../../formats/compress/gzip.js';
import { writeQcow2 } from '../../formats/vm/qcow2.js';
import { writeTar } from '../../formats/tar/write.js';
import { writeVhd } from '../../formats/vm/vhd.js';
import { writeVmdk } from '../../formats/vm/vmdk.js';
import type { EntryStream } from '../../formats/entry.js';
import { diskSource, GiB, type DiskKind } from './disk.js';
import { subSeed, type MediaInputs, type Sized } from './sources.js';

/** The disk a hypervisor format wraps when the format itself does not say BIOS or EFI. */
export function anyFirmwareDisk(arch: Arch): DiskKind {
  return ARCHES[arch].bios ? 'hybrid' : 'efi';
}

const once = (s: Sized) => ({ size: s.size, stream: s.open() });

export async function writeQcow2Media(m: MediaInputs, kind: DiskKind, path: string): Promise<void> {
  await writeQcow2(once(await diskSource(m, kind)), path);
}

export async function writeVhdMedia(m: MediaInputs, kind: DiskKind, type: 'fixed' | 'dynamic', path: string): Promise<void> {
  await writeVhd(once(await diskSource(m, kind)), path, { type, seed: subSeed(m, `vhd:${kind}:${type}`), sourceDateEpoch: m.epoch });
}

export async function writeVmdkMedia(m: MediaInputs, kind: DiskKind, path: string, fileName: string): Promise<void> {
  await writeVmdk(once(await diskSource(m, kind)), path, { seed: subSeed(m, `vmdk:${kind}`), name: fileName });
}

/**
 * `gcp`: what `gcloud compute images create --source-uri` imports: a gzip'd tar whose one entry
 * is disk.raw, a raw disk of a whole number of GiB (Compute Engine's rule). The zeros that pad
 * it compress to almost nothing.
 */
export async function writeGcp(m: MediaInputs, path: string): Promise<void> {
  const disk = await diskSource(m, 'efi', { sizeAlign: GiB });
  async function* entries(): EntryStream {
    yield { entry: { path: 'disk.raw', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: m.epoch, size: disk.size }, content: disk.open() };
  }
  await pipeline(Readable.from(gzipParallel(writeTar(entries())), { objectMode: false }), createWriteStream(path));
}
