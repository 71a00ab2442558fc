#!/bin/sh
# Entrypoint of the nginx service: the host's /etc/nginx/nginx.conf (the blueprint's files, seen
# through the read-only bind of the host's /etc) wins over the image's default; nginx stays in
# the foreground under the supervisor and logs to the console.
conf=/etc/nginx/nginx.conf
[ -f /host/etc/nginx/nginx.conf ] && conf=/host/etc/nginx/nginx.conf
echo "nginx: config $conf"
exec /usr/sbin/nginx -e stderr -c "$conf" -g 'daemon off;'
