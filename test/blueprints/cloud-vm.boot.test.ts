// Boots blueprints/cloud-vm.yml the way a user runs it on a hypervisor and checks what they would:
// - a NoCloud seed made with genisoimage (label cidata) holds meta-data with an ssh key made by
//   ssh-keygen, a hostname and a JSON config tree as user-data. The seed is an IDE CD-ROM on
//   amd64 and a virtio disk on arm64;
// - metadata finds the seed, and `ssh` from the host through a port forward logs in as root
//   with that key. The hostname and the files of the user-data's tree are there;
// - rngd runs on virtio-rng (rng_current names it);
// - qemu-ga answers guest-ping and guest-info on the host side of its chardev socket;
// - the system shuts down cleanly: the ACPI power button on amd64 (acpid), qemu-ga's
//   guest-shutdown on arm64.
// amd64 boots the qcow2-efi disk under OVMF (the blueprint's default format); arm64 boots
// kernel+initrd, which is quicker under emulation.
// Guard: any metadata service is looked for on a closed port of the host
// (osbuild.metadata.url=http://10.0.2.2:1), never at 169.254.169.254 beyond QEMU's user network.
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { freePort } from '../helpers/net.js';
import { powerButton } from '../helpers/qmp.js';

const GUARD = 'osbuild.metadata.url=http://10.0.2.2:1';
let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/metadata', 'components/qemu-ga', 'components/rngd']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-cloud-vm-'));
}, 1_800_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * Send guest-agent commands over the host end of its chardev, one connection; each reply is one
 * JSON line. A command that has no reply (guest-shutdown) is sent last with `noReply`.
 */
async function qga(socket: string, cmds: string[], noReply?: string): Promise<Record<string, unknown>[]> {
  return await new Promise((resolve, reject) => {
    const s = connect(socket);
    const replies: Record<string, unknown>[] = [];
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`qemu-ga: no answer to ${cmds[replies.length]} within 20 s`));
    }, 20_000);
    const next = () => {
      if (replies.length < cmds.length) s.write(`${JSON.stringify({ execute: cmds[replies.length] })}\n`);
      else {
        clearTimeout(timer);
        if (noReply) s.write(`${JSON.stringify({ execute: noReply })}\n`);
        s.end();
        resolve(replies);
      }
    };
    s.setEncoding('utf8');
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', next);
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        replies.push(JSON.parse(line) as Record<string, unknown>);
        next();
      }
    });
  });
}

const MACHINE = { amd64: 'x86_64', arm64: 'aarch64' } as const;

