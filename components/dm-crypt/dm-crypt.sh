#!/bin/sh
# dm-crypt [-key-file PATH] [-mkfs ext4|none] [-pbkdf pbkdf2|argon2id] NAME DEVICE
# Opens the LUKS2 volume on DEVICE as /dev/mapper/NAME with a key file. On first use (DEVICE is
# empty: no signature, first MiB all zeros) it formats DEVICE as LUKS2 first and, with -mkfs
# ext4 (the default), makes an ext4 filesystem labelled NAME inside. A DEVICE that holds anything
# but LUKS is never touched. The key file is a host path: /etc/... (the blueprint's files; the
# host's /etc is bound at /host/etc) or /run/... (e.g. /run/config/..., written by a metadata
# component); a relative name is looked up in /etc/dm-crypt (default: key), as LinuxKit's.
key=key; mkfs=ext4; pbkdf=pbkdf2
die() { echo "dm-crypt: $*" >&2; exit 1; }
set_pos() { if [ -z "$name" ]; then name=$1; elif [ -z "$dev" ]; then dev=$1; else die "too many arguments: $1"; fi; }
name=; dev=
while [ $# -gt 0 ]; do
  a=$1; shift
  case $a in
    -l|--luks) continue ;; # LinuxKit's flag: LUKS is the only mode here
    -k) k=key-file; [ $# -gt 0 ] || die "$a needs a value"; v=$1; shift ;;
    -*=*) k=${a%%=*}; k=${k#-}; k=${k#-}; v=${a#*=} ;;
    -*) k=${a#-}; k=${k#-}; [ $# -gt 0 ] || die "$a needs a value"; v=$1; shift ;;
    *) set_pos "$a"; continue ;;
  esac
  case $k in
    key-file) key=$v ;;
    mkfs) mkfs=$v ;;
    pbkdf) pbkdf=$v ;;
    *) die "unknown flag -$k (known: -key-file, -mkfs, -pbkdf)" ;;
  esac
done
[ -n "$name" ] && [ -n "$dev" ] || die "usage: dm-crypt [-key-file PATH] [-mkfs ext4|none] NAME DEVICE"
case $name in *[!A-Za-z0-9_.-]*) die "NAME $name: letters, digits, _ . - only" ;; esac
case $mkfs in ext4|none) ;; *) die "-mkfs $mkfs: ext4 or none" ;; esac
case $pbkdf in pbkdf2|argon2id|argon2i) ;; *) die "-pbkdf $pbkdf: pbkdf2, argon2id or argon2i" ;; esac
case $key in
  /etc/*) kf=/host$key ;;
  /run/*) kf=$key ;;
  /*) die "-key-file $key: must be below /etc or /run" ;;
  *) kf=/host/etc/dm-crypt/$key; key=/etc/dm-crypt/$key ;;
esac
case $kf in */../*) die "-key-file $key: no .. allowed" ;; esac
[ -s "$kf" ] || die "no key file $key on the host (put it there with the blueprint's files section, or write it to /run/config)"
[ -b "$dev" ] || die "$dev is not a block device (is its driver module in kernel.modules?)"
map=/dev/mapper/$name
MiB=1048576
mkdir -p /run/cryptsetup

if [ -b "$map" ]; then echo "dm-crypt: $map is already open"; exit 0; fi
new=
if /sbin/cryptsetup isLuks "$dev" 2>/dev/null; then
  echo "dm-crypt: $dev is LUKS: opening it as $map"
else
  t=$(blkid -p -o value -s TYPE "$dev" 2>/dev/null); pt=$(blkid -p -o value -s PTTYPE "$dev" 2>/dev/null)
  [ -z "$t$pt" ] || die "$dev holds ${t:-a $pt partition table}, not LUKS: left alone"
  cmp -s -n $MiB "$dev" /dev/zero || die "$dev has data in its first MiB but no LUKS header: left alone"
  echo "dm-crypt: $dev is empty: formatting it as LUKS2"
  # A key file is random: a slow key derivation adds nothing against guessing it, and argon2's
  # memory would cost a small VM dearly; -pbkdf argon2id for a typed passphrase.
  /sbin/cryptsetup luksFormat --batch-mode --type luks2 --pbkdf "$pbkdf" --key-file "$kf" --label "$name" "$dev" ||
    die "luksFormat $dev failed"
  new=1
fi
# --disable-keyring: the volume key goes to dm-crypt in the table, not through the kernel keyring
# (runc gives each container its own session keyring, where the kernel does not find it)
/sbin/cryptsetup open --type luks2 --disable-keyring --key-file "$kf" "$dev" "$name" || die "cannot open $dev with $key"
i=0
while [ ! -b "$map" ]; do i=$((i+1)); [ $i -le 50 ] || die "$map did not appear"; sleep 0.1; done
if [ "$mkfs" = ext4 ]; then
  # Fresh LUKS space reads as noise: zero the first MiB once, so that a later boot can still tell
  # "never formatted" (zeros) from "holds data" if the first boot stopped before mkfs
  [ -n "$new" ] && dd if=/dev/zero of="$map" bs=$MiB count=1 conv=fsync 2>/dev/null
  t=$(blkid -p -o value -s TYPE "$map" 2>/dev/null)
  if [ -n "$t" ]; then
    echo "dm-crypt: $map holds $t"
  elif cmp -s -n $MiB "$map" /dev/zero; then
    /sbin/mke2fs -q -F -t ext4 -L "$name" "$map" || die "mke2fs on $map failed"
    echo "dm-crypt: made ext4 LABEL=$name on $map"
  else
    echo "dm-crypt: $map holds no known filesystem but has data: left as it is"
  fi
fi
echo "dm-crypt: $map open"
