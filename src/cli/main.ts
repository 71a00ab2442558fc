#!/usr/bin/env -S node --max-semi-space-size=2
// --max-semi-space-size=2: a smaller young generation keeps peak memory under 150 MB while
// streaming big images (buffers die young); measured in bench/, no visible time cost.
// The osbuild command line: parse, call the library, show its events and errors, set the exit
// code. Nothing here knows how anything is built.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultCacheDir, PACKAGE_ROOT } from '../build/defaults.js';
// Everything else is loaded by the command that needs it: `--help` or `validate` should not pay
// for QEMU, registry or Debian code.
import { parseMirrors, type RegistryOptions } from '../oci/registry/options.js';
import { ARCH_NAMES, archNamed, type Arch } from '../arch.js';
import { COMMANDS, commandHelp, findCommand, mainHelp, type Command } from './commands.js';
import { formatBytes, guardTerminal, pkgReporter, registryReporter, reporter, type Mode } from './progress.js';

class UsageError extends Error {}

const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help') {
    process.stdout.write(mainHelp(version));
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`osbuild ${version}\n`);
    return 0;
  }
  // `osbuild FILE.yml -f iso` is how users type `osbuild build FILE.yml -f iso`.
  const words = /\.ya?ml$/.test(argv[0]) ? ['build', ...argv] : argv;
  const found = findCommand(words);
  if (!found) throw new UsageError(`unknown command ${JSON.stringify(argv.join(' '))}; run \`osbuild --help\``);
  const { command, rest } = found;
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(commandHelp(command, command.name === 'build' ? await formatsHelp() : ''));
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nUsage: ${command.usage}`);
  }
  if (parsed.positionals.length < command.minArgs) throw new UsageError(`missing argument\nUsage: ${command.usage}`);
  const v = parsed.values as unknown as Values;
  const mode: Mode = v.json ? 'json' : v.quiet ? 'quiet' : v.verbose ? 'verbose' : 'human';
  return run(command, parsed.positionals, v, mode);
}

type Values = Record<string, string | string[] | boolean | undefined>;

async function run(command: Command, args: string[], v: Values, mode: Mode): Promise<number> {
  const cacheDir = (v.cache as string | undefined) ?? defaultCacheDir();
  switch (command.name) {
    case 'build': {
      const result = await (await import('../build/build.js')).build({
        files: args,
        formats: v.format as string[] | undefined,
        arch: archOf(v.arch),
        root: rootOf(v.root),
        outDir: v.output as string | undefined,
        name: v.name as string | undefined,
        cacheDir,
        pull: v.pull === true,
        registry: registryOptions(v),
        onEvent: reporter(mode),
      });
      if (mode !== 'quiet') for (const o of result.outputs) for (const f of o.files) process.stdout.write(`${f.path}\n`);
      return 0;
    }
    case 'validate': {
      const r = await (await import('../blueprint/validate.js')).validateFiles(args);
      if (r.ok) {
        if (mode !== 'quiet') process.stdout.write(`${args.join(', ')}: valid\n`);
        return 0;
      }
      process.stderr.write(`${r.error.message}\n`);
      return 1;
    }
    case 'run':
      return (await import('../run/boot.js')).runImage({
        path: args[0],
        ...firmwareOptions(v),
        arch: archOf(v.arch),
        mem: v.mem as string | undefined,
        cpus: v.cpus !== undefined ? positiveInt(v.cpus as string, '--cpus') : undefined,
        hostForward: forwardsOf(v.forward),
        appendCmdline: [...((v.append as string[]) ?? []), ...(v.poweroff !== undefined ? [`osbuild.poweroff=${positiveInt(v.poweroff as string, '--poweroff', true)}`] : [])].join(' ') || undefined,
      });
    case 'test': {
      const expect = ((v.expect as string[]) ?? []).map((e) => new RegExp(e));
      if (expect.length === 0) throw new UsageError('osbuild test needs at least one --expect REGEX');
      const r = await (await import('../run/boot.js')).testImage({
        path: args[0],
        ...firmwareOptions(v),
        expect,
        timeoutSec: v.timeout !== undefined ? positiveInt(v.timeout as string, '--timeout') : 120,
        arch: archOf(v.arch),
        mem: v.mem as string | undefined,
        hostForward: forwardsOf(v.forward),
        appendCmdline: ((v.append as string[]) ?? []).join(' ') || undefined,
        onLine: mode === 'human' ? (l: string) => process.stdout.write(l + '\n') : undefined,
      });
      if (r.ok) {
        if (mode !== 'quiet') process.stderr.write(`osbuild: test passed: ${r.matched}/${expect.length} expectations in ${(r.durationMs / 1000).toFixed(1)} s\n`);
        return 0;
      }
      process.stderr.write(`osbuild: test failed: ${r.reason}\n`);
      if (mode !== 'human') process.stderr.write(`console tail:\n${r.log.slice(-30).join('\n')}\n`);
      return 1;
    }
    case 'pkg build': {
      // no --arch: undefined, so the component's own arches apply (an empty list would build none);
      // checked before the store is opened so that a usage error creates nothing
      const arches = (v.arch as string[] | undefined)?.map((a) => archOf(a)!);
      const pushTo = v.push as string | undefined;
      if (pushTo !== undefined && args.length !== 1) throw new UsageError('--push REF takes one component folder');
      const regOpts = registryOptions(v);
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      for (const dir of args) {
        const r = await (await import('../pkg/build.js')).buildComponent(dir, {
          store,
          cacheDir,
          arches,
          onProgress: pkgReporter(mode),
        });
        process.stdout.write(`${r.ref} ${r.index.digest}\n`);
        if (pushTo !== undefined) {
          const p = await (await import('../oci/registry/push.js')).push(store, r.ref, pushTo, { registry: regOpts, onEvent: registryReporter(mode) });
          process.stdout.write(`${p.dest} ${p.digest}\n`);
        }
      }
      return 0;
    }
    case 'pull': {
      const arches = (v.arch as string[] | undefined)?.map((a) => archOf(a)!);
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      const registries = await (await import('../oci/registry/session.js')).Registries.open(registryOptions(v));
      try {
        for (const ref of args) {
          const r = await (await import('../oci/registry/pull.js')).pull(store, ref, { arches, refresh: true, registries, onEvent: registryReporter(mode) });
          process.stdout.write(`${r.ref} ${r.descriptor.digest}\n`);
        }
      } finally {
        registries.close();
      }
      return 0;
    }
    case 'push': {
      if (args.length > 2) throw new UsageError(`push takes REF and an optional DEST\nUsage: ${command.usage}`);
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      const r = await (await import('../oci/registry/push.js')).push(store, args[0], args[1], { registry: registryOptions(v), onEvent: registryReporter(mode) });
      process.stdout.write(`${r.dest} ${r.digest}\n`);
      return 0;
    }
    case 'cache rm': {
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      let missing = 0;
      for (const ref of args) {
        if (await store.untag(ref)) {
          if (mode !== 'quiet') process.stdout.write(`removed ${ref}\n`);
        } else {
          process.stderr.write(`osbuild: ${ref} is not in the store\n`);
          missing++;
        }
      }
      return missing > 0 ? 1 : 0;
    }
    case 'cache prune': {
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      const r = await (await import('../oci/prune.js')).prune(store, v.now ? { graceMs: 0 } : {});
      if (mode === 'json') process.stdout.write(JSON.stringify(r) + '\n');
      else if (mode !== 'quiet') {
        const kept = r.keptRecent > 0 ? `; kept ${r.keptRecent} written in the last 10 minutes (--now removes them)` : '';
        process.stdout.write(`removed ${r.removedBlobs} blobs (${formatBytes(r.removedBytes)}) and ${r.removedDerived} derived files${kept}\n`);
      }
      return 0;
    }
    case 'cache verify': {
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      const { verifyStore } = await import('../oci/verify.js');
      const r = await verifyStore(store, { refs: args, repair: v.repair === true, onProgress: verifyProgress(mode) });
      if (mode === 'json') {
        process.stdout.write(JSON.stringify(r) + '\n');
        return r.problems.length > 0 ? 1 : 0;
      }
      if (process.stderr.isTTY && mode === 'human') process.stderr.write('\r\x1b[K');
      for (const p of r.problems) {
        const who = p.refs.length > 0 ? `; needed by ${p.refs.join(', ')}` : '';
        const fixed = p.removed ? ' (removed)' : '';
        process.stdout.write(`${p.kind} ${p.digest} (${p.what}): ${p.message}${who}${fixed}\n`);
      }
      for (const d of r.dropped) process.stdout.write(`dropped ${d.ref}: get it back with ${d.howToGet}\n`);
      if (mode !== 'quiet') {
        const summary = `checked ${r.blobs} blobs (${formatBytes(r.bytes)}) and ${r.derivedFiles} derived files`;
        if (r.problems.length === 0) process.stderr.write(`${summary}: no problems\n`);
        else if (v.repair) process.stderr.write(`${summary}: ${r.problems.length} problems, repaired; ${r.dropped.length} refs dropped (a build gets them back by itself, or use the commands above)\n`);
        else process.stderr.write(`${summary}: ${r.problems.length} problems; \`osbuild cache verify --repair\` removes the corrupt blobs and the refs that need them\n`);
      }
      return r.problems.length > 0 ? 1 : 0;
    }
    case 'cache export': {
      const format = v.format as string | undefined;
      if (format !== undefined && format !== 'oci' && format !== 'docker-archive') throw new UsageError(`--format ${format}: expected oci or docker-archive`);
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      const out = args[args.length - 1];
      const written = await (await import('../oci/archive.js')).exportImages(store, args.slice(0, -1), out, { format, arch: archOf(v.arch) });
      if (mode !== 'quiet') for (const w of written) process.stdout.write(`${w.ref} ${w.descriptor.digest}\n`);
      return 0;
    }
    case 'cache ls': {
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      const list = await store.list();
      if (mode === 'json') process.stdout.write(JSON.stringify(list) + '\n');
      else for (const { ref, descriptor } of list) process.stdout.write(`${ref}\t${descriptor.digest}\t${descriptor.mediaType}\n`);
      return 0;
    }
    case 'cache import': {
      const store = await (await import('../oci/store.js')).Store.open(join(cacheDir, 'store'));
      for (const p of args) {
        const refs = await (await import('../oci/import.js')).importLayout(store, p, { ref: v.ref as string | undefined });
        for (const r of refs) process.stdout.write(`${r.ref} ${r.descriptor.digest}\n`);
      }
      return 0;
    }
  }
  throw new UsageError(`unknown command ${command.name}`);
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
    process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
}

