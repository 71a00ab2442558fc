#!/bin/sh
# Entrypoint of the qemu-ga service: find the virtio-serial port the host named
# org.qemu.guest_agent.0 and run QEMU's guest agent on it, in the foreground. Without udev
# there is no /dev/virtio-ports/<name> link: the port's name is read from sysfs instead.
NAME=org.qemu.guest_agent.0
port() {
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = "$NAME" ] && { echo "/dev/${p##*/}"; return 0; }
  done
  return 1
}
dev=$(port)
if [ -z "$dev" ]; then
  echo "qemu-ga: no virtio-serial port named $NAME yet (the host adds one with -device virtio-serial -device virtserialport,chardev=...,name=$NAME; the guest needs kernel.modules: [virtio_console]): waiting" >&2
  until dev=$(port); do sleep 5; done
fi
echo "qemu-ga: on $dev ($NAME)"
exec /usr/sbin/qemu-ga -m virtio-serial -p "$dev" -t /run/qemu-ga -f /run/qemu-ga/qemu-ga.pid "$@"
