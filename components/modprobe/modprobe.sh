#!/bin/sh
# Loads kernel modules: those named as arguments, else every module named in the host's
# /etc/modules-load.d/*.conf and /etc/modules (one a line, `#` comments), bound read-only under
# /host/etc. Modules come from the host's /lib/modules (the blueprint's kernel section: with no
# kernel.modules the whole tree is there). Exits 1 if any module could not be loaded.
if [ $# -eq 0 ]; then
  for f in /host/etc/modules-load.d/*.conf /host/etc/modules; do
    [ -f "$f" ] || continue
    while read -r m _; do
      case $m in ''|\#*|\;*) continue ;; esac
      set -- "$@" "$m"
    done <"$f"
  done
  [ $# -gt 0 ] || { echo "modprobe: no module named (arguments, /etc/modules-load.d/*.conf, /etc/modules): nothing to load"; exit 0; }
fi
[ -d "/lib/modules/$(uname -r)" ] || { echo "modprobe: no /lib/modules/$(uname -r): the blueprint's kernel has no modules" >&2; exit 1; }
status=0
for m in "$@"; do
  if modprobe "$m"; then echo "modprobe: $m loaded"; else echo "modprobe: $m failed" >&2; status=1; fi
done
exit "$status"
