// kernel/source's config fragments, checked without a kernel source tree: they parse as Kconfig
// fragments, every option sits in a group that says why, no option is set twice (the later one
// would silently win), and what osbuild itself relies on is there: every filesystem our init
// mounts is built in, and every module a reference blueprint or component README loads exists,
// so blueprints written for Debian's kernel also build against this one.
// Whether Kconfig keeps every option is checked by `kernel/source/build.sh --config-only`, which
// needs the kernel source (not run here).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, test } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const dir = path.join(root, 'kernel/source');
const ARCHES = ['amd64', 'arm64'] as const;

interface Option {
  name: string;
  value: string;
  line: number;
  group?: string;
}

/** Parses a fragment; throws with file:line on anything merge_config.sh would not read as meant. */
function parseFragment(text: string, file: string): { options: Option[]; groups: Map<string, Option[]> } {
  const options: Option[] = [];
  const groups = new Map<string, Option[]>();
  let group: string | undefined;
  let lastWasHeader = false;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const at = `${file}:${i + 1}`;
    const header = /^## (.+)$/.exec(line);
    if (header) {
      // a header may run over several `##` lines; a new one starts after anything else
      if (lastWasHeader && group !== undefined) group += ' ' + header[1];
      else {
        if (!/^[^:]+: \S/.test(header[1])) throw new Error(`${at}: group header wants "## title: why", got ${JSON.stringify(line)}`);
        group = header[1];
      }
      lastWasHeader = true;
      return;
    }
    if (lastWasHeader && group !== undefined) groups.set(group, []);
    lastWasHeader = false;
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (set) {
      if (!/^(y|m|"[^"]*"|-?\d+|0x[0-9a-fA-F]+)$/.test(set[2])) throw new Error(`${at}: ${set[1]} has value ${set[2]}: want y, m, a number or a "string"`);
      if (set[2] === 'n') throw new Error(`${at}: write "# ${set[1]} is not set", not =n`);
    } else if (!unset && (line.startsWith('CONFIG_') || /^#\s*CONFIG_/.test(line))) {
      throw new Error(`${at}: ${JSON.stringify(line)} is neither CONFIG_X=value nor "# CONFIG_X is not set"`);
    } else if (line !== '' && !line.startsWith('#')) {
      throw new Error(`${at}: unexpected line ${JSON.stringify(line)}`);
    }
    const opt = set ? { name: set[1], value: set[2] } : unset ? { name: unset[1], value: 'n' } : undefined;
    if (!opt) return;
    if (group === undefined) throw new Error(`${at}: ${opt.name} comes before any "## title: why" group header`);
    const o = { ...opt, line: i + 1, group };
    options.push(o);
    groups.get(group)!.push(o);
  });
  return { options, groups };
}

async function fragment(name: string) {
  return parseFragment(await readFile(path.join(dir, name), 'utf8'), `kernel/source/${name}`);
}

/** The options build.sh merges for an arch, by name, as the last fragment sets them. */
async function merged(arch: string): Promise<Map<string, Option & { file: string }>> {
  const out = new Map<string, Option & { file: string }>();
  for (const file of ['osbuild.config', `osbuild-${arch}.config`]) {
    for (const o of (await fragment(file)).options) {
      const before = out.get(o.name);
      if (before) throw new Error(`kernel/source/${file}:${o.line}: ${o.name} is already set in ${before.file}:${before.line}`);
      out.set(o.name, { ...o, file });
    }
  }
  return out;
}

// What provides each filesystem type our init mounts, and each module name blueprints load.
const FS_OPTION: Record<string, string> = {
  proc: 'PROC_FS', sysfs: 'SYSFS', devtmpfs: 'DEVTMPFS', devpts: 'UNIX98_PTYS', tmpfs: 'TMPFS',
  mqueue: 'POSIX_MQUEUE', cgroup2: 'CGROUPS', securityfs: 'SECURITYFS', squashfs: 'SQUASHFS',
  iso9660: 'ISO9660_FS', overlay: 'OVERLAY_FS', ext4: 'EXT4_FS', vfat: 'VFAT_FS', loop: 'BLK_DEV_LOOP',
};
const MODULE_OPTION: Record<string, string> = {
  virtio_pci: 'VIRTIO_PCI', virtio_mmio: 'VIRTIO_MMIO', virtio_net: 'VIRTIO_NET', virtio_blk: 'VIRTIO_BLK',
  virtio_scsi: 'SCSI_VIRTIO', virtio_console: 'VIRTIO_CONSOLE', virtio_rng: 'HW_RANDOM_VIRTIO',
  sr_mod: 'BLK_DEV_SR', sd_mod: 'BLK_DEV_SD', ata_piix: 'ATA_PIIX', ahci: 'SATA_AHCI', isofs: 'ISO9660_FS',
  vfat: 'VFAT_FS', nls_cp437: 'NLS_CODEPAGE_437', nls_ascii: 'NLS_ASCII', nls_utf8: 'NLS_UTF8',
  qemu_fw_cfg: 'FW_CFG_SYSFS', button: 'ACPI_BUTTON', evdev: 'INPUT_EVDEV', overlay: 'OVERLAY_FS',
  squashfs: 'SQUASHFS', loop: 'BLK_DEV_LOOP', ext4: 'EXT4_FS', nf_tables: 'NF_TABLES', nft_ct: 'NFT_CT',
  wireguard: 'WIREGUARD', dm_crypt: 'DM_CRYPT', dm_mod: 'BLK_DEV_DM', xts: 'CRYPTO_XTS', ecb: 'CRYPTO_ECB',
  bridge: 'BRIDGE', veth: 'VETH', tun: 'TUN',
};

