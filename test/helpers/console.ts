// What a user must never see on the console of a healthy boot: an error from the init's own
// scripts (a missing command, a syntax error: "/init: line 101: mountpoint: not found") or a
// complaint from runc (logrus' "ERRO[0003] rmdir /sys/fs/cgroup/getty: device or resource busy",
// coloured on a terminal, `level=error` otherwise). Boot tests collect every line (testImage's
// onLine) and expect this list to be empty.

const PROBLEMS: RegExp[] = [
  /(?:^|\s)\/(?:init|lib\/osbuild\/\w+): line \d+: /,
  /: not found$/,
  /\b(?:ERRO|WARN|FATA)(?:\x1b\[0m)?\[\d+\]/,
  /\blevel=(?:error|warning|fatal)\b/,
  /\brmdir \/sys\/fs\/cgroup\b/,
];

/** The console lines that show one of the problems above. */
export function consoleProblems(lines: readonly string[]): string[] {
  return lines.filter((l) => PROBLEMS.some((re) => re.test(l)));
}
