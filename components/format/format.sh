#!/bin/sh
# format [-type ext4|xfs] [-label LABEL] [-table gpt|dos] [DEVICE]
# Partitions a disk (one partition over the whole disk) and makes a filesystem on it, but only
# when the disk is empty: no partition table, no filesystem signature, no holder, not mounted,
# and its first and last MiB read as zeros. A disk with anything on it is left alone (exit 0),
# so the same blueprint boots again over its own data. Without DEVICE: the first empty disk.
# Flags are LinuxKit's (Go style: -type x, --type x, -type=x).
type=ext4; label=; table=gpt; dev=
die() { echo "format: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  a=$1; shift
  case $a in
    -*=*) k=${a%%=*}; v=${a#*=} ;;
    -*) k=$a; case $k in -h|--help) v= ;; *) [ $# -gt 0 ] || die "$a needs a value"; v=$1; shift ;; esac ;;
    *) [ -z "$dev" ] || die "one device only (got $dev and $a)"; dev=$a; continue ;;
  esac
  case ${k#-} in
    type|-type) type=$v ;;
    label|-label) label=$v ;;
    table|-table) table=$v ;;
    h|-help) echo "usage: format [-type ext4|xfs] [-label LABEL] [-table gpt|dos] [DEVICE]"; exit 0 ;;
    *) die "unknown flag $k (known: -type, -label, -table)" ;;
  esac
done
case $type in
  ext4) [ ${#label} -le 16 ] || die "an ext4 label has at most 16 characters: $label" ;;
  xfs) [ ${#label} -le 12 ] || die "an xfs label has at most 12 characters: $label"
       [ -x /sbin/mkfs.xfs ] || die "this image has no mkfs.xfs" ;;
  *) die "unsupported -type $type (ext4 or xfs)" ;;
esac
case $table in gpt|dos) ;; *) die "unsupported -table $table (gpt or dos)" ;; esac

# busybox-static runs its own applets before anything on PATH (mke2fs, fdisk, mount, ...):
# Debian's tools are called by their full paths
MiB=1048576
# why_not_empty DEV: prints why DEV holds (or may hold) data; prints nothing when it is empty
why_not_empty() {
  d=$1; n=${d##*/}
  s=/sys/class/block/$n
  [ -e "$s" ] || { echo "not a block device known to the kernel"; return; }
  [ -e "$s/partition" ] && { echo "a partition, not a whole disk"; return; }
  [ "$(cat "$s/ro" 2>/dev/null)" = 1 ] && { echo "read-only"; return; }
  for p in "$s"/"$n"*; do [ -e "$p/partition" ] && { echo "has partition ${p##*/}"; return; }; done
  for h in "$s"/holders/*; do [ -e "$h" ] && { echo "in use by ${h##*/}"; return; }; done
  grep -q "^$d[ p0-9]" /proc/mounts && { echo "mounted"; return; }
  grep -q "^$d[ p0-9]" /proc/swaps && { echo "used as swap"; return; }
  t=$(blkid -p -o value -s PTTYPE "$d" 2>/dev/null) && [ -n "$t" ] && { echo "has a $t partition table"; return; }
  t=$(blkid -p -o value -s TYPE "$d" 2>/dev/null) && [ -n "$t" ] && { echo "has a $t signature"; return; }
  size=$(blockdev --getsize64 "$d") || { echo "cannot read its size"; return; }
  [ "$size" -ge $((8 * MiB)) ] || { echo "smaller than 8 MiB"; return; }
  cmp -s -n $MiB "$d" /dev/zero || { echo "data in its first MiB"; return; }
  dd if="$d" bs=$MiB skip=$((size / MiB - 1)) count=1 2>/dev/null | cmp -s -n $MiB - /dev/zero ||
    { echo "data in its last MiB"; return; }
}

# candidate disks, in name order: skip what is never a data disk
disks() {
  for s in /sys/class/block/*; do
    n=${s##*/}
    [ -e "$s/partition" ] && continue
    case $n in loop*|ram*|zram*|dm-*|md*|sr*|nbd*|fd*|mtd*) continue ;; esac
    [ -b "/dev/$n" ] && echo "/dev/$n"
  done
}

if [ -n "$dev" ]; then
  [ -b "$dev" ] || die "$dev is not a block device (is its driver module in kernel.modules? e.g. virtio_blk)"
  why=$(why_not_empty "$dev")
  if [ -n "$why" ]; then echo "format: $dev: $why: left alone"; exit 0; fi
else
  for d in $(disks); do
    why=$(why_not_empty "$d")
    if [ -z "$why" ]; then dev=$d; break; fi
    echo "format: $d: $why: skipped"
  done
  [ -n "$dev" ] || { echo "format: no empty disk: nothing to format"; exit 0; }
fi

n=${dev##*/}
case $n in *[0-9]) part=${dev}p1 ;; *) part=${dev}1 ;; esac
case $table in gpt) ptype=0FC63DAF-8483-4772-8E79-3D69D8477DE4 ;; dos) ptype=83 ;; esac
echo "format: $dev is empty: making a $table partition table with one partition"
printf 'label: %s\n,,%s\n' "$table" "$ptype" | sfdisk -q "$dev" || die "$dev: sfdisk failed"
# the kernel re-read the table; devtmpfs makes the node
i=0
while [ ! -b "$part" ]; do
  i=$((i+1)); [ $i -le 100 ] || die "$part did not appear after the new partition table"
  [ $i = 10 ] && blockdev --rereadpt "$dev" 2>/dev/null
  sleep 0.1
done
case $type in
  ext4) /sbin/mke2fs -q -F -t ext4 ${label:+-L "$label"} "$part" || die "mke2fs on $part failed" ;;
  xfs) /sbin/mkfs.xfs -q -f ${label:+-L "$label"} "$part" || die "mkfs.xfs on $part failed" ;;
esac
sync
echo "format: made $type${label:+ LABEL=$label} on $part"
