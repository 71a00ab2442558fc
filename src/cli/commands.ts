// Every command as one row: its usage, its options (each with its own help line), examples, and
// the handler that runs it. The same table drives argument parsing, --help and dispatch, so they
// cannot drift apart; an option's value type follows from its row (see Values).
//
// Handlers load the library code they need with import(): `--help` or `validate` should not pay
// for QEMU, registry or Debian code.

import { ARCH_NAMES, archNamed, type Arch } from '../arch.js';
import { EXIT_CODES, exitCodeOf, exitCodeOfFamily, OsbuildError } from '../errors.js';
import { sourceDateEpoch } from '../defaults.js';
import { parseMirrors, type RegistryOptions } from '../oci/registry/options.js';
import type { Store } from '../oci/store.js';
import { INITRD_COMPRESSIONS, type InitrdCompression } from '../blueprint/schema.js';
import { artifactReporter, formatBytes, pkgReporter, registryReporter, reporter, rewriteLine, type Mode } from './progress.js';

/** A command line that cannot be run as given: exit 2. */
export class UsageError extends OsbuildError {
  readonly code = 'EUSAGE';
}

/** One option: what node:util's parseArgs needs, and its line of --help. */
export interface Option {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's name in --help (`--output DIR`); none for a boolean. */
  arg?: string;
  help: string;
}

export type Options = Record<string, Option>;

// A row's literal option types give exact value types; the wide Option type (a row not yet
// known: main.ts) gives every value parseArgs can return.
type Scalar<T> = T extends 'boolean' ? boolean : string;
type Multiple<O> = O extends { multiple: true } ? true : 'multiple' extends keyof O ? boolean : false;
type ValueOf<O extends Option> = Multiple<O> extends true ? Scalar<O['type']>[] : Multiple<O> extends false ? Scalar<O['type']> : Scalar<O['type']> | Scalar<O['type']>[];

/** The parsed values of a row's options, typed by the row: `-f` multiple strings is string[]. */
export type Values<O extends Options> = { [K in keyof O]?: ValueOf<O[K]> };

/** What every handler gets besides its arguments and option values. */
export interface Context {
  mode: Mode;
  /** --cache, else the default cache directory. */
  cacheDir: string;
  /** The store under cacheDir, opened on first use. */
  store(): Promise<Store>;
}

export interface Command<O extends Options = Options> {
  name: string;
  summary: string;
  usage: string;
  /** In the order --help shows them. */
  options: O;
  examples: string[];
  minArgs: number;
  /** More --help after the options (build: the formats). */
  moreHelp?(): Promise<string>;
  /** Runs the command; resolves to its exit code, throws an OsbuildError to fail. */
  run(args: string[], values: Values<O>, ctx: Context): Promise<number>;
}

/** A row, its option types checked against its handler. */
function command<const O extends Options>(c: Command<O>): Command<O> {
  return c;
}

// ------------------------------------------------------------------ options shared by rows

const cache = { type: 'string', arg: 'DIR', help: 'cache directory (content store, downloads); default $XDG_CACHE_HOME/osbuild' } as const;
const json = { type: 'boolean', help: 'print progress as JSON lines on stderr (for tools)' } as const;
const quiet = { type: 'boolean', short: 'q', help: 'print errors only' } as const;
const verbose = { type: 'boolean', short: 'v', help: 'also show cached downloads and other routine steps' } as const;
const common = { cache, json, quiet } as const;

// How registries are reached: shared by every command that pulls or pushes.
const registry = {
  creds: { type: 'string', arg: 'USER:PASSWORD', help: 'credentials for the registries of this run (else OSBUILD_REGISTRY_CREDS, docker\'s config.json)' },
  'insecure-registry': { type: 'string', multiple: true, arg: 'HOST', help: 'allow plain HTTP or an unverified certificate for HOST[:PORT], repeatable' },
  'ca-cert': { type: 'string', multiple: true, arg: 'FILE', help: 'trust this PEM certificate authority too, repeatable' },
  mirror: { type: 'string', multiple: true, arg: 'REG=MIRROR', help: 'try MIRROR (host[:port]) before registry REG for pulls, repeatable' },
} as const;

// Where components' Debian packages come from: shared by build, lock and pkg build.
const debianSources = { type: 'string', arg: 'FILE', help: 'Debian archives as a YAML list of {url, suites, components, keyring, snapshot} (default: Debian 12 from deb.debian.org, Debian\'s keyring, snapshot.debian.org)' } as const;

async function debianSourcesOf(file: string | undefined) {
  return file === undefined ? undefined : (await import('../pkg/archive.js')).loadSources(file);
}

// How QEMU boots an ISO or a disk: shared by run and test.
const firmware = {
  uefi: { type: 'boolean', help: 'boot an ISO or disk through UEFI firmware (default: what the image supports, BIOS first on x86_64)' },
  bios: { type: 'boolean', help: 'boot an ISO or disk through BIOS firmware (x86_64)' },
  firmware: { type: 'string', arg: 'PATH', help: 'firmware image (default OVMF / AAVMF for UEFI, SeaBIOS for BIOS)' },
} as const;

// ------------------------------------------------------------------ the table

