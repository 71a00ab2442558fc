#!/bin/sh
# Entrypoint of the acpid service: busybox acpid in the foreground, reading the power button
# from /dev/input/event* (the kernel's `button` driver reports it through `evdev`).
if ! ls /dev/input/event* >/dev/null 2>&1; then
  echo "acpid: no /dev/input/event* device: add the kernel modules button and evdev to the blueprint's kernel.modules" >&2
fi
exec /bin/acpid -d -c /etc/acpi -p /tmp/acpid.pid "$@"
