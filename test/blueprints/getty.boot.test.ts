// Boots blueprints/getty.yml (the debug console; components built from components/ by the real
// pipeline) on amd64 under QEMU and uses it as a person at the serial console would: waits for
// the shell's prompt, types commands and reads their answers, then types `poweroff`. testImage
// never writes to the console (QEMU's stdin is closed), so this test runs the same QEMU command
// (bootCommand) with a pipe on its stdin: the serial port's input.
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { bootCommand } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { consoleProblems, upLines } from '../helpers/console.js';

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/logging']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-getty-'));
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A console session: everything QEMU's serial port printed so far, and a way to type. */
interface Console {
  text(): string;
  /** Resolves once `re` matches the console text after `from`; rejects after timeoutMs. */
  waitFor(re: RegExp, from: number, timeoutMs: number): Promise<number>;
  type(s: string): void;
}

describe('blueprints/getty.yml boots', () => {
  it('on amd64: the shell on the serial console answers typed commands, reads the logs, powers off', async () => {
    const name = 'getty';
    const out = join(work, name);
    await build({ files: [join(REPO, 'blueprints/getty.yml')], arch: 'amd64', outDir: out, cacheDir, name });
    const cmd = await bootCommand({ path: join(out, name), arch: 'amd64' }, false);
    const qemu = execa(cmd.command, cmd.args, { stdin: 'pipe', buffer: false, reject: false, cleanup: true, encoding: 'utf8' });
    let all = '';
    const waiters = new Set<() => void>();
    qemu.stdout!.setEncoding('utf8');
    qemu.stdout!.on('data', (d: string) => {
      all += d;
      waiters.forEach((w) => w());
    });
    const con: Console = {
      text: () => all,
      waitFor: (re, from, timeoutMs) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const m = re.exec(all.slice(from));
            if (!m) return false;
            waiters.delete(check);
            clearTimeout(timer);
            resolve(from + m.index + m[0].length);
            return true;
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`console: no ${re} within ${timeoutMs / 1000}s; its end:\n${all.slice(-3000)}`));
          }, timeoutMs);
          if (!check()) waiters.add(check);
        }),
      // a person types a line and presses Enter (CR; the tty turns it into a newline)
      type: (s) => qemu.stdin!.write(s.replace(/\n/g, '\r')),
    };
    try {
      let at = await con.waitFor(/getty: shell on \/dev\/ttyS0/, 0, 240_000);
      at = await con.waitFor(/osbuild:\/# /, at, 60_000);
      await con.waitFor(/eth0: leased 10\.0\.2\.15/, 0, 120_000);
      // answers only the shell can give: arithmetic (the typed line echoes `$((6*7))`, not 42),
      // the kernel's view of sysctl's setting, and the logs through the read-only bind
      // (klogd may still be copying the boot's 300-odd kernel lines: wait for the first one)
      con.type('echo "answer=$((6*7)) on $(uname -m)"; echo "sysrq=$(cat /proc/sys/kernel/sysrq)"; until grep -q "kernel: .*Linux version" /var/log/messages; do sleep 1; done; echo "kernel lines: $(grep -c " kernel: " /var/log/messages)"\n');
      // (up to the line's end: the number may arrive in pieces)
      const answered = await con.waitFor(/kernel lines: \d+\r?\n/, at, 60_000);
      const answer = con.text().slice(at, answered);
      expect(answer).toMatch(/answer=42 on x86_64/);
      expect(answer).toMatch(/sysrq=1/);
      expect(Number(/kernel lines: (\d+)/.exec(answer)![1]), answer).toBeGreaterThan(50);
      // a read-only bind: the shell cannot change the logs
      // (the answer is computed, so the echo of the typed line cannot match it)
      con.type('echo tampered >> /var/log/messages || echo "read-only: $((3*3))"\n');
      await con.waitFor(/read-only: 9/, answered, 60_000);
      con.type('poweroff\n');
      await con.waitFor(/osbuild: poweroff[\s\S]*reboot: Power down/, answered, 120_000);
      const res = await qemu;
      expect(res.exitCode).toBe(0);
    } finally {
      qemu.kill('SIGKILL');
      await qemu.catch(() => undefined);
    }
    // what the boot printed before the shell: the blueprint's parts
    const text = con.text();
    expect(text).toMatch(/kernel\.sysrq = 1/);
    expect(text).toMatch(/osbuild: onboot \d+-sysctl exit 0/);
    expect(text).toMatch(/osbuild: service logging started/);
    // what the blueprint's header tells its users to look for, and no error up to the power off
    const lines = text.split('\n').map((l) => l.replace(/\r+$/, ''));
    const promised = upLines(await readFile(join(REPO, 'blueprints/getty.yml'), 'utf8'));
    expect(promised.length).toBe(4);
    for (const l of promised) expect(lines.some((x) => x.includes(l)), l).toBe(true);
    expect(consoleProblems(lines)).toEqual([]);
  }, 900_000);

  it('builds for arm64: the same bundles, the shell with the logs bound read-only', async () => {
    const name = 'getty-arm64';
    const out = join(work, name);
    await build({ files: [join(REPO, 'blueprints/getty.yml')], arch: 'arm64', outDir: out, cacheDir, name });
    expect(await readFile(join(out, `${name}-cmdline`), 'utf8')).toMatch(/console=ttyAMA0/);
    const initrd = join(out, `${name}-initrd.img`);
    const list = (await execa('bsdtar', ['-tf', initrd], { maxBuffer: 64 * 2 ** 20 })).stdout.split('\n');
    expect(list).toEqual(expect.arrayContaining(['containers/onboot/000-sysctl/config.json', ...['logging', 'dhcpcd', 'getty'].map((s) => `containers/services/${s}/config.json`)]));
    const spec = JSON.parse((await execa('bsdtar', ['-xOf', initrd, 'containers/services/getty/config.json'])).stdout) as { mounts: { destination: string; source: string; options?: string[] }[] };
    expect(spec.mounts).toContainEqual(expect.objectContaining({ destination: '/var/log', source: '/var/log', options: expect.arrayContaining(['ro']) }));
  }, 900_000);
});
