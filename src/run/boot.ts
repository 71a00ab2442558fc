// Boot an image under QEMU: interactively (the console is the terminal) or as a test that reads
// the console line by line and checks that expected lines appear in order.
import { execa, type ResultPromise } from 'execa';
import { ARCH_NAMES, ARCHES, type Arch } from '../arch.js';
import { detectAccel } from './accel.js';
import { findArtifacts, kernelIsoPrefix } from './artifacts.js';
import { RunError } from './errors.js';
import { existsSync } from 'node:fs';
import { chooseFirmware, type Firmware, mediaType, probeMedia } from './media.js';
import { type Accel, type QemuCommand, qemuCommand } from './qemu.js';

export interface BootOptions {
  /**
   * output prefix (out/minimal) or one of its files; or boot media, told by the extension:
   * .iso (CD-ROM), .img .raw .qcow2 .vhd .vmdk (virtio disk), .efi (UKI)
   */
  path: string;
  /** boot media: the firmware (--bios / --uefi); default BIOS when the image has BIOS boot code (x86), else UEFI */
  firmware?: Firmware;
  /** boot media: the firmware image (--firmware PATH); default OVMF / AAVMF for UEFI, SeaBIOS for BIOS */
  firmwarePath?: string;
  arch?: Arch;
  /** appended to the image's cmdline, e.g. 'osbuild.poweroff=1' */
  appendCmdline?: string;
  mem?: string;
  cpus?: number;
  /** default: detectAccel(arch) (KVM when really usable, OSBUILD_ACCEL overrides) */
  accel?: Accel;
  net?: 'user' | 'none';
  /** user-mode network: host TCP ports forwarded to guest ports, e.g. [{host: 2222, guest: 22}] */
  hostForward?: { host: number; guest: number }[];
  extraArgs?: string[];
}

export interface TestOptions extends BootOptions {
  /** regexes that console lines must match, in this order (several may match within one line) */
  expect: RegExp[];
  timeoutSec: number;
  /** every complete console line, as it arrives */
  onLine?: (line: string) => void;
}

export interface TestResult {
  ok: boolean;
  /** how many of `expect` matched */
  matched: number;
  /** the last console lines (up to 400), then QEMU's stderr if it said anything */
  log: string[];
  durationMs: number;
  /** why ok is false */
  reason?: string;
}

const LOG_TAIL = 400;

/** The QEMU command for a boot; exported so a CLI can show it (--dry-run). */
export async function bootCommand(opts: BootOptions, interactive: boolean): Promise<QemuCommand> {
  const type = mediaType(opts.path);
  // kernel+iso's root ISO has no boot code: it boots with the kernel and initrd beside it
  const rootIso = type?.kind === 'cdrom' ? await kernelIsoPrefix(opts.path) : undefined;
  if (type && !rootIso) return mediaCommand(opts, interactive, type);
  const art = await findArtifacts(rootIso ?? opts.path, { arch: opts.arch });
  const cmdline = [art.cmdline, opts.appendCmdline ?? ''].filter((s) => s.trim() !== '').join(' ');
  return qemuCommand({
    arch: art.arch,
    kernel: art.kernel,
    initrd: art.initrd,
    rootDisk: art.squashfs,
    cmdline,
    mem: opts.mem,
    cpus: opts.cpus,
    accel: opts.accel ?? (await detectAccel(art.arch)),
    interactive,
    net: opts.net,
    hostForward: opts.hostForward,
    extraArgs: opts.extraArgs,
  });
}

/** Booting an ISO, a disk image or a UKI through firmware, as the image says it boots. */
async function mediaCommand(opts: BootOptions, interactive: boolean, type: NonNullable<ReturnType<typeof mediaType>>): Promise<QemuCommand> {
  if (!existsSync(opts.path)) throw new RunError('ARTIFACT_MISSING', `no image at ${opts.path}: build it with \`osbuild build <blueprint> -f FORMAT\``);
  if (opts.appendCmdline?.trim()) {
    throw new RunError(
      'CMDLINE_FIXED',
      `${opts.path}: the kernel command line is built into this image, nothing can be appended (${opts.appendCmdline.trim()}): put it in the blueprint's kernel.cmdline, or boot the kernel+initrd output`,
    );
  }
  const probe = await probeMedia(opts.path, type);
  const arch = opts.arch ?? probe.arch;
  if (!arch) throw new RunError('ARCH_UNKNOWN', `${opts.path}: cannot tell its architecture (no EFI boot file, no x86 boot code found): give it with --arch ${ARCH_NAMES.join('|')}`);
  const firmware = type.kind === 'uki' ? chooseFirmware(opts.path, arch, probe, opts.firmware ?? 'uefi') : chooseFirmware(opts.path, arch, probe, opts.firmware);
  let firmwarePath = opts.firmwarePath;
  if (firmware === 'uefi' && !firmwarePath) {
    const fw = ARCHES[arch].efi.firmware;
    if (!existsSync(fw.path)) throw new RunError('FIRMWARE_MISSING', `UEFI firmware ${fw.path} is missing: apt-get install ${fw.package}, or give one with --firmware PATH`);
    firmwarePath = fw.path;
  }
  if (firmwarePath && !existsSync(firmwarePath)) throw new RunError('FIRMWARE_MISSING', `no firmware image at ${firmwarePath}`);
  return qemuCommand({
    arch,
    media: { kind: type.kind, path: opts.path, format: type.format },
    firmware: firmwarePath,
    mem: opts.mem,
    cpus: opts.cpus,
    accel: opts.accel ?? (await detectAccel(arch)),
    interactive,
    net: opts.net,
    hostForward: opts.hostForward,
    extraArgs: opts.extraArgs,
  });
}

