import { describe, expect, it } from 'vitest';
import { bootCmdline, qemuCommand } from '../../src/run/qemu.js';

const base = { kernel: '/k', initrd: '/i', cmdline: 'quiet' };

function after(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe('qemuCommand', () => {
  it('x86_64: pc machine, ttyS0 console, no reboot, kernel + initrd', () => {
    const { command, args } = qemuCommand({ ...base, arch: 'amd64', interactive: false });
    expect(command).toBe('qemu-system-x86_64');
    expect(after(args, '-machine')).toBe('pc');
    expect(after(args, '-accel')).toBe('tcg');
    expect(args).toContain('-no-reboot');
    expect(after(args, '-kernel')).toBe('/k');
    expect(after(args, '-initrd')).toBe('/i');
    expect(after(args, '-append')).toBe('quiet console=ttyS0 panic=-1');
    expect(after(args, '-m')).toBe('1024M');
    expect(after(args, '-smp')).toBe('1');
  });

  it('aarch64: virt machine, max cpu with impdef pointer auth under TCG, ttyAMA0 console', () => {
    const { command, args } = qemuCommand({ ...base, arch: 'arm64', interactive: false });
    expect(command).toBe('qemu-system-aarch64');
    expect(after(args, '-machine')).toBe('virt');
    expect(after(args, '-cpu')).toBe('max,pauth-impdef=on');
    expect(after(args, '-append')).toBe('quiet console=ttyAMA0 panic=-1');
  });

  it('kvm uses the host cpu', () => {
    for (const arch of ['amd64', 'arm64'] as const) {
      const { args } = qemuCommand({ ...base, arch, accel: 'kvm', interactive: false });
      expect(after(args, '-accel')).toBe('kvm');
      expect(after(args, '-cpu')).toBe('host');
    }
  });

  it('interactive puts the serial console on the terminal; otherwise on stdout without a monitor', () => {
    const inter = qemuCommand({ ...base, arch: 'amd64', interactive: true }).args;
    expect(inter).toContain('-nographic');
    expect(inter).not.toContain('-serial');
    const batch = qemuCommand({ ...base, arch: 'amd64', interactive: false }).args;
    expect(batch).not.toContain('-nographic');
    expect(after(batch, '-serial')).toBe('stdio');
    expect(after(batch, '-monitor')).toBe('none');
    expect(after(batch, '-display')).toBe('none');
  });

  it('honours mem, cpus, net and extra args (last, so they can override)', () => {
    const { args } = qemuCommand({ ...base, arch: 'arm64', interactive: false, mem: '2G', cpus: 2, net: 'none', extraArgs: ['-s'] });
    expect(after(args, '-m')).toBe('2G');
    expect(after(args, '-smp')).toBe('2');
    expect(after(args, '-nic')).toBe('none');
    expect(args.at(-1)).toBe('-s');
    expect(after(qemuCommand({ ...base, arch: 'arm64', interactive: false }).args, '-nic')).toBe('user,model=virtio-net-pci');
  });

  it('forwards host ports on loopback only to the guest (e.g. ssh)', () => {
    const { args } = qemuCommand({ ...base, arch: 'amd64', interactive: false, hostForward: [{ host: 2222, guest: 22 }, { host: 8080, guest: 80 }] });
    expect(after(args, '-nic')).toBe('user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80');
  });

  it('omits -initrd when there is none', () => {
    expect(qemuCommand({ arch: 'amd64', kernel: '/k', cmdline: '', interactive: true }).args).not.toContain('-initrd');
  });
});

describe('bootCmdline', () => {
  it('keeps a console and a panic setting the image chose', () => {
    expect(bootCmdline('amd64', 'console=tty0 panic=10 quiet')).toBe('console=tty0 panic=10 quiet');
    expect(bootCmdline('arm64', '')).toBe('console=ttyAMA0 panic=-1');
    // a word merely containing the name is not the parameter
    expect(bootCmdline('amd64', 'osbuild.console=x')).toBe('osbuild.console=x console=ttyS0 panic=-1');
  });
});
