#!/bin/sh
# mount [-label LABEL | -uuid UUID | -device DEV] [-type T] [-options O] [DEVICE] MOUNTPOINT
# Mounts a filesystem onto a host path below /var (e.g. /var/lib/data), as LinuxKit's mount:
# /var is the host's, bound rshared, so the mount reaches the host and every later container
# that binds /var. Waits up to -wait seconds (default 10) for the device to appear.
dev=; label=; uuid=; fstype=; opts=; wait=10; mp=; npos=0
die() { echo "mount: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  a=$1; shift
  case $a in
    -*=*) k=${a%%=*}; v=${a#*=} ;;
    -*) k=$a; [ $# -gt 0 ] || die "$a needs a value"; v=$1; shift ;;
    # one positional: the mount point; two: the device, then the mount point
    *) npos=$((npos+1)); [ $npos -le 2 ] || die "too many arguments: $a"; [ $npos = 2 ] && dev=$mp; mp=$a; continue ;;
  esac
  case ${k#-} in
    device|-device) dev=$v ;;
    label|-label) label=$v ;;
    uuid|-uuid) uuid=$v ;;
    type|-type|t) fstype=$v ;;
    options|-options|o) opts=$v ;;
    wait|-wait) wait=$v ;;
    *) die "unknown flag $k (known: -label, -uuid, -device, -type, -options, -wait)" ;;
  esac
done
[ -n "$mp" ] || die "no mount point (usage: mount [-label L | -uuid U | -device D] /var/lib/NAME)"
case $mp in /var/?*) ;; *) die "$mp: the mount point must be below /var (the host's /var is bound here)" ;; esac
[ -n "$dev$label$uuid" ] || die "say what to mount: -label, -uuid or a device"

find_dev() {
  if [ -n "$dev" ]; then [ -b "$dev" ] && echo "$dev"; return; fi
  if [ -n "$label" ]; then blkid -c /dev/null -l -o device -t "LABEL=$label" 2>/dev/null; return; fi
  blkid -c /dev/null -l -o device -t "UUID=$uuid" 2>/dev/null
}
what=${dev:-${label:+LABEL=$label}}; what=${what:-UUID=$uuid}
i=0; d=
while :; do
  d=$(find_dev)
  [ -n "$d" ] && break
  i=$((i+1)); [ $i -le $((wait * 10)) ] || die "no device $what after ${wait}s (is its driver module in kernel.modules? was it formatted?)"
  sleep 0.1
done
# host_has MP: PID 1 (the host's mount namespace; pid: host) sees something mounted on MP
host_has() { awk -v m="$1" '$5==m{f=1} END{exit !f}' /proc/1/mountinfo; }
if host_has "$mp"; then echo "mount: $mp is already a mount point: left alone"; exit 0; fi
mkdir -p "$mp" || die "cannot make $mp"
mount ${fstype:+-t "$fstype"} ${opts:+-o "$opts"} "$d" "$mp" || die "cannot mount $d on $mp"
how=
if ! host_has "$mp"; then
  # The mount did not propagate: the host's /var is no mount point of its own, so runc made the
  # copy of its parent (/) private in here. Mount in PID 1's mount namespace instead; busybox runs
  # its own mount applet there (/proc/self/exe), so nothing of the host's is executed.
  umount "$mp"
  nsenter -t 1 -m mount ${fstype:+-t "$fstype"} ${opts:+-o "$opts"} "$d" "$mp" || die "cannot mount $d on $mp in the host's mount namespace"
  host_has "$mp" || die "$d is mounted on $mp but the host does not see it"
  how=" (in the host's mount namespace: /var is not a shared mount of its own there)"
fi
echo "mount: $what ($d, $(awk -v m="$mp" '$5==m{t=$9} END{print t}' /proc/1/mountinfo)) on $mp$how"