export const COMMANDS: Command[] = [
  command({
    name: 'build',
    summary: 'build outputs from blueprint files',
    usage: 'osbuild build [-f FORMAT]... [--arch amd64|arm64] [--root initramfs|squashfs] [--verity] [--size SIZE] [--image-version V] [-o DIR] [--name NAME] [--sign-key KEY --sign-cert CERT] FILE...',
    options: {
      format: { type: 'string', short: 'f', multiple: true, arg: 'FORMAT', help: 'output format, repeatable (default kernel+initrd); see `osbuild build --help`' },
      arch: { type: 'string', arg: 'ARCH', help: 'target architecture: amd64 or arm64 (default: this machine\'s)' },
      root: { type: 'string', arg: 'LAYOUT', help: 'where the system lives on boot media: initramfs (all in RAM) or squashfs (a read-only root on the medium, small initrd); default: the blueprint\'s root.type, else initramfs' },
      verity: { type: 'boolean', help: 'a verified root (root.verity: true): a dm-verity tree after the squashfs, its root hash on the kernel command line; needs the squashfs layout' },
      'initrd-compression': { type: 'string', arg: 'KIND', help: 'gzip (default; every kernel reads it) or zstd (faster, smaller; needs a kernel with CONFIG_RD_ZSTD, as Debian\'s); default: the blueprint\'s root.initrd.compression' },
      output: { type: 'string', short: 'o', arg: 'DIR', help: 'where outputs go (default ./out)' },
      name: { type: 'string', arg: 'NAME', help: 'base name of the outputs (default: the first file\'s name)' },
      pull: { type: 'boolean', help: 'ask registries where tags point now, even for images in the store' },
      push: { type: 'string', arg: 'REF', help: 'then push the outputs (and their SBOMs) to REF as one OCI artifact; see `osbuild push-artifact --help`' },
      locked: { type: 'boolean', help: 'fail, listing what differs, unless osbuild.lock (beside the first file) pins everything as this build would use it' },
      'update-lock': { type: 'boolean', help: 'resolve afresh (components rebuilt when Debian has newer .debs) and write this arch into osbuild.lock' },
      'debian-sources': debianSources,
      sbom: { type: 'string', arg: 'LIST', help: 'software bills of materials to write as NAME.spdx.json / NAME.cdx.json and into the image as /etc/osbuild/sbom.*.json: spdx (default), cyclonedx, spdx,cyclonedx, or none' },
      size: { type: 'string', arg: 'SIZE', help: 'disk formats (raw-*, qcow2-*, vhd, vmdk, aws, gcp, azure): a disk of this size, LinuxKit\'s way: MiB (1024 or 1024M) or GiB (1G); default: as small as the content allows' },
      'image-version': { type: 'string', arg: 'V', help: 'the version of a slots root (root.slots: ab), overriding root.version: one blueprint builds v1, v2, ... of a device\'s updates' },
      'sign-key': { type: 'string', arg: 'KEY', help: 'sign every EFI binary (the UKI of uki, iso, raw-efi, qcow2-efi, ...) for Secure Boot with this PEM private key: RSA of 2048 bits or more (the same bytes every time), or EC P-256 (ECDSA: a new signature each time, and not every firmware verifies it); with --sign-cert' },
      'sign-cert': { type: 'string', arg: 'CERT', help: 'the PEM certificate of --sign-key (intermediate certificates may follow it), enrolled in the firmware\'s db' },
      ...registry,
      ...common,
      verbose,
    },
    examples: [
      'osbuild build blueprints/minimal.yml',
      'osbuild build --locked blueprints/minimal.yml     # exactly what blueprints/osbuild.lock pins',
      'osbuild build --update-lock --debian-sources sources.yml bp.yml   # Debian\'s current .debs, written into the lock',
      'osbuild build -f raw-efi --size 1G blueprints/minimal.yml',
      'osbuild build -f uki -f raw-efi --sign-key db.key --sign-cert db.crt blueprints/minimal.yml',
      'osbuild blueprints/minimal.yml -f kernel+initrd -f tar --arch arm64',
      'osbuild build --root squashfs -f iso blueprints/sshd.yml',
      'osbuild build --root squashfs --verity -f raw-efi blueprints/minimal.yml',
      'SOURCE_DATE_EPOCH=1700000000 osbuild build -o dist base.yml extra.yml',
      'osbuild build -f iso --push registry.local:5000/outputs/minimal:1 blueprints/minimal.yml',
      'osbuild build --initrd-compression zstd blueprints/webserver.yml',
      'osbuild build --sbom spdx,cyclonedx blueprints/minimal.yml   # out/minimal.spdx.json and out/minimal.cdx.json too',
      'osbuild build -f raw-efi -f update --image-version 2 device.yml   # root: {type: squashfs, slots: ab}: the A/B disk and the v2 update',
    ],
    minArgs: 1,
    async moreHelp() {
      const { FORMATS } = await import('../build/outputs.js');
      const w = Math.max(...FORMATS.map((f) => f.name.length));
      return ['', 'Formats:', ...FORMATS.map((f) => `  ${f.name.padEnd(w)}  ${f.files('NAME').join(', ')}: ${f.description}`), ''].join('\n');
    },
    async run(args, v, ctx) {
      // a bad --push reference fails before the build, not after it
      if (v.push !== undefined) (await import('../oci/ref.js')).parseRef(v.push);
      const result = await (await import('../build/build.js')).build({
        files: args,
        formats: v.format,
        arch: archOf(v.arch),
        root: rootOf(v.root),
        ...(v.verity === true ? { verity: true } : {}),
        initrdCompression: initrdCompressionOf(v['initrd-compression']),
        diskSize: await sizeOf(v.size),
        ...(v['image-version'] !== undefined ? { imageVersion: v['image-version'] } : {}),
        outDir: v.output,
        name: v.name,
        cacheDir: ctx.cacheDir,
        sourceDateEpoch: sourceDateEpoch(),
        pull: v.pull === true,
        registry: registryOptions(v),
        sign: signFiles(v['sign-key'], v['sign-cert']),
        onEvent: reporter(ctx.mode),
        locked: v.locked === true,
        updateLock: v['update-lock'] === true,
        debianSources: await debianSourcesOf(v['debian-sources']),
        sbom: await sbomOf(v.sbom),
      });
      if (ctx.mode !== 'quiet') for (const o of result.outputs) for (const f of o.files) process.stdout.write(`${f.path}\n`);
      if (ctx.mode !== 'quiet') for (const f of result.sbom) process.stdout.write(`${f.path}\n`);
      if (v.push !== undefined) {
        const p = await (await import('../build/artifact.js')).pushBuildOutputs(result, args, v.push, {
          registry: registryOptions(v),
          sourceDateEpoch: sourceDateEpoch(),
          onEvent: artifactReporter(ctx.mode),
        });
        process.stdout.write(`${p.dest} ${p.digest}\n`);
      }
      return 0;
    },
  }),
  command({
    name: 'validate',
    summary: 'check blueprint files; exit 0 if valid, 1 with located errors',
    usage: 'osbuild validate FILE...',
    options: { quiet },
    examples: ['osbuild validate blueprints/minimal.yml', 'osbuild validate base.yml overrides.yml'],
    minArgs: 1,
    async run(args, _v, ctx) {
      const r = await (await import('../blueprint/validate.js')).validateFiles(args);
      if (r.ok) {
        if (ctx.mode !== 'quiet') process.stdout.write(`${args.join(', ')}: valid\n`);
        return 0;
      }
      // the located lines alone, one per problem, as a compiler prints them
      process.stderr.write(`${r.error.message}\n`);
      return exitCodeOf(r.error);
    },
  }),
  command({
    name: 'run',
    summary: 'boot a built image under QEMU with the serial console on this terminal',
    usage: 'osbuild run [--arch A] [--mem M] [--cpus N] [-p HOST:GUEST]... [--poweroff[=SECONDS]] PATH',
    options: {
      arch: { type: 'string', arg: 'ARCH', help: 'amd64 or arm64 (default: read from the kernel)' },
      mem: { type: 'string', arg: 'SIZE', help: 'guest memory, e.g. 1024M (default 1024M)' },
      cpus: { type: 'string', arg: 'N', help: 'guest CPUs (default 1)' },
      forward: { type: 'string', short: 'p', multiple: true, arg: 'HOST:GUEST', help: 'forward TCP port HOST on 127.0.0.1 to the guest\'s port GUEST, repeatable (e.g. 2222:22 for ssh)' },
      poweroff: { type: 'string', arg: 'SECONDS', help: 'shut the guest down cleanly that long after it is ready (non-interactive runs)' },
      append: { type: 'string', multiple: true, arg: 'ARG', help: 'extra kernel command line argument, repeatable (kernel+initrd only)' },
      ...firmware,
    },
    examples: [
      'osbuild run out/minimal                 # out/minimal-kernel, -initrd.img, -cmdline',
      'osbuild run --uefi out/minimal.iso      # an ISO as a CD-ROM, through OVMF',
      'osbuild run --poweroff 2 out/minimal    # boot, run everything, power off',
      'osbuild run -p 8080:80 out/webserver    # then: curl http://127.0.0.1:8080/',
      'osbuild run --arch arm64 out/minimal-kernel',
    ],
    minArgs: 1,
    async run(args, v) {
      const poweroff = v.poweroff !== undefined ? [`osbuild.poweroff=${positiveInt(v.poweroff, '--poweroff', true)}`] : [];
      return (await import('../run/boot.js')).runImage({
        path: args[0],
        ...firmwareOptions(v),
        arch: archOf(v.arch),
        mem: v.mem,
        cpus: v.cpus !== undefined ? positiveInt(v.cpus, '--cpus') : undefined,
        hostForward: forwardsOf(v.forward),
        appendCmdline: [...(v.append ?? []), ...poweroff].join(' ') || undefined,
      });
    },
  }),
  command({
    name: 'test',
    summary: `boot an image and wait for console lines; exit 0 when all appear in order, ${exitCodeOfFamily('boot')} otherwise`,
    usage: 'osbuild test PATH --expect REGEX... [--timeout SECONDS] [--arch A] [-p HOST:GUEST]...',
    options: {
      expect: { type: 'string', multiple: true, arg: 'REGEX', help: 'a console line to wait for, repeatable; matched in order' },
      uefi: { ...firmware.uefi, help: 'boot an ISO or disk through UEFI firmware' },
      bios: firmware.bios,
      firmware: firmware.firmware,
      timeout: { type: 'string', arg: 'SECONDS', help: 'give up after this long (default 120)' },
      arch: { type: 'string', arg: 'ARCH', help: 'amd64 or arm64 (default: read from the kernel)' },
      mem: { type: 'string', arg: 'SIZE', help: 'guest memory, e.g. 1024M (default 1024M)' },
      append: { type: 'string', multiple: true, arg: 'ARG', help: 'extra kernel command line argument, repeatable' },
      forward: { type: 'string', short: 'p', multiple: true, arg: 'HOST:GUEST', help: 'forward TCP port HOST on 127.0.0.1 to the guest\'s port GUEST, repeatable' },
      quiet: { ...quiet, help: 'do not echo the console' },
    },
    examples: [
      "osbuild test out/minimal --expect 'onboot 000-hello exit 0' --expect 'service getty started'",
      "osbuild test out/minimal --append osbuild.poweroff=1 --expect 'osbuild: poweroff' --timeout 60",
    ],
    minArgs: 1,
    async run(args, v, ctx) {
      const expect = (v.expect ?? []).map((e) => new RegExp(e));
      if (expect.length === 0) throw new UsageError('osbuild test needs at least one --expect REGEX');
      const r = await (await import('../run/boot.js')).testImage({
        path: args[0],
        ...firmwareOptions(v),
        expect,
        timeoutSec: v.timeout !== undefined ? positiveInt(v.timeout, '--timeout') : 120,
        arch: archOf(v.arch),
        mem: v.mem,
        hostForward: forwardsOf(v.forward),
        appendCmdline: (v.append ?? []).join(' ') || undefined,
        onLine: ctx.mode === 'human' ? (l: string) => process.stdout.write(l + '\n') : undefined,
      });
      if (r.ok) {
        if (ctx.mode !== 'quiet') process.stderr.write(`osbuild: test passed: ${r.matched}/${expect.length} expectations in ${(r.durationMs / 1000).toFixed(1)} s\n`);
        return 0;
      }
      process.stderr.write(`osbuild: test failed: ${r.reason}\n`);
      if (ctx.mode !== 'human') process.stderr.write(`console tail:\n${r.log.slice(-30).join('\n')}\n`);
      return exitCodeOfFamily('boot');
    },
  }),
  command({
    name: 'pkg build',
    summary: 'build a component folder into a multi-arch OCI image in the store',
    usage: 'osbuild pkg build [--arch A]... [--push REF] DIR...',
    options: {
      arch: { type: 'string', multiple: true, arg: 'ARCH', help: 'build only this arch, repeatable (default: the component\'s arches)' },
      push: { type: 'string', arg: 'REF', help: 'then push the image (all its arches, one index) to REF; one DIR only' },
      'debian-sources': debianSources,
      ...registry,
      ...common,
      verbose,
    },
    examples: [
      'osbuild pkg build components/init',
      'osbuild pkg build --arch arm64 components/getty kernel/debian-cloud',
      'osbuild pkg build --push registry.local:5000/team/init:0.1.0 components/init',
      'osbuild pkg build --debian-sources sources.yml components/getty',
    ],
    minArgs: 1,
    async run(args, v, ctx) {
      // no --arch: undefined, so the component's own arches apply (an empty list would build none);
      // checked before the store is opened so that a usage error creates nothing
      const arches = archesOf(v.arch);
      const pushTo = v.push;
      if (pushTo !== undefined && args.length !== 1) throw new UsageError('--push REF takes one component folder');
      const regOpts = registryOptions(v);
      const store = await ctx.store();
      for (const dir of args) {
        const r = await (await import('../pkg/build.js')).buildComponent(dir, {
          store,
          cacheDir: ctx.cacheDir,
          arches,
          sourceDateEpoch: sourceDateEpoch(),
          onProgress: pkgReporter(ctx.mode),
          sources: await debianSourcesOf(v['debian-sources']),
        });
        process.stdout.write(`${r.ref} ${r.index.digest}\n`);
        if (pushTo !== undefined) {
          const p = await (await import('../oci/registry/push.js')).push(store, r.ref, pushTo, { registry: regOpts, onEvent: registryReporter(ctx.mode) });
          process.stdout.write(`${p.dest} ${p.digest}\n`);
        }
      }
      return 0;
    },
  }),
  command({
    name: 'lock',
    summary: 'pin every input of blueprint files in osbuild.lock beside the first: image digests per arch, the exact .debs',
    usage: 'osbuild lock [--arch A]... [-f FORMAT]... FILE...',
    options: {
      arch: { type: 'string', multiple: true, arg: 'ARCH', help: 'lock only this arch, repeatable (default: amd64 and arm64)' },
      format: { type: 'string', short: 'f', multiple: true, arg: 'FORMAT', help: 'lock only the images these output formats need, repeatable (default: every format\'s)' },
      pull: { type: 'boolean', help: 'ask registries where tags point now, even for images in the store' },
      'debian-sources': debianSources,
      ...registry,
      ...common,
      verbose,
    },
    examples: [
      'osbuild lock blueprints/minimal.yml            # -> blueprints/osbuild.lock',
      'osbuild lock --arch amd64 -f kernel+initrd -f iso base.yml extra.yml',
      'osbuild lock --debian-sources sources.yml bp.yml',
    ],
    minArgs: 1,
    async run(args, v, ctx) {
      const r = await (await import('../build/locking.js')).lockBlueprints({
        files: args,
        arches: archesOf(v.arch),
        formats: v.format,
        cacheDir: ctx.cacheDir,
        sourceDateEpoch: sourceDateEpoch(),
        pull: v.pull === true,
        registry: registryOptions(v),
        debianSources: await debianSourcesOf(v['debian-sources']),
        onEvent: reporter(ctx.mode),
      });
      const debs = Object.values(r.lock.components).reduce((n, c) => n + Object.values(c.packages).reduce((m, l) => m + (l?.length ?? 0), 0), 0);
      if (ctx.mode !== 'quiet') process.stdout.write(`${r.file}: ${Object.keys(r.lock.images).length} images, ${debs} .debs\n`);
      return 0;
    },
  }),
  command({
    name: 'pull',
    summary: 'pull images from their registries into the store',
    usage: 'osbuild pull [--arch A]... REF...',
    options: {
      arch: { type: 'string', multiple: true, arg: 'ARCH', help: 'pull only this arch, repeatable (default: amd64 and arm64, as the image has them)' },
      ...registry,
      ...common,
      verbose,
    },
    examples: ['osbuild pull alpine:3.20', 'osbuild pull --arch arm64 ghcr.io/acme/agent:1.2', 'osbuild pull --insecure-registry registry.lan:5000 registry.lan:5000/team/svc:1.2'],
    minArgs: 1,
    async run(args, v, ctx) {
      const arches = archesOf(v.arch);
      const regOpts = registryOptions(v);
      const store = await ctx.store();
      const registries = await (await import('../oci/registry/session.js')).Registries.open(regOpts);
      try {
        for (const ref of args) {
          const r = await (await import('../oci/registry/pull.js')).pull(store, ref, { arches, refresh: true, registries, onEvent: registryReporter(ctx.mode) });
          process.stdout.write(`${r.ref} ${r.descriptor.digest}\n`);
        }
      } finally {
        registries.close();
      }
      return 0;
    },
  }),
  command({
    name: 'push',
    summary: 'push an image of the store (all its arches, one index) to a registry',
    usage: 'osbuild push REF [DEST]',
    options: { ...registry, ...common },
    examples: ['osbuild push docker.io/osbuild/init:0.1.0 registry.local:5000/osbuild/init:0.1.0', 'osbuild push ghcr.io/acme/agent:1.2'],
    minArgs: 1,
    async run(args, v, ctx) {
      if (args.length > 2) throw new UsageError('push takes REF and an optional DEST\nUsage: osbuild push REF [DEST]');
      const regOpts = registryOptions(v);
      const r = await (await import('../oci/registry/push.js')).push(await ctx.store(), args[0], args[1], { registry: regOpts, onEvent: registryReporter(ctx.mode) });
      process.stdout.write(`${r.dest} ${r.digest}\n`);
      return 0;
    },
  }),
  command({
    name: 'cache ls',
    summary: 'list the images in the store',
    usage: 'osbuild cache ls',
    options: common,
    examples: ['osbuild cache ls'],
    minArgs: 0,
    async run(_args, _v, ctx) {
      const list = await (await ctx.store()).list();
      if (ctx.mode === 'json') process.stdout.write(JSON.stringify(list) + '\n');
      else for (const { ref, descriptor } of list) process.stdout.write(`${ref}\t${descriptor.digest}\t${descriptor.mediaType}\n`);
      return 0;
    },
  }),
  command({
    name: 'cache import',
    summary: 'import an OCI layout directory or tar, or a docker-archive tar, into the store',
    usage: 'osbuild cache import [--ref REF] PATH...',
    options: { ref: { type: 'string', arg: 'REF', help: 'name for images whose layout names only a tag' }, ...common },
    examples: ['osbuild cache import ./alpine-oci', 'osbuild cache import --ref example/app:1.0 app.tar'],
    minArgs: 1,
    async run(args, v, ctx) {
      const store = await ctx.store();
      for (const p of args) {
        const refs = await (await import('../oci/import.js')).importLayout(store, p, { ref: v.ref });
        for (const r of refs) process.stdout.write(`${r.ref} ${r.descriptor.digest}\n`);
      }
      return 0;
    },
  }),
  command({
    name: 'cache export',
    summary: 'write images to an OCI layout directory, a tar of one, or a docker-archive tar',
    usage: 'osbuild cache export [--format oci|docker-archive] [--arch A] REF... PATH',
    options: {
      format: { type: 'string', arg: 'FORMAT', help: 'oci (default; a directory, or a tar if PATH ends in .tar) or docker-archive (a tar)' },
      arch: { type: 'string', arg: 'ARCH', help: 'the architecture a docker-archive holds (default amd64)' },
      ...common,
    },
    examples: ['osbuild cache export alpine:3.20 ./alpine-oci', 'osbuild cache export --format docker-archive alpine:3.20 alpine.tar'],
    minArgs: 2,
    async run(args, v, ctx) {
      const format = v.format;
      if (format !== undefined && format !== 'oci' && format !== 'docker-archive') throw new UsageError(`--format ${format}: expected oci or docker-archive`);
      const arch = archOf(v.arch);
      const out = args[args.length - 1];
      const written = await (await import('../oci/archive.js')).exportImages(await ctx.store(), args.slice(0, -1), out, { format, arch });
      if (ctx.mode !== 'quiet') for (const w of written) process.stdout.write(`${w.ref} ${w.descriptor.digest}\n`);
      return 0;
    },
  }),
  command({
    name: 'cache rm',
    summary: 'remove references from the store (their blobs go at the next prune)',
    usage: 'osbuild cache rm REF...',
    options: common,
    examples: ['osbuild cache rm alpine:3.20'],
    minArgs: 1,
    async run(args, _v, ctx) {
      const store = await ctx.store();
      let missing = 0;
      for (const ref of args) {
        if (await store.untag(ref)) {
          if (ctx.mode !== 'quiet') process.stdout.write(`removed ${ref}\n`);
        } else {
          process.stderr.write(`osbuild: ${ref} is not in the store\n`);
          missing++;
        }
      }
      return missing > 0 ? exitCodeOfFamily('input') : 0;
    },
  }),
  command({
    name: 'cache verify',
    summary: `check every blob of the store against its digest; exit 0 if clean, ${exitCodeOfFamily('store')} if problems were found (even when --repair fixed them)`,
    usage: 'osbuild cache verify [--repair] [REF...]',
    options: {
      repair: { type: 'boolean', help: 'remove corrupt blobs and the refs that reach a corrupt or missing blob, and say how to get each back (the next build pulls or builds its images itself)' },
      ...common,
    },
    examples: [
      'osbuild cache verify                    # every blob, every ref, the derived cache',
      'osbuild cache verify osbuild/getty:0.1.0',
      'osbuild cache verify --repair && osbuild build blueprints/minimal.yml',
    ],
    minArgs: 0,
    async run(args, v, ctx) {
      const { verifyStore } = await import('../oci/verify.js');
      const r = await verifyStore(await ctx.store(), { refs: args, repair: v.repair === true, onProgress: verifyProgress(ctx.mode) });
      const exit = r.problems.length > 0 ? exitCodeOfFamily('store') : 0;
      if (ctx.mode === 'json') {
        process.stdout.write(JSON.stringify(r) + '\n');
        return exit;
      }
      if (process.stderr.isTTY && ctx.mode === 'human') rewriteLine(process.stderr, '');
      for (const p of r.problems) {
        const who = p.refs.length > 0 ? `; needed by ${p.refs.join(', ')}` : '';
        const fixed = p.removed ? ' (removed)' : '';
        process.stdout.write(`${p.kind} ${p.digest} (${p.what}): ${p.message}${who}${fixed}\n`);
      }
      for (const d of r.dropped) process.stdout.write(`dropped ${d.ref}: get it back with ${d.howToGet}\n`);
      if (ctx.mode !== 'quiet') {
        const summary = `checked ${r.blobs} blobs (${formatBytes(r.bytes)}) and ${r.derivedFiles} derived files`;
        if (r.problems.length === 0) process.stderr.write(`${summary}: no problems\n`);
        else if (v.repair) process.stderr.write(`${summary}: ${r.problems.length} problems, repaired; ${r.dropped.length} refs dropped (a build gets them back by itself, or use the commands above)\n`);
        else process.stderr.write(`${summary}: ${r.problems.length} problems; \`osbuild cache verify --repair\` removes the corrupt blobs and the refs that need them\n`);
      }
      return exit;
    },
  }),
  command({
    name: 'cache prune',
    summary: 'delete blobs no reference reaches, and the data derived from them',
    usage: 'osbuild cache prune [--now]',
    options: { now: { type: 'boolean', help: 'also delete blobs written in the last 10 minutes (no build or pull may be running)' }, ...common },
    examples: ['osbuild cache prune', 'osbuild cache prune --now    # also blobs written in the last 10 minutes'],
    minArgs: 0,
    async run(_args, v, ctx) {
      const r = await (await import('../oci/prune.js')).prune(await ctx.store(), v.now ? { graceMs: 0 } : {});
      if (ctx.mode === 'json') process.stdout.write(JSON.stringify(r) + '\n');
      else if (ctx.mode !== 'quiet') {
        const kept = r.keptRecent > 0 ? `; kept ${r.keptRecent} written in the last 10 minutes (--now removes them)` : '';
        process.stdout.write(`removed ${r.removedBlobs} blobs (${formatBytes(r.removedBytes)}), ${r.removedDerived} derived files and ${r.removedSegments} initrd segments${kept}\n`);
      }
      return 0;
    },
  }),
  command({
    name: 'push-artifact',
    summary: 'push build outputs to a registry as one OCI artifact, SBOMs attached as referrers',
    usage: 'osbuild push-artifact REF FILE...   or   osbuild push-artifact REF --from DIR --name NAME',
    options: {
      from: { type: 'string', arg: 'DIR', help: 'push what a build wrote to DIR under --name: the files of every format found, and NAME.spdx.json / NAME.cdx.json' },
      name: { type: 'string', arg: 'NAME', help: 'the outputs\' name (needed with --from; else the default is none); also the artifact\'s name annotation' },
      format: { type: 'string', arg: 'FORMAT', help: 'the format that wrote FILE... (it sets the artifact type; --from finds it itself)' },
      arch: { type: 'string', arg: 'ARCH', help: 'the outputs\' architecture, an annotation (default: read from a NAME-kernel file)' },
      lock: { type: 'string', arg: 'FILE', help: 'the osbuild.lock the outputs were built with: its digest becomes an annotation' },
      ...registry,
      ...common,
      verbose,
    },
    examples: [
      'osbuild push-artifact registry.local:5000/outputs/minimal:1 --from out --name minimal',
      'osbuild push-artifact --format iso registry.local:5000/outputs/sshd:1 out/sshd.iso',
      'SOURCE_DATE_EPOCH=1700000000 osbuild push-artifact --lock osbuild.lock --arch arm64 ghcr.io/acme/device:2 out/device-efi.img out/device.spdx.json',
    ],
    minArgs: 1,
    async run(args, v, ctx) {
      const arch = archOf(v.arch);
      if (v.name !== undefined) (await import('../blueprint/name.js')).checkOutputName(v.name, 'option');
      const { findOutputs, outputsArch } = await import('../build/artifact.js');
      let found: { inputs: { path: string; format?: string }[]; formats: string[] };
      if (v.from !== undefined) {
        if (args.length > 1) throw new UsageError('push-artifact takes FILE... or --from DIR, not both');
        if (v.name === undefined) throw new UsageError('--from DIR needs --name NAME: the name the build gave its outputs (NAME-kernel, NAME.iso, ...)');
        if (v.format !== undefined) throw new UsageError('--from finds the formats itself; --format is for FILE...');
        found = await findOutputs(v.from, v.name);
      } else {
        if (args.length < 2) throw new UsageError('push-artifact needs the files to push (or --from DIR --name NAME)\nUsage: osbuild push-artifact REF FILE...');
        const format = v.format !== undefined ? (await import('../build/outputs.js')).findFormat(v.format).name : undefined;
        found = { inputs: args.slice(1).map((path) => ({ path, ...(format !== undefined ? { format } : {}) })), formats: format !== undefined ? [format] : [] };
      }
      const { pushArtifact } = await import('../oci/artifact/push.js');
      const r = await pushArtifact(found.inputs, args[0], {
        name: v.name,
        arch: arch ?? (await outputsArch(found.inputs)),
        lockFile: v.lock,
        sourceDateEpoch: sourceDateEpoch(),
        registry: registryOptions(v),
        onEvent: artifactReporter(ctx.mode),
      });
      process.stdout.write(`${r.dest} ${r.digest}\n`);
      return 0;
    },
  }),
  command({
    name: 'pull-artifact',
    summary: 'pull an OCI artifact of build outputs (and its attached SBOMs) into a directory',
    usage: 'osbuild pull-artifact [-o DIR] REF',
    options: {
      output: { type: 'string', short: 'o', arg: 'DIR', help: 'where the files go (default ./out); files of the same names are replaced' },
      ...registry,
      ...common,
      verbose,
    },
    examples: [
      'osbuild pull-artifact -o out registry.local:5000/outputs/minimal:1 && osbuild run out/minimal',
      'osbuild pull-artifact -o dl ghcr.io/acme/device@sha256:0123...   # pinned: the manifest must hash to it',
    ],
    minArgs: 1,
    async run(args, v, ctx) {
      if (args.length > 1) throw new UsageError('pull-artifact takes one REF\nUsage: osbuild pull-artifact [-o DIR] REF');
      const { pullArtifact } = await import('../oci/artifact/pull.js');
      const r = await pullArtifact(args[0], v.output ?? 'out', { registry: registryOptions(v), onEvent: artifactReporter(ctx.mode) });
      if (ctx.mode !== 'quiet') for (const f of [...r.files, ...r.sboms]) process.stdout.write(`${f.path}\n`);
      return 0;
    },
  }),
];

