#!/bin/sh
# Entrypoint of the rngd service: once the kernel has a hardware RNG (/dev/hwrng backed by
# rng_current, e.g. virtio_rng.0), rng-tools' rngd in the foreground feeds it into the kernel's
# entropy pool. Without one it waits instead of failing and being restarted over and over.
cur=/sys/class/misc/hw_random/rng_current
hw() { r=$(cat "$cur" 2>/dev/null); [ -n "$r" ] && [ "$r" != none ]; }
if ! hw; then
  echo "rngd: no hardware RNG yet ($cur: $(cat "$cur" 2>/dev/null || echo missing); under QEMU: -device virtio-rng-pci and kernel.modules: [virtio_rng]): waiting" >&2
  until hw; do sleep 10; done
fi
echo "rngd: hardware RNG $(cat "$cur")"
exec /usr/sbin/rngd -f -r /dev/hwrng "$@"
