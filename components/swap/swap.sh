#!/bin/sh
# swap -path /var/PATH -size SIZE[K|M|G]  (LinuxKit's --path/--size also accepted)
# Makes a swap file (once: a file that already has a swap signature is reused as it is) and
# enables it. The path must be below /var (the host's, bound here), typically on a data disk
# that the mount component mounted. A file there without a swap signature is never overwritten.
path=; size=
die() { echo "swap: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  a=$1; shift
  case $a in
    -*=*) k=${a%%=*}; v=${a#*=} ;;
    -*) k=$a; [ $# -gt 0 ] || die "$a needs a value"; v=$1; shift ;;
    *) die "unexpected argument $a (usage: swap -path /var/lib/data/swapfile -size 512M)" ;;
  esac
  case ${k#-} in
    path|-path|file|-file) path=$v ;;
    size|-size) size=$v ;;
    *) die "unknown flag $k (known: -path, -size)" ;;
  esac
done
[ -n "$path" ] || die "no -path (e.g. -path /var/lib/data/swapfile)"
case $path in /var/?*) ;; *) die "-path $path must be below /var" ;; esac
case $path in */../*|*/..) die "-path $path: no .. allowed" ;; esac
[ -n "$size" ] || die "no -size (e.g. -size 512M)"
case $size in
  *[!0-9KMGkmg]*|[!0-9]*) die "-size $size: expected a number with K, M or G" ;;
  *[Gg]) kib=$(( ${size%?} * 1024 * 1024 )) ;;
  *[Mm]) kib=$(( ${size%?} * 1024 )) ;;
  *[Kk]) kib=${size%?} ;;
  *) kib=$(( size / 1024 )) ;;
esac
[ "$kib" -ge 64 ] || die "-size $size is too small for a swap file"

if awk -v p="$path" '$1==p{f=1} END{exit !f}' /proc/swaps; then echo "swap: $path is already in use"; exit 0; fi
# swap signature: "SWAPSPACE2" at the end of the first page (4, 16 or 64 KiB)
is_swap() {
  for ps in 4096 16384 65536; do
    [ "$(dd if="$1" bs=1 skip=$((ps - 10)) count=10 2>/dev/null)" = SWAPSPACE2 ] && return 0
  done
  return 1
}
if [ -e "$path" ]; then
  [ -f "$path" ] || die "$path exists and is not a regular file: left alone"
  is_swap "$path" || die "$path exists and is not a swap file: left alone (remove it, or choose another -path)"
  echo "swap: reusing $path ($(( $(stat -c %s "$path") / 1024 )) KiB)"
else
  dir=${path%/*}
  mkdir -p "$dir" || die "cannot make $dir"
  # written out (no holes): the kernel refuses a swap file with holes
  dd if=/dev/zero of="$path.new" bs=1024 count="$kib" 2>/dev/null || { rm -f "$path.new"; die "cannot write $kib KiB to $path (disk full?)"; }
  chmod 0600 "$path.new"
  mkswap "$path.new" >/dev/null || { rm -f "$path.new"; die "mkswap $path failed"; }
  sync
  mv "$path.new" "$path"
  echo "swap: made $path ($kib KiB)"
fi
swapon "$path" || die "swapon $path failed"
echo "swap: $path on"
