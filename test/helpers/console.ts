// What a user must never see on the console of a healthy boot: an error from the init's own
// scripts (a missing command, a syntax error: "/init: line 101: mountpoint: not found") or a
// complaint from runc (logrus' "ERRO[0003] rmdir /sys/fs/cgroup/getty: device or resource busy",
// its form on a terminal, which the console is; the `level=error` form is left out, as that is
// how services such as containerd log their own routine lines). Boot tests collect every line
// (testImage's onLine) and expect this list to be empty.

const PROBLEMS: RegExp[] = [
  /(?:^|\s)\/(?:init|lib\/osbuild\/\w+): line \d+: /,
  /: not found$/,
  /\b(?:ERRO|WARN|FATA)(?:\x1b\[0m)?\[\d+\]/,
  /\brmdir \/sys\/fs\/cgroup\b/,
];

/** The console lines that show one of the problems above. */
export function consoleProblems(lines: readonly string[]): string[] {
  return lines.filter((l) => PROBLEMS.some((re) => re.test(l)));
}

/**
 * The console lines a reference blueprint's header promises once the system is up: the
 * `#   osbuild: ...` lines of its `# Up:` block. Boot tests wait for each; the blueprint's
 * services list is checked against them without a boot (test/blueprints/up-lines.test.ts).
 */
export function upLines(blueprintText: string): string[] {
  const header = blueprintText.split('\n');
  const at = header.findIndex((l) => l.startsWith('# Up:'));
  if (at < 0) return [];
  const out: string[] = [];
  for (const l of header.slice(at + 1)) {
    if (!l.startsWith('#')) break;
    const m = /^#\s+(osbuild: .*\S)\s*$/.exec(l);
    if (m) out.push(m[1]!);
  }
  return out;
}