// the two arches boot side by side: each has its own dir (seed, key, sockets, output) and host port
describe.concurrent('blueprints/cloud-vm.yml boots', () => {
  for (const arch of ['amd64', 'arm64'] as Arch[]) {
    it(`on ${arch}: a NoCloud seed's key lets ssh in, its user-data is under /run/config, qemu-ga and rngd answer`, async ({ expect }) => {
      const dir = join(work, arch);
      await mkdir(join(dir, 'seed'), { recursive: true });
      const key = join(dir, 'id_ed25519');
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `cloud-vm-${arch}`, '-f', key]);
      const pub = (await readFile(`${key}.pub`, 'utf8')).trim();
      const hostname = `vm-${arch}`;
      await writeFile(join(dir, 'seed', 'meta-data'), `instance-id: iid-${arch}\nlocal-hostname: ${hostname}\npublic-keys:\n  - ${pub}\n`);
      const tree = { app: { entries: { greeting: { perm: '0640', content: `hello from a NoCloud seed on ${arch}\n` } } } };
      await writeFile(join(dir, 'seed', 'user-data'), JSON.stringify(tree));
      const seed = join(dir, 'seed.iso');
      await execa('genisoimage', ['-quiet', '-o', seed, '-V', 'cidata', '-J', '-r', join(dir, 'seed', 'user-data'), join(dir, 'seed', 'meta-data')]);

      const name = 'cloud-vm';
      const out = join(dir, 'out');
      const files = [join(REPO, 'blueprints/cloud-vm.yml')];
      let path = join(out, name);
      let appendCmdline: string | undefined = GUARD;
      if (arch === 'amd64') {
        // the disk's command line is fixed inside its UKI: the guard goes into the blueprint
        const guard = join(dir, 'guard.yml');
        await writeFile(guard, `kernel:\n  cmdline: "console=ttyS0 console=ttyAMA0 ${GUARD}"\n`);
        files.push(guard);
        appendCmdline = undefined;
      }
      await build({ files, arch, outDir: out, cacheDir, name, formats: [arch === 'amd64' ? 'qcow2-efi' : 'kernel+initrd'] });
      if (arch === 'amd64') path = join(out, `${name}-efi.qcow2`);

      const port = await freePort();
      const qmp = join(dir, 'qmp.sock');
      const qgaSock = join(dir, 'qga.sock');
      const seedArgs =
        arch === 'amd64'
          ? ['-drive', `file=${seed},format=raw,media=cdrom,readonly=on,if=ide,index=2`]
          : ['-drive', `file=${seed},format=raw,if=virtio,readonly=on`];
      const ssh = (cmd: string) =>
        execa(
          'ssh',
          ['-i', key, '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', cmd],
          { reject: false, timeout: 30_000 },
        );

      interface Checks {
        ssh: { stdout: string; stderr: string; exitCode?: number };
        agent?: Record<string, unknown>[];
        agentError?: string;
      }
      let checks: Promise<Checks> | undefined;
      // Once sshd and qemu-ga run and eth0 has its address: log in (sshd may still be making its
      // host keys: retry), ask the agent, then shut down, while testImage keeps reading the console.
      const check = async (): Promise<Checks> => {
        let last: Checks['ssh'] = { stdout: '', stderr: '', exitCode: undefined };
        const result: Checks = { ssh: last };
        try {
          for (let i = 0; i < 30; i++) {
            const r = await ssh(
              'uname -m; hostname; cat /run/config/provider; cat /run/config/app/greeting; stat -c %a /run/config/app/greeting; cat /sys/class/misc/hw_random/rng_current; pidof rngd >/dev/null && echo rngd running',
            );
            last = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
            if (r.exitCode === 0) break;
            await new Promise((res) => setTimeout(res, 2000));
          }
          result.ssh = last;
          result.agent = await qga(qgaSock, ['guest-ping', 'guest-info'], arch === 'arm64' ? 'guest-shutdown' : undefined);
        } catch (e) {
          result.agentError = String(e);
        } finally {
          if (arch === 'amd64') await powerButton(qmp).catch(() => undefined);
        }
        return result;
      };
      let leased = false;
      let sshdUp = false;
      let agentUp = false;
      const r = await testImage({
        path,
        arch,
        timeoutSec: arch === 'amd64' ? 300 : 600,
        appendCmdline,
        hostForward: [{ host: port, guest: 22 }],
        extraArgs: [
          ...seedArgs,
          '-device', 'virtio-rng-pci',
          '-chardev', `socket,path=${qgaSock},server=on,wait=off,id=qga0`,
          '-device', 'virtio-serial',
          '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
          '-qmp', `unix:${qmp},server=on,wait=off`,
        ],
        onLine: (line) => {
          if (/eth0: leased 10\.0\.2\.15/.test(line)) leased = true;
          if (/osbuild: service sshd started/.test(line)) sshdUp = true;
          if (/qemu-ga: on \/dev\/vport/.test(line)) agentUp = true;
          if (leased && sshdUp && agentUp && !checks) checks = check();
        },
        expect: [
          /osbuild: module qemu_fw_cfg loaded/,
          /osbuild: onboot 000-dhcpcd exit 0/,
          new RegExp(`metadata: found nocloud`),
          /metadata: ssh: 1 key\(s\) in \/run\/config\/ssh\/authorized_keys/,
          new RegExp(`metadata: hostname set to ${hostname}`),
          /osbuild: onboot 001-metadata exit 0/,
          arch === 'amd64' ? /acpid: power button pressed, powering off/ : /qemu-ga: guest-shutdown \(poweroff\)/,
          /osbuild: service sshd stopped/,
          /osbuild: poweroff/,
          /reboot: Power down/,
        ],
      });
      const c = await (checks ?? Promise.resolve(undefined));
      const log = r.log.slice(-80).join('\n');
      expect(c, `never got to log in: no lease, no sshd or no qemu-ga\n${log}`).toBeDefined();
      expect(c!.ssh.exitCode, `ssh failed: ${c!.ssh.stderr}\n${log}`).toBe(0);
      expect(c!.ssh.stdout.split('\n')).toEqual([
        MACHINE[arch],
        hostname,
        'nocloud',
        `hello from a NoCloud seed on ${arch}`,
        '640',
        'virtio_rng.0',
        'rngd running',
      ]);
      expect(c!.agentError, log).toBeUndefined();
      const [ping, info] = c!.agent!;
      expect(ping).toEqual({ return: {} });
      const ret = info.return as { version: string; supported_commands: { name: string; enabled: boolean }[] };
      expect(ret.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(ret.supported_commands.find((x) => x.name === 'guest-shutdown')?.enabled).toBe(true);
      expect(r.ok, r.ok ? '' : `${r.reason}\n${log}`).toBe(true);
    }, 1_800_000);
  }
});
