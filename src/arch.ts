// Everything osbuild knows about a CPU architecture, in one table: its names in each world it
// meets (OCI and Debian, Node, `uname -m`, GNU triplets), how QEMU runs it, how firmware boots
// it and what its kernel looks like. Code asks the table instead of testing `arch === 'amd64'`,
// so supporting another architecture is adding a row (and its boot components).
// A leaf: it imports nothing, so every module, the writers included, may read it.

export interface ArchInfo {
  /** Other spellings accepted for it (`uname -m`, GCC's), e.g. on the command line. */
  aliases: readonly string[];
  /** Node's process.arch on such a machine. */
  node: string;
  /** The OCI platform as osbuild writes it (docker's spelling) and the variant that means "the baseline". */
  oci: { architecture: string; variant?: string; baselineVariant: string };
  /** Debian's architecture (apt, package names such as linux-image-cloud-{arch}). */
  debian: string;
  /** The multiarch directory, /usr/lib/<triplet>. */
  triplet: string;
  /** What `uname -m` says. */
  uname: string;
  /** The first serial port's device, where the console goes. */
  console: string;
  qemu: {
    binary: string;
    /** The Debian package that has the binary, for the hint when it is missing. */
    package: string;
    machine: string;
    /** -cpu under each accelerator; none: QEMU's default. */
    cpu: { kvm?: string; tcg?: string };
    /** How a CD-ROM is attached. */
    cdrom: 'ide' | 'virtio-scsi';
  };
  /** KVM is hardware KVM when one of these module + cpu flag pairs is present; empty: /dev/kvm is enough. */
  kvmHardware: readonly { module: string; cpuFlag: string }[];
  /** Legacy BIOS boot exists (isolinux, MBR code are x86 code). */
  bios: boolean;
  efi: {
    /** The removable-media boot file firmware looks for in \EFI\BOOT (UEFI spec 3.5.1.1). */
    bootFile: string;
    /** systemd's EFI stub in /usr/lib/systemd/boot/efi (package systemd-boot-efi). */
    stub: string;
    /** systemd-boot, beside the stub: the loader of iso-efi-initrd. */
    loader: string;
    /** PE/COFF machine type and the name the PE spec gives it. */
    peMachine: number;
    peName: string;
    /** Default UEFI firmware image on Debian and its package. */
    firmware: { path: string; package: string };
  };
  kernel: {
    /** The boot image's name and the magic that identifies it at an offset of its first bytes. */
    image: string;
    magicOffset: number;
    magic: string;
    /** e_machine of an ELF vmlinux. */
    elfMachine: number;
    /**
     * The image is stored uncompressed (the EFI stub needs it so) and gzip'd for direct boot, as
     * LinuxKit's kernels are: half the size, and QEMU and GRUB load it as it is.
     */
    gzipForDirectBoot: boolean;
  };
  /** Discoverable Partitions Specification root partition type, by formats/disk/gpt.ts's short name. */
  gptRootType: string;
}

const TABLE = {
  amd64: {
    aliases: ['x86_64', 'x86-64'],
    node: 'x64',
    oci: { architecture: 'amd64', baselineVariant: 'v1' },
    debian: 'amd64',
    triplet: 'x86_64-linux-gnu',
    uname: 'x86_64',
    console: 'ttyS0', // the 8250 of the pc machine
    qemu: {
      binary: 'qemu-system-x86_64',
      package: 'qemu-system-x86',
      // pc (i440fx), not q35: Debian's cloud kernel has no AHCI driver for q35's disk and CD
      // controller, so the CD is the pc machine's IDE one
      machine: 'pc',
      cpu: { kvm: 'host' },
      cdrom: 'ide',
    },
    kvmHardware: [
      { module: 'kvm_intel', cpuFlag: 'vmx' },
      { module: 'kvm_amd', cpuFlag: 'svm' },
    ],
    bios: true,
    efi: {
      bootFile: 'BOOTX64.EFI',
      stub: 'linuxx64.efi.stub',
      loader: 'systemd-bootx64.efi',
      peMachine: 0x8664,
      peName: 'x86-64',
      firmware: { path: '/usr/share/ovmf/OVMF.fd', package: 'ovmf' },
    },
    kernel: { image: 'bzImage', magicOffset: 0x202, magic: 'HdrS', elfMachine: 0x3e, gzipForDirectBoot: false },
    gptRootType: 'linux-root-x86-64',
  },
  arm64: {
    aliases: ['aarch64'],
    node: 'arm64',
    oci: { architecture: 'arm64', variant: 'v8', baselineVariant: 'v8' },
    debian: 'arm64',
    triplet: 'aarch64-linux-gnu',
    uname: 'aarch64',
    console: 'ttyAMA0', // the PL011 of the virt machine
    qemu: {
      binary: 'qemu-system-aarch64',
      package: 'qemu-system-arm',
      machine: 'virt',
      // under TCG, max with the QARMA pointer-auth emulation is ~3x slower than with impdef
      cpu: { kvm: 'host', tcg: 'max,pauth-impdef=on' },
      cdrom: 'virtio-scsi',
    },
    kvmHardware: [],
    bios: false,
    efi: {
      bootFile: 'BOOTAA64.EFI',
      stub: 'linuxaa64.efi.stub',
      loader: 'systemd-bootaa64.efi',
      peMachine: 0xaa64,
      peName: 'AArch64',
      firmware: { path: '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd', package: 'qemu-efi-aarch64' },
    },
    // "ARM\x64" read as little-endian bytes
    kernel: { image: 'Image', magicOffset: 0x38, magic: 'ARMd', elfMachine: 0xb7, gzipForDirectBoot: true },
    gptRootType: 'linux-root-arm64',
  },
} satisfies Record<string, ArchInfo>;

/** Our architecture names are Go's (OCI platform.architecture, also Debian's): amd64 and arm64. */
export type Arch = keyof typeof TABLE;

export const ARCHES: Readonly<Record<Arch, ArchInfo>> = TABLE;

/** Every architecture, in the table's order (a tuple, as z.enum wants it). */
export const ARCH_NAMES = Object.keys(TABLE) as [Arch, ...Arch[]];

/** The architectures that boot by legacy BIOS. */
export const BIOS_ARCHES: readonly Arch[] = ARCH_NAMES.filter((a) => ARCHES[a].bios);

export function isArch(name: string): name is Arch {
  return Object.hasOwn(TABLE, name);
}

/** The first architecture whose row satisfies `test`. */
export function findArch(test: (info: ArchInfo) => boolean): Arch | undefined {
  return ARCH_NAMES.find((a) => test(ARCHES[a]));
}

/** An architecture by its name or an alias (x86_64, aarch64, ...). */
export function archNamed(name: string): Arch | undefined {
  return isArch(name) ? name : findArch((a) => a.aliases.includes(name));
}

/** The architecture of this machine, by Node's name for it; undefined on any other machine. */
export function hostArch(nodeArch: string = process.arch): Arch | undefined {
  return findArch((a) => a.node === nodeArch);
}

/** What to build for when not told: this machine's architecture, amd64 on any other. */
export function defaultArch(): Arch {
  return hostArch() ?? 'amd64';
}

/** Whether the first bytes of a (decompressed) kernel file are `arch`'s boot image. */
export function isKernelImage(arch: Arch, head: Buffer): boolean {
  const k = ARCHES[arch].kernel;
  return head.length >= k.magicOffset + k.magic.length && head.toString('latin1', k.magicOffset, k.magicOffset + k.magic.length) === k.magic;
}