/** --uefi / --bios / --firmware, for booting ISOs and disks. */
function firmwareOptions(v: Values): { firmware?: 'uefi' | 'bios'; firmwarePath?: string } {
  if (v.uefi && v.bios) throw new UsageError('--uefi and --bios exclude each other');
  return { firmware: v.uefi ? 'uefi' : v.bios ? 'bios' : undefined, firmwarePath: v.firmware as string | undefined };
}

function registryOptions(v: Values): RegistryOptions {
  const mirrors = v.mirror as string[] | undefined;
  try {
    parseMirrors(mirrors);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    creds: v.creds as string | undefined,
    insecureRegistries: v['insecure-registry'] as string[] | undefined,
    caCertFiles: v['ca-cert'] as string[] | undefined,
    mirrors,
  };
}

async function formatsHelp(): Promise<string> {
  const { FORMATS } = await import('../build/outputs.js');
  const w = Math.max(...FORMATS.map((f) => f.name.length));
  return ['', 'Formats:', ...FORMATS.map((f) => `  ${f.name.padEnd(w)}  ${f.files('NAME').join(', ')}: ${f.description}`), ''].join('\n');
}

function archOf(v: unknown): Arch | undefined {
  if (v === undefined) return undefined;
  const a = archNamed(String(v));
  if (!a) throw new UsageError(`--arch ${String(v)}: expected ${ARCH_NAMES.join(' or ')}`);
  return a;
}

