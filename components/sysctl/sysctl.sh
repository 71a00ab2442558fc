#!/bin/sh
# Applies every /etc/sysctl.d/*.conf (the host's, bound in) in name order; exits non-zero if
# any file had a key that could not be set, after trying all of them.
status=0
found=0
for f in /etc/sysctl.d/*.conf; do
  [ -f "$f" ] || continue
  found=1
  echo "sysctl: applying $f"
  sysctl -p "$f" || { echo "sysctl: $f: some settings failed" >&2; status=1; }
done
[ "$found" = 1 ] || echo "sysctl: no /etc/sysctl.d/*.conf: nothing to apply"
exit "$status"
