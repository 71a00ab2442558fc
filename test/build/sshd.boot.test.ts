// Boots blueprints/sshd.yml (components built from components/ by the real pipeline) on amd64
// under QEMU with the guest's port 22 forwarded to the host, and checks what a user would: dhcpcd
// got its lease, `ssh` from the host logs in as root with a key the blueprint's files section
// put in /etc/ssh/authorized_keys and runs commands in the host's namespaces, and the power button
// (QMP system_powerdown, the ACPI event a hypervisor's "shut down" sends) makes acpid power the
// system off cleanly through our init.
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { consoleProblems, upLines } from '../helpers/console.js';
import { freePort } from '../helpers/net.js';
import { powerButton } from '../helpers/qmp.js';

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-sshd-'));
}, 900_000);

afterAll(async () => {
  // testImage never lets QEMU outlive it; only the key pair and the image are left
  if (work) await rm(work, { recursive: true, force: true });
});

describe('blueprints/sshd.yml boots', () => {
  it('on amd64: ssh from the host logs in with the key from files, the power button powers off', async () => {
    const key = join(work, 'id_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'osbuild-test', '-f', key]);
    const pub = (await readFile(`${key}.pub`, 'utf8')).trim();
    const keyYml = join(work, 'key.yml');
    await writeFile(keyYml, `files:\n  - path: /etc/ssh/authorized_keys\n    contents: ${JSON.stringify(`${pub}\n`)}\n    mode: "0644"\n`);

    const name = 'sshd';
    const out = join(work, name);
    await build({ files: [join(REPO, 'blueprints/sshd.yml'), keyYml], arch: 'amd64', outDir: out, cacheDir, name });

    const port = await freePort();
    const qmp = join(work, 'qmp.sock');
    const ssh = (cmd: string) =>
      execa(
        'ssh',
        ['-i', key, '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', cmd],
        { reject: false, timeout: 30_000 },
      );
    let session: Promise<{ stdout: string; stderr: string; exitCode?: number }> | undefined;
    // Once eth0 has its lease and sshd runs, log in (sshd may still be making its host keys: retry)
    // and then press the power button, while testImage keeps reading the console.
    const login = async () => {
      let last = { stdout: '', stderr: '', exitCode: undefined as number | undefined };
      try {
        for (let i = 0; i < 20; i++) {
          const r = await ssh('uname -m; cat /proc/1/comm; id -u');
          last = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
          if (r.exitCode === 0) break;
          await new Promise((res) => setTimeout(res, 2000));
        }
      } finally {
        await powerButton(qmp).catch(() => undefined);
      }
      return last;
    };
    let leased = false;
    let sshdUp = false;
    const lines: string[] = [];
    const r = await testImage({
      path: join(out, name),
      arch: 'amd64',
      timeoutSec: 240,
      hostForward: [{ host: port, guest: 22 }],
      extraArgs: ['-qmp', `unix:${qmp},server=on,wait=off`],
      onLine: (line) => {
        lines.push(line);
        if (/eth0: leased 10\.0\.2\.15/.test(line)) leased = true;
        if (/osbuild: service sshd started/.test(line)) sshdUp = true;
        if (leased && sshdUp && !session) session = login();
      },
      expect: [
        /osbuild: module button loaded/,
        /osbuild: module evdev loaded/,
        /osbuild: service acpid started/,
        /acpid: power button pressed, powering off/,
        /osbuild: service sshd stopped/,
        /osbuild: poweroff/,
        /reboot: Power down/,
      ],
    });
    const s = await (session ?? Promise.resolve(undefined));
    expect(s, `never logged in: no lease or no sshd\n${r.log.slice(-60).join('\n')}`).toBeDefined();
    expect(s!.exitCode, `ssh failed: ${s!.stderr}\n${r.log.slice(-60).join('\n')}`).toBe(0);
    // the guest's arch, its PID 1 (our init: sshd shares the host's pid namespace), root
    expect(s!.stdout.split('\n')).toEqual(['x86_64', 'init', '0']);
    expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-60).join('\n')}`).toBe(true);
    // what the blueprint's header tells its users to look for; no error up to the power off
    const promised = upLines(await readFile(join(REPO, 'blueprints/sshd.yml'), 'utf8'));
    expect(promised.length).toBe(5);
    for (const l of promised) expect(lines.some((x) => x.includes(l)), l).toBe(true);
    expect(consoleProblems(lines)).toEqual([]);
  }, 900_000);
});
