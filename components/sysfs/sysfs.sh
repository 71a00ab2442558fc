#!/bin/sh
# Writes the settings of every /etc/sysfs.d/*.conf of the host (bound read-only), in name order:
# lines `path = value`, path relative to /sys (a leading /sys/ is accepted too); `#` starts a
# comment. Like LinuxKit's sysfs, but it tries every line and exits 1 at the end if one failed.
status=0; found=0
for f in /etc/sysfs.d/*.conf; do
  [ -f "$f" ] || continue
  found=1; n=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n+1))
    line=${line%%#*}
    case $line in *[![:space:]]*) ;; *) continue ;; esac
    case $line in *=*) ;; *) echo "sysfs: $f:$n: expected path = value: $line" >&2; status=1; continue ;; esac
    key=$(echo "${line%%=*}" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
    val=$(echo "${line#*=}" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
    key=${key#/sys/}; key=${key#/}
    case /$key/ in */../*) echo "sysfs: $f:$n: $key: no .. in a path" >&2; status=1; continue ;; esac
    if [ ! -e "/sys/$key" ]; then echo "sysfs: $f:$n: /sys/$key does not exist" >&2; status=1; continue; fi
    if printf '%s' "$val" >"/sys/$key"; then echo "sysfs: $key = $val"
    else echo "sysfs: $f:$n: cannot write $val to /sys/$key" >&2; status=1; fi
  done <"$f"
done
[ "$found" = 1 ] || echo "sysfs: no /etc/sysfs.d/*.conf: nothing to write"
exit "$status"