function startFailure(cmd: QemuCommand, err: unknown): RunError {
  const e = err as NodeJS.ErrnoException;
  const pkg = Object.values(ARCHES).find((a) => a.qemu.binary === cmd.command)?.qemu.package;
  const hint = e.code === 'ENOENT' && pkg ? ` (install it: apt-get install ${pkg})` : '';
  return new RunError('QEMU_FAILED', `cannot start ${cmd.command}: ${e.message}${hint}`);
}

/** Boot with the console on the terminal; resolves with QEMU's exit code once it ends. */
export async function runImage(opts: BootOptions): Promise<number> {
  const cmd = await bootCommand(opts, true);
  const child = execa(cmd.command, cmd.args, { stdio: 'inherit', reject: false });
  const res = await child;
  if (res.failed && res.exitCode === undefined && !res.signal) throw startFailure(cmd, res.cause ?? res);
  return res.exitCode ?? 128;
}

/** Matches regexes in order against a stream of text split into lines; a partial line counts too. */
export class LineMatcher {
  private readonly res: RegExp[];
  private i = 0;
  private cur = '';
  private pos = 0;
  constructor(expect: RegExp[]) {
    // exec() with g or y would start at lastIndex: use plain copies
    this.res = expect.map((r) => new RegExp(r.source, r.flags.replace(/[gy]/g, '')));
  }
  get matched(): number {
    return this.i;
  }
  get done(): boolean {
    return this.i >= this.res.length;
  }
  get waitingFor(): RegExp | undefined {
    return this.res[this.i];
  }
  /** feed console text; returns the complete lines it finished (without \r\n) */
  push(text: string): string[] {
    const lines: string[] = [];
    const parts = (this.cur + text).split('\n');
    this.cur = parts.pop() ?? '';
    for (const raw of parts) {
      const line = raw.replace(/\r+$/, '');
      this.scan(line);
      this.pos = 0;
      lines.push(line);
    }
    this.scan(this.cur); // a prompt ("login: ") ends without a newline
    return lines;
  }
  /** the unfinished last line, if any */
  rest(): string {
    return this.cur.replace(/\r+$/, '');
  }
  private scan(line: string): void {
    while (this.i < this.res.length) {
      const m = this.res[this.i].exec(line.slice(this.pos));
      if (!m) return;
      this.pos += m.index + m[0].length;
      this.i++;
    }
  }
}

async function stop(child: ResultPromise, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM'); // QEMU quits cleanly on SIGTERM
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await child;
  } catch {
    /* reject: false; nothing to report */
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Boot without a terminal and check the console: ok once every `expect` regex matched, in order
 * (QEMU is then stopped); not ok when QEMU ends first or `timeoutSec` passes (QEMU is killed).
 * QEMU never outlives this call, nor (execa's cleanup) this process.
 */
export async function testImage(opts: TestOptions): Promise<TestResult> {
  const cmd = await bootCommand(opts, false);
  const t0 = Date.now();
  const matcher = new LineMatcher(opts.expect);
  const log: string[] = [];
  let stderr = '';
  const keep = (line: string) => {
    log.push(line);
    if (log.length > LOG_TAIL) log.splice(0, log.length - LOG_TAIL);
  };
  const child = execa(cmd.command, cmd.args, {
    stdin: 'ignore',
    buffer: false,
    reject: false,
    cleanup: true,
    encoding: 'utf8',
  });
  let spawnError: unknown;
  let timedOut = false;
  const result = await new Promise<'matched' | 'exited' | 'timeout'>((resolve) => {
    const timer = setTimeout(() => {
      timedOut = true;
      resolve('timeout');
    }, opts.timeoutSec * 1000);
    if (matcher.done) {
      clearTimeout(timer);
      resolve('matched');
      return;
    }
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      for (const line of matcher.push(chunk)) {
        keep(line);
        opts.onLine?.(line);
      }
      if (matcher.done) {
        clearTimeout(timer);
        resolve('matched');
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8192);
    });
    child.then(
      () => {
        clearTimeout(timer);
        resolve('exited');
      },
      (e) => {
        spawnError = e;
        clearTimeout(timer);
        resolve('exited');
      },
    );
  });
  await stop(child);
  const res = await child.catch((e) => e);
  // The last line may have matched before its newline came (or QEMU was stopped first): it is
  // still a line of the console, for the log and for whoever follows it.
  if (matcher.rest() !== '') {
    keep(matcher.rest());
    opts.onLine?.(matcher.rest());
  }
  for (const l of stderr.split('\n').filter((l) => l.trim() !== '')) keep(`[qemu stderr] ${l}`);
  const durationMs = Date.now() - t0;
  if (result === 'matched') return { ok: true, matched: matcher.matched, log, durationMs };
  if (spawnError || (res.failed && res.exitCode === undefined && !res.signal && !timedOut)) {
    throw startFailure(cmd, (spawnError as { cause?: unknown })?.cause ?? res.cause ?? spawnError ?? res);
  }
  const waiting = `${matcher.matched} of ${opts.expect.length} expectations matched, waiting for ${matcher.waitingFor}`;
  const reason =
    result === 'timeout'
      ? `timeout after ${opts.timeoutSec}s: ${waiting}`
      : `QEMU exited (${res.signal ? `signal ${res.signal}` : `code ${res.exitCode}`}) before the console matched: ${waiting}`;
  return { ok: false, matched: matcher.matched, log, durationMs, reason };
}
