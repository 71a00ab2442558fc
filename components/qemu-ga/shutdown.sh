#!/bin/sh
# qemu-ga's guest-shutdown runs `/sbin/shutdown -P|-h|-r +0 "hypervisor initiated shutdown"`.
# busybox poweroff/reboot signal PID 1 (this container shares the host's pid namespace), which
# is our init: it stops the services, runs the onshutdown containers and powers off.
# qemu-ga gives its commands /dev/null for output: the message goes to the console itself.
say() { echo "qemu-ga: $*" >/dev/console 2>/dev/null || echo "qemu-ga: $*" >&2; }
for a in "$@"; do
  case $a in
    -r) say "guest-shutdown (reboot)"; exec /bin/reboot ;;
  esac
done
say "guest-shutdown (poweroff)"
exec /bin/poweroff