async function initMounts(): Promise<Array<{ type: string; where: string }>> {
  const out: Array<{ type: string; where: string }> = [];
  for (const f of ['components/init/init', 'components/init/root']) {
    const lines = (await readFile(path.join(root, f), 'utf8')).split('\n');
    lines.forEach((l, i) => {
      if (/^\s*#/.test(l)) return;
      for (const m of l.matchAll(/\bmount -t (\w+)/g)) out.push({ type: m[1], where: `${f}:${i + 1}` });
      if (/\bmount\b.*-o \S*\bloop\b/.test(l)) out.push({ type: 'loop', where: `${f}:${i + 1}` });
    });
  }
  return out;
}

/** Module names in `modules: [...]` of the reference blueprints and the components' READMEs. */
async function blueprintModules(): Promise<Array<{ name: string; where: string }>> {
  const files = (await readdir(path.join(root, 'blueprints'))).filter((f) => f.endsWith('.yml')).map((f) => `blueprints/${f}`);
  for (const c of await readdir(path.join(root, 'components'))) files.push(`components/${c}/README.md`);
  const out: Array<{ name: string; where: string }> = [];
  for (const f of files) {
    const text = await readFile(path.join(root, f), 'utf8').catch(() => '');
    text.split('\n').forEach((l, i) => {
      const m = /^\s*modules:\s*\[([^\]]*)\]/.exec(l);
      if (!m) return;
      for (const n of m[1].split(',').map((s) => s.trim().replace(/^['"]|['"]$/g, '')).filter(Boolean)) {
        out.push({ name: n.replaceAll('-', '_'), where: `${f}:${i + 1}` });
      }
    });
  }
  return out;
}

describe('kernel/source config fragments', () => {
  test('parse, and every group says why and holds options', async () => {
    for (const file of ['osbuild.config', ...ARCHES.map((a) => `osbuild-${a}.config`)]) {
      const { options, groups } = await fragment(file);
      expect(options.length, file).toBeGreaterThan(0);
      for (const [g, opts] of groups) expect(opts.length, `${file}: group "${g}" has no options`).toBeGreaterThan(0);
    }
  });

  test('parser rejects what merge_config.sh would misread', () => {
    expect(() => parseFragment('CONFIG_A=y\n', 'f')).toThrow(/f:1: CONFIG_A comes before any/);
    expect(() => parseFragment('## t: why\nCONFIG_A=yes\n', 'f')).toThrow(/f:2: CONFIG_A has value yes/);
    expect(() => parseFragment('## t: why\n#CONFIG_A is not set\n', 'f')).toThrow(/f:2: .* is neither/);
    expect(() => parseFragment('## no reason\nCONFIG_A=y\n', 'f')).toThrow(/f:1: group header wants/);
    expect(parseFragment('## t: why\n## more why\n# CONFIG_A is not set\nCONFIG_B="-x"\n', 'f').options)
      .toEqual([{ name: 'CONFIG_A', value: 'n', line: 3, group: 't: why more why' }, { name: 'CONFIG_B', value: '"-x"', line: 4, group: 't: why more why' }]);
  });

  test.each(ARCHES)('%s: no option is set twice across the merged fragments', async (arch) => {
    await expect(merged(arch)).resolves.toBeInstanceOf(Map);
  });

  test.each(ARCHES)('%s: every filesystem the init mounts is built in', async (arch) => {
    const opts = await merged(arch);
    const mounts = await initMounts();
    expect(mounts.map((m) => m.type)).toEqual(expect.arrayContaining(['proc', 'cgroup2', 'squashfs', 'overlay']));
    for (const m of mounts) {
      const option = FS_OPTION[m.type];
      expect(option, `${m.where} mounts ${m.type}: add the option that provides it to FS_OPTION and the fragment`).toBeDefined();
      expect(opts.get(`CONFIG_${option}`)?.value, `${m.where} mounts ${m.type}: CONFIG_${option}=y must be in kernel/source/osbuild.config`).toBe('y');
    }
  });

  test.each(ARCHES)('%s: every module a reference blueprint loads is built in or a module', async (arch) => {
    const opts = await merged(arch);
    const mods = await blueprintModules();
    expect(mods.length).toBeGreaterThan(10);
    for (const m of mods) {
      const option = MODULE_OPTION[m.name];
      expect(option, `${m.where} loads ${m.name}: add its Kconfig option to MODULE_OPTION and the fragment`).toBeDefined();
      expect(['y', 'm'], `${m.where} loads ${m.name}: CONFIG_${option} must be y or m`).toContain(opts.get(`CONFIG_${option}`)?.value);
    }
  });
});