// ------------------------------------------------------------------ finding, parsing, help

export function findCommand(words: string[]): { command: Command; rest: string[] } | undefined {
  for (const c of COMMANDS) {
    const parts = c.name.split(' ');
    if (parts.every((p, i) => words[i] === p)) return { command: c, rest: words.slice(parts.length) };
  }
  return undefined;
}

/** The row's options as node:util's parseArgs takes them. */
export function parseArgsOptions(c: Command): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  return Object.fromEntries(
    Object.entries(c.options).map(([name, o]) => [name, { type: o.type, ...(o.short !== undefined ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
  );
}

/** `-f, --format FORMAT`: how --help names an option. */
function optionLabel(name: string, o: Option): string {
  return `${o.short !== undefined ? `-${o.short}, ` : ''}--${name}${o.arg !== undefined ? ` ${o.arg}` : ''}`;
}

export function commandHelp(c: Command, extra = ''): string {
  const rows = Object.entries(c.options).map(([name, o]) => [optionLabel(name, o), o.help] as const);
  const w = Math.max(...rows.map(([o]) => o.length), 10);
  return [
    `${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    '',
    'Options:',
    ...rows.map(([o, d]) => `  ${o.padEnd(w)}  ${d}`),
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
    'Exit codes:',
    ...EXIT_CODES.map((e) => `  ${e.exit}  ${e.what}`),
    '',
    'Run `osbuild COMMAND --help` for a command\'s options and examples.',
    '',
  ].join('\n');
}

// ------------------------------------------------------------------ option values

function signFiles(key: string | undefined, cert: string | undefined): { key: string; cert: string } | undefined {
  if (key === undefined && cert === undefined) return undefined;
  if (key === undefined || cert === undefined) throw new UsageError(`--sign-key and --sign-cert go together: ${key === undefined ? '--sign-key' : '--sign-cert'} is missing`);
  return { key, cert };
}

function archOf(v: string | undefined): Arch | undefined {
  if (v === undefined) return undefined;
  const a = archNamed(v);
  if (!a) throw new UsageError(`--arch ${v}: expected ${ARCH_NAMES.join(' or ')}`);
  return a;
}

function archesOf(v: string[] | undefined): Arch[] | undefined {
  return v?.map((a) => archOf(a)!);
}

function initrdCompressionOf(v: string | undefined): InitrdCompression | undefined {
  if (v === undefined) return undefined;
  if (!(INITRD_COMPRESSIONS as readonly string[]).includes(v)) throw new UsageError(`--initrd-compression ${v}: expected ${INITRD_COMPRESSIONS.join(' or ')}`);
  return v as InitrdCompression;
}

/** --sbom LIST: the SBOM formats; an unknown name is a usage error. */
async function sbomOf(v: string | undefined): Promise<('spdx' | 'cyclonedx')[] | undefined> {
  if (v === undefined) return undefined;
  const { parseSbomList } = await import('../sbom/formats.js');
  try {
    return parseSbomList(v);
  } catch (e) {
    throw new UsageError(`--sbom ${v}: ${(e as Error).message}`, { hint: (e as OsbuildError).hint });
  }
}

function rootOf(v: string | undefined): 'initramfs' | 'squashfs' | undefined {
  if (v === undefined) return undefined;
  if (v !== 'initramfs' && v !== 'squashfs') throw new UsageError(`--root ${v}: expected initramfs or squashfs`);
  return v;
}

async function sizeOf(v: string | undefined): Promise<number | undefined> {
  if (v === undefined) return undefined;
  const { parseDiskSize } = await import('../plan/disk-size.js');
  try {
    return parseDiskSize(v);
  } catch (e) {
    throw new UsageError((e as Error).message, { where: '--size', hint: (e as { hint?: string }).hint });
  }
}

function positiveInt(s: string, flag: string, zeroOk = false): number {
  if (!/^\d+$/.test(s) || (!zeroOk && Number(s) === 0)) throw new UsageError(`${flag} ${s}: expected a ${zeroOk ? 'non-negative' : 'positive'} whole number`);
  return Number(s);
}

function forwardsOf(list: string[] | undefined): { host: number; guest: number }[] | undefined {
  if (list === undefined || list.length === 0) return undefined;
  return list.map((f) => {
    const m = /^(\d+):(\d+)$/.exec(f);
    const ok = (n: number) => n >= 1 && n <= 65535;
    if (!m || !ok(Number(m[1])) || !ok(Number(m[2]))) throw new UsageError(`--forward ${f}: expected HOST:GUEST ports, e.g. 2222:22`);
    return { host: Number(m[1]), guest: Number(m[2]) };
  });
}

/** --uefi / --bios / --firmware, for booting ISOs and disks. */
function firmwareOptions(v: Values<typeof firmware>): { firmware?: 'uefi' | 'bios'; firmwarePath?: string } {
  if (v.uefi && v.bios) throw new UsageError('--uefi and --bios exclude each other');
  return { firmware: v.uefi ? 'uefi' : v.bios ? 'bios' : undefined, firmwarePath: v.firmware };
}

function registryOptions(v: Values<typeof registry>): RegistryOptions {
  const mirrors = v.mirror;
  try {
    parseMirrors(mirrors);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return { creds: v.creds, insecureRegistries: v['insecure-registry'], caCertFiles: v['ca-cert'], mirrors };
}

/** Progress of a long verify: JSON lines, or a line every 2 s (rewritten in place on a terminal). */
function verifyProgress(mode: Mode): ((e: { done: number; total: number; bytesDone: number; bytesTotal: number }) => void) | undefined {
  if (mode === 'quiet') return undefined;
  if (mode === 'json') return (e) => process.stderr.write(JSON.stringify({ type: 'verify-progress', ...e }) + '\n');
  let last = Date.now();
  const tty = process.stderr.isTTY === true;
  return (e) => {
    const now = Date.now();
    if (now - last < 2000) return; // a quick verify needs no progress
    last = now;
    const line = `verifying: ${e.done}/${e.total} blobs, ${formatBytes(e.bytesDone)} of ${formatBytes(e.bytesTotal)}`;
    if (tty) rewriteLine(process.stderr, line);
    else process.stderr.write(`${line}\n`);
  };
}
