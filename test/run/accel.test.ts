import { describe, expect, it } from 'vitest';
import { hostArch } from '../../src/arch.js';
import { detectAccel, type HostKvm, kvmUsable, probeHostKvm } from '../../src/run/accel.js';
import { RunError } from '../../src/run/errors.js';

const intel: HostKvm = { hostArch: 'amd64', devKvm: true, modules: ['kvm', 'kvm_intel'], cpuFlags: ['vmx'] };

describe('kvmUsable', () => {
  it('accepts hardware KVM for the host arch', () => {
    expect(kvmUsable(intel, 'amd64').usable).toBe(true);
    expect(kvmUsable({ ...intel, modules: ['kvm', 'kvm_amd'], cpuFlags: ['svm'] }, 'amd64').usable).toBe(true);
    expect(kvmUsable({ hostArch: 'arm64', devKvm: true, modules: ['kvm'], cpuFlags: [] }, 'arm64').usable).toBe(true);
  });
  it('refuses a foreign guest arch, a missing /dev/kvm, kvm_pvm, and KVM without vmx/svm', () => {
    expect(kvmUsable(intel, 'arm64')).toMatchObject({ usable: false, reason: expect.stringMatching(/arm64 on a amd64/) });
    expect(kvmUsable({ ...intel, devKvm: false }, 'amd64').usable).toBe(false);
    expect(kvmUsable({ ...intel, modules: ['kvm', 'kvm_pvm'], cpuFlags: [] }, 'amd64').reason).toMatch(/kvm_pvm/);
    expect(kvmUsable({ ...intel, modules: ['kvm', 'kvm_intel', 'kvm_pvm'] }, 'amd64').usable).toBe(false);
    expect(kvmUsable({ ...intel, cpuFlags: [] }, 'amd64').usable).toBe(false);
  });
});

describe('detectAccel', () => {
  it('obeys OSBUILD_ACCEL and rejects other values', async () => {
    expect(await detectAccel('arm64', { OSBUILD_ACCEL: 'kvm' })).toBe('kvm');
    expect(await detectAccel('amd64', { OSBUILD_ACCEL: 'tcg' })).toBe('tcg');
    await expect(detectAccel('amd64', { OSBUILD_ACCEL: 'hvf' })).rejects.toMatchObject({ code: 'ACCEL_INVALID' });
    await expect(detectAccel('amd64', { OSBUILD_ACCEL: 'hvf' })).rejects.toBeInstanceOf(RunError);
  });
  it('agrees with what this host has', async () => {
    const host = await probeHostKvm();
    expect(host.hostArch).toBe(hostArch());
    for (const arch of ['amd64', 'arm64'] as const) {
      expect(await detectAccel(arch, {})).toBe(kvmUsable(host, arch).usable ? 'kvm' : 'tcg');
      if (arch !== host.hostArch || host.modules.includes('kvm_pvm')) expect(await detectAccel(arch, {})).toBe('tcg');
    }
  });
});
