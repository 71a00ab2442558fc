#!/bin/sh
# busybox acpid runs this for the power button (input event KEY_POWER, ACPI's "PWRF/00000080").
# busybox poweroff signals PID 1 (our init, as this container shares the host's pid namespace),
# which stops the services, runs the onshutdown containers and powers off.
echo "acpid: power button pressed, powering off"
exec /bin/poweroff
