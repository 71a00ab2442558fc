#!/bin/sh
# extend [DEVICE...]
# Grows the last partition of each disk to the end of the disk, and its ext4 filesystem with it,
# for a disk image that the cloud (or `qemu-img resize`) made bigger. Without DEVICE: every disk
# with a partition table. A disk whose last partition already ends within 1 MiB of the end, or
# whose last partition is not ext4, is left alone. GPT: the backup header moves to the new end.
die() { echo "extend: $*" >&2; exit 1; }
MiB=1048576
case $1 in -h|--help) echo "usage: extend [DEVICE...]"; exit 0 ;; -*) die "unknown flag $1 (usage: extend [DEVICE...])" ;; esac

disks() {
  for s in /sys/class/block/*; do
    n=${s##*/}
    [ -e "$s/partition" ] && continue
    case $n in loop*|ram*|zram*|dm-*|md*|sr*|nbd*|fd*|mtd*) continue ;; esac
    [ -b "/dev/$n" ] && /sbin/sfdisk -d "/dev/$n" >/dev/null 2>&1 && echo "/dev/$n"
  done
}

# extend_disk DEV: returns 0 when it grew or had nothing to do, 1 on an error
extend_disk() {
  d=$1; n=${d##*/}
  [ -b "$d" ] || { echo "extend: $d is not a block device" >&2; return 1; }
  dump=$(/sbin/sfdisk -d "$d" 2>/dev/null) || { echo "extend: $d: no partition table: left alone"; return 0; }
  table=$(echo "$dump" | awk '$1=="label:"{print $2}')
  # the partition that starts last, and its number
  last=$(echo "$dump" | awk -F'[ ,=:]+' '/^\/dev\// { for (i=2;i<NF;i++) { if ($i=="start") s=$(i+1); if ($i=="size") z=$(i+1) } if (s+0 >= best) { best=s+0; node=$1; size=z } } END { if (node) print node, best, size }')
  [ -n "$last" ] || { echo "extend: $d: no partitions: left alone"; return 0; }
  set -- $last; part=$1; start=$2; psize=$3
  num=${part##*[!0-9]}
  sectors=$(( $(blockdev --getsize64 "$d") / 512 ))
  # GPT keeps 33 sectors at the end for its backup table
  room=$sectors; [ "$table" = gpt ] && room=$((sectors - 34))
  free=$(( (room - start - psize) * 512 ))
  if [ "$free" -lt "$MiB" ]; then echo "extend: $part already ends at the end of $d: nothing to do"; return 0; fi
  fs=$(blkid -p -o value -s TYPE "$part" 2>/dev/null)
  [ "$fs" = ext4 ] || { echo "extend: $part holds ${fs:-no known filesystem}, not ext4: left alone"; return 0; }
  grep -q "^$part " /proc/mounts && mounted=1 || mounted=
  if [ -z "$mounted" ]; then
    # a filesystem resize2fs is asked to grow must be clean; exit 1 = errors corrected
    /sbin/e2fsck -f -p "$part"; rc=$?
    [ $rc -le 1 ] || { echo "extend: e2fsck $part exit $rc: left alone" >&2; return 1; }
  fi
  echo "extend: growing $part (${table}) by $((free / MiB)) MiB"
  if [ "$table" = gpt ]; then /sbin/sfdisk -q --relocate gpt-bak-std "$d" || { echo "extend: $d: cannot move the backup GPT to the end" >&2; return 1; }; fi
  # ", +" keeps the start and takes all the space after it; the kernel's view is updated by sfdisk
  echo ", +" | /sbin/sfdisk -q --no-reread -N "$num" "$d" 2>/dev/null || { echo "extend: sfdisk could not grow $part" >&2; return 1; }
  partx -u -n "$num" "$d" 2>/dev/null || blockdev --rereadpt "$d" || { echo "extend: the kernel did not take the new size of $part" >&2; return 1; }
  i=0
  while [ "$(cat /sys/class/block/${part##*/}/size)" -le "$psize" ]; do
    i=$((i+1)); [ $i -le 50 ] || { echo "extend: the kernel still sees the old size of $part" >&2; return 1; }
    sleep 0.1
  done
  /sbin/resize2fs "$part" 2>&1 | grep -v '^resize2fs [0-9]' || true
  echo "extend: $part now $(( $(cat /sys/class/block/${part##*/}/size) * 512 / MiB )) MiB"
}

[ $# -gt 0 ] || set -- $(disks)
[ $# -gt 0 ] || { echo "extend: no disk with a partition table: nothing to do"; exit 0; }
status=0
for d in "$@"; do extend_disk "$d" || status=1; done
exit $status
