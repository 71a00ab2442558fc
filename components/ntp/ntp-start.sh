#!/bin/sh
# Entrypoint of the ntp service. OpenNTPD steps a clock that is far off (-s) only while it
# starts, waiting up to 15 s for a server: so wait for a default route (dhcpcd's lease) first,
# up to a minute, instead of losing the step to a network still being configured.
conf=/etc/openntpd/ntpd.conf
[ -f /host/etc/openntpd/ntpd.conf ] && conf=/host/etc/openntpd/ntpd.conf
mkdir -p /var/lib/openntpd/run /var/lib/openntpd/db
chmod 0755 /var/lib/openntpd
i=0
while ! ip route show | grep -q '^default' && [ $i -lt 120 ]; do
  [ $i = 0 ] && echo "ntp: waiting for a default route"
  i=$((i+1))
  sleep 0.5
done
echo "ntp: config ${conf#/host}"
exec /usr/sbin/ntpd -d -s -f "$conf"
