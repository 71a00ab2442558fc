// Every command as one row: its usage, options and examples. The same table drives argument
// parsing and --help, so the two cannot drift apart.

import type { ParseArgsConfig } from 'node:util';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** One line per option, in the order shown by --help. */
  optionHelp: [string, string][];
  examples: string[];
  minArgs: number;
}

const cache = { type: 'string' } as const;
const verbose = { type: 'boolean', short: 'v' } as const;
const verboseHelp: [string, string] = ['-v, --verbose', 'also show cached downloads and other routine steps'];
const common: [string, string][] = [
  ['--cache DIR', 'cache directory (content store, downloads); default $XDG_CACHE_HOME/osbuild'],
  ['--json', 'print progress as JSON lines on stderr (for tools)'],
  ['-q, --quiet', 'print errors only'],
];

// How registries are reached: shared by every command that pulls or pushes.
const registry = {
  creds: { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
  'ca-cert': { type: 'string', multiple: true },
  mirror: { type: 'string', multiple: true },
} as const;
const registryHelp: [string, string][] = [
  ['--creds USER:PASSWORD', 'credentials for the registries of this run (else OSBUILD_REGISTRY_CREDS, docker\'s config.json)'],
  ['--insecure-registry HOST', 'allow plain HTTP or an unverified certificate for HOST[:PORT], repeatable'],
  ['--ca-cert FILE', 'trust this PEM certificate authority too, repeatable'],
  ['--mirror REG=MIRROR', 'try MIRROR (host[:port]) before registry REG for pulls, repeatable'],
];

export const COMMANDS: Command[] = [
  {
    name: 'build',
    summary: 'build outputs from blueprint files',
    usage: 'osbuild build [-f FORMAT]... [--arch amd64|arm64] [--root initramfs|squashfs] [-o DIR] [--name NAME] FILE...',
    options: {
      format: { type: 'string', short: 'f', multiple: true },
      arch: { type: 'string' },
      root: { type: 'string' },
      output: { type: 'string', short: 'o' },
      name: { type: 'string' },
      pull: { type: 'boolean' },
      ...registry,
      cache,
      json: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      verbose,
    },
    optionHelp: [
      ['-f, --format FORMAT', 'output format, repeatable (default kernel+initrd); see `osbuild build --help`'],
      ['--arch ARCH', 'target architecture: amd64 or arm64 (default: this machine\'s)'],
      ['--root LAYOUT', 'where the system lives on boot media: initramfs (all in RAM) or squashfs (a read-only root on the medium, small initrd); default: the blueprint\'s root.type, else initramfs'],
      ['-o, --output DIR', 'where outputs go (default ./out)'],
      ['--name NAME', 'base name of the outputs (default: the first file\'s name)'],
      ['--pull', 'ask registries where tags point now, even for images in the store'],
      ...registryHelp,
      ...common,
      verboseHelp,
    ],
    examples: [
      'osbuild build blueprints/minimal.yml',
      'osbuild blueprints/minimal.yml -f kernel+initrd -f tar --arch arm64',
      'osbuild build --root squashfs -f iso blueprints/sshd.yml',
      'SOURCE_DATE_EPOCH=1700000000 osbuild build -o dist base.yml extra.yml',
    ],
    minArgs: 1,
  },
  {
    name: 'validate',
    summary: 'check blueprint files; exit 0 if valid, 1 with located errors',
    usage: 'osbuild validate FILE...',
    options: { quiet: { type: 'boolean', short: 'q' } },
    optionHelp: [['-q, --quiet', 'print errors only']],
    examples: ['osbuild validate blueprints/minimal.yml', 'osbuild validate base.yml overrides.yml'],
    minArgs: 1,
  },
  {
    name: 'run',
    summary: 'boot a built image under QEMU with the serial console on this terminal',
    usage: 'osbuild run [--arch A] [--mem M] [--cpus N] [-p HOST:GUEST]... [--poweroff[=SECONDS]] PATH',
    options: {
      arch: { type: 'string' },
      forward: { type: 'string', short: 'p', multiple: true },
      mem: { type: 'string' },
      cpus: { type: 'string' },
      poweroff: { type: 'string' },
      append: { type: 'string', multiple: true },
      uefi: { type: 'boolean' },
      bios: { type: 'boolean' },
      firmware: { type: 'string' },
    },
    optionHelp: [
      ['--arch ARCH', 'amd64 or arm64 (default: read from the kernel)'],
      ['--mem SIZE', 'guest memory, e.g. 1024M (default 1024M)'],
      ['--cpus N', 'guest CPUs (default 1)'],
      ['-p, --forward HOST:GUEST', 'forward TCP port HOST on 127.0.0.1 to the guest\'s port GUEST, repeatable (e.g. 2222:22 for ssh)'],
      ['--poweroff SECONDS', 'shut the guest down cleanly that long after it is ready (non-interactive runs)'],
      ['--append ARG', 'extra kernel command line argument, repeatable (kernel+initrd only)'],
      ['--uefi', 'boot an ISO or disk through UEFI firmware (default: what the image supports, BIOS first on x86_64)'],
      ['--bios', 'boot an ISO or disk through BIOS firmware (x86_64)'],
      ['--firmware PATH', 'firmware image (default OVMF / AAVMF for UEFI, SeaBIOS for BIOS)'],
    ],
    examples: [
      'osbuild run out/minimal                 # out/minimal-kernel, -initrd.img, -cmdline',
      'osbuild run --uefi out/minimal.iso      # an ISO as a CD-ROM, through OVMF',
      'osbuild run --poweroff 2 out/minimal    # boot, run everything, power off',
      'osbuild run -p 8080:80 out/webserver    # then: curl http://127.0.0.1:8080/',
      'osbuild run --arch arm64 out/minimal-kernel',
    ],
    minArgs: 1,
  },
  {
    name: 'test',
    summary: 'boot an image and wait for console lines; exit 0 when all appear in order, 1 otherwise',
    usage: 'osbuild test PATH --expect REGEX... [--timeout SECONDS] [--arch A] [-p HOST:GUEST]...',
    options: {
      expect: { type: 'string', multiple: true },
      forward: { type: 'string', short: 'p', multiple: true },
      timeout: { type: 'string' },
      arch: { type: 'string' },
      mem: { type: 'string' },
      append: { type: 'string', multiple: true },
      uefi: { type: 'boolean' },
      bios: { type: 'boolean' },
      firmware: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    },
    optionHelp: [
      ['--expect REGEX', 'a console line to wait for, repeatable; matched in order'],
      ['--uefi', 'boot an ISO or disk through UEFI firmware'],
      ['--bios', 'boot an ISO or disk through BIOS firmware (x86_64)'],
      ['--firmware PATH', 'firmware image (default OVMF / AAVMF for UEFI, SeaBIOS for BIOS)'],
      ['--timeout SECONDS', 'give up after this long (default 120)'],
      ['--arch ARCH', 'amd64 or arm64 (default: read from the kernel)'],
      ['--mem SIZE', 'guest memory, e.g. 1024M (default 1024M)'],
      ['--append ARG', 'extra kernel command line argument, repeatable'],
      ['-p, --forward HOST:GUEST', 'forward TCP port HOST on 127.0.0.1 to the guest\'s port GUEST, repeatable'],
      ['-q, --quiet', 'do not echo the console'],
    ],
    examples: [
      "osbuild test out/minimal --expect 'onboot 000-hello exit 0' --expect 'service getty started'",
      "osbuild test out/minimal --append osbuild.poweroff=1 --expect 'osbuild: poweroff' --timeout 60",
    ],
    minArgs: 1,
  },
  {
    name: 'pkg build',
    summary: 'build a component folder into a multi-arch OCI image in the store',
    usage: 'osbuild pkg build [--arch A]... [--push REF] DIR...',
    options: { arch: { type: 'string', multiple: true }, push: { type: 'string' }, ...registry, cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' }, verbose },
    optionHelp: [
      ['--arch ARCH', 'build only this arch, repeatable (default: the component\'s arches)'],
      ['--push REF', 'then push the image (all its arches, one index) to REF; one DIR only'],
      ...registryHelp,
      ...common,
      verboseHelp,
    ],
    examples: [
      'osbuild pkg build components/init',
      'osbuild pkg build --arch arm64 components/getty kernel/debian-cloud',
      'osbuild pkg build --push registry.local:5000/team/init:0.1.0 components/init',
    ],
    minArgs: 1,
  },
  {
    name: 'pull',
    summary: 'pull images from their registries into the store',
    usage: 'osbuild pull [--arch A]... REF...',
    options: { arch: { type: 'string', multiple: true }, ...registry, cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' }, verbose },
    optionHelp: [['--arch ARCH', 'pull only this arch, repeatable (default: amd64 and arm64, as the image has them)'], ...registryHelp, ...common, verboseHelp],
    examples: ['osbuild pull alpine:3.20', 'osbuild pull --arch arm64 ghcr.io/acme/agent:1.2', 'osbuild pull --insecure-registry registry.lan:5000 registry.lan:5000/team/svc:1.2'],
    minArgs: 1,
  },
  {
    name: 'push',
    summary: 'push an image of the store (all its arches, one index) to a registry',
    usage: 'osbuild push REF [DEST]',
    options: { ...registry, cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    optionHelp: [...registryHelp, ...common],
    examples: ['osbuild push docker.io/osbuild/init:0.1.0 registry.local:5000/osbuild/init:0.1.0', 'osbuild push ghcr.io/acme/agent:1.2'],
    minArgs: 1,
  },
  {
    name: 'cache ls',
    summary: 'list the images in the store',
    usage: 'osbuild cache ls',
    options: { cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    optionHelp: common,
    examples: ['osbuild cache ls'],
    minArgs: 0,
  },
  {
    name: 'cache import',
    summary: 'import an OCI layout directory or tar, or a docker-archive tar, into the store',
    usage: 'osbuild cache import [--ref REF] PATH...',
    options: { ref: { type: 'string' }, cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    optionHelp: [['--ref REF', 'name for images whose layout names only a tag'], ...common],
    examples: ['osbuild cache import ./alpine-oci', 'osbuild cache import --ref example/app:1.0 app.tar'],
    minArgs: 1,
  },
  {
    name: 'cache export',
    summary: 'write images to an OCI layout directory, a tar of one, or a docker-archive tar',
    usage: 'osbuild cache export [--format oci|docker-archive] [--arch A] REF... PATH',
    options: { format: { type: 'string' }, arch: { type: 'string' }, cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    optionHelp: [
      ['--format FORMAT', 'oci (default; a directory, or a tar if PATH ends in .tar) or docker-archive (a tar)'],
      ['--arch ARCH', 'the architecture a docker-archive holds (default amd64)'],
      ...common,
    ],
    examples: ['osbuild cache export alpine:3.20 ./alpine-oci', 'osbuild cache export --format docker-archive alpine:3.20 alpine.tar'],
    minArgs: 2,
  },
  {
    name: 'cache rm',
    summary: 'remove references from the store (their blobs go at the next prune)',
    usage: 'osbuild cache rm REF...',
    options: { cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    optionHelp: common,
    examples: ['osbuild cache rm alpine:3.20'],
    minArgs: 1,
  },
  {
    name: 'cache verify',
    summary: 'check every blob of the store against its digest; exit 0 if clean, 1 if problems were found (even when --repair fixed them)',
    usage: 'osbuild cache verify [--repair] [REF...]',
    options: { repair: { type: 'boolean' }, cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    optionHelp: [
      ['--repair', 'remove corrupt blobs and the refs that reach a corrupt or missing blob, and say how to get each back (the next build pulls or builds its images itself)'],
      ...common,
    ],
    examples: [
      'osbuild cache verify                    # every blob, every ref, the derived cache',
      'osbuild cache verify osbuild/getty:0.1.0',
      'osbuild cache verify --repair && osbuild build blueprints/minimal.yml',
    ],
    minArgs: 0,
  },
  {
    name: 'cache prune',
    summary: 'delete blobs no reference reaches, and the data derived from them',
    usage: 'osbuild cache prune [--now]',
    options: { now: { type: 'boolean' }, cache, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    optionHelp: [['--now', 'also delete blobs written in the last 10 minutes (no build or pull may be running)'], ...common],
    examples: ['osbuild cache prune', 'osbuild cache prune --now    # also blobs written in the last 10 minutes'],
    minArgs: 0,
  },
];

export function findCommand(words: string[]): { command: Command; rest: string[] } | undefined {
  for (const c of COMMANDS) {
    const parts = c.name.split(' ');
    if (parts.every((p, i) => words[i] === p)) return { command: c, rest: words.slice(parts.length) };
  }
  return undefined;
}

export function commandHelp(c: Command, extra = ''): string {
  const w = Math.max(...c.optionHelp.map(([o]) => o.length), 10);
  return [
    `${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    '',
    'Options:',
    ...c.optionHelp.map(([o, d]) => `  ${o.padEnd(w)}  ${d}`),
    `  ${'-h, --help'.padEnd(w)}  show this help`,
    extra,
    'Examples:',
    ...c.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

export function mainHelp(version: string): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `osbuild ${version}: build minimal, container-composed Linux systems from a YAML blueprint`,
    '',
    'Usage: osbuild COMMAND [OPTIONS] ARGS    (osbuild FILE.yml ... is short for osbuild build FILE.yml ...)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Quick start:',
    '  osbuild build blueprints/minimal.yml            # -> out/minimal-kernel, -initrd.img, -cmdline',
    '  osbuild run --poweroff 2 out/minimal            # boot it under QEMU',
    '',
    'Run `osbuild COMMAND --help` for a command\'s options and examples.',
    '',
  ].join('\n');
}
