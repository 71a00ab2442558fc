// What the console of a read-only root's boot shows with test/fixtures/squashfs/probe.yml (its
// onboot container reports how / and the writable paths are mounted), in order. Not anchored:
// the getty shell's prompt (no newline) may come first on a line.

export function readOnlyRootConsole(fstype: string, root: RegExp, writable: readonly string[] = ['/etc']): RegExp[] {
  return [
    root,
    /osbuild: init (amd64|arm64) /,
    /probe: \/ read-only/,
    ...writable.map((p) => new RegExp(`probe: ${p.replace(/\//g, '\\/')} writable`)),
    new RegExp(`probe: root is ${fstype} ro,`),
    /osbuild: onboot 001-probe exit 0/,
    /osbuild: service getty started/,
    /reboot: Power down/,
  ];
}
