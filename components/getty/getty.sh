#!/bin/sh
# A root shell on the serial console, for as long as the system runs. The console is the last
# console= on the kernel command line that exists as a device here (ttyS0 on x86_64, ttyAMA0
# on arm64), else the first of the usual ones that exists.
tty=
for word in $(cat /proc/cmdline); do
  case $word in
    console=*)
      c=${word#console=}
      c=${c%%,*}
      [ -c "/dev/$c" ] && tty=$c
      ;;
  esac
done
if [ -z "$tty" ]; then
  for c in ttyS0 ttyAMA0 hvc0 tty0 console; do
    [ -c "/dev/$c" ] && { tty=$c; break; }
  done
fi
if [ -z "$tty" ]; then
  echo "getty: no console device found (is /dev bound into the container?)" >&2
  exit 1
fi
echo "getty: shell on /dev/$tty"
# getty sets the line up and makes it our controlling tty; -n -l /bin/sh: no login prompt,
# a shell straight away (this image is for debugging, like LinuxKit's INSECURE getty).
while :; do
  getty -n -l /bin/sh -L 115200 "$tty" vt100
  sleep 1
done
