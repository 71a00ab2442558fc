// The device nodes of a container's config.json and the device cgroup rules that let it open them.
import type { Device } from '../blueprint/schema.js';
import { isSet } from './merge-rules.js';
import type { DeviceCgroupRule, SpecDevice } from './oci-spec.js';
import { RuntimeSpecError } from './runtime-spec-error.js';

function deviceMode(where: string, d: Device): number {
  // LinuxKit parses the YAML text of `mode` as octal, so 0666 and "0666" and 666 all mean 0o666
  // (a label, whose nested objects are not checked, may give a number).
  const text = isSet(d.mode) ? String(d.mode) : '';
  if (!/^[0-7]+$/.test(text) || parseInt(text, 8) > 0o7777) {
    throw new RuntimeSpecError('BAD_DEVICE', `${where}: device "${d.path}": mode "${text}" is not an octal permission like 0666`);
  }
  return parseInt(text, 8);
}

/** The device nodes to create; their cgroup rules (and those of `path: all`) are appended to `rules`. */
export function containerDevices(where: string, devices: Device[], rules: DeviceCgroupRule[]): SpecDevice[] {
  const out: SpecDevice[] = [];
  for (const d of devices) {
    // Every device must also be allowed by the device cgroup, or opening it fails with EPERM.
    if (d.path === 'all') {
      rules.push({ allow: true, type: d.type, access: 'rwm' });
      continue;
    }
    const dev: SpecDevice = { path: d.path, type: d.type, major: d.major ?? 0, minor: d.minor ?? 0, fileMode: deviceMode(where, d) };
    out.push(dev);
    rules.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access: 'rwm' });
  }
  return out;
}