function forwardsOf(v: unknown): { host: number; guest: number }[] | undefined {
  const list = (v as string[] | undefined) ?? [];
  if (list.length === 0) return undefined;
  return list.map((f) => {
    const m = /^(\d+):(\d+)$/.exec(f);
    const ok = (n: number) => n >= 1 && n <= 65535;
    if (!m || !ok(Number(m[1])) || !ok(Number(m[2]))) throw new UsageError(`--forward ${f}: expected HOST:GUEST ports, e.g. 2222:22`);
    return { host: Number(m[1]), guest: Number(m[2]) };
  });
}

function rootOf(v: unknown): 'initramfs' | 'squashfs' | undefined {
  if (v === undefined) return undefined;
  if (v !== 'initramfs' && v !== 'squashfs') throw new UsageError(`--root ${String(v)}: expected initramfs or squashfs`);
  return v;
}

function positiveInt(s: string, flag: string, zeroOk = false): number {
  if (!/^\d+$/.test(s) || (!zeroOk && Number(s) === 0)) throw new UsageError(`${flag} ${s}: expected a ${zeroOk ? 'non-negative' : 'positive'} whole number`);
  return Number(s);
}

// Every string the CLI writes (errors, warnings, paths, a guest's console lines under `osbuild
// test`) passes the terminal guard: no message can carry an escape sequence to the terminal.
guardTerminal(process.stdout);
guardTerminal(process.stderr);

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`osbuild: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    const e = err as Error & { code?: string };
    process.stderr.write(`osbuild: error: ${e.message ?? String(err)}\n`);
    if (process.env.OSBUILD_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  },
);

export { COMMANDS };
