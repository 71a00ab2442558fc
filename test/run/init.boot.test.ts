// The osbuild init (components/init) as PID 1 of a hand-made root, booted on Debian's cloud
// kernel: modules, onboot containers, supervised services with backoff, clean poweroff.
import { afterAll, describe, expect, it } from 'vitest';
import type { Arch } from '../../src/arch.js';
import { testImage } from '../../src/run/boot.js';
import { debianKernel } from '../helpers/debian-kernel.js';
import { initImage } from './init-root.js';
import { removeTempDirs } from './fixtures.js';

afterAll(removeTempDirs);

// OSBUILD_TEST_CONSOLE=1 shows the guest's console while the tests run
const onLine = process.env.OSBUILD_TEST_CONSOLE ? (l: string) => console.log(`[guest] ${l}`) : undefined;
const bb = (script: string) => ['/bin/busybox', 'sh', '-c', script];

async function boot(arch: Arch) {
  const release = (await debianKernel(arch)).release;
  const prefix = await initImage(arch, {
    modules: ['overlay', 'osbuild_no_such_module'],
    onboot: [
      { name: '000-hello', args: ['/bin/busybox', 'echo', 'HELLO-FROM-ONBOOT'] },
      { name: '001-fail', args: bb('exit 3') },
    ],
    services: [
      // exits after a second: restarted after 1 s, then 2 s; its third run asks for a poweroff the
      // way busybox `poweroff` does (SIGUSR2 to PID 1: it shares the init's pid namespace)
      {
        name: 'flaky',
        args: bb('n=$(/bin/busybox cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n >/state/n; echo FLAKY-UP $n; /bin/busybox sleep 1; [ $n -ge 3 ] && /bin/busybox kill -USR2 1; exit 7'),
        jq: '.linux.namespaces |= map(select(.type != "pid")) | .mounts += [{destination: "/state", type: "bind", source: "/tmp", options: ["rbind", "rw"]}]',
      },
      // the pid 1 of its container: ignores SIGTERM unless it traps it
      { name: 'steady', args: bb('trap "echo STEADY-TERM; exit 0" TERM; while :; do /bin/busybox sleep 1; done') },
    ],
    onshutdown: [{ name: '000-bye', args: ['/bin/busybox', 'echo', 'BYE-FROM-ONSHUTDOWN'] }],
    cmdline: 'quiet',
  });
  const res = await testImage({
    path: prefix,
    timeoutSec: 400,
    onLine,
    expect: [
      new RegExp(`^osbuild: init ${arch} ${release.replace(/\./g, '\\.')}$`),
      /^osbuild: module overlay loaded$/,
      /^osbuild: module osbuild_no_such_module failed$/,
      /^HELLO-FROM-ONBOOT$/,
      /^osbuild: onboot 000-hello exit 0$/,
      /^osbuild: onboot 001-fail exit 3$/,
      /^osbuild: ready$/,
      /^osbuild: service flaky exited 7, restarting in 1s$/,
      /^osbuild: service flaky exited 7, restarting in 2s$/,
      /^osbuild: onshutdown 000-bye exit 0$/,
      /^osbuild: poweroff$/,
      /reboot: Power down/,
    ],
  });
  return res;
}

function index(log: string[], line: string): number {
  return log.findIndex((l) => l === line);
}

describe.each(['amd64', 'arm64'] as const)('osbuild init on %s', (arch) => {
  it('runs onboot, supervises services, shuts down cleanly', async () => {
    const res = await boot(arch);
    const tail = res.log.filter((l) => l.includes('osbuild') || /[A-Z]{4,}-/.test(l)).join('\n');
    expect(res.reason, tail).toBeUndefined();
    expect(res.ok).toBe(true);
    const log = res.log;
    const ready = index(log, 'osbuild: ready');
    const shutdown = index(log, 'osbuild: onshutdown 000-bye exit 0');
    for (const s of ['flaky', 'steady']) {
      const started = index(log, `osbuild: service ${s} started`);
      expect(started, `${s} started\n${tail}`).toBeGreaterThanOrEqual(0);
      expect(started).toBeLessThan(ready);
      const stopped = index(log, `osbuild: service ${s} stopped`);
      expect(stopped, `${s} stopped\n${tail}`).toBeGreaterThan(ready);
      expect(stopped).toBeLessThan(shutdown);
    }
    // flaky was restarted (started again after its first exit)
    expect(log.filter((l) => l === 'osbuild: service flaky started').length).toBeGreaterThanOrEqual(2);
    // steady got SIGTERM (runc kill), not only the SIGKILL that follows a few seconds later
    expect(index(log, 'STEADY-TERM')).toBeGreaterThan(ready);
    expect(index(log, 'BYE-FROM-ONSHUTDOWN')).toBeGreaterThan(ready);
    expect(log.some((l) => /did not stop|Kernel panic|cannot move the root|pivot_root/.test(l)), tail).toBe(false);
  }, 600_000);
});

describe('osbuild init on amd64, nearly empty system', () => {
  it('with no modules, onboot nor services gets ready, and osbuild.poweroff=0 runs onshutdown and powers off', async () => {
    const prefix = await initImage('amd64', {
      onshutdown: [{ name: '000-bye', args: ['/bin/busybox', 'echo', 'BYE-FROM-ONSHUTDOWN'] }],
      cmdline: 'quiet osbuild.poweroff=0 osbuild.debug=1',
    });
    const res = await testImage({
      path: prefix,
      timeoutSec: 300,
      onLine,
      expect: [
        /^osbuild: init amd64 /,
        /^osbuild: debug: root /,
        /^osbuild: ready$/,
        /^BYE-FROM-ONSHUTDOWN$/,
        /^osbuild: onshutdown 000-bye exit 0$/,
        /^osbuild: poweroff$/,
        /reboot: Power down/,
      ],
    });
    expect(res.reason, res.log.join('\n')).toBeUndefined();
    expect(res.log.filter((l) => /osbuild: (module|onboot|service)/.test(l))).toEqual([]);
  }, 400_000);
});
